// SPDX-License-Identifier: MIT
// One-shot commands: run to the end and collect the output.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fixtures } from './paths.mjs';

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
