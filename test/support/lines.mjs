// SPDX-License-Identifier: MIT
// The one driver for children and workers that speak a line protocol: a child process writes
// lines on stdout (JSON or plain text) and reads lines on stdin; a worker thread posts and
// receives messages. Every one started is registered and stopped by stopChildren(), which the
// root afterEach hook (test/hooks.mjs) calls after each test.
import { spawn } from 'node:child_process';
import { Worker } from 'node:worker_threads';

const live = new Set();

const parsers = {
  /** Each line is a JSON value. */
  json: (l) => JSON.parse(l),
  /** Each line as it is. */
  text: (l) => l,
  /** JSON when it parses, else { unparsed: line }. */
  lenient: (l) => {
    try {
      return JSON.parse(l);
    } catch {
      return { unparsed: l };
    }
  },
};

/** Rejects if `p` does not settle within `ms` (so a deadlock fails the test with a reason). */
export function within(p, ms, what) {
  let timer;
  const limit = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing after ${ms} ms`)), ms);
  });
  return Promise.race([p, limit]).finally(() => clearTimeout(timer));
}

/**
 * A running child process or worker thread. `next()` resolves with its next line/message in
 * order (rejecting after a per-call timeout, or when it ends first), `send()` writes one,
 * `cmd()` does both; `exited` resolves with { code, signal, stderr }. `log` keeps everything
 * received.
 */
export class LineChild {
  #queue = [];
  #waiting = [];
  #buf = '';
  #ended = null;
  #dispose;
  stderr = '';
  log = [];

  /**
   * Use the static constructors. `handle` is a ChildProcess or a Worker. Options: `parse`
   * ('json' | 'text' | 'lenient'), `timeoutMs` (default for next()), `name` (for messages),
   * `dispose` (how stopChildren() ends it; default kill()).
   */
  constructor(handle, { parse = 'json', timeoutMs = 30000, name, dispose } = {}) {
    this.child = handle;
    this.kind = handle instanceof Worker ? 'worker' : 'process';
    this.name = name ?? this.kind;
    this.timeoutMs = timeoutMs;
    this.#dispose = dispose ?? ((c) => c.kill());
    let exit;
    if (this.kind === 'worker') {
      handle.on('message', (m) => this.#push(m));
      handle.on('error', (e) => (this.stderr += String(e?.stack ?? e)));
      handle.stderr?.setEncoding('utf8').on('data', (d) => (this.stderr += d));
      exit = new Promise((r) => handle.once('exit', (code) => r({ code, signal: null })));
    } else {
      const parseLine = parsers[parse];
      // Decoded as a stream, so a character split between two chunks stays whole.
      handle.stdout?.setEncoding('utf8').on('data', (d) => this.#data(d, parseLine));
      handle.stderr?.setEncoding('utf8').on('data', (d) => (this.stderr += d));
      handle.stdin?.on('error', () => {}); // it may be killed while we write
      exit = new Promise((r) => {
        handle.once('error', (e) => {
          this.stderr += String(e?.stack ?? e);
          r({ code: null, signal: null });
        });
        handle.once('close', (code, signal) => {
          if (this.#buf) this.#push(parseLine(this.#buf));
          r({ code, signal });
        });
      });
    }
    this.exited = exit.then((r) => {
      this.#ended = { ...r, stderr: this.stderr };
      live.delete(this);
      for (const w of this.#waiting.splice(0)) w.reject(this.#endError());
      return this.#ended;
    });
    live.add(this);
  }

  /** Spawns `cmd args` (options as spawn's: env, uid, gid; plus `noCoreDump` and the constructor's). */
  static spawn(cmd, args = [], { env, uid, gid, noCoreDump = false, ...opts } = {}) {
    const argv = args.map(String);
    const spawnOpts = { env: env ?? process.env, uid, gid, stdio: ['pipe', 'pipe', 'pipe'] };
    // A child that is meant to crash must not write a core file into the working tree.
    const child = noCoreDump
      ? spawn('/bin/sh', ['-c', 'ulimit -c 0; exec "$0" "$@"', cmd, ...argv], spawnOpts)
      : spawn(cmd, argv, spawnOpts);
    return new this(child, opts);
  }

  /** Runs a Node script (a path, with `execArgv` before it) in a child process. */
  static node(script, args = [], { execArgv = [], ...opts } = {}) {
    return this.spawn(process.execPath, [...execArgv, script, ...args], opts);
  }

  /** Runs an ES module given as source text in a child process (`args` become process.argv[1...]). */
  static nodeEval(source, { args = [], env, ...opts } = {}) {
    return this.spawn(process.execPath, ['--input-type=module', '-e', source, ...args],
      { env: { ...process.env, ...env }, ...opts });
  }

  /** Starts a worker thread on `file` (a path or URL) with `workerData`. */
  static worker(file, workerData, opts = {}) {
    return new this(new Worker(file, { workerData, stderr: true }), opts);
  }

  /** Takes over a ChildProcess started elsewhere (e.g. by spawnWithSegment). */
  static wrap(child, opts) {
    return new this(child, opts);
  }

  #data(d, parseLine) {
    this.#buf += d;
    let i;
    while ((i = this.#buf.indexOf('\n')) >= 0) {
      const line = this.#buf.slice(0, i);
      this.#buf = this.#buf.slice(i + 1);
      this.#push(parseLine(line));
    }
  }

  #push(m) {
    this.log.push(m);
    const w = this.#waiting.shift();
    if (w) w.resolve(m);
    else this.#queue.push(m);
  }

  #endError() {
    const r = this.#ended;
    return new Error(`${this.name} ended (code ${r.code}, signal ${r.signal}) after ${JSON.stringify(this.log)}\nstderr: ${this.stderr}`);
  }

  /** Its pid (child processes). */
  get pid() {
    return this.child.pid;
  }

  /** Whether it has ended. */
  get dead() {
    return this.#ended !== null;
  }

  /** Lines received and not yet taken. */
  get pending() {
    return this.#queue.length;
  }

  /** The next line/message; rejects if nothing comes within `ms` or it ends first. */
  next(ms = this.timeoutMs) {
    if (this.#queue.length) return Promise.resolve(this.#queue.shift());
    if (this.#ended) return Promise.reject(this.#endError());
    return new Promise((resolve, reject) => {
      const w = {
        resolve: (v) => (clearTimeout(timer), resolve(v)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      };
      const timer = setTimeout(() => {
        this.#waiting.splice(this.#waiting.indexOf(w), 1);
        reject(new Error(`${this.name}: nothing after ${ms} ms; received ${JSON.stringify(this.log)}\nstderr: ${this.stderr}`));
      }, ms);
      this.#waiting.push(w);
    });
  }

  /** The next line/message for which `pred` holds (earlier ones are skipped). */
  async until(pred, ms) {
    for (;;) {
      const m = await this.next(ms);
      if (pred(m)) return m;
    }
  }

  /** Sends one line (a string as it is, anything else as JSON) or, to a worker, one message. */
  send(msg) {
    if (this.kind === 'worker') this.child.postMessage(msg);
    else this.child.stdin.write(`${typeof msg === 'string' ? msg : JSON.stringify(msg)}\n`);
  }

  /** Sends a command and resolves with the next line/message. */
  cmd(msg, ms) {
    this.send(msg);
    return this.next(ms);
  }

  /** Ends its input (after a last line, if given); a worker just gets the last message. */
  endInput(last) {
    if (this.kind === 'worker') {
      if (last !== undefined) this.child.postMessage(last);
    } else this.child.stdin.end(last === undefined ? undefined : `${last}\n`);
  }

  /** Kills it (a worker: terminate()); resolves when it is gone. */
  kill(signal = 'SIGKILL') {
    if (this.#ended) return this.exited;
    if (this.kind === 'worker') this.child.terminate();
    else this.child.kill(signal);
    return this.exited;
  }

  /** Waits for it to exit by itself, killing it after `ms`. */
  async end(ms = this.timeoutMs) {
    const timer = setTimeout(() => this.kill(), ms);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Stops it the way it was told to be stopped (default: kill()). */
  dispose() {
    return this.#ended ? this.exited : this.#dispose(this);
  }
}

/** Stops every LineChild still running (the root afterEach hook calls this). */
export async function stopChildren() {
  await Promise.all([...live].map((c) => c.dispose()));
}
