// The README's first example: two processes share a segment under the lock.
// Run `node quick-start.js a` and, within a second, `node quick-start.js b`.
import { QSharedMemory } from 'qshm';

if (process.argv[2] !== 'b') {
  // process A
  const shm = new QSharedMemory('example'); // both processes use the same key
  if (!shm.create(1024)) throw new Error(shm.errorString());
  shm.withLock(() => shm.data()?.write('hello from A')); // data() is null only when not attached
  setTimeout(() => shm.detach(), 1000); // the last detach removes the segment
} else {
  // process B
  const peer = new QSharedMemory('example');
  if (!peer.attach()) throw new Error(peer.errorString()); // NotFound until A has created it
  const data = peer.data();
  if (data === null) throw new Error('not attached');
  peer.lock();
  console.log(data.toString('utf8', 0, 12));
  peer.unlock();
  peer.detach();
}
