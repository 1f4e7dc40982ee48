// SPDX-License-Identifier: MIT
/**
 * `npm run bench`: qshm's lock and segments next to Qt's C++ QSharedMemory, proper-lockfile and
 * a plain C floor, measured in the same run. Every trial of every case runs in fresh child
 * processes; trials are interleaved (round-robin over the cases) so that noise on a shared
 * machine hits every implementation alike; the report gives medians and ratios.
 *
 *   npm run bench [-- --trials N] [--quick] [--latest] [--only group,group]
 *
 * --trials N  trials per case (default 7; --quick: 3 with shorter runs)
 * --latest    also write benchmarks/results-latest.json (the committed representative run)
 * --only      run only some groups: lock, overhead, contend, handoff, pinned, attach, create, copy, runtimes,
 *             win32 (the Windows table: node.exe under Wine, benchmarks/win32.mjs; --only win32 runs it alone)
 * --impls     run only some implementations: qshm-file, qshm-sysv, qt, plf, floor, js-floor
 *
 * Writes benchmarks/results/<timestamp>.json (gitignored). Builds benchmarks/.bin/floor (gcc)
 * and benchmarks/.bin/qt-peer (g++ and Debian's qt6-base-dev) when their sources change.
 * Afterwards it checks that nothing it made is left in /dev/shm, /tmp or System V IPC
 * (removing and reporting anything that is). See docs/benchmarks.md for the method.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, release, tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runtimeColumns, runtimeTable } from './runtimes.mjs';
import { win32Bench, win32Failed, win32Report } from './win32.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const binDir = join(here, '.bin');
const args = process.argv.slice(2);
const flag = (name) => args.includes(name);
const option = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const quick = flag('--quick');
const TRIALS = Number(option('--trials') ?? (quick ? 3 : 7));
const ONLY = option('--only')?.split(',');
const IMPL_ONLY = option('--impls')?.split(',');
const TOKEN = `qbench${Array.from({ length: 8 }, () => String.fromCharCode(97 + Math.floor(Math.random() * 26))).join('')}`;

/** Sizes per case. Batches are ~10-50 ms each on a 2-core VM. */
const P = {
  batches: quick ? 5 : 9,
  pairs: { 'qshm-file': 200_000, floor: 2_000_000, qt: 20_000, 'qshm-sysv': 20_000, plf: 1_000 },
  attachPairs: { 'qshm-file': 500, 'qshm-sysv': 500, qt: 500 },
  /** create()+detach() (destroying): [bytes, pairs per batch, batches] per size. */
  create: { '4k': [4096, quick ? 100 : 200, quick ? 3 : 5], '1g': [1 << 30, 2, 3] },
  windowMs: quick ? 150 : 300,
  rounds: quick ? 200 : 400,
  /**
   * Hand-off rounds run first and dropped, the same for every implementation: about 250 ms (at
   * the 200 µs hold), the warm-up every batch mode gets (js-peer.mjs WARM_MS). A Node process
   * spends its first ~80 ms starting up, and until the scheduler's view of it settles a woken
   * Node waiter lands on the other, idle vCPU (docs/benchmarks.md).
   */
  warmRounds: 1200,
  holdUs: 200,
  copyMiB: 64,
  copyRepeats: quick ? 5 : 9,
};

// ---------------------------------------------------------------------------------------------
// Environment

function sh(cmd, a) {
  const r = spawnSync(cmd, a, { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

function machine() {
  let cpu = 'unknown';
  try {
    cpu = /^model name\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? cpu;
  } catch { /* not Linux */ }
  const plfVersion = JSON.parse(readFileSync(join(root, 'node_modules/proper-lockfile/package.json'), 'utf8')).version;
  return {
    nproc: availableParallelism(),
    cpu,
    kernel: release(),
    node: process.version,
    qt: sh('pkg-config', ['--modversion', 'Qt6Core']),
    gcc: sh('gcc', ['-dumpfullversion']),
    properLockfile: plfVersion,
    loadavgStart: loadavg().map((x) => +x.toFixed(2)),
  };
}

/** Warn when dist/ is older than lib/ (the bench measures dist/). It does not rebuild. */
function staleDist() {
  const stale = [];
  const walk = (dir) => {
    for (const f of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, f.name);
      if (f.isDirectory()) walk(p);
      else if (f.name.endsWith('.ts')) {
        const js = join(root, 'dist', relative(join(root, 'lib'), p)).replace(/\.ts$/, '.js');
        if (!existsSync(js) || statSync(js).mtimeMs < statSync(p).mtimeMs) stale.push(relative(root, p));
      }
    }
  };
  walk(join(root, 'lib'));
  return stale;
}

/** Builds `out` from `src` with `cmd` when the source is newer; returns an error text or null. */
function build(src, out, cmd) {
  mkdirSync(binDir, { recursive: true });
  if (existsSync(out) && statSync(out).mtimeMs >= statSync(src).mtimeMs) return null;
  const r = spawnSync('sh', ['-c', cmd], { encoding: 'utf8' });
  return r.status === 0 ? null : `${cmd}\n${r.stderr}`;
}

function buildPeers() {
  const status = {};
  if (!sh('gcc', ['--version'])) status.floor = 'gcc not found: install Debian package gcc (build-essential)';
  else status.floor = build(join(here, 'floor.c'), join(binDir, 'floor'), `gcc -O2 -Wall -o '${binDir}/floor' '${here}/floor.c'`);
  if (sh('pkg-config', ['--version']) === null) {
    status.qt = "pkg-config not found: install pkg-config and Debian's qt6-base-dev for the Qt C++ peer";
  } else if (sh('pkg-config', ['--exists', 'Qt6Core']) === null) {
    status.qt = "Qt 6 development files not found (pkg-config Qt6Core): install Debian's qt6-base-dev for the Qt C++ peer";
  } else if (sh('g++', ['--version']) === null) {
    status.qt = 'g++ not found: install Debian package g++ for the Qt C++ peer';
  } else {
    status.qt = build(join(here, 'qt-peer.cpp'), join(binDir, 'qt-peer'),
      `g++ -O2 -fPIC -std=c++17 -o '${binDir}/qt-peer' '${here}/qt-peer.cpp' $(pkg-config --cflags --libs Qt6Core)`);
  }
  return status;
}

// ---------------------------------------------------------------------------------------------
// Children

const live = new Set();
/** Every child this run started: System V segments they created are ours (creator pid). */
const childPids = new Set();
process.on('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    for (const c of live) c.kill('SIGKILL');
    cleanup(true);
    process.exit(130);
  });
}

