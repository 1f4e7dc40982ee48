// SPDX-License-Identifier: MIT
// The lock of the 'sysv' and 'posix' backends (lib/backends/semaphore-lock.ts): a System V
// semaphore removed under us is reopened as Qt does (internals.md §5); a lockAsync() pending
// across detach() resolves false and re-creates nothing; non-finite and huge timeouts; and a
// POSIX lock holder that died makes create/attach fail with LockError after a bound instead
// of blocking forever (docs/interop.md). Operations that used to hang or spin run in child
// processes, so a regression fails the test instead of hanging the suite.
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { IpcKeyType, QSharedMemory, SharedMemoryError as E } from '../dist/index.js';
import { native } from '../dist/native.js';
import { run, testDir, uniqueKey } from './helpers.mjs';
import { ftokOf, sysvKeyExists } from './peers/driver.mjs';

const DIST = pathToFileURL(join(testDir, '..', 'dist')).href;
const SYSV = { backend: 'sysv' };
const POSIX = { backend: 'posix' };

/** The key files and ftok keys of a legacy System V key (while its files exist). */
function sysvTraces(key) {
  const shmPath = QSharedMemory.legacyNativeKey(key).nativeKey;
  const semPath = shmPath.replace('/qipc_sharedmemory_', '/qipc_systemsem_');
  return { shmPath, semPath, shmKey: ftokOf(shmPath), semKey: ftokOf(semPath) };
}

function expectNoSysvLeft(t) {
  expect(existsSync(t.shmPath), t.shmPath).to.equal(false);
  expect(existsSync(t.semPath), t.semPath).to.equal(false);
  expect(sysvKeyExists('shm', t.shmKey), 'ipcs -m').to.equal(false);
  expect(sysvKeyExists('sem', t.semKey), 'ipcs -s').to.equal(false);
}

/** Removes the lock semaphore of a legacy System V key, as a Qt creator's destructor does. */
function removeSysvSemaphore(key) {
  const { semKey } = sysvTraces(key);
  const id = native.semget(semKey | 0, 0, 0);
  expect(id, 'semget').to.be.at.least(0);
  expect(native.semctlRmid(id), 'semctl(IPC_RMID)').to.equal(0);
  expect(sysvKeyExists('sem', semKey)).to.equal(false);
}

/** /dev/shm names of a legacy POSIX key: the segment and its semaphore. */
function posixFiles(key) {
  const shm = QSharedMemory.legacyNativeKey(key, IpcKeyType.PosixRealtime).nativeKey;
  return [`/dev/shm${shm}`, `/dev/shm/sem.${shm.slice(1).replace('qipc_sharedmemory_', 'qipc_systemsem_')}`];
}

/**
 * A Node child running `body` (an async function body; `QSharedMemory`, `E`, `env`, `say(line)`
 * and `line()` — the next stdin line — are in scope). Lines it prints are read with `next()`.
 */
class Child {
  constructor(body, env = {}) {
    const code = `
import { QSharedMemory, SharedMemoryError as E } from '${DIST}/index.js';
import { createInterface } from 'node:readline';
const env = process.env;
const say = (l) => console.log(typeof l === 'string' ? l : JSON.stringify(l));
const input = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const line = async () => (await input.next()).value;
${body}
process.exit(0); // stdin keeps the event loop alive; exit normally (exit handlers run)
`;
    this.proc = spawn(process.execPath, ['--input-type=module', '-e', code], {
      env: { ...process.env, ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.stderr = '';
    this.proc.stderr.on('data', (d) => (this.stderr += d));
    this.exited = new Promise((r) => this.proc.on('exit', (code, signal) => r({ code, signal })));
    this.lines = createInterface({ input: this.proc.stdout })[Symbol.asyncIterator]();
  }

  /** The next line it printed (rejects after `ms`, or if it exits first). */
  async next(ms = 20000) {
    let timer;
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`child printed nothing in ${ms} ms; stderr: ${this.stderr}`)), ms);
    });
    try {
      const r = await Promise.race([this.lines.next(), timeout]);
      if (r.done) throw new Error(`child exited; stderr: ${this.stderr}`);
      return r.value;
    } finally {
      clearTimeout(timer);
    }
  }

  send(text) {
    this.proc.stdin.write(`${text}\n`);
  }

  /** Waits for it to exit (killing it after `ms`). */
  async end(ms = 20000) {
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), ms);
    const r = await this.exited;
    clearTimeout(timer);
    return r;
  }

  kill() {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGKILL');
    return this.exited;
  }
}

