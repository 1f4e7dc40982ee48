// SPDX-License-Identifier: MIT
// Issue 11: the holes found by hostile input and a line-by-line API read — path escape through
// relative native keys, loose argument checks, Qt fidelity (setKey(''), enums on the class),
// the memfd label cost, and remove() of a System V native key. Each test targets a failure the
// issue reported on the code before its fix.
import { expect } from 'chai';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  AccessMode, IpcKeyType, QNativeIpcKey, QSharedMemory, SharedMemoryError, legacyKeyName, fromProcessFd,
} from '../dist/index.js';
import { truncateUtf8 } from '../dist/backends/memfd.js';
import { ftokOf, run, skipIf, sysvKeyExists, track, uniqueKey } from './helpers.mjs';

describe('issue 11: relative native keys stay inside their directory', () => {
  let root;
  beforeEach(() => {
    root = track.dir('qshm-escape-');
    mkdirSync(join(root, 'segs'));
  });

  for (const key of ['../x', '../../x', 'a/../../x', 'sub/x', '.', '..', 'a/b']) {
    it(`create()/attach() with native key ${JSON.stringify(key)} under a custom dir → KeyError, nothing made outside`, () => {
      const dir = join(root, 'segs');
      const s = track.object(new QSharedMemory(undefined, { dir }));
      s.setNativeKey(key);
      expect(s.create(4096)).to.equal(false);
      expect(s.error()).to.equal(SharedMemoryError.KeyError);
      expect(s.lastError().code).to.equal('ERR_QSHM_BAD_KEY');
      expect(s.errorString()).to.match(/^QSharedMemory::create: .*outside/);
      expect(s.attach()).to.equal(false);
      expect(s.error()).to.equal(SharedMemoryError.KeyError);
      expect(readdirSync(root).sort()).to.deep.equal(['segs']);
      expect(readdirSync(dir)).to.deep.equal([]);
    });
  }

  it("the same containment applies to dir: 'xdg'", () => {
    const saved = process.env.XDG_RUNTIME_DIR;
    process.env.XDG_RUNTIME_DIR = join(root, 'segs');
    try {
      const s = track.object(new QSharedMemory(undefined, { dir: 'xdg' }));
      s.setNativeKey('../escaped');
      expect(s.create(64)).to.equal(false);
      expect(s.error()).to.equal(SharedMemoryError.KeyError);
      expect(existsSync(join(root, 'escaped'))).to.equal(false);
    } finally {
      if (saved === undefined) delete process.env.XDG_RUNTIME_DIR;
      else process.env.XDG_RUNTIME_DIR = saved;
    }
  });

  it('a plain relative name is made inside dir, and an absolute native key is used as is', () => {
    const dir = join(root, 'segs');
    const a = track.object(new QSharedMemory(undefined, { dir }));
    a.setNativeKey('plain');
    expect(a.create(64), a.errorString()).to.equal(true);
    expect(existsSync(join(dir, 'plain'))).to.equal(true);
    const b = track.object(new QSharedMemory(undefined, { dir }));
    b.setNativeKey(join(root, 'abs'));
    expect(b.create(64), b.errorString()).to.equal(true);
    expect(existsSync(join(root, 'abs'))).to.equal(true);
    a.detach();
    b.detach();
    expect(existsSync(join(dir, 'plain'))).to.equal(false);
    expect(existsSync(join(root, 'abs'))).to.equal(false);
  });
});

