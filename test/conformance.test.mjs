// SPDX-License-Identifier: MIT
// Qt's QSharedMemory conformance checklist (../shared/qt/conformance.md §7) ported to the
// default 'file' backend. Each test names the item(s) it covers. Items about QNativeIpcKey,
// key types and QSystemSemaphore are tested with those features, not here.
import { expect } from 'chai';
import { existsSync, statfsSync } from 'node:fs';
import { basename } from 'node:path';
import { AccessMode, Layout, SharedMemoryError } from '../dist/index.js';
import { mountTmpfs, peerProcess, peerWorker, track, uniqueKey, unmountTmpfs } from './helpers.mjs';
import { ZERO, Q, increment, patternBytes, producer } from './fixtures/core-protocol.mjs';

const { ReadOnly, ReadWrite } = AccessMode;
const Err = SharedMemoryError;

const shm = track.shm;
/** A QSharedMemory created (and attached) with `size` bytes on a fresh unique key. */
function created(name, size = 1024, options) {
  const s = shm(uniqueKey(name), options);
  expect(s.create(size), s.errorString()).to.equal(true);
  return s;
}

/** Qt's checks for an object that is not attached. */
function expectDetachedState(s) {
  expect(s.isAttached()).to.equal(false);
  expect(s.data()).to.equal(null);
  expect(s.constData()).to.equal(null);
  expect(s.size()).to.equal(0);
}

/** Qt's checks after a failed create()/attach(): detached, with a non-empty error text. */
function expectFailedState(s, error) {
  expectDetachedState(s);
  expect(s.error()).to.equal(error);
  expect(s.errorString()).to.be.a('string').and.not.equal('');
}

