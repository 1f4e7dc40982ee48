// SPDX-License-Identifier: MIT
// The runtime-agnostic test bodies of the Bun/Deno subset (issue 15): each runs unchanged under
// Node, Bun and Deno, registered with that runtime's own test runner by runtimes.spec.mjs.
// Children are started under every runtime (commandFor), so lock exclusion, takeover and the
// memfd hand-off are checked across runtimes. Conformance item numbers (shared/qt/conformance.md
// §7) are kept in the names.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { AccessMode, QSharedMemory, SharedMemoryError as E } from '../../dist/index.js';
import { fixtures, uniqueKey } from '../helpers.mjs';
import { LineChild, collectGarbage, executables, runtime } from './runtime.mjs';

const AGENT = join(fixtures, 'lock-agent.mjs');
const COUNTER = join(fixtures, 'lock-counter.mjs');
const RUNTIMES = ['node', 'bun', 'deno'];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const missing = (rt) => (executables[rt] ? undefined : `${rt} is not installed (npm install: it is a devDependency)`);

function created(key, size = 1024) {
  const s = new QSharedMemory(key);
  assert.equal(s.create(size), true, s.errorString());
  return s;
}

/** The file of a `file`-backend segment. */
const pathOf = (key) => new QSharedMemory(key).nativeKey();

/** A lock-agent child of runtime `rt`, ready for commands. */
async function agent(rt) {
  const c = new LineChild(rt, AGENT);
  assert.deepEqual(await c.next(), { ready: true });
  return c;
}

/** Every 5 ms a tick: proves the event loop ran while something was awaited. */
function ticker() {
  const t = { n: 0 };
  t.timer = setInterval(() => t.n++, 5);
  t.stop = () => clearInterval(t.timer);
  return t;
}

