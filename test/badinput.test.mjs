// SPDX-License-Identifier: MIT
// Bad input to the default 'file' backend (issue 2, "Bad input"): wrong types throw TypeError;
// bad values return false with Qt's error code; no failure leaves anything on disk.
import { expect } from 'chai';
import { existsSync, readdirSync, statfsSync } from 'node:fs';
import { join } from 'node:path';
import { AccessMode, QSharedMemory, SharedMemoryError } from '../dist/index.js';
import { leftovers, uniqueKey } from './helpers.mjs';
import { mountTmpfs, testResources, unmountTmpfs } from './fixtures/core-lib.mjs';

const Err = SharedMemoryError;
const MiB = 1 << 20;

const res = testResources();
const shm = res.shm;

let baseline;

/** Nothing new in /dev/shm, /tmp/qipc_* or ipcs since the test began. */
function expectNothingLeft() {
  expect(leftovers().filter((x) => !baseline.has(x))).to.deep.equal([]);
}

/** A failed create()/attach(): false, the error code, a Qt-style text, detached, no file. */
function expectFailure(s, ok, error, fn = 'create') {
  expect(ok, s.errorString()).to.equal(false);
  expect(s.error()).to.equal(error);
  // Qt's attach() reports key problems from QSharedMemory::handle, as Qt does.
  expect(s.errorString()).to.match(new RegExp(`^QSharedMemory::(${fn === 'attach' ? 'attach|handle' : fn}): .+`));
  expect(s.isAttached()).to.equal(false);
  expect(s.data()).to.equal(null);
  expect(s.size()).to.equal(0);
  if (s.nativeKey() !== '') expect(existsSync(s.nativeKey()), s.nativeKey()).to.equal(false);
  expectNothingLeft();
}

function expectTypeError(fn) {
  let err;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err, 'expected a TypeError').to.be.instanceOf(TypeError);
  expect(err.code).to.equal('ERR_INVALID_ARG_TYPE');
}

