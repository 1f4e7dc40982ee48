// SPDX-License-Identifier: MIT
// Proof against real Qt: the 'sysv' backend shares segments and the lock with Qt 6.4.2
// (Debian python3-pyqt6) and Qt 5.15.8 (Debian python3-pyqt5), in both directions; the
// 'posix' backend with Python's multiprocessing.shared_memory; numeric keys with sysv_ipc;
// and (optional) Qt 6.11 through PySide6 for QNativeIpcKey strings and POSIX keys.
import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { AccessMode, IpcKeyType, QNativeIpcKey, QSharedMemory, SharedMemoryError as E } from '../dist/index.js';
import {
  QtPeer, debianPython, ftokOf, missing, run, skipIf, sysvKeyExists, track, uniqueKey,
} from './helpers.mjs';

const N = 10000;
const SYSV = { backend: 'sysv' };

/** Everything a legacy key can leave behind: both key files and both System V objects. */
function traces(key) {
  const shmPath = QSharedMemory.legacyNativeKey(key).nativeKey;
  const semPath = shmPath.replace('/qipc_sharedmemory_', '/qipc_systemsem_');
  return { shmPath, semPath };
}

/** Records the ftok keys while the files exist, so their absence can be checked later. */
function keysOf({ shmPath, semPath }) {
  return { shmKey: ftokOf(shmPath), semKey: ftokOf(semPath) };
}

function expectNothingLeft(t, k) {
  expect(existsSync(t.shmPath), t.shmPath).to.equal(false);
  expect(existsSync(t.semPath), t.semPath).to.equal(false);
  expect(sysvKeyExists('shm', k.shmKey), 'ipcs -m').to.equal(false);
  expect(sysvKeyExists('sem', k.semKey), 'ipcs -s').to.equal(false);
}

