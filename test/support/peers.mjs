// SPDX-License-Identifier: MIT
// Software nobody here wrote, and our own peers: where Debian's Python and PySide6 are, why one
// cannot run (naming the package to install), the JSON-lines peers of test/peers/ and the
// fixtures' command peers, all on LineChild; System V helpers read from /proc.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { LineChild } from './lines.mjs';
import { fixtures, peersDir } from './paths.mjs';

/** Debian's Python, which has the python3-pyqt5/6 and python3-sysv-ipc modules. */
export const debianPython = '/usr/bin/python3';

/** The Python for a binding: Debian's for PyQt5/6; a PySide6 venv ($QSHM_PYSIDE_PYTHON or /tmp/pyside). */
export function pythonFor(binding) {
  if (binding !== 'PySide6') return debianPython;
  return process.env.QSHM_PYSIDE_PYTHON || '/tmp/pyside/bin/python';
}

const pythonModules = {
  PyQt6: ['PyQt6.QtCore', 'Debian package python3-pyqt6'],
  PyQt5: ['PyQt5.QtCore', 'Debian package python3-pyqt5'],
  PySide6: ['PySide6.QtCore', 'PySide6-Essentials (pip, in a venv at /tmp/pyside or $QSHM_PYSIDE_PYTHON)'],
  sysv_ipc: ['sysv_ipc', 'Debian package python3-sysv-ipc'],
  shared_memory: ['multiprocessing.shared_memory', 'Python 3.8+ (multiprocessing.shared_memory)'],
};

/** Why `binding` (a key of the table above) cannot run here, naming the package to install; null when it can. */
export function missing(binding) {
  const py = pythonFor(binding);
  const [mod, pkg] = pythonModules[binding];
  if (!existsSync(py)) return `${pkg} is not installed (${py} missing)`;
  const r = spawnSync(py, ['-c', `import ${mod}`], { encoding: 'utf8' });
  return r.status === 0 ? null : `${pkg} is not installed (${r.stderr.trim().split('\n').pop()})`;
}

/**
 * Why a command cannot run here (`probe` is argv, e.g. ['cc', '--version']), naming what to
 * install (`need`, e.g. 'the Debian package gcc'); null when it exits 0.
 */
export function missingCommand(probe, need) {
  const r = spawnSync(probe[0], probe.slice(1), { encoding: 'utf8' });
  if (r.status === 0) return null;
  const why = r.error?.message ?? (r.stderr.trim().split('\n').pop() || `exit ${r.status ?? r.signal}`);
  return `needs ${need} (\`${probe.join(' ')}\`: ${why})`;
}

/**
 * A test/peers peer: `qt_peer.py <binding>` with real Qt, or (binding 'qshm') qshm_peer.mjs.
 * `cmd(op, fields)` sends one JSON command and resolves with its reply; after the test it is
 * closed (it drops its object, so Qt removes what it created) rather than killed.
 */
export class QtPeer extends LineChild {
  /** Starts one; resolves once it is ready (its hello is in `hello`). */
  static async start(binding) {
    const opts = { name: `${binding} peer`, dispose: (p) => p.close() };
    const peer = binding === 'qshm'
      ? QtPeer.node(join(peersDir, 'qshm_peer.mjs'), [], opts)
      : QtPeer.spawn(pythonFor(binding), [join(peersDir, 'qt_peer.py'), binding], opts);
    peer.hello = await peer.next();
    return peer;
  }

  cmd(op, fields = {}, ms = undefined) {
    return super.cmd({ op, ...fields }, ms);
  }

  /**
   * Lets it drop its object and exit (a no-op when it is gone already). A peer that does not
   * answer within 5 s (stuck in a failed test) is killed, so no test leaves processes behind.
   */
  async close() {
    if (!this.dead) {
      try {
        await this.cmd('exit', {}, 5000);
      } catch {
        this.kill();
      }
      this.endInput();
      await this.end(5000);
    }
    return this.exited;
  }
}

/** A test/fixtures/lock-agent.mjs child process (or worker thread), ready for commands. */
export async function lockAgent({ worker = false } = {}) {
  const file = join(fixtures, 'lock-agent.mjs');
  const p = worker ? LineChild.worker(file, { worker: true }, { name: 'lock-agent worker', timeoutMs: 10000 })
    : LineChild.node(file, [], { name: 'lock-agent', timeoutMs: 10000 });
  expect(await p.next()).to.deep.equal({ ready: true });
  return p;
}

const CORE_PEER = join(fixtures, 'core-peer.mjs');

/**
 * A test/fixtures/core-peer.mjs run: it plays its steps and reports one message per step;
 * `result(op)` skips to the report of the next step named `op`, `event(name)` to the next
 * event, `send()` answers a 'wait' step.
 */
class CorePeer extends LineChild {
  result(op) {
    return this.until((m) => m.op === op);
  }

  event(name) {
    return this.until((m) => m.event === name);
  }

  send(line = 'go') {
    super.send(line);
  }
}

/** Starts core-peer.mjs with `steps` in a child process (options: execArgv, env, noCoreDump, uid, gid). */
export const peerProcess = (steps, opts = {}) =>
  CorePeer.node(CORE_PEER, [JSON.stringify(steps)], { ...opts, name: 'core-peer', timeoutMs: 60000 });
/** Starts core-peer.mjs with `steps` in a worker thread. */
export const peerWorker = (steps) =>
  CorePeer.worker(CORE_PEER, { corePeer: true, steps }, { name: 'core-peer worker', timeoutMs: 60000 });

/** glibc's ftok(path, proj) computed from stat(): (proj << 24) | (dev & 0xff) << 16 | (ino & 0xffff). */
export function ftokOf(path, proj = 0x51) {
  const st = statSync(path);
  return ((proj & 0xff) << 24 | (Number(st.dev) & 0xff) << 16 | (Number(st.ino) & 0xffff)) >>> 0;
}

/** The System V objects of `kind` ('shm' or 'sem') as { key, id }, from /proc/sysvipc. */
function sysvObjects(kind) {
  return readFileSync(`/proc/sysvipc/${kind}`, 'utf8').trim().split('\n').slice(1)
    .map((l) => l.trim().split(/\s+/)).map(([key, id]) => ({ key: Number(key), id: Number(id) }));
}

/** Whether a System V object with `key` exists (`kind` 'shm' or 'sem'). */
export function sysvKeyExists(kind, key) {
  const want = key | 0;
  return sysvObjects(kind).some((o) => o.key === want);
}

/** Whether the System V object with `id` still exists (`kind` 'shm' or 'sem'). */
export function sysvIdExists(kind, id) {
  return sysvObjects(kind).some((o) => o.id === id);
}