describe('conformance (file backend)', function () {
  describe('construction and keys', () => {
    it('#1 a new object with no key is detached with no error and empty keys', () => {
      const s = shm();
      expectDetachedState(s);
      expect(s.nativeKey()).to.equal('');
      expect(s.key()).to.equal('');
      expect(s.error()).to.equal(Err.NoError);
      expect(s.errorString()).to.equal('');
      expect(s.backend).to.equal('file');
    });

    for (const [ctorKey, nativeKey] of [['', 'two'], ['one', 'two'], ['one', '/dev/shm/qshmtest-absolute'], ['', '|x']]) {
      it(`#4 setNativeKey(${JSON.stringify(nativeKey)}) after constructor key ${JSON.stringify(ctorKey)} sets it without attaching or an error`, () => {
        const s = shm(ctorKey);
        s.setNativeKey(nativeKey);
        expect(s.nativeKey()).to.equal(nativeKey);
        expect(s.key()).to.equal('');
        expectDetachedState(s);
        expect(s.error()).to.equal(Err.NoError);
        expect(s.errorString()).to.equal('');
        expect(s.detach()).to.equal(false);
      });
    }

    it('#6 names containing "/" and "|" ("o/e", "t/o", "|x") are accepted without an error', () => {
      const s = shm('o/e');
      expect(s.key()).to.equal('o/e');
      expect(s.error()).to.equal(Err.NoError);
      // The legacy derivation keeps only letters: no "/" ends up in the file name.
      expect(basename(s.nativeKey())).to.match(/^qipc_sharedmemory_oe[0-9a-f]{40}$/);
      s.setKey('t/o');
      expect(s.key()).to.equal('t/o');
      expect(basename(s.nativeKey())).to.match(/^qipc_sharedmemory_to[0-9a-f]{40}$/);
      s.setNativeKey('|x');
      expect(s.nativeKey()).to.equal('|x');
      expect(s.error()).to.equal(Err.NoError);
      expect(s.errorString()).to.equal('');
      expectDetachedState(s);
    });

    it('#6 a segment whose key contains "/" and "|" can be created and attached', () => {
      const key = `${uniqueKey('slash')}/o|e`;
      const a = shm(key);
      expect(a.create(64), a.errorString()).to.equal(true);
      const b = shm(key);
      expect(b.attach(), b.errorString()).to.equal(true);
      const n = shm();
      n.setNativeKey(`${uniqueKey('pipe')}|x`); // relative native key: a name inside /dev/shm
      expect(n.create(64), n.errorString()).to.equal(true);
      expect(existsSync(`/dev/shm/${n.nativeKey()}`)).to.equal(true);
    });

    for (const how of ['no key', 'a key', 'a native key']) {
      it(`#7 detach() on an object with ${how} that was never attached returns false`, () => {
        const s = shm(how === 'a key' ? uniqueKey('neverattached') : undefined);
        if (how === 'a native key') s.setNativeKey('/dev/shm/qshmtest-never');
        expect(s.detach()).to.equal(false);
        expect(s.error()).to.equal(Err.NoError);
      });
    }

    for (const k of ['', 'one']) {
      it(`#8 constructing from ${JSON.stringify(k)}: key() is it, nativeKey() non-empty exactly when it is`, () => {
        const s = shm(k);
        expect(s.key()).to.equal(k);
        expect(s.nativeKey() !== '').to.equal(k !== '');
        expect(s.error()).to.equal(Err.NoError);
      });
    }

    for (const [k1, k2] of [['', 'one'], ['one', ''], ['one', 'two']]) {
      it(`#9 setKey(${JSON.stringify(k2)}) after ${JSON.stringify(k1)}: key() is it, nativeKey() non-empty exactly when it is`, () => {
        const s = shm(k1);
        s.setKey(k2);
        expect(s.key()).to.equal(k2);
        expect(s.nativeKey() !== '').to.equal(k2 !== '');
        expectDetachedState(s);
        expect(s.error()).to.equal(Err.NoError);
      });
    }

    it('#10 setNativeKey("|x") makes key() empty and nativeKey() exactly "|x"', () => {
      const s = shm('one');
      s.setKey('two');
      s.setNativeKey('|x');
      expect(s.key()).to.equal('');
      expect(s.nativeKey()).to.equal('|x');
      expectDetachedState(s);
      expect(s.detach()).to.equal(false);
    });

    const pairs = [['', ''], ['key', 'key'], ['key1', 'key1'], ['key', 'key1'], ['ke1y', 'key1'], ['key1', 'key2'], ['Noël', 'Nol']];
    for (const [k1, k2] of pairs) {
      it(`#12 (and #11/#13 in legacy form) native keys of ${JSON.stringify(k1)} and ${JSON.stringify(k2)} are equal exactly when the keys are`, () => {
        expect(shm(k1).nativeKey() === shm(k2).nativeKey()).to.equal(k1 === k2);
      });
    }

    it('#12 legacy native names match Qt byte for byte ("market", "Noël", "Nol")', () => {
      expect(shm('market').nativeKey()).to.equal('/dev/shm/qipc_sharedmemory_market5c9f73af73334ffe350c60ec076e5744db0ecda3');
      expect(shm('legacy_key').nativeKey()).to.equal('/dev/shm/qipc_sharedmemory_legacykeyf595941b119b425dde7bede0642842c15efd8f32');
      expect(shm('Noël').nativeKey()).to.equal('/dev/shm/qipc_sharedmemory_Nolf74a492d6bd59d7591144462d27aa3e29d1701c1');
      expect(shm('Nol').nativeKey()).to.equal('/dev/shm/qipc_sharedmemory_Nol48ec124f85b2a18e06f1729acc335f760d458771');
    });
  });

  describe('create()', () => {
    it('#14 #15 create(1024) on a fresh key succeeds, attached, with data and size, keys unchanged', () => {
      const key = uniqueKey('create');
      const s = shm(key);
      const native = s.nativeKey();
      expect(s.create(1024)).to.equal(true);
      expect(s.errorString()).to.equal('');
      expect(s.error()).to.equal(Err.NoError);
      expect(s.isAttached()).to.equal(true);
      expect(s.data()).to.be.instanceOf(Buffer);
      expect(s.size()).to.equal(1024);
      expect(s.data().length).to.equal(s.size());
      expect(s.key()).to.equal(key);
      expect(s.nativeKey()).to.equal(native);
      expect(existsSync(native)).to.equal(true);
    });

    for (const how of ['no key', 'an empty key']) {
      it(`#16 create(1024) with ${how} fails with KeyError`, () => {
        const s = shm(how === 'no key' ? undefined : '');
        expect(s.create(1024)).to.equal(false);
        expectFailedState(s, Err.KeyError);
      });
    }

    it('#17 create(-1) fails with InvalidSize and leaves no file', () => {
      const s = shm(uniqueKey('negsize'));
      expect(s.create(-1)).to.equal(false);
      expectFailedState(s, Err.InvalidSize);
      expect(existsSync(s.nativeKey())).to.equal(false);
    });

    it('#18 create(0) fails with InvalidSize and leaves no file', () => {
      const s = shm(uniqueKey('zerosize'));
      expect(s.create(0)).to.equal(false);
      expectFailedState(s, Err.InvalidSize);
      expect(existsSync(s.nativeKey())).to.equal(false);
    });

    it('#19 create() on a key another live object created fails with AlreadyExists; the creator is unaffected', () => {
      const a = created('existing');
      a.data().write('still here');
      const b = shm(a.key());
      expect(b.create(1024)).to.equal(false);
      expectFailedState(b, Err.AlreadyExists);
      expect(b.errorString()).to.equal('QSharedMemory::create: already exists');
      expect(a.isAttached()).to.equal(true);
      expect(a.data().toString('latin1', 0, 10)).to.equal('still here');
      // A second create() on the same, already attached object fails too.
      expect(a.create(1024)).to.equal(false);
      expect(a.error()).to.equal(Err.AlreadyExists);
      expect(a.isAttached()).to.equal(true);
    });

    for (const size of [1024, 3 * 4096 + 1]) {
      it(`#20 a newly created ${size}-byte segment reads back as all zeros`, () => {
        const s = created('zeros', size);
        expect(s.data().length).to.equal(size);
        expect(s.data().every((b) => b === 0)).to.equal(true);
      });
    }

    it('#21 create(1024, ReadOnly) succeeds and every byte reads as 0 (emptyMemory)', () => {
      const s = shm(uniqueKey('voidland'));
      expect(s.create(1024, ReadOnly), s.errorString()).to.equal(true);
      expect(s.size()).to.equal(1024);
      expect(s.data().every((b) => b === 0)).to.equal(true);
    });

    it('#22 #23 create(512) → detach() → create(512) on one object, then a fresh object attaches', () => {
      const s = shm(uniqueKey('double'));
      expect(s.create(512)).to.equal(true);
      expect(s.detach()).to.equal(true);
      expect(existsSync(s.nativeKey())).to.equal(false);
      expect(s.create(512), s.errorString()).to.equal(true);
      const consumer = shm(s.key());
      expect(consumer.attach(), consumer.errorString()).to.equal(true);
      expect(consumer.size()).to.equal(512);
    });

    for (const kind of ['legacy key', 'native key']) {
      it(`#24 with a ${kind}: a failed attach() does not stop create(100) on the same object (attachBeforeCreate)`, () => {
        const s = shm();
        if (kind === 'legacy key') s.setKey(uniqueKey('test'));
        else s.setNativeKey(`/dev/shm/${uniqueKey('test')}`);
        expect(s.attach()).to.equal(false);
        expect(s.error()).to.equal(Err.NotFound);
        expect(s.create(100), s.errorString()).to.equal(true);
        expect(s.error()).to.equal(Err.NoError);
        expect(s.errorString()).to.equal('');
      });
    }

    it('#25 a failed create() + attach() + detach() by others never removes the creator\'s segment (createWithSameKey)', () => {
      const key = uniqueKey('legacy_key');
      const a = shm(key);
      expect(a.create(100)).to.equal(true);
      a.data().write('A');
      for (let round = 0; round < 2; round++) {
        const b = shm(key);
        expect(b.create(100), `round ${round}`).to.equal(false);
        expect(b.error()).to.equal(Err.AlreadyExists);
        expect(b.attach(), `round ${round}: ${b.errorString()}`).to.equal(true);
        expect(b.data().toString('latin1', 0, 1)).to.equal('A');
        expect(b.detach()).to.equal(true);
        expect(existsSync(a.nativeKey())).to.equal(true);
      }
    });
  });

  describe('attach() and detach()', () => {
    it('#26 attach() with an empty key fails with KeyError; detach() then returns false', () => {
      for (const s of [shm(), shm('')]) {
        expect(s.attach()).to.equal(false);
        expectFailedState(s, Err.KeyError);
        expect(s.detach()).to.equal(false);
      }
    });

    it('#27 attach() to a key that does not exist fails with NotFound; detach() then returns false', () => {
      const s = shm(uniqueKey('doesntexist'));
      expect(s.attach()).to.equal(false);
      expectFailedState(s, Err.NotFound);
      expect(s.detach()).to.equal(false);
    });

    it('#28 #29 attach() to an existing segment; detach/attach/detach cycle; then size 0 and data null', () => {
      const existing = created('existing');
      const s = shm(existing.key());
      const native = s.nativeKey();
      expect(s.attach()).to.equal(true);
      expect(s.isAttached()).to.equal(true);
      expect(s.error()).to.equal(Err.NoError);
      expect(s.errorString()).to.equal('');
      expect(s.data()).to.be.instanceOf(Buffer);
      expect(s.size()).to.equal(1024);
      expect(s.nativeKey()).to.equal(native);
      expect(s.detach()).to.equal(true);
      expect(s.attach()).to.equal(true);
      expect(s.data()).to.be.instanceOf(Buffer);
      expect(s.size()).to.equal(1024);
      expect(s.detach()).to.equal(true);
      expectDetachedState(s);
      expect(s.detach()).to.equal(false);
    });

    it('#30 detaching one of two attachments leaves the segment alive for the other', () => {
      const a = created('two');
      const b = shm(a.key());
      expect(b.attach()).to.equal(true);
      a.data().write('shared');
      expect(a.detach()).to.equal(true);
      expect(existsSync(b.nativeKey())).to.equal(true);
      expect(b.data().toString('latin1', 0, 6)).to.equal('shared');
      const c = shm(a.key());
      expect(c.attach(), c.errorString()).to.equal(true);
      expect(c.data().toString('latin1', 0, 6)).to.equal('shared');
    });

    it('#31 two attachments in one process get different data() views of the same memory', () => {
      const a = created('views', 512);
      const b = shm(a.key());
      expect(b.attach()).to.equal(true);
      expect(a.data()).to.not.equal(b.data());
      expect(a.data().buffer).to.not.equal(b.data().buffer);
      a.data()[7] = 42;
      expect(b.data()[7]).to.equal(42);
    });

    for (const mode of [ReadOnly, ReadWrite]) {
      it(`#32 #33 every byte the creator writes is seen at once by a ${mode === ReadOnly ? 'ReadOnly' : 'ReadWrite'} consumer, which then detaches`, () => {
        const producerShm = created('market', 512);
        const consumerShm = shm(producerShm.key());
        expect(consumerShm.attach(mode)).to.equal(true);
        const p = producerShm.data();
        const c = consumerShm.data();
        for (let i = 0; i < 512; i++) {
          p[i] = Q;
          expect(c[i], `byte ${i}`).to.equal(Q);
        }
        expect(consumerShm.detach()).to.equal(true);
      });
    }

    it('#34 after every attachment is gone, attach() fails with NotFound and the file is gone (removeWhileAttached)', () => {
      const one = created('one');
      const two = shm(one.key());
      expect(two.attach()).to.equal(true);
      expect(one.detach()).to.equal(true);
      expect(two.detach()).to.equal(true);
      expect(existsSync(one.nativeKey())).to.equal(false);
      const three = shm(one.key());
      expect(three.attach()).to.equal(false);
      expect(three.error()).to.equal(Err.NotFound);
    });

    it('#35 #36 (file analogue of the key-type switch) re-keying an attached object detaches it; attach() to a missing name fails with NotFound', () => {
      const a = created('existing');
      const s = shm(a.key());
      expect(s.attach()).to.equal(true);
      s.setNativeKey(`/dev/shm/${uniqueKey('elsewhere')}`);
      expectDetachedState(s);
      expect(s.attach()).to.equal(false);
      expect(s.error()).to.equal(Err.NotFound);
      s.setKey(a.key());
      expect(s.attach()).to.equal(true);
      s.setKey(uniqueKey('other'));
      expectDetachedState(s);
      expect(s.attach()).to.equal(false);
      expect(s.error()).to.equal(Err.NotFound);
      s.setKey('');
      expect(s.attach()).to.equal(false);
      expect(s.error()).to.equal(Err.KeyError);
    });

    it('#37 attach() on an object that is already attached returns false and leaves it attached', () => {
      const a = created('already');
      expect(a.attach()).to.equal(false);
      expect(a.isAttached()).to.equal(true);
      const b = shm(a.key());
      expect(b.attach(ReadOnly)).to.equal(true);
      expect(b.attach()).to.equal(false);
      expect(b.isAttached()).to.equal(true);
      expect(b.size()).to.equal(1024);
    });
  });

  describe('lock() and unlock()', () => {
    it('#38 lock() with no key fails with LockError', () => {
      const s = shm();
      expect(s.lock()).to.equal(false);
      expect(s.error()).to.equal(Err.LockError);
      expect(s.errorString()).to.not.equal('');
    });

    it('#39 lock() with a key set but before create()/attach() fails with LockError', () => {
      const s = shm();
      s.setNativeKey(`/dev/shm/${uniqueKey('qsharedmemory')}`);
      expect(s.lock()).to.equal(false);
      expect(s.error()).to.equal(Err.LockError);
      s.setKey(uniqueKey('legacy'));
      expect(s.lock()).to.equal(false);
      expect(s.error()).to.equal(Err.LockError);
    });

    it('#40 #41 after create(100) lock() succeeds; a second lock() returns true at once with an "already locked" warning', async () => {
      const s = created('lock', 100);
      expect(s.lock()).to.equal(true);
      const warnings = [];
      const onWarning = (w) => warnings.push(w.message);
      process.on('warning', onWarning);
      try {
        expect(s.lock()).to.equal(true);
        await new Promise((r) => setImmediate(r)); // warnings are emitted on the next tick
      } finally {
        process.off('warning', onWarning);
      }
      expect(warnings).to.include('QSharedMemory::lock: already locked');
      expect(s.isLocked()).to.equal(true);
      expect(s.unlock()).to.equal(true);
    });

    it('#42 detaching an object that holds the lock does not deadlock and releases the lock', () => {
      const a = created('lockdetach', 100);
      const b = shm(a.key());
      expect(b.attach()).to.equal(true);
      expect(a.lock()).to.equal(true);
      expect(b.tryLock(0)).to.equal(false);
      expect(a.detach()).to.equal(true);
      expect(a.isLocked()).to.equal(false);
      expect(b.tryLock(0)).to.equal(true);
      expect(b.lockWasAbandoned()).to.equal(false);
      expect(b.unlock()).to.equal(true);
    });

    it('#43 holding is a flag: one unlock() releases a repeated lock(); unlock() without holding returns false', () => {
      const a = created('flag', 100);
      const b = shm(a.key());
      expect(b.attach()).to.equal(true);
      expect(a.unlock()).to.equal(false);
      expect(a.lock()).to.equal(true);
      expect(a.lock()).to.equal(true);
      expect(b.unlock()).to.equal(false); // b does not hold it
      expect(b.tryLock(0)).to.equal(false);
      expect(a.unlock()).to.equal(true);
      expect(a.unlock()).to.equal(false);
      expect(b.tryLock(0)).to.equal(true);
      expect(b.unlock()).to.equal(true);
    });

    it('#44 lock() excludes other objects in the same thread', () => {
      const a = created('samethread', 100);
      const b = shm(a.key());
      expect(b.attach()).to.equal(true);
      expect(a.lock()).to.equal(true);
      expect(b.tryLock(0)).to.equal(false);
      expect(b.tryLock(20)).to.equal(false);
      expect(b.error()).to.equal(Err.NoError);
      expect(a.unlock()).to.equal(true);
      expect(b.tryLock(0)).to.equal(true);
      expect(a.tryLock(0)).to.equal(false);
      expect(b.unlock()).to.equal(true);
    });

    it('#44 [MT] lock() excludes worker threads: 3 workers + the main thread × 20,000 locked increments end exact', async () => {
      const s = created('threads', 64);
      const workers = [0, 1, 2].map(() => peerWorker([['new', s.key()], ['attach'], ['wait'], ['increment', 20000], ['detach']]));
      for (const w of workers) expect((await w.result('attach')).ok).to.equal(true);
      for (const w of workers) w.send();
      const mainAbandoned = increment(s, 20000);
      const results = await Promise.all(workers.map((w) => w.result('increment')));
      const exits = await Promise.all(workers.map((w) => w.exited));
      expect(exits.map((e) => e.code)).to.deep.equal([0, 0, 0]);
      expect(s.data().readUInt32LE(0)).to.equal(80000);
      expect([mainAbandoned, ...results.map((r) => r.value)]).to.deep.equal([0, 0, 0, 0]);
    });

    it('#45 #68 [MP] two processes × 100,000 locked increments of a shared counter end exact', async () => {
      const s = created('counter', 64);
      const steps = [['new', s.key()], ['attach'], ['wait'], ['increment', 100000], ['detach']];
      const peers = [peerProcess(steps), peerProcess(steps)];
      for (const p of peers) expect((await p.result('attach')).ok).to.equal(true);
      for (const p of peers) p.send();
      const results = await Promise.all(peers.map((p) => p.result('increment')));
      const exits = await Promise.all(peers.map((p) => p.exited));
      expect(exits.map((e) => e.code), exits.map((e) => e.stderr).join('')).to.deep.equal([0, 0]);
      expect(s.data().readUInt32LE(0)).to.equal(200000);
      expect(results.map((r) => r.value)).to.deep.equal([0, 0]); // nobody saw an abandoned lock
    });

    it('#45 [MP] a consumer process sees every byte a producer process wrote (64 KiB pattern)', async () => {
      const key = uniqueKey('pattern');
      const prod = peerProcess([['new', key], ['create', 65536], ['lock'], ['pattern', 12345], ['unlock'], ['wait'], ['detach']]);
      expect((await prod.result('unlock')).ok).to.equal(true);
      const cons = peerProcess([['new', key], ['attach', ReadOnly], ['read', 0, 65536]]);
      const read = await cons.result('read');
      expect(Buffer.from(read.value, 'latin1').equals(patternBytes(12345, 65536)), 'the consumer read different bytes').to.equal(true);
      expect((await cons.exited).code).to.equal(0);
      prod.send();
      expect((await prod.exited).code).to.equal(0);
    });

    it('#45 [MP] a process cannot take the lock while this one holds it, and gets it after unlock()', async () => {
      const s = created('xproc', 100);
      expect(s.lock()).to.equal(true);
      const p = peerProcess([['new', s.key()], ['attach'], ['tryLock', 0], ['tryLock', 50], ['wait'], ['lock'], ['unlock']]);
      expect((await p.result('tryLock')).ok).to.equal(false);
      expect((await p.result('tryLock')).ok).to.equal(false);
      expect(s.unlock()).to.equal(true);
      p.send();
      const locked = await p.result('lock');
      expect(locked.ok).to.equal(true);
      expect(locked.value).to.equal(false); // not abandoned
      expect((await p.result('unlock')).ok).to.equal(true);
      expect((await p.exited).code).to.equal(0);
      expect(s.tryLock(0)).to.equal(true);
      expect(s.unlock()).to.equal(true);
    });

    it('#69 [MP] a process killed while holding the lock does not leave it locked: the next locker takes it over', async () => {
      const s = created('killed', 100);
      const p = peerProcess([['new', s.key()], ['attach'], ['lock'], ['wait']]);
      expect((await p.result('lock')).ok).to.equal(true);
      expect(s.tryLock(0)).to.equal(false);
      expect((await p.kill('SIGKILL')).signal).to.equal('SIGKILL');
      expect(await s.lockAsync({ timeoutMs: 20000 })).to.equal(true);
      expect(s.lockWasAbandoned()).to.equal(true);
      expect(s.unlock()).to.equal(true);
      expect(s.tryLock(0)).to.equal(true);
      expect(s.lockWasAbandoned()).to.equal(false);
      expect(s.unlock()).to.equal(true);
    });

    it('#71 [MP] while process A holds the lock, failed create() calls by others do not let process C take it', async () => {
      const s = created('holdcreate', 100);
      const a = peerProcess([['new', s.key()], ['attach'], ['lock'], ['wait'], ['unlock'], ['wait']]);
      expect((await a.result('lock')).ok).to.equal(true);
      // B: a failed create() in this process and in another one.
      const b = shm(s.key());
      expect(b.create(100)).to.equal(false);
      expect(b.error()).to.equal(Err.AlreadyExists);
      const b2 = peerProcess([['new', s.key()], ['create', 100]]);
      expect((await b2.result('create')).error).to.equal(Err.AlreadyExists);
      await b2.exited;
      const c = peerProcess([['new', s.key()], ['attach'], ['tryLock', 200], ['wait'], ['lock'], ['unlock']]);
      expect((await c.result('tryLock')).ok).to.equal(false);
      a.send(); // A unlocks
      expect((await a.result('unlock')).ok).to.equal(true);
      c.send();
      expect((await c.result('lock')).ok).to.equal(true);
      expect((await c.exited).code).to.equal(0);
      a.send();
      expect((await a.exited).code).to.equal(0);
    });
  });

  describe('producer/consumer', function () {
    this.timeout(60000);

    /** One run of Qt's threaded producer/consumer with `n` worker consumers. */
    async function threadedRun(n, producerIsThread) {
      const key = uniqueKey('market');
      // Consumers start first and must see only NotFound/KeyError until the producer creates (#46).
      const consumers = Array.from({ length: n }, () => peerWorker([['new', key], ['consumer', ReadWrite]]));
      for (const c of consumers) await c.event('polling');
      let produced;
      let endCount;
      if (producerIsThread) {
        const p = peerWorker([['new', key], ['create', 1024], ['producer', 5], ['wait'], ['read', 1, 1], ['detach']]);
        expect((await p.result('create')).ok).to.equal(true);
        produced = (await p.result('producer')).value;
        await Promise.all(consumers.map((c) => c.exited));
        p.send();
        endCount = (await p.result('read')).value.charCodeAt(0);
        expect((await p.result('detach')).ok).to.equal(true);
        expect((await p.exited).code).to.equal(0);
      } else {
        const s = shm(key);
        expect(s.create(1024), s.errorString()).to.equal(true);
        produced = await producer(s, 5);
        await Promise.all(consumers.map((c) => c.exited));
        endCount = s.data()[1];
        expect(s.detach()).to.equal(true);
      }
      const results = await Promise.all(consumers.map((c) => c.result('consumer')));
      expect(produced).to.equal(5);
      let consumed = 0;
      for (const { value: r } of results) {
        expect(r.attached).to.equal(true);
        expect(Object.keys(r.failures).map(Number)).to.not.be.empty;
        for (const code of Object.keys(r.failures).map(Number)) expect([Err.NotFound, Err.KeyError]).to.include(code);
        expect(r.sawEnd).to.equal(true);
        expect(r.detached).to.equal(true);
        consumed += r.consumed;
      }
      expect(consumed).to.equal(5); // every hand-off consumed exactly once
      expect(endCount).to.equal(ZERO + n); // every consumer saw 'E'
      for (const c of consumers) expect((await c.exited).code).to.equal(0);
    }

    for (const n of [1, 5]) {
      for (const producerIsThread of [true, false]) {
        it(`#46 #47 [MT] ${n} consumer thread(s), producer ${producerIsThread ? 'is a thread' : 'is this thread'} (5 runs)`, async () => {
          for (let run = 0; run < 5; run++) await threadedRun(n, producerIsThread);
        });
      }
    }

    /** Qt's simpleProcessProducerConsumer, with the consumers started first or after the producer. */
    async function processRun(n, consumersFirst) {
      const key = uniqueKey('market');
      const startConsumers = () => Array.from({ length: n }, () => peerProcess([['new', key], ['consumer', ReadWrite]]));
      let consumers = [];
      if (consumersFirst) {
        consumers = startConsumers();
        for (const c of consumers) await c.event('polling');
      }
      const p = peerProcess([['new', key], ['create', 1024], ['producer', 5], ['wait'], ['read', 1, 1], ['detach']]);
      expect((await p.result('create')).ok).to.equal(true);
      if (!consumersFirst) consumers = startConsumers();
      expect((await p.result('producer')).value).to.equal(5);
      const results = await Promise.all(consumers.map((c) => c.result('consumer')));
      const exits = await Promise.all(consumers.map((c) => c.exited));
      expect(exits.map((e) => e.code)).to.deep.equal(Array(n).fill(0));
      p.send();
      expect((await p.result('read')).value.charCodeAt(0)).to.equal(ZERO + n);
      expect((await p.result('detach')).ok).to.equal(true);
      expect((await p.exited).code).to.equal(0);
      let consumed = 0;
      for (const { value: r } of results) {
        expect(r.attached).to.equal(true);
        for (const code of Object.keys(r.failures).map(Number)) expect([Err.NotFound, Err.KeyError]).to.include(code);
        if (consumersFirst) expect(Object.keys(r.failures)).to.not.be.empty;
        expect(r.sawEnd).to.equal(true);
        expect(r.detached).to.equal(true);
        consumed += r.consumed;
      }
      expect(consumed).to.equal(5);
      expect(existsSync(shm(key).nativeKey())).to.equal(false);
    }

    for (const n of [1, 5]) {
      it(`#49 #50 [MP] producer process + ${n} consumer process(es), started after the producer (3 runs)`, async () => {
        for (let run = 0; run < 3; run++) await processRun(n, false);
      });
      it(`#46 #49 [MP] ${n} consumer process(es) polling before the producer creates (3 runs)`, async () => {
        for (let run = 0; run < 3; run++) await processRun(n, true);
      });
    }

    it('#48 [MP] a child that creates ReadOnly, locks and writes one byte crashes (killed by a signal)', async () => {
      const key = uniqueKey('readonly_segfault');
      track.path(shm(key).nativeKey()); // the crashed child cannot remove it
      const p = peerProcess([['new', key], ['create', 1024, ReadOnly], ['lock'], ['write', 0, 'a'], ['unlock']], { noCoreDump: true });
      expect((await p.result('create')).ok).to.equal(true);
      expect((await p.result('lock')).ok).to.equal(true);
      const end = await p.exited;
      expect(end.code, end.stderr).to.equal(null);
      expect(end.signal).to.be.oneOf(['SIGSEGV', 'SIGBUS']);
      expect(p.log.map((m) => m.op)).to.not.include('write');
    });

    it('#50 [MP] a key handed to a child as a string (legacy key or native path) addresses the same segment and lock', async () => {
      const s = created('handoff', 100);
      s.data().write('hello');
      expect(s.lock()).to.equal(true);
      const byKey = peerProcess([['new', s.key()], ['attach'], ['read', 0, 5], ['tryLock', 0]]);
      const byPath = peerProcess([['native', s.nativeKey()], ['attach'], ['read', 0, 5], ['tryLock', 0]]);
      for (const p of [byKey, byPath]) {
        const end = await p.exited;
        expect(end.code, end.stderr).to.equal(0);
        const log = Object.fromEntries(p.log.map((m) => [m.op, m]));
        expect(log.attach.ok).to.equal(true);
        expect(log.read.value).to.equal('hello');
        expect(log.tryLock.ok).to.equal(false); // the same lock: held here
      }
      expect(s.unlock()).to.equal(true);
    });
  });

  describe('resource limits', function () {
    this.timeout(60000);

    it('#51 #52 creating 32 MiB segments eventually fails with OutOfResources; the failed object is clean', function () {
      const dir = mountTmpfs('72m', this);
      const ok = [];
      try {
        let failed = null;
        for (let i = 0; i < 10 && !failed; i++) {
          const s = shm(`maxmemorytest_${uniqueKey()}_${i}`, { dir });
          if (s.create(32 << 20)) {
            expect(s.isAttached()).to.equal(true); // #52
            ok.push(s);
          } else failed = s;
        }
        expect(ok.length).to.equal(2);
        expect(failed).to.not.equal(null);
        const key = failed.key();
        const native = failed.nativeKey();
        expectFailedState(failed, Err.OutOfResources);
        expect(failed.key()).to.equal(key);
        expect(failed.nativeKey()).to.equal(native);
        expect(failed.attach()).to.equal(false);
        expect(failed.detach()).to.equal(false);
        expect(existsSync(native)).to.equal(false);
        for (const s of ok) expect(s.detach()).to.equal(true);
        const st = statfsSync(dir);
        expect(st.bfree).to.equal(st.blocks); // the failed create left no pages behind
      } finally {
        for (const s of ok) s.detach();
        unmountTmpfs(dir);
      }
    });

    it('#53 attaching without limit eventually fails with OutOfResources; the failed object is clean', () => {
      const government = created('government', 1024);
      const attached = [];
      let failed = null;
      for (let i = 0; i < 2000 && !failed; i++) {
        const s = shm(government.key());
        if (s.attach()) attached.push(s);
        else failed = s;
      }
      expect(failed, 'every attach succeeded').to.not.equal(null);
      expect(attached.length + 1).to.equal(Layout.SLOT_COUNT); // one slot per attachment, the creator's included
      expectFailedState(failed, Err.OutOfResources);
      expect(failed.key()).to.equal(government.key());
      expect(failed.detach()).to.equal(false);
      // Detaching one frees a place again.
      expect(attached.pop().detach()).to.equal(true);
      expect(failed.attach(), failed.errorString()).to.equal(true);
    });

    for (const size of [Number.MAX_SAFE_INTEGER, 2 ** 50]) {
      it(`#70 create(${size}) (above what the system can hold) returns false with InvalidSize or OutOfResources, never throws`, () => {
        const s = shm(uniqueKey('huge'));
        let r;
        expect(() => (r = s.create(size))).to.not.throw();
        expect(r).to.equal(false);
        expect([Err.InvalidSize, Err.OutOfResources]).to.include(s.error());
        expectDetachedState(s);
        expect(existsSync(s.nativeKey())).to.equal(false);
      });
    }
  });
});
