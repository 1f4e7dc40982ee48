// SPDX-License-Identifier: MIT
/**
 * `npm run demo`: several processes share one segment and one counter under the lock.
 * The parent creates the segment, starts the workers, shows their progress from shared
 * memory, then verifies the total and prints the throughput. Nothing is left behind.
 * @packageDocumentation
 */
import { fork } from 'node:child_process';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { AccessMode, QSharedMemory } from './index.js';

const COUNTER = 0; // u32 total, updated under the lock
const PROGRESS = 64; // u32 per worker, written by that worker only

function worker(key: string, index: number, increments: number): void {
  const shm = new QSharedMemory(key);
  if (!shm.attach(AccessMode.ReadWrite)) {
    console.error(`worker ${index}: ${shm.errorString()}`);
    process.exit(1);
  }
  const view = new Uint32Array(shm.data()!.buffer, shm.data()!.byteOffset, 64);
  for (let i = 1; i <= increments; i++) {
    shm.lock();
    view[COUNTER / 4]++;
    shm.unlock();
    if ((i & 1023) === 0 || i === increments) view[PROGRESS / 4 + index] = i;
  }
  shm.detach();
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      processes: { type: 'string', short: 'p', default: '4' },
      increments: { type: 'string', short: 'n', default: '1000000' },
      worker: { type: 'string' },
      key: { type: 'string' },
    },
  });
  const increments = Number(values.increments);
  if (values.worker !== undefined) {
    worker(values.key!, Number(values.worker), increments);
    return;
  }
  const processes = Number(values.processes);
  if (!Number.isInteger(processes) || processes < 1 || processes > 64 || !Number.isInteger(increments) || increments < 1) {
    console.error('usage: npm run demo -- [--processes N (1-64)] [--increments M]');
    process.exit(2);
  }
  const key = `qshm-demo-${process.pid}`;
  const shm = new QSharedMemory(key);
  if (!shm.create(4096)) {
    console.error(`create failed: ${shm.errorString()}`);
    process.exit(1);
  }
  console.log(`qshm demo: segment ${shm.nativeKey()} (${shm.size()} bytes, backend ${shm.backend})`);
  console.log(`${processes} processes × ${increments} locked increments of one shared counter\n`);
  const view = new Uint32Array(shm.data()!.buffer, shm.data()!.byteOffset, 64);
  const self = fileURLToPath(import.meta.url);
  const started = performance.now();
  const children = Array.from({ length: processes }, (_, i) =>
    fork(self, ['--worker', String(i), '--key', key, '--increments', String(increments)], { stdio: 'inherit' }),
  );
  const exits = children.map((c) => new Promise<number>((resolve) => c.on('exit', (code) => resolve(code ?? 1))));
  const tty = process.stdout.isTTY;
  const show = () => {
    const parts = Array.from({ length: processes }, (_, i) => `${((100 * view[PROGRESS / 4 + i]) / increments).toFixed(0).padStart(3)}%`);
    const line = `progress: ${parts.join(' ')}  counter ${view[COUNTER / 4]}`;
    if (tty) process.stdout.write(`\r${line}`);
    else console.log(line);
  };
  const timer = setInterval(show, tty ? 100 : 500);
  const codes = await Promise.all(exits);
  clearInterval(timer);
  show();
  if (tty) process.stdout.write('\n');
  const seconds = (performance.now() - started) / 1000;
  shm.lock();
  const total = view[COUNTER / 4];
  shm.unlock();
  const expected = processes * increments;
  shm.detach();
  if (codes.some((c) => c !== 0)) {
    console.error(`a worker failed (exit codes ${codes.join(', ')})`);
    process.exit(1);
  }
  console.log(`\ntotal ${total}, expected ${expected}: ${total === expected ? 'verified, no lost updates' : 'MISMATCH'}`);
  console.log(`${expected} locked increments in ${seconds.toFixed(2)} s: ${Math.round(expected / seconds).toLocaleString('en-US')} increments/s across ${processes} processes`);
  if (total !== expected) process.exit(1);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