describe('issue 11: argument checks (TypeError for types, RangeError for ranges)', () => {
  const typeErr = (f) => expect(f).to.throw(TypeError).with.property('code', 'ERR_INVALID_ARG_TYPE');
  const rangeErr = (f) => expect(f).to.throw(RangeError).with.property('code', 'ERR_OUT_OF_RANGE');

  it('legacyNativeKey / platformSafeKey / isKeyTypeSupported: wrong type → TypeError, not a key type → RangeError', () => {
    for (const t of ['SystemV', null, {}, [], () => 1, Symbol('t'), 1n, '81']) {
      typeErr(() => QSharedMemory.legacyNativeKey('k', t));
      typeErr(() => QSharedMemory.platformSafeKey('k', t));
      typeErr(() => QSharedMemory.isKeyTypeSupported(t));
    }
    for (const t of [0, -1, 0x102, 0x10000, 1.5, NaN, Infinity, -Infinity, 2 ** 53]) {
      rangeErr(() => QSharedMemory.legacyNativeKey('k', t));
      rangeErr(() => QSharedMemory.platformSafeKey('k', t));
      rangeErr(() => QSharedMemory.isKeyTypeSupported(t));
    }
    typeErr(() => QSharedMemory.isKeyTypeSupported());
  });

  it('undefined where the type is optional means the default, as in Qt', () => {
    expect(QSharedMemory.legacyNativeKey('k', undefined).type).to.equal(IpcKeyType.SystemV);
    expect(QSharedMemory.platformSafeKey('k', undefined).type).to.equal(IpcKeyType.PosixRealtime);
    expect(QSharedMemory.isKeyTypeSupported(IpcKeyType.SystemV)).to.equal(true);
    expect(QSharedMemory.isKeyTypeSupported(IpcKeyType.PosixRealtime)).to.equal(true);
    expect(QSharedMemory.isKeyTypeSupported(IpcKeyType.Windows)).to.equal(false);
  });

  it("legacyKeyName's prefix must be a string (undefined: the default)", () => {
    for (const p of [null, {}, () => 'x', 42, Symbol('p')]) typeErr(() => legacyKeyName('k', p));
    typeErr(() => legacyKeyName(42));
    expect(legacyKeyName('k', undefined)).to.equal(legacyKeyName('k'));
  });

  // Every wrong-typed or out-of-range value, against every entry point that takes one: a
  // TypeError/RangeError, or Qt's documented false + error(); never true, a hang or a crash.
  const values = [undefined, null, {}, [], () => 1, Symbol('v'), 1n, NaN, Infinity, -Infinity, -1, 2 ** 53, '1'];
  const show = (v) => (typeof v === 'symbol' ? 'Symbol' : typeof v === 'bigint' ? `${v}n` : typeof v === 'function' ? 'function' : JSON.stringify(v) ?? String(v));
  const calls = {
    'new QSharedMemory(v)': (v) => new QSharedMemory(v),
    'setKey(v)': (v, s) => s.setKey(v),
    'setNativeKey(v)': (v, s) => s.setNativeKey(v),
    'setNativeKey("/x", v)': (v, s) => s.setNativeKey('/x', v),
    'create(v)': (v, s) => s.create(v),
    'create(64, v)': (v, s) => s.create(64, v),
    'attach(v)': (v, s) => s.attach(v),
    'tryLock(v)': (v, s) => s.tryLock(v),
    'withLock(v)': (v, s) => s.withLock(v),
    'seal(v)': (v, s) => s.seal(v),
    'QSharedMemory.fromFd(v)': (v) => QSharedMemory.fromFd(v),
    'QSharedMemory.remove(v)': (v) => QSharedMemory.remove(v, { backend: 'posix' }),
    'new QNativeIpcKey(v)': (v) => new QNativeIpcKey(v),
    'new QNativeIpcKey("/x", v)': (v) => new QNativeIpcKey('/x', v),
    'QNativeIpcKey.fromString(v)': (v) => QNativeIpcKey.fromString(v),
    'fromProcessFd(v, 3)': (v) => fromProcessFd(v, 3),
    'fromProcessFd(process.pid, v)': (v) => fromProcessFd(process.pid, v),
  };
  const optional = new Set(['new QSharedMemory(v)', 'setNativeKey("/x", v)', 'create(64, v)', 'attach(v)', 'tryLock(v)', 'new QNativeIpcKey(v)', 'new QNativeIpcKey("/x", v)']);
  for (const [name, call] of Object.entries(calls)) {
    it(`${name}: every wrong value is rejected`, () => {
      for (const v of values) {
        if (v === undefined && optional.has(name)) continue;
        if (v === '1' && (name.startsWith('setKey') || name.startsWith('setNativeKey(v)') || name.includes('fromString') || name === 'new QSharedMemory(v)' || name === 'new QNativeIpcKey(v)' || name.startsWith('QSharedMemory.remove'))) continue; // a string is right there
        if (typeof v === 'number' && name === 'tryLock(v)' && !Number.isNaN(v)) continue; // any timeout is valid
        if (v === -1 && name === 'create(v)') continue; // checked below: Qt's InvalidSize
        const s = track.object(new QSharedMemory(uniqueKey('sweep')));
        let result;
        try {
          result = call(v, s);
        } catch (e) {
          expect(e, `${name} with ${show(v)}`).to.satisfy((x) => x instanceof TypeError || x instanceof RangeError || x.name === 'QshmError');
          continue;
        }
        expect(result, `${name} with ${show(v)} returned ${String(result)}`).to.equal(false);
        expect(s.error(), `${name} with ${show(v)}`).to.not.equal(SharedMemoryError.NoError);
      }
    });
  }

  it('create() with a size that is not a positive whole number is false + InvalidSize, as in Qt', () => {
    for (const size of [-1, 0, NaN, 1.5, -Infinity, 2 ** 53]) {
      const s = track.object(new QSharedMemory(uniqueKey('size')));
      expect(s.create(size)).to.equal(false);
      expect(s.error()).to.equal(SharedMemoryError.InvalidSize);
    }
  });
});

