// SPDX-License-Identifier: MIT
// The Windows suite: runs inside the official Windows node.exe (under Wine here, see
// scripts/test-win32.sh) with Windows node.exe child processes. Item numbers are those of
// ../shared/qt/conformance.md §7.
import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { IpcKeyType, QNativeIpcKey, QSharedMemory, SharedMemoryError } from '../../dist/index.js';
import { windowsLegacyName, windowsLockName, windowsPlatformSafeName } from '../../dist/nativeipckey.js';
import { win32ObjectNames } from '../../dist/backends/win32-file.js';
import { agent, segmentDir, sleep, uniqueKey, until } from './helpers.mjs';

const ACCESS_VIOLATION = 0xc0000005;

describe('win32: platform', () => {
  it('runs in Windows node.exe with the prebuilt addon; the default backend is file', () => {
    expect(process.platform).to.equal('win32');
    const shm = new QSharedMemory(uniqueKey());
    expect(shm.backend).to.equal('file');
    expect(shm.nativeKey().startsWith(segmentDir + '\\qipc_sharedmemory_')).to.equal(true);
  });

  it("backends this OS lacks fail with one clear error naming what is available ('memfd', 'sysv', 'posix')", () => {
    for (const backend of ['memfd', 'sysv', 'posix']) {
      let err;
      try {
        new QSharedMemory('k', { backend });
      } catch (e) {
        err = e;
      }
      expect(err).to.be.instanceOf(TypeError);
      expect(err.code).to.equal('ERR_FEATURE_UNAVAILABLE_ON_PLATFORM');
      expect(err.message).to.include(`'${backend}' is not available on win32-x64`).and.include("Available here: 'file', 'windows'");
    }
  });

  it('isKeyTypeSupported: Windows yes, SystemV and PosixRealtime no', () => {
    expect(QSharedMemory.isKeyTypeSupported(IpcKeyType.Windows)).to.equal(true);
    expect(QSharedMemory.isKeyTypeSupported(IpcKeyType.SystemV)).to.equal(false);
    expect(QSharedMemory.isKeyTypeSupported(IpcKeyType.PosixRealtime)).to.equal(false);
  });
});