for (const binding of ['PyQt6', 'PyQt5']) {
  describe(`interop with real Qt through ${binding} ('sysv' backend)`, function () {
    this.timeout(60000);
    before(function () {
      skipIf(this, missing(binding));
    });

    const peer = (b = binding) => QtPeer.start(b);
    const shm = (key) => track.shm(key, SYSV);
    const key = (name) => track.key(uniqueKey(name), SYSV); // removed after a failed test

    it('derives the same native key as Qt (ASCII letters + SHA-1, non-ASCII, empty)', async () => {
      const qt = await peer();
      for (const k of ['probe', 'Hello, World! 1/2 é', 'Noël', '']) {
        await qt.cmd('new', { key: k });
        expect((await qt.cmd('nativeKey')).value).to.equal(shm(k).nativeKey());
      }
    });

    it('Qt creates and writes; qshm attaches and reads; size() agrees; nothing is left after both detach', async () => {
      const k = key('qtc');
      const qt = await peer();
      await qt.cmd('new', { key: k });
      expect((await qt.cmd('create', { size: 1000 })).ok).to.equal(true);
      await qt.cmd('write', { offset: 0, hex: Buffer.from('written by Qt').toString('hex') });
      const t = traces(k);
      const ids = keysOf(t);
      const s = shm(k);
      expect(s.attach(), s.errorString()).to.equal(true);
      expect(s.size()).to.equal(1000);
      expect((await qt.cmd('size')).value).to.equal(1000);
      expect(s.data().toString('latin1', 0, 13)).to.equal('written by Qt');
      s.data().write('and by qshm', 13, 'latin1');
      expect(Buffer.from((await qt.cmd('read', { offset: 13, len: 11 })).value, 'hex').toString()).to.equal('and by qshm');
      expect(s.detach()).to.equal(true);
      expect((await qt.cmd('detach')).ok).to.equal(true);
      await qt.close(); // Qt removes the semaphore it created when its object goes away
      expectNothingLeft(t, ids);
    });

    it('qshm creates and writes; Qt attaches and reads; size() agrees; nothing is left after both detach', async () => {
      const k = key('qsc');
      const s = shm(k);
      expect(s.create(5000), s.errorString()).to.equal(true);
      s.data().write('written by qshm', 0, 'latin1');
      const t = traces(k);
      const ids = keysOf(t);
      const qt = await peer();
      await qt.cmd('new', { key: k });
      const r = await qt.cmd('attach');
      expect(r.ok, r.errorString).to.equal(true);
      expect((await qt.cmd('size')).value).to.equal(5000);
      expect(s.size()).to.equal(5000);
      expect(Buffer.from((await qt.cmd('read', { offset: 0, len: 15 })).value, 'hex').toString()).to.equal('written by qshm');
      await qt.cmd('write', { offset: 100, hex: 'cafe' });
      expect(s.data().readUInt16BE(100)).to.equal(0xcafe);
      expect((await qt.cmd('detach')).ok).to.equal(true);
      await qt.close();
      expect(s.detach()).to.equal(true);
      expectNothingLeft(t, ids);
    });

    it('ReadOnly: Qt reads a qshm segment attached ReadOnly, and qshm attaches a Qt segment ReadOnly', async () => {
      const k = key('ro');
      const qt = await peer();
      await qt.cmd('new', { key: k });
      expect((await qt.cmd('create', { size: 4096 })).ok).to.equal(true);
      await qt.cmd('write', { offset: 0, hex: '51' });
      const s = shm(k);
      expect(s.attach(AccessMode.ReadOnly), s.errorString()).to.equal(true);
      expect(s.size()).to.equal(4096);
      expect(s.data()[0]).to.equal(0x51);
      const qt2 = await peer();
      await qt2.cmd('new', { key: k });
      expect((await qt2.cmd('attach', { mode: 0 })).ok).to.equal(true);
      expect((await qt2.cmd('read', { offset: 0, len: 1 })).value).to.equal('51');
    });

    for (const creator of ['Qt', 'qshm']) {
      it(`${creator} creates; a Qt process and a qshm process each do ${N} increments under lock() at once: exactly ${2 * N}`, async () => {
        const k = key('inc');
        const qt = await peer();
        await qt.cmd('new', { key: k });
        const s = shm(k);
        if (creator === 'Qt') {
          expect((await qt.cmd('create', { size: 64 })).ok).to.equal(true);
          expect(s.attach(), s.errorString()).to.equal(true);
        } else {
          expect(s.create(64), s.errorString()).to.equal(true);
          expect((await qt.cmd('attach')).ok).to.equal(true);
        }
        const d = s.data();
        const done = qt.cmd('incr', { n: N, offset: 0, gate: 8 });
        d[8] = 1; // both start now
        for (let i = 0; i < N; i++) {
          expect(s.lock()).to.equal(true);
          d.writeUInt32LE(d.readUInt32LE(0) + 1, 0);
          s.unlock();
        }
        const r = await done;
        expect(r.ok, r.errorString).to.equal(true);
        expect(s.lock()).to.equal(true);
        expect(d.readUInt32LE(0)).to.equal(2 * N);
        s.unlock();
      });
    }

    it('a Qt process killed with SIGKILL while holding lock() does not block qshm (SEM_UNDO)', async () => {
      const k = key('kq');
      const s = shm(k);
      expect(s.create(64)).to.equal(true);
      const qt = await peer();
      await qt.cmd('new', { key: k });
      expect((await qt.cmd('attach')).ok).to.equal(true);
      expect((await qt.cmd('lock')).ok).to.equal(true);
      expect(s.tryLock(0)).to.equal(false); // Qt really holds it
      await qt.kill('SIGKILL');
      expect(s.tryLock(10000)).to.equal(true);
      expect(s.unlock()).to.equal(true);
    });

    it('a qshm process killed with SIGKILL while holding lock() does not block Qt (SEM_UNDO)', async () => {
      const k = key('kn');
      const qt = await peer();
      await qt.cmd('new', { key: k });
      expect((await qt.cmd('create', { size: 64 })).ok).to.equal(true);
      const probe = shm(k);
      expect(probe.attach()).to.equal(true); // before the peer locks: attach() takes the lock briefly
      const node = await peer('qshm');
      await node.cmd('new', { key: k });
      expect((await node.cmd('attach')).ok).to.equal(true);
      expect((await node.cmd('lock')).ok).to.equal(true);
      expect(probe.tryLock(0)).to.equal(false); // the qshm peer really holds it
      await node.kill('SIGKILL');
      const r = await qt.cmd('lock'); // blocks until the kernel undoes the dead holder's -1
      expect(r.ok, r.errorString).to.equal(true);
      expect((await qt.cmd('unlock')).ok).to.equal(true);
    });

    it('gives the same error codes as Qt: AlreadyExists, NotFound, KeyError, InvalidSize, LockError', async () => {
      const k = key('err');
      const qt = await peer();
      const both = async (steps) => {
        // Runs `steps` (list of [op, fields]) on a fresh Qt object and a fresh qshm object;
        // returns [qtError, qshmError] of the last step.
        let qtr;
        for (const [op, f] of steps) qtr = await qt.cmd(op, f);
        const s = shm(undefined);
        let ours;
        for (const [op, f] of steps) {
          if (op === 'new') s.setKey(f.key ?? '');
          else if (op === 'create') s.create(f.size);
          else if (op === 'attach') s.attach();
          else if (op === 'lock') s.lock();
          ours = s.error();
        }
        s.detach();
        return [qtr.error, ours];
      };
      const holder = shm(k);
      expect(holder.create(128)).to.equal(true);
      expect(await both([['new', { key: k }], ['create', { size: 64 }]])).to.deep.equal([E.AlreadyExists, E.AlreadyExists]);
      expect(await both([['new', { key: key('nf') }], ['attach', {}]])).to.deep.equal([E.NotFound, E.NotFound]);
      expect(await both([['new', { key: '' }], ['create', { size: 64 }]])).to.deep.equal([E.KeyError, E.KeyError]);
      expect(await both([['new', { key: '' }], ['attach', {}]])).to.deep.equal([E.KeyError, E.KeyError]);
      expect(await both([['new', { key: key('z') }], ['create', { size: 0 }]])).to.deep.equal([E.InvalidSize, E.InvalidSize]);
      expect(await both([['new', { key: key('n') }], ['create', { size: -5 }]])).to.deep.equal([E.InvalidSize, E.InvalidSize]);
      expect(await both([['new', { key: k }], ['lock', {}]])).to.deep.equal([E.LockError, E.LockError]);
      expect(await both([['new', { key: '' }], ['lock', {}]])).to.deep.equal([E.LockError, E.LockError]);
      // And on a segment the other side made: Qt's create on qshm's segment, ours on Qt's.
      const k2 = key('err2');
      await qt.cmd('new', { key: k2 });
      expect((await qt.cmd('create', { size: 64 })).ok).to.equal(true);
      const s = shm(k2);
      expect(s.create(64)).to.equal(false);
      expect(s.error()).to.equal(E.AlreadyExists);
      expect(s.errorString()).to.equal('QSharedMemory::create: already exists');
    });

    it('#71 while Qt holds lock(), a qshm create() on the key waits and does not reset the lock (Qt\'s would)', async () => {
      const k = key('reset');
      const qt = await peer();
      await qt.cmd('new', { key: k });
      expect((await qt.cmd('create', { size: 64 })).ok).to.equal(true);
      const third = shm(k);
      expect(third.attach()).to.equal(true); // before Qt locks: attach() takes the lock briefly
      expect((await qt.cmd('lock')).ok).to.equal(true);
      const node = await peer('qshm');
      await node.cmd('new', { key: k });
      const created = node.cmd('create', { size: 64 }); // waits for Qt's lock, as Qt's create does
      await new Promise((r) => setTimeout(r, 200)); // let it reach the semaphore
      expect(third.tryLock(300), 'nobody else may get the lock while Qt holds it').to.equal(false);
      expect((await qt.cmd('unlock')).ok).to.equal(true);
      const r = await created;
      expect([r.ok, r.error]).to.deep.equal([false, E.AlreadyExists]);
      expect(third.tryLock(5000)).to.equal(true);
      third.unlock();
    });

    it('the Qt creator goes away while qshm waits in lock(): qshm re-creates the semaphore and goes on, as Qt does; nothing is left', async () => {
      const k = key('gone');
      const qt = await peer();
      await qt.cmd('new', { key: k });
      expect((await qt.cmd('create', { size: 64 })).ok).to.equal(true);
      const t = traces(k);
      const ids = keysOf(t);
      const s = shm(k);
      expect(s.attach(), s.errorString()).to.equal(true);
      const node = await peer('qshm');
      await node.cmd('new', { key: k });
      expect((await node.cmd('attach')).ok).to.equal(true);
      expect((await qt.cmd('lock')).ok).to.equal(true);
      const locked = node.cmd('lock'); // blocks in semop on Qt's semaphore
      await new Promise((r) => setTimeout(r, 200));
      // Destroying Qt's creating object detaches, unlocks and removes the semaphore and its key
      // file (internals.md §5): the waiter gets EIDRM (or EINVAL) and must reopen, not fail.
      await qt.cmd('new', { key: '' });
      const r = await locked;
      expect(r.ok, r.errorString).to.equal(true);
      await node.cmd('unlock'); // false if it got Qt's semaphore just before the removal
      expect(s.lock(), s.errorString()).to.equal(true); // stale id: EINVAL, verified gone → reopen
      expect(s.unlock(), s.errorString()).to.equal(true);
      expect((await node.cmd('detach')).ok).to.equal(true);
      expect(s.detach()).to.equal(true); // the last detach removes segment, semaphore, key files
      expectNothingLeft(t, ids);
    });

    it('native keys: an ftok path set with setNativeKey names the same segment in Qt and qshm', async () => {
      const path = `/tmp/qipc_${uniqueKey('nat')}`;
      const qt = await peer();
      await qt.cmd('new', { native: path });
      expect((await qt.cmd('create', { size: 256 })).ok).to.equal(true);
      await qt.cmd('write', { offset: 0, hex: '0102' });
      const s = track.shm(undefined, SYSV);
      s.setNativeKey(path);
      expect(s.attach(), s.errorString()).to.equal(true);
      expect(s.size()).to.equal(256);
      expect(s.data().readUInt16BE(0)).to.equal(0x0102);
      expect(s.lock(), 'qshm locks with native keys, as Qt 6.6+').to.equal(true);
      s.unlock();
      const shmKey = ftokOf(path);
      expect(sysvKeyExists('sem', shmKey), 'the lock: a semaphore on the same key').to.equal(true);
      expect((await qt.cmd('detach')).ok).to.equal(true);
      await qt.close();
      s.detach(); // last: segment, key file and semaphore go
      expect(existsSync(path)).to.equal(false);
      expect(sysvKeyExists('shm', shmKey)).to.equal(false);
      expect(sysvKeyExists('sem', shmKey)).to.equal(false);
    });
  });
}

