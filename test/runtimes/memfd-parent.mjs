// SPDX-License-Identifier: MIT
// Run by Node, Bun or Deno (argv: CHILD_RUNTIME N | CHILD_RUNTIME readonly): creates a memfd
// segment, hands it to a child of CHILD_RUNTIME (node, bun or deno) with spawnWithSegment, and
// runs test/fixtures/memfd-child.mjs's "counter" protocol with it: text each way, then N locked increments on each side. Prints one
// JSON line: what the child said first, its reply, the final counter and the child's exit.
// With "readonly": hands the segment over read-only (Deno with its narrow flags) to
// memfd-ro-child.mjs and prints what it got and whether this side's first byte stayed 0.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { QSharedMemory, spawnWithSegment } from '../../dist/index.js';
import { fixtures } from '../helpers.mjs';
import { LineChild } from './runtime.mjs';

const TEXT = 0;
const COUNTER = 64;
const GO = 68;
const REPLY = 128;
const text = (buf, at) => buf.toString('latin1', at, buf.indexOf(0, at));

const [childRuntime, nText] = process.argv.slice(2);
const n = Number(nText);
const shm = new QSharedMemory(undefined, { backend: 'memfd' });
if (!shm.create(4096)) throw new Error(shm.errorString());
const data = shm.data();
if (nText === 'readonly') {
  const c = new LineChild(childRuntime, fileURLToPath(new URL('memfd-ro-child.mjs', import.meta.url)), [], {
    spawnFn: (cmd, args, opts) => spawnWithSegment(shm, cmd, args, { ...opts, readOnly: true }),
  });
  const got = await c.next();
  const exit = await c.exited;
  process.stdout.write(`${JSON.stringify({ ...got, byte0: data[0], exit, stderr: c.err })}\n`);
  shm.detach();
  process.exit(0);
}
data.write('hello from the parent\0', TEXT, 'latin1');
const c = new LineChild(childRuntime, join(fixtures, 'memfd-child.mjs'), ['counter', n], {
  spawnFn: (cmd, args, opts) => spawnWithSegment(shm, cmd, args, opts),
  denoAll: true, // the fixture checks /proc/self/fd/N, which Deno allows only with --allow-all
});
const first = await c.next();
const until = Date.now() + 20000;
while (text(data, REPLY) === '' && Date.now() < until);
const reply = text(data, REPLY);
Atomics.store(new Int32Array(data.buffer, data.byteOffset, data.length >> 2), GO / 4, 1);
for (let i = 0; i < n; i++) {
  if (!shm.lock()) throw new Error(shm.errorString());
  data.writeUInt32LE(data.readUInt32LE(COUNTER) + 1, COUNTER);
  shm.unlock();
}
const done = await c.next();
const exit = await c.exited;
const counter = data.readUInt32LE(COUNTER);
shm.detach();
process.stdout.write(`${JSON.stringify({ first, reply, done, counter, exit, stderr: c.err })}\n`);