describe('bad input (file backend)', function () {
  beforeEach(() => {
    baseline = new Set(leftovers());
  });
  afterEach(() => res.cleanup());

  describe('wrong types throw TypeError', () => {
    for (const key of [123, null, {}, ['k'], Symbol('k'), true, 1n]) {
      const shown = typeof key === 'symbol' ? 'a symbol' : typeof key === 'bigint' ? 'a bigint' : JSON.stringify(key);
      it(`a non-string key (${shown}) → TypeError from the constructor, setKey() and setNativeKey()`, () => {
        expectTypeError(() => new QSharedMemory(key));
        const s = shm(uniqueKey('types'));
        expectTypeError(() => s.setKey(key));
        expectTypeError(() => s.setNativeKey(key));
        expect(s.key()).to.match(/^qshmtest/); // the failed calls changed nothing
      });
    }

    for (const size of ['1024', null, undefined, 1024n, {}, [1024], true]) {
      const shown = typeof size === 'bigint' ? '1024n' : String(JSON.stringify(size));
      it(`a non-number size (${shown}) → TypeError from create(), nothing created`, () => {
        const s = shm(uniqueKey('size'));
        expectTypeError(() => s.create(size));
        expect(s.isAttached()).to.equal(false);
        expect(existsSync(s.nativeKey())).to.equal(false);
        expectNothingLeft();
      });
    }

    it('an access mode that is not AccessMode.ReadOnly/ReadWrite → TypeError from create() and attach()', () => {
      const s = shm(uniqueKey('mode'));
      for (const mode of [2, -1, 'ReadOnly', null, true]) {
        expectTypeError(() => s.create(100, mode));
        expectTypeError(() => s.attach(mode));
      }
      expect(existsSync(s.nativeKey())).to.equal(false);
    });

    it('bad options → TypeError (options, backend, dir, mode type), RangeError (mode out of range)', () => {
      for (const options of [null, 'file', 42]) expectTypeError(() => new QSharedMemory('k', options));
      expectTypeError(() => new QSharedMemory('k', { backend: 'nfs' }));
      expectTypeError(() => new QSharedMemory('k', { dir: 42 }));
      expectTypeError(() => new QSharedMemory('k', { mode: '0600' }));
      for (const mode of [-1, 0o10000, 1.5, NaN]) {
        expect(() => new QSharedMemory('k', { mode })).to.throw(RangeError).with.property('code', 'ERR_OUT_OF_RANGE');
      }
    });

    it('a non-number tryLock() timeout → TypeError', () => {
      const s = shm(uniqueKey('trylock'));
      expect(s.create(100)).to.equal(true);
      for (const t of ['10', null, Number.NaN]) expectTypeError(() => s.tryLock(t));
      expect(s.isLocked()).to.equal(false);
    });
  });

  describe('bad sizes → false with InvalidSize', () => {
    const sizes = [
      ['0', 0], ['-1', -1], ['-0', -0], ['-4096', -4096], ['NaN', Number.NaN], ['1.5', 1.5], ['0.5', 0.5],
      ['-Infinity', -Infinity], ['Infinity', Infinity], ['2^53 (MAX_SAFE_INTEGER + 1)', 2 ** 53], ['1e300', 1e300],
    ];
    for (const [shown, size] of sizes) {
      it(`create(${shown}) → false, InvalidSize, nothing on disk`, () => {
        const s = shm(uniqueKey('badsize'));
        expectFailure(s, s.create(size), Err.InvalidSize);
      });
    }
  });

  describe('bad keys → KeyError', () => {
    it('an empty key → KeyError from create() and attach() (constructor, setKey and setNativeKey)', () => {
      const objs = [shm(''), shm(), shm(uniqueKey('x')), shm(uniqueKey('y'))];
      objs[2].setKey('');
      objs[3].setNativeKey('');
      for (const s of objs) {
        expectFailure(s, s.create(100), Err.KeyError);
        expectFailure(s, s.attach(), Err.KeyError, 'attach');
      }
    });

    it('a key whose file name is longer than 255 bytes → KeyError from create() and attach()', () => {
      // The legacy name keeps the letters: 18 + 238 + 40 = 296 bytes > NAME_MAX.
      const s = shm(`${uniqueKey('long')}${'a'.repeat(220)}`);
      expect(s.nativeKey().length - '/dev/shm/'.length).to.be.greaterThan(255);
      expectFailure(s, s.create(100), Err.KeyError);
      expect(s.errorString()).to.match(/too long/);
      expectFailure(s, s.attach(), Err.KeyError, 'attach');
      expect(s.errorString()).to.match(/too long/);
    });

    it('a native key of exactly 255 bytes works; 256 bytes → KeyError', () => {
      const base = uniqueKey('n');
      const ok = shm();
      ok.setNativeKey(base + 'b'.repeat(255 - base.length));
      expect(ok.create(100), ok.errorString()).to.equal(true);
      expect(ok.detach()).to.equal(true);
      const bad = shm();
      bad.setNativeKey(base + 'b'.repeat(256 - base.length));
      expectFailure(bad, bad.create(100), Err.KeyError);
      expectFailure(bad, bad.attach(), Err.KeyError, 'attach');
    });

    it('a native path longer than PATH_MAX → KeyError', () => {
      const s = shm();
      s.setNativeKey(`/dev/shm/${'d/'.repeat(2100)}${uniqueKey('deep')}`);
      expectFailure(s, s.create(100), Err.KeyError);
      expectFailure(s, s.attach(), Err.KeyError, 'attach');
    });

    it('a key with a NUL character → KeyError, never a truncated name', () => {
      const s = shm();
      const key = `${uniqueKey('nul')}\0suffix`;
      s.setNativeKey(key);
      expectFailure(s, s.create(100), Err.KeyError);
      expectFailure(s, s.attach(), Err.KeyError, 'attach');
      expect(existsSync(`/dev/shm/${key.split('\0')[0]}`)).to.equal(false);
    });
  });

  describe('more than the filesystem can hold → OutOfResources', function () {
    let dir;
    before(function () {
      dir = mountTmpfs('1m');
      if (dir.startsWith('SKIP')) {
        console.log(`      ${dir}`); // names what is missing
        this.skip();
      }
    });
    after(() => unmountTmpfs(dir));

    it('create() larger than a 1 MiB tmpfs → false, OutOfResources, no file, no space used', () => {
      const s = shm(uniqueKey('big'), { dir });
      expectFailure(s, s.create(2 * MiB), Err.OutOfResources);
      expect(readdirSync(dir)).to.deep.equal([]);
      const st = statfsSync(dir);
      expect(st.bfree).to.equal(st.blocks);
    });

    it('create() that fits alone but not next to another segment → OutOfResources; the pages are given back', () => {
      const first = shm(uniqueKey('first'), { dir });
      expect(first.create(600 * 1024), first.errorString()).to.equal(true);
      const freeBefore = statfsSync(dir).bfree;
      const second = shm(uniqueKey('second'), { dir });
      expectFailure(second, second.create(600 * 1024), Err.OutOfResources);
      expect(statfsSync(dir).bfree).to.equal(freeBefore); // the partial reservation was undone
      expect(readdirSync(dir)).to.have.length(1);
      expect(first.detach()).to.equal(true);
      expect(readdirSync(dir)).to.deep.equal([]);
      // And now it fits.
      expect(second.create(600 * 1024), second.errorString()).to.equal(true);
    });

    it('the failure is up front (reserved at create()), so writing every page of a created segment cannot SIGBUS', () => {
      const s = shm(uniqueKey('fill'), { dir });
      expect(s.create(1024 * 1024 - 8192), s.errorString()).to.equal(true);
      s.data().fill(0xab);
      expect(s.data()[s.size() - 1]).to.equal(0xab);
    });
  });

  describe('/dev/shm limits', () => {
    it("create() larger than /dev/shm's total size → false, OutOfResources, nothing left", () => {
      const st = statfsSync('/dev/shm');
      const size = st.blocks * st.bsize + 64 * MiB; // beyond its capacity, so beyond its free space
      const s = shm(uniqueKey('toobig'));
      expectFailure(s, s.create(size), Err.OutOfResources);
    });
  });

  describe('a directory that does not exist', () => {
    it('create() and attach() → false with KeyError naming the directory; nothing is created anywhere', () => {
      const parent = res.dir('nodir');
      const missing = join(parent, 'no', 'such', 'dir');
      const s = shm(uniqueKey('nodir'), { dir: missing });
      expectFailure(s, s.create(100), Err.KeyError);
      expect(s.errorString()).to.include(missing);
      expectFailure(s, s.attach(), Err.KeyError, 'attach');
      expect(s.errorString()).to.include(missing);
      const n = shm();
      n.setNativeKey(join(missing, 'seg'));
      expectFailure(n, n.create(100), Err.KeyError);
      expectFailure(n, n.attach(), Err.KeyError, 'attach');
      expect(readdirSync(parent)).to.deep.equal([]);
    });
  });

  describe('nothing is left after failures', () => {
    it('failed create() (AlreadyExists) and attach() (NotFound) leave the existing files exactly as they were', () => {
      const a = shm(uniqueKey('exists'));
      expect(a.create(100)).to.equal(true);
      const snapshot = new Set(leftovers());
      const b = shm(a.key());
      expect(b.create(100)).to.equal(false);
      expect(b.error()).to.equal(Err.AlreadyExists);
      const c = shm(uniqueKey('missing'));
      expect(c.attach()).to.equal(false);
      expect(c.error()).to.equal(Err.NotFound);
      expect(existsSync(c.nativeKey())).to.equal(false);
      expect(new Set(leftovers())).to.deep.equal(snapshot);
    });
  });
});
