// SPDX-License-Identifier: MIT
// memfd segments (issue 5): anonymous creation, hand-off to a Node child, to a Python child,
// to an unrelated process over SCM_RIGHTS and through /proc/<pid>/fd; seals; no leaks of
// the descriptor; ENOSYS on a system without memfd.
import { expect } from 'chai';
import { closeSync, existsSync, ftruncateSync, mkdtempSync, openSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AccessMode, QSharedMemory, QshmError, SharedMemoryError, fromProcessFd, listenForSegments, receiveSegment,
  sendSegment, spawnWithSegment,
} from '../dist/index.js';
import { debianPython, fixtures, run, uniqueKey } from './helpers.mjs';

// Offsets inside the data region, shared with test/fixtures/memfd-child.mjs.
const TEXT = 0;
const COUNTER = 64;
const GO = 68;
const REPLY = 128;

const text = (buf, at) => buf.toString('latin1', at, buf.indexOf(0, at));

/** memfd descriptors open in a process (from /proc/<pid>/fd). */
function memfds(pid = 'self') {
  const out = [];
  for (const n of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const target = readlinkSync(`/proc/${pid}/fd/${n}`);
      if (target.startsWith('/memfd:')) out.push({ fd: Number(n), target });
    } catch {
      // closed meanwhile
    }
  }
  return out;
}

/** Collects a child's stdout JSON lines; `next()` resolves with the next one. */
function jsonLines(child) {
  const queue = [];
  const waiters = [];
  let stderr = '';
  child.stderr?.on('data', (d) => (stderr += d));
  createInterface({ input: child.stdout }).on('line', (line) => {
    let v;
    try {
      v = JSON.parse(line);
    } catch {
      v = { unparsed: line };
    }
    if (waiters.length) waiters.shift()(v);
    else queue.push(v);
  });
  const exited = new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
  return {
    next() {
      if (queue.length) return Promise.resolve(queue.shift());
      return new Promise((resolve, reject) => {
        waiters.push(resolve);
        exited.then(({ code, signal }) => reject(new Error(`child exited (${code ?? signal}) before reporting; stderr: ${stderr}`)));
      });
    },
    exited,
    stderr: () => stderr,
  };
}

function python(mode, shm, opts = {}) {
  const child = spawnWithSegment(shm, debianPython, [join(fixtures, 'memfd-peer.py'), mode], opts);
  children.push(child);
  return jsonLines(child);
}

