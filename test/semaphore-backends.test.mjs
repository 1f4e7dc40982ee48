// SPDX-License-Identifier: MIT
// The lock of the 'sysv' and 'posix' backends (lib/backends/semaphore-lock.ts): a System V
// semaphore removed under us is reopened as Qt does (internals.md §5); a lockAsync() pending
// across detach() resolves false and re-creates nothing; non-finite and huge timeouts; and a
// POSIX lock holder that died makes create/attach fail with LockError after a bound instead
// of blocking forever (docs/interop.md). Operations that used to hang or spin run in child
// processes, so a regression fails the test instead of hanging the suite.
import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { IpcKeyType, QSharedMemory, SharedMemoryError as E } from '../dist/index.js';
import { native } from '../dist/native.js';
import { LineChild, distUrl, ftokOf, sysvIdExists, sysvKeyExists, track, uniqueKey } from './helpers.mjs';

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
  // By id: a process waiting on it may re-create one on the same key at once (what the tests expect).
  expect(sysvIdExists('sem', id), 'removed').to.equal(false);
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
function child(body, env = {}) {
  return LineChild.nodeEval(`
import { QSharedMemory, SharedMemoryError as E } from '${distUrl}index.js';
import { createInterface } from 'node:readline';
const env = process.env;
const say = (l) => console.log(typeof l === 'string' ? l : JSON.stringify(l));
const input = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const line = async () => (await input.next()).value;
${body}
process.exit(0); // stdin keeps the event loop alive; exit normally (exit handlers run)
`, { env, parse: 'text', name: 'child', timeoutMs: 20000 });
}

describe("'sysv': a lock semaphore removed under qshm is reopened (Qt internals §5)", function () {
  this.timeout(30000);
  const shm = (k) => track.shm(k, SYSV);
  const key = (name) => track.key(uniqueKey(name), SYSV); // removed after a failed test

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
    const c = child(`
const s = new QSharedMemory(env.KEY, { backend: 'sysv' });
say('attaching');
if (!s.attach()) { say('attach: ' + s.errorString()); process.exit(1); }
say(s.lock() ? 'locked' : 'lock: ' + s.errorString());
s.unlock(); s.detach();
`, { KEY: k });
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

    it('resolves false (no internal error) and re-creates no semaphore or key file', async () => {
      const k = track.key(uniqueKey('la'), opts);
      const a = track.shm(k, opts);
      const b = track.shm(k, opts);
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
      const k = track.key(uniqueKey('inf'), { backend });
      // In a child: the old code spun (System V) in a synchronous call, which no mocha timeout stops.
      const c = child(`
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
      const out = JSON.parse(await c.next());
      expect(out).to.deep.equal([...Array(13).fill(true), '']);
      expect((await c.end()).code, c.stderr).to.equal(0);
    });

    it('the backend lock itself takes Infinity and Number.MAX_VALUE as "wait" (not an invalid timespec)', async () => {
      const k = track.key(uniqueKey('binf'), { backend });
      const c = child(`
const { makeBackend } = await import('${distUrl}backends/index.js');
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
      expect(JSON.parse(await c.next())).to.deep.equal(Array(4).fill(['acquired', true]).flat());
      expect((await c.end()).code, c.stderr).to.equal(0);
    });
  });
}

describe("'posix': a lock holder that died (SIGKILL) blocks nothing for ever", function () {
  this.timeout(60000);

  it('attach() and create() fail with LockError after QSHM_POSIX_LOCK_TIMEOUT_MS; detach() and exit do not hang; remove() leaves nothing', async () => {
    const k = track.key(uniqueKey('dead'), POSIX);
    // The holder creates the segment, waits, then locks and is killed while holding the lock.
    const holder = child(`
const s = new QSharedMemory(env.KEY, { backend: 'posix' });
say(s.create(64) ? 'created' : 'create: ' + s.errorString());
await line();
say(s.lock() ? 'locked' : 'lock: ' + s.errorString());
await line();
`, { KEY: k });
    expect(await holder.next()).to.equal('created');
    // The prober attaches two objects while the lock is free; after the kill it tries a new
    // attach and a create, detaches one object, and exits with the other still attached
    // (the exit handler detaches it, which must not wait for the dead holder).
    const prober = child(`
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
    expect({ code: end.code, signal: end.signal }, prober.stderr).to.deep.equal({ code: 0, signal: null });
    expect(QSharedMemory.remove(k, POSIX)).to.equal(true);
    for (const f of posixFiles(k)) expect(existsSync(f), f).to.equal(false);
  });

  it('QSHM_POSIX_LOCK_TIMEOUT_MS does not make a free lock fail; a live holder that unlocks in time lets attach() in', async () => {
    const k = track.key(uniqueKey('live'), POSIX);
    const s = new QSharedMemory(k, POSIX);
    expect(s.create(64), s.errorString()).to.equal(true);
    try {
      expect(s.lock()).to.equal(true);
      const c = child(`
const s = new QSharedMemory(env.KEY, { backend: 'posix' });
say('attaching');
say(s.attach() ? 'attached' : 'attach: ' + s.errorString());
s.detach();
`, { KEY: k, QSHM_POSIX_LOCK_TIMEOUT_MS: '20000' });
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