describe('interop with Qt 6.6+ through PySide6 (QNativeIpcKey, POSIX keys, native-key locks)', function () {
  this.timeout(60000);

  before(function () {
    skipIf(this, missing('PySide6'));
  });

  it('a POSIX key passed as a QNativeIpcKey string: Qt creates, qshm attaches; data, size and lock() are shared', async () => {
    const key = QSharedMemory.platformSafeKey(uniqueKey('px'));
    track.key(key);
    const qt = await QtPeer.start('PySide6');
    await qt.cmd('new', { ipc: key.toString() });
    expect((await qt.cmd('create', { size: 777 })).ok).to.equal(true);
    await qt.cmd('write', { offset: 0, hex: 'beef' });
    expect((await qt.cmd('ipcKey')).value).to.equal(key.toString());
    const s = track.object(new QSharedMemory(QNativeIpcKey.fromString(key.toString())));
    expect(s.backend).to.equal('posix');
    expect(s.attach(), s.errorString()).to.equal(true);
    expect(s.size()).to.equal(777);
    expect(s.data().readUInt16BE(0)).to.equal(0xbeef);
    expect((await qt.cmd('lock')).ok).to.equal(true);
    expect(s.tryLock(100), 'Qt holds the POSIX semaphore').to.equal(false);
    expect((await qt.cmd('unlock')).ok).to.equal(true);
    expect(s.tryLock(5000)).to.equal(true);
    s.unlock();
    expect(existsSync(`/dev/shm${key.nativeKey}`)).to.equal(true);
    expect(existsSync(`/dev/shm/sem.${key.nativeKey.slice(1)}`)).to.equal(true);
  });

  it('qshm creates with a POSIX key; Qt attaches through the string form and writes back', async () => {
    const s = track.object(new QSharedMemory(QSharedMemory.platformSafeKey(uniqueKey('pq'))));
    track.key(s.nativeIpcKey());
    expect(s.create(4096), s.errorString()).to.equal(true);
    s.data().write('from qshm', 'latin1');
    const qt = await QtPeer.start('PySide6');
    await qt.cmd('new', { ipc: s.nativeIpcKey().toString() });
    const r = await qt.cmd('attach');
    expect(r.ok, r.errorString).to.equal(true);
    expect((await qt.cmd('size')).value).to.equal(4096);
    expect(Buffer.from((await qt.cmd('read', { offset: 0, len: 9 })).value, 'hex').toString()).to.equal('from qshm');
    await qt.cmd('write', { offset: 9, hex: '21' });
    expect(s.data()[9]).to.equal(0x21);
  });

  it('a System V native key: Qt 6.6+ and qshm lock the same semaphore (2 × 10,000 increments exact); nothing left after', async () => {
    const path = `/tmp/qipc_${uniqueKey('nv')}`;
    const key = new QNativeIpcKey(path, IpcKeyType.SystemV);
    const qt = await QtPeer.start('PySide6');
    await qt.cmd('new', { ipc: key.toString() });
    expect((await qt.cmd('create', { size: 64 })).ok).to.equal(true);
    const s = track.object(new QSharedMemory(key));
    expect(s.attach(), s.errorString()).to.equal(true);
    const ids = ftokOf(path);
    const d = s.data();
    const done = qt.cmd('incr', { n: N, offset: 0, gate: 8 });
    d[8] = 1;
    for (let i = 0; i < N; i++) {
      expect(s.lock()).to.equal(true);
      d.writeUInt32LE(d.readUInt32LE(0) + 1, 0);
      s.unlock();
    }
    expect((await done).ok).to.equal(true);
    expect(d.readUInt32LE(0)).to.equal(2 * N);
    s.detach();
    expect((await qt.cmd('detach')).ok).to.equal(true);
    await qt.close();
    expect(existsSync(path)).to.equal(false);
    expect(sysvKeyExists('shm', ids)).to.equal(false);
    expect(sysvKeyExists('sem', ids)).to.equal(false);
  });
});

