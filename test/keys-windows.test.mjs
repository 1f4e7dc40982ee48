// SPDX-License-Identifier: MIT
// Qt's Windows key derivations (../shared/qt/windows.md §6 vectors, computed there from Qt's
// code with Python's hashlib). Pure functions: checked on every OS; the Wine suite checks them
// again inside Windows node.exe, together with the QSharedMemory statics that use them there.
import { expect } from 'chai';
import { windowsLegacyName, windowsLockName, windowsPlatformSafeName } from '../dist/nativeipckey.js';

describe('Windows key derivation (Qt 5.15 and Qt 6 names)', () => {
  it('legacy names: prefix + ASCII letters + SHA-1 of the UTF-8 key, no namespace, no truncation', () => {
    expect(windowsLegacyName('probe')).to.equal('qipc_sharedmemory_probea949c530710f9fca76b45776267c68967fa891e7');
    expect(windowsLegacyName('probe', 'sem')).to.equal('qipc_systemsem_probea949c530710f9fca76b45776267c68967fa891e7');
    expect(windowsLegacyName('My App-1.0/ключ')).to.equal('qipc_sharedmemory_MyApp02fb16931293530a4eb2577c8585de2c6e72020d');
    expect(windowsLegacyName('My App-1.0/ключ', 'sem')).to.equal('qipc_systemsem_MyApp02fb16931293530a4eb2577c8585de2c6e72020d');
    expect(windowsLegacyName('Global\\probe')).to.equal('qipc_sharedmemory_Globalprobe05e32253f2b8e5b1261675ccc24e25c44a66609a');
    expect(windowsLegacyName('k'.repeat(300)).length).to.equal(358);
    expect(windowsLegacyName('')).to.equal('');
  });

  it('Qt 6.6+ platformSafeKey: [Local\\|Global\\] + shm_/sem_ + key, cut to 260 UTF-16 units', () => {
    expect(windowsPlatformSafeName('probe')).to.equal('shm_probe');
    expect(windowsPlatformSafeName('probe', 'sem')).to.equal('sem_probe');
    expect(windowsPlatformSafeName('My App-1.0/ключ')).to.equal('shm_My App-1.0/ключ');
    expect(windowsPlatformSafeName('Global\\probe')).to.equal('Global\\shm_probe');
    expect(windowsPlatformSafeName('Local\\probe', 'sem')).to.equal('Local\\sem_probe');
    expect(windowsPlatformSafeName('k'.repeat(300)).length).to.equal(260);
    expect(windowsPlatformSafeName('')).to.equal('');
  });

  it("the lock's semaphore: Qt's legacy semaphore name for a legacy key, else native key[:255] + _sem", () => {
    expect(windowsLockName('qipc_sharedmemory_probea949c530710f9fca76b45776267c68967fa891e7', 'probe'))
      .to.equal('qipc_systemsem_probea949c530710f9fca76b45776267c68967fa891e7');
    expect(windowsLockName('shm_probe', '')).to.equal('shm_probe_sem');
    expect(windowsLockName('probe', '')).to.equal('probe_sem');
    expect(windowsLockName('Global\\shm_probe', '')).to.equal('Global\\shm_probe_sem');
    expect(windowsLockName('shm_My App-1.0/ключ', '')).to.equal('shm_My App-1.0/ключ_sem');
    expect(windowsLockName(windowsPlatformSafeName('k'.repeat(300)), '').length).to.equal(259);
  });
});
