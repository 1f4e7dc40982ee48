// SPDX-License-Identifier: MIT
// The header lock (issue 3): exclusion across processes, worker threads and objects; takeover
// of a dead holder's lock (SIGKILL, worker.terminate()) reported by lockWasAbandoned(); the
// try/async/scoped forms; Qt's lock rules (conformance items 38–45, 69, 71); and a C program
// that follows docs/format.md taking part in the same lock.
import { expect } from 'chai';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { QSharedMemory, SharedMemoryError, cHeaderText } from '../dist/index.js';
import {
  LineChild, debianPython, fixtures, lockAgent, missingCommand, removeDir, run, skipIf, tempDir, testDir, track, uniqueKey,
  within,
} from './helpers.mjs';

const COUNTER = join(fixtures, 'lock-counter.mjs');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const shm = track.shm;
/** A lock-agent child process, ready for commands. */
const agent = () => lockAgent();
/** A lock-agent worker thread, ready for commands. */
const workerAgent = () => lockAgent({ worker: true });

/** Reads the u64 counter at data offset 0. */
function counter(s) {
  const d = s.data();
  return new BigUint64Array(d.buffer, d.byteOffset, 1)[0];
}

/**
 * Starts counting peers (each adds 1 to the u64 at data offset 0, n times under the lock),
 * releases them together once all have attached, and resolves with their final reports.
 */
async function count(starters) {
  const ps = starters.map((start) => start());
  for (const p of ps) {
    const m = await p.next(20000);
    expect(m === 'ready' || m?.ready === true, `not ready: ${JSON.stringify(m)}`).to.equal(true);
  }
  for (const p of ps) p.endInput('go');
  const reports = [];
  for (const p of ps) reports.push(await p.next(120000));
  for (const p of ps) expect(await p.exited).to.include({ code: 0 });
  return reports;
}
const nodeCounter = (key, n) => () => LineChild.node(COUNTER, [key, n], { name: 'lock-counter', timeoutMs: 10000 });
const workerCounter = (key, n) => () => LineChild.worker(COUNTER, { key, n }, { name: 'lock-counter worker', timeoutMs: 10000 });

