// SPDX-License-Identifier: MIT
// The qshm side of test/peers/qt_peer.py's protocol, as a separate process (for the tests
// that kill a qshm lock holder). Usage: node qshm_peer.mjs; the same JSON-lines commands,
// plus `backend` on 'new' (default 'sysv').
import { createInterface } from 'node:readline';
import { QNativeIpcKey, QSharedMemory } from '../../dist/index.js';

let shm = null;
const say = (m) => process.stdout.write(`${JSON.stringify(m)}\n`);
say({ ready: true, qt: 'qshm' });
for await (const line of createInterface({ input: process.stdin })) {
  const cmd = JSON.parse(line);
  let ok = true;
  let value = null;
  switch (cmd.op) {
    case 'new':
      if (cmd.ipc !== undefined) shm = new QSharedMemory(QNativeIpcKey.fromString(cmd.ipc));
      else {
        shm = new QSharedMemory(undefined, { backend: cmd.backend ?? 'sysv' });
        if (cmd.native !== undefined) shm.setNativeKey(cmd.native, cmd.type);
        else shm.setKey(cmd.key ?? '');
      }
      break;
    case 'create': ok = shm.create(cmd.size, cmd.mode ?? 1); break;
    case 'attach': ok = shm.attach(cmd.mode ?? 1); break;
    case 'detach': ok = shm.detach(); break;
    case 'size': value = shm.size(); break;
    case 'nativeKey': value = shm.nativeKey(); break;
    case 'write': Buffer.from(cmd.hex, 'hex').copy(shm.data(), cmd.offset); break;
    case 'read': value = shm.data().subarray(cmd.offset, cmd.offset + cmd.len).toString('hex'); break;
    case 'lock': ok = shm.lock(); break;
    case 'unlock': ok = shm.unlock(); break;
    case 'exit':
      shm?.detach();
      say({ ok: true });
      process.exit(0);
      break;
    default: ok = false; value = `unknown op ${cmd.op}`;
  }
  say({ ok, value, error: shm?.error(), errorString: shm?.errorString() });
}
