// SPDX-License-Identifier: MIT
// Proof against real Qt: the 'sysv' backend shares segments and the lock with Qt 6.4.2
// (Debian python3-pyqt6) and Qt 5.15.8 (Debian python3-pyqt5), in both directions; the
// 'posix' backend with Python's multiprocessing.shared_memory; numeric keys with sysv_ipc;
// and (optional) Qt 6.11 through PySide6 for QNativeIpcKey strings and POSIX keys.
import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { AccessMode, IpcKeyType, QNativeIpcKey, QSharedMemory, SharedMemoryError as E } from '../dist/index.js';
import { debianPython, run, uniqueKey } from './helpers.mjs';
import { Peer, ftokOf, missing, pythonFor, sysvKeyExists } from './peers/driver.mjs';

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
    const peers = [];
    const mine = [];
    let keys = [];

    before(function () {
      const why = missing(binding);
      if (why) {
        console.log(`      skipped: ${why}`);
        this.skip();
      }
    });

    const peer = async (b = binding) => {
      const p = await Peer.start(b);
      peers.push(p);
      return p;
    };
    const shm = (key) => {
      const s = new QSharedMemory(key, SYSV);
      mine.push(s);
      return s;
    };
    const key = (name) => {
      const k = uniqueKey(name);
      keys.push(k);
      return k;
    };

    afterEach(async () => {
      // Peers first: a dead peer's lock is undone by the kernel, so our detach() cannot block.
      for (const p of peers.splice(0)) await p.close();
      for (const s of mine.splice(0)) s.detach();
      for (const k of keys) QSharedMemory.remove(k, SYSV); // only matters when a test failed
      keys = [];
    });

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

    it('native keys: an ftok path set with setNativeKey names the same segment in Qt and qshm', async () => {
      const path = `/tmp/qipc_${uniqueKey('nat')}`;
      const qt = await peer();
      await qt.cmd('new', { native: path });
      expect((await qt.cmd('create', { size: 256 })).ok).to.equal(true);
      await qt.cmd('write', { offset: 0, hex: '0102' });
      const s = new QSharedMemory(undefined, SYSV);
      mine.push(s);
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