describe('lock: Qt rules (conformance items 38–45)', () => {
  it('#38 lock() with no key → false, LockError', () => {
    const s = shm();
    expect(s.lock()).to.equal(false);
    expect(s.error()).to.equal(SharedMemoryError.LockError);
    expect(s.errorString()).to.not.equal('');
  });

  it('#39 lock() with a key but before create()/attach() → false, LockError', () => {
    const s = shm(uniqueKey('n39'));
    expect(s.lock()).to.equal(false);
    expect(s.error()).to.equal(SharedMemoryError.LockError);
  });

  it('#40 after create(100), lock() → true', () => {
    const s = shm(uniqueKey('n40'));
    expect(s.create(100)).to.equal(true);
    expect(s.lock()).to.equal(true);
    expect(s.isLocked()).to.equal(true);
    expect(s.lockWasAbandoned()).to.equal(false);
    expect(s.unlock()).to.equal(true);
  });

  it('#41 a second lock() by the holder returns true at once, with an "already locked" warning', async () => {
    const s = shm(uniqueKey('n41'));
    expect(s.create(100)).to.equal(true);
    const warnings = [];
    const onWarning = (w) => warnings.push(w);
    process.on('warning', onWarning);
    try {
      expect(s.lock()).to.equal(true);
      expect(s.lock()).to.equal(true);
      await new Promise((r) => setImmediate(r));
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings.map((w) => w.code)).to.include('QSHM_ALREADY_LOCKED');
    expect(warnings.map((w) => w.message)).to.include('QSharedMemory::lock: already locked');
    expect(s.unlock()).to.equal(true);
  });

  it('#42 detaching an object that holds the lock does not deadlock, and releases the lock', () => {
    const key = uniqueKey('n42');
    const a = shm(key);
    const b = shm(key);
    expect(a.create(100)).to.equal(true);
    expect(b.attach()).to.equal(true);
    expect(a.lock()).to.equal(true);
    expect(a.detach()).to.equal(true);
    expect(a.isLocked()).to.equal(false);
    expect(b.tryLock(5000)).to.equal(true);
    expect(b.lockWasAbandoned()).to.equal(false);
    expect(b.unlock()).to.equal(true);
  });

  it('#43 one unlock() releases after a repeated lock(); unlock() by a non-holder → false', async () => {
    const key = uniqueKey('n43');
    const a = shm(key);
    const b = shm(key);
    expect(a.create(100)).to.equal(true);
    expect(b.attach()).to.equal(true);
    process.on('warning', ignoreWarning);
    try {
      expect(a.lock()).to.equal(true);
      expect(a.lock()).to.equal(true);
      await new Promise((r) => setImmediate(r));
    } finally {
      process.off('warning', ignoreWarning);
    }
    expect(b.unlock()).to.equal(false); // b does not hold it
    expect(b.error()).to.equal(SharedMemoryError.NoError);
    expect(a.unlock()).to.equal(true);
    expect(a.isLocked()).to.equal(false);
    expect(b.tryLock()).to.equal(true); // one unlock was enough
    expect(a.unlock()).to.equal(false);
    expect(b.unlock()).to.equal(true);
    expect(b.unlock()).to.equal(false);
  });

  it('#44 holding is per object: a second object in the same process and a worker thread are excluded', async function () {
    this.timeout(20000);
    const key = uniqueKey('n44');
    const a = shm(key);
    const b = shm(key);
    expect(a.create(100)).to.equal(true);
    expect(b.attach()).to.equal(true);
    expect(a.lock()).to.equal(true);
    expect(b.tryLock()).to.equal(false);
    expect(b.tryLock(30)).to.equal(false);
    expect(b.error()).to.equal(SharedMemoryError.NoError);
    const w = await workerAgent();
    expect(await w.cmd(`attach ${key}`)).to.include({ ok: true });
    expect(await w.cmd('trylock 30')).to.include({ ok: false });
    expect(a.unlock()).to.equal(true);
    expect(await w.cmd('trylock 0')).to.include({ ok: true, abandoned: false });
    expect(b.tryLock(30)).to.equal(false); // now the worker holds it
    expect(await w.cmd('unlock')).to.include({ ok: true });
    expect(b.tryLock()).to.equal(true);
    expect(b.unlock()).to.equal(true);
    expect(await w.cmd('detach')).to.include({ ok: true });
  });

  it('#44 #45 4 processes × 250,000 locked increments end exact', async function () {
    this.timeout(120000);
    const key = uniqueKey('n45');
    const s = shm(key);
    expect(s.create(64)).to.equal(true);
    const n = 250000;
    const reports = await count([1, 2, 3, 4].map(() => nodeCounter(key, n)));
    expect(reports).to.deep.equal(Array(4).fill({ done: n, abandoned: 0 }));
    expect(counter(s)).to.equal(BigInt(4 * n));
  });

  it('#44 #45 2 worker threads + 2 processes × 250,000 locked increments end exact', async function () {
    this.timeout(120000);
    const key = uniqueKey('n44mix');
    const s = shm(key);
    expect(s.create(64)).to.equal(true);
    const n = 250000;
    const reports = await count([workerCounter(key, n), nodeCounter(key, n), workerCounter(key, n), nodeCounter(key, n)]);
    expect(reports).to.deep.equal(Array(4).fill({ done: n, abandoned: 0 }));
    expect(counter(s)).to.equal(BigInt(4 * n));
  });

  it('#45 another process is excluded while this one holds the lock', async function () {
    this.timeout(20000);
    const key = uniqueKey('n45x');
    const s = shm(key);
    expect(s.create(64)).to.equal(true);
    expect(s.lock()).to.equal(true);
    const p = await agent();
    expect(await p.cmd(`attach ${key}`)).to.include({ ok: true });
    expect(await p.cmd('trylock 50')).to.include({ ok: false });
    p.send('lock');
    await sleep(100);
    expect(p.pending).to.equal(0); // still waiting
    expect(s.unlock()).to.equal(true);
    expect(await p.next()).to.include({ ok: true, abandoned: false });
    expect(s.tryLock(30)).to.equal(false);
    expect(await p.cmd('unlock')).to.include({ ok: true });
    expect(s.tryLock()).to.equal(true);
    expect(s.unlock()).to.equal(true);
  });
});

function ignoreWarning() {}

