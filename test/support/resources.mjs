// SPDX-License-Identifier: MIT
// What a test makes, released after it whatever happened: `track.*` registers, cleanup()
// releases (the root afterEach hook in test/hooks.mjs calls it after every test; a file that
// checks something after the release calls it itself first). Order: children and workers
// (a dead peer's lock is undone by the kernel, so no detach() below can block), deferred
// functions, QSharedMemory objects, keys, System V ids, files, directories, environment.
import { existsSync, mkdtempSync, rmSync, statSync, readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QSharedMemory } from '../../dist/index.js';
import { stopChildren } from './lines.mjs';
import { skipIf } from './skip.mjs';

const phases = ['children', 'defer', 'objects', 'keys', 'sysv', 'paths', 'dirs', 'env'];
const pending = Object.fromEntries(phases.map((p) => [p, []]));
const add = (phase, fn) => pending[phase].push(fn);

/** Registers things to release after the current test; each returns what it was given. */
export const track = {
  /** A new QSharedMemory(key, options), detached after the test. */
  shm(key, options) {
    return track.object(new QSharedMemory(key, options));
  },
  /** Any object with detach() (a QSharedMemory, a listener's result), detached after the test. */
  object(obj) {
    add('objects', () => obj.detach());
    return obj;
  },
  /** A key whose segment is removed after the test (QSharedMemory.remove), e.g. for sysv/posix. */
  key(key, options) {
    add('keys', () => QSharedMemory.remove(key, options));
    return key;
  },
  /** A System V id (`kind` 'shm' or 'sem') removed with IPC_RMID after the test, if it still exists. */
  sysvId(kind, id) {
    add('sysv', async () => {
      const { native } = await import('../../dist/native.js');
      if (kind === 'shm') native.shmctlRmid(id);
      else native.semctlRmid(id);
    });
    return id;
  },
  /** A file removed after the test if it exists. */
  path(p) {
    add('paths', () => removeFile(p));
    return p;
  },
  /** A fresh temporary directory (mkdtemp of os.tmpdir()/prefix, or of `base`/prefix) removed after the test. */
  dir(prefix = 'qshm-test-', base = tmpdir()) {
    const d = mkdtempSync(join(base, prefix));
    add('dirs', () => removeDir(d));
    return d;
  },
  /** A ChildProcess (not a LineChild: those are stopped anyway) killed after the test. */
  child(proc) {
    add('children', () => {
      if (proc.exitCode !== null || proc.signalCode !== null) return undefined;
      const gone = new Promise((r) => proc.once('close', r));
      proc.kill('SIGKILL');
      return gone;
    });
    return proc;
  },
  /** A Worker terminated after the test. */
  worker(w) {
    add('children', () => w.terminate());
    return w;
  },
  /** Any other release, run after the children are gone and before objects are detached. */
  defer(fn) {
    add('defer', fn);
  },
  /** Sets environment variables (undefined: unset) for the rest of the test; restored after it. */
  env(vars) {
    const saved = setEnv(vars);
    pending.env.unshift(() => setEnv(saved)); // the last change is undone first
  },
};

/** Sets environment variables (undefined: unset); returns their previous values. */
function setEnv(vars) {
  const saved = {};
  for (const [k, v] of Object.entries(vars)) {
    saved[k] = process.env[k];
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  return saved;
}

/** Runs `fn` with environment variables changed (undefined: unset), restoring them afterwards. */
export function withEnv(vars, fn) {
  const saved = setEnv(vars);
  try {
    return fn();
  } finally {
    setEnv(saved);
  }
}

/** Releases everything registered (idempotent); throws the first error after trying all. */
export async function cleanup() {
  let first = null;
  const attempt = async (fn) => {
    try {
      await fn();
    } catch (e) {
      first ??= e;
    }
  };
  await attempt(stopChildren);
  for (const phase of phases) {
    for (const fn of pending[phase].splice(0)) await attempt(fn);
  }
  if (first) throw first;
}

/** Removes a segment file a test may have left behind on purpose (e.g. after SIGKILL). */
export function removeFile(path) {
  if (path) rmSync(path, { force: true });
}

/** A fresh private temporary directory (remove with removeDir, or use track.dir). */
export function tempDir(name = 'qshm-core-') {
  return mkdtempSync(join(tmpdir(), name));
}

export function removeDir(dir) {
  rmSync(dir, { recursive: true, force: true });
}

/**
 * Mounts a tmpfs of `size` (e.g. '1m') on a new temporary directory and returns it; when it
 * cannot (not root, no CAP_SYS_ADMIN) it skips `ctx` (mocha's `this`) saying why.
 */
export function mountTmpfs(size, ctx) {
  const dir = tempDir('qshm-core-tmpfs-');
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'tmpfs', dir], { encoding: 'utf8' });
  if (r.status !== 0) {
    removeDir(dir);
    skipIf(ctx, `cannot mount a tmpfs (mount from the Debian package util-linux, run as root / CAP_SYS_ADMIN): ${(r.stderr || r.error?.message || '').trim()}`);
  }
  return dir;
}

export function unmountTmpfs(dir) {
  if (!dir) return;
  // Lazily if something still maps a file there (a failed test), so the mount never lingers.
  if (spawnSync('umount', [dir]).status !== 0) spawnSync('umount', ['-l', dir]);
  removeDir(dir);
}

/** Lines of /proc/self/maps that map the file with inode `ino` (mappings of this process). */
export function mappingsOfInode(ino) {
  return readFileSync('/proc/self/maps', 'utf8')
    .split('\n')
    .filter((l) => l.split(/\s+/)[4] === String(ino));
}

/** Inode of a path, or null if it does not exist. */
export function inodeOf(path) {
  return existsSync(path) ? statSync(path).ino : null;
}
