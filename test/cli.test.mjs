// SPDX-License-Identifier: MIT
// The qshm command (dist/cli/qshm.js, package.json "bin") against segments made by other
// programs: real Qt (PyQt6/PyQt5), Python's multiprocessing.shared_memory, qshm processes that
// get killed, and Node processes sharing the lock. docs/cli.md documents what is checked here.
import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { QSharedMemory } from '../dist/index.js';
import { LineChild, debianPython, run, testDir, track, uniqueKey } from './helpers.mjs';
import { Peer, ftokOf, missing, sysvKeyExists } from './peers/driver.mjs';

const BIN = join(testDir, '..', 'dist', 'cli', 'qshm.js');
const DIST = join(testDir, '..', 'dist', 'index.js');

/** Runs `qshm args…`; resolves with { code, signal, stdout, stderr }. */
const qshm = (args, opts) => run(process.execPath, [BIN, ...args], opts);
/** Runs `qshm args… --json` and parses stdout (expecting exit 0). */
async function qshmJson(args) {
  const r = await qshm([...args, '--json']);
  expect(r.code, r.stderr).to.equal(0);
  return JSON.parse(r.stdout);
}

/** A long-running child printing text lines (stopped after the test by the root hook). */
const spawnChild = (cmd, args) => LineChild.spawn(cmd, args, { parse: 'text', timeoutMs: 120000, name: cmd });
/** Resolves with its first line matching `re`. */
const line = (child, re) => child.until((l) => re.test(l));