describe('lock: a holder that dies', () => {
  it('SIGKILL of the holder mid-critical-section, 50 times: the next locker acquires and sees lockWasAbandoned()', async function () {
    this.timeout(120000);
    const key = uniqueKey('kill');
    const s = shm(key);
    expect(s.create(4096)).to.equal(true);
    const path = s.nativeKey();
    for (let i = 0; i < 50; i++) {
      const p = await agent();
      expect(await p.cmd(`attach ${key}`)).to.include({ ok: true });
      expect(await p.cmd('hold')).to.include({ ok: true });
      // Alive: no false takeover, even after several liveness checks.
      expect(s.tryLock(i % 10 === 0 ? 60 : 5), `iteration ${i}`).to.equal(false);
      let ok;
      if (i % 2 === 0) {
        // The waiter is already asleep on the futex when the holder dies.
        const waiting = s.lockAsync({ timeoutMs: 5000 });
        await sleep(3);
        await p.kill();
        ok = await waiting;
      } else {
        await p.kill();
        ok = s.tryLock(5000);
      }
      expect(ok, `iteration ${i}`).to.equal(true);
      expect(s.lockWasAbandoned(), `iteration ${i}`).to.equal(true);
      expect(s.unlock()).to.equal(true);
      // The next ordinary acquisition is not abandoned.
      expect(s.tryLock()).to.equal(true);
      expect(s.lockWasAbandoned()).to.equal(false);
      expect(s.unlock()).to.equal(true);
    }
    expect(s.detach()).to.equal(true);
    expect(existsSync(path), 'segment file left behind').to.equal(false);
  });

  it('#69 a process killed while holding lock() does not leave the key locked for later processes', async function () {
    this.timeout(30000);
    const key = uniqueKey('n69');
    const holder = await agent();
    expect(await holder.cmd(`create ${key} 64`)).to.include({ ok: true });
    expect(await holder.cmd('hold')).to.include({ ok: true, abandoned: false });
    const later = await agent();
    expect(await later.cmd(`attach ${key}`)).to.include({ ok: true });
    expect(await later.cmd('trylock 20')).to.include({ ok: false });
    await holder.kill();
    expect(await later.cmd('trylock 5000')).to.include({ ok: true, abandoned: true });
    expect(await later.cmd('unlock')).to.include({ ok: true });
    expect(await later.cmd('detach')).to.include({ ok: true });
    expect(existsSync(new QSharedMemory(key).nativeKey()), 'segment file left behind').to.equal(false);
  });

  it('#69 a holder killed as the last attachment: the next create() reclaims the file, unlocked', async function () {
    this.timeout(20000);
    const key = uniqueKey('n69b');
    const holder = await agent();
    expect(await holder.cmd(`create ${key} 64`)).to.include({ ok: true });
    expect(await holder.cmd('hold')).to.include({ ok: true });
    await holder.kill();
    const s = shm(key);
    expect(existsSync(s.nativeKey()), 'the dead creator leaves its file').to.equal(true);
    expect(s.create(64)).to.equal(true);
    expect(s.tryLock(5000)).to.equal(true);
    expect(s.lockWasAbandoned()).to.equal(false); // a fresh segment, not a takeover
    expect(s.unlock()).to.equal(true);
    expect(s.detach()).to.equal(true);
    expect(existsSync(s.nativeKey())).to.equal(false);
  });

  it('a worker thread terminated while holding: the next locker takes over (abandoned)', async function () {
    this.timeout(20000);
    const key = uniqueKey('wterm');
    const s = shm(key);
    expect(s.create(64)).to.equal(true);
    const w = await workerAgent();
    expect(await w.cmd(`attach ${key}`)).to.include({ ok: true });
    expect(await w.cmd('hold')).to.include({ ok: true });
    expect(s.tryLock(20)).to.equal(false);
    await w.kill(); // worker.terminate()
    expect(s.tryLock(5000)).to.equal(true);
    expect(s.lockWasAbandoned()).to.equal(true);
    expect(s.unlock()).to.equal(true);
  });

  it('a process that exits while holding releases the lock (next locker: not abandoned)', async function () {
    this.timeout(20000);
    const key = uniqueKey('exit');
    const s = shm(key);
    expect(s.create(64)).to.equal(true);
    for (const how of ['exit 0', 'exit 3', 'throw']) {
      const p = await agent();
      expect(await p.cmd(`attach ${key}`)).to.include({ ok: true });
      expect(await p.cmd('lock')).to.include({ ok: true });
      expect(s.tryLock(), how).to.equal(false);
      p.send(how);
      const { code } = await p.exited;
      expect(code, how).to.not.equal(null);
      expect(s.tryLock(5000), how).to.equal(true);
      expect(s.lockWasAbandoned(), how).to.equal(false);
      expect(s.unlock()).to.equal(true);
    }
  });

  it('detach() while holding releases the lock', () => {
    const key = uniqueKey('detach');
    const a = shm(key);
    const b = shm(key);
    expect(a.create(64)).to.equal(true);
    expect(b.attach()).to.equal(true);
    expect(a.lock()).to.equal(true);
    expect(b.tryLock()).to.equal(false);
    expect(a.detach()).to.equal(true);
    expect(a.unlock()).to.equal(false);
    expect(b.tryLock()).to.equal(true);
    expect(b.lockWasAbandoned()).to.equal(false);
    expect(b.unlock()).to.equal(true);
  });
});