describe('issue 11: Qt fidelity', () => {
  it("setKey('') clears the native key and detaches; create() then fails with KeyError (PyQt6 6.4)", () => {
    const s = track.object(new QSharedMemory());
    s.setNativeKey(`/dev/shm/${uniqueKey('native')}`);
    expect(s.create(64)).to.equal(true);
    s.setKey('');
    expect(s.isAttached()).to.equal(false);
    expect(s.key()).to.equal('');
    expect(s.nativeKey()).to.equal('');
    expect(s.create(64)).to.equal(false);
    expect(s.error()).to.equal(SharedMemoryError.KeyError);
  });

  it('setKey() with the same key keeps the attachment (Qt does not detach for an unchanged key)', () => {
    const k = uniqueKey('same');
    const s = track.object(new QSharedMemory(k));
    expect(s.create(64)).to.equal(true);
    s.setKey(k);
    expect(s.isAttached()).to.equal(true);
  });

  it('the enums are reachable the way PySide6/PyQt6 write them, scoped and unscoped', () => {
    expect(QSharedMemory.AccessMode.ReadOnly).to.equal(AccessMode.ReadOnly);
    expect(QSharedMemory.SharedMemoryError.NotFound).to.equal(5);
    expect(QSharedMemory.ReadOnly).to.equal(0);
    expect(QSharedMemory.ReadWrite).to.equal(1);
    const names = ['NoError', 'PermissionDenied', 'InvalidSize', 'KeyError', 'AlreadyExists', 'NotFound', 'LockError', 'OutOfResources', 'UnknownError'];
    names.forEach((n, i) => expect(QSharedMemory[n], n).to.equal(i));
  });
});

describe('issue 11: memfd labels are cut in linear time at a UTF-8 boundary', () => {
  it('truncateUtf8 never splits a character and never exceeds the limit', () => {
    expect(truncateUtf8('abc', 10)).to.equal('abc');
    expect(truncateUtf8('aé', 2)).to.equal('a'); // é is two bytes
    expect(truncateUtf8('a😀b', 4)).to.equal('a');
    expect(truncateUtf8('a😀b', 5)).to.equal('a😀');
    for (let max = 0; max < 12; max++) {
      const out = truncateUtf8('ééé😀😀', max);
      expect(Buffer.byteLength(out)).to.be.at.most(max);
      expect(Buffer.from(out).toString()).to.equal(out);
    }
  });

  it('create() with a 1,000,000-character key finishes (it took minutes when cut one character at a time)', function () {
    skipIf(this, process.platform !== 'linux' && 'memfd segments exist on Linux only');
    const s = track.object(new QSharedMemory('€'.repeat(1_000_000), { backend: 'memfd' }));
    expect(s.create(64), s.errorString()).to.equal(true);
  });
});

describe("QSharedMemory.remove() of a System V native key (segment and semaphore share one key file)", () => {
  it('removes the segment, the semaphore and the key file a killed creator left', async function () {
    skipIf(this, process.platform !== 'linux' && 'System V backend: Linux only here');
    const path = join(track.dir('qshm-rmkey-'), 'key');
    const key = new QNativeIpcKey(path, IpcKeyType.SystemV);
    // A creator that dies without detaching leaves all three behind.
    const r = await run(process.execPath, ['--input-type=module', '-e', `
      import { QSharedMemory, QNativeIpcKey } from ${JSON.stringify(new URL('../dist/index.js', import.meta.url).href)};
      const s = new QSharedMemory(new QNativeIpcKey(process.argv[1], 0x51));
      if (!s.create(64) || !s.lock() || !s.unlock()) process.exit(3);
      process.kill(process.pid, 'SIGKILL');`, path]);
    expect(r.signal, r.stderr).to.equal('SIGKILL');
    const k = ftokOf(path);
    expect(sysvKeyExists('shm', k), 'segment made').to.equal(true);
    expect(sysvKeyExists('sem', k), 'semaphore made').to.equal(true);
    expect(QSharedMemory.remove(key)).to.equal(true);
    expect(sysvKeyExists('shm', k), 'segment left').to.equal(false);
    expect(sysvKeyExists('sem', k), 'semaphore left').to.equal(false);
    expect(existsSync(path), 'key file left').to.equal(false);
  });
});
