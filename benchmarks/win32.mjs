// SPDX-License-Identifier: MIT
// The Windows column of the benchmarks, run inside Windows node.exe (under Wine here:
// `npm run bench:win32`). Figures are medians of 5 rounds; Wine's figures are not Windows'.
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { QSharedMemory } from '../dist/index.js';

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const key = `qshmbench${process.pid}`;

if (process.argv[2] === 'child') {
  // contended partner: n locked increments, then report
  const s = new QSharedMemory(process.argv[3], { backend: process.argv[5] });
  s.attach();
  const d = s.data();
  process.send('ready');
  process.once('message', () => {
    for (let i = 0, n = Number(process.argv[4]); i < n; i++) { s.lock(); d[0]++; s.unlock(); }
    s.detach();
    process.send('done');
    process.disconnect();
  });
} else {
  const out = {};
  for (const backend of ['file', 'windows']) {
    const s = new QSharedMemory(`${key}${backend}`, { backend });
    if (!s.create(4096)) throw new Error(s.errorString());
    const N = backend === 'file' ? 1_000_000 : 20_000;
    const lock = [];
    for (let r = 0; r < 5; r++) {
      const t = process.hrtime.bigint();
      for (let i = 0; i < N; i++) { s.lock(); s.unlock(); }
      lock.push(Number(process.hrtime.bigint() - t) / N);
    }
    console.error(`${backend}: lock+unlock ${median(lock).toFixed(1)} ns`);
    const ad = [];
    for (let r = 0; r < 5; r++) {
      const M = 50, o = new QSharedMemory(`${key}${backend}`, { backend });
      const t = process.hrtime.bigint();
      for (let i = 0; i < M; i++) { o.attach(); o.detach(); }
      ad.push(Number(process.hrtime.bigint() - t) / M / 1000);
    }
    console.error(`${backend}: attach+detach ${median(ad).toFixed(1)} us`);
    // contended: this process and one child, each M locked increments
    const M = backend === 'file' ? 2_000 : 200;
    const child = fork(fileURLToPath(import.meta.url), ['child', `${key}${backend}`, String(M), backend]);
    await new Promise((r) => child.once('message', r));
    const d = s.data();
    const t = process.hrtime.bigint();
    child.send('go');
    for (let i = 0; i < M; i++) { s.lock(); d[1]++; s.unlock(); }
    await new Promise((r) => child.once('message', r));
    const contended = Number(process.hrtime.bigint() - t) / (2 * M);
    s.detach();
    out[backend] = { lockUnlockNs: +median(lock).toFixed(1), contendedNsPerOp: +contended.toFixed(0), attachDetachUs: +median(ad).toFixed(1) };
  }
  console.log(JSON.stringify({ runtime: `Windows node ${process.version} under Wine`, ...out }, null, 2));
}