describe('lock: try, async and scoped forms', () => {
  let key;
  let a;
  let b;
  beforeEach(() => {
    key = uniqueKey('forms');
    a = shm(key);
    b = shm(key);
    expect(a.create(64)).to.equal(true);
    expect(b.attach()).to.equal(true);
  });

  it('tryLock(ms) times out with false and no error', () => {
    expect(a.lock()).to.equal(true);
    expect(b.tryLock(50)).to.equal(false);
    expect(b.error()).to.equal(SharedMemoryError.NoError);
    expect(b.errorString()).to.equal('');
    expect(b.isLocked()).to.equal(false);
    expect(a.unlock()).to.equal(true);
    expect(b.tryLock(50)).to.equal(true);
    expect(b.unlock()).to.equal(true);
  });

  it('lockAsync resolves true when the holder unlocks; a timer fires while it waits', async () => {
    expect(a.lock()).to.equal(true);
    let fired = 0;
    const tick = setInterval(() => fired++, 5);
    const release = setTimeout(() => a.unlock(), 100);
    try {
      const ok = await within(b.lockAsync(), 5000, 'lockAsync');
      expect(ok).to.equal(true);
    } finally {
      clearInterval(tick);
      clearTimeout(release);
    }
    expect(fired).to.be.greaterThan(2); // the event loop kept running
    expect(b.isLocked()).to.equal(true);
    expect(b.lockWasAbandoned()).to.equal(false);
    expect(a.tryLock()).to.equal(false);
    expect(b.unlock()).to.equal(true);
  });

  it('lockAsync resolves true at once when free', async () => {
    expect(await b.lockAsync({ timeoutMs: 0 })).to.equal(true);
    expect(b.unlock()).to.equal(true);
  });

  it('lockAsync times out with false and does not hold the lock', async () => {
    expect(a.lock()).to.equal(true);
    let fired = false;
    setTimeout(() => (fired = true), 10);
    expect(await within(b.lockAsync({ timeoutMs: 80 }), 5000, 'lockAsync')).to.equal(false);
    expect(fired).to.equal(true);
    expect(b.isLocked()).to.equal(false);
    expect(b.error()).to.equal(SharedMemoryError.NoError);
    expect(a.unlock()).to.equal(true);
    expect(a.tryLock()).to.equal(true); // b did not take it behind our back
    expect(a.unlock()).to.equal(true);
  });

  it('lockAsync rejects with AbortError when the signal fires, and does not hold the lock', async () => {
    expect(a.lock()).to.equal(true);
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 50);
    let err;
    try {
      await within(b.lockAsync({ signal: ac.signal }), 5000, 'lockAsync');
    } catch (e) {
      err = e;
    }
    expect(err?.name).to.equal('AbortError');
    expect(b.isLocked()).to.equal(false);
    expect(a.unlock()).to.equal(true);
    await sleep(20);
    expect(a.tryLock()).to.equal(true); // b is not holding it
    expect(a.unlock()).to.equal(true);
    // An already-aborted signal rejects at once.
    await b.lockAsync({ signal: AbortSignal.abort() }).then(
      () => expect.fail('should reject'),
      (e) => expect(e.name).to.equal('AbortError'),
    );
    expect(b.isLocked()).to.equal(false);
  });

  it('detach() while lockAsync waits: it resolves false and the lock is not held', async () => {
    expect(a.lock()).to.equal(true);
    const waiting = b.lockAsync({ timeoutMs: 5000 });
    await sleep(20);
    expect(b.detach()).to.equal(true);
    expect(await within(waiting, 5000, 'lockAsync')).to.equal(false);
    expect(b.isLocked()).to.equal(false);
    expect(a.unlock()).to.equal(true);
    expect(a.tryLock()).to.equal(true);
    expect(a.lockWasAbandoned()).to.equal(false);
    expect(a.unlock()).to.equal(true);
  });

  it('two lockAsync calls pending on one object both resolve true (holding is per object), not abandoned', async () => {
    expect(a.lock()).to.equal(true);
    const first = b.lockAsync({ timeoutMs: 5000 });
    const second = b.lockAsync({ timeoutMs: 5000 });
    setTimeout(() => a.unlock(), 20);
    expect(await within(first, 5000, 'first lockAsync')).to.equal(true);
    expect(b.lockWasAbandoned()).to.equal(false);
    expect(await within(second, 5000, 'second lockAsync')).to.equal(true);
    expect(b.lockWasAbandoned()).to.equal(false); // it did not "take over" from itself
    expect(a.tryLock()).to.equal(false);
    expect(b.unlock()).to.equal(true); // one unlock releases
    expect(a.tryLock()).to.equal(true);
    expect(a.unlock()).to.equal(true);
  });

  it('lockAsync waiting on another process resolves when it unlocks', async function () {
    this.timeout(20000);
    const p = await agent();
    expect(await p.cmd(`attach ${key}`)).to.include({ ok: true });
    expect(await p.cmd('lock')).to.include({ ok: true });
    const waiting = b.lockAsync({ timeoutMs: 10000 });
    await sleep(50);
    expect(await p.cmd('unlock')).to.include({ ok: true });
    expect(await waiting).to.equal(true);
    expect(await p.cmd('trylock 0')).to.include({ ok: false });
    expect(b.unlock()).to.equal(true);
  });

  it('withLock releases on return and on throw (sync and async)', async () => {
    expect(a.withLock((s) => {
      expect(s).to.equal(a);
      expect(a.isLocked()).to.equal(true);
      expect(b.tryLock()).to.equal(false);
      return 42;
    })).to.equal(42);
    expect(a.isLocked()).to.equal(false);
    expect(() => a.withLock(() => {
      throw new Error('boom');
    })).to.throw('boom');
    expect(a.isLocked()).to.equal(false);
    expect(b.tryLock()).to.equal(true);
    expect(b.unlock()).to.equal(true);
    await a.withLock(async () => {
      await sleep(5);
      throw new Error('async boom');
    }).then(() => expect.fail('should reject'), (e) => expect(e.message).to.equal('async boom'));
    expect(a.isLocked()).to.equal(false);
    expect(b.tryLock()).to.equal(true);
    expect(b.unlock()).to.equal(true);
  });

  it('lockGuard releases through Symbol.dispose (what `using` calls) and unlock(), also on throw', () => {
    const g = a.lockGuard();
    expect(a.isLocked()).to.equal(true);
    expect(b.tryLock()).to.equal(false);
    g[Symbol.dispose]();
    expect(a.isLocked()).to.equal(false);
    g[Symbol.dispose](); // idempotent: must not unlock someone else's hold
    expect(b.tryLock()).to.equal(true);
    g.unlock();
    expect(b.isLocked()).to.equal(true);
    expect(a.tryLock()).to.equal(false);
    expect(b.unlock()).to.equal(true);
    // The shape `using g = a.lockGuard()` compiles to, with a throwing body.
    expect(() => {
      const guard = a.lockGuard();
      try {
        throw new Error('inside');
      } finally {
        guard[Symbol.dispose]();
      }
    }).to.throw('inside');
    expect(a.isLocked()).to.equal(false);
    expect(b.tryLock()).to.equal(true);
    expect(b.unlock()).to.equal(true);
    const g2 = a.lockGuard();
    g2.unlock();
    expect(a.isLocked()).to.equal(false);
  });

  it('withLock and lockGuard throw the lock error when not attached', () => {
    const c = shm(uniqueKey('none'));
    expect(() => c.withLock(() => 1)).to.throw().with.property('qtError', SharedMemoryError.LockError);
    expect(() => c.lockGuard()).to.throw().with.property('qtError', SharedMemoryError.LockError);
  });
});

