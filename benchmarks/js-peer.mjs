// SPDX-License-Identifier: MIT
/**
 * The JavaScript side of `npm run bench`: one case, one process, one JSON line on stdout.
 * Started by benchmarks/run.mjs in a fresh child for every trial.
 *
 *   node js-peer.mjs <impl> uncontended <key> <batches> <pairs-per-batch>
 *   node js-peer.mjs <impl> overhead <key> <batches> <pairs-per-batch>  (vs bare Atomics, same process)
 *   node js-peer.mjs <impl> attachdetach <key> <batches> <pairs-per-batch>
 *   node js-peer.mjs <impl> contend <key> <role 0|1> <window-ms>
 *   node js-peer.mjs <impl> handoff <key> <role 0|1> <rounds> <hold-us>
 *   node js-peer.mjs <impl> createdetach <key> <batches> <pairs-per-batch> <bytes>  (destroying detach)
 *   node js-peer.mjs qshm-file copy <key> <MiB> <repeats>
 *
 * impl: `qshm-file`, `qshm-sysv` and (on Windows) `qshm-windows` (QSharedMemory with that backend), `plf` (proper-lockfile
 * lockSync/release on a file in /dev/shm; a qshm segment is used only as the shared memory that
 * holds the counter and the control block, never its lock). Mode `overhead` times qshm's
 * lock()+unlock() against a bare Atomics.compareExchange pair on the same kind of mapped memory
 * (the JavaScript floor) in alternating batches of one process. `js-floor` (hand-off only) is
 * floor.c's lock protocol written directly in JavaScript on a qshm segment's memory (CAS, then
 * the addon's futex wait without a timeout): what a hand-off between two Node processes costs
 * with no library logic at all.
 *
 * Two-process modes: role 0 creates and prints "ready", role 1 attaches; both meet at a barrier
 * in the segment (layout below, the same in floor.c and qt-peer.cpp), run, print their result,
 * and role 0 waits for a line on stdin before it detaches.
 */