describe("interop with Python's multiprocessing.shared_memory ('posix' backend)", function () {
  this.timeout(60000);
  before(function () {
    skipIf(this, missing('shared_memory'));
  });
  const removeAfter = (name) => track.key(new QNativeIpcKey(`/${name}`, IpcKeyType.PosixRealtime));
  // Python 3.8–3.12 register every SharedMemory with the resource tracker, which unlinks it when
  // the process exits; a peer that does not own the name must unregister it.
  const PY_PRELUDE = `
import sys
from multiprocessing import shared_memory, resource_tracker
def keep(shm):
    try: resource_tracker.unregister(shm._name, 'shared_memory')
    except Exception: pass
`;

  it('qshm creates and writes; Python attaches by name, reads and writes back; remove() leaves nothing', async () => {
    const name = uniqueKey('py');
    removeAfter(name);
    const s = new QSharedMemory(undefined, { backend: 'posix' });
    s.setNativeKey(`/${name}`);
    expect(s.create(1000), s.errorString()).to.equal(true);
    s.data().write('hello python', 'latin1');
    const r = await run(debianPython, ['-c', `${PY_PRELUDE}
shm = shared_memory.SharedMemory(sys.argv[1]); keep(shm)
print(bytes(shm.buf[:12]).decode(), shm.size)
shm.buf[100:104] = b'pyOK'
shm.close()`, name]);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout.trim()).to.equal('hello python 1000');
    expect(s.data().toString('latin1', 100, 104)).to.equal('pyOK');
    s.detach();
    expect(existsSync(`/dev/shm/${name}`), 'POSIX segments outlive detach (as in Qt)').to.equal(true);
    expect(QSharedMemory.remove(new QNativeIpcKey(`/${name}`, IpcKeyType.PosixRealtime))).to.equal(true);
    expect(existsSync(`/dev/shm/${name}`)).to.equal(false);
    expect(existsSync(`/dev/shm/sem.${name}`)).to.equal(false);
  });

  it('Python creates and writes; qshm attaches with setNativeKey("/name"), size() agrees, data both ways', async () => {
    const name = uniqueKey('pc');
    removeAfter(name);
    const r = await run(debianPython, ['-c', `${PY_PRELUDE}
shm = shared_memory.SharedMemory(sys.argv[1], create=True, size=3000); keep(shm)
shm.buf[:9] = b'py wrote!'
shm.close()`, name]);
    expect(r.code, r.stderr).to.equal(0);
    const s = new QSharedMemory(new QNativeIpcKey(`/${name}`, IpcKeyType.PosixRealtime));
    expect(s.attach(), s.errorString()).to.equal(true);
    expect(s.size()).to.equal(3000);
    expect(s.data().toString('latin1', 0, 9)).to.equal('py wrote!');
    s.data().write('node wrote', 50, 'latin1');
    s.detach();
    const back = await run(debianPython, ['-c', `${PY_PRELUDE}
shm = shared_memory.SharedMemory(sys.argv[1]); keep(shm)
print(bytes(shm.buf[50:60]).decode()); shm.close(); shm.unlink()`, name]);
    expect(back.stdout.trim()).to.equal('node wrote');
    expect(existsSync(`/dev/shm/${name}`)).to.equal(false);
  });
});