describe('lock: #71 a failed create() does not break exclusion (three processes)', () => {
  it('#71 while A holds the lock, B\'s failed create() on the key does not let C in before A unlocks', async function () {
    this.timeout(30000);
    const key = uniqueKey('n71');
    const [A, B, C] = await Promise.all([agent(), agent(), agent()]);
    expect(await A.cmd(`create ${key} 64`)).to.include({ ok: true });
    expect(await A.cmd('lock')).to.include({ ok: true });
    expect(await A.cmd('write 0 A-held')).to.include({ ok: true });
    expect(await C.cmd(`attach ${key}`)).to.include({ ok: true });
    C.send('lock'); // C waits from here on
    expect(await B.cmd(`create ${key} 64`)).to.deep.include({ ok: false, error: SharedMemoryError.AlreadyExists });
    expect(await B.cmd(`create ${key} 64`)).to.deep.include({ ok: false, error: SharedMemoryError.AlreadyExists });
    B.endInput();
    expect(await B.exited).to.include({ code: 0 });
    await sleep(200);
    expect(C.pending, 'C got the lock while A holds it').to.equal(0);
    const D = await agent();
    expect(await D.cmd(`attach ${key}`)).to.include({ ok: true });
    expect(await D.cmd('trylock 50')).to.include({ ok: false });
    expect(await A.cmd('write 0 A-done')).to.include({ ok: true });
    expect(await A.cmd('unlock')).to.include({ ok: true });
    expect(await C.next(5000)).to.include({ ok: true, abandoned: false });
    expect(await C.cmd('read 0 6')).to.include({ text: 'A-done' });
    expect(await C.cmd('unlock')).to.include({ ok: true });
    for (const p of [A, C, D]) expect(await p.cmd('detach')).to.include({ ok: true });
    expect(existsSync(new QSharedMemory(key).nativeKey())).to.equal(false);
  });
});

