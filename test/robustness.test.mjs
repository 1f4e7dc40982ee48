// SPDX-License-Identifier: MIT
// Regressions for defects an independent review found: process aborts during worker teardown,
// mappings larger than a Buffer, concurrent last detaches, corrupt lock words, unbounded
// waits, descriptor truncation.
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { existsSync, openSync, closeSync, ftruncateSync, writeSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { QSharedMemory, SharedMemoryError, Layout, MAGIC, listenForSegments, legacyKeyName, IpcKeyType } from '../dist/index.js';
import { LineChild, uniqueKey, run, leftovers, track } from './helpers.mjs';
import { native, C } from '../dist/native.js';

const dist = new URL('../dist/index.js', import.meta.url).href;

/** Writes a valid qshm header for `dataSize` bytes at `path` by hand (sparse file). */
function writeSegmentFile(path, dataSize, { slotTable = Layout.SLOT_TABLE_OFFSET, slotCount = Layout.SLOT_COUNT } = {}) {
  const fd = openSync(path, 'w', 0o600);
  const h = Buffer.alloc(Layout.HEADER_SIZE);
  MAGIC.copy(h, 0);
  h.writeUInt32LE(Layout.VERSION, Layout.VERSION_OFFSET);
  h.writeUInt32LE(Layout.HEADER_SIZE, Layout.HEADER_SIZE_OFFSET);
  h.writeBigUInt64LE(BigInt(dataSize), Layout.DATA_SIZE_OFFSET);
  h.writeUInt32LE(slotCount, Layout.SLOT_COUNT_OFFSET);
  h.writeUInt32LE(slotTable, Layout.SLOT_TABLE_OFFSET_OFFSET);
  writeSync(fd, h);
  ftruncateSync(fd, Layout.HEADER_SIZE + dataSize);
  closeSync(fd);
}

describe('robustness', function () {
  it('a worker that ends while lockAsync() is pending does not abort the process', async () => {
    // Run in a child so that a regression (a fatal error) fails this test instead of mocha.
    const script = `
      import { Worker } from 'node:worker_threads';
      import { QSharedMemory } from ${JSON.stringify(dist)};
      const key = ${JSON.stringify(uniqueKey('wlock'))};
      const holder = new QSharedMemory(key);
      if (!holder.create(64) || !holder.lock()) process.exit(3);
      const code = \`
        import { QSharedMemory } from ${JSON.stringify(dist)};
        import { parentPort, workerData } from 'node:worker_threads';
        const s = new QSharedMemory(workerData.key);
        s.attach();
        s.lockAsync().then(() => {});
        parentPort.postMessage('waiting');
        if (workerData.exit) setTimeout(() => process.exit(0), 50);
      \`;
      for (const exit of [false, true, false, true]) {
        const w = new Worker(code, { eval: true, workerData: { key, exit } });
        await new Promise((r) => w.once('message', r));
        await new Promise((r) => setTimeout(r, 30));
        if (!exit) await w.terminate();
        await new Promise((r) => (w.threadId === -1 ? r() : w.once('exit', r)));
      }
      holder.unlock();
      console.log(holder.tryLock(1000) ? 'ok' : 'stuck');
      holder.detach();
    `;
    const r = await run(process.execPath, ['--input-type=module', '-e', script], { timeoutMs: 30000 });
    expect(r.stderr).to.not.contain('FATAL');
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout.trim()).to.equal('ok');
  });

  it('a segment larger than this Node can map is refused cleanly (create and a hostile header)', function () {
    const big = new QSharedMemory(uniqueKey('huge'));
    expect(big.create(5 * 2 ** 30)).to.equal(false);
    expect(big.error()).to.equal(SharedMemoryError.OutOfResources);
    expect(big.errorString()).to.match(/largest Buffer/);
    // A sparse file whose header claims 5 GiB of data (the file is really that long).
    const dir = track.dir('qshmtest-big-', '/dev/shm');
    const path = join(dir, 'seg');
    writeSegmentFile(path, 5 * 2 ** 30);
    const s = new QSharedMemory();
    s.setNativeKey(path);
    expect(s.attach()).to.equal(false);
    expect(s.error()).to.equal(SharedMemoryError.OutOfResources);
    expect(s.lastError().code).to.equal('ERR_QSHM_TOO_LARGE');
    expect(existsSync(path)).to.equal(true); // not ours to remove
  });

  it('processes detaching at the same moment never leave the segment behind', async function () {
    this.timeout(180000); // 90 processes: a hang guard for a loaded machine, not a speed check
    const script = `
      import { QSharedMemory } from ${JSON.stringify(dist)};
      const s = new QSharedMemory(process.argv[1]);
      if (!s.attach()) process.exit(3);
      const go = new Int32Array(s.data().buffer, 0, 4);
      Atomics.add(go, 1, 1);
      while (Atomics.load(go, 0) === 0) {}
      s.detach();
    `;
    for (let round = 0; round < 30; round++) {
      const key = uniqueKey('race');
      const owner = new QSharedMemory(key);
      expect(owner.create(64)).to.equal(true);
      const path = owner.nativeKey();
      track.path(path); // only matters if this test failed
      const kids = Array.from({ length: 3 }, () =>
        track.child(spawn(process.execPath, ['--input-type=module', '-e', script, key], { stdio: 'ignore' })));
      let ended = false; // a child that ends before attaching (or is stopped after a timeout) ends the wait
      const exits = kids.map((k) => new Promise((r) => k.on('exit', r)).finally(() => (ended = true)));
      const go = new Int32Array(owner.data().buffer, 0, 4);
      while (Atomics.load(go, 1) < 3 && !ended) await new Promise((r) => setTimeout(r, 2));
      Atomics.store(go, 0, 1);
      owner.detach();
      expect(await Promise.all(exits)).to.deep.equal([0, 0, 0]);
      expect(existsSync(path), `round ${round}: ${path} left behind`).to.equal(false);
    }
  });

  it('a holder killed while holding is taken over even after a newcomer (that never locks) claimed its slot', async () => {
    // Tokens are published at the first lock, so a newcomer that claims a dead holder's slot
    // must clear the dead token it finds there (docs/format.md §6), or the dead holder would
    // look alive (its slot byte is locked again, by the newcomer) for as long as it is attached.
    const key = uniqueKey('stale');
    const owner = track.shm(key);
    expect(owner.create(64)).to.equal(true);
    const script = `
      import { QSharedMemory } from ${JSON.stringify(dist)};
      const s = new QSharedMemory(process.argv[1]);
      if (!s.attach() || !s.lock()) process.exit(3);
      process.kill(process.pid, 'SIGKILL');
    `;
    await run(process.execPath, ['--input-type=module', '-e', script, key]).catch(() => {});
    const newcomer = track.shm(key);
    expect(newcomer.attach()).to.equal(true);
    const waiter = track.shm(key);
    expect(waiter.attach()).to.equal(true);
    expect(waiter.tryLock(10_000), 'the dead holder was taken for alive').to.equal(true);
    expect(waiter.lockWasAbandoned()).to.equal(true);
    expect(waiter.unlock()).to.equal(true);
  });

  it('a header with another slot table than qshm writes is attached at its own slot table', () => {
    // attach() claims a slot at the last layout it saw before it reads the header (one pread
    // for header and slot entry); a header that says otherwise must be claimed again there.
    const usual = track.shm(uniqueKey('layout'));
    expect(usual.create(64)).to.equal(true); // this process's last layout: the usual one
    const path = join(track.dir('qshmtest-layout-', '/dev/shm'), 'seg');
    writeSegmentFile(path, 4096, { slotTable: 3072, slotCount: 64 });
    const a = new QSharedMemory();
    a.setNativeKey(path);
    const b = new QSharedMemory();
    b.setNativeKey(path);
    try {
      expect(a.attach(), a.errorString()).to.equal(true);
      expect(b.attach(), b.errorString()).to.equal(true);
      const fd = native.open(path, C.O_RDWR | C.O_CLOEXEC, 0);
      try {
        const held = (byte) => native.ofdGetLock(fd, C.F_WRLCK, byte, 1) !== C.F_UNLCK;
        const slotBytes = (table, count) => Array.from({ length: count }, (_, i) => table + 4 * i).filter(held);
        expect(slotBytes(3072, 64), 'slots claimed in the header\'s table').to.have.length(2);
        expect(slotBytes(Layout.SLOT_TABLE_OFFSET, 256), 'no byte left locked at the usual table').to.deep.equal([]);
      } finally {
        native.close(fd);
      }
      expect(a.lock()).to.equal(true);
      expect(b.tryLock(0)).to.equal(false);
      expect(a.unlock()).to.equal(true);
      expect(b.tryLock(0)).to.equal(true);
      expect(b.unlock()).to.equal(true);
    } finally {
      a.detach();
      b.detach();
    }
  });

  describe('the caches of issue 14 never give another answer than deriving again', () => {
    const saved = { tmpdir: process.env.TMPDIR, cwd: process.cwd() };
    afterEach(() => {
      if (saved.tmpdir === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = saved.tmpdir;
      process.chdir(saved.cwd);
    });

    it('a relative $TMPDIR follows the working directory, as Qt\'s QDir::tempPath() does', () => {
      const root = track.dir('qshmtest-reltmp-');
      for (const d of ['A/sub', 'B/sub']) mkdirSync(join(root, d), { recursive: true });
      process.env.TMPDIR = 'sub';
      process.chdir(join(root, 'A'));
      const inA = QSharedMemory.legacyNativeKey('demo', IpcKeyType.SystemV);
      process.chdir(join(root, 'B'));
      const inB = QSharedMemory.legacyNativeKey('demo', IpcKeyType.SystemV);
      expect(inA.nativeKey).to.match(/\/A\/sub\/qipc_sharedmemory_demo/);
      expect(inB.nativeKey).to.match(/\/B\/sub\/qipc_sharedmemory_demo/);
    });

    it('legacyKeyName() keeps names apart when a prefix or key contains NUL', () => {
      const first = legacyKeyName('b\0c', 'a');
      const second = legacyKeyName('c', 'a\0b');
      expect(second).to.not.equal(first);
      expect(second.startsWith('a\0bc')).to.equal(true);
    });

    it('a semaphore key file that cannot be made reports Qt\'s "unable to make key"', () => {
      process.env.TMPDIR = '/etc/hostname'; // a file: every path under it fails with ENOTDIR
      const s = new QSharedMemory(uniqueKey('mkkey'), { backend: 'sysv' });
      expect(s.create(16)).to.equal(false);
      expect(s.error()).to.equal(SharedMemoryError.KeyError);
      expect(s.errorString()).to.match(/unable to make key/);
    });
  });

  it('a lock word with the waiters bit and no holder (corrupt) is taken, not waited on forever', () => {
    const s = track.shm(uniqueKey('w0'));
    expect(s.create(64)).to.equal(true);
    // Write the word through a second mapping of the file.
    const raw = openSync(s.nativeKey(), 'r+');
    const w = Buffer.alloc(4);
    w.writeUInt32LE(0x80000000);
    writeSync(raw, w, 0, 4, Layout.LOCK_WORD_OFFSET);
    closeSync(raw);
    expect(s.tryLock(2000)).to.equal(true);
    expect(s.unlock()).to.equal(true);
  });

  it('tryLock(Infinity) and lockAsync({ timeoutMs: Infinity }) wait forever rather than fail', async () => {
    const s = track.shm(uniqueKey('inf'));
    expect(s.create(64)).to.equal(true);
    expect(s.tryLock(Infinity)).to.equal(true);
    expect(s.unlock()).to.equal(true);
    expect(await s.lockAsync({ timeoutMs: Infinity })).to.equal(true);
    expect(s.unlock()).to.equal(true);
    expect(s.tryLock(-Infinity)).to.equal(true); // negative: one attempt
    s.unlock();
  });

  it('a sender that connects and sends nothing cannot hold accept() past its timeout', async () => {
    const path = join(track.dir('qshm-sock-'), 'sock');
    const listener = await listenForSegments(path);
    track.defer(() => listener.close());
    const silent = connect(path);
    track.defer(() => silent.destroy());
    await new Promise((r) => silent.once('connect', r));
    const started = performance.now();
    const err = await listener.accept({ timeoutMs: 300 }).then(() => null, (e) => e);
    expect(err).to.have.property('code', 'ETIMEDOUT');
    expect(performance.now() - started).to.be.below(5000); // generous hang guard
  });

  it('descriptor numbers are never truncated', () => {
    expect(() => QSharedMemory.fromFd(2 ** 32 + 5)).to.throw(RangeError).with.property('code', 'ERR_OUT_OF_RANGE');
    expect(() => QSharedMemory.fromFd(Infinity)).to.throw(RangeError).with.property('code', 'ERR_OUT_OF_RANGE');
  });

  it('attach() gives up with LockError when another process holds the presence lock exclusively', async () => {
    const path = join(track.dir('qshmtest-pres-', '/dev/shm'), 'seg');
    writeSegmentFile(path, 4096);
    // A hostile same-user process takes an exclusive OFD lock on byte 0 and keeps it.
    const script = `
      import { native, C } from ${JSON.stringify(new URL('../dist/native.js', import.meta.url).href)};
      const fd = native.open(process.argv[1], C.O_RDWR, 0);
      if (fd < 0 || native.ofdLock(fd, C.F_WRLCK, 0, 1, false) !== 0) process.exit(3);
      console.log('holding');
      setInterval(() => {}, 1000);
    `;
    const child = LineChild.nodeEval(script, { args: [path], parse: 'text', name: 'presence holder' });
    expect(await child.next()).to.equal('holding');
    const started = performance.now();
    const late = new QSharedMemory();
    late.setNativeKey(path);
    expect(late.attach()).to.equal(false);
    expect(late.error()).to.equal(SharedMemoryError.LockError);
    expect(late.lastError().code).to.equal('ERR_QSHM_PRESENCE_BUSY');
    expect(performance.now() - started).to.be.below(10000); // hang guard only
    await child.kill();
    // Once the hostile process is gone, the same file attaches.
    expect(late.attach()).to.equal(true);
    late.detach();
  });

  for (const backend of ['file', 'sysv', 'posix']) {
    it(`'${backend}': lockAsync() then detach() in the same tick neither leaks the lock nor throws`, async () => {
      const key = uniqueKey('adt');
      const a = new QSharedMemory(key, { backend });
      const b = new QSharedMemory(key, { backend });
      try {
        expect(a.create(64)).to.equal(true);
        expect(b.attach()).to.equal(true);
        const pending = a.lockAsync(); // the lock is free: taken synchronously inside
        expect(a.detach()).to.equal(true);
        expect(await pending).to.equal(false);
        expect(b.tryLock(2000)).to.equal(true); // not left held by the detached object
        expect(b.lockWasAbandoned()).to.equal(false);
        expect(b.unlock()).to.equal(true);
      } finally {
        a.detach();
        b.detach();
        if (backend === 'posix') QSharedMemory.remove(key, { backend });
      }
    });

    it(`'${backend}': lockAsync() then detach() of the only attachment leaves the key usable and nothing behind`, async () => {
      const before = leftovers();
      const key = uniqueKey('adt1');
      const a = new QSharedMemory(key, { backend });
      const c = new QSharedMemory(key, { backend });
      try {
        expect(a.create(64)).to.equal(true);
        const pending = a.lockAsync();
        expect(a.detach()).to.equal(true);
        expect(await pending).to.equal(false);
        if (backend !== 'posix') {
          // The last detach removed everything, semaphore and key files included.
          expect(leftovers().filter((x) => !before.includes(x))).to.deep.equal([]);
        }
        // POSIX segments outlive their last detach (as in Qt); the others are gone.
        expect(backend === 'posix' ? c.attach() : c.create(64)).to.equal(true);
        expect(c.tryLock(2000)).to.equal(true);
        expect(c.lockWasAbandoned()).to.equal(false);
        expect(c.unlock()).to.equal(true);
      } finally {
        a.detach();
        c.detach();
        if (backend === 'posix') QSharedMemory.remove(key, { backend });
      }
      expect(leftovers().filter((x) => !before.includes(x))).to.deep.equal([]);
    });
  }

  it('a directory whose filesystem cannot make unnamed files gets a clear error', () => {
    const s = new QSharedMemory(uniqueKey('proc'), { dir: '/proc' });
    expect(s.create(64)).to.equal(false);
    expect(s.errorString()).to.contain('O_TMPFILE');
  });

  it('unlock() after the lock was taken over (its holder looked dead) is false with ERR_QSHM_LOCK_LOST, also on the inlined hot path', async () => {
    const key = uniqueKey('lost');
    const a = track.shm(key);
    expect(a.create(64)).to.equal(true);
    expect(a.lock()).to.equal(true); // the first lock() finds the lock fixed: later ones are inlined
    expect(a.unlock()).to.equal(true);
    expect(a.lock()).to.equal(true);
    const b = track.shm(key);
    expect(b.attach()).to.equal(true);
    // A hostile (or corrupt) writer clears the slot table: a's token is no longer recorded,
    // so a waiter takes a for dead after one wait slice and takes the lock over.
    const fd = native.open(a.nativeKey(), C.O_RDWR | C.O_CLOEXEC, 0);
    const map = native.mmap(fd, Layout.HEADER_SIZE, C.PROT_READ | C.PROT_WRITE, 0);
    new Uint8Array(map).fill(0, Layout.SLOT_TABLE_OFFSET, Layout.SLOT_TABLE_OFFSET + 4 * Layout.SLOT_COUNT);
    native.unmap(map);
    native.close(fd);
    expect(b.tryLock(5000)).to.equal(true);
    expect(b.lockWasAbandoned()).to.equal(true);
    expect(a.unlock()).to.equal(false);
    expect(a.error()).to.equal(SharedMemoryError.LockError);
    expect(a.errorString()).to.equal('QSharedMemory::unlock: unable to unlock (the lock was taken over)');
    expect(a.tryLock(0)).to.equal(false); // b holds it
    expect(b.unlock()).to.equal(true);
    expect(a.lock()).to.equal(true); // the hot path again
    expect(a.unlock()).to.equal(true);
  });
});