describe("'sysv': a lock semaphore removed under qshm is reopened (Qt internals §5)", function () {
  this.timeout(30000);
  const objs = [];
  const children = [];
  let keys = [];
  const shm = (k) => {
    const s = new QSharedMemory(k, SYSV);
    objs.push(s);
    return s;
  };
  const key = (name) => {
    const k = uniqueKey(name);
    keys.push(k);
    return k;
  };
  afterEach(async () => {
    for (const c of children.splice(0)) await c.kill();
    for (const s of objs.splice(0)) s.detach();
    for (const k of keys) QSharedMemory.remove(k, SYSV); // only matters when a test failed
    keys = [];
  });

  it('lock() works after the semaphore was removed (IPC_RMID) while attached; nothing is left', () => {
    const k = key('rm');
    const s = shm(k);
    expect(s.create(64), s.errorString()).to.equal(true);
    const t = sysvTraces(k);
    removeSysvSemaphore(k);
    expect(s.lock(), s.errorString()).to.equal(true);
    expect(sysvKeyExists('sem', t.semKey), 're-created').to.equal(true);
    expect(s.unlock(), s.errorString()).to.equal(true);
    expect(s.tryLock(0), s.errorString()).to.equal(true);
    expect(s.unlock()).to.equal(true);
    expect(s.detach()).to.equal(true);
    expectNoSysvLeft(t);
  });

  it('a pending lockAsync() takes the re-created semaphore when the held one is removed', async () => {
    const k = key('rma');
    const holder = shm(k);
    expect(holder.create(64), holder.errorString()).to.equal(true);
    const t = sysvTraces(k);
    const waiter = shm(k);
    expect(waiter.attach(), waiter.errorString()).to.equal(true);
    expect(holder.lock()).to.equal(true);
    const p = waiter.lockAsync({ timeoutMs: 20000 });
    await new Promise((r) => setTimeout(r, 30));
    removeSysvSemaphore(k);
    expect(await p, waiter.errorString()).to.equal(true);
    expect(waiter.unlock(), waiter.errorString()).to.equal(true);
    holder.unlock(); // its semaphore is gone: there is nothing to give back
    expect(waiter.detach()).to.equal(true);
    expect(holder.detach()).to.equal(true); // the last detach removes the re-created semaphore too
    expectNoSysvLeft(t);
  });

  it('attach() and lock() blocked in another process reopen when the semaphore is removed', async () => {
    const k = key('rmb');
    const holder = shm(k);
    expect(holder.create(64), holder.errorString()).to.equal(true);
    const t = sysvTraces(k);
    expect(holder.lock()).to.equal(true);
    const c = new Child(`
const s = new QSharedMemory(env.KEY, { backend: 'sysv' });
say('attaching');
if (!s.attach()) { say('attach: ' + s.errorString()); process.exit(1); }
say(s.lock() ? 'locked' : 'lock: ' + s.errorString());
s.unlock(); s.detach();
`, { KEY: k });
    children.push(c);
    expect(await c.next()).to.equal('attaching');
    await new Promise((r) => setTimeout(r, 200)); // most likely blocked in semop by now
    removeSysvSemaphore(k); // EIDRM if it waits, EINVAL if it has not started yet: both reopen
    expect(await c.next()).to.equal('locked');
    expect((await c.end()).code, c.stderr).to.equal(0);
    holder.unlock();
    expect(holder.detach()).to.equal(true);
    expectNoSysvLeft(t);
  });
});