describe('lock: a C program following docs/format.md (test/c/lockpeer.c)', function () {
  let dir;
  let exe;
  this.timeout(60000);

  before(async function () {
    skipIf(this, missingCommand(['cc', '--version'], 'a C compiler (the Debian package gcc)'));
    dir = tempDir('qshm-lockpeer-');
    writeFileSync(join(dir, 'qshm_format.h'), cHeaderText());
    exe = join(dir, 'lockpeer');
    const r = await run('cc', ['-std=c11', '-O2', '-Wall', '-Wextra', '-Werror', '-I', dir,
      join(testDir, 'c', 'lockpeer.c'), '-o', exe]);
    expect(r.code, r.stderr).to.equal(0);
  });

  after(() => {
    if (dir) removeDir(dir);
  });

  const cPeer = (...args) => LineChild.spawn(exe, args, { parse: 'text', name: 'C peer', timeoutMs: 10000 });

  it('2 C processes + 2 Node processes × 250,000 locked increments end exact', async function () {
    this.timeout(120000);
    const key = uniqueKey('cmix');
    const s = shm(key);
    expect(s.create(64)).to.equal(true);
    const n = 250000;
    const path = s.nativeKey();
    const reports = await count([() => cPeer(path, 'count', n), nodeCounter(key, n), () => cPeer(path, 'count', n),
      nodeCounter(key, n)]);
    expect(reports).to.deep.equal([`done ${n} abandoned 0`, { done: n, abandoned: 0 }, `done ${n} abandoned 0`,
      { done: n, abandoned: 0 }]);
    expect(counter(s)).to.equal(BigInt(4 * n));
  });

  it('the C peer waits while Node holds the lock and gets it when Node unlocks', async () => {
    const key = uniqueKey('cwait');
    const s = shm(key);
    expect(s.create(64)).to.equal(true);
    expect(s.lock()).to.equal(true);
    const c = cPeer(s.nativeKey(), 'lock');
    await sleep(150);
    expect(c.pending).to.equal(0);
    expect(s.unlock()).to.equal(true);
    expect(await c.next(5000)).to.equal('locked abandoned 0');
    expect(await c.exited).to.include({ code: 0 });
  });

  it('the C peer takes over from a SIGKILLed Node holder', async () => {
    const key = uniqueKey('cnode');
    const s = shm(key);
    expect(s.create(64)).to.equal(true);
    const p = await agent();
    expect(await p.cmd(`attach ${key}`)).to.include({ ok: true });
    expect(await p.cmd('hold')).to.include({ ok: true });
    const c = cPeer(s.nativeKey(), 'lock');
    await sleep(100);
    expect(c.pending, 'the C peer took a live holder\'s lock').to.equal(0);
    await p.kill();
    expect(await c.next(5000)).to.equal('locked abandoned 1');
    expect(await c.exited).to.include({ code: 0 });
    expect(s.tryLock()).to.equal(true);
    expect(s.lockWasAbandoned()).to.equal(false);
    expect(s.unlock()).to.equal(true);
  });

  it('Node takes over from a SIGKILLed C holder', async () => {
    const key = uniqueKey('cheld');
    const s = shm(key);
    expect(s.create(64)).to.equal(true);
    const c = cPeer(s.nativeKey(), 'hold');
    expect(await c.next(5000)).to.equal('held abandoned 0');
    expect(s.tryLock(60)).to.equal(false);
    const waiting = s.lockAsync({ timeoutMs: 5000 });
    await sleep(10);
    await c.kill();
    expect(await waiting).to.equal(true);
    expect(s.lockWasAbandoned()).to.equal(true);
    expect(s.unlock()).to.equal(true);
  });

  it('the C peer, last to detach, removes the segment file', async () => {
    const key = uniqueKey('clast');
    const s = shm(key);
    expect(s.create(64)).to.equal(true);
    const path = s.nativeKey();
    const c = cPeer(path, 'count', 1000);
    expect(await c.next(5000)).to.equal('ready');
    expect(s.detach()).to.equal(true);
    expect(existsSync(path), 'removed while the C peer is attached').to.equal(true);
    c.endInput('go');
    expect(await c.next(5000)).to.equal('done 1000 abandoned 0');
    expect(await c.exited).to.include({ code: 0 });
    expect(existsSync(path)).to.equal(false);
  });
});