describe('qshm command line', function () {
  this.timeout(60000);
  describe('usage, help, exit codes, platforms', () => {
    it('--help of every command exits 0 and prints its usage', async () => {
      for (const cmd of ['ls', 'info', 'rm', 'dump', 'write', 'lock', 'create']) {
        const r = await qshm([cmd, '--help']);
        expect(r.code, cmd).to.equal(0);
        expect(r.stdout, cmd).to.match(new RegExp(`^Usage: qshm ${cmd}`));
      }
      const top = await qshm(['--help']);
      expect(top.code).to.equal(0);
      expect(top.stdout).to.include('Exit status: 0 ok, 1 refused or not found, 2 usage, 75 timeout');
    });

    it('usage errors exit 2 with one stderr line; a missing segment exits 1 with NotFound', async () => {
      for (const args of [['frobnicate'], ['ls', '--nope'], ['info'], ['dump', 'x', '--format', 'octal'],
        ['create', 'k', '-5'], ['ls', '--backend', 'shmem'], ['lock', 'k'], []]) {
        const r = await qshm(args);
        expect(r.code, args.join(' ')).to.equal(2);
        if (args.length) expect(r.stderr.trim().split('\n'), args.join(' ')).to.have.length(1);
        if (args.length) expect(r.stderr, args.join(' ')).to.match(/^qshm( \w+)?: UsageError: /);
      }
      const key = uniqueKey('none');
      for (const cmd of ['info', 'dump', 'rm']) {
        const r = await qshm([cmd, key]);
        expect(r.code, cmd).to.equal(1);
        expect(r.stderr).to.equal(`qshm ${cmd}: NotFound: no segment matches '${key}' (see qshm ls${cmd === 'dump' ? '' : ' --all'})\n`);
      }
    });

    it('on a platform other than Linux it says what is not supported and exits 1', async () => {
      const r = await run(process.execPath, ['--input-type=module', '-e',
        `Object.defineProperty(process, 'platform', { value: 'win32' }); process.argv.splice(2, 0, 'ls'); await import(${JSON.stringify(BIN)});`]);
      expect(r.code).to.equal(1);
      expect(r.stderr).to.match(/^qshm: not supported on win32: .*needs Linux/);
      expect(r.stdout).to.equal('');
    });
  });

  describe('qshm segments', () => {
    it('create, ls, info, write, dump, rm with --json shapes (the file backend)', async () => {
      const key = uniqueKey('cli');
      const made = await qshmJson(['create', key, '4K']);
      expect(made).to.deep.equal({ key, backend: 'file', nativeKey: new QSharedMemory(key).nativeKey(), size: 4096, pid: made.pid, held: false });
      // Created without --hold: the segment stays, with no live attachment.
      const ls = await qshmJson(['ls', key]);
      expect(ls.segments).to.have.length(1);
      const e = ls.segments[0];
      expect(Object.keys(e)).to.deep.equal(['backend', 'origin', 'key', 'name', 'path', 'size', 'attachments', 'lock',
        'stale', 'uid', 'user', 'mode', 'ageSeconds', 'pids']);
      expect(e).to.include({ backend: 'file', origin: 'qshm', key, path: made.nativeKey, size: 4096, attachments: 0, lock: 'free', stale: true, mode: '0600' });
      expect(e.uid).to.equal(process.getuid());

      const w = await qshm(['write', key, '--offset', '10', '--json'], { input: 'hello cli' });
      expect(w.code, w.stderr).to.equal(0);
      expect(JSON.parse(w.stdout)).to.deep.equal({ offset: 10, length: 9, size: 4096, abandoned: false });
      const d = await qshmJson(['dump', key, '--offset', '10', '--length', '9']);
      expect(d).to.deep.equal({ offset: 10, length: 9, size: 4096, base64: Buffer.from('hello cli').toString('base64') });
      const hex = await qshm(['dump', made.nativeKey, '--length', '32']);
      expect(hex.stdout).to.equal(
        '00000000  00 00 00 00 00 00 00 00  00 00 68 65 6c 6c 6f 20  |..........hello |\n' +
        '00000010  63 6c 69 00 00 00 00 00  00 00 00 00 00 00 00 00  |cli.............|\n00000020\n');
      const raw = await qshm(['dump', key, '--offset', '10', '--length', '5', '--format', 'raw']);
      expect(raw.stdout).to.equal('hello');
      const past = await qshm(['write', key, '--offset', '4090'], { input: 'too long!' });
      expect(past.code).to.equal(1);
      expect(past.stderr).to.match(/^qshm write: InvalidSize: 9 bytes at offset 4090 run past the end/);

      // The commands above attached and went away: none of them removed the segment.
      const info = await qshmJson(['info', key]);
      const h = info.segments[0].header;
      expect(h).to.include({ version: 1, headerSize: 4096, dataSize: 4096, slotTable: 2048, slotCount: 512, flags: 0, lockWord: 0, lock: 'free', present: false, liveSlots: 0 });
      expect(h.holder).to.equal(null);
      expect(h.slots.every((s) => s.alive === false && s.token > 0 && Array.isArray(s.pids))).to.equal(true);

      const dry = await qshmJson(['rm', key, '--dry-run']);
      expect(dry).to.deep.equal({ dryRun: true, results: [{ backend: 'file', name: e.name, path: e.path, key, removed: false, refused: null, error: null }] });
      expect(existsSync(e.path)).to.equal(true);
      const rm = await qshmJson(['rm', key]);
      expect(rm.results[0]).to.include({ removed: true, refused: null });
      expect(existsSync(e.path)).to.equal(false);
    });

    it('info names the processes attached to each slot; rm refuses while one is attached', async () => {
      const key = uniqueKey('att');
      const s = track.shm(key);
      expect(s.create(100), s.errorString()).to.equal(true);
      const holder = spawnChild(process.execPath, ['--input-type=module', '-e', `
        import { QSharedMemory } from ${JSON.stringify(DIST)};
        const s = new QSharedMemory(process.argv[1]);
        if (!s.attach()) throw new Error(s.errorString());
        console.log('attached'); process.stdin.resume();`, key]);
      await line(holder, /attached/);
      const [e] = (await qshmJson(['info', key])).segments;
      expect(e.attachments).to.equal(2);
      expect(e.stale).to.equal(false);
      expect(e.pids).to.include(holder.pid);
      const live = e.header.slots.filter((x) => x.alive);
      expect(live).to.have.length(2);
      expect(live.flatMap((x) => x.pids)).to.include(holder.pid);
      const r = await qshm(['rm', key]);
      expect(r.code).to.equal(1);
      expect(r.stderr).to.match(/^qshm rm: PermissionDenied: refused to remove file \S+: 2 live attachment\(s\): pid .*\n$/);
      expect(r.stderr).to.include(String(holder.pid));
      expect(existsSync(s.nativeKey())).to.equal(true);
    });

    it('a killed qshm lock holder shows as "held by a dead holder"; rm --stale removes the segment', async () => {
      const key = uniqueKey('dead');
      const made = await qshmJson(['create', key, '64']);
      const locker = spawnChild(process.execPath, [BIN, 'lock', key, '--', 'sh', '-c', 'echo locked; exec cat']);
      await line(locker, /locked/);
      expect((await qshmJson(['ls', key])).segments[0]).to.include({ lock: 'held', attachments: 1, stale: false });
      // SIGKILL the locking process (qshm's child holding the attachment) and then qshm itself.
      const [held] = (await qshmJson(['info', key])).segments;
      const holderPid = held.header.slots.find((x) => x.alive).pids[0];
      expect(holderPid).to.be.a('number');
      process.kill(holderPid, 'SIGKILL');
      await locker.kill('SIGKILL');
      locker.endInput(); // the orphaned `cat` ends with its input
      const [e] = (await qshmJson(['ls', key])).segments;
      expect(e).to.include({ lock: 'held-dead', attachments: 0, stale: true });
      const text = await qshm(['ls', key]);
      expect(text.stdout).to.match(/held by a dead holder/);
      const info = await qshm(['info', key]);
      expect(info.stdout).to.match(/holder dead: the next locker takes it over \(abandoned\)/);
      const rm = await qshm(['rm', '--stale']);
      expect(rm.code, rm.stderr).to.equal(0);
      expect(rm.stdout).to.include(`removed file ${made.nativeKey}`);
      expect(existsSync(made.nativeKey)).to.equal(false);
    });

    it('lock excludes a Node process incrementing under lock(): the total is exact', async function () {
      this.timeout(300000);
      const key = uniqueKey('excl');
      const s = track.shm(key);
      expect(s.create(8), s.errorString()).to.equal(true);
      // Under lock(): read, wait a little, write back +1; a writer that ignored the lock would lose updates.
      const incr = `
        import { QSharedMemory } from ${JSON.stringify(DIST)};
        const s = new QSharedMemory(process.argv[1]);
        if (!s.attach()) throw new Error(s.errorString());
        const nap = new Int32Array(new SharedArrayBuffer(4));
        const step = () => { const d = s.data(); const v = d.readUInt32LE(0); Atomics.wait(nap, 0, 0, Number(process.argv[2])); d.writeUInt32LE(v + 1, 0); };`;
      const node = spawnChild(process.execPath, ['--input-type=module', '-e', `${incr}
        let n = 0; let stop = false;
        process.stdin.on('end', () => (stop = true)).resume();
        console.log('running');
        const loop = () => { for (let i = 0; i < 50; i++) { s.lock(); step(); s.unlock(); n++; } if (stop) { console.log('done ' + n); s.detach(); process.exit(0); } setImmediate(loop); };
        loop();`, key, '0.2']);
      await line(node, /running/);
      const ROUNDS = 8;
      for (let i = 0; i < ROUNDS; i++) {
        // The command itself never locks: only qshm lock keeps the Node process out.
        const r = await qshm(['lock', key, '--', process.execPath, '--input-type=module', '-e', `${incr}
          step(); process.exit(0);`, key, '30']);
        expect(r.code, r.stderr).to.equal(0);
      }
      node.endInput();
      const done = await line(node, /^done /);
      const n = Number(done.split(' ')[1]);
      expect(n).to.be.greaterThan(0);
      expect(s.data().readUInt32LE(0)).to.equal(n + ROUNDS);
    });

    it('lock: exits with the command status, 75 on --timeout, and releases when the command is SIGKILLed', async () => {
      const key = uniqueKey('kill');
      const s = track.shm(key);
      expect(s.create(8), s.errorString()).to.equal(true);
      const st = await qshm(['lock', key, '--', 'sh', '-c', 'exit 7']);
      expect(st.code).to.equal(7);
      expect(s.lock()).to.equal(true);
      const t = await qshm(['lock', key, '--timeout', '200', '--', 'true']);
      expect(t.code).to.equal(75);
      expect(t.stderr).to.match(/^qshm lock: LockError: the lock of \S+ was not free within 200 ms\n$/);
      expect(s.unlock()).to.equal(true);
      const locker = spawnChild(process.execPath, [BIN, 'lock', key, '--', 'sh', '-c', 'echo pid $$; exec sleep 30']);
      const pid = Number((await line(locker, /^pid /)).split(' ')[1]);
      expect(s.tryLock(0)).to.equal(false);
      process.kill(pid, 'SIGKILL'); // the command, started by this test's qshm lock
      expect(await locker.exited).to.include({ code: 128 + 9, signal: null });
      expect(s.tryLock(1000)).to.equal(true);
      expect(s.lockWasAbandoned()).to.equal(false);
      s.unlock();
    });

    it('a SIGKILLed qshm lock lets go of the lock', async () => {
      const key = uniqueKey('kq');
      const s = track.shm(key);
      expect(s.create(8), s.errorString()).to.equal(true);
      const locker = spawnChild(process.execPath, [BIN, 'lock', key, '--', 'sh', '-c', 'echo locked; exec cat']);
      await line(locker, /locked/);
      await locker.kill('SIGKILL');
      locker.endInput();
      // Its locking process sees it go and unlocks (were that one killed too, the lock would be
      // taken over as abandoned: the dead-holder test above).
      expect(s.tryLock(10000)).to.equal(true);
      s.unlock();
      // Then it goes: only this test's attachment remains (so its detach removes the segment).
      for (let i = 0; i < 100 && (await qshmJson(['ls', key])).segments[0].attachments > 1; i++) {
        await new Promise((r) => setTimeout(r, 100));
      }
      expect((await qshmJson(['ls', key])).segments[0].attachments).to.equal(1);
    });
  });

  for (const binding of ['PyQt6', 'PyQt5']) {
    describe(`a Qt segment made by real Qt (${binding}, System V)`, function () {
      this.timeout(240000); // a dozen qshm runs, one after the other
      let peer = null; // stopped by the root hook
      before(function () {
        const why = missing(binding);
        if (why) {
          console.log(`      skipped: ${why}`);
          this.skip();
        }
      });

      it('ls finds it by its key, info shows nattch, rm refuses while Qt is attached and removes everything after', async () => {
        const key = uniqueKey('qt');
        peer = await Peer.start(binding);
        await peer.cmd('new', { key });
        expect((await peer.cmd('create', { size: 1000 })).ok).to.equal(true);
        await peer.cmd('write', { offset: 0, hex: Buffer.from('from Qt').toString('hex') });
        const shmPath = QSharedMemory.legacyNativeKey(key).nativeKey;
        const semPath = shmPath.replace('/qipc_sharedmemory_', '/qipc_systemsem_');
        const shmKey = ftokOf(shmPath);
        const semKey = ftokOf(semPath);

        const ls = await qshmJson(['ls', key]);
        expect(ls.segments).to.have.length(1);
        const e = ls.segments[0];
        expect(e).to.include({ backend: 'sysv', origin: 'qt', key, path: shmPath, size: 1000, attachments: 1, lock: 'free', mode: '0600' });
        expect(e.pids).to.deep.equal([peer.pid]);
        expect(e.sysv).to.include({ shmKey: `0x${shmKey.toString(16).padStart(8, '0')}`, nattch: 1, cpid: peer.pid, semKeyFile: semPath, semValue: 1 });
        expect((await qshm(['ls'])).stdout).to.include(shmPath);

        const info = await qshm(['info', key]);
        expect(info.code, info.stderr).to.equal(0);
        expect(info.stdout).to.match(new RegExp(`nattch 1 creator pid ${peer.pid}`));
        const dump = await qshm(['dump', key, '--length', '7', '--format', 'raw']);
        expect(dump.stdout).to.equal('from Qt');
        expect((await peer.cmd('lock')).ok).to.equal(true);
        expect((await qshmJson(['info', key])).segments[0]).to.include({ lock: 'held' });
        expect((await qshm(['lock', key, '--timeout', '300', '--', 'true'])).code).to.equal(75);
        expect((await peer.cmd('unlock')).ok).to.equal(true);

        const refused = await qshm(['rm', key]);
        expect(refused.code).to.equal(1);
        expect(refused.stderr).to.equal(`qshm rm: PermissionDenied: refused to remove sysv ${shmPath}: nattch 1: pid ${peer.pid}\n`);
        expect(sysvKeyExists('shm', shmKey)).to.equal(true);

        await peer.kill('SIGKILL'); // Qt never detaches: the segment, semaphore and key files stay
        peer = null;
        expect((await qshmJson(['ls', key])).segments[0]).to.include({ attachments: 0 });
        const rm = await qshm(['rm', key]);
        expect(rm.code, rm.stderr).to.equal(0);
        expect(rm.stdout).to.equal(`removed sysv ${shmPath}\n`);
        expect(existsSync(shmPath), shmPath).to.equal(false);
        expect(existsSync(semPath), semPath).to.equal(false);
        expect(sysvKeyExists('shm', shmKey), 'ipcs -m').to.equal(false);
        expect(sysvKeyExists('sem', semKey), 'ipcs -s').to.equal(false);
      });
    });
  }

  describe("a Python multiprocessing.shared_memory object", function () {
    before(function () {
      const why = missing('shared_memory');
      if (why) {
        console.log(`      skipped: ${why}`);
        this.skip();
      }
    });

    it('is listed as POSIX with its size and the Python process; dump reads it; rm refuses while mapped', async () => {
      const name = uniqueKey('py');
      const py = spawnChild(debianPython, ['-c', `
import sys
from multiprocessing import shared_memory
shm = shared_memory.SharedMemory(sys.argv[1], create=True, size=5000)
shm.buf[:6] = b'python'
print('ready', flush=True)
sys.stdin.readline()
shm.close(); shm.unlink()
print('gone', flush=True)`, name]);
      await line(py, /ready/);
      const ls = await qshmJson(['ls', '--backend', 'posix']);
      const e = ls.segments.find((x) => x.name === `/${name}`);
      expect(e, JSON.stringify(ls)).to.not.equal(undefined);
      expect(e).to.include({ backend: 'posix', origin: 'other', path: `/${name}`, size: 5000, lock: 'none', mode: '0600' });
      expect(e.pids).to.include(py.pid);
      expect(e.attachments).to.be.greaterThan(0);
      const dump = await qshm(['dump', `/${name}`, '--length', '6', '--format', 'raw']);
      expect(dump.stdout).to.equal('python');
      const rm = await qshm(['rm', `/${name}`]);
      expect(rm.code).to.equal(1);
      expect(rm.stderr).to.match(new RegExp(`refused to remove posix /${name}: mapped by pid .*${py.pid}`));
      py.send('');
      await line(py, /gone/);
      expect(existsSync(`/dev/shm/${name}`)).to.equal(false);
      expect(existsSync(`/dev/shm/sem.${name}`), 'no semaphore made for it').to.equal(false);
    });
  });
});
