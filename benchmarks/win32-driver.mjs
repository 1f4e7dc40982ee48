// SPDX-License-Identifier: MIT
/**
 * The Windows part of `npm run bench`, run INSIDE Windows node.exe (here: under Wine, started by
 * benchmarks/win32.mjs). It measures nothing itself: like benchmarks/run.mjs on Linux it starts
 * benchmarks/js-peer.mjs as fresh Windows node.exe children for every trial of every case
 * (round-robin, the order rotated between trials) and writes one JSON line per finished trial
 * to its stdout (a file: Wine's node cannot write to a Linux pipe; pipes between two Windows
 * processes, used here for the children, work).
 *
 *   node.exe benchmarks/win32-driver.mjs <base64url JSON config>
 *
 * Config: { token, trials, batches, pairs: {impl: n}, attachPairs: {impl: n}, windowMs,
 * stepTimeoutMs, budgetMs }. Lines: { env }, then { group, impl, trial, ...record } or
 * { group, impl, trial, error }, then { done, seconds, leftovers }.
 *
 * Bounded: every child case has a timeout (its children are killed and the line says so), a case
 * that timed out is not tried again, and no new trial starts once `budgetMs` has passed.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { release, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const cfg = JSON.parse(Buffer.from(process.argv[2] ?? '', 'base64url').toString('utf8'));
const emit = (obj) => process.stdout.write(`${JSON.stringify(obj)}\n`);
const t0 = Date.now();

/** A js-peer.mjs child: `line(test)` resolves with its first stdout line passing `test`. */
function peer(impl, args) {
  const c = spawn(process.execPath, [join(here, 'js-peer.mjs'), impl, ...args.map(String)], { stdio: ['pipe', 'pipe', 'pipe'] });
  const lines = [];
  let buf = '';
  let stderr = '';
  const listeners = new Set();
  c.stdout.on('data', (d) => {
    buf += d;
    const parts = buf.split('\n');
    buf = parts.pop();
    lines.push(...parts.map((l) => l.trim()));
    for (const f of listeners) f();
  });
  c.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise((resolve) => c.on('close', (code, signal) => resolve({ code, signal })));
  exited.then(() => { for (const f of listeners) f(); });
  c.on('error', (e) => (stderr += String(e)));
  const line = (test) => new Promise((resolve, reject) => {
    const check = () => {
      const l = lines.find(test);
      if (l !== undefined) {
        listeners.delete(check);
        resolve(l);
      } else if (c.exitCode !== null || c.signalCode !== null) {
        listeners.delete(check);
        reject(new Error(`js-peer ${impl} ${args.join(' ')} exited (${c.exitCode ?? c.signalCode}) without output: ${stderr.trim()}`));
      }
    };
    listeners.add(check);
    check();
  });
  const ended = async () => {
    const r = await exited;
    if (r.code !== 0) throw new Error(`js-peer ${impl} ${args[0]} exited ${r.code ?? r.signal}: ${stderr.trim()}`);
  };
  return { c, line, ended };
}

const isJson = (l) => l.startsWith('{');
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

let seq = 0;
const caseKey = () => `${cfg.token}${(seq++).toString(36)}`;

/** Runs `body(kids)` with a timeout that kills every child it started. */
async function bounded(ms, body) {
  const kids = [];
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms / 1000} s`)), ms);
  });
  try {
    return await Promise.race([body(kids), timeout]);
  } finally {
    clearTimeout(timer);
    for (const k of kids) if (k.c.exitCode === null && k.c.signalCode === null) k.c.kill('SIGKILL');
    await Promise.all(kids.map((k) => k.ended().catch(() => {})));
  }
}

/** One process printing per-pair nanoseconds for each batch. */
const single = (impl, mode, pairs) => async (kids) => {
  const k = peer(impl, [mode, caseKey(), cfg.batches, pairs]);
  kids.push(k);
  const r = JSON.parse(await k.line(isJson));
  await k.ended();
  if (r.unavailable) throw new Error(r.unavailable);
  return { value: median(r.samples), samples: r.samples };
};

/**
 * Two processes on one counter for a fixed time window (js-peer.mjs `contend`, as on Linux):
 * each counts its own increments; lost = their sum − the final counter.
 */
const contend = (impl) => async (kids) => {
  const key = caseKey();
  const k0 = peer(impl, ['contend', key, 0, cfg.windowMs]);
  kids.push(k0);
  const first = await k0.line((l) => l === 'ready' || isJson(l));
  if (first !== 'ready') throw new Error(JSON.parse(first).unavailable ?? first);
  const k1 = peer(impl, ['contend', key, 1, cfg.windowMs]);
  kids.push(k1);
  const [a, b] = (await Promise.all([k0.line(isJson), k1.line(isJson)])).map((l) => JSON.parse(l));
  await k1.ended();
  k0.c.stdin.end('go\n');
  await k0.ended();
  const ops = a.ops + b.ops;
  const seconds = (Math.max(a.end, b.end) - Math.min(a.start, b.start)) / 1e9;
  return {
    value: ops / seconds, ops, counter: a.counter, lost: ops - a.counter, share0: a.ops / ops, switchesPer1000: (1000 * a.switches) / ops, seconds,
  };
};

const IMPLS = ['qshm-file', 'qshm-windows'];
const CASES = IMPLS.flatMap((impl) => [
  { group: 'lock', impl, run: single(impl, 'uncontended', cfg.pairs[impl]), ms: cfg.stepTimeoutMs },
  { group: 'contend', impl, run: contend(impl), ms: cfg.stepTimeoutMs * 2 },
  { group: 'attach', impl, run: single(impl, 'attachdetach', cfg.attachPairs[impl]), ms: cfg.stepTimeoutMs },
]);

/** qshm files with this run's token in the 'file' backend's default directory. */
function leftovers() {
  const dir = join(tmpdir(), 'qshm');
  return existsSync(dir) ? readdirSync(dir).filter((f) => f.includes(cfg.token)).map((f) => join(dir, f)) : [];
}

emit({ env: { node: process.version, platform: process.platform, arch: process.arch, windows: release(), tmpdir: tmpdir() } });
const gaveUp = new Set();
for (let t = 0; t < cfg.trials; t++) {
  if (t > 0 && Date.now() - t0 > cfg.budgetMs) {
    emit({ stopped: `time budget of ${cfg.budgetMs / 1000} s used up after ${t} trial(s)` });
    break;
  }
  for (let i = 0; i < CASES.length; i++) {
    const c = CASES[(i + t) % CASES.length];
    if (gaveUp.has(c)) continue;
    try {
      emit({ group: c.group, impl: c.impl, trial: t, ...(await bounded(c.ms, c.run)) });
    } catch (e) {
      const error = String(e?.message ?? e);
      if (error.startsWith('timed out')) gaveUp.add(c);
      emit({ group: c.group, impl: c.impl, trial: t, error });
    }
  }
}
emit({ done: true, seconds: (Date.now() - t0) / 1000, leftovers: leftovers() });
