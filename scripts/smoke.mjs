// SPDX-License-Identifier: MIT
// Smoke test of an installed qshm, run by scripts/test-pack.sh from a fresh project that
// installed the packed tarball: natively (linux-x64), under qemu-user with the official arm64
// Node (linux-arm64), under Wine with the official node.exe (win32-x64).
//
//   node smoke.mjs [counter] [abandoned] [memfd]      (none: counter)
//
// counter    two processes: one creates a segment and writes to it, the other attaches and reads
//            it; each adds 1 to a plain (non-atomic) counter 20,000 times under lock(): the total
//            must be exactly 40,000.
// abandoned  a process holding the lock is SIGKILLed: the next lock() succeeds and
//            lockWasAbandoned() is true.
// memfd      a memfd segment is handed to a child (spawnWithSegment); the child reads the
//            parent's bytes and writes its own back under the lock.
// Peers are started with $QSHM_SMOKE_NODE (a JSON array, e.g. ["qemu-aarch64","-L",
// "/usr/aarch64-linux-gnu","/path/to/node"]) or this process's own Node.
import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { QSharedMemory, spawnWithSegment } from 'qshm';

const SCRIPT = fileURLToPath(import.meta.url);
const PEER = process.env.QSHM_SMOKE_NODE ? JSON.parse(process.env.QSHM_SMOKE_NODE) : [process.execPath];
const N = 20000;
const GREETING = 'hello from the creator';
// Layout of the test segment: u32 words.
const COUNTER = 0, READY = 1, TEXT = 64; // TEXT is a byte offset

function fail(msg) {
  console.error(`smoke: FAIL: ${msg}`);
  process.exit(1);
}

function words(shm) {
  const d = shm.data();
  if (d === null) fail('data() is null while attached');
  return new Uint32Array(d.buffer, d.byteOffset, 16);
}

function peer(args, options = {}) {
  const child = spawn(PEER[0], [...PEER.slice(1), SCRIPT, '--child', ...args], { stdio: 'inherit', ...options });
  child.exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal)));
  return child;
}

async function waitFor(cond, what, ms = 120_000) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) fail(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

function addUnderLock(shm, w) {
  for (let i = 0; i < N; i++) {
    if (!shm.lock()) fail(`lock(): ${shm.errorString()}`);
    w[COUNTER] = w[COUNTER] + 1;
    if (!shm.unlock()) fail(`unlock(): ${shm.errorString()}`);
  }
}

const tests = {
  async counter() {
    const key = `qshm-smoke-${process.pid}-${Date.now()}`;
    const shm = new QSharedMemory(key);
    if (!shm.create(4096)) fail(`create(): ${shm.errorString()}`);
    shm.data().write(GREETING, TEXT);
    const w = words(shm);
    const child = peer(['counter', key]);
    await waitFor(() => w[READY] === 1, 'the second process to attach');
    addUnderLock(shm, w);
    const code = await child.exited;
    if (code !== 0) fail(`the second process exited with ${code}`);
    const total = w[COUNTER];
    shm.detach();
    if (total !== 2 * N) fail(`counter is ${total}, expected ${2 * N} (lost updates)`);
    return `2 processes x ${N} increments under lock() = ${total} (exact); attach saw the creator's bytes`;
  },

  async abandoned() {
    const key = `qshm-smoke-${process.pid}-${Date.now()}-a`;
    const shm = new QSharedMemory(key);
    if (!shm.create(4096)) fail(`create(): ${shm.errorString()}`);
    const w = words(shm);
    const child = peer(['hold', key]);
    await waitFor(() => w[READY] === 1, 'the holder to take the lock');
    child.kill('SIGKILL');
    await child.exited;
    if (!shm.lock()) fail(`lock() after the holder died: ${shm.errorString()}`);
    const abandoned = shm.lockWasAbandoned();
    shm.unlock();
    shm.detach();
    if (!abandoned) fail('lockWasAbandoned() is false after the holder was killed');
    return 'holder SIGKILLed while holding the lock: next lock() took it over, lockWasAbandoned() true';
  },

  async memfd() {
    const shm = new QSharedMemory('smoke', { backend: 'memfd' });
    if (!shm.create(4096)) fail(`create(): ${shm.errorString()}`);
    shm.withLock(() => shm.data().write(GREETING, TEXT));
    const child = spawnWithSegment(shm, PEER[0], [...PEER.slice(1), SCRIPT, '--child', 'memfd'], { stdio: 'inherit' });
    const code = await new Promise((resolve) => child.on('exit', (c, s) => resolve(c ?? s)));
    if (code !== 0) fail(`the memfd child exited with ${code}`);
    const back = shm.withLock(() => shm.data().toString('utf8', TEXT, TEXT + 10));
    shm.detach();
    if (back !== 'child was ') fail(`read back ${JSON.stringify(back)}`);
    return 'memfd segment handed to a child: it read the parent\'s bytes and wrote back under the lock';
  },
};

const children = {
  counter(key) {
    const shm = new QSharedMemory(key);
    if (!shm.attach()) fail(`attach(): ${shm.errorString()}`);
    const text = shm.data().toString('utf8', TEXT, TEXT + GREETING.length);
    if (text !== GREETING) fail(`attach() read ${JSON.stringify(text)}`);
    const w = words(shm);
    w[READY] = 1;
    addUnderLock(shm, w);
    shm.detach();
  },
  async hold(key) {
    const shm = new QSharedMemory(key);
    if (!shm.attach()) fail(`attach(): ${shm.errorString()}`);
    if (!shm.lock()) fail(`lock(): ${shm.errorString()}`);
    words(shm)[READY] = 1;
    await sleep(600_000); // killed by the parent
  },
  memfd() {
    const shm = QSharedMemory.fromInherited();
    shm.withLock(() => {
      const text = shm.data().toString('utf8', TEXT, TEXT + GREETING.length);
      if (text !== GREETING) fail(`the memfd child read ${JSON.stringify(text)}`);
      shm.data().write('child was here', TEXT);
    });
    shm.detach();
  },
};

const args = process.argv.slice(2);
if (args[0] === '--child') {
  await children[args[1]](...args.slice(2));
} else {
  const names = args.length ? args : ['counter'];
  for (const name of names) {
    if (!tests[name]) fail(`unknown test ${name}`);
    const t0 = Date.now();
    const what = await tests[name]();
    console.log(`smoke ${name} [${process.platform}-${process.arch}, Node ${process.version}]: ok, ${what} (${Date.now() - t0} ms)`);
  }
}
