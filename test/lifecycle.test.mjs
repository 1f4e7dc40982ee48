// SPDX-License-Identifier: MIT
// Lifecycle of the default 'file' backend (issue 2, "Unix ownership"): who removes the file
// and when, crashes, normal exit, worker threads, garbage collection, detached Buffers,
// permissions, O_EXCL-style creation, hostile files and the `dir` option.
import { expect } from 'chai';
import {
  existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, statSync, symlinkSync, writeFileSync,
} from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { AccessMode, Layout, MAGIC, QSharedMemory, SharedMemoryError } from '../dist/index.js';
import { C, Region, native } from '../dist/native.js';
import { constants as osConstants } from 'node:os';
import {
  inodeOf, mappingsOfInode, peerProcess, peerWorker, removeDir, skipIf, track, uniqueKey,
} from './helpers.mjs';

const { ReadOnly, ReadWrite } = AccessMode;
const Err = SharedMemoryError;

const shm = track.shm;
/** A fresh temporary directory (removed after the test). */
const dir = (name) => track.dir(`qshm-core-${name}-`);
/** The file path a legacy key maps to in /dev/shm (removed after the test if still there). */
const pathOf = (key) => track.path(new QSharedMemory(key).nativeKey());
/** A fresh absolute path in /dev/shm for a hand-made file (removed after the test). */
const scratchPath = (name) => track.path(`/dev/shm/${uniqueKey(name)}`);

