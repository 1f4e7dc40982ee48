// SPDX-License-Identifier: MIT
// Where things are, and keys no other test uses.
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

/** The test/ directory. */
export const testDir = dirname(dirname(fileURLToPath(import.meta.url)));
/** test/fixtures: the scripts tests run as children and workers. */
export const fixtures = join(testDir, 'fixtures');
/** test/peers: the JSON-lines peers backed by real Qt (qt_peer.py) and by qshm (qshm_peer.mjs). */
export const peersDir = join(testDir, 'peers');
/** The built library (dist/), as a file: URL for children that import it. */
export const distUrl = new URL('../../dist/', import.meta.url).href;

let seq = 0;
/** A key no other test (or concurrent run) uses: `qshmtest<pid>x<seq><name>`. */
export function uniqueKey(name = 'k') {
  return `qshmtest${process.pid}x${++seq}${name}`;
}
