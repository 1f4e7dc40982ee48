// SPDX-License-Identifier: MIT
// The child side of LineChild's protocol, for fixtures that run as a child process (JSON lines
// on stdout, lines on stdin) or as a worker thread (messages both ways).
import { isMainThread, parentPort } from 'node:worker_threads';
import { createInterface } from 'node:readline';

/** Sends one message to the parent: a JSON line on stdout, or a message from a worker thread. */
export function say(msg) {
  if (isMainThread) process.stdout.write(`${JSON.stringify(msg)}\n`);
  else parentPort.postMessage(msg);
}

/**
 * Calls `handler` with each line from the parent (a worker: each message) and, in a process,
 * `onEnd` when stdin closes first. Returns a function that stops listening (and lets the process end).
 */
export function onInput(handler, onEnd) {
  if (!isMainThread) {
    parentPort.on('message', handler);
    return () => parentPort.off('message', handler);
  }
  const rl = createInterface({ input: process.stdin });
  let stopped = false;
  rl.on('line', handler);
  rl.on('close', () => {
    if (!stopped) onEnd?.();
  });
  return () => {
    stopped = true;
    rl.close();
    process.stdin.destroy();
  };
}
