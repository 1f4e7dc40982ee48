// SPDX-License-Identifier: MIT
// Qt's key derivation, with fixed vectors taken from real Qt runs (Qt 5.15.8, 6.4.2 and
// 6.11.2 agree on every legacy vector here; TMPDIR unset), and conformance items 1–13
// (tst_qsharedmemory constructor / nativeKey / legacyKey / uniqueKey).
import { expect } from 'chai';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { IpcKeyType, QNativeIpcKey, QSharedMemory, SharedMemoryError } from '../dist/index.js';

const T = IpcKeyType;

/** Runs `fn` with environment variables changed, restoring them afterwards. */
function withEnv(vars, fn) {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  try {
    for (const [k, v] of Object.entries(vars)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    return fn();
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

describe('Qt key derivation (vectors from real Qt runs)', () => {
  const legacy = (key, type) => withEnv({ TMPDIR: undefined }, () => QSharedMemory.legacyNativeKey(key, type));

  it('legacy System V keys: letters + SHA-1 of the UTF-8 bytes under $TMPDIR-or-/tmp', () => {
    const vectors = {
      probe: '/tmp/qipc_sharedmemory_probea949c530710f9fca76b45776267c68967fa891e7',
      'Hello, World! 1/2 é': '/tmp/qipc_sharedmemory_HelloWorldfeac5ecf3ac81138be4a812fe660dbd95821044a',
      k1: '/tmp/qipc_sharedmemory_ka2ab1959c1c3bfa295b0fc90199378272db76b45',
      foo: '/tmp/qipc_sharedmemory_foo0beec7b5ea3f0fdbc95d0dd47f3c5bc275da8a33',
      'Noël': '/tmp/qipc_sharedmemory_Nolf74a492d6bd59d7591144462d27aa3e29d1701c1',
      x: '/tmp/qipc_sharedmemory_x11f6ad8ec52a2984abaafd7c3b516503785c2072',
    };
    for (const [key, native] of Object.entries(vectors)) {
      const k = legacy(key);
      expect(k.nativeKey, key).to.equal(native);
      expect(k.type).to.equal(T.SystemV);
      expect(k.legacyKey).to.equal(key);
      expect(withEnv({ TMPDIR: undefined }, () => new QSharedMemory(key, { backend: 'sysv' }).nativeKey())).to.equal(native);
    }
  });

  it('the lock semaphore uses the qipc_systemsem_ prefix with the same suffix (Qt: k1, semtest)', () => {
    // What Qt's QSystemSemaphore("k1") / ("semtest") open; the sysv backend derives it the same way.
    expect(legacy('k1').nativeKey.replace('qipc_sharedmemory_', 'qipc_systemsem_'))
      .to.equal('/tmp/qipc_systemsem_ka2ab1959c1c3bfa295b0fc90199378272db76b45');
    expect(legacy('semtest').nativeKey.replace('qipc_sharedmemory_', 'qipc_systemsem_'))
      .to.equal('/tmp/qipc_systemsem_semtest5e0cb8818ed4d5450f12ba1efc3e0dedca1ead06');
  });

  it('legacy POSIX keys: "/" + name, no directory (Qt 6.11: "foo Bar/9")', () => {
    const k = legacy('foo Bar/9', T.PosixRealtime);
    expect(k.nativeKey).to.equal('/qipc_sharedmemory_fooBar18cd30751a9b5650bd70564d0b1d1ed825f17863');
    expect(k.toString()).to.equal('posix:/qipc_sharedmemory_fooBar18cd30751a9b5650bd70564d0b1d1ed825f17863?legacyKey=foo Bar/9');
    expect(new QSharedMemory('foo Bar/9', { backend: 'posix' }).nativeKey()).to.equal(k.nativeKey);
  });

  it('a System V type other than Q keeps the name and records the project id (Qt 6.11: systemv-84)', () => {
    expect(legacy('x', 84).toString()).to.equal('systemv-84:/tmp/qipc_sharedmemory_x11f6ad8ec52a2984abaafd7c3b516503785c2072?legacyKey=x');
  });

  it('the empty key derives to an empty native key, carrying no legacy key (Qt: "systemv:")', () => {
    expect(legacy('').nativeKey).to.equal('');
    expect(legacy('').toString()).to.equal('systemv:');
    expect(new QSharedMemory('', { backend: 'sysv' }).nativeKey()).to.equal('');
  });

  it('Windows keys derive to "" on Linux, as in Qt (legacy and platform-safe)', () => {
    expect(legacy('x', T.Windows).toString()).to.equal('windows:');
    expect(QSharedMemory.platformSafeKey('x', T.Windows).toString()).to.equal('windows:');
  });

  it('TMPDIR is cleaned and canonicalised as Qt 5.15/6.4/6.8 do; a missing directory gives the root', () => {
    const base = mkdtempSync('/tmp/qshmkeys-');
    try {
      symlinkSync(base, `${base}.lnk`);
      const viaLink = withEnv({ TMPDIR: `${base}.lnk//` }, () => QSharedMemory.legacyNativeKey('probe').nativeKey);
      expect(viaLink).to.equal(`${base}/qipc_sharedmemory_probea949c530710f9fca76b45776267c68967fa891e7`);
      const missingDir = withEnv({ TMPDIR: `${base}/nope` }, () => QSharedMemory.legacyNativeKey('probe').nativeKey);
      expect(missingDir).to.equal('/qipc_sharedmemory_probea949c530710f9fca76b45776267c68967fa891e7');
      expect(withEnv({ TMPDIR: '' }, () => QSharedMemory.legacyNativeKey('k1').nativeKey))
        .to.equal('/tmp/qipc_sharedmemory_ka2ab1959c1c3bfa295b0fc90199378272db76b45');
    } finally {
      rmSync(`${base}.lnk`, { force: true });
      rmSync(base, { recursive: true, force: true });
    }
  });

  it('platformSafeKey: POSIX "/" + key; System V under $XDG_RUNTIME_DIR, or the key itself when absolute', () => {
    expect(QSharedMemory.platformSafeKey('foo').toString()).to.equal('posix:/foo');
    expect(QSharedMemory.platformSafeKey('foo').type).to.equal(T.PosixRealtime);
    expect(QSharedMemory.platformSafeKey('Noël').toString()).to.equal('posix:/Noël');
    expect(withEnv({ XDG_RUNTIME_DIR: '/run/user/1234' }, () => QSharedMemory.platformSafeKey('foo Bar/9', T.SystemV).toString()))
      .to.equal('systemv:/run/user/1234/foo Bar/9');
    expect(QSharedMemory.platformSafeKey('/abs', T.SystemV).toString()).to.equal('systemv:/abs');
    expect(withEnv({ XDG_RUNTIME_DIR: '/run/user/1234' }, () => QSharedMemory.platformSafeKey('x', 84).toString()))
      .to.equal('systemv-84:/run/user/1234/x');
  });

  it('#13 platformSafeKey("") is empty, for every type', () => {
    for (const t of [T.PosixRealtime, T.SystemV, T.Windows]) expect(QSharedMemory.platformSafeKey('', t).isEmpty()).to.equal(true);
  });

  it('#11 platformSafeKey(a) equals platformSafeKey(b) exactly when a == b (as keys and as strings)', () => {
    const pairs = [['', ''], ['key', 'key'], ['key1', 'key1'], ['key', 'key1'], ['ke1y', 'key1'], ['key1', 'key2'], ['Noël', 'Nol']];
    for (const t of [T.PosixRealtime, T.SystemV]) {
      for (const [a, b] of pairs) {
        const ka = QSharedMemory.platformSafeKey(a, t);
        const kb = QSharedMemory.platformSafeKey(b, t);
        expect(ka.equals(kb), `${a}/${b}`).to.equal(a === b);
        expect(ka.nativeKey === kb.nativeKey).to.equal(a === b);
        const sa = new QSharedMemory(ka);
        const sb = new QSharedMemory(kb);
        expect(sa.nativeIpcKey().equals(sb.nativeIpcKey())).to.equal(a === b);
      }
    }
  });

  it('#12 legacy keys "Noël" and "Nol" give different native keys', () => {
    for (const backend of ['sysv', 'posix', 'file']) {
      expect(new QSharedMemory('Noël', { backend }).nativeKey()).to.not.equal(new QSharedMemory('Nol', { backend }).nativeKey());
    }
    expect(legacy('Nol').nativeKey).to.equal('/tmp/qipc_sharedmemory_Nol48ec124f85b2a18e06f1729acc335f760d458771');
  });
});

describe('QSharedMemory keys (conformance items 1–10)', () => {
  function expectPristine(s) {
    expect(s.isAttached()).to.equal(false);
    expect(s.data()).to.equal(null);
    expect(s.size()).to.equal(0);
    expect(s.error()).to.equal(SharedMemoryError.NoError);
    expect(s.errorString()).to.equal('');
  }

  it('#1 a new object with no key: not attached, no data, size 0, nativeKey "", NoError, key ""', () => {
    for (const backend of ['sysv', 'posix']) {
      const s = new QSharedMemory(undefined, { backend });
      expectPristine(s);
      expect(s.nativeKey()).to.equal('');
      expect(s.key()).to.equal('');
    }
  });

  it('#2 no key: nativeIpcKey() is an empty key of the OS default type (posix); sysv reports its own type', () => {
    expect(new QSharedMemory(undefined, { backend: 'posix' }).nativeIpcKey().equals(new QNativeIpcKey())).to.equal(true);
    expect(new QSharedMemory(undefined, { backend: 'sysv' }).nativeIpcKey().equals(new QNativeIpcKey(T.SystemV))).to.equal(true);
    expect(new QSharedMemory().nativeIpcKey(), "the 'file' backend has no Qt key type").to.equal(null);
  });

  it('#3 constructing with a QNativeIpcKey K: nativeIpcKey() == K, nativeKey() == K.nativeKey; the type picks the backend', () => {
    for (const k of [new QNativeIpcKey('/tmp/one', T.SystemV), new QNativeIpcKey('/one', T.PosixRealtime), new QNativeIpcKey('/tmp/one', 0x54)]) {
      const s = new QSharedMemory(k);
      expect(s.nativeIpcKey().equals(k)).to.equal(true);
      expect(s.nativeKey()).to.equal(k.nativeKey);
      expect(s.backend).to.equal(k.type === T.PosixRealtime ? 'posix' : 'sysv');
      expect(s.key()).to.equal('');
      expectPristine(s);
    }
  });

  it('#4 #5 #6 #7 setNativeKey(K2) (also of another type, also with "/" or "|") replaces the key without attaching or erring', () => {
    const s = new QSharedMemory(new QNativeIpcKey('/tmp/o/e', T.SystemV));
    for (const k2 of [new QNativeIpcKey('/tmp/t/o', T.SystemV), new QNativeIpcKey('|x', T.PosixRealtime), new QNativeIpcKey('/tmp/|x', 0x54)]) {
      s.setNativeKey(k2);
      expect(s.nativeIpcKey().equals(k2)).to.equal(true);
      expect(s.nativeKey()).to.equal(k2.nativeKey);
      expect(s.backend).to.equal(k2.type === T.PosixRealtime ? 'posix' : 'sysv');
      expectPristine(s);
      expect(s.detach()).to.equal(false);
    }
    s.setNativeKey('/tmp/plain', T.SystemV);
    expect(s.nativeIpcKey().toString()).to.equal('systemv:/tmp/plain');
  });

  it('#8 #9 legacy: key() is the string; nativeKey() is non-empty exactly when it is; nativeIpcKey() carries it', () => {
    for (const backend of ['sysv', 'posix']) {
      for (const [a, b] of [['', 'one'], ['one', ''], ['one', 'two'], ['o/e', 't/o']]) {
        const s = new QSharedMemory(a, { backend });
        expect(s.key()).to.equal(a);
        expect(s.nativeKey() !== '').to.equal(a !== '');
        s.setKey(b);
        expect(s.key()).to.equal(b);
        expect(s.nativeKey() !== '').to.equal(b !== '');
        expect(s.nativeIpcKey().equals(QSharedMemory.legacyNativeKey(b, backend === 'sysv' ? T.SystemV : T.PosixRealtime))).to.equal(true);
        expectPristine(s);
      }
    }
  });

  it('#10 legacy: setNativeKey("|x") clears key() and keeps nativeKey() verbatim', () => {
    for (const backend of ['sysv', 'posix', 'file']) {
      const s = new QSharedMemory('one', { backend });
      s.setNativeKey('|x');
      expect(s.key()).to.equal('');
      expect(s.nativeKey()).to.equal('|x');
      expectPristine(s);
      expect(s.detach()).to.equal(false);
    }
  });

  it('a QNativeIpcKey with a legacy key gives key() that legacy key (Qt 6.6+)', () => {
    const s = new QSharedMemory(QNativeIpcKey.fromString('systemv:/tmp/qipc_sharedmemory_foo0beec7b5ea3f0fdbc95d0dd47f3c5bc275da8a33?legacyKey=foo'));
    expect(s.key()).to.equal('foo');
    expect(s.backend).to.equal('sysv');
  });

  it('unsupported key types (Windows, invalid) set KeyError and make create/attach fail with it', () => {
    for (const k of [new QNativeIpcKey('w', T.Windows), QNativeIpcKey.fromString('bogus:/x')]) {
      const s = new QSharedMemory(undefined, { backend: 'sysv' });
      s.setNativeKey(k);
      expect(s.error()).to.equal(SharedMemoryError.KeyError);
      expect(s.errorString()).to.equal('QSharedMemory::setNativeKey: unsupported key type');
      expect(s.create(16)).to.equal(false);
      expect(s.error()).to.equal(SharedMemoryError.KeyError);
      expect(s.attach()).to.equal(false);
      expect(s.error()).to.equal(SharedMemoryError.KeyError);
    }
    expect(QSharedMemory.isKeyTypeSupported(T.SystemV)).to.equal(true);
    expect(QSharedMemory.isKeyTypeSupported(T.PosixRealtime)).to.equal(true);
    expect(QSharedMemory.isKeyTypeSupported(T.Windows)).to.equal(false);
  });

  it('TypeError for wrong types, and for options.backend disagreeing with the key type', () => {
    const bad = [
      () => new QSharedMemory(new QNativeIpcKey('/x', T.PosixRealtime), { backend: 'sysv' }),
      () => new QSharedMemory(new QNativeIpcKey('/x', T.SystemV), { backend: 'file' }),
      () => new QSharedMemory(undefined, { backend: 'sysv' }).setNativeKey(42),
      () => new QSharedMemory(undefined, { backend: 'sysv' }).setNativeKey('/x', 'SystemV'),
      () => new QSharedMemory(undefined, { backend: 'sysv' }).setNativeKey(new QNativeIpcKey('/x'), T.SystemV),
      () => QSharedMemory.legacyNativeKey(1),
      () => QSharedMemory.remove('x'),
    ];
    for (const f of bad) expect(f).to.throw(TypeError).with.property('code', 'ERR_INVALID_ARG_TYPE');
    expect(() => QSharedMemory.platformSafeKey('x', 0x10000)).to.throw(RangeError).with.property('code', 'ERR_OUT_OF_RANGE');
  });
});
