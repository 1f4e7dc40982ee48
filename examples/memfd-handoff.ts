// The README's "Hand memory to a child process" example.
import { QSharedMemory, spawnWithSegment } from 'qshm';

if (process.env.QSHM_FD) {
  // child
  const shm = QSharedMemory.fromInherited();
  shm.withLock(() => console.log(shm.data()?.toString('utf8', 0, 5)));
  shm.detach();
} else {
  // parent
  const shm = new QSharedMemory('demo', { backend: 'memfd' });
  if (!shm.create(4096)) throw new Error(shm.errorString());
  shm.seal({ shrink: true, grow: true }); // the child cannot truncate it
  shm.withLock(() => shm.data()?.write('hello'));
  spawnWithSegment(shm, process.execPath, [process.argv[1] ?? ''], { stdio: 'inherit' })
    .on('exit', () => shm.detach());
}