/** The CPU the pinned hand-off variant puts both processes on (`taskset -c`). */
const PIN_CPU = 0;

function command(impl, a, pin) {
  const [cmd, argv] = impl === 'qt' ? [join(binDir, 'qt-peer'), a]
    : impl === 'floor' ? [join(binDir, 'floor'), a]
    : [process.execPath, [join(here, 'js-peer.mjs'), impl, ...a]];
  return pin ? ['taskset', ['-c', String(PIN_CPU), cmd, ...argv]] : [cmd, argv];
}

/**
 * Spawns a child (with `pin`, under `taskset` on PIN_CPU); `lines` collects stdout lines;
 * resolves `done` with { code, signal, stderr }.
 */
function child(impl, a, pin = false) {
  const [cmd, argv] = command(impl, a.map(String), pin);
  const c = spawn(cmd, argv, { stdio: ['pipe', 'pipe', 'pipe'] });
  live.add(c);
  childPids.add(c.pid);
  const lines = [];
  const waiters = [];
  let buf = '';
  let stderr = '';
  c.stdout.on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      lines.push(buf.slice(0, i));
      buf = buf.slice(i + 1);
      for (const w of [...waiters]) w();
    }
  });
  c.stderr.on('data', (d) => (stderr += d));
  const done = new Promise((resolve) => {
    c.on('close', (code, signal) => {
      live.delete(c);
      for (const w of [...waiters]) w();
      resolve({ code, signal, stderr });
    });
  });
  c.on('error', (e) => (stderr += String(e)));
  const exited = () => c.exitCode !== null || c.signalCode !== null;
  /** Resolves with the first line matching `test`, or rejects when the child ends without it. */
  const waitLine = (test) => new Promise((resolve, reject) => {
    const check = () => {
      const l = lines.find(test);
      if (l !== undefined) {
        waiters.splice(waiters.indexOf(check), 1);
        resolve(l);
      } else if (exited() && !c.stdout.readable) {
        waiters.splice(waiters.indexOf(check), 1);
        reject(new Error(`${impl} ${a.join(' ')} exited (${c.exitCode ?? c.signalCode}) without output: ${stderr.trim()}`));
      }
    };
    waiters.push(check);
    check();
  });
  return { c, done, waitLine, pid: c.pid };
}

const isJson = (l) => l.startsWith('{');

function withTimeout(p, ms, what, kids) {
  let t;
  return Promise.race([
    p,
    new Promise((_, reject) => {
      t = setTimeout(() => {
        for (const k of kids) k.c.kill('SIGKILL');
        reject(new Error(`${what} timed out after ${ms} ms`));
      }, ms);
    }),
  ]).finally(() => clearTimeout(t));
}

// System V objects are ours only by proof: a segment whose creator was one of our children
// (its cpid), or an object that still had one of a finished case's keys when that case's
// processes were all gone (its id). A key alone proves nothing: ftok keys come from inode
// numbers, and another program's key file can get one of ours once our file is gone; the
// cleanup would then remove (ipcrm) that program's object.
/** Case key → the System V keys of its Qt key files (noted while the files exist). */
const caseSysvKeys = new Map();
/** `shm:ID` / `sem:ID` of objects left when their case ended. */
const ourSysvIds = new Set();
let legacyKeyName = null;
let nativeFtok = null;