import { closeSync, openSync, readSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { QSharedMemory } from '../dist/index.js';
import { native } from '../dist/native.js';

const CTL = { COUNTER: 0, LAST: 4, SWITCHES: 8, READY: 64, DONE: 128, STOP: 192, TURN: 256, T0: 320, LOCKWORD: 384, CPU: 448 };
const SIZE = 4096;

const [impl, mode, key, ...rest] = process.argv.slice(2);
const now = () => Number(process.hrtime.bigint());
/** Untimed warm-up of every batch mode, the same in floor.c and qt-peer.cpp. */
const WARM_MS = 250;
const sleeper = new Int32Array(new SharedArrayBuffer(4));
const sleepUs = (us) => Atomics.wait(sleeper, 0, 0, us / 1000);
/**
 * The CPU this process last ran on: field 39 of /proc/self/stat (JavaScript has no
 * sched_getcpu; the C peers use it). Read only outside the timed window of a hand-off.
 */
let statFd = -1;
const statBuf = Buffer.alloc(1024);
function currentCpu() {
  if (statFd < 0) statFd = openSync('/proc/self/stat', 'r');
  const n = readSync(statFd, statBuf, 0, statBuf.length, 0);
  const text = statBuf.toString('latin1', 0, n);
  // Fields after the command name (which may hold spaces) start at field 3.
  return Number(text.slice(text.lastIndexOf(')') + 2).split(' ')[39 - 3]);
}
/**
 * Waits until the turn word at TURN holds `want`, asleep in a shared futex on that word (the
 * same way in every peer: no timer on anyone's path).
 */
function waitTurn(buf, i32, want) {
  for (;;) {
    const v = Atomics.load(i32, CTL.TURN / 4);
    if (v === want) return;
    native.futexWait(buf, CTL.TURN, v >>> 0, -1);
  }
}
const out = (obj) => process.stdout.write(`${JSON.stringify(obj)}\n`);

function die(msg) {
  process.stderr.write(`js-peer ${impl} ${mode}: ${msg}\n`);
  process.exit(2);
}

function segment(options) {
  let shm;
  try {
    shm = new QSharedMemory(key, options);
  } catch (e) {
    // The backend is missing from dist/ (not written yet, or not on this platform).
    out({ unavailable: `${e.code ?? e.name}: ${e.message}` });
    process.exit(0);
  }
  return shm;
}

/** qshm implementations: the backend each one passes (undefined: the platform's default, 'file'). */
const QSHM_BACKENDS = { 'qshm-file': undefined, 'qshm-sysv': 'sysv', 'qshm-windows': 'windows' };
/** The QSharedMemory options of this run's qshm implementation. */
const qshmOptions = () => (QSHM_BACKENDS[impl] ? { backend: QSHM_BACKENDS[impl] } : undefined);

/**
 * A lock under test: `api` has lock()/unlock() methods (for qshm the QSharedMemory itself, so
 * the loops call its methods exactly as an application would), `shm` the memory it guards.
 */
function makeLock(role) {
  if (impl in QSHM_BACKENDS) {
    const shm = segment(qshmOptions());
    open(shm, role);
    return { shm, api: shm };
  }
  if (impl === 'js-floor') {
    const shm = segment();
    open(shm, role);
    const buf = shm.data().buffer;
    const w = new Int32Array(buf, 0, SIZE / 4);
    const L = CTL.LOCKWORD / 4;
    const token = (role ?? 0) + 1;
    const WAITERS = 0x80000000 | 0;
    const lock = () => {
      if (Atomics.compareExchange(w, L, 0, token) === 0) return true;
      for (;;) {
        let v = Atomics.load(w, L);
        if (v === 0) {
          if (Atomics.compareExchange(w, L, 0, token | WAITERS) === 0) return true;
          continue;
        }
        if ((v & WAITERS) === 0) {
          if (Atomics.compareExchange(w, L, v, v | WAITERS) !== v) continue;
          v |= WAITERS;
        }
        native.futexWait(buf, CTL.LOCKWORD, v >>> 0, -1);
      }
    };
    const unlock = () => {
      if (Atomics.compareExchange(w, L, token, 0) === token) return;
      if (Atomics.exchange(w, L, 0) & WAITERS) native.futexWake(buf, CTL.LOCKWORD, 1);
    };
    return { shm, api: { lock, unlock } };
  }
  if (impl === 'plf') {
    const lockfile = createRequire(import.meta.url)('proper-lockfile');
    const shm = segment();
    open(shm, role);
    const target = `/dev/shm/${key}-plf`;
    if (role !== 1) closeSync(openSync(target, 'w'));
    let release = null;
    const lock = () => {
      for (;;) {
        try {
          release = lockfile.lockSync(target);
          return true;
        } catch (e) {
          if (e.code !== 'ELOCKED') throw e; // lockSync cannot wait: retry at once (its best case)
        }
      }
    };
    const unlock = () => {
      release();
      release = null;
    };
    return { shm, api: { lock, unlock }, target };
  }
  return die(`unknown impl ${impl}`);
}

/** Role 0 (or a single-process case: role undefined) creates; role 1 attaches. */
function open(shm, role) {
  if (role === 1) {
    if (!shm.attach()) die(`attach: ${shm.errorString()}`);
  } else {
    if (!shm.create(SIZE)) die(`create: ${shm.errorString()}`);
    if (role === 0) process.stdout.write('ready\n');
  }
}

function views(shm) {
  const d = shm.data();
  return { i32: new Int32Array(d.buffer, d.byteOffset, SIZE / 4), f64: new Float64Array(d.buffer, d.byteOffset, SIZE / 8) };
}

function barrier(i32, off) {
  Atomics.add(i32, off / 4, 1);
  while (Atomics.load(i32, off / 4) < 2) { /* spin */ }
}

/** Role 0 waits for the orchestrator (the attacher has exited) before it detaches and cleans up. */
async function finish(l, role) {
  if (role === 0) {
    await new Promise((resolve) => {
      process.stdin.once('data', resolve);
      process.stdin.once('end', resolve);
    });
    process.stdin.pause();
  }
  l.shm.detach();
  if (l.target && role !== 1) rmSync(l.target, { force: true });
}

function timeBatches(batches, pairs, body) {
  // Warm-up, untimed: at least one batch and WARM_MS (the JIT's tiers, and the scheduler's view
  // of a process that just spent its first tens of milliseconds starting up).
  const warmEnd = now() + WARM_MS * 1e6;
  do body(pairs); while (now() < warmEnd);
  const samples = [];
  for (let b = 0; b < batches; b++) {
    const t = now();
    body(pairs);
    samples.push((now() - t) / pairs);
  }
  return samples;
}

async function main() {
  if (mode === 'uncontended') {
    const [batches, pairs] = rest.map(Number);
    const l = makeLock(undefined);
    const { api } = l;
    const samples = timeBatches(batches, pairs, (n) => {
      for (let i = 0; i < n; i++) {
        if (!api.lock()) die('lock failed');
        api.unlock();
      }
    });
    out({ samples });
    await finish(l, undefined);
  } else if (mode === 'overhead') {
    // lock()+unlock() and a bare Atomics CAS pair on the same kind of memory, in alternating
    // batches of one process: a ratio that machine noise cannot skew.
    const [batches, pairs] = rest.map(Number);
    const l = makeLock(undefined);
    const { api } = l;
    const d = l.shm.data();
    const w = new Int32Array(d.buffer, d.byteOffset + CTL.LOCKWORD, 1);
    const library = (n) => {
      for (let i = 0; i < n; i++) {
        if (!api.lock()) die('lock failed');
        api.unlock();
      }
    };
    const bare = (n) => {
      for (let i = 0; i < n; i++) {
        if (Atomics.compareExchange(w, 0, 0, 5) !== 0) die('bare CAS failed');
        Atomics.compareExchange(w, 0, 5, 0);
      }
    };
    const time = (body) => {
      const t = now();
      body(pairs);
      return (now() - t) / pairs;
    };
    library(pairs);
    bare(pairs);
    const a = [];
    const b = [];
    for (let i = 0; i < batches; i++) {
      a.push(time(library));
      b.push(time(bare));
    }
    out({ samples: a.map((x, i) => x / b[i]), api: a, bare: b });
    await finish(l, undefined);
  } else if (mode === 'attachdetach') {
    const [batches, pairs] = rest.map(Number);
    const owner = segment(qshmOptions());
    open(owner, undefined);
    const other = new QSharedMemory(key, qshmOptions());
    const samples = timeBatches(batches, pairs, (n) => {
      for (let i = 0; i < n; i++) {
        if (!other.attach()) die(`attach: ${other.errorString()}`);
        other.detach();
      }
    });
    out({ samples });
    owner.detach();
  } else if (mode === 'createdetach') {
    // Qt's create-then-destroy shape: one object creates the segment and detaches (the last
    // attachment, so the segment is removed), again and again.
    const [batches, pairs, bytes] = rest.map(Number);
    const shm = segment(qshmOptions());
    const samples = timeBatches(batches, pairs, (n) => {
      for (let i = 0; i < n; i++) {
        if (!shm.create(bytes)) die(`create: ${shm.errorString()}`);
        shm.detach();
      }
    });
    out({ samples });
  } else if (mode === 'contend') {
    const role = Number(rest[0]);
    const windowMs = Number(rest[1]);
    const l = makeLock(role);
    const { api } = l;
    const { i32 } = views(l.shm);
    const me = role + 1;
    barrier(i32, CTL.READY);
    const start = now();
    const deadline = start + windowMs * 1e6;
    let mine = 0;
    for (;;) {
      if (role === 0 && (mine & 255) === 0 && now() > deadline) Atomics.store(i32, CTL.STOP / 4, 1);
      if (Atomics.load(i32, CTL.STOP / 4)) break;
      if (!api.lock()) die('lock failed');
      i32[0] = i32[0] + 1; // plain read-modify-write: only the lock keeps it exact
      if (i32[1] !== me) {
        i32[1] = me;
        i32[2] = i32[2] + 1;
      }
      api.unlock();
      mine++;
    }
    const end = now();
    barrier(i32, CTL.DONE);
    out({ ops: mine, start, end, counter: Atomics.load(i32, 0), switches: Atomics.load(i32, 2) });
    await finish(l, role);
  } else if (mode === 'handoff') {
    const role = Number(rest[0]);
    const rounds = Number(rest[1]);
    const holdUs = Number(rest[2]);
    const l = makeLock(role);
    const { api } = l;
    const { i32, f64 } = views(l.shm);
    const buf = l.shm.data().buffer; // the mapping itself (byteOffset 0): futex words live in it
    const T0 = CTL.T0 / 8;
    barrier(i32, CTL.READY);
    const last = rounds + 1;
    const samples = [];
    const same = [];
    let late = 0;
    for (let a = role === 0 ? 1 : 2; a <= last; a += 2) {
      // Asleep (not spinning: see docs/benchmarks.md) until the other side holds it.
      if (a > 1) waitTurn(buf, i32, a - 1);
      const entered = now();
      if (!api.lock()) die('lock failed');
      const t1 = now();
      if (a > 1) {
        if (entered < f64[T0]) {
          samples.push(t1 - f64[T0]);
          same.push(currentCpu() === Atomics.load(i32, CTL.CPU / 4) ? 1 : 0);
        } else {
          late++; // we were not waiting yet when it was released: not a hand-off
        }
      }
      Atomics.store(i32, CTL.TURN / 4, a);
      native.futexWake(buf, CTL.TURN, 1);
      sleepUs(holdUs); // long enough for the other side to be asleep in lock()
      if (a < last) {
        Atomics.store(i32, CTL.CPU / 4, currentCpu());
        f64[T0] = now();
      }
      api.unlock();
    }
    barrier(i32, CTL.DONE);
    out({ samples, same, late });
    await finish(l, role);
  } else if (mode === 'copy') {
    const [mib, repeats] = rest.map(Number);
    const n = mib << 20;
    const shm = segment();
    if (!shm.create(n)) die(`create: ${shm.errorString()}`);
    const dst = shm.data();
    const src = Buffer.alloc(n, 1);
    dst.fill(0);
    const samples = [];
    for (let r = 0; r < repeats; r++) {
      src[r] = r & 0xff;
      const t = now();
      src.copy(dst);
      samples.push(n / (now() - t));
      if (dst[r] !== (r & 0xff)) die('copy check failed');
    }
    out({ samples });
    shm.detach();
  } else {
    die('unknown mode');
  }
}

await main();