function nodeChild(args, shm, opts = {}) {
  const child = shm
    ? spawnWithSegment(shm, process.execPath, [join(fixtures, 'memfd-child.mjs'), ...args], opts)
    : spawn(process.execPath, [join(fixtures, 'memfd-child.mjs'), ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  children.push(child);
  return { child, ...jsonLines(child) };
}

let shms = [];
let children = [];

function memfd(size = 4096, label = uniqueKey('memfd')) {
  const shm = new QSharedMemory(label, { backend: 'memfd' });
  expect(shm.create(size), shm.errorString()).to.equal(true);
  shms.push(shm);
  return shm;
}

function track(shm) {
  shms.push(shm);
  return shm;
}

describe('memfd segments', function () {
  afterEach(function () {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    children = [];
    for (const s of shms) s.detach();
    shms = [];
    // Nothing of ours is left open: the kernel has freed every segment.
    expect(memfds().filter((m) => m.target.includes('qshm'))).to.deep.equal([]);
  });

  describe('the backend', function () {
    it('creates anonymous memory with the header, lock and API of the file backend', function () {
      const label = uniqueKey('anon');
      const shm = memfd(10000, label);
      expect(shm.backend).to.equal('memfd');
      expect(shm.size()).to.equal(10000);
      expect(shm.data().every((b) => b === 0)).to.equal(true);
      expect(shm.fd()).to.be.greaterThan(2);
      expect(readlinkSync(`/proc/self/fd/${shm.fd()}`)).to.equal(`/memfd:qshm:${label} (deleted)`);
      expect(readdirSync('/dev/shm').filter((f) => f.includes(label))).to.deep.equal([]);
      expect(shm.lock()).to.equal(true);
      shm.data().write('locked');
      expect(shm.unlock()).to.equal(true);
      expect(shm.seals()).to.include({ shrink: false, grow: false, write: false, futureWrite: false, seal: false });
    });

    it('needs no key (the key is only a debug label) and is close-on-exec', function () {
      const shm = track(new QSharedMemory(undefined, { backend: 'memfd' }));
      expect(shm.create(100), shm.errorString()).to.equal(true);
      expect(readlinkSync(`/proc/self/fd/${shm.fd()}`)).to.equal('/memfd:qshm (deleted)');
      const flags = /flags:\s*([0-7]+)/.exec(readFileSync(`/proc/self/fdinfo/${shm.fd()}`, 'latin1'))[1];
      expect(parseInt(flags, 8) & 0o2000000, 'O_CLOEXEC').to.not.equal(0);
    });

    it('attach() by key is a KeyError; fd() is -1 when detached and for other backends', function () {
      const shm = new QSharedMemory(uniqueKey('nokey'), { backend: 'memfd' });
      expect(shm.attach()).to.equal(false);
      expect(shm.error()).to.equal(SharedMemoryError.KeyError);
      expect(shm.errorString()).to.match(/^QSharedMemory::attach: a memfd segment cannot be attached by key/);
      expect(shm.lastError().code).to.equal('ERR_QSHM_MEMFD_NO_KEY');
      expect(shm.fd()).to.equal(-1);
      const file = track(new QSharedMemory(uniqueKey('file')));
      expect(file.create(64)).to.equal(true);
      expect(file.fd()).to.equal(-1);
      expect(file.seals()).to.equal(null);
      expect(file.seal({ shrink: true })).to.equal(false);
      expect(file.lastError().code).to.equal('ERR_QSHM_NOT_MEMFD');
    });

    it('the memory lives while any attachment does: last detach destroys', function () {
      const a = memfd();
      a.data().write('still here');
      const b = track(QSharedMemory.fromFd(a.fd()));
      a.detach();
      expect(text(b.data(), 0)).to.equal('still here');
      expect(memfds().filter((m) => m.target.includes('qshm'))).to.have.length(1);
      b.detach();
      expect(memfds().filter((m) => m.target.includes('qshm'))).to.deep.equal([]);
    });
  });

  describe('fromFd', function () {
    it('attaches its own open file description: the caller keeps its fd and both lock independently', function () {
      const a = memfd();
      a.data().write('shared');
      const b = track(QSharedMemory.fromFd(a.fd()));
      expect(b.fd()).to.not.equal(a.fd());
      expect(text(b.data(), 0)).to.equal('shared');
      expect(readlinkSync(`/proc/self/fd/${a.fd()}`)).to.match(/^\/memfd:/);
      expect(a.lock()).to.equal(true);
      expect(b.tryLock(0)).to.equal(false);
      expect(a.unlock()).to.equal(true);
      expect(b.tryLock(0)).to.equal(true);
      expect(a.tryLock(0)).to.equal(false);
      b.detach(); // releases b's lock with it
      expect(a.tryLock(0)).to.equal(true);
      a.unlock();
    });

    it('throws TypeError on a wrong type and QshmError on a bad descriptor', function () {
      expect(() => QSharedMemory.fromFd('3')).to.throw(TypeError).with.property('code', 'ERR_INVALID_ARG_TYPE');
      expect(() => QSharedMemory.fromFd(-1)).to.throw(RangeError).with.property('code', 'ERR_OUT_OF_RANGE');
      expect(() => QSharedMemory.fromFd(3, 7)).to.throw(TypeError);
      expect(() => QSharedMemory.fromFd(987654)).to.throw(QshmError).with.property('qtError', SharedMemoryError.KeyError);
      // stdin is no segment
      expect(() => QSharedMemory.fromFd(0)).to.throw(QshmError).with.property('qtError', SharedMemoryError.KeyError);
    });

    it('refuses the descriptor of a named file (its lifetime belongs to the file backend)', function () {
      const dir = mkdtempSync(join(tmpdir(), 'qshm-named-'));
      const fd = openSync(join(dir, 'f'), 'w+');
      try {
        ftruncateSync(fd, 8192);
        expect(() => QSharedMemory.fromFd(fd)).to.throw(QshmError).with.property('code', 'ERR_QSHM_NOT_MEMFD');
      } finally {
        closeSync(fd);
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  describe('hand-off to a child', function () {
    it('a Node child attaches, reads, replies, and 2 × 50,000 locked increments are exact', async function () {
      this.timeout(120000);
      const shm = memfd();
      const data = shm.data();
      data.write('hello from the parent\0', TEXT, 'latin1');
      const c = nodeChild(['counter', '50000'], shm);
      const first = await c.next();
      expect(first).to.deep.include({
        ready: true, fdNumber: 3, envGone: true, inheritedClosed: true, read: 'hello from the parent', size: 4096,
      });
      // Only the one hand-over descriptor reached the child, and the child closed it.
      expect(memfds(c.child.pid)).to.have.length(1); // its own attachment (a new OFD)
      const until = Date.now() + 20000; // a synchronous wait: bound it, mocha's timeout cannot interrupt it
      while (text(data, REPLY) === '' && Date.now() < until);
      expect(text(data, REPLY)).to.equal('hello from the child');
      const words = new Int32Array(data.buffer, data.byteOffset, data.length >> 2);
      Atomics.store(words, GO / 4, 1);
      for (let i = 0; i < 50000; i++) {
        expect(shm.lock()).to.equal(true);
        data.writeUInt32LE(data.readUInt32LE(COUNTER) + 1, COUNTER);
        shm.unlock();
      }
      expect(await c.next()).to.deep.equal({ done: true });
      expect((await c.exited).code, c.stderr()).to.equal(0);
      expect(data.readUInt32LE(COUNTER)).to.equal(100000);
    });

    it('a child that dies holding the lock is detected (its attachment had its own open file description)', async function () {
      const shm = memfd();
      const c = nodeChild(['hold'], shm);
      expect(await c.next()).to.deep.equal({ locked: true });
      expect(shm.tryLock(0)).to.equal(false);
      c.child.kill('SIGKILL');
      await c.exited;
      expect(shm.tryLock(10000)).to.equal(true);
      expect(shm.lockWasAbandoned()).to.equal(true);
      expect(shm.unlock()).to.equal(true);
    });

    it('without /proc, fromFd falls back to a duplicate that stays out of the lock', async function () {
      const probe = await run('unshare', ['--mount', '--', 'sh', '-c', 'umount -l /proc && test ! -e /proc/self'])
        .catch(() => ({ code: -1 }));
      if (probe.code !== 0) this.skip(); // needs util-linux's unshare and CAP_SYS_ADMIN (root) to hide /proc
      const shm = memfd();
      shm.data().write('no proc here\0', TEXT, 'latin1');
      const script = `umount -l /proc && exec "$0" "$@"`;
      const child = spawnWithSegment(shm, 'unshare',
        ['--mount', '--', 'sh', '-c', script, process.execPath, join(fixtures, 'memfd-child.mjs'), 'noproc']);
      children.push(child);
      const c = jsonLines(child);
      const out = await c.next();
      expect(out).to.include({ procMissing: true, read: 'no proc here', locked: false });
      expect(out.lockText).to.match(/could not be reopened through \/proc\/self\/fd/);
      expect((await c.exited).code, c.stderr()).to.equal(0);
      expect(text(shm.data(), REPLY)).to.equal('written without /proc');
      expect(shm.tryLock(0)).to.equal(true); // the parent's liveness was not disturbed
      expect(shm.unlock()).to.equal(true);
    });

    it('a Python child (mmap on the inherited descriptor) reads what Node wrote, by the header layout', async function () {
      const shm = memfd(5000);
      shm.data().write('written by node\0', TEXT, 'latin1');
      const p = python('read', shm);
      const out = await p.next();
      expect(out).to.deep.equal({ fd: 3, magicOk: true, version: 1, headerSize: 4096, dataSize: 5000, text: 'written by node' });
      expect((await p.exited).code, p.stderr()).to.equal(0);
    });

    it('puts the descriptor after the stdio slots given, and honours a custom variable name', async function () {
      const shm = memfd();
      const child = spawnWithSegment(shm, debianPython, ['-c',
        'import os,json; print(json.dumps([os.environ.get("MY_FD"), os.environ.get("QSHM_FD"), os.readlink("/proc/self/fd/" + os.environ["MY_FD"])]))'],
      { stdio: ['ignore', 'pipe', 'pipe', 'ignore'], envVar: 'MY_FD' });
      children.push(child);
      const [mine, default_, target] = await jsonLines(child).next();
      expect(mine).to.equal('4');
      expect(default_).to.equal(null);
      expect(target).to.match(/^\/memfd:qshm:/);
    });

    it('a child spawned without the descriptor cannot see it, and the parent keeps no extra copy', async function () {
      const shm = memfd();
      const before = memfds();
      const plain = nodeChild(['wait']);
      expect(await plain.next()).to.deep.equal({ ready: true, env: null });
      expect(memfds(plain.child.pid)).to.deep.equal([]);
      const given = nodeChild(['wait'], shm);
      expect(await given.next()).to.deep.equal({ ready: true, env: '3' });
      expect(memfds(given.child.pid).map((m) => m.fd)).to.deep.equal([3]);
      expect(memfds(plain.child.pid)).to.deep.equal([]); // still nothing in the first child
      expect(memfds()).to.deep.equal(before); // the hand-over copy was closed in the parent
      plain.child.stdin.end();
      given.child.stdin.end();
      await Promise.all([plain.exited, given.exited]);
    });

    it('fromInherited without a handed descriptor is NotFound', function () {
      const saved = process.env.QSHM_FD;
      delete process.env.QSHM_FD;
      try {
        expect(() => QSharedMemory.fromInherited()).to.throw(QshmError).with.property('qtError', SharedMemoryError.NotFound);
        process.env.QSHM_FD = '1';
        expect(() => QSharedMemory.fromInherited()).to.throw(QshmError).with.property('code', 'ERR_QSHM_BAD_INHERITED_FD');
      } finally {
        if (saved === undefined) delete process.env.QSHM_FD;
        else process.env.QSHM_FD = saved;
      }
    });

    it('spawnWithSegment refuses a detached object or another backend', function () {
      const file = track(new QSharedMemory(uniqueKey('f')));
      expect(file.create(64)).to.equal(true);
      expect(() => spawnWithSegment(file, 'true')).to.throw(QshmError).with.property('code', 'ERR_QSHM_NOT_MEMFD');
      const none = new QSharedMemory(undefined, { backend: 'memfd' });
      expect(() => spawnWithSegment(none, 'true')).to.throw(QshmError).with.property('code', 'ERR_QSHM_NOT_ATTACHED');
    });
  });

  describe('hand-off to an unrelated process', function () {
    let dir;
    beforeEach(function () {
      dir = mkdtempSync(join(tmpdir(), 'qshm-sock-'));
    });
    afterEach(function () {
      rmSync(dir, { recursive: true, force: true });
    });

    it('SCM_RIGHTS between two unrelated Node processes through a socket path', async function () {
      const sock = join(dir, 's');
      const rx = spawn(process.execPath, [join(fixtures, 'memfd-scm.mjs'), 'receive', sock], { stdio: ['ignore', 'pipe', 'pipe'] });
      children.push(rx);
      const rxl = jsonLines(rx);
      expect(await rxl.next()).to.deep.equal({ listening: true });
      const tx = await run(process.execPath, [join(fixtures, 'memfd-scm.mjs'), 'send', sock, 'across the socket']);
      expect(tx.code, tx.stderr).to.equal(0);
      const got = await rxl.next();
      expect(got).to.deep.include({ read: 'across the socket', size: 4096, locked: true, unlocked: true, socketLeft: false });
      expect(got.message).to.match(/^from \d+$/);
      expect(got.message).to.not.equal(`from ${rx.pid}`);
      expect((await rxl.exited).code, rxl.stderr()).to.equal(0);
      expect(existsSync(sock)).to.equal(false);
    });

    it('in-process: a message, read-only sending, cleanup on close', async function () {
      const listener = await listenForSegments(join(dir, 's2'));
      const shm = memfd();
      shm.data().write('over scm\0', 0, 'latin1');
      const pending = listener.accept({ timeoutMs: 20000, mode: AccessMode.ReadOnly });
      sendSegment(listener.path, shm, { message: 'hi', readOnly: true });
      const { shm: got, message } = await pending;
      track(got);
      expect(message.toString()).to.equal('hi');
      expect(text(got.data(), 0)).to.equal('over scm');
      expect(got.lock()).to.equal(false); // a read-only descriptor: no lock
      expect(got.error()).to.equal(SharedMemoryError.LockError);
      expect(() => QSharedMemory.fromFd(got.fd(), AccessMode.ReadWrite)).to.throw(QshmError)
        .with.property('qtError', SharedMemoryError.PermissionDenied);
      listener.close();
      expect(existsSync(listener.path)).to.equal(false);
    });

    it('replaces a socket file left by a dead listener, but no other file', async function () {
      const sock = join(dir, 'stale');
      const made = await run(debianPython, ['-c', 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])', sock]);
      expect(made.code, made.stderr).to.equal(0);
      expect(existsSync(sock)).to.equal(true);
      const listener = await listenForSegments(sock);
      listener.close();
      expect(existsSync(sock)).to.equal(false);
      const plain = join(dir, 'plain');
      writeFileSync(plain, 'not a socket');
      const err = await listenForSegments(plain).then(() => null, (e) => e);
      expect(err).to.be.instanceOf(QshmError);
      expect(err.qtError).to.equal(SharedMemoryError.AlreadyExists);
      expect(readFileSync(plain, 'utf8')).to.equal('not a socket');
    });

    it('receiveSegment times out with ETIMEDOUT and removes its socket; sending to nobody is NotFound', async function () {
      const sock = join(dir, 'none');
      const err = await receiveSegment(sock, { timeoutMs: 300 }).then(() => null, (e) => e);
      expect(err).to.be.instanceOf(QshmError);
      expect(err.code).to.equal('ETIMEDOUT');
      expect(existsSync(sock)).to.equal(false);
      const shm = memfd();
      expect(() => sendSegment(sock, shm)).to.throw(QshmError).with.property('qtError', SharedMemoryError.NotFound);
    });

    it('an aborted accept rejects with the reason and the listener can be closed', async function () {
      const listener = await listenForSegments(join(dir, 'ab'));
      const ac = new AbortController();
      const pending = listener.accept({ signal: ac.signal });
      setTimeout(() => ac.abort(new Error('stop')), 50);
      const err = await pending.then(() => null, (e) => e);
      expect(err?.message).to.equal('stop');
      listener.close();
      expect(existsSync(listener.path)).to.equal(false);
    });

    it('attaches by /proc/<pid>/fd/<n> (same user)', async function () {
      const shm = memfd();
      shm.data().write('via proc\0', TEXT, 'latin1');
      const c = nodeChild(['proc', String(process.pid), String(shm.fd())]);
      expect(await c.next()).to.deep.equal({ read: 'via proc', locked: true });
      expect((await c.exited).code, c.stderr()).to.equal(0);
      expect(text(shm.data(), REPLY)).to.equal('written through /proc');
      expect(() => fromProcessFd(process.pid, 987654)).to.throw(QshmError).with.property('qtError', SharedMemoryError.NotFound);
    });
  });

  describe('seals', function () {
    it('shrink + grow: a peer\'s ftruncate fails with EPERM and the owner keeps working', async function () {
      const size = 3 * 4096;
      const shm = memfd(size);
      expect(shm.seal({ shrink: true, grow: true })).to.equal(true);
      expect(shm.seals()).to.include({ shrink: true, grow: true, write: false, futureWrite: false });
      const p = python('truncate', shm);
      const out = await p.next();
      expect(out).to.include({ grow: 1 /* EPERM */, shrink: 1, size: 4096 + size, sizeAfter: 4096 + size });
      // Every page is still there: no SIGBUS.
      const data = shm.data();
      data[size - 1] = 7;
      expect(shm.lock()).to.equal(true);
      expect(data[size - 1]).to.equal(7);
      expect(shm.unlock()).to.equal(true);
    });

    it('without seals the same peer can change the size (the test above is meaningful)', async function () {
      const shm = memfd(4096);
      // (Only grow: a shrink would succeed too, and this process would die of SIGBUS.)
      const p = python('grow', shm);
      expect(await p.next()).to.include({ grow: 0, size: 8192, sizeAfter: 8192 + 4096 });
    });

    it('futureWrite: peers cannot map writable (kernel-enforced); ReadOnly works; the owner still writes and locks', async function () {
      const shm = memfd();
      shm.data().write('frozen for peers\0', TEXT, 'latin1');
      expect(shm.seal({ futureWrite: true })).to.equal(true);
      expect(shm.seals().futureWrite).to.equal(true);
      const p = python('mapwrite', shm);
      expect(await p.next()).to.include({ mapWrite: 1 /* EPERM */, write: 1, text: 'frozen for peers', magicOk: true });
      const c = nodeChild(['sealed'], shm);
      const out = await c.next();
      expect(out.rw).to.include({ code: 'EPERM', qtError: SharedMemoryError.PermissionDenied });
      expect(out).to.include({ read: 'frozen for peers', locked: false, lockError: SharedMemoryError.LockError });
      expect(out.lockText).to.match(/sealed against writing/);
      expect(out.seals.futureWrite).to.equal(true);
      expect(shm.lock()).to.equal(true);
      shm.data().write('owner writes on\0', TEXT, 'latin1');
      expect(shm.unlock()).to.equal(true);
      expect(() => QSharedMemory.fromFd(shm.fd())).to.throw(QshmError).with.property('code', 'EPERM');
      const ro = track(QSharedMemory.fromFd(shm.fd(), AccessMode.ReadOnly));
      expect(text(ro.data(), TEXT)).to.equal('owner writes on');
    });

    it('write: makes the memory immutable once no other attachment could write (EBUSY before)', function () {
      const shm = memfd();
      shm.data().write('final\0', TEXT, 'latin1');
      const other = track(QSharedMemory.fromFd(shm.fd(), AccessMode.ReadOnly));
      expect(shm.seal({ write: true })).to.equal(false);
      expect(shm.lastError().code).to.equal('EBUSY');
      // Left as it was.
      expect(shm.seals().write).to.equal(false);
      expect(shm.lock()).to.equal(true);
      expect(shm.seal({ write: true })).to.equal(false);
      expect(shm.lastError().code).to.equal('ERR_QSHM_LOCKED');
      shm.data().write('final!\0', TEXT, 'latin1');
      expect(shm.unlock()).to.equal(true);
      other.detach();
      expect(shm.seal({ write: true, shrink: true, grow: true, seal: true })).to.equal(true);
      expect(shm.seals()).to.include({ write: true, shrink: true, grow: true, seal: true });
      expect(text(shm.data(), TEXT)).to.equal('final!');
      expect(shm.lock()).to.equal(false);
      expect(shm.errorString()).to.match(/sealed against writing/);
      expect(shm.seal({ futureWrite: true })).to.equal(false); // F_SEAL_SEAL: final
      expect(shm.error()).to.equal(SharedMemoryError.PermissionDenied);
      expect(() => QSharedMemory.fromFd(shm.fd())).to.throw(QshmError).with.property('qtError', SharedMemoryError.PermissionDenied);
    });

    it('seal() checks its argument', function () {
      const shm = memfd();
      expect(() => shm.seal()).to.throw(TypeError);
      expect(() => shm.seal({ shrink: 1 })).to.throw(TypeError).with.property('code', 'ERR_INVALID_ARG_TYPE');
      const detached = new QSharedMemory(undefined, { backend: 'memfd' });
      expect(detached.seal({ shrink: true })).to.equal(false);
      expect(detached.lastError().code).to.equal('ERR_QSHM_NOT_ATTACHED');
      expect(detached.seals()).to.equal(null);
    });
  });

  it('on a system without memfd, create() fails with a coded ENOSYS error (seccomp-simulated)', async function () {
    const r = await run(debianPython, [join(fixtures, 'memfd-seccomp.py'), process.execPath, join(fixtures, 'memfd-enosys.mjs')]);
    if (r.code === 77) this.skip(); // this kernel cannot install a seccomp filter (CONFIG_SECCOMP_FILTER)
    expect(r.code, r.stderr).to.equal(0);
    expect(JSON.parse(r.stdout)).to.deep.equal({
      ok: false, error: SharedMemoryError.UnknownError,
      errorString: 'QSharedMemory::create: memfd segments are not supported on this system (memfd_create: ENOSYS)',
      code: 'ENOSYS', errno: -38, syscall: 'memfd_create', attached: false, fd: -1,
    });
  });
});