/** Notes the System V keys of `key`'s Qt key files that exist now; returns how many. */
async function noteSysvKeys(key) {
  if (!legacyKeyName) ({ legacyKeyName } = await import('../dist/index.js'));
  if (!nativeFtok) nativeFtok = (await import('../dist/native.js')).native.ftok;
  let n = 0;
  for (const prefix of ['qipc_sharedmemory_', 'qipc_systemsem_']) {
    const k = nativeFtok(join(tmpdir(), legacyKeyName(key, prefix)), 0x51);
    if (k < 0) continue; // -errno: no such key file (Qt's keys have 0x51 in the top byte: positive)
    if (!caseSysvKeys.has(key)) caseSysvKeys.set(key, new Set());
    caseSysvKeys.get(key).add(k >>> 0);
    n++;
  }
  return n;
}

/** Once every process of case `key` has ended: whatever still has one of its keys is its leftover. */
function claimSysvLeftovers(key) {
  const keys = caseSysvKeys.get(key);
  if (!keys) return;
  for (const kind of ['shm', 'sem']) {
    for (const e of sysvTable(kind)) if (keys.has(e.key)) ourSysvIds.add(`${kind}:${e.id}`);
  }
}

/** For a one-process System V case: poll for its key files until both are seen or it ends. */
function watchSysvKeys(key, k) {
  const timer = setInterval(async () => {
    if ((await noteSysvKeys(key)) === 2) clearInterval(timer);
  }, 5);
  k.done.then(() => clearInterval(timer));
}

let seq = 0;
function caseKey() {
  let n = seq++;
  let s = '';
  do {
    s += String.fromCharCode(97 + (n % 26));
    n = Math.floor(n / 26);
  } while (n > 0);
  return `${TOKEN}${s}`;
}

const SYSV_IMPLS = new Set(['qt', 'qshm-sysv']);

/** One process (a: mode, key, ...): returns the parsed JSON line. */
async function single(impl, a, timeoutMs = 120_000) {
  const k = child(impl, a);
  const sysv = SYSV_IMPLS.has(impl);
  if (sysv) watchSysvKeys(a[1], k);
  let line;
  let r;
  try {
    line = await withTimeout(k.waitLine(isJson), timeoutMs, `${impl} ${a[0]}`, [k]);
    r = await k.done;
  } finally {
    if (sysv) {
      await k.done;
      claimSysvLeftovers(a[1]);
    }
  }
  if (r.code !== 0) throw new Error(`${impl} ${a.join(' ')} exited ${r.code ?? r.signal}: ${r.stderr.trim()}`);
  return JSON.parse(line);
}