const conformance = {
  name: 'conformance',
  tests: [
    {
      name: '#1 a new object with no key is detached with no error and empty keys',
      fn() {
        const s = new QSharedMemory();
        assert.equal(s.isAttached(), false);
        assert.equal(s.data(), null);
        assert.equal(s.size(), 0);
        assert.equal(s.nativeKey(), '');
        assert.equal(s.key(), '');
        assert.equal(s.error(), E.NoError);
        assert.equal(s.errorString(), '');
      },
    },
    {
      name: '#14 #15 #20 create(1024): attached, size 1024, all zeros, no error',
      fn() {
        const s = created(uniqueKey('create'));
        assert.equal(s.isAttached(), true);
        assert.equal(s.size(), 1024);
        assert.equal(s.errorString(), '');
        assert.ok(s.data().every((b) => b === 0));
        assert.equal(s.detach(), true);
      },
    },
    {
      name: '#16 #17 #18 #19 create() errors: empty key KeyError, -1 and 0 InvalidSize, existing AlreadyExists',
      fn() {
        const empty = new QSharedMemory('');
        assert.equal(empty.create(1024), false);
        assert.equal(empty.error(), E.KeyError);
        const key = uniqueKey('bad');
        for (const size of [-1, 0]) {
          const s = new QSharedMemory(key);
          assert.equal(s.create(size), false);
          assert.equal(s.error(), E.InvalidSize);
          assert.equal(s.data(), null);
        }
        const a = created(key);
        const b = new QSharedMemory(key);
        assert.equal(b.create(1024), false);
        assert.equal(b.error(), E.AlreadyExists);
        assert.notEqual(b.errorString(), '');
        assert.equal(a.detach(), true);
      },
    },
    {
      name: '#26 #27 attach(): empty key KeyError, missing key NotFound; detach() then false',
      fn() {
        const e = new QSharedMemory('');
        assert.equal(e.attach(), false);
        assert.equal(e.error(), E.KeyError);
        assert.equal(e.detach(), false);
        const m = new QSharedMemory(uniqueKey('missing'));
        assert.equal(m.attach(), false);
        assert.equal(m.error(), E.NotFound);
        assert.equal(m.size(), 0);
        assert.equal(m.detach(), false);
      },
    },
    {
      name: '#28 #29 #30 #31 #32 #37 attach, second attach false, bytes seen through another view, detach/attach cycle',
      fn() {
        const key = uniqueKey('attach');
        const a = created(key, 512);
        const b = new QSharedMemory(key);
        assert.equal(b.attach(AccessMode.ReadOnly), true);
        assert.equal(b.attach(), false); // #37
        assert.equal(b.error(), E.NoError);
        assert.notEqual(a.data(), b.data());
        for (let i = 0; i < 512; i++) {
          a.data()[i] = i & 0xff;
          assert.equal(b.data()[i], i & 0xff);
        }
        assert.equal(b.detach(), true);
        assert.equal(b.attach(), true);
        assert.equal(b.detach(), true);
        assert.equal(b.size(), 0);
        assert.equal(b.data(), null);
        assert.equal(a.data()[7], 7); // #30: a's attachment survived b's detach
        assert.equal(a.detach(), true);
      },
    },
    {
      name: '#34 after the last detach the segment is gone: attach() NotFound, no file',
      fn() {
        const key = uniqueKey('last');
        const a = created(key);
        assert.equal(existsSync(pathOf(key)), true);
        assert.equal(a.detach(), true);
        assert.equal(existsSync(pathOf(key)), false);
        const b = new QSharedMemory(key);
        assert.equal(b.attach(), false);
        assert.equal(b.error(), E.NotFound);
      },
    },
    {
      name: '#38 #39 #40 #41 #43 lock(): LockError unattached; re-lock true with a warning; one unlock releases',
      async fn() {
        assert.equal(new QSharedMemory().lock(), false);
        const k = new QSharedMemory(uniqueKey('nolock'));
        assert.equal(k.lock(), false);
        assert.equal(k.error(), E.LockError);
        const s = created(uniqueKey('lock'), 100);
        const warnings = [];
        const onWarning = (w) => warnings.push(w.code);
        process.on('warning', onWarning);
        try {
          assert.equal(s.lock(), true);
          assert.equal(s.lock(), true);
          await sleep(20); // warnings are emitted on a later tick
        } finally {
          process.off('warning', onWarning);
        }
        assert.deepEqual(warnings, ['QSHM_ALREADY_LOCKED']);
        assert.equal(s.unlock(), true);
        assert.equal(s.unlock(), false);
        assert.equal(s.detach(), true);
      },
    },
    {
      name: '#42 #44 detaching a holder releases the lock; a second object in this thread is excluded',
      fn() {
        const key = uniqueKey('excl');
        const a = created(key);
        const b = new QSharedMemory(key);
        assert.equal(b.attach(), true);
        assert.equal(a.lock(), true);
        assert.equal(b.tryLock(0), false);
        assert.equal(a.detach(), true);
        assert.equal(b.tryLock(0), true);
        assert.equal(b.lockWasAbandoned(), false);
        assert.equal(b.unlock(), true);
        assert.equal(b.detach(), true);
      },
    },
    {
      name: 'wrong argument types throw TypeError ERR_INVALID_ARG_TYPE',
      fn() {
        assert.throws(() => new QSharedMemory(42), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
        assert.throws(() => new QSharedMemory('k', { backend: 'nope' }), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
      },
    },
  ],
};

const lifecycle = {
  name: 'lifecycle',
  tests: [
    ...RUNTIMES.flatMap((rt) => [
      {
        name: `a ${rt} process that ends naturally without detach() releases its attachment: the file is removed`,
        skip: missing(rt),
        async fn() {
          const key = uniqueKey('natural');
          const c = await agent(rt);
          assert.equal((await c.ask(`create ${key} 4096`)).ok, true);
          assert.equal(existsSync(pathOf(key)), true);
          c.child.stdin.end(); // its readline closes, its event loop drains
          const end = await c.exited;
          assert.deepEqual(end, { code: 0, signal: null }, c.err);
          assert.equal(existsSync(pathOf(key)), false);
        },
      },
      {
        name: `a ${rt} process that calls process.exit() holding the lock releases it cleanly (not abandoned) and removes the file`,
        skip: missing(rt),
        async fn() {
          const key = uniqueKey('exit');
          const s = created(key);
          const c = await agent(rt);
          assert.equal((await c.ask(`attach ${key}`)).ok, true);
          assert.equal((await c.ask('lock')).ok, true);
          c.send('exit 0');
          assert.equal((await c.exited).code, 0, c.err);
          assert.equal(s.tryLock(0), true);
          assert.equal(s.lockWasAbandoned(), false);
          assert.equal(s.unlock(), true);
          assert.equal(s.detach(), true);
          assert.equal(existsSync(pathOf(key)), false);
        },
      },
      {
        name: `crash reclaim: the file of a SIGKILLed ${rt} creator stays, and the next create() reclaims it`,
        skip: missing(rt),
        async fn() {
          const key = uniqueKey('crash');
          const c = await agent(rt);
          assert.equal((await c.ask(`create ${key} 4096`)).ok, true);
          assert.equal((await c.ask('write 0 left-by-the-dead')).ok, true);
          assert.equal((await c.kill()).signal, 'SIGKILL');
          assert.equal(existsSync(pathOf(key)), true);
          const t = created(key, 64);
          assert.equal(t.data()[0], 0); // a new segment, not the dead one's data
          assert.equal(t.detach(), true);
          assert.equal(existsSync(pathOf(key)), false);
        },
      },
    ]),
    {
      name: 'a garbage-collected QSharedMemory (FinalizationRegistry) detaches: the file is removed',
      skip: collectGarbage() ? undefined : `${runtime} was started without a way to force GC (Node/Deno: --expose-gc)`,
      async fn() {
        const key = uniqueKey('gc');
        (() => created(key))();
        for (let i = 0; i < 20 && existsSync(pathOf(key)); i++) {
          collectGarbage();
          await sleep(20);
        }
        assert.equal(existsSync(pathOf(key)), false);
      },
    },
    {
      name: 'lockGuard()[Symbol.dispose]() releases the lock (and `using` where the runtime parses it)',
      async fn() {
        const s = created(uniqueKey('dispose'));
        const g = s.lockGuard();
        assert.equal(s.isLocked(), true);
        g[Symbol.dispose]();
        assert.equal(s.isLocked(), false);
        let usingSyntax = true;
        try {
          new Function('{ using x = null; }');
        } catch {
          usingSyntax = false; // Node 20: no `using` declarations
        }
        if (usingSyntax) {
          const f = new Function('s', '{ using g = s.lockGuard(); if (!s.isLocked()) throw new Error("not locked"); } return s.isLocked();');
          assert.equal(f(s), false);
        }
        assert.equal(s.detach(), true);
      },
    },
  ],
};

/** Starts lock-counter children (one per runtime in `rts`) on `key`, n increments each. */
async function countAcross(key, rts, n) {
  const kids = rts.map((rt) => new LineChild(rt, COUNTER, [key, n]));
  for (const k of kids) assert.deepEqual(await k.next(60000), { ready: true }, k.err);
  for (const k of kids) k.send('go');
  const reports = [];
  for (const k of kids) reports.push(await k.next(120000));
  for (const k of kids) assert.equal((await k.exited).code, 0, k.err);
  return reports;
}

const lock = {
  name: 'lock',
  tests: [
    {
      name: '#45 #68 [MP] Node + Bun + Deno processes × 100,000 locked increments end at exactly 300,000',
      skip: missing('bun') ?? missing('deno') ?? missing('node'),
      timeoutMs: 180000,
      async fn() {
        const key = uniqueKey('mixed');
        const s = created(key, 64);
        const reports = await countAcross(key, RUNTIMES, 100000);
        assert.deepEqual(reports.map((r) => r.done), [100000, 100000, 100000]);
        const w = new Uint32Array(s.data().buffer, s.data().byteOffset, 2);
        assert.equal(w[1] * 2 ** 32 + w[0], 300000);
        assert.equal(s.detach(), true);
      },
    },
    ...RUNTIMES.map((rt) => ({
      name: `#69 [MP] a ${rt} holder killed mid-critical-section is taken over: lockWasAbandoned() true`,
      skip: missing(rt),
      async fn() {
        const key = uniqueKey(`kill${rt}`);
        const s = created(key, 64);
        const c = await agent(rt);
        assert.equal((await c.ask(`attach ${key}`)).ok, true);
        assert.deepEqual(await c.ask('hold'), { ok: true, abandoned: false });
        assert.equal(s.tryLock(0), false);
        await c.kill();
        assert.equal(s.tryLock(10000), true);
        assert.equal(s.lockWasAbandoned(), true);
        assert.equal(s.unlock(), true);
        assert.equal(s.tryLock(0), true);
        assert.equal(s.lockWasAbandoned(), false);
        assert.equal(s.unlock(), true);
        assert.equal(s.detach(), true);
      },
    })),
    {
      name: 'tryLock(): false at once and after a timeout while another process holds; true after it unlocks',
      async fn() {
        const key = uniqueKey('try');
        const s = created(key, 64);
        const c = await agent(runtime);
        assert.equal((await c.ask(`attach ${key}`)).ok, true);
        assert.equal((await c.ask('lock')).ok, true);
        assert.equal(s.tryLock(0), false);
        const t0 = Date.now();
        assert.equal(s.tryLock(100), false);
        assert.ok(Date.now() - t0 >= 90, `tryLock(100) returned after ${Date.now() - t0} ms`);
        assert.equal(s.error(), E.NoError);
        assert.equal((await c.ask('unlock')).ok, true);
        assert.equal(s.tryLock(0), true);
        assert.equal(s.unlock(), true);
        c.send('exit 0');
        await c.exited;
        assert.equal(s.detach(), true);
      },
    },
    {
      name: 'lockAsync(): timeout resolves false, AbortSignal rejects AbortError, unlock elsewhere resolves true; the event loop keeps running',
      async fn() {
        const key = uniqueKey('async');
        const s = created(key, 64);
        const c = await agent(runtime);
        assert.equal((await c.ask(`attach ${key}`)).ok, true);
        assert.equal((await c.ask('lock')).ok, true);
        const tick = ticker();
        try {
          const t0 = Date.now();
          assert.equal(await s.lockAsync({ timeoutMs: 300 }), false);
          assert.ok(Date.now() - t0 >= 280, `timed out after ${Date.now() - t0} ms`);
          assert.ok(tick.n >= 10, `only ${tick.n} timer ticks during a 300 ms lockAsync`);
          const ac = new AbortController();
          setTimeout(() => ac.abort(), 100);
          const before = tick.n;
          await assert.rejects(s.lockAsync({ signal: ac.signal }), { name: 'AbortError' });
          assert.ok(tick.n - before >= 5, `only ${tick.n - before} ticks before the abort`);
          assert.equal(s.isLocked(), false);
          const waiting = s.lockAsync({ timeoutMs: 20000 });
          assert.equal((await c.ask('unlock')).ok, true); // this answer arrives while lockAsync waits
          assert.equal(await waiting, true);
          assert.equal(s.isLocked(), true);
          assert.equal(s.unlock(), true);
        } finally {
          tick.stop();
        }
        c.send('exit 0');
        await c.exited;
        assert.equal(s.detach(), true);
      },
    },
  ],
};

const memfd = {
  name: 'memfd hand-off',
  tests: [...RUNTIMES.map((rt) => ({
    name: `a segment handed read-only to a ${rt} child cannot be attached ReadWrite; ReadOnly works${rt === 'deno' ? ' (Deno without --allow-all: the access mode comes from fcntl, not /proc)' : ''}`,
    skip: missing(rt) ?? missing('node'),
    async fn() {
      const p = new LineChild('node', fileURLToPath(new URL('memfd-parent.mjs', import.meta.url)), [rt, 'readonly']);
      const r = await p.next();
      assert.equal((await p.exited).code, 0, p.err);
      assert.equal(r.exit.code, 0, r.stderr);
      assert.equal(r.rw.ok, false, JSON.stringify(r));
      assert.equal(r.rw.qtError, E.PermissionDenied);
      assert.equal(r.byte0, 0);
      // Deno too: qshm learns the access mode of its own descriptor with fcntl(F_GETFL), which
      // Deno does not gate (reading /proc/self/fdinfo needs --allow-all there).
      assert.deepEqual(r.ro, { ok: true, byte0: 0 });
    },
  })), ...RUNTIMES.map((rt) => ({
    name: `a Node parent hands a memfd segment to a ${rt} child (spawnWithSegment): text both ways, 2 × 50,000 locked increments exact`,
    skip: missing(rt) ?? missing('node'),
    timeoutMs: 120000,
    async fn() {
      const p = new LineChild('node', fileURLToPath(new URL('memfd-parent.mjs', import.meta.url)), [rt, 50000]);
      const r = await p.next(110000);
      assert.equal((await p.exited).code, 0, p.err);
      // Deno's node:fs does not know descriptors Deno did not open itself (closeSync(3) throws
      // EBADF), so fromInherited() cannot close the inherited one there (docs/runtimes.md).
      assert.deepEqual(r.first, {
        ready: true, fdNumber: 3, envGone: true, inheritedClosed: rt !== 'deno', read: 'hello from the parent', size: 4096,
      }, r.stderr);
      assert.equal(r.reply, 'hello from the child');
      assert.deepEqual(r.done, { done: true });
      assert.equal(r.exit.code, 0, r.stderr);
      assert.equal(r.counter, 100000);
    },
  })), ...['bun', 'deno'].map((parent) => ({
    name: `a ${parent} parent hands a memfd segment to a Node child (spawnWithSegment): 2 × 50,000 locked increments exact`,
    skip: missing(parent) ?? missing('node'),
    timeoutMs: 120000,
    async fn() {
      // Deno: --allow-all, as spawnWithSegment reopens the segment through /proc/self/fd.
      const p = new LineChild(parent, fileURLToPath(new URL('memfd-parent.mjs', import.meta.url)), ['node', 50000], { denoAll: true });
      const r = await p.next(110000);
      assert.equal((await p.exited).code, 0, p.err);
      assert.equal(r.first.read, 'hello from the parent', r.stderr);
      assert.equal(r.first.inheritedClosed, true);
      assert.equal(r.reply, 'hello from the child');
      assert.equal(r.exit.code, 0, r.stderr);
      assert.equal(r.counter, 100000);
    },
  }))],
};

/**
 * A worker_threads Worker on a fixture, with workerData. Its messages are queued from the start
 * (a message that arrives while nobody listens would be lost): `next()` takes the next one.
 */
function worker(file, data) {
  const w = new Worker(pathToFileURL(file), { workerData: data });
  const queue = [];
  const waiters = [];
  w.on('message', (m) => (waiters.length ? waiters.shift().resolve(m) : queue.push(m)));
  w.on('error', (e) => waiters.splice(0).forEach((x) => x.reject(e)));
  w.exited = new Promise((r) => w.once('exit', r));
  w.next = () => (queue.length ? Promise.resolve(queue.shift()) : new Promise((resolve, reject) => waiters.push({ resolve, reject })));
  return w;
}

const workers = {
  name: 'worker_threads',
  tests: [
    {
      name: '#44 [MT] 2 worker threads + this thread × 20,000 locked increments end exact',
      async fn() {
        const key = uniqueKey('mt');
        const s = created(key, 64);
        const ws = [worker(COUNTER, { key, n: 20000 }), worker(COUNTER, { key, n: 20000 })];
        for (const w of ws) assert.deepEqual(await w.next(), { ready: true });
        for (const w of ws) w.postMessage('go');
        const d = s.data();
        const w32 = new Uint32Array(d.buffer, d.byteOffset, 2);
        for (let i = 0; i < 20000; i++) {
          assert.equal(s.lock(), true);
          w32[0] += 1;
          s.unlock();
          if (i % 1000 === 0) await sleep(0);
        }
        for (const w of ws) assert.deepEqual(await w.next(), { done: 20000, abandoned: 0 });
        await Promise.all(ws.map((w) => w.exited));
        assert.equal(w32[0], 60000);
        assert.equal(s.detach(), true);
      },
    },
    {
      name: 'a worker thread that ends without detach() releases its attachment: the file is removed',
      async fn() {
        const key = uniqueKey('wend');
        const w = worker(AGENT, { worker: true });
        assert.deepEqual(await w.next(), { ready: true });
        w.postMessage(`create ${key} 4096`);
        assert.equal((await w.next()).ok, true);
        assert.equal(existsSync(pathOf(key)), true);
        w.postMessage('exit 0');
        assert.equal(await w.exited, 0);
        assert.equal(existsSync(pathOf(key)), false);
      },
    },
    {
      name: 'a worker thread terminated while holding the lock: this thread takes it over',
      async fn() {
        const key = uniqueKey('wterm');
        const s = created(key, 64);
        const w = worker(AGENT, { worker: true });
        assert.deepEqual(await w.next(), { ready: true });
        w.postMessage(`attach ${key}`);
        assert.equal((await w.next()).ok, true);
        w.postMessage('lock');
        assert.equal((await w.next()).ok, true);
        assert.equal(s.tryLock(0), false);
        await w.terminate();
        assert.equal(await s.lockAsync({ timeoutMs: 10000 }), true);
        assert.equal(s.unlock(), true);
        assert.equal(s.detach(), true);
        assert.equal(existsSync(pathOf(key)), false);
      },
    },
  ],
};

/** Every group, in order. */
export const groups = [conformance, lifecycle, lock, memfd, workers];
