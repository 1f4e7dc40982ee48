// SPDX-License-Identifier: MIT
// The C and Python clients (issue 13): clients/c/qshm.h and clients/python/qshm.py take part
// in the file backend's segments and lock with Node on an equal footing (exact counts under
// contention with each of the three as creator, takeover from a SIGKILLed holder in every
// direction, removal by the last detach, reclaiming stale files, refusing malformed headers,
// memfd segments handed over as a descriptor); their generated constants match lib/; the
// header compiles warning-free with gcc, clang and g++; the examples in docs/clients.md run.
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import {
  existsSync, lstatSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, unlinkSync, writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Layout, QSharedMemory, legacyKeyName, spawnWithSegment } from '../dist/index.js';
import { debianPython, fixtures, run, testDir, uniqueKey } from './helpers.mjs';

const root = join(testDir, '..');
const clients = join(root, 'clients');
const PY_PEER = join(fixtures, 'client-peer.py');
const NODE_PEER = join(fixtures, 'client-peer.mjs');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const pathOf = (key) => `/dev/shm/${legacyKeyName(key)}`;

/** A child process speaking in lines; `next()` resolves with the next line. */
class LinePeer {
  #lines = [];
  #waiting = [];
  #buf = '';
  stderr = '';
  constructor(child) {
    this.child = child;
    child.stdout.on('data', (d) => {
      this.#buf += d;
      let i;
      while ((i = this.#buf.indexOf('\n')) >= 0) {
        const line = this.#buf.slice(0, i);
        this.#buf = this.#buf.slice(i + 1);
        const w = this.#waiting.shift();
        if (w) w.resolve(line);
        else this.#lines.push(line);
      }
    });
    child.stderr.on('data', (d) => (this.stderr += d));
    child.stdin.on('error', () => {}); // the child may be killed while we write
    this.exited = new Promise((r) => child.once('close', (code, signal) => r({ code, signal })));
    this.exited.then(() => {
      this.dead = true;
      live.delete(this);
      for (const w of this.#waiting.splice(0)) w.reject(new Error(`peer exited; stderr: ${this.stderr}`));
    });
    live.add(this);
  }

  get pending() {
    return this.#lines.length;
  }

  next(ms = 10000) {
    if (this.#lines.length) return Promise.resolve(this.#lines.shift());
    if (this.dead) return Promise.reject(new Error(`peer exited; stderr: ${this.stderr}`));
    return new Promise((resolve, reject) => {
      const w = { resolve, reject };
      this.#waiting.push(w);
      setTimeout(() => reject(new Error(`no line after ${ms} ms; stderr: ${this.stderr}`)), ms).unref();
    });
  }

  send(line) {
    this.child.stdin.write(`${line}\n`);
  }

  async kill() {
    if (!this.dead) this.child.kill('SIGKILL');
    return this.exited;
  }
}
const live = new Set();

let bin; // temp dir with the compiled C programs
const cPeerExe = () => join(bin, 'client-peer');

/** The three peers by name: each takes (op, target, action, n). */
const PEERS = {
  Node: (...a) => new LinePeer(spawn(process.execPath, [NODE_PEER, ...a.map(String)])),
  C: (...a) => new LinePeer(spawn(cPeerExe(), a.map(String))),
  Python: (...a) => new LinePeer(spawn(debianPython, [PY_PEER, ...a.map(String)])),
};
const CLIENTS = ['C', 'Python'];
/** The example programs, each shown in full in docs/clients.md. */
const EXAMPLES = ['clients/c/examples/counter.c', 'clients/c/examples/memfd_child.c',
  'clients/python/examples/counter.py', 'clients/python/examples/memfd_child.py', 'clients/examples/memfd-parent.mjs'];

async function compile(cc, args) {
  const r = await run(cc, args);
  expect(r.code, `${cc} ${args.join(' ')}\n${r.stderr}`).to.equal(0);
  expect(r.stderr, `${cc} printed warnings`).to.equal('');
}

describe('clients: C (clients/c/qshm.h) and Python (clients/python/qshm.py) join Node\'s segments', function () {
  this.timeout(120000);

  before(async function () {
    const gcc = await run('gcc', ['--version']).catch(() => null);
    const py = await run(debianPython, ['-c', 'import ctypes; ctypes.CDLL("libatomic.so.1")']).catch(() => null);
    if (!gcc || gcc.code !== 0 || !py || py.code !== 0) {
      console.warn('    skipped: needs gcc (Debian package gcc) and /usr/bin/python3 with libatomic.so.1 (python3, libatomic1)');
      this.skip();
    }
    bin = mkdtempSync(join(tmpdir(), 'qshm-clients-'));
    await compile('gcc', ['-std=c11', '-O2', '-Wall', '-Wextra', '-Werror', '-I', join(clients, 'c'),
      join(testDir, 'c', 'client-peer.c'), '-o', cPeerExe()]);
  });

  afterEach(async () => {
    await Promise.all([...live].map((p) => p.kill()));
  });

  after(() => {
    if (bin) rmSync(bin, { recursive: true, force: true });
  });

  describe('one definition of each fact', () => {
    it('the generated sections of qshm.h and qshm.py match lib/format.ts and lib/errors.ts (clients/generate.mjs --check)', async () => {
      const r = await run(process.execPath, [join(clients, 'generate.mjs'), '--check']);
      expect(r.code, r.stderr).to.equal(0);
      // The generated block carries cHeaderText() itself.
      const { cHeaderText } = await import('../dist/index.js');
      expect(readFileSync(join(clients, 'c', 'qshm.h'), 'utf8')).to.include(cHeaderText().trimEnd());
    });

    it('both clients derive the same file names from keys as Node (legacyKeyName)', async () => {
      for (const key of ['market', 'a b/c:9', 'Ünïcode ключ 🔑', 'x'.repeat(200)]) {
        for (const who of CLIENTS) {
          const p = PEERS[who]('name', key);
          expect(await p.next(), `${who}: ${key}`).to.equal(legacyKeyName(key));
        }
      }
    });
  });

  describe('compilers', () => {
    const tu = () => {
      const f = join(bin, 'tu.c');
      writeFileSync(f, '#define QSHM_IMPLEMENTATION\n#include "qshm.h"\nint main(void) { return qshm_strerror(0)[0] == \'N\' ? 0 : 1; }\n');
      return f;
    };
    const flags = ['-Wall', '-Wextra', '-Werror', '-I', join(clients, 'c')];
    for (const [cc, std, lang, pkg] of [['gcc', '-std=c11', 'c', 'gcc'], ['clang', '-std=c11', 'c', 'clang'],
      ['g++', '-std=c++17', 'c++', 'g++']]) {
      it(`qshm.h and the C examples compile warning-free: ${cc} ${std} -Wall -Wextra -Werror`, async function () {
        const probe = await run(cc, ['--version']).catch(() => null);
        if (!probe || probe.code !== 0) {
          console.warn(`    skipped: no ${cc}; install the Debian package ${pkg}`);
          this.skip();
        }
        const sources = [tu(), ...EXAMPLES.filter((f) => f.endsWith('.c')).map((f) => join(root, f)),
          join(testDir, 'c', 'client-peer.c')];
        for (const src of sources) await compile(cc, [std, ...flags, '-x', lang, src, '-o', join(bin, `out-${cc}`)]);
        // stb-style use: the implementation in one file, declarations in another; and, with QSHM_STATIC,
        // a plain include followed by the implementation in the same file.
        const impl = join(bin, 'impl.c');
        const user = join(bin, 'user.c');
        const stat = join(bin, 'static.c');
        writeFileSync(impl, '#define QSHM_IMPLEMENTATION\n#include "qshm.h"\n');
        writeFileSync(user, '#include <stdio.h>\n#include "qshm.h"\nint main(void) { char b[80];\n' +
          '  qshm_key_to_name("market", b, sizeof b); puts(b); return 0; }\n');
        writeFileSync(stat, '#define QSHM_STATIC\n#include "qshm.h"\n#define QSHM_IMPLEMENTATION\n#include "qshm.h"\n' +
          '#include <stdio.h>\nint main(void) { puts(qshm_strerror(QSHM_NOT_FOUND)); return 0; }\n');
        await compile(cc, [std, ...flags, '-x', lang, impl, user, '-o', join(bin, `two-${cc}`)]);
        expect((await run(join(bin, `two-${cc}`), [])).stdout).to.equal(`${legacyKeyName('market')}\n`);
        await compile(cc, [std, ...flags, '-x', lang, stat, '-o', join(bin, `static-${cc}`)]);
        expect((await run(join(bin, `static-${cc}`), [])).stdout).to.equal('NotFound\n');
        console.log(`      ${cc} ${std}: qshm.h and ${sources.length + 2} programs using it compiled with no warnings`);
      });
    }
  });

  describe('exclusion: Node, C and Python add to one counter under the lock', () => {
    const N = 200000;
    for (const creator of ['Node', 'C', 'Python']) {
      it(`3 processes × ${N.toLocaleString('en')} increments end exact; ${creator} creates the segment`, async function () {
        this.timeout(600000);
        const key = uniqueKey(`mix${creator}`);
        const order = [creator, ...['Node', 'C', 'Python'].filter((w) => w !== creator)];
        const peers = [PEERS[creator]('create', key, 'count', N)];
        expect(await peers[0].next()).to.equal('ready');
        for (const who of order.slice(1)) peers.push(PEERS[who]('attach', key, 'count', N));
        for (const p of peers.slice(1)) expect(await p.next()).to.equal('ready');
        const s = new QSharedMemory(key);
        expect(s.attach(), s.errorString()).to.equal(true);
        const started = performance.now();
        for (const p of peers) p.send('go');
        const done = await Promise.all(peers.map((p) => p.next(590000)));
        const ms = performance.now() - started;
        expect(done).to.deep.equal(order.map(() => `done ${N} abandoned 0`));
        s.lock();
        const total = s.data().readBigUInt64LE(0);
        s.unlock();
        console.log(`      ${creator} created; ${order.join(' + ')}: total ${total} (expected ${3 * N}) in ${(ms / 1000).toFixed(1)} s`);
        expect(total).to.equal(BigInt(3 * N));
        expect(s.detach()).to.equal(true);
        expect(existsSync(pathOf(key)), 'the last detach removes the file').to.equal(false);
      });
    }
  });

  describe('takeover: a SIGKILLed holder\'s lock goes to the next locker, reported abandoned', () => {
    for (const holder of ['C', 'Python', 'Node']) {
      for (const waiter of ['Node', 'C', 'Python'].filter((w) => w !== holder)) {
        it(`${waiter} takes over from a SIGKILLed ${holder} holder within 5 s`, async () => {
          const key = uniqueKey(`take${holder}${waiter}`);
          const s = new QSharedMemory(key);
          expect(s.create(64), s.errorString()).to.equal(true);
          try {
            const h = PEERS[holder]('attach', key, 'hold');
            expect(await h.next()).to.equal('ready');
            expect(await h.next()).to.equal('held abandoned 0');
            const w = PEERS[waiter]('attach', key, 'lock');
            expect(await w.next()).to.equal('ready');
            await sleep(200);
            expect(w.pending, `${waiter} took a live ${holder}'s lock`).to.equal(0);
            const t0 = performance.now();
            await h.kill();
            const line = await w.next(5000);
            const ms = performance.now() - t0;
            expect(line).to.equal('locked abandoned 1');
            console.log(`      ${holder} holder SIGKILLed → ${waiter} took over in ${ms.toFixed(1)} ms, abandoned reported`);
            expect(ms).to.be.below(5000);
            expect(await w.next()).to.equal('detached');
            expect(await w.exited).to.include({ code: 0 });
            expect(s.tryLock(1000)).to.equal(true);
            expect(s.lockWasAbandoned(), 'the waiter unlocked cleanly').to.equal(false);
            s.unlock();
          } finally {
            s.detach();
          }
          expect(existsSync(pathOf(key))).to.equal(false);
        });
      }
    }
  });

  describe('lifecycle', () => {
    for (const who of CLIENTS) {
      it(`${who}, the last to detach, removes the file; not before`, async () => {
        const key = uniqueKey(`last${who}`);
        const s = new QSharedMemory(key);
        expect(s.create(64)).to.equal(true);
        const p = PEERS[who]('attach', key, 'stay');
        expect(await p.next()).to.equal('ready');
        expect(s.detach()).to.equal(true);
        expect(existsSync(pathOf(key)), 'removed while a client is attached').to.equal(true);
        p.send('go');
        expect(await p.next()).to.equal('detached');
        expect(await p.exited).to.include({ code: 0 });
        expect(existsSync(pathOf(key)), 'file left behind').to.equal(false);
      });

      it(`${who} creates a segment that Node attaches, and the last detach (Node's) removes it`, async () => {
        const key = uniqueKey(`mk${who}`);
        const p = PEERS[who]('create', key, 'stay');
        expect(await p.next()).to.equal('ready');
        expect(lstatSync(pathOf(key)).mode & 0o777).to.equal(0o600);
        const s = new QSharedMemory(key);
        expect(s.attach(), s.errorString()).to.equal(true);
        expect(s.size()).to.equal(64);
        p.send('go');
        expect(await p.next()).to.equal('detached');
        expect(existsSync(pathOf(key))).to.equal(true);
        expect(s.detach()).to.equal(true);
        expect(existsSync(pathOf(key))).to.equal(false);
      });
    }

    for (const who of CLIENTS) {
      it(`${who}: trylock gives up after its timeout while Node holds the lock, and succeeds once it is free`, async () => {
        const key = uniqueKey(`try${who}`);
        const s = new QSharedMemory(key);
        expect(s.create(64)).to.equal(true);
        expect(s.lock()).to.equal(true);
        const p = PEERS[who]('attach', key, 'trylock', 300);
        expect(await p.next()).to.equal('ready');
        const t0 = performance.now();
        expect(await p.next()).to.equal('trylock 0 NoError');
        expect(performance.now() - t0).to.be.above(250);
        expect(s.unlock()).to.equal(true);
        const q = PEERS[who]('attach', key, 'trylock', 300);
        expect(await q.next()).to.equal('ready');
        expect(await q.next()).to.equal('trylock 1 NoError');
        await q.exited; // it prints before it unlocks
        expect(s.tryLock(0), 'the client unlocked').to.equal(true);
        s.unlock();
        s.detach();
      });

      it(`${who}: a read-only attachment maps the data read-only and still takes part in the lock`, async () => {
        const key = uniqueKey(`ro${who}`);
        const s = new QSharedMemory(key);
        expect(s.create(64)).to.equal(true);
        const p = PEERS[who]('attachro', key, 'readonly');
        expect(await p.next()).to.equal('ready');
        expect(await p.next()).to.equal('readonly r--s lock 1');
        expect(await p.exited).to.include({ code: 0 });
        expect(s.data()[0]).to.equal(0);
        s.detach();
      });
    }

    for (const [dead, next] of [['Node', 'C'], ['Node', 'Python'], ['C', 'Python'], ['Python', 'C'], ['C', 'Node']]) {
      it(`${next} reclaims a stale segment left by a SIGKILLed ${dead}`, async () => {
        const key = uniqueKey(`stale${dead}${next}`);
        const d = PEERS[dead]('create', key, 'stay');
        expect(await d.next()).to.equal('ready');
        await d.kill();
        expect(existsSync(pathOf(key)), 'the dead creator left its file').to.equal(true);
        const p = PEERS[next]('create', key, 'lock');
        expect(await p.next()).to.equal('ready');
        expect(await p.next()).to.equal('locked abandoned 0');
        expect(await p.next()).to.equal('detached');
        expect(existsSync(pathOf(key))).to.equal(false);
      });
    }
  });

  describe('hostile headers', () => {
    /** A header page: magic, version, headerSize, dataSize, slotCount, slotTable, then overrides. */
    function header(o = {}) {
      const hs = o.headerSize ?? 4096;
      const b = Buffer.alloc(o.fileSize ?? hs + 4096);
      Buffer.from(o.magic ?? 'QSHMSEG\0', 'latin1').copy(b, Layout.MAGIC_OFFSET);
      b.writeUInt32LE(o.version ?? 1, Layout.VERSION_OFFSET);
      b.writeUInt32LE(hs, Layout.HEADER_SIZE_OFFSET);
      b.writeBigUInt64LE(BigInt(o.dataSize ?? 64), Layout.DATA_SIZE_OFFSET);
      b.writeUInt32LE(o.slotCount ?? 512, Layout.SLOT_COUNT_OFFSET);
      b.writeUInt32LE(o.slotTable ?? 2048, Layout.SLOT_TABLE_OFFSET_OFFSET);
      return b;
    }
    const MALFORMED = {
      'an empty file': Buffer.alloc(0),
      'a 100-byte file': Buffer.alloc(100),
      'a bad magic': header({ magic: 'QSHMSEX\0' }),
      'version 2': header({ version: 2 }),
      'a header size of 5000': header({ headerSize: 5000 }),
      'a header size of 2 MiB': header({ headerSize: 2 << 20 }),
      'a data size of 0': header({ dataSize: 0 }),
      'a data size past the end of the file': header({ dataSize: 1 << 20 }),
      'a data size of 2^63': header({ dataSize: 2n ** 63n }),
      'a misaligned slot table': header({ slotTable: 2050 }),
      'a slot table inside the fixed fields': header({ slotTable: 16 }),
      'no slots': header({ slotCount: 0 }),
      '4096 slots': header({ slotCount: 4096 }),
      'a slot table past the first page': header({ slotTable: 4000, slotCount: 100 }),
    };

    for (const who of CLIENTS) {
      it(`${who} refuses ${Object.keys(MALFORMED).length} malformed files without crashing, and never removes them`, async () => {
        for (const [what, bytes] of Object.entries(MALFORMED)) {
          const key = uniqueKey('bad');
          const path = pathOf(key);
          writeFileSync(path, bytes, { mode: 0o600 });
          try {
            const a = PEERS[who]('attach', key, 'lock');
            const line = await a.next();
            expect(line, what).to.match(/^error UnknownError 0 QSharedMemory::attach: not a valid qshm segment \(/);
            expect(await a.exited, what).to.deep.equal({ code: 3, signal: null });
            const c = PEERS[who]('create', key, 'lock');
            expect(await c.next(), what).to.match(/^error AlreadyExists 17 /);
            expect(await c.exited, what).to.deep.equal({ code: 3, signal: null });
            expect(readFileSync(path).equals(bytes), `${what}: file changed`).to.equal(true);
          } finally {
            unlinkSync(path);
          }
        }
      });

      it(`${who} refuses a symbolic link in a segment's place`, async () => {
        const key = uniqueKey('link');
        const path = pathOf(key);
        symlinkSync('/dev/null', path);
        try {
          const a = PEERS[who]('attach', key, 'lock');
          expect(await a.next()).to.match(/^error KeyError 40 .*symbolic link/);
          expect(await a.exited).to.deep.equal({ code: 3, signal: null });
        } finally {
          unlinkSync(path);
        }
        const s = new QSharedMemory(key);
        expect(s.create(64)).to.equal(true);
        s.detach();
      });
    }

    it('C, Python and Node share a valid segment whose header is 8192 bytes (1,000 increments each)', async () => {
      const key = uniqueKey('hdr8k');
      const path = pathOf(key);
      writeFileSync(path, header({ headerSize: 8192, dataSize: 64 }), { mode: 0o600 });
      const s = new QSharedMemory(key);
      expect(s.attach(), s.errorString()).to.equal(true);
      const peers = ['C', 'Python', 'Node'].map((w) => PEERS[w]('attach', key, 'count', 1000));
      for (const p of peers) expect(await p.next()).to.equal('ready');
      for (const p of peers) p.send('go');
      for (const p of peers) expect(await p.next(60000)).to.equal('done 1000 abandoned 0');
      expect(s.data().readBigUInt64LE(0)).to.equal(3000n);
      expect(s.detach()).to.equal(true);
      expect(existsSync(path)).to.equal(false);
    });
  });

  describe('memfd segments received as a descriptor', () => {
    it('C and Python attach a memfd segment from spawnWithSegment() and count exactly with Node (20,000 each)', async () => {
      const s = new QSharedMemory(uniqueKey('memfd'), { backend: 'memfd' });
      expect(s.create(64), s.errorString()).to.equal(true);
      try {
        const n = 20000;
        const peers = [
          new LinePeer(spawnWithSegment(s, cPeerExe(), ['fd', '3', 'count', n])),
          new LinePeer(spawnWithSegment(s, debianPython, [PY_PEER, 'fd', '3', 'count', n])),
        ];
        for (const p of peers) expect(await p.next()).to.equal('ready');
        for (const p of peers) p.send('go');
        const d = s.data();
        for (let i = 0; i < n; i++) {
          expect(s.lock()).to.equal(true);
          d.writeBigUInt64LE(d.readBigUInt64LE(0) + 1n, 0);
          s.unlock();
        }
        for (const p of peers) expect(await p.next(60000)).to.equal(`done ${n} abandoned 0`);
        expect(d.readBigUInt64LE(0)).to.equal(BigInt(3 * n));
      } finally {
        s.detach();
      }
    });

    for (const who of CLIENTS) {
      it(`${who} refuses a descriptor of a named file, and one that is not open`, async () => {
        const key = uniqueKey('fdnamed');
        const s = new QSharedMemory(key);
        expect(s.create(64)).to.equal(true);
        try {
          const viaFd = (fd) => (who === 'C' ? [cPeerExe(), ['fd', String(fd), 'lock']]
            : [debianPython, [PY_PEER, 'fd', String(fd), 'lock']]);
          const shell = `exec 3<>"${pathOf(key)}"; exec "$@"`;
          const [cmd, args] = viaFd(3);
          const a = new LinePeer(spawn('sh', ['-c', shell, 'sh', cmd, ...args]));
          expect(await a.next()).to.match(/^error KeyError 0 .*not a memfd segment/);
          const [cmd2, args2] = viaFd(77);
          const b = new LinePeer(spawn(cmd2, args2));
          expect(await b.next()).to.match(/^error KeyError 9 /);
        } finally {
          s.detach();
        }
      });
    }
  });

  describe('the examples in docs/clients.md', () => {
    it('docs/clients.md shows each example file exactly as it is', () => {
      const doc = readFileSync(join(root, 'docs', 'clients.md'), 'utf8');
      const blocks = [...doc.matchAll(/<!-- file: (\S+) -->\n```\w+\n([\s\S]*?)\n```/g)];
      expect(blocks.map((m) => m[1])).to.have.members(EXAMPLES);
      for (const [, file, code] of blocks) expect(code, file).to.equal(readFileSync(join(root, file), 'utf8').trimEnd());
    });

    for (const [lang, child] of [['C', 'memfd_child.c'], ['Python', 'memfd_child.py']]) {
      it(`the ${lang} memfd child and clients/examples/memfd-parent.mjs exchange text under the lock`, async () => {
        let cmd = [debianPython, join(clients, 'python', 'examples', child)];
        if (lang === 'C') {
          cmd = [join(bin, 'memfd_child')];
          await compile('cc', ['-std=c11', '-O2', '-Wall', '-Wextra', '-Werror', '-I', join(clients, 'c'),
            join(clients, 'c', 'examples', child), '-o', cmd[0]]);
        }
        const r = await run(process.execPath, [join(clients, 'examples', 'memfd-parent.mjs'), ...cmd],
          { env: { ...process.env, PYTHONPATH: join(clients, 'python') } });
        expect(r, r.stderr).to.include({ code: 0, stdout: `child read: hello from Node\nparent read: hello from ${lang}\n` });
      });
    }

    it('the Python client\'s buffer works with numpy, also when a view outlives detach()', async function () {
      const probe = await run(debianPython, ['-c', 'import numpy']).catch(() => null);
      if (!probe || probe.code !== 0) {
        console.warn('    skipped: needs the Debian package python3-numpy');
        this.skip();
      }
      const key = uniqueKey('numpy');
      const s = new QSharedMemory(key);
      expect(s.create(64)).to.equal(true);
      const script = [
        'import sys, numpy as np, qshm',
        'seg = qshm.SharedMemory(sys.argv[1])',
        'a = np.frombuffer(seg.buf, dtype=np.uint64)',
        'with seg.locked(): a[1] += 41; a[2] = a.size',
        'seg.detach()',
        'print(int(a[1]), int(a[2]))',
      ].join('\n');
      const r = await run(debianPython, ['-c', script, key], { env: { ...process.env, PYTHONPATH: join(clients, 'python') } });
      expect(r, r.stderr).to.include({ code: 0, stdout: '41 8\n' });
      expect(s.data().readBigUInt64LE(8)).to.equal(41n);
      s.detach();
    });

    it('clients/c/examples/counter.c and clients/python/examples/counter.py count with Node on one segment', async () => {
      const exe = join(bin, 'counter');
      await compile('cc', ['-std=c11', '-O2', '-I', join(clients, 'c'), join(clients, 'c', 'examples', 'counter.c'), '-o', exe]);
      const key = uniqueKey('example');
      const s = new QSharedMemory(key);
      expect(s.create(8)).to.equal(true);
      const env = { ...process.env, PYTHONPATH: join(clients, 'python') };
      const [c, py] = await Promise.all([
        run(exe, [key, '20000']),
        run(debianPython, [join(clients, 'python', 'examples', 'counter.py'), key, '20000'], { env }),
      ]);
      expect(c, c.stderr).to.include({ code: 0 });
      expect(py, py.stderr).to.include({ code: 0 });
      expect(c.stdout).to.match(/^counter \d+ after my 20000 increments \(0 taken over from dead holders\)\n$/);
      expect(py.stdout).to.match(/^counter \d+ after my 20000 increments \(0 taken over from dead holders\)\n$/);
      expect(s.data().readBigUInt64LE(0)).to.equal(40000n);
      s.detach();
      expect(existsSync(pathOf(key))).to.equal(false);
    });

    it('the example creates the segment when nobody has it, and its last detach removes it', async () => {
      const key = uniqueKey('example1');
      const r = await run(debianPython, [join(clients, 'python', 'examples', 'counter.py'), key, '3'],
        { env: { ...process.env, PYTHONPATH: join(clients, 'python') } });
      expect(r, r.stderr).to.include({ code: 0, stdout: 'counter 3 after my 3 increments (0 taken over from dead holders)\n' });
      expect(existsSync(pathOf(key))).to.equal(false);
    });

    it('pip installs ./clients/python (offline, Debian\'s pip and setuptools) and the module imports from there', async function () {
      const probe = await run(debianPython, ['-c', 'import setuptools, pip']).catch(() => null);
      if (!probe || probe.code !== 0) {
        console.warn('    skipped: needs Debian packages python3-pip and python3-setuptools');
        this.skip();
      }
      const work = mkdtempSync(join(tmpdir(), 'qshm-pip-'));
      try {
        // Build from a copy: setuptools writes build/ and *.egg-info next to the sources.
        const src = join(work, 'src');
        await run('cp', ['-r', join(clients, 'python'), src]);
        const r = await run(debianPython, ['-m', 'pip', 'install', '--quiet', '--no-index', '--no-deps',
          '--no-build-isolation', '--target', join(work, 'site'), src]);
        expect(r.code, r.stderr).to.equal(0);
        expect(readdirSync(join(work, 'site'))).to.include('qshm.py');
        const key = uniqueKey('pip');
        const c = await run(debianPython, ['-c', `import qshm, sys; print(qshm.__file__); print(qshm.key_to_name(sys.argv[1]))`, key],
          { env: { ...process.env, PYTHONPATH: join(work, 'site') } });
        expect(c.stdout).to.equal(`${join(work, 'site', 'qshm.py')}\n${legacyKeyName(key)}\n`);
      } finally {
        rmSync(work, { recursive: true, force: true });
      }
    });
  });
});