for (const backend of ['sysv', 'posix']) {
  describe(`'${backend}': lockAsync() pending across detach()`, function () {
    this.timeout(30000);
    const opts = { backend };
    let k;
    let objs = [];
    afterEach(() => {
      for (const s of objs) s.detach();
      objs = [];
      QSharedMemory.remove(k, opts);
    });

    it('resolves false (no internal error) and re-creates no semaphore or key file', async () => {
      k = uniqueKey('la');
      const a = new QSharedMemory(k, opts);
      const b = new QSharedMemory(k, opts);
      objs = [a, b];
      expect(a.create(64), a.errorString()).to.equal(true);
      const t = backend === 'sysv' ? sysvTraces(k) : null;
      expect(b.attach(), b.errorString()).to.equal(true);
      expect(a.lock()).to.equal(true);
      const p = b.lockAsync({ timeoutMs: 20000 });
      // b detaches while waiting; then a, the last user, unlocks and detaches: the System V
      // segment and semaphore are removed, and the POSIX semaphore handle is closed.
      expect(b.detach()).to.equal(true);
      expect(a.unlock()).to.equal(true);
      expect(a.detach()).to.equal(true);
      expect(await p).to.equal(false);
      expect(b.isLocked()).to.equal(false);
      if (t) expectNoSysvLeft(t);
      else {
        expect(QSharedMemory.remove(k, opts)).to.equal(true);
        for (const f of posixFiles(k)) expect(existsSync(f), f).to.equal(false);
      }
    });
  });

  describe(`'${backend}': non-finite and huge lock timeouts`, function () {
    this.timeout(30000);

    it('tryLock(Infinity), tryLock(Number.MAX_VALUE) and lockAsync with them return true at once when free', async () => {
      const k = uniqueKey('inf');
      // In a child: the old code spun (System V) in a synchronous call, which no mocha timeout stops.
      const c = new Child(`
const s = new QSharedMemory(env.KEY, { backend: env.BACKEND });
const out = [s.create(64)];
for (const ms of [Infinity, Number.MAX_VALUE, 1e12]) {
  out.push(s.tryLock(ms), s.unlock());
  out.push(await s.lockAsync({ timeoutMs: ms }), s.unlock());
}
out.push(s.errorString());
s.detach();
QSharedMemory.remove(env.KEY, { backend: env.BACKEND });
say(out);
`, { KEY: k, BACKEND: backend });
      try {
        const out = JSON.parse(await c.next());
        expect(out).to.deep.equal([...Array(13).fill(true), '']);
        expect((await c.end()).code, c.stderr).to.equal(0);
      } finally {
        await c.kill();
        QSharedMemory.remove(k, { backend });
      }
    });

    it('the backend lock itself takes Infinity and Number.MAX_VALUE as "wait" (not an invalid timespec)', async () => {
      const k = uniqueKey('binf');
      const c = new Child(`
const { makeBackend } = await import('${DIST}/backends/index.js');
const b = makeBackend(env.BACKEND, {});
const key = b.nativeKeyFor(env.KEY);
const ctx = { legacyKey: env.KEY, type: env.BACKEND === 'sysv' ? 0x51 : 0x100 };
const att = b.create(key, 64, 1, ctx);
const out = [];
for (const ms of [Infinity, -Infinity, Number.MAX_VALUE, -1]) {
  out.push(att.lock.acquire(ms), att.lock.release());
}
att.detach();
b.remove(key, ctx);
say(out);
`, { KEY: k, BACKEND: backend });
      try {
        expect(JSON.parse(await c.next())).to.deep.equal(Array(4).fill(['acquired', true]).flat());
        expect((await c.end()).code, c.stderr).to.equal(0);
      } finally {
        await c.kill();
        QSharedMemory.remove(k, { backend });
      }
    });
  });
}