describe("interop with Python's sysv_ipc through a numeric key ('sysv' backend)", function () {
  this.timeout(60000);
  let key;
  before(function () {
    skipIf(this, missing('sysv_ipc'));
  });
  beforeEach(() => {
    // A key nobody uses: 'q' << 24 | pid bits | a counter.
    for (key = ((0x71 << 24) | ((process.pid & 0xfff) << 12) | Math.floor(Math.random() * 0xfff)) >>> 0;
      sysvKeyExists('shm', key) || sysvKeyExists('sem', key); key++);
    track.key(new QNativeIpcKey(`0x${key.toString(16)}`, IpcKeyType.SystemV));
  });

  it('sysv_ipc creates and detaches; qshm attaches "0x…", reads; its last detach removes segment and lock', async () => {
    const hex = `0x${key.toString(16)}`;
    const r = await run(debianPython, ['-c', `
import sys, sysv_ipc
m = sysv_ipc.SharedMemory(int(sys.argv[1], 16), sysv_ipc.IPC_CREX, mode=0o600, size=1234)
m.write(b'from sysv_ipc'); m.detach()`, hex]);
    expect(r.code, r.stderr).to.equal(0);
    const s = new QSharedMemory(undefined, { backend: 'sysv' });
    s.setNativeKey(hex);
    expect(s.attach(), s.errorString()).to.equal(true);
    expect(s.size()).to.equal(1234);
    expect(s.data().toString('latin1', 0, 13)).to.equal('from sysv_ipc');
    expect(s.lock()).to.equal(true); // a semaphore with the same key (Qt 6.6+ rule)
    s.unlock();
    s.detach();
    expect(sysvKeyExists('shm', key)).to.equal(false);
    expect(sysvKeyExists('sem', key)).to.equal(false);
  });

  it('qshm creates "0x…"; sysv_ipc attaches, reads, writes, and takes the same lock with sysv_ipc.Semaphore', async () => {
    const hex = `0x${key.toString(16)}`;
    const s = new QSharedMemory(undefined, { backend: 'sysv' });
    s.setNativeKey(hex);
    expect(s.create(200), s.errorString()).to.equal(true);
    s.data().write('from qshm', 'latin1');
    expect(s.lock()).to.equal(true);
    const r = await run(debianPython, ['-c', `
import sys, sysv_ipc
k = int(sys.argv[1], 16)
m = sysv_ipc.SharedMemory(k)
print(m.read(9).decode(), m.size)
m.write(b'py', 20)
sem = sysv_ipc.Semaphore(k)
try:
    sem.acquire(0.2)
    print('got it')
except sysv_ipc.BusyError:
    print('busy')
m.detach()`, hex]);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout.trim().split('\n')).to.deep.equal(['from qshm 200', 'busy']);
    expect(s.data().toString('latin1', 20, 22)).to.equal('py');
    s.unlock();
    s.detach();
    expect(sysvKeyExists('shm', key)).to.equal(false);
  });
});