describe('win32 file backend: lifecycle', function () {
  this.timeout(60000);

  it('14/28/32: create, attach from another process, writes visible both ways', async () => {
    const key = uniqueKey();
    const a = new QSharedMemory(key);
    expect(a.create(1024), a.errorString()).to.equal(true);
    expect(a.size()).to.equal(1024);
    expect(a.data().every((b) => b === 0)).to.equal(true); // 20
    const file = a.nativeKey();
    expect(existsSync(file)).to.equal(true);
    a.data().write('from parent');
    const c = await agent();
    try {
      expect(await c.call({ op: 'attach', key })).to.include({ ok: true, size: 1024 });
      expect((await c.call({ op: 'read', len: 11 })).text).to.equal('from parent');
      await c.call({ op: 'write', text: 'from child!', at: 100 });
      expect(a.data().toString('utf8', 100, 111)).to.equal('from child!');
      expect((await c.call({ op: 'detach' })).ok).to.equal(true);
    } finally {
      await c.close();
    }
    expect(a.detach()).to.equal(true);
  });

  it('34: the last detach removes the file; attach then fails with NotFound', async () => {
    const key = uniqueKey();
    const a = new QSharedMemory(key);
    const b = new QSharedMemory(key);
    expect(a.create(100)).to.equal(true);
    expect(b.attach()).to.equal(true);
    const file = a.nativeKey();
    expect(a.detach()).to.equal(true);
    expect(b.data().length).to.equal(100); // 30: the other attachment keeps it alive
    expect(existsSync(file)).to.equal(true);
    expect(b.detach()).to.equal(true);
    expect(await until(() => !existsSync(file), 2000)).to.equal(true);
    const c = new QSharedMemory(key);
    expect(c.attach()).to.equal(false);
    expect(c.error()).to.equal(SharedMemoryError.NotFound);
  });

  it('killed attachers leave nothing: creator and attacher both killed (TerminateProcess) → file gone, key reusable', async () => {
    const key = uniqueKey();
    const creator = await agent();
    const attacher = await agent();
    try {
      expect((await creator.call({ op: 'create', key, size: 4096 })).ok).to.equal(true);
      expect((await attacher.call({ op: 'attach', key })).ok).to.equal(true);
      const file = new QSharedMemory(key).nativeKey();
      expect(existsSync(file)).to.equal(true);
      creator.kill('SIGKILL');
      await creator.exited;
      expect(existsSync(file), 'kept alive by the attacher').to.equal(true);
      attacher.kill('SIGKILL');
      await attacher.exited;
      expect(await until(() => !existsSync(file), 3000), 'file removed by the kernel').to.equal(true);
      const again = new QSharedMemory(key);
      expect(again.attach()).to.equal(false);
      expect(again.error()).to.equal(SharedMemoryError.NotFound);
      expect(again.create(10), again.errorString()).to.equal(true);
      again.detach();
    } finally {
      await creator.close();
      await attacher.close();
    }
  });

  it('48: attach(ReadOnly) maps FILE_MAP_READ: a write kills the writer with an access violation, data unchanged', async function () {
    this.timeout(180000); // Wine may start its debugger for the crashed process: slow on a loaded machine
    const key = uniqueKey();
    const a = new QSharedMemory(key);
    expect(a.create(64)).to.equal(true);
    a.data().write('intact');
    const c = await agent();
    try {
      expect((await c.call({ op: 'attach', key, readOnly: true })).ok).to.equal(true);
      expect((await c.call({ op: 'read', len: 6 })).text).to.equal('intact');
      c.tell({ op: 'write', text: 'XXXXXX' });
      const { code } = await c.exited;
      expect(code >>> 0).to.equal(ACCESS_VIOLATION);
      expect(a.data().toString('utf8', 0, 6)).to.equal('intact');
    } finally {
      await c.close();
      a.detach();
    }
  });

  it('19/27: errors carry Qt codes plus the Windows code and name in lastError()', () => {
    const key = uniqueKey();
    const missing = new QSharedMemory(key);
    expect(missing.attach()).to.equal(false);
    expect(missing.error()).to.equal(SharedMemoryError.NotFound);
    expect(missing.errorString()).to.equal("QSharedMemory::attach: doesn't exist");
    expect(missing.lastError()).to.include({ code: 'ERROR_FILE_NOT_FOUND', winError: 2, syscall: 'OpenFileMappingW' });
    const a = new QSharedMemory(key);
    expect(a.create(10)).to.equal(true);
    const b = new QSharedMemory(key);
    expect(b.create(10)).to.equal(false);
    expect(b.error()).to.equal(SharedMemoryError.AlreadyExists);
    expect(b.errorString()).to.equal('QSharedMemory::create: already exists');
    expect(b.lastError()).to.include({ code: 'ERROR_FILE_EXISTS', winError: 80 });
    a.detach();
  });

  it('a missing directory is KeyError; a setNativeKey file name resolves in the directory', () => {
    const s = new QSharedMemory(undefined, { dir: join(segmentDir, 'no', 'such', 'dir') });
    s.setNativeKey('seg');
    expect(s.nativeKey()).to.equal('seg');
    expect(s.create(10)).to.equal(false);
    expect(s.error()).to.equal(SharedMemoryError.KeyError);
    expect(s.lastError()).to.include({ code: 'ERROR_PATH_NOT_FOUND', winError: 3 });
  });

  it('kernel object names: Local\\qshm_<sha1 of the lower-cased absolute path>, case-insensitive like the path', () => {
    const n = win32ObjectNames('C:\\Temp\\QSHM\\x');
    expect(n.mapping).to.match(/^Local\\qshm_[0-9a-f]{40}$/);
    expect(win32ObjectNames('c:\\temp\\qshm\\X').mapping).to.equal(n.mapping);
    expect(win32ObjectNames('C:\\Temp\\qshm\\y').mapping).to.not.equal(n.mapping);
    expect(n.wake).to.equal(`${n.mapping}_wake`);
    expect(n.slot(7)).to.equal(`${n.mapping}_s7`);
  });
});

