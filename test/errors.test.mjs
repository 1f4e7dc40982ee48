// SPDX-License-Identifier: MIT
// The error class, the one errno → Qt mapping, and TypeError on programmer mistakes.
import { expect } from 'chai';
import { constants } from 'node:os';
import { QSharedMemory, QshmError, QshmErrorCode, SharedMemoryError, AccessMode } from '../dist/index.js';
import { errnoName, qtErrorFor, sysError } from '../dist/errors.js';
import { native } from '../dist/native.js';
import { uniqueKey, run, track } from './helpers.mjs';
import { cpSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Node's negative errno for a name, from os.constants. */
const errno = (name) => -constants.errno[name];

describe('errors', () => {
  it('enums use Qt numbering', () => {
    expect(AccessMode).to.include({ ReadOnly: 0, ReadWrite: 1 });
    expect(SharedMemoryError).to.include({
      NoError: 0, PermissionDenied: 1, InvalidSize: 2, KeyError: 3, AlreadyExists: 4,
      NotFound: 5, LockError: 6, OutOfResources: 7, UnknownError: 8,
    });
  });

  it("maps errno to Qt's codes and texts (one table)", () => {
    expect(qtErrorFor(errno('EACCES'))).to.deep.equal([SharedMemoryError.PermissionDenied, 'permission denied']);
    expect(qtErrorFor(errno('EEXIST'))).to.deep.equal([SharedMemoryError.AlreadyExists, 'already exists']);
    expect(qtErrorFor(errno('ENOENT'))).to.deep.equal([SharedMemoryError.NotFound, "doesn't exist"]);
    for (const n of ['EMFILE', 'ENOMEM', 'ENOSPC']) expect(qtErrorFor(errno(n))[0]).to.equal(SharedMemoryError.OutOfResources);
    expect(qtErrorFor(errno('ENAMETOOLONG'))[0]).to.equal(SharedMemoryError.KeyError);
    expect(qtErrorFor(errno('EDQUOT'))[0]).to.equal(SharedMemoryError.OutOfResources);
    // errnos libuv does not name (System V's EIDRM and others) still get their names
    for (const n of ['EIDRM', 'EBADMSG', 'ENOLCK', 'EDEADLK']) expect(errnoName(errno(n))).to.equal(n);
    expect(errnoName(errno('EAGAIN'))).to.equal('EAGAIN');
    const [code, text] = qtErrorFor(errno('EBADF'));
    expect(code).to.equal(SharedMemoryError.UnknownError);
    expect(text).to.match(/^unknown error: /);
  });

  it('QshmError carries code, errno, syscall, path and Qt fields like a SystemError', () => {
    const e = sysError('QSharedMemory::attach', errno('ENOENT'), 'open', '/dev/shm/x');
    expect(e).to.be.instanceOf(Error).and.instanceOf(QshmError);
    expect(e.name).to.equal('QshmError');
    expect(e).to.include({ code: 'ENOENT', errno: errno('ENOENT'), syscall: 'open', path: '/dev/shm/x', qtError: 5 });
    expect(e.errorString).to.equal("QSharedMemory::attach: doesn't exist");
    expect(e.message).to.contain("QSharedMemory::attach: doesn't exist").and.contain('ENOENT').and.contain('open');
  });

  it('native calls return -errno, never throw, for OS failures', () => {
    const r = native.open('/nonexistent-qshm-dir/x', native.constants.O_RDONLY, 0);
    expect(r).to.equal(errno('ENOENT'));
    expect(native.close(123456)).to.equal(errno('EBADF'));
  });

  it('native calls throw TypeError on wrong argument types (a bypass cannot crash)', () => {
    expect(() => native.open(1, 2, 3)).to.throw(TypeError);
    expect(() => native.unmap(new ArrayBuffer(8))).to.throw(TypeError, /not a qshm mapping/);
    // No data pointer, but not a detached (unmapped) mapping either.
    expect(() => native.unmap(new ArrayBuffer(0))).to.throw(TypeError, /not a qshm mapping/);
    expect(() => native.mappingLive(new ArrayBuffer(0))).to.throw(TypeError, /not a qshm mapping/);
    expect(() => native.futexWake({}, 0, 1)).to.throw(TypeError);
  });

  it('lastError() of a failed attach is the QshmError behind error()/errorString()', () => {
    const shm = new QSharedMemory(uniqueKey('missing'));
    expect(shm.attach()).to.equal(false);
    const e = shm.lastError();
    expect(e).to.be.instanceOf(QshmError);
    expect(e.qtError).to.equal(shm.error()).and.equal(SharedMemoryError.NotFound);
    expect(e.errorString).to.equal(shm.errorString());
    expect(e).to.include({ code: 'ENOENT', syscall: 'open' });
  });

  it('wrong types throw TypeError with ERR_INVALID_ARG_TYPE', () => {
    expect(() => new QSharedMemory(42)).to.throw(TypeError).with.property('code', 'ERR_INVALID_ARG_TYPE');
    expect(() => new QSharedMemory('k', { backend: 'nope' })).to.throw(TypeError);
    expect(() => new QSharedMemory('k', { mode: '600' })).to.throw(TypeError);
    const shm = new QSharedMemory(uniqueKey());
    expect(() => shm.create('10')).to.throw(TypeError);
    expect(() => shm.create(10, 2)).to.throw(TypeError);
    expect(() => shm.attach('rw')).to.throw(TypeError);
    expect(() => shm.setKey(null)).to.throw(TypeError);
    expect(() => shm.setNativeKey(5)).to.throw(TypeError);
    expect(() => shm.tryLock('1')).to.throw(TypeError);
    expect(() => shm.withLock(5)).to.throw(TypeError);
  });

  it('the loader, when no addon can be found, lists every path it tried and how to fix it', async () => {
    const dir = track.dir('qshm-loader-');
    cpSync(new URL('../dist', import.meta.url), join(dir, 'dist'), { recursive: true });
    writeFileSync(join(dir, 'package.json'), '{"type":"module"}');
    const env = { ...process.env, QSHM_NATIVE_BINDING: join(dir, 'nowhere.node') };
    const r = await run(process.execPath, ['-e', `import(${JSON.stringify(join(dir, 'dist', 'index.js'))})`], { env });
    expect(r.code).to.not.equal(0);
    expect(r.stderr).to.contain('could not load its native addon');
    for (const p of ['nowhere.node', join('build', 'Release', 'qshm.node'), join('build', 'Debug', 'qshm.node'), 'prebuilds']) {
      expect(r.stderr).to.contain(p);
    }
    expect(r.stderr).to.contain('npm rebuild qshm');
  });

  it('QshmErrorCode, the codes lib/ uses and the table in docs/api.md list the same ERR_QSHM_* codes', () => {
    const exported = Object.values(QshmErrorCode).sort();
    const lib = new URL('../lib/', import.meta.url);
    const used = new Set();
    const scan = (dir) => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        if (e.isDirectory()) scan(new URL(`${e.name}/`, dir));
        else if (e.name.endsWith('.ts')) for (const m of readFileSync(new URL(e.name, dir), 'utf8').matchAll(/'(ERR_QSHM[A-Z_]*)'/g)) used.add(m[1]);
      }
    };
    scan(lib);
    // Every code written in lib/ is one of the exported ones (errors.ts defines them all).
    expect([...used].sort()).to.deep.equal(exported);
    const doc = readFileSync(new URL('../docs/api.md', import.meta.url), 'utf8');
    const documented = [...doc.matchAll(/^\| `(ERR_QSHM[A-Z_]*)` \|/gm)].map((m) => m[1]).sort();
    expect(documented).to.deep.equal(exported);
  });
});