describe('lifecycle (file backend)', function () {
  describe('the last detach removes the file', () => {
    it('removed when the last attachment detaches, in another process', async () => {
      const key = uniqueKey('lastchild');
      const path = pathOf(key);
      const a = shm(key);
      expect(a.create(4096)).to.equal(true);
      const p = peerProcess([['new', key], ['attach'], ['wait'], ['detach']]);
      expect((await p.result('attach')).ok).to.equal(true);
      const ino = inodeOf(path);
      expect(a.detach()).to.equal(true);
      expect(inodeOf(path)).to.equal(ino); // the child is still attached
      p.send();
      expect((await p.result('detach')).ok).to.equal(true);
      expect((await p.exited).code).to.equal(0);
      expect(existsSync(path)).to.equal(false);
    });

    it('removed when the last attachment detaches, in this process, after the creator process detached', async () => {
      const key = uniqueKey('lastparent');
      const path = pathOf(key);
      const p = peerProcess([['new', key], ['create', 4096], ['write', 0, 'made by child'], ['wait'], ['detach']]);
      expect((await p.result('create')).ok).to.equal(true);
      const b = shm(key);
      expect(b.attach()).to.equal(true);
      p.send();
      expect((await p.result('detach')).ok).to.equal(true);
      expect((await p.exited).code).to.equal(0);
      expect(existsSync(path)).to.equal(true);
      expect(b.data().toString('latin1', 0, 13)).to.equal('made by child');
      expect(b.detach()).to.equal(true);
      expect(existsSync(path)).to.equal(false);
    });

    it('survives while any of three processes is attached', async () => {
      const key = uniqueKey('three');
      const path = pathOf(key);
      const a = shm(key);
      expect(a.create(100)).to.equal(true);
      const steps = [['new', key], ['attach', ReadOnly], ['wait'], ['detach']];
      const peers = [peerProcess(steps), peerProcess(steps)];
      for (const p of peers) expect((await p.result('attach')).ok).to.equal(true);
      expect(a.detach()).to.equal(true);
      peers[0].send();
      await peers[0].exited;
      expect(existsSync(path)).to.equal(true);
      peers[1].send();
      expect((await peers[1].exited).code).to.equal(0);
      expect(existsSync(path)).to.equal(false);
    });
  });

  describe('crashes and reclaiming', () => {
    it('a SIGKILLed last process leaves the file; the next create() reclaims it as a fresh segment', async () => {
      const key = uniqueKey('crashed');
      const path = pathOf(key);
      const p = peerProcess([['new', key], ['create', 4096], ['write', 0, 'old data'], ['lock'], ['wait']]);
      expect((await p.result('lock')).ok).to.equal(true);
      expect((await p.kill('SIGKILL')).signal).to.equal('SIGKILL');
      expect(existsSync(path)).to.equal(true); // nobody detached
      const s = shm(key);
      expect(s.create(100), s.errorString()).to.equal(true);
      expect(s.size()).to.equal(100);
      expect(s.data().every((b) => b === 0)).to.equal(true); // not the old contents
      expect(s.tryLock(0)).to.equal(true); // a fresh lock, not the dead holder's
      expect(s.lockWasAbandoned()).to.equal(false);
      expect(s.unlock()).to.equal(true);
      const other = shm(key);
      expect(other.create(100)).to.equal(false); // reclaimed only while nobody is attached
      expect(other.error()).to.equal(Err.AlreadyExists);
      expect(s.detach()).to.equal(true);
      expect(existsSync(path)).to.equal(false);
    });

    it('processes racing to create() over a stale file: exactly one wins each round, and nothing else is removed', async function () {
      this.timeout(180000); // 36 processes: a hang guard for a loaded machine, not a speed check
      for (let round = 0; round < 6; round++) {
        const key = uniqueKey('race');
        const path = pathOf(key);
        const stale = peerProcess([['new', key], ['create', 100], ['wait']]);
        expect((await stale.result('create')).ok).to.equal(true);
        await stale.kill('SIGKILL');
        const racers = Array.from({ length: 5 }, () => peerProcess([['new', key], ['wait'], ['create', 100], ['wait'], ['detach']]));
        for (const p of racers) await p.result('new');
        for (const p of racers) p.send();
        const results = await Promise.all(racers.map((p) => p.result('create')));
        expect(results.filter((r) => r.ok), `round ${round}`).to.have.length(1);
        for (const r of results.filter((x) => !x.ok)) expect(r.error).to.equal(Err.AlreadyExists);
        const check = shm(key);
        expect(check.attach(), check.errorString()).to.equal(true); // the winner's file is in place
        expect(check.detach()).to.equal(true);
        for (const p of racers) p.send();
        for (const p of racers) expect((await p.exited).code).to.equal(0);
        expect(existsSync(path)).to.equal(false);
      }
    });

    it('attach() to a file left by a dead process works, and its detach() removes it', async () => {
      const key = uniqueKey('orphan');
      const path = pathOf(key);
      const p = peerProcess([['new', key], ['create', 4096], ['write', 0, 'left'], ['wait']]);
      expect((await p.result('write')).ok).to.equal(true);
      await p.kill('SIGKILL');
      const s = shm(key);
      expect(s.attach(), s.errorString()).to.equal(true);
      expect(s.data().toString('latin1', 0, 4)).to.equal('left');
      expect(s.detach()).to.equal(true);
      expect(existsSync(path)).to.equal(false);
    });

    it('a SIGKILLed process that was not the last: the survivor keeps the file and removes it on its detach', async () => {
      const key = uniqueKey('survivor');
      const path = pathOf(key);
      const a = shm(key);
      expect(a.create(4096)).to.equal(true);
      const p = peerProcess([['new', key], ['attach'], ['wait']]);
      expect((await p.result('attach')).ok).to.equal(true);
      await p.kill('SIGKILL');
      const b = shm(key);
      expect(b.create(4096)).to.equal(false); // a live attachment: never reclaimed
      expect(b.error()).to.equal(Err.AlreadyExists);
      expect(existsSync(path)).to.equal(true);
      expect(a.detach()).to.equal(true); // the dead child no longer counts
      expect(existsSync(path)).to.equal(false);
    });
  });

  describe('a live attachment is never removed by anyone else', () => {
    it('another process\'s create(), attach() and detach() leave a live process\'s file alone (#25 across processes)', async () => {
      const key = uniqueKey('live');
      const path = pathOf(key);
      const p = peerProcess([['new', key], ['create', 4096], ['wait'], ['write', 0, 'still mine'], ['wait'], ['detach']]);
      expect((await p.result('create')).ok).to.equal(true);
      const ino = inodeOf(path);
      for (let round = 0; round < 3; round++) {
        const b = shm(key);
        expect(b.create(4096)).to.equal(false);
        expect(b.error()).to.equal(Err.AlreadyExists);
        expect(b.attach(round === 1 ? ReadOnly : ReadWrite)).to.equal(true);
        expect(b.detach()).to.equal(true);
        expect(inodeOf(path)).to.equal(ino);
      }
      const c = peerProcess([['new', key], ['create', 4096], ['attach'], ['detach']]);
      expect((await c.result('create')).error).to.equal(Err.AlreadyExists);
      expect((await c.exited).code).to.equal(0);
      expect(inodeOf(path)).to.equal(ino);
      p.send(); // the owner writes: still the same file
      await p.result('write');
      const d = shm(key);
      expect(d.attach()).to.equal(true);
      expect(d.data().toString('latin1', 0, 10)).to.equal('still mine');
      expect(d.detach()).to.equal(true);
      p.send();
      expect((await p.exited).code).to.equal(0);
      expect(existsSync(path)).to.equal(false);
    });

    it('a stopped (SIGSTOP) process still counts as attached', async () => {
      const key = uniqueKey('stopped');
      const path = pathOf(key);
      const p = peerProcess([['new', key], ['create', 4096], ['wait'], ['detach']]);
      expect((await p.result('create')).ok).to.equal(true);
      process.kill(p.pid, 'SIGSTOP');
      try {
        const b = shm(key);
        expect(b.create(4096)).to.equal(false);
        expect(b.error()).to.equal(Err.AlreadyExists);
        expect(b.attach()).to.equal(true);
        expect(b.detach()).to.equal(true);
        expect(existsSync(path)).to.equal(true);
      } finally {
        process.kill(p.pid, 'SIGCONT');
      }
      p.send();
      expect((await p.exited).code).to.equal(0);
      expect(existsSync(path)).to.equal(false);
    });
  });

  describe('exit, worker end and garbage collection release like detach()', () => {
    for (const [how, tail] of [['ends naturally', []], ['calls process.exit(0)', [['exit', 0]]], ['calls process.exit(3)', [['exit', 3]]], ['dies of an uncaught exception', [['no-such-step']]]]) {
      it(`a process that ${how} without detach() releases its attachment: the file is removed`, async () => {
        const key = uniqueKey('exit');
        const path = pathOf(key);
        const p = peerProcess([['new', key], ['create', 4096], ...tail]);
        expect((await p.result('create')).ok).to.equal(true);
        const end = await p.exited;
        expect(end.signal).to.equal(null);
        expect(existsSync(path)).to.equal(false);
      });
    }

    it('a process that exits holding the lock releases it cleanly (not as abandoned)', async () => {
      const s = shm(uniqueKey('exitlocked'));
      expect(s.create(100)).to.equal(true);
      const p = peerProcess([['new', s.key()], ['attach'], ['lock'], ['exit', 0]]);
      expect((await p.result('lock')).ok).to.equal(true);
      expect((await p.exited).code).to.equal(0);
      expect(s.tryLock(0)).to.equal(true);
      expect(s.lockWasAbandoned()).to.equal(false);
      expect(s.unlock()).to.equal(true);
    });

    for (const [how, tail] of [['ends naturally', []], ['calls process.exit()', [['exit', 0]]]]) {
      it(`a worker thread that ${how} releases its attachments: file removed, mappings gone`, async () => {
        const key = uniqueKey('worker');
        const path = pathOf(key);
        const w = peerWorker([['new', key], ['create', 4096], ['wait'], ...tail]);
        expect((await w.result('create')).ok).to.equal(true);
        const ino = statSync(path).ino;
        expect(mappingsOfInode(ino)).to.have.length(1); // header and data: one mapping
        w.send();
        expect((await w.exited).code).to.equal(0);
        expect(existsSync(path)).to.equal(false);
        expect(mappingsOfInode(ino)).to.deep.equal([]);
      });
    }

    it('a worker thread that ends holding the lock releases it cleanly; this thread\'s attachment keeps the file', async () => {
      const s = shm(uniqueKey('workerlocked'));
      expect(s.create(100)).to.equal(true);
      const w = peerWorker([['new', s.key()], ['attach'], ['lock']]);
      expect((await w.result('lock')).ok).to.equal(true);
      expect((await w.exited).code).to.equal(0);
      expect(existsSync(s.nativeKey())).to.equal(true);
      expect(s.tryLock(0)).to.equal(true);
      expect(s.lockWasAbandoned()).to.equal(false);
      expect(s.unlock()).to.equal(true);
    });

    it('a terminated worker (worker.terminate(), like a crash) releases its liveness locks and mappings', async () => {
      const key = uniqueKey('terminated');
      const path = pathOf(key);
      const keep = shm(key);
      expect(keep.create(4096)).to.equal(true);
      const ino = statSync(path).ino;
      const w = peerWorker([['new', key], ['attach'], ['lock'], ['wait']]);
      expect((await w.result('lock')).ok).to.equal(true);
      expect(mappingsOfInode(ino).length).to.equal(2); // header and data in one mapping, twice
      await w.kill();
      expect(mappingsOfInode(ino).length).to.equal(1);
      // Its lock is taken over as abandoned (no JavaScript ran to unlock it)...
      expect(await keep.lockAsync({ timeoutMs: 20000 })).to.equal(true);
      expect(keep.lockWasAbandoned()).to.equal(true);
      expect(keep.unlock()).to.equal(true);
      // ...and its presence no longer counts: this detach is the last one.
      expect(keep.detach()).to.equal(true);
      expect(existsSync(path)).to.equal(false);
    });

    for (const variant of ['alone', 'locked']) {
      it(`a garbage-collected QSharedMemory releases its attachment (${variant === 'alone' ? 'the file is removed' : 'lock and mappings freed'})`, async () => {
        const key = uniqueKey(`gc${variant}`);
        const path = pathOf(key);
        const p = peerProcess([['gcRelease', key, variant]], { execArgv: ['--expose-gc'] });
        const r = (await p.result('gcRelease')).value;
        expect((await p.exited).code).to.equal(0);
        expect(r.released, JSON.stringify(r)).to.equal(true);
        if (variant === 'alone') {
          expect(r.existsAfter).to.equal(false);
        } else {
          expect(r.abandoned).to.equal(false);
          expect(r.mapsBefore).to.equal(2); // one mapping (header and data) per attachment
          expect(r.mapsAfter).to.equal(1);
        }
        expect(existsSync(path)).to.equal(false);
      });
    }
  });

  describe('detached Buffers', () => {
    it('after detach(), every Buffer and view previously returned by data()/constData() has length 0', () => {
      const a = shm(uniqueKey('views'));
      expect(a.create(8192)).to.equal(true);
      const b = shm(a.key());
      expect(b.attach(ReadOnly)).to.equal(true);
      const views = [a.data(), a.constData(), a.data().subarray(100, 200), new Uint8Array(a.data().buffer), new Float64Array(a.data().buffer)];
      const ab = a.data().buffer;
      const bView = b.data();
      expect(a.data()).to.equal(a.data()); // the same Buffer for the whole attachment
      expect(a.detach()).to.equal(true);
      for (const v of views) expect(v.byteLength).to.equal(0);
      expect(ab.byteLength).to.equal(0);
      expect(views[0].length).to.equal(0);
      expect(views[0][0]).to.equal(undefined);
      views[0][0] = 1; // a write to a detached view goes nowhere (and must not crash)
      expect(bView.length).to.equal(8192); // b is still attached
      expect(bView[0]).to.equal(0);
      expect(b.detach()).to.equal(true);
      expect(bView.length).to.equal(0);
    });

    it('re-keying an attached object (setKey/setNativeKey) detaches its Buffers too', () => {
      const s = shm(uniqueKey('rekey'));
      expect(s.create(100)).to.equal(true);
      const d = s.data();
      s.setKey(uniqueKey('another'));
      expect(d.length).to.equal(0);
      expect(s.create(100)).to.equal(true);
      const d2 = s.data();
      s.setNativeKey(`/dev/shm/${uniqueKey('native')}`);
      expect(d2.length).to.equal(0);
    });
  });

  describe('permissions', () => {
    const perm = (p) => statSync(p).mode & 0o7777;

    it('create() writes mode 0600 by default', () => {
      const s = shm(uniqueKey('mode'));
      expect(s.create(100)).to.equal(true);
      expect(perm(s.nativeKey())).to.equal(0o600);
      expect(statSync(s.nativeKey()).uid).to.equal(process.getuid());
    });

    for (const mode of [0o640, 0o644, 0o666, 0o400]) {
      it(`options.mode 0o${mode.toString(8)} is honoured exactly, whatever the umask`, () => {
        const old = process.umask(0o077);
        try {
          const s = shm(uniqueKey('mode'), { mode });
          expect(s.create(100), s.errorString()).to.equal(true);
          expect(perm(s.nativeKey())).to.equal(mode);
        } finally {
          process.umask(old);
        }
      });
    }

    describe('as another user', function () {
      const nobody = { uid: 65534, gid: 65534 };
      before(function () {
        // Needs root (to start a child as 'nobody') and a checkout that 'nobody' can read.
        const why = process.getuid() !== 0
          ? 'not running as root'
          : spawnSync(process.execPath, ['-e', `import(${JSON.stringify(new URL('../dist/index.js', import.meta.url).href)})`], nobody).status !== 0
            ? "user 'nobody' cannot load dist/index.js from this checkout"
            : null;
        skipIf(this, why);
      });

      it('a 0600 segment refuses another user with PermissionDenied', async () => {
        const s = shm(uniqueKey('private'));
        expect(s.create(100)).to.equal(true);
        const p = peerProcess([['new', s.key()], ['attach'], ['attach', ReadOnly], ['create', 100]], nobody);
        const [rw, ro, cr] = [await p.result('attach'), await p.result('attach'), await p.result('create')];
        expect((await p.exited).code).to.equal(0);
        expect([rw.ok, rw.error]).to.deep.equal([false, Err.PermissionDenied]);
        expect([ro.ok, ro.error]).to.deep.equal([false, Err.PermissionDenied]);
        expect(cr.ok).to.equal(false);
        expect(existsSync(s.nativeKey())).to.equal(true);
      });

      it('a 0666 segment is shared with another user, lock included', async () => {
        const s = shm(uniqueKey('shared'), { mode: 0o666 });
        expect(s.create(100)).to.equal(true);
        s.data().write('hi');
        const p = peerProcess([['new', s.key()], ['attach'], ['read', 0, 2], ['lock'], ['write', 2, '!'], ['unlock'], ['detach']], nobody);
        expect((await p.exited).code).to.equal(0);
        const log = Object.fromEntries(p.log.map((m) => [m.op, m]));
        expect(log.attach.ok, log.attach.errorString).to.equal(true);
        expect(log.read.value).to.equal('hi');
        expect(log.lock.ok).to.equal(true);
        expect(s.data().toString('latin1', 0, 3)).to.equal('hi!');
        expect(existsSync(s.nativeKey())).to.equal(true);
      });

      it('a 0644 segment: another user attaches ReadOnly (no lock), and cannot attach ReadWrite', async () => {
        const s = shm(uniqueKey('readable'), { mode: 0o644 });
        expect(s.create(100)).to.equal(true);
        s.data().write('ro');
        const p = peerProcess([['new', s.key()], ['attach'], ['attach', ReadOnly], ['read', 0, 2], ['lock'], ['detach']], nobody);
        expect((await p.exited).code).to.equal(0);
        const [rw, ro] = p.log.filter((m) => m.op === 'attach');
        expect([rw.ok, rw.error]).to.deep.equal([false, Err.PermissionDenied]);
        expect(ro.ok, ro.errorString).to.equal(true);
        const log = Object.fromEntries(p.log.map((m) => [m.op, m]));
        expect(log.read.value).to.equal('ro');
        expect([log.lock.ok, log.lock.error]).to.deep.equal([false, Err.LockError]);
        expect(log.detach.ok).to.equal(true);
        expect(existsSync(s.nativeKey())).to.equal(true);
      });
    });
  });

  describe('O_EXCL-style creation never follows or removes foreign files', () => {
    it('a pre-existing non-qshm file: create() fails with AlreadyExists, attach() with a clear error, the file is untouched', () => {
      const path = scratchPath('foreign');
      const content = Buffer.from('somebody else\'s file\n'.repeat(300));
      writeFileSync(path, content, { mode: 0o644 });
      const ino = inodeOf(path);
      const s = shm();
      s.setNativeKey(path);
      expect(s.create(100)).to.equal(false);
      expect(s.error()).to.equal(Err.AlreadyExists);
      expect(s.attach()).to.equal(false);
      expect(s.error()).to.not.equal(Err.NoError);
      expect(s.errorString()).to.match(/not a valid qshm segment/);
      expect(inodeOf(path)).to.equal(ino);
      expect(readFileSync(path).equals(content)).to.equal(true);
      expect(statSync(path).mode & 0o777).to.equal(0o644);
    });

    it('a symlink at the path is never followed nor removed (to a missing target, a foreign file, or a stale segment)', async () => {
      const missing = scratchPath('target-missing');
      const foreign = scratchPath('target-foreign');
      writeFileSync(foreign, 'precious');
      // A real segment file left by a dead process: reclaimable at its own path, never through a link.
      const staleKey = uniqueKey('stale');
      const stale = pathOf(staleKey);
      const p = peerProcess([['new', staleKey], ['create', 100], ['wait']]);
      expect((await p.result('create')).ok).to.equal(true);
      await p.kill('SIGKILL');
      for (const target of [missing, foreign, stale]) {
        const link = scratchPath('link');
        symlinkSync(target, link);
        const s = shm();
        s.setNativeKey(link);
        expect(s.create(100), target).to.equal(false);
        expect(s.error()).to.equal(Err.AlreadyExists);
        expect(s.attach(), target).to.equal(false);
        expect(s.error()).to.equal(Err.KeyError);
        expect(s.errorString()).to.match(/symbolic link/);
        expect(lstatSync(link).isSymbolicLink()).to.equal(true);
      }
      expect(existsSync(missing)).to.equal(false);
      expect(readFileSync(foreign, 'latin1')).to.equal('precious');
      expect(existsSync(stale)).to.equal(true);
    });

    it('a directory or a FIFO at the path: create() and attach() fail, nothing hangs, nothing is removed', () => {
      const d = scratchPath('dir');
      mkdirSync(d);
      const fifo = scratchPath('fifo');
      const r = spawnSync('mkfifo', [fifo]);
      expect(r.status, 'mkfifo (coreutils)').to.equal(0);
      try {
        for (const path of [d, fifo]) {
          const s = shm();
          s.setNativeKey(path);
          expect(s.create(100), path).to.equal(false);
          expect(s.error()).to.equal(Err.AlreadyExists);
          expect(s.attach(), path).to.equal(false);
          expect(s.error()).to.not.equal(Err.NoError);
          expect(s.errorString()).to.not.equal('');
          expect(existsSync(path)).to.equal(true);
        }
      } finally {
        removeDir(d);
      }
    });

    it('an empty (0-byte) file nobody holds is not a segment: create() fails with AlreadyExists and never removes it', () => {
      // In /dev/shm and elsewhere (an absolute native key can name any file, e.g. an empty
      // marker file in a system directory).
      const elsewhere = join(dir('empty'), 'marker');
      for (const path of [scratchPath('empty'), elsewhere]) {
        writeFileSync(path, '');
        const ino = inodeOf(path);
        const s = shm();
        s.setNativeKey(path);
        expect(s.attach()).to.equal(false);
        expect(s.errorString()).to.match(/not a valid qshm segment/);
        expect(s.create(100), path).to.equal(false);
        expect(s.error()).to.equal(Err.AlreadyExists);
        expect(inodeOf(path), path).to.equal(ino);
        expect(statSync(path).size).to.equal(0);
      }
    });
  });

  /** A hand-made segment file: a valid header unless a field is overridden. */
  function segmentFile(o = {}) {
    const headerSize = o.headerSize ?? Layout.HEADER_SIZE;
    const dataSize = BigInt(o.dataSize ?? 4096);
    const fileSize = o.fileSize ?? Math.max(4096, headerSize) + 4096;
    const b = Buffer.alloc(fileSize);
    if (fileSize >= 64) {
      (o.magic ?? MAGIC).copy(b, Layout.MAGIC_OFFSET);
      b.writeUInt32LE(o.version ?? Layout.VERSION, Layout.VERSION_OFFSET);
      b.writeUInt32LE(headerSize >>> 0, Layout.HEADER_SIZE_OFFSET);
      b.writeBigUInt64LE(dataSize, Layout.DATA_SIZE_OFFSET);
      b.writeUInt32LE(o.slotCount ?? Layout.SLOT_COUNT, Layout.SLOT_COUNT_OFFSET);
      b.writeUInt32LE(o.slotTable ?? Layout.SLOT_TABLE_OFFSET, Layout.SLOT_TABLE_OFFSET_OFFSET);
    } else if (o.raw) {
      o.raw.copy(b);
    }
    if (o.dataAt !== undefined) b.write('DATA', o.dataAt, 'latin1');
    return b;
  }

  describe('hostile or corrupt files give a clear error, never a crash', () => {
    const cases = [
      ['wrong magic', { magic: Buffer.from('NOTQSHM\0') }, /bad magic/],
      ['a Qt/POSIX-style raw segment (all zeros)', { magic: Buffer.alloc(8), version: 0, headerSize: 0, dataSize: 0 }, /bad magic/],
      ['wrong version', { version: 2 }, /version 2/],
      ['version 0xffffffff', { version: 0xffffffff }, /version/],
      ['header size 0', { headerSize: 0 }, /header size/],
      ['header size 5', { headerSize: 5, fileSize: 8192 }, /header size/],
      ['header size not a page multiple', { headerSize: 4097, fileSize: 16384 }, /header size/],
      ['header size 2^31', { headerSize: 2 ** 31, fileSize: 8192 }, /header size/],
      ['header size 0xffffffff', { headerSize: 0xffffffff, fileSize: 8192 }, /header size/],
      ['data size 0', { dataSize: 0 }, /data size/],
      ['data size 2^64-1', { dataSize: 2n ** 64n - 1n }, /data size/],
      ['data size larger than the file', { dataSize: 4097 }, /shorter than/],
      ['header size larger than the file', { headerSize: 65536, dataSize: 1, fileSize: 8192 }, /shorter than/],
      ['a truncated file (shorter than the header)', { fileSize: 100 }, /only 100 bytes/],
      ['a 1-byte file', { fileSize: 1, raw: Buffer.from('Q') }, /only 1 bytes/],
      ['slot count 0', { slotCount: 0 }, /slot table/],
      ['slot count beyond the header', { slotCount: 100000 }, /slot table/],
      ['slot table offset beyond the header', { slotTable: 4092, slotCount: 2 }, /slot table/],
      ['unaligned slot table', { slotTable: 2049 }, /slot table/],
    ];
    for (const [what, fields, reason] of cases) {
      it(`${what}: attach() fails with a clear error, create() does not remove it`, () => {
        const path = scratchPath('hostile');
        const bytes = segmentFile(fields);
        writeFileSync(path, bytes, { mode: 0o600 });
        for (const mode of [ReadWrite, ReadOnly]) {
          const s = shm();
          s.setNativeKey(path);
          expect(s.attach(mode), `${what} mode ${mode}`).to.equal(false);
          expect(s.error()).to.not.equal(Err.NoError);
          expect(s.errorString()).to.match(/^QSharedMemory::attach: /);
          expect(s.errorString()).to.match(reason);
          expect(s.isAttached()).to.equal(false);
          expect(s.data()).to.equal(null);
        }
        const c = shm();
        c.setNativeKey(path);
        expect(c.create(100)).to.equal(false);
        expect(c.error()).to.equal(Err.AlreadyExists);
        expect(readFileSync(path).equals(bytes)).to.equal(true);
      });
    }

    it('a segment file someone truncated (the header says more data than the file has) is refused by a new attach()', () => {
      const path = scratchPath('shrunk');
      const s = shm();
      s.setNativeKey(path);
      expect(s.create(3 * 4096)).to.equal(true);
      const t = spawnSync('truncate', ['-s', '8192', path]);
      expect(t.status, 'truncate (coreutils)').to.equal(0);
      const b = shm();
      b.setNativeKey(path);
      expect(b.attach()).to.equal(false);
      expect(b.errorString()).to.match(/shorter than/);
    });

    it('a hand-made header with an 8192-byte header size is accepted: data starts at the header size', () => {
      const path = scratchPath('bigheader');
      writeFileSync(path, segmentFile({ headerSize: 8192, dataSize: 100, fileSize: 8192 + 4096, dataAt: 8192 }));
      const s = shm();
      s.setNativeKey(path);
      expect(s.attach(), s.errorString()).to.equal(true);
      expect(s.size()).to.equal(100);
      expect(s.data().toString('latin1', 0, 4)).to.equal('DATA');
      expect(s.lock()).to.equal(true);
      expect(s.unlock()).to.equal(true);
      expect(s.detach()).to.equal(true);
      expect(existsSync(path)).to.equal(false); // a valid segment: the last detach removes it
    });
  });

  describe('the dir option', () => {
    it("dir: 'xdg' puts the segment in $XDG_RUNTIME_DIR, and a child with the same environment finds it", async () => {
      const xdg = dir('xdg');
      track.env({ XDG_RUNTIME_DIR: xdg });
      const key = uniqueKey('xdg');
      const s = shm(key, { dir: 'xdg' });
      expect(s.nativeKey().startsWith(`${xdg}/qipc_sharedmemory_`)).to.equal(true);
      expect(s.create(100), s.errorString()).to.equal(true);
      expect(readdirSync(xdg)).to.have.length(1);
      s.data().write('xdg');
      const p = peerProcess([['new', key, { dir: 'xdg' }], ['attach'], ['read', 0, 3]], { env: { ...process.env, XDG_RUNTIME_DIR: xdg } });
      expect((await p.result('read')).value).to.equal('xdg');
      expect((await p.exited).code).to.equal(0);
      const elsewhere = shm(key); // the default directory is another namespace
      expect(elsewhere.attach()).to.equal(false);
      expect(elsewhere.error()).to.equal(Err.NotFound);
      expect(s.detach()).to.equal(true);
      expect(readdirSync(xdg)).to.deep.equal([]);
    });

    it("dir: 'xdg' without XDG_RUNTIME_DIR: create() and attach() fail with KeyError naming the variable", () => {
      track.env({ XDG_RUNTIME_DIR: undefined });
      const key = uniqueKey('noxdg');
      const s = shm(key, { dir: 'xdg' });
      expect(s.create(100)).to.equal(false);
      expect(s.error()).to.equal(Err.KeyError);
      expect(s.errorString()).to.match(/XDG_RUNTIME_DIR/);
      expect(s.attach()).to.equal(false);
      expect(s.error()).to.equal(Err.KeyError);
      expect(s.errorString()).to.match(/XDG_RUNTIME_DIR/);
      expect(existsSync(pathOf(key))).to.equal(false);
    });

    it('a custom dir holds the segment; keys there and in /dev/shm are separate; native keys resolve inside it', () => {
      const d = dir('custom');
      const key = uniqueKey('custom');
      const s = shm(key, { dir: d });
      expect(s.nativeKey()).to.equal(join(d, new QSharedMemory(key).nativeKey().slice('/dev/shm/'.length)));
      expect(s.create(100), s.errorString()).to.equal(true);
      expect(existsSync(s.nativeKey())).to.equal(true);
      expect(existsSync(pathOf(key))).to.equal(false);
      const same = shm(key, { dir: d });
      expect(same.attach()).to.equal(true);
      const other = shm(key);
      expect(other.attach()).to.equal(false);
      expect(other.error()).to.equal(Err.NotFound);
      const rel = shm(undefined, { dir: d });
      rel.setNativeKey('relative-name');
      expect(rel.create(100), rel.errorString()).to.equal(true);
      expect(existsSync(join(d, 'relative-name'))).to.equal(true);
      const abs = shm(undefined, { dir: d });
      const absPath = scratchPath('absolute');
      abs.setNativeKey(absPath); // an absolute native key ignores dir
      expect(abs.create(100), abs.errorString()).to.equal(true);
      expect(existsSync(absPath)).to.equal(true);
      for (const o of [s, same, rel, abs]) expect(o.detach()).to.equal(true);
      expect(readdirSync(d)).to.deep.equal([]);
    });

    for (const [what, mk] of [['does not exist', (d) => join(d, 'missing')], ['is a file', (d) => { writeFileSync(join(d, 'file'), ''); return join(d, 'file'); }]]) {
      it(`a dir that ${what}: create() and attach() fail with a clear KeyError; nothing is created`, () => {
        const parent = dir('nodir');
        const bad = mk(parent);
        const before = readdirSync(parent);
        const s = shm(uniqueKey('nodir'), { dir: bad });
        expect(s.create(100)).to.equal(false);
        expect(s.error()).to.equal(Err.KeyError);
        expect(s.errorString()).to.include(bad);
        expect(s.attach()).to.equal(false);
        expect(s.error()).to.equal(Err.KeyError);
        expect(s.errorString()).to.include(bad);
        expect(readdirSync(parent)).to.deep.equal(before);
      });
    }
  });
  // Issue 14: an attachment maps once and makes its ArrayBuffers (the costly part) only when
  // data() or lock() first needs one.
  describe('views made on demand (Region)', () => {
    it('data() is one Buffer per attachment (the same on every call) and reads as length 0 after detach()', () => {
      const key = uniqueKey('lazydata');
      const a = shm(key);
      expect(a.create(100)).to.equal(true);
      const b = shm(key);
      expect(b.attach()).to.equal(true);
      const d = b.data();
      expect(d).to.equal(b.data());
      a.data().write('made before', 0);
      expect(d.toString('latin1', 0, 11)).to.equal('made before');
      expect(b.lock()).to.equal(true); // the header's view, made now
      expect(b.unlock()).to.equal(true);
      expect(b.detach()).to.equal(true);
      expect(d.length).to.equal(0);
      expect(a.data().toString('latin1', 0, 11)).to.equal('made before');
    });

    it('a region lives while its number or a view is held; one view per address; release detaches every view', () => {
      const path = scratchPath('region');
      writeFileSync(path, Buffer.alloc(8192, 7));
      const fd = native.open(path, C.O_RDWR | C.O_CLOEXEC, 0);
      try {
        const ino = inodeOf(path);
        const id = native.mmapRegion(fd, 4096, C.PROT_READ | C.PROT_WRITE, 4096, C.PROT_READ);
        expect(id).to.be.above(0);
        expect(mappingsOfInode(ino)).to.have.length(2); // one mmap, the second page read-only
        const r = new Region(id);
        const v = r.view(4096, 4096);
        expect(new Uint8Array(v)[0]).to.equal(7);
        expect(r.view(4096, 16)).to.equal(-osConstants.errno.EEXIST);
        expect(r.view(4096, 4097)).to.equal(-osConstants.errno.EINVAL);
        const h = r.view(0, 4096);
        expect(r.release()).to.equal(0);
        expect([v.byteLength, h.byteLength]).to.deep.equal([0, 0]);
        expect(mappingsOfInode(ino)).to.deep.equal([]);
        expect(r.release()).to.equal(0); // idempotent
        expect(r.view(0, 16)).to.equal(-osConstants.errno.EBADF);
        expect(native.regionRelease(id)).to.equal(-osConstants.errno.EBADF);
        for (const bad of [id + 0.5, -1, 2 ** 31, NaN, '1']) {
          expect(() => native.regionView(bad, 0, 16), String(bad)).to.throw(TypeError);
          expect(() => native.regionRelease(bad), String(bad)).to.throw(TypeError);
        }

        // A view outlives the region's number: the memory goes with the last of them.
        const id2 = native.mmapRegion(fd, 4096, C.PROT_READ, 4096, C.PROT_READ);
        const w = native.regionView(id2, 0, 4096);
        expect(native.regionRelease(id2)).to.equal(0);
        expect(mappingsOfInode(ino)).to.have.length(1);
        expect(new Uint8Array(w)[4095]).to.equal(7);
        expect(native.unmap(w)).to.equal(0);
        expect(mappingsOfInode(ino)).to.deep.equal([]);
      } finally {
        native.close(fd);
      }
    });
  });
});