describe('win32 file backend: bad input', () => {
  it('16/17/18/26: empty key KeyError, create(-1)/create(0) InvalidSize, wrong types TypeError', () => {
    const empty = new QSharedMemory('');
    expect(empty.create(10)).to.equal(false);
    expect(empty.error()).to.equal(SharedMemoryError.KeyError);
    expect(empty.attach()).to.equal(false);
    expect(empty.error()).to.equal(SharedMemoryError.KeyError);
    const s = new QSharedMemory(uniqueKey());
    for (const size of [-1, 0]) {
      expect(s.create(size)).to.equal(false);
      expect(s.error()).to.equal(SharedMemoryError.InvalidSize);
    }
    expect(() => s.create('10')).to.throw(TypeError);
    expect(() => s.attach(7)).to.throw(TypeError);
    expect(() => new QSharedMemory(42)).to.throw(TypeError);
  });

  it('38/39: lock() without a key or before create/attach is LockError', () => {
    expect(new QSharedMemory().lock()).to.equal(false);
    const s = new QSharedMemory(uniqueKey());
    expect(s.lock()).to.equal(false);
    expect(s.error()).to.equal(SharedMemoryError.LockError);
  });
});

describe('win32 file backend: lock', function () {
  this.timeout(120000);

  it('40/41/43: lock, a second lock() by the holder, one unlock releases', () => {
    const s = new QSharedMemory(uniqueKey());
    expect(s.create(16)).to.equal(true);
    expect(s.lock()).to.equal(true);
    expect(s.lock()).to.equal(true);
    expect(s.unlock()).to.equal(true);
    expect(s.unlock()).to.equal(false);
    const t = new QSharedMemory(s.key());
    expect(t.attach()).to.equal(true);
    expect(t.tryLock(0)).to.equal(true);
    t.unlock();
    t.detach();
    s.detach();
  });

  it('68: 2 processes × 20,000 locked increments end exact', async () => {
    const key = uniqueKey();
    const s = new QSharedMemory(key);
    expect(s.create(4)).to.equal(true);
    const kids = [await agent(), await agent()];
    try {
      for (const k of kids) expect((await k.call({ op: 'attach', key })).ok).to.equal(true);
      await Promise.all(kids.map((k) => k.call({ op: 'increment', n: 20000 })));
      expect(s.data().readUInt32LE(0)).to.equal(40000);
      for (const k of kids) await k.call({ op: 'detach' });
    } finally {
      for (const k of kids) await k.close();
      s.detach();
    }
  });

  it('69: a holder killed 20 times: the next locker gets the lock within 5 s with lockWasAbandoned() true', async function () {
    this.timeout(600000); // 20 Windows node.exe children: about 1 s each under Wine, much more on a loaded machine
    const key = uniqueKey();
    const s = new QSharedMemory(key);
    expect(s.create(16)).to.equal(true);
    const times = [];
    try {
    for (let i = 0; i < 20; i++) {
      const c = await agent();
      try {
        expect((await c.call({ op: 'attach', key })).ok).to.equal(true);
        expect((await c.call({ op: 'lock' })).ok).to.equal(true);
        expect(s.tryLock(0)).to.equal(false);
        const started = performance.now();
        let got;
        if (i % 2 === 0) {
          // a waiter already asleep when the holder dies
          const pending = s.lockAsync({ timeoutMs: 5000 });
          await sleep(50);
          c.kill('SIGKILL');
          got = await pending;
        } else {
          c.kill('SIGKILL');
          await c.exited;
          got = s.tryLock(5000);
        }
        times.push(performance.now() - started);
        expect(got, `iteration ${i}`).to.equal(true);
        expect(s.lockWasAbandoned(), `iteration ${i}`).to.equal(true);
        expect(s.unlock()).to.equal(true);
      } finally {
        await c.close();
      }
    }
    } finally {
      s.detach();
    }
    if (process.env.QSHM_WIN32_VERBOSE) console.log(`      takeover times (ms): ${times.map((t) => t.toFixed(0)).join(' ')}`);
    expect(Math.max(...times)).to.be.below(5000);
  });

  it('tryLock(ms) times out, lockAsync honours timeoutMs and AbortSignal, then gets the lock when released', async () => {
    const key = uniqueKey();
    const s = new QSharedMemory(key);
    expect(s.create(16)).to.equal(true);
    const c = await agent();
    try {
      await c.call({ op: 'attach', key });
      expect((await c.call({ op: 'lock' })).ok).to.equal(true);
      expect(s.tryLock(0)).to.equal(false);
      const t0 = performance.now();
      expect(s.tryLock(200)).to.equal(false);
      expect(performance.now() - t0).to.be.at.least(150);
      expect(await s.lockAsync({ timeoutMs: 200 })).to.equal(false);
      const ac = new AbortController();
      const aborted = s.lockAsync({ signal: ac.signal });
      setTimeout(() => ac.abort(), 100);
      let err;
      try {
        await aborted;
      } catch (e) {
        err = e;
      }
      expect(err?.name).to.equal('AbortError');
      const waiting = s.lockAsync({ timeoutMs: 10000 });
      await sleep(100);
      expect((await c.call({ op: 'unlock' })).ok).to.equal(true);
      expect(await waiting).to.equal(true);
      expect(s.lockWasAbandoned()).to.equal(false);
      s.unlock();
      await c.call({ op: 'detach' });
    } finally {
      await c.close();
      s.detach();
    }
  });

  it('44: a worker thread is excluded like a process', async () => {
    const key = uniqueKey();
    const s = new QSharedMemory(key);
    expect(s.create(16)).to.equal(true);
    expect(s.lock()).to.equal(true);
    const url = new URL('../../dist/index.js', import.meta.url).href;
    const w = new Worker(`
      const { parentPort, workerData } = require('node:worker_threads');
      import(workerData.url).then(({ QSharedMemory }) => {
        const t = new QSharedMemory(workerData.key);
        const attached = t.attach();
        const busy = t.tryLock(0);
        parentPort.postMessage({ attached, busy });
        parentPort.once('message', () => {
          const later = t.tryLock(5000);
          t.unlock(); t.detach();
          parentPort.postMessage({ later });
        });
      });`, { eval: true, workerData: { url, key } });
    const first = await new Promise((r) => w.once('message', r));
    expect(first).to.deep.equal({ attached: true, busy: false });
    s.unlock();
    w.postMessage('go');
    const second = await new Promise((r) => w.once('message', r));
    expect(second).to.deep.equal({ later: true });
    await w.terminate();
    s.detach();
  });

  it('71: while another process holds the lock, create() on the key fails with AlreadyExists at once', async () => {
    const key = uniqueKey();
    const s = new QSharedMemory(key);
    expect(s.create(16)).to.equal(true);
    const c = await agent();
    try {
      await c.call({ op: 'attach', key });
      await c.call({ op: 'lock' });
      const t = new QSharedMemory(key);
      const t0 = performance.now();
      expect(t.create(16)).to.equal(false);
      expect(t.error()).to.equal(SharedMemoryError.AlreadyExists);
      expect(performance.now() - t0).to.be.below(1000);
    } finally {
      await c.close();
      s.detach();
    }
  });
});