/** Two processes (role 0 creates, role 1 attaches): returns both parsed JSON lines. */
async function pair(impl, mode, key, rest, pin = false) {
  const k0 = child(impl, [mode, key, 0, ...rest], pin);
  const kids = [k0];
  const run = async () => {
    const first = await k0.waitLine((l) => l === 'ready' || isJson(l));
    if (first !== 'ready') {
      await k0.done;
      return [JSON.parse(first)]; // { unavailable }
    }
    if (SYSV_IMPLS.has(impl)) await noteSysvKeys(key);
    const k1 = child(impl, [mode, key, 1, ...rest], pin);
    kids.push(k1);
    const [l0, l1] = await Promise.all([k0.waitLine(isJson), k1.waitLine(isJson)]);
    const r1 = await k1.done;
    k0.c.stdin.end('go\n');
    const r0 = await k0.done;
    for (const [r, role] of [[r0, 0], [r1, 1]]) {
      if (r.code !== 0) throw new Error(`${impl} ${mode} role ${role} exited ${r.code ?? r.signal}: ${r.stderr.trim()}`);
    }
    return [JSON.parse(l0), JSON.parse(l1)];
  };
  try {
    return await withTimeout(run(), 120_000, `${impl} ${mode}`, kids);
  } catch (e) {
    for (const k of kids) k.c.kill('SIGKILL');
    await Promise.all(kids.map((k) => k.done));
    throw e;
  } finally {
    if (SYSV_IMPLS.has(impl)) {
      await Promise.all(kids.map((k) => k.done));
      claimSysvLeftovers(key);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Statistics

const sorted = (xs) => [...xs].sort((a, b) => a - b);
function median(xs) {
  const s = sorted(xs);
  const n = s.length;
  if (!n) return NaN;
  return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}
/** Nearest-rank percentile. */
function pct(xs, p) {
  const s = sorted(xs);
  return s.length ? s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] : NaN;
}

// ---------------------------------------------------------------------------------------------
// Cases

const IMPLS = {
  'qshm-file': "qshm 'file' (JS)",
  'qshm-sysv': "qshm 'sysv' (JS)",
  qt: 'Qt C++ QSharedMemory',
  plf: 'proper-lockfile (JS)',
  floor: 'C floor',
  'js-floor': 'JS floor (no library)',
};

/** Each case: group, impl, and a trial function returning a trial record (or { unavailable }). */
const CASES = [];
const add = (group, impl, trial) => CASES.push({ group, impl, trial });

for (const impl of ['qshm-file', 'qt', 'plf', 'floor', 'qshm-sysv']) {
  add('lock', impl, async () => {
    const r = impl === 'floor'
      ? await single(impl, ['uncontended', P.batches, P.pairs[impl]])
      : await single(impl, ['uncontended', caseKey(), P.batches, P.pairs[impl]]);
    return r.unavailable ? r : { value: median(r.samples), samples: r.samples };
  });
}
add('overhead', 'qshm-file', async () => {
  const r = await single('qshm-file', ['overhead', caseKey(), P.batches * 2, P.pairs['qshm-file']]);
  return { value: median(r.samples), samples: r.samples, api: median(r.api), bare: median(r.bare) };
});
for (const impl of ['qshm-file', 'qt', 'plf', 'floor', 'qshm-sysv']) {
  add('contend', impl, async () => {
    const key = caseKey();
    const target = impl === 'floor' ? `/dev/shm/${key}-floor` : key;
    const rs = await pair(impl, 'contend', target, [P.windowMs]);
    if (rs[0].unavailable) return rs[0];
    const [a, b] = rs;
    const ops = a.ops + b.ops;
    const secs = (Math.max(a.end, b.end) - Math.min(a.start, b.start)) / 1e9;
    return {
      value: ops / secs,
      ops,
      counter: a.counter,
      lost: ops - a.counter,
      share0: a.ops / ops,
      switchesPer1000: (1000 * a.switches) / ops,
      seconds: secs,
    };
  });
}
for (const [group, pin] of [['handoff', false], ['pinned', true]]) {
  for (const impl of ['qshm-file', 'qt', 'plf', 'floor', 'qshm-sysv', 'js-floor']) {
    add(group, impl, async () => {
      const key = caseKey();
      const target = impl === 'floor' ? `/dev/shm/${key}-floor` : key;
      const rs = await pair(impl, 'handoff', target, [P.warmRounds + P.rounds, P.holdUs], pin);
      if (rs[0].unavailable) return rs[0];
      // Each side measured every other round: its first warmRounds / 2 samples are the warm-up.
      const warm = (r, k) => r[k].slice(P.warmRounds / 2);
      const samples = [...warm(rs[0], 'samples'), ...warm(rs[1], 'samples')].map((ns) => ns / 1000);
      // same[i]: hand-off i woke the waiter on the CPU the unlocker ran on.
      const same = [...warm(rs[0], 'same'), ...warm(rs[1], 'same')];
      return { value: median(samples), p99: pct(samples, 99), samples, same, late: (rs[0].late ?? 0) + (rs[1].late ?? 0) };
    });
  }
}
/** µs per pair from a child that prints per-pair nanoseconds for each batch. */
const perPair = (o) => (o.unavailable ? o : { value: median(o.samples) / 1000, samples: o.samples });
for (const impl of ['qshm-file', 'qt', 'qshm-sysv']) {
  add('attach', impl, async () => perPair(await single(impl, ['attachdetach', caseKey(), P.batches, P.attachPairs[impl]])));
}
for (const [size, [bytes, pairs, batches]] of Object.entries(P.create)) {
  for (const impl of ['qshm-file', 'qt', 'qshm-sysv']) {
    add(`create-${size}`, impl, async () => perPair(await single(impl, ['createdetach', caseKey(), batches, pairs, bytes], 300_000)));
  }
}
add('copy', 'qshm-file', async () => {
  const r = await single('qshm-file', ['copy', caseKey(), P.copyMiB, P.copyRepeats]);
  return { value: median(r.samples), samples: r.samples };
});
add('copy', 'floor', async () => {
  const r = await single('floor', ['memcpy', P.copyMiB, P.copyRepeats]);
  return { value: median(r.samples), samples: r.samples };
});

// ---------------------------------------------------------------------------------------------
// Cleanup check

function sysvTable(kind) {
  try {
    const lines = readFileSync(`/proc/sysvipc/${kind}`, 'utf8').trim().split('\n').slice(1);
    return lines.filter((l) => l.trim()).map((l) => {
      const f = l.trim().split(/\s+/);
      // shm: creator pid and attach count (a leftover of ours has no attachments: our children are gone)
      const cpid = kind === 'shm' && Number(f[6]) === 0 ? Number(f[4]) : 0;
      return { key: Number(f[0]) >>> 0, id: f[1], cpid, line: l.trim() };
    });
  } catch {
    return [];
  }
}

/** Finds (and with `remove`, removes) anything this run made. Returns what was found. */
function cleanup(remove) {
  const found = [];
  for (const dir of ['/dev/shm', tmpdir()]) {
    let names = [];
    try {
      names = readdirSync(dir);
    } catch { /* missing */ }
    for (const f of names) {
      if (!f.includes(TOKEN)) continue;
      const p = join(dir, f);
      found.push(p);
      if (remove) rmSync(p, { recursive: true, force: true });
    }
  }
  for (const [kind, opt] of [['shm', '-m'], ['sem', '-s']]) {
    for (const e of sysvTable(kind)) {
      if (!ourSysvIds.has(`${kind}:${e.id}`) && !childPids.has(e.cpid)) continue;
      found.push(`sysv ${kind} key 0x${e.key.toString(16).padStart(8, '0')} id ${e.id}`);
      if (remove) spawnSync('ipcrm', [opt, e.id]);
    }
  }
  return found;
}

// ---------------------------------------------------------------------------------------------
// Report

const fmt = {
  ns: (x) => (x >= 100 ? x.toFixed(0) : x.toFixed(1)),
  us: (x) => (Number.isNaN(x) ? '—' : x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2)),
  ops: (x) => (x >= 1e6 ? `${(x / 1e6).toFixed(2)} M` : x >= 1e3 ? `${(x / 1e3).toFixed(1)} k` : x.toFixed(0)),
  gbs: (x) => x.toFixed(1),
  ratio: (x) => (x >= 10 ? x.toFixed(0) : x.toFixed(1)),
  share: (x) => `${(100 * x).toFixed(0)} %`,
};

function table(rows) {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)));
  return rows.map((r) => r.map((c, i) => (i === 0 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join('  ')).join('\n');
}

function markdown(rows) {
  const line = (r) => `| ${r.join(' | ')} |`;
  return [line(rows[0]), line(rows[0].map((_, i) => (i === 0 ? '---' : '---:'))), ...rows.slice(1).map(line)].join('\n');
}

function summarize(results) {
  const get = (group, impl) => results[group]?.[impl];
  const cell = (group, impl, f, field = 'value') => {
    const r = get(group, impl);
    if (!r) return '—';
    if (r.unavailable) return 'n/a';
    if (r.error) return 'error';
    return f(r[field]);
  };
  const cols = ['qshm-file', 'qshm-sysv', 'qt', 'plf', 'floor'];
  const head = ['', ...cols.map((c) => (c === 'qt' && results.env.qt ? `Qt ${results.env.qt} C++` : c === 'plf' ? `proper-lockfile ${results.env.properLockfile}` : IMPLS[c]))];
  const rows = [
    head,
    ['lock+unlock, uncontended (ns/pair)', ...cols.map((c) => cell('lock', c, fmt.ns))],
    ['2 processes, shared counter (ops/s)', ...cols.map((c) => cell('contend', c, fmt.ops))],
    ['  lost updates', ...cols.map((c) => cell('contend', c, String, 'lost'))],
    ['hand-off latency, median (µs)', ...cols.map((c) => cell('handoff', c, fmt.us))],
    ['hand-off latency, p99 (µs)', ...cols.map((c) => cell('handoff', c, fmt.us, 'p99'))],
    ['  woken on the unlocker\'s CPU', ...cols.map((c) => cell('handoff', c, fmt.share, 'sameShare'))],
    ['hand-off, both pinned to one CPU, median (µs)', ...cols.map((c) => cell('pinned', c, fmt.us))],
    ['hand-off, both pinned to one CPU, p99 (µs)', ...cols.map((c) => cell('pinned', c, fmt.us, 'p99'))],
    ['attach+detach (µs/pair)', ...cols.map((c) => cell('attach', c, fmt.us))],
    ['create+detach (destroying), 4 KiB (µs/pair)', ...cols.map((c) => cell('create-4k', c, fmt.us))],
    ['create+detach (destroying), 1 GiB (ms/pair)', ...cols.map((c) => cell('create-1g', c, (x) => fmt.us(x / 1000)))],
    ['copy 64 MiB into the segment (GB/s)', ...cols.map((c) => (c === 'floor' ? cell('copy', 'floor', fmt.gbs) : c === 'qshm-file' ? cell('copy', c, fmt.gbs) : '—'))],
  ];
  return rows;
}

function ratios(results) {
  const v = (g, i) => {
    const r = results[g]?.[i];
    return r && !r.unavailable && !r.error ? r : null;
  };
  const out = [];
  const check = (label, num, target, unit, pass) => out.push({ label, value: num, target, unit, pass });
  const ql = v('lock', 'qshm-file');
  const tl = v('lock', 'qt');
  if (ql) check('qshm lock+unlock (ns/pair)', ql.value, '≤ 60', 'ns', ql.value <= 60);
  if (ql && tl) check('Qt lock+unlock / qshm lock+unlock', tl.value / ql.value, '≥ 20×', '×', tl.value / ql.value >= 20);
  const qc = v('contend', 'qshm-file');
  const tc = v('contend', 'qt');
  if (qc && tc) check('qshm / Qt contended ops/s', qc.value / tc.value, '≥ 5×', '×', qc.value / tc.value >= 5);
  if (qc) check('qshm lost updates (all trials)', qc.lost, '= 0', '', qc.lost === 0);
  const pl = v('lock', 'plf');
  if (ql && pl) check('proper-lockfile / qshm lock+unlock', pl.value / ql.value, '(info)', '×', null);
  const fl = v('lock', 'floor');
  if (ql && fl) check('qshm / C floor lock+unlock', ql.value / fl.value, '(info)', '×', null);
  const ov = v('overhead', 'qshm-file');
  if (ov) check('qshm / bare Atomics pair, same process', ov.value, '≤ 1.3×', '×', ov.value <= 1.3);
  // Issue 14: qshm ≤ Qt (ratios qshm / Qt ≤ 1) on hand-off, attach+detach and the sysv lock.
  const atMost = (label, a, b, limit, field = 'value') => {
    if (a && b) check(label, a[field] / b[field], `≤ ${limit}×`, '×', a[field] / b[field] <= limit);
  };
  const th = v('handoff', 'qt');
  atMost('qshm / Qt hand-off median', v('handoff', 'qshm-file'), th, 1);
  atMost('qshm / Qt hand-off p99', v('handoff', 'qshm-file'), th, 1, 'p99');
  atMost('qshm / C floor hand-off median', v('handoff', 'qshm-file'), v('handoff', 'floor'), 1.3);
  atMost('qshm / Qt hand-off median, pinned', v('pinned', 'qshm-file'), v('pinned', 'qt'), 1);
  const jf = v('handoff', 'js-floor');
  if (jf && th) check('JS floor / Qt hand-off median (Node itself)', jf.value / th.value, '(info)', '×', null);
  const qh = v('handoff', 'qshm-file');
  if (jf && qh) check('qshm / JS floor hand-off median', qh.value / jf.value, '(info)', '×', null);
  atMost('qshm / Qt attach+detach', v('attach', 'qshm-file'), v('attach', 'qt'), 1);
  atMost("qshm 'sysv' / Qt lock+unlock", v('lock', 'qshm-sysv'), tl, 1);
  atMost("qshm 'sysv' / Qt attach+detach", v('attach', 'qshm-sysv'), v('attach', 'qt'), 1);
  for (const size of Object.keys(P.create)) {
    const q = v(`create-${size}`, 'qshm-file');
    const t = v(`create-${size}`, 'qt');
    if (q && t) check(`qshm / Qt create+detach ${size}`, q.value / t.value, '(info)', '×', null);
  }
  const cp = v('copy', 'qshm-file');
  const cf = v('copy', 'floor');
  if (cp && cf) check('qshm copy / C memcpy', cp.value / cf.value, '≥ 0.95×', '×', cp.value / cf.value >= 0.95);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Main

async function main() {
  const env = machine();
  const log = (s = '') => process.stdout.write(`${s}\n`);
  if (ONLY?.every((g) => g === 'win32')) return win32Only(env, log);
  log(`qshm benchmarks: ${env.nproc} × ${env.cpu}, Linux ${env.kernel}, Node ${env.node}, ` +
    `Qt ${env.qt ?? 'not installed'}, proper-lockfile ${env.properLockfile}`);
  log(`${TRIALS} trials per case, each in fresh processes, interleaved; load average ${env.loadavgStart.join(' ')}`);
  if (env.loadavgStart[0] > env.nproc / 2) {
    log(`WARNING: the machine is busy (load ${env.loadavgStart[0]} on ${env.nproc} CPUs): absolute figures will be noisy; ratios less so.`);
  }
  if (!existsSync(join(root, 'dist/index.js'))) {
    log('dist/ is missing: run `npm run build` first.');
    process.exit(1);
  }
  const stale = staleDist();
  if (stale.length) log(`WARNING: dist/ is older than ${stale.join(', ')} — the bench measures dist/; run \`npx tsc -p .\` to measure the current source.`);

  const built = buildPeers();
  const notes = [];
  if (built.floor) notes.push(`C floor not built: ${built.floor}`);
  if (built.qt) notes.push(`Qt C++ peer not built: ${built.qt}`);
  notes.push('mmap-io (npm) is not measured: it does not build on Node 20 without extra compiler flags, and it only maps memory (no lock); its copy speed would be the memcpy line.');
  for (const n of notes) log(`note: ${n}`);

  const cases = CASES.filter((c) => (!ONLY || ONLY.includes(c.group) || ONLY.includes(c.group.split('-')[0])) &&
    (!IMPL_ONLY || IMPL_ONLY.includes(c.impl)) &&
    !(c.impl === 'qt' && built.qt) && !(c.impl === 'floor' && built.floor));
  const trials = new Map(cases.map((c) => [c, []]));
  const t0 = Date.now();
  const before = { shm: sysvTable('shm').map((e) => e.line), sem: sysvTable('sem').map((e) => e.line) };
  for (let t = 0; t < TRIALS; t++) {
    process.stdout.write(`trial ${t + 1}/${TRIALS}: `);
    for (let i = 0; i < cases.length; i++) {
      const c = cases[(i + t) % cases.length]; // rotate the order between trials
      const list = trials.get(c);
      if (list.some((r) => r.unavailable)) continue;
      try {
        list.push(await c.trial());
        process.stdout.write('.');
      } catch (e) {
        list.push({ error: String(e.message ?? e) });
        process.stdout.write('E');
      }
    }
    process.stdout.write('\n');
  }
  // Bun and Deno (information): the same qshm peer under each runtime installed as a devDependency.
  let runtimes = null;
  if (!ONLY || ONLY.includes('runtimes')) {
    try {
      runtimes = await runtimeColumns({ batches: P.batches, lockPairs: P.pairs['qshm-file'], attachPairs: P.attachPairs['qshm-file'] });
    } catch (e) {
      notes.push(`runtimes: not measured (${e.message})`);
    }
  }
  // Windows (issue 9): node.exe under Wine, after the Linux part; one line when Wine is missing.
  const win32 = !ONLY || ONLY.includes('win32') ? await win32Bench({ quick, log }) : null;
  const leftovers = cleanup(true);
  const seconds = (Date.now() - t0) / 1000;

  // Aggregate.
  const results = { env: { ...env, loadavgEnd: loadavg().map((x) => +x.toFixed(2)) }, params: { trials: TRIALS, ...P } };
  const errors = [];
  for (const c of cases) {
    const list = trials.get(c);
    results[c.group] ??= {};
    const unavailable = list.find((r) => r.unavailable);
    const failed = list.filter((r) => r.error);
    for (const f of failed) errors.push(`${c.group} ${c.impl}: ${f.error}`);
    const ok = list.filter((r) => !r.error && !r.unavailable);
    if (unavailable) {
      results[c.group][c.impl] = { unavailable: unavailable.unavailable };
      continue;
    }
    if (!ok.length) {
      results[c.group][c.impl] = { error: failed[0]?.error ?? 'no trials' };
      continue;
    }
    const values = ok.map((r) => r.value);
    const agg = { value: median(values), min: Math.min(...values), max: Math.max(...values), trials: values };
    if (c.group === 'overhead') {
      agg.api = ok.map((r) => r.api);
      agg.bare = ok.map((r) => r.bare);
    }
    if (c.group === 'handoff' || c.group === 'pinned') {
      const all = ok.flatMap((r) => r.samples);
      const same = ok.flatMap((r) => r.same);
      agg.value = median(all);
      agg.p99 = pct(all, 99);
      // Placement: where the woken process ran, and what each placement cost.
      agg.sameShare = same.reduce((s, x) => s + x, 0) / same.length;
      agg.sameCpuMedian = median(all.filter((_, i) => same[i]));
      agg.otherCpuMedian = median(all.filter((_, i) => !same[i]));
      agg.min = Math.min(...all); // of single hand-overs (trials: per-trial medians and p99s)
      agg.max = Math.max(...all);
      agg.samples = all.length;
      agg.trials = ok.map((r) => ({ median: r.value, p99: r.p99 }));
      agg.late = ok.reduce((s, r) => s + r.late, 0);
    }
    if (c.group === 'contend') {
      agg.lost = ok.reduce((s, r) => s + r.lost, 0);
      agg.opsTotal = ok.reduce((s, r) => s + r.ops, 0);
      agg.share0 = median(ok.map((r) => r.share0));
      agg.switchesPer1000 = median(ok.map((r) => r.switchesPer1000));
    }
    if (failed.length) agg.failedTrials = failed.length;
    results[c.group][c.impl] = agg;
  }
  const sysvNotOurs = ['shm', 'sem'].flatMap((k) => sysvTable(k).map((e) => e.line).filter((l) => !before[k].includes(l)));
  results.cleanup = { leftovers, removed: leftovers.length > 0, unrelatedSysvObjectsThatAppeared: sysvNotOurs.length };
  results.notes = notes;
  results.errors = errors;
  results.seconds = seconds;

  // Print.
  log();
  const unavailable = Object.entries(results).flatMap(([g, r]) =>
    (r && typeof r === 'object' ? Object.entries(r) : []).filter(([, x]) => x?.unavailable).map(([i, x]) => `${g}/${i}: ${x.unavailable}`));
  const sysvMissing = unavailable.some((u) => u.includes('qshm-sysv'));
  if (sysvMissing) log("note: qshm's 'sysv' backend is not in dist/ yet, so its columns read n/a (" + unavailable.find((u) => u.includes('qshm-sysv')).replace(/^[^:]*: /, '') + ')');
  const rows = summarize(results);
  log(`Medians over ${TRIALS} trials (hand-off: over all ${P.rounds * TRIALS} hand-overs):`);
  log(table(rows));
  log();
  log('Detail (median, min..max over trials):');
  const detail = [['case', 'impl', 'median', 'min..max', 'unit']];
  const units = { overhead: '× bare Atomics pair', lock: 'ns/pair', contend: 'ops/s', handoff: 'µs (p99 in brackets)',
    pinned: 'µs (p99 in brackets)', attach: 'µs/pair', 'create-4k': 'µs/pair', 'create-1g': 'µs/pair', copy: 'GB/s' };
  for (const c of cases) {
    const r = results[c.group][c.impl];
    if (r.unavailable || r.error) {
      detail.push([c.group, c.impl, r.unavailable ? 'n/a' : 'error', '', '']);
      continue;
    }
    const f = c.group === 'contend' ? fmt.ops : c.group === 'lock' ? fmt.ns : c.group === 'copy' ? fmt.gbs
      : c.group === 'overhead' ? (x) => x.toFixed(2) : fmt.us;
    const extra = c.group === 'overhead' ? ` (qshm ${fmt.ns(median(r.api))} ns, bare ${fmt.ns(median(r.bare))} ns)`
      : c.group === 'handoff' || c.group === 'pinned' ? ` [${fmt.us(r.p99)}] ${fmt.share(r.sameShare)} on the unlocker's CPU` +
        ` (there ${fmt.us(r.sameCpuMedian)}, elsewhere ${fmt.us(r.otherCpuMedian)})${r.late ? ` (${r.late} late entries dropped)` : ''}`
      : c.group === 'contend'
      ? ` (lost ${r.lost}, ${r.switchesPer1000.toFixed(1)} hand-overs/1000 ops, role 0 share ${(100 * r.share0).toFixed(0)}%)` : '';
    const range = c.group === 'handoff' || c.group === 'pinned'
      ? `${fmt.us(Math.min(...r.trials.map((x) => x.median)))}..${fmt.us(Math.max(...r.trials.map((x) => x.median)))}`
      : `${f(r.min)}..${f(r.max)}`;
    detail.push([c.group, IMPLS[c.impl], f(r.value) + extra, range, units[c.group]]);
  }
  log(table(detail));
  log();
  const rs = ratios(results);
  results.targets = rs;
  log('Targets and ratios:');
  for (const r of rs) {
    const v = r.unit === '×' ? `${fmt.ratio(r.value)}×` : r.unit === 'ns' ? `${fmt.ns(r.value)} ns` : String(r.value);
    log(`  ${r.label.padEnd(38)} ${v.padStart(8)}   target ${r.target.padEnd(6)} ${r.pass === null ? '' : r.pass ? 'met' : 'NOT met'}`);
  }
  log();
  const machineLine = `Measured by \`npm run bench\` on ${env.nproc} × ${env.cpu}, Linux ${env.kernel}, Node ${env.node}` +
    `${env.qt ? `, Qt ${env.qt} (Debian qt6-base-dev)` : ''}, ${new Date().toISOString().slice(0, 10)}; medians of ${TRIALS} trials, each in fresh processes.`;
  log('README table (Markdown):');
  log(markdown(rows));
  log();
  if (runtimes) {
    results.runtimes = runtimes;
    log('qshm under Node, Bun and Deno (information):');
    log(runtimeTable(runtimes));
    log();
  }
  if (win32) {
    results.win32 = win32;
    log(win32Report(win32, { table, markdown }));
    log();
  }
  log(machineLine);
  log();
  if (errors.length) {
    log('ERRORS:');
    for (const e of errors) log(`  ${e}`);
  }
  if (leftovers.length) {
    log(`CLEANUP FAILURE: the run left these behind (now removed): ${leftovers.join(', ')}`);
  } else {
    log('cleanup: nothing left in /dev/shm, ' + tmpdir() + ' or System V IPC by this run');
  }
  if (sysvNotOurs.length) log(`(${sysvNotOurs.length} System V object(s) appeared during the run that are not ours: other processes on this machine)`);

  mkdirSync(join(here, 'results'), { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const file = join(here, 'results', `${stamp}.json`);
  const json = `${JSON.stringify({ date: new Date().toISOString(), ...results, readmeTable: markdown(rows), machineLine }, null, 2)}\n`;
  writeFileSync(file, json);
  if (flag('--latest')) writeFileSync(join(here, 'results-latest.json'), json);
  log(`wrote ${relative(root, file)}${flag('--latest') ? ' and benchmarks/results-latest.json' : ''} (${seconds.toFixed(0)} s)`);
  const lost = Object.values(results.contend ?? {}).some((r) => r.lost > 0);
  if (lost) log('FAILURE: lost updates under a lock (see the table)');
  process.exitCode = errors.length || leftovers.length || lost || (win32 && win32Failed(win32)) ? 1 : 0;
}

/** `--only win32`: the Windows table alone, its own results file (never results-latest.json). */
async function win32Only(env, log) {
  const win32 = await win32Bench({ quick, log });
  log(win32Report(win32, { table, markdown }));
  mkdirSync(join(here, 'results'), { recursive: true });
  const file = join(here, 'results', `${new Date().toISOString().replace(/[:.]/g, '-')}-win32.json`);
  writeFileSync(file, `${JSON.stringify({ date: new Date().toISOString(), env, win32 }, null, 2)}\n`);
  log(`wrote ${relative(root, file)}${flag('--latest') ? ' (--latest ignored: results-latest.json keeps the full run)' : ''}`);
  process.exitCode = win32Failed(win32) ? 1 : 0;
}

await main();
