// SPDX-License-Identifier: MIT
// Which JavaScript runtime runs this file, and how to start a script under each of Node, Bun and
// Deno (for the mixed-runtime tests in test/runtimes/). Bun and Deno come from the npm registry as
// devDependencies (node_modules/.bin/bun, node_modules/.bin/deno); Node is the `node` on PATH.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { testDir } from '../helpers.mjs';

export const root = join(testDir, '..');

/** 'bun', 'deno' or 'node'. */
export const runtime = globalThis.Bun ? 'bun' : globalThis.Deno ? 'deno' : 'node';

/** This runtime's own version string ("1.4.5", "2.9.6", "20.20.2"). */
export const runtimeVersion =
  runtime === 'bun' ? globalThis.Bun.version : runtime === 'deno' ? globalThis.Deno.version.deno : process.versions.node;

/**
 * The permissions of the Deno children the tests start (docs/runtimes.md): --allow-ffi to load
 * the Node-API addon, --allow-read for the loader's existsSync/require of it, --allow-env for
 * QSHM_NATIVE_BINDING, TMPDIR and the like, --allow-run for their own children. Receiving a
 * memfd descriptor needs --allow-all instead (`denoAll`).
 */
export const denoFlags = [
  `--allow-ffi=${join(root, 'build')}`,
  '--allow-read',
  '--allow-env',
  '--allow-run',
];

function onPath(name) {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const f = join(dir, name);
    if (dir && existsSync(f)) return f;
  }
  return null;
}

/** The executable of each runtime, or null when it is not installed. */
export const executables = {
  node: runtime === 'node' ? process.execPath : onPath('node'),
  bun: existsSync(join(root, 'node_modules', '.bin', 'bun')) ? join(root, 'node_modules', '.bin', 'bun') : onPath('bun'),
  deno: existsSync(join(root, 'node_modules', '.bin', 'deno')) ? join(root, 'node_modules', '.bin', 'deno') : onPath('deno'),
};

/**
 * [command, args] that run `script args…` under runtime `rt`. `denoAll`: run Deno with
 * --allow-all, which Deno demands for any read of /proc/self/fd* (see docs/runtimes.md).
 */
export function commandFor(rt, script, args = [], { denoAll = false } = {}) {
  const exe = executables[rt];
  if (!exe) throw new Error(`${rt} is not installed: run npm install (it is a devDependency)`);
  const deno = denoAll ? ['--allow-all'] : denoFlags;
  const extra = rt === 'deno' ? ['run', ...deno, '--v8-flags=--expose-gc'] : rt === 'node' ? ['--expose-gc'] : [];
  return [exe, [...extra, script, ...args.map(String)]];
}

/** Runs a full garbage collection if this runtime lets a script ask for one; false if not. */
export function collectGarbage() {
  if (runtime === 'bun') {
    globalThis.Bun.gc(true);
    return true;
  }
  if (typeof globalThis.gc === 'function') {
    globalThis.gc();
    return true;
  }
  return false;
}

/**
 * A child process that speaks one JSON object per stdout line. `next()` resolves with the next
 * one; `send(line)` writes a command line; `exited` resolves with { code, signal }.
 * `spawnFn(command, args, options)` replaces child_process.spawn (e.g. spawnWithSegment).
 */
export class LineChild {
  constructor(rt, script, args = [], { spawnFn = spawn, env, denoAll } = {}) {
    const [cmd, argv] = commandFor(rt, script, args, { denoAll });
    this.rt = rt;
    this.child = spawnFn(cmd, argv, { stdio: ['pipe', 'pipe', 'pipe'], env: env ?? process.env });
    this.lines = [];
    this.waiters = [];
    this.err = '';
    let buf = '';
    this.child.stdout.setEncoding('utf8');
    this.child.stdout.on('data', (d) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (!line.trim()) continue;
        const w = this.waiters.shift();
        if (w) w.resolve(line);
        else this.lines.push(line);
      }
    });
    this.child.stderr.on('data', (d) => (this.err += d));
    this.exited = new Promise((resolve) => {
      this.child.on('close', (code, signal) => {
        for (const w of this.waiters.splice(0)) w.reject(new Error(`${rt} child exited (${code ?? signal}): ${this.err}`));
        resolve({ code, signal });
      });
    });
  }

  /** The next JSON line, or a rejection after `timeoutMs` or when the child exits first. */
  next(timeoutMs = 30000) {
    const queued = this.lines.shift();
    if (queued !== undefined) return Promise.resolve(JSON.parse(queued));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.rt} child said nothing for ${timeoutMs} ms: ${this.err}`)), timeoutMs);
      this.waiters.push({
        resolve: (l) => (clearTimeout(timer), resolve(JSON.parse(l))),
        reject: (e) => (clearTimeout(timer), reject(e)),
      });
    });
  }

  send(line) {
    this.child.stdin.write(`${line}\n`);
  }

  async ask(line) {
    this.send(line);
    return this.next();
  }

  /**
   * SIGKILLs the child (if still running) and waits for it. The signal goes straight to its pid
   * with `process.kill`: under Deno, `ChildProcess.kill('SIGKILL')` sometimes let the child exit
   * cleanly first (its exit hook removed its segment; "crash reclaim" failed 7 times in 145 runs,
   * 0 in 40 this way). Our guess, not verified: Deno closes the child's stdin before signalling,
   * and the agents end when their input ends.
   */
  async kill() {
    if (this.child.exitCode === null && this.child.signalCode === null) process.kill(this.child.pid, 'SIGKILL');
    return this.exited;
  }
}