describe("win32 'windows' backend (Qt's Windows protocol)", function () {
  this.timeout(60000);

  it("create/attach across processes through Qt's names; size() is page-rounded as Qt reports it", async () => {
    const key = uniqueKey();
    const a = new QSharedMemory(key, { backend: 'windows' });
    expect(a.nativeKey()).to.equal(windowsLegacyName(key));
    expect(a.create(5000), a.errorString()).to.equal(true);
    expect(a.size()).to.equal(8192);
    a.data().write('qt');
    const c = await agent();
    try {
      expect(await c.call({ op: 'attach', key, backend: 'windows' })).to.include({ ok: true, size: 8192 });
      expect((await c.call({ op: 'read', len: 2 })).text).to.equal('qt');
      expect((await c.call({ op: 'lock' })).ok).to.equal(true);
      expect(a.tryLock(100)).to.equal(false); // the same Qt semaphore
      await c.call({ op: 'unlock' });
      expect(a.tryLock(1000)).to.equal(true);
      a.unlock();
      const again = new QSharedMemory(key, { backend: 'windows' });
      expect(again.create(10)).to.equal(false);
      expect(again.error()).to.equal(SharedMemoryError.AlreadyExists);
      expect(again.lastError()).to.include({ code: 'ERROR_ALREADY_EXISTS', winError: 183 });
      await c.call({ op: 'detach' });
    } finally {
      await c.close();
      a.detach();
    }
    const gone = new QSharedMemory(key, { backend: 'windows' });
    expect(gone.attach()).to.equal(false);
    expect(gone.error()).to.equal(SharedMemoryError.NotFound);
    expect(gone.errorString()).to.equal("QSharedMemory::handle: doesn't exist");
  });

  it('3/4/67: a Windows QNativeIpcKey selects the windows backend; its string form round-trips', () => {
    const name = `shm_${uniqueKey()}`;
    const k = new QNativeIpcKey(name, IpcKeyType.Windows);
    const s = new QSharedMemory(k);
    expect(s.backend).to.equal('windows');
    expect(s.nativeKey()).to.equal(name);
    expect(s.create(100), s.errorString()).to.equal(true);
    expect(QNativeIpcKey.fromString(k.toString()).equals(k)).to.equal(true);
    s.detach();
  });
});

