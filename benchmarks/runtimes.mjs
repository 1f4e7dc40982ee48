// SPDX-License-Identifier: MIT
/**
 * qshm under Node, Bun and Deno (issue 15, information only): the uncontended lock()+unlock()
 * pair and an attach()+detach() pair of the `file` backend, each measured by benchmarks/js-peer.mjs
 * run by that runtime (Bun and Deno are devDependencies from the npm registry). A runtime that is
 * not installed gives a null column.
 *
 *   node benchmarks/runtimes.mjs [--quick] [--json]
 *
 * For benchmarks/run.mjs: `import { runtimeColumns } from './runtimes.mjs'` and
 * `await runtimeColumns({ batches, lockPairs, attachPairs })` returns
 * `{ node: { version, lockNs, attachUs }, bun: {...} | null, deno: {...} | null }` (medians).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const bin = (name) => {
  const f = join(root, 'node_modules', '.bin', name);
  return existsSync(f) ? f : null;
};

/** How to start a script under each runtime. Deno: the flags docs/runtimes.md documents. */
const RUNTIMES = {
  node: { exe: process.execPath, pre: [], version: ['--version'] },
  bun: { exe: bin('bun'), pre: [], version: ['--version'] },
  deno: { exe: bin('deno'), pre: ['run', `--allow-ffi=${join(root, 'build')}`, '--allow-read', '--allow-env'], version: ['--version'] },
};

function run(exe, args) {
  return new Promise((resolve, reject) => {
    const k = spawn(exe, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    k.stdout.on('data', (d) => (out += d));
    k.stderr.on('data', (d) => (err += d));
    k.on('error', reject);
    k.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${exe} ${args.join(' ')} exited ${code}: ${err.trim()}`))));
  });
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

let seq = 0;
async function peer(rt, mode, batches, pairs) {
  const { exe, pre } = RUNTIMES[rt];
  const key = `qshmbench${process.pid}rt${++seq}`;
  const out = await run(exe, [...pre, join(here, 'js-peer.mjs'), 'qshm-file', mode, key, String(batches), String(pairs)]);
  const line = out.split('\n').find((l) => l.startsWith('{'));
  return median(JSON.parse(line).samples); // ns per pair
}

/** Medians per runtime: lockNs (ns per lock+unlock pair), attachUs (µs per attach+detach pair). */
export async function runtimeColumns({ batches = 9, lockPairs = 200_000, attachPairs = 500 } = {}) {
  const cols = {};
  for (const rt of Object.keys(RUNTIMES)) {
    const { exe, version } = RUNTIMES[rt];
    if (!exe) {
      cols[rt] = null;
      continue;
    }
    const v = (await run(exe, version)).trim().split('\n')[0].replace(/^deno /, '').replace(/ \(.*$/, '').replace(/^v/, '');
    cols[rt] = {
      version: v,
      lockNs: await peer(rt, 'uncontended', batches, lockPairs),
      attachUs: (await peer(rt, 'attachdetach', batches, attachPairs)) / 1000,
    };
  }
  return cols;
}

/** A markdown table of runtimeColumns()'s result. */
export function runtimeTable(cols) {
  const names = Object.keys(cols).filter((rt) => cols[rt]);
  const title = (rt) => `${rt === 'node' ? 'Node' : rt === 'bun' ? 'Bun' : 'Deno'} ${cols[rt].version}`;
  const fmt = (x) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
  return [
    `| qshm 'file' | ${names.map(title).join(' | ')} |`,
    `| --- | ${names.map(() => '---').join(' | ')} |`,
    `| lock+unlock, uncontended (ns/pair) | ${names.map((rt) => fmt(cols[rt].lockNs)).join(' | ')} |`,
    `| attach+detach (µs/pair) | ${names.map((rt) => fmt(cols[rt].attachUs)).join(' | ')} |`,
  ].join('\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const quick = process.argv.includes('--quick');
  const cols = await runtimeColumns(quick ? { batches: 5 } : {});
  process.stdout.write(process.argv.includes('--json') ? `${JSON.stringify(cols, null, 2)}\n` : `${runtimeTable(cols)}\n`);
}
