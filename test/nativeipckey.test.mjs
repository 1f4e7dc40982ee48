// SPDX-License-Identifier: MIT
// QNativeIpcKey (Qt 6.6+): value semantics and Qt's string form. The fixed vectors below are
// what Qt 6.11.2 (PySide6) printed for the same calls; the last test re-checks a larger set
// against a live Qt when PySide6 is installed. Conformance item 67 and tst_qnativeipckey.
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { IpcKeyType, QNativeIpcKey, QSharedMemory } from '../dist/index.js';
import { missing, pythonFor } from './peers/driver.mjs';
import { realpathSync } from 'node:fs';

/** Qt's QDir::tempPath(): where legacy System V keys live. */
const qtTemp = realpathSync(process.env.TMPDIR || '/tmp');

const T = IpcKeyType;

describe('QNativeIpcKey', () => {
  it('types and defaults: SystemV 0x51, PosixRealtime 0x100, Windows 0x101; default PosixRealtime; legacy default SystemV', () => {
    expect([T.SystemV, T.PosixRealtime, T.Windows]).to.deep.equal([0x51, 0x100, 0x101]);
    expect(QNativeIpcKey.Type).to.equal(IpcKeyType);
    expect(QNativeIpcKey.DefaultTypeForOs).to.equal(T.PosixRealtime);
    expect(QNativeIpcKey.legacyDefaultTypeForOs()).to.equal(T.SystemV);
    const k = new QNativeIpcKey();
    expect([k.type, k.nativeKey, k.legacyKey, k.isEmpty(), k.isValid()]).to.deep.equal([T.PosixRealtime, '', '', true, true]);
    expect(new QNativeIpcKey(T.SystemV).type).to.equal(T.SystemV);
    expect(new QNativeIpcKey('/x').type).to.equal(T.PosixRealtime);
    expect(new QNativeIpcKey(0).isValid()).to.equal(false);
    expect(Object.isFrozen(k)).to.equal(true);
  });

  it('equality compares type, native key and legacy key', () => {
    const a = QSharedMemory.legacyNativeKey('key1');
    const plain = new QNativeIpcKey(a.nativeKey, a.type);
    expect(a.equals(plain)).to.equal(false); // Qt: a legacy key is not equal to the bare native key
    expect(a.equals(QNativeIpcKey.fromString(a.toString()))).to.equal(true);
    expect(new QNativeIpcKey('/x', T.SystemV).equals(new QNativeIpcKey('/x', T.PosixRealtime))).to.equal(false);
    expect(new QNativeIpcKey('/x', 0x54).equals(new QNativeIpcKey('/x', 0x54))).to.equal(true);
  });

  it('#67 toString: Qt 6.11 output for each type and for characters that need encoding', () => {
    const vectors = [
      [['/a b%c//d', T.SystemV], 'systemv:/a b%25c//d'],
      [['/a b%c//d', 84], 'systemv-84:/a b%25c//d'],
      [['//x', T.SystemV], 'systemv:/%2Fx'],
      [['///x', T.SystemV], 'systemv:/%2F/x'],
      [['x', T.SystemV], 'systemv:x'],
      [['', T.SystemV], 'systemv:'],
      [['é/ü', T.SystemV], 'systemv:é/ü'],
      [['/é中', T.PosixRealtime], 'posix:/é中'],
      [['a?b#c', T.SystemV], 'systemv:a%3Fb%23c'],
      [['/a%2Fb', T.SystemV], 'systemv:/a%252Fb'],
      [['/a\tb\x7f', T.PosixRealtime], 'posix:/a%09b%7F'],
      [['/a\x00b', T.PosixRealtime], 'posix:/a%00b'],
      [['foo', T.Windows], 'windows:foo'],
      [['/x', 1], 'systemv-1:/x'],
      [['/x', 255], 'systemv-255:/x'],
    ];
    for (const [[key, type], text] of vectors) expect(new QNativeIpcKey(key, type).toString(), text).to.equal(text);
    // Every printable ASCII character except %, ? and # stays literal (checked 1..127 against Qt).
    const literal = [...Array(95)].map((_, i) => String.fromCharCode(32 + i)).filter((c) => !'%?#'.includes(c)).join('');
    expect(new QNativeIpcKey(`/${literal}`, T.PosixRealtime).toString()).to.equal(`posix:/${literal}`);
    expect(new QNativeIpcKey(0).toString()).to.equal('');
    expect(new QNativeIpcKey('/x', 0x102).toString()).to.equal('');
  });

  it('#67 legacy keys are carried as ?legacyKey= with &, =, #, % and controls encoded, and round-trip', () => {
    expect(QSharedMemory.legacyNativeKey('a&b=c%d#e?f+g h').toString())
      .to.equal(`systemv:${qtTemp}/qipc_sharedmemory_abcdefgh298a05f42d2435982547a93e89cd03ab8fd71843?legacyKey=a%26b%3Dc%25d%23e?f+g h`);
    expect(QSharedMemory.legacyNativeKey('foo', T.PosixRealtime).toString())
      .to.equal('posix:/qipc_sharedmemory_foo0beec7b5ea3f0fdbc95d0dd47f3c5bc275da8a33?legacyKey=foo');
    for (const key of ['foo', 'a&b=c%d#e?f+g h', 'Noël', 'tab\there']) {
      for (const t of [T.SystemV, T.PosixRealtime, 84]) {
        const k = QSharedMemory.legacyNativeKey(key, t);
        const back = QNativeIpcKey.fromString(k.toString());
        expect(back.equals(k), k.toString()).to.equal(true);
        expect(back.legacyKey).to.equal(key);
      }
    }
  });

  it('#67 fromString: Qt 6.11 results, including every malformed form giving an invalid key', () => {
    // [text, type (0 = invalid), nativeKey, legacyKey]
    const vectors = [
      ['posix:/x', T.PosixRealtime, '/x', ''],
      ['POSIX:/x', T.PosixRealtime, '/x', ''],
      ['SystemV-84:/x', 84, '/x', ''],
      ['systemv-81:/x', T.SystemV, '/x', ''],
      ['systemv-081:/x', T.SystemV, '/x', ''],
      ['systemv-0081:/x', T.SystemV, '/x', ''],
      ['systemv-255:/x', 255, '/x', ''],
      ['systemv-1:/x', 1, '/x', ''],
      ['systemv:/tmp/x', T.SystemV, '/tmp/x', ''],
      ['windows:foo', T.Windows, 'foo', ''],
      ['posix:/x?legacyKey=a%25b', T.PosixRealtime, '/x', 'a%b'],
      ['posix:/x?legacyKey=a&legacyKey=b', T.PosixRealtime, '/x', 'b'],
      ['posix:/x?legacyKey=a&', T.PosixRealtime, '/x', 'a'],
      ['posix:/x?legacyKey=a=b', T.PosixRealtime, '/x', 'a=b'],
      ['posix:/x?legacyKey=a+b', T.PosixRealtime, '/x', 'a+b'],
      ['posix:/x?legacyKey=%26%3D', T.PosixRealtime, '/x', '&='],
      ['posix:/x?legacyKey=%E4%B8%AD', T.PosixRealtime, '/x', '中'],
      ['posix:/x?legacyKey=%zz', T.PosixRealtime, '/x', '%zz'],
      ['posix:/x?legacy%4Bey=a', T.PosixRealtime, '/x', 'a'],
      ['posix:/x?legacyKey', T.PosixRealtime, '/x', ''],
      ['posix:/x?legacyKey=', T.PosixRealtime, '/x', ''],
      ['posix:/x?legacyKey=a#b?c', T.PosixRealtime, '/x', 'a'],
      ['posix:?legacyKey=a', T.PosixRealtime, '', 'a'],
      ['posix:/x?', T.PosixRealtime, '/x', ''],
      ['posix:/x#frag', T.PosixRealtime, '/x', ''],
      ['posix:///x', T.PosixRealtime, '/x', ''],
      ['posix:////x', T.PosixRealtime, '//x', ''],
      ['posix://@/x', T.PosixRealtime, '/x', ''],
      ['posix://', T.PosixRealtime, '', ''],
      ['posix:/a%20b', T.PosixRealtime, '/a b', ''],
      ['posix:/a%zzb', T.PosixRealtime, '/a%zzb', ''],
      ['posix:/x%', T.PosixRealtime, '/x%', ''],
      ['posix:/x%2', T.PosixRealtime, '/x%2', ''],
      ['posix:/%E4%B8%AD', T.PosixRealtime, '/中', ''],
      ['posix:/%00', T.PosixRealtime, '/\x00', ''],
      ['posix:/a/%2F/b', T.PosixRealtime, '/a///b', ''],
      ['posix:%2Fx', T.PosixRealtime, '/x', ''],
      ['posix:/x%3Fy', T.PosixRealtime, '/x?y', ''],
      ['posix:x', T.PosixRealtime, 'x', ''],
      ['posix:', T.PosixRealtime, '', ''],
      ['posix:/a b', T.PosixRealtime, '/a b', ''],
      ['posix:user@/x', T.PosixRealtime, 'user@/x', ''],
      ['posix:/x:y', T.PosixRealtime, '/x:y', ''],
      ['systemv:a:b', T.SystemV, 'a:b', ''],
      ['systemv: /x', T.SystemV, ' /x', ''],
      ['posix:/x/../y', T.PosixRealtime, '/x/../y', ''],
      ['posix:/é', T.PosixRealtime, '/é', ''],
      // invalid
      ['systemv-0:/x', 0], ['systemv-256:/x', 0], ['systemv--5:/x', 0], ['systemv+5:/x', 0], ['systemv5:/x', 0],
      ['systemv-0x51:/x', 0], ['systemv-:/x', 0], ['systemv-99999999999:/x', 0], ['posix:/x?other=1', 0],
      ['posix:/x?legacykey=a', 0], ['posix:/x?legacyKey=a&b', 0], ['posix:/x?&', 0], ['posix:/x?legacyKey=a&&', 0],
      ['posix:/x?&legacyKey=a', 0], ['posix:/x?=a', 0], ['posix://host/x', 0], ['posix://:5/x', 0], ['/x', 0],
      ['x:/y', 0], [' posix:/x', 0], ['posix :/x', 0], ['1posix:/x', 0], ['po_six:/x', 0], ['', 0],
    ];
    for (const [text, type, nativeKey = '', legacyKey = ''] of vectors) {
      const k = QNativeIpcKey.fromString(text);
      expect([k.type, k.nativeKey, k.legacyKey], JSON.stringify(text)).to.deep.equal([type, nativeKey, legacyKey]);
      expect(k.isValid()).to.equal(type !== 0);
    }
  });

  it('#67 round trip: fromString(toString(k)) equals k for awkward native keys of every type', () => {
    const keys = ['/foo', '', 'x', '//x', '/a b%c//d', 'a?b#c', '/é中', '/a%2Fb', '/x\n', ':x', '/x?legacyKey=y'];
    for (const t of [T.SystemV, T.PosixRealtime, T.Windows, 1, 84, 255]) {
      for (const key of keys) {
        const k = new QNativeIpcKey(key, t);
        expect(QNativeIpcKey.fromString(k.toString()).equals(k), `${t} ${JSON.stringify(key)}`).to.equal(true);
      }
    }
  });

  it('TypeError for wrong argument types', () => {
    const bad = [
      () => new QNativeIpcKey(5, 6), () => new QNativeIpcKey({}), () => new QNativeIpcKey('/x', 'posix'),
      () => new QNativeIpcKey(-1), () => new QNativeIpcKey(1.5), () => QNativeIpcKey.fromString(1),
      () => new QNativeIpcKey().equals('posix:/x'),
    ];
    for (const f of bad) expect(f).to.throw(TypeError).with.property('code', 'ERR_INVALID_ARG_TYPE');
  });

  it('agrees with a live Qt 6.6+ (PySide6) on toString, fromString and both derivations', function () {
    const why = missing('PySide6');
    if (why) {
      console.log(`      skipped: ${why}`);
      this.skip();
    }
    const natives = ['/a b%c//d', '//x', 'a?b#c', '/é中', '/x\x01\x7f', '/[]{}|\\^`"<>', ''];
    const texts = ['posix:/x', 'systemv-84:/x?legacyKey=a%26b', 'posix://h/x', 'posix:/%C3%A9', 'windows:W', 'posix:/x?a=b', 'systemv-07:/x'];
    const legacy = ['probe', 'Hello, World! 1/2 é', 'a&b=c%d#e?f+g h', ''];
    const script = `
import json, sys
from PySide6.QtCore import QNativeIpcKey as K, QSharedMemory as S
T = K.Type
a = json.loads(sys.argv[1])
out = {'to': [K(n, T(t)).toString() for n in a['natives'] for t in a['types']],
       'from': [[int(k.type().value) if k.isValid() else 0, k.nativeKey(), k.toString()] for k in map(K.fromString, a['texts'])],
       'legacy': [S.legacyNativeKey(k, T(t)).toString() for k in a['legacy'] for t in a['types']],
       'safe': [S.platformSafeKey(k, T(t)).toString() for k in a['legacy'] for t in (0x100,)]}
print(json.dumps(out))`;
    const types = [T.SystemV, T.PosixRealtime, 84];
    const r = spawnSync(pythonFor('PySide6'), ['-c', script, JSON.stringify({ natives, texts, legacy, types })], {
      encoding: 'utf8', env: { ...process.env, TMPDIR: '' },
    });
    expect(r.status, r.stderr).to.equal(0);
    const qt = JSON.parse(r.stdout);
    expect(natives.flatMap((n) => types.map((t) => new QNativeIpcKey(n, t).toString()))).to.deep.equal(qt.to);
    expect(texts.map((s) => QNativeIpcKey.fromString(s)).map((k) => [k.type, k.nativeKey, k.toString()])).to.deep.equal(qt.from);
    const saved = process.env.TMPDIR;
    delete process.env.TMPDIR;
    try {
      expect(legacy.flatMap((k) => types.map((t) => QSharedMemory.legacyNativeKey(k, t).toString()))).to.deep.equal(qt.legacy);
    } finally {
      if (saved !== undefined) process.env.TMPDIR = saved;
    }
    expect(legacy.map((k) => QSharedMemory.platformSafeKey(k).toString())).to.deep.equal(qt.safe);
  });
});