describe('lock: the Python peer printed in docs/format.md (Appendix B)', function () {
  let dir;
  let script;
  this.timeout(60000);

  before(async function () {
    skipIf(this, missingCommand([debianPython, '-c', 'import ctypes, fcntl; ctypes.CDLL("libatomic.so.1"); fcntl.F_OFD_SETLK'],
      '/usr/bin/python3 (the Debian package python3) with libatomic.so.1 (the Debian package libatomic1)'));
    const doc = readFileSync(join(testDir, '..', 'docs', 'format.md'), 'utf8');
    const m = /<!-- tested-python-peer -->\n```python\n([\s\S]*?)\n```/.exec(doc);
    expect(m, 'the tested Python block in docs/format.md').to.not.equal(null);
    dir = tempDir('qshm-pypeer-');
    script = join(dir, 'peer.py');
    writeFileSync(script, m[1]);
  });

  after(() => {
    if (dir) removeDir(dir);
  });

  const pyPeer = (path, n) => LineChild.spawn(debianPython, [script, path, n], { parse: 'text', name: 'Python peer', timeoutMs: 10000 });

  it('1 Python process (50,000) + 2 Node processes (100,000 each) locked increments end exact', async () => {
    const key = uniqueKey('py');
    const s = shm(key);
    expect(s.create(64)).to.equal(true);
    const reports = await count([() => pyPeer(s.nativeKey(), 50000), nodeCounter(key, 100000), nodeCounter(key, 100000)]);
    expect(reports).to.deep.equal(['done 50000 abandoned 0', { done: 100000, abandoned: 0 }, { done: 100000, abandoned: 0 }]);
    expect(counter(s)).to.equal(250000n);
  });

  it('the Python peer takes over from a SIGKILLed Node holder; last to detach, it removes the file', async () => {
    const key = uniqueKey('pykill');
    const holder = await agent();
    expect(await holder.cmd(`create ${key} 64`)).to.include({ ok: true });
    expect(await holder.cmd('hold')).to.include({ ok: true });
    const path = new QSharedMemory(key).nativeKey();
    const py = pyPeer(path, 1);
    expect(await py.next()).to.equal('ready');
    py.endInput('go');
    await sleep(100);
    expect(py.pending, 'the Python peer took a live holder\'s lock').to.equal(0);
    await holder.kill();
    expect(await py.next(5000)).to.equal('done 1 abandoned 1');
    expect(await py.exited).to.include({ code: 0 });
    expect(existsSync(path), 'segment file left behind').to.equal(false);
  });
});