describe("'posix': a lock holder that died (SIGKILL) blocks nothing for ever", function () {
  this.timeout(60000);
  const children = [];
  let k;
  afterEach(async () => {
    for (const c of children.splice(0)) await c.kill();
    QSharedMemory.remove(k, POSIX);
  });

  it('attach() and create() fail with LockError after QSHM_POSIX_LOCK_TIMEOUT_MS; detach() and exit do not hang; remove() leaves nothing', async () => {
    k = uniqueKey('dead');
    // The holder creates the segment, waits, then locks and is killed while holding the lock.
    const holder = new Child(`
const s = new QSharedMemory(env.KEY, { backend: 'posix' });
say(s.create(64) ? 'created' : 'create: ' + s.errorString());
await line();
say(s.lock() ? 'locked' : 'lock: ' + s.errorString());
await line();
`, { KEY: k });
    children.push(holder);
    expect(await holder.next()).to.equal('created');
    // The prober attaches two objects while the lock is free; after the kill it tries a new
    // attach and a create, detaches one object, and exits with the other still attached
    // (the exit handler detaches it, which must not wait for the dead holder).
    const prober = new Child(`
const a = new QSharedMemory(env.KEY, { backend: 'posix' });
const b = new QSharedMemory(env.KEY, { backend: 'posix' });
say(a.attach() && b.attach() ? 'attached' : 'attach: ' + a.errorString() + b.errorString());
await line();
const c = new QSharedMemory(env.KEY, { backend: 'posix' });
const d = new QSharedMemory(env.KEY, { backend: 'posix' });
const out = {};
out.attach = [c.attach(), c.error(), c.errorString(), c.lastError()?.code];
out.create = [d.create(64), d.error(), d.errorString()];
out.tryLock = a.tryLock(50);
out.detach = [a.detach(), a.isAttached(), a.data()];
out.bAttached = b.isAttached();
say(out);
`, { KEY: k, QSHM_POSIX_LOCK_TIMEOUT_MS: '300' });
    children.push(prober);
    expect(await prober.next()).to.equal('attached');
    holder.send('lock');
    expect(await holder.next()).to.equal('locked');
    await holder.kill();
    prober.send('go');
    const out = JSON.parse(await prober.next());
    const why = 'unable to lock (the POSIX semaphore has been held for 0.3 s; its holder may have died — POSIX semaphores are not released when a process dies)';
    expect(out.attach).to.deep.equal([false, E.LockError, `QSharedMemory::attach: ${why}`, 'ERR_QSHM_LOCK_TIMEOUT']);
    expect(out.create).to.deep.equal([false, E.LockError, `QSharedMemory::create: ${why}`]);
    expect(out.tryLock).to.equal(false);
    expect(out.detach).to.deep.equal([true, false, null]);
    expect(out.bAttached).to.equal(true);
    const end = await prober.end();
    expect(end, prober.stderr).to.deep.equal({ code: 0, signal: null });
    expect(QSharedMemory.remove(k, POSIX)).to.equal(true);
    for (const f of posixFiles(k)) expect(existsSync(f), f).to.equal(false);
  });

  it('QSHM_POSIX_LOCK_TIMEOUT_MS does not make a free lock fail; a live holder that unlocks in time lets attach() in', async () => {
    k = uniqueKey('live');
    const s = new QSharedMemory(k, POSIX);
    expect(s.create(64), s.errorString()).to.equal(true);
    try {
      expect(s.lock()).to.equal(true);
      const c = new Child(`
const s = new QSharedMemory(env.KEY, { backend: 'posix' });
say('attaching');
say(s.attach() ? 'attached' : 'attach: ' + s.errorString());
s.detach();
`, { KEY: k, QSHM_POSIX_LOCK_TIMEOUT_MS: '20000' });
      children.push(c);
      expect(await c.next()).to.equal('attaching');
      await new Promise((r) => setTimeout(r, 100));
      expect(s.unlock()).to.equal(true);
      expect(await c.next()).to.equal('attached');
      expect((await c.end()).code, c.stderr).to.equal(0);
    } finally {
      s.detach();
    }
    expect(QSharedMemory.remove(k, POSIX)).to.equal(true);
    for (const f of posixFiles(k)) expect(existsSync(f), f).to.equal(false);
  });
});
