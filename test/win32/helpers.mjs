// SPDX-License-Identifier: MIT
// Helpers of the Windows (Wine) suite: unique keys, Windows node.exe children driven over
// fork IPC, and the leftover scan of the segment directory.
import { fork } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export { uniqueKey } from '../helpers.mjs';

/** The default segment directory of the Windows 'file' backend. */
export const segmentDir = join(tmpdir(), 'qshm');

/** A Windows node.exe child running fixtures/agent.mjs; `call(msg)` resolves with its answer. */
export async function agent() {
  const child = fork(join(here, 'fixtures', 'agent.mjs'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const waiting = [];
  child.on('message', (m) => waiting.shift()?.(m));
  child.exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  child.call = (msg) => new Promise((resolve) => { waiting.push(resolve); child.send(msg); });
  child.tell = (msg) => child.send(msg);
  const ready = await new Promise((resolve) => waiting.push(resolve));
  child.winPid = ready.pid;
  child.close = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
    }
    return child.exited;
  };
  return child;
}

/** qshm files left in the segment directory. */
export function leftovers() {
  return existsSync(segmentDir) ? readdirSync(segmentDir).filter((f) => f.startsWith('qipc_')).map((f) => join(segmentDir, f)) : [];
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls `cond` until true or `ms` runs out. */
export async function until(cond, ms = 5000) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) return false;
    await sleep(20);
  }
  return true;
}