describe('win32: Qt key derivation vectors (../shared/qt/windows.md §6)', () => {
  it('legacy names, platformSafeKey and lock names', () => {
    expect(windowsLegacyName('probe')).to.equal('qipc_sharedmemory_probea949c530710f9fca76b45776267c68967fa891e7');
    expect(windowsLegacyName('probe', 'sem')).to.equal('qipc_systemsem_probea949c530710f9fca76b45776267c68967fa891e7');
    expect(windowsLegacyName('My App-1.0/ключ')).to.equal('qipc_sharedmemory_MyApp02fb16931293530a4eb2577c8585de2c6e72020d');
    expect(windowsLegacyName('Global\\probe')).to.equal('qipc_sharedmemory_Globalprobe05e32253f2b8e5b1261675ccc24e25c44a66609a');
    expect(windowsPlatformSafeName('probe')).to.equal('shm_probe');
    expect(windowsPlatformSafeName('probe', 'sem')).to.equal('sem_probe');
    expect(windowsPlatformSafeName('Global\\probe')).to.equal('Global\\shm_probe');
    expect(windowsLockName('shm_probe', '')).to.equal('shm_probe_sem');
    expect(windowsLockName('qipc_sharedmemory_x', 'probe')).to.equal('qipc_systemsem_probea949c530710f9fca76b45776267c68967fa891e7');
    expect(windowsLegacyName('k'.repeat(300)).length).to.equal(358);
    expect(windowsPlatformSafeName('k'.repeat(300)).length).to.equal(260);
    expect(windowsLockName(windowsPlatformSafeName('k'.repeat(300)), '').length).to.equal(259);
  });

  it("QSharedMemory.legacyNativeKey/platformSafeKey default to Qt's Windows type on Windows", () => {
    const legacy = QSharedMemory.legacyNativeKey('probe');
    expect(legacy.type).to.equal(IpcKeyType.Windows);
    expect(legacy.toString()).to.equal('windows:qipc_sharedmemory_probea949c530710f9fca76b45776267c68967fa891e7?legacyKey=probe');
    expect(QSharedMemory.platformSafeKey('probe').toString()).to.equal('windows:shm_probe');
    expect(new QNativeIpcKey().type).to.equal(IpcKeyType.Windows);
  });
});
