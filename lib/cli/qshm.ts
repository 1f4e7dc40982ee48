#!/usr/bin/env node
// SPDX-License-Identifier: MIT
/**
 * The `qshm` command (package.json "bin"). Checks the platform before loading the library,
 * whose native addon and `/proc`-based inspection are Linux-only. See docs/cli.md.
 * @packageDocumentation
 */
import { writeSync } from 'node:fs';

if (process.platform !== 'linux') {
  writeSync(2, `qshm: not supported on ${process.platform}: the qshm command (ls, info, rm, dump, write, lock, create) ` +
    'needs Linux (/dev/shm, /proc and System V IPC); the library\'s segments cannot be inspected here\n');
  process.exit(1);
}
const { main } = await import('./main.js');
await main(process.argv.slice(2));
