// The README's "Share with Qt applications" example.
import { QNativeIpcKey, QSharedMemory } from 'qshm';

const shm = new QSharedMemory('my-key', { backend: 'sysv' }); // = Qt's QSharedMemory("my-key")
const textFromQt = process.argv[2]; // a Qt 6.6+ nativeIpcKey().toString()
if (textFromQt !== undefined) {
  const q66 = new QSharedMemory(QNativeIpcKey.fromString(textFromQt));
  console.log(q66.nativeKey());
}
console.log(shm.nativeKey());
