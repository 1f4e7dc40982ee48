// SPDX-License-Identifier: MIT
// Drives the JSON-lines peers in this directory (qt_peer.py with real Qt, qshm_peer.mjs).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { debianPython } from '../helpers.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const REPLY_TIMEOUT_MS = 30000;

/** The Python for a binding: Debian's for PyQt5/6; a PySide6 venv ($QSHM_PYSIDE_PYTHON or /tmp/pyside). */
export function pythonFor(binding) {
  if (binding !== 'PySide6') return debianPython;
  return process.env.QSHM_PYSIDE_PYTHON || '/tmp/pyside/bin/python';
}

/** Why `binding` cannot run here (naming the package to install), or null when it can. */
export function missing(binding) {
  const py = pythonFor(binding);
  const pkg = {
    PyQt6: 'Debian package python3-pyqt6',
    PyQt5: 'Debian package python3-pyqt5',
    PySide6: 'PySide6-Essentials (pip, in a venv at /tmp/pyside or $QSHM_PYSIDE_PYTHON)',
    sysv_ipc: 'Debian package python3-sysv-ipc',
    shared_memory: 'Python 3.8+ (multiprocessing.shared_memory)',
  }[binding];
  const mod = { PyQt6: 'PyQt6.QtCore', PyQt5: 'PyQt5.QtCore', PySide6: 'PySide6.QtCore', sysv_ipc: 'sysv_ipc', shared_memory: 'multiprocessing.shared_memory' }[binding];
  if (!existsSync(py)) return `${pkg} is not installed (${py} missing)`;
  const r = spawnSync(py, ['-c', `import ${mod}`], { encoding: 'utf8' });
  return r.status === 0 ? null : `${pkg} is not installed (${r.stderr.trim().split('\n').pop()})`;
}

/** A running peer process. */
export class Peer {
  #child;
  #lines;
  #pending = [];
  #exited;
  stderr = '';

  constructor(child) {
    this.#child = child;
    child.stderr.on('data', (d) => (this.stderr += d));
    this.#lines = createInterface({ input: child.stdout });
    this.#lines.on('line', (l) => this.#pending.shift()?.resolve(JSON.parse(l)));
    this.#exited = new Promise((r) => child.on('exit', (code, signal) => r({ code, signal })));
    this.#exited.then(() => {
      for (const p of this.#pending.splice(0)) p.reject(new Error(`peer exited; stderr: ${this.stderr}`));
    });
  }

  /** Starts `qt_peer.py <binding>` or (binding 'qshm') `qshm_peer.mjs`; resolves once it is ready. */
  static async start(binding) {
    const child = binding === 'qshm'
      ? spawn(process.execPath, [join(here, 'qshm_peer.mjs')], { stdio: ['pipe', 'pipe', 'pipe'] })
      : spawn(pythonFor(binding), [join(here, 'qt_peer.py'), binding], { stdio: ['pipe', 'pipe', 'pipe'] });
    const peer = new Peer(child);
    peer.hello = await peer.#next();
    return peer;
  }

  get pid() {
    return this.#child.pid;
  }

  #next() {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`peer did not answer in time; stderr: ${this.stderr}`)), REPLY_TIMEOUT_MS);
      this.#pending.push({
        resolve: (v) => (clearTimeout(timer), resolve(v)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      });
    });
  }

  /** Sends one command; resolves with its reply. */
  cmd(op, fields = {}) {
    const reply = this.#next();
    this.#child.stdin.write(`${JSON.stringify({ op, ...fields })}\n`);
    return reply;
  }

  /** Kills it with `signal`; resolves when it is gone. */
  kill(signal = 'SIGKILL') {
    this.#child.kill(signal);
    return this.#exited;
  }

  /**
   * Lets it drop its object and exit (a no-op when it is gone already). A peer that does not
   * answer within 5 s (stuck in a failed test) is killed, so no test leaves processes behind.
   */
  async close() {
    if (this.#child.exitCode === null && this.#child.signalCode === null) {
      const timer = setTimeout(() => this.#child.kill('SIGKILL'), 5000);
      try {
        await this.cmd('exit');
      } catch {
        this.#child.kill('SIGKILL');
      }
      this.#child.stdin.end();
      await this.#exited;
      clearTimeout(timer);
    }
    return this.#exited;
  }
}

/** glibc's ftok(path, proj) computed from stat(): (proj << 24) | (dev & 0xff) << 16 | (ino & 0xffff). */
export function ftokOf(path, proj = 0x51) {
  const st = statSync(path);
  return ((proj & 0xff) << 24 | (Number(st.dev) & 0xff) << 16 | (Number(st.ino) & 0xffff)) >>> 0;
}

/** Whether a System V object with `key` exists (`kind` 'shm' or 'sem'), from /proc/sysvipc. */
export function sysvKeyExists(kind, key) {
  const want = key | 0;
  return readFileSync(`/proc/sysvipc/${kind}`, 'utf8').trim().split('\n').slice(1)
    .some((l) => Number(l.trim().split(/\s+/)[0]) === want);
}
