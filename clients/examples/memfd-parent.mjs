// memfd-parent: hand an anonymous (memfd) segment to a child program in any language.
// Writes a greeting, runs the child with the segment as descriptor 3 (QSHM_FD=3), then prints
// what the child wrote back. Run from the repository:
//
//   node clients/examples/memfd-parent.mjs ./memfd_child                                    # C
//   node clients/examples/memfd-parent.mjs python3 clients/python/examples/memfd_child.py  # Python
// SPDX-License-Identifier: MIT
import { QSharedMemory, spawnWithSegment } from 'qshm';

const shm = new QSharedMemory('demo', { backend: 'memfd' });
if (!shm.create(4096)) throw new Error(shm.errorString());
const text = () => shm.data().toString('utf8', 0, shm.data().indexOf(0));
shm.withLock(() => shm.data().write('hello from Node\0'));
const [command, ...args] = process.argv.slice(2);
spawnWithSegment(shm, command, args, { stdio: 'inherit' }).on('exit', (code) => {
  shm.withLock(() => console.log(`parent read: ${text()}`));
  shm.detach();
  process.exitCode = code ?? 1;
});
