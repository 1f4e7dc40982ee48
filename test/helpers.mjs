// SPDX-License-Identifier: MIT
// Shared test helpers: unique keys, child processes, leftover detection.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

export const testDir = dirname(fileURLToPath(import.meta.url));
export const fixtures = join(testDir, 'fixtures');
/** Debian's Python, which has the python3-pyqt5/6 and python3-sysv-ipc modules. */
export const debianPython = '/usr/bin/python3';

let seq = 0;
/** A key no other test (or concurrent run) uses: `qshmtest<pid>x<seq><name>`. */
export function uniqueKey(name = 'k') {
  return `qshmtest${process.pid}x${++seq}${name}`;
}

/**
 * Runs a command; resolves with { code, signal, stdout, stderr }. Rejects on timeout
 * (after killing it).
 */
export function run(cmd, args, { timeoutMs = 60000, input, env, onSpawn, stdio } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: env ?? process.env, stdio: stdio ?? ['pipe', 'pipe', 'pipe'] });
    onSpawn?.(child);
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d) => (stdout += d));
    child.stderr?.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${cmd} ${args.join(' ')} timed out after ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    if (input !== undefined) child.stdin?.end(input);
    else child.stdin?.end();
  });
}

/** Runs a Node fixture script (test/fixtures/NAME) with args. */
export function runNode(fixture, args = [], opts) {
  return run(process.execPath, [join(fixtures, fixture), ...args.map(String)], opts);
}

/** IPC objects and files that a qshm or Qt segment could leave behind. */
export function leftovers() {
  const out = [];
  for (const f of readdirSync('/dev/shm')) {
    if (/^(qipc_|qshm|sem\.qipc_|sem\.qshm|qshmtest)/.test(f)) out.push(`/dev/shm/${f}`);
  }
  // Qt and qshm put System V key files in $TMPDIR (QDir::tempPath()), /tmp by default.
  const tmp = process.env.TMPDIR || '/tmp';
  for (const f of readdirSync(tmp)) {
    if (f.startsWith('qipc_')) out.push(join(tmp, f));
  }
  for (const kind of ['shm', 'sem']) {
    const lines = readFileSync(`/proc/sysvipc/${kind}`, 'utf8').trim().split('\n').slice(1);
    for (const l of lines) if (l.trim()) out.push(`sysv ${kind}: ${l.trim().split(/\s+/).slice(0, 3).join(' ')}`);
  }
  return out;
}
