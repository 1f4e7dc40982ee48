// SPDX-License-Identifier: MIT
/**
 * The `'posix'` backend: Qt's POSIX protocol (Qt built with QT_POSIX_IPC, and Qt 6.6+
 * PosixRealtime keys), which is also what Python's `multiprocessing.shared_memory` and most C
 * programs use.
 *
 * - Segment: `shm_open(name, O_RDWR|O_CREAT|O_EXCL, 0600)` + `ftruncate(size)`; attach maps
 *   it with `mmap(MAP_SHARED)`; size from `fstat`. `setKey(k)` gives Qt's
 *   `/qipc_sharedmemory_<letters><sha1>`; `setNativeKey('/name')` is used verbatim, so it is
 *   the object Python's `SharedMemory('name')` opens.
 * - Lock: the named semaphore `sem_open("/qipc_systemsem_…")` (legacy keys) or the same name as
 *   the segment (native keys, as Qt 6.6+), value 1 = free.
 *
 * Removal: POSIX shared memory has no attachment count, so nobody can tell which detach is
 * the last (Qt on Linux never unlinks either). Segments and their semaphores stay until
 * `QSharedMemory.remove()` (or `shm_unlink`/`sem_unlink` by a peer) removes them. A POSIX
 * semaphore has no SEM_UNDO: a process that dies holding the lock leaves it locked. Qt then
 * blocks forever in create/attach/detach; qshm waits at most {@link lockTimeoutMs} in
 * create/attach (then LockError) and a short time in detach (then it unmaps anyway).
 * @packageDocumentation
 */
import { C, fstat, native, type SemHandle } from '../native.js';
import { AccessMode, QtFn, SharedMemoryError, check, errnoName, qtErrorFor, sysError } from '../errors.js';
import type { LockOutcome } from '../lock.js';
import type { Attachment, Backend, KeyContext } from './backend.js';
import { HeldHere, SemaphoreLock, underLock, waitPlan, type CountingSemaphore, type LockBound } from './semaphore-lock.js';
import { IpcKeyType, legacyNativeKeyFor } from '../nativeipckey.js';

const CREATE = QtFn.create;
const ATTACH = QtFn.attach;
const DETACH = QtFn.detach;
const INITKEY = QtFn.initKey;
const REMOVE = QtFn.remove;
const IPC_MODE = 0o600;
const BAD_NAME: [SharedMemoryError, string] = [SharedMemoryError.KeyError, 'bad name'];

/** The environment variable that sets {@link lockTimeoutMs}. */
const LOCK_TIMEOUT_ENV = 'QSHM_POSIX_LOCK_TIMEOUT_MS';
const DEFAULT_LOCK_TIMEOUT_MS = 10_000;
/** detach() waits at most this long for the lock, then unmaps without it. */
const DETACH_LOCK_MS = 1_000;
/** ... and during process (or worker) exit at most this long. */
const EXIT_DETACH_LOCK_MS = 100;

/**
 * How long create()/attach() wait for the semaphore before failing with LockError:
 * `$QSHM_POSIX_LOCK_TIMEOUT_MS` (milliseconds; negative: forever, as Qt), else 10 s.
 * Read at each call.
 */
function lockTimeoutMs(): number {
  const text = process.env[LOCK_TIMEOUT_ENV]?.trim();
  const v = text ? Number(text) : NaN;
  return Number.isFinite(v) ? v : DEFAULT_LOCK_TIMEOUT_MS;
}

/** The bound for the internal lock, waiting up to `ms`, with the text a LockError then gets. */
function bound(ms: number): LockBound {
  const secs = `${Number((ms / 1000).toFixed(3))} s`;
  return {
    timeoutMs: ms,
    reason: `the POSIX semaphore has been held for ${secs}; its holder may have died — POSIX semaphores are not released when a process dies`,
  };
}

// Set when this process (or worker) starts exiting. This listener is registered when the
// module loads, before QSharedMemory's exit handler (which imports the backends), so that
// handler's detach() already sees it and does not wait long for a lock.
let exiting = false;
process.on('exit', () => {
  exiting = true;
});

/** Segment and semaphore names for a key (Qt 6.6+ rules). */
function namesFor(nativeKey: string, ctx: KeyContext | undefined): { shm: string; sem: string } {
  const sem = ctx?.legacyKey ? legacyNativeKeyFor(ctx.legacyKey, IpcKeyType.PosixRealtime, 'sem').nativeKey : nativeKey;
  return { shm: nativeKey, sem };
}

/** Semaphore names this thread holds. */
const heldHere = new HeldHere<string>();

// glibc returns the same sem_t for every sem_open of one name in a process, and the addon
// tracks handles by that pointer, so each thread opens a name once and shares it.
const openSems = new Map<string, PosixSem>();

/** The thread's handle on semaphore `name`, opened (and made, value 1) on first use. */
function openSem(name: string): PosixSem {
  let sem = openSems.get(name);
  if (!sem) {
    sem = new PosixSem(name);
    openSems.set(name, sem);
  }
  sem.refs++;
  return sem;
}

/** A named POSIX semaphore opened as Qt's QSystemSemaphore in Open mode (initial value 1). */
class PosixSem implements CountingSemaphore {
  readonly name: string;
  readonly handle: SemHandle;
  refs = 0;

  /** Opens (creating with value 1 if missing). Never unlinks an existing one, unlike Qt's Create mode. */
  constructor(name: string) {
    this.name = name;
    let h = native.semOpen(name, C.O_CREAT | C.O_EXCL, IPC_MODE, 1);
    if (typeof h === 'number' && errnoName(h) === 'EEXIST') h = native.semOpen(name, C.O_CREAT, IPC_MODE, 1);
    if (typeof h === 'number') {
      const [code, text] = qtErrorFor(h);
      throw sysError(INITKEY, h, 'sem_open', name, [code, `unable to set key on lock (QSystemSemaphore::handle: ${text})`]);
    }
    this.handle = h;
  }

  /** sem_wait / sem_timedwait (< 0 or not finite: forever; long waits in bounded slices). */
  acquire(timeoutMs: number): LockOutcome {
    const plan = waitPlan(timeoutMs);
    for (;;) {
      const r = native.semWait(this.handle, plan.next());
      if (r === 0) {
        heldHere.took(this.name);
        return 'acquired';
      }
      const name = errnoName(r);
      if (name === 'EAGAIN' || name === 'ETIMEDOUT') {
        if (plan.expired()) return 'timeout';
        continue; // one slice of a longer wait ran out
      }
      if (name !== 'EINTR') {
        throw sysError(QtFn.lock, r, 'sem_wait', this.name, [SharedMemoryError.LockError, 'unable to lock']);
      }
    }
  }

  release(): boolean {
    const r = native.semPost(this.handle);
    // Given back, or not a semaphore any more: this thread no longer holds it.
    if (r === 0 || errnoName(r) === 'EINVAL') heldHere.gave(this.name);
    return r === 0;
  }

  heldByThisThread(): boolean {
    return heldHere.holds(this.name);
  }

  /** Drops one user; the last one closes the handle. */
  close(): void {
    if (--this.refs > 0) return;
    openSems.delete(this.name);
    native.semClose(this.handle);
  }
}

class PosixAttachment implements Attachment {
  readonly size: number;
  readonly data: Buffer;
  readonly lock: SemaphoreLock;
  readonly fd: number;
  readonly #map: ArrayBuffer;
  readonly #sem: PosixSem;

  constructor(fd: number, map: ArrayBuffer, sem: PosixSem) {
    this.fd = fd;
    this.#map = map;
    this.#sem = sem;
    this.size = map.byteLength;
    this.data = Buffer.from(map);
    this.lock = new SemaphoreLock(sem);
  }

  /**
   * munmap + close, under the lock as Qt does, but waiting for it only briefly: a holder
   * that died keeps a POSIX semaphore forever, and detach() also runs from the exit handler
   * and the GC finalizer, which must not hang. Unmapping our own mapping needs no exclusion
   * on Linux (Qt's generic detach locks; only its QNX path decides to unlink under it), so
   * without the lock it unmaps anyway.
   * Never unlinks (see the module notes).
   */
  detach(): void {
    this.lock.close(); // a lockAsync() still waiting must not use the handle closed below
    try {
      const limit = lockTimeoutMs();
      const ms = Math.min(exiting ? EXIT_DETACH_LOCK_MS : DETACH_LOCK_MS, limit < 0 ? Infinity : limit);
      underLock(this.#sem, DETACH, () => native.unmap(this.#map), bound(ms));
    } catch {
      // Not locked in time (or the lock failed): let go of the mapping all the same.
    } finally {
      if (native.mappingLive(this.#map)) native.unmap(this.#map);
      native.close(this.fd);
      this.#sem.close();
    }
  }
}

/** shm_open with Qt's messages: EINVAL is KeyError "QSharedMemory::attach (shm_open): bad name". */
function shmOpen(name: string, flags: number, mode: number, fn: string): number {
  const fd = native.shmOpen(name, flags, mode);
  if (fd >= 0) return fd;
  if (errnoName(fd) === 'EINVAL') throw sysError(`${ATTACH} (shm_open)`, fd, 'shm_open', name, BAD_NAME);
  throw sysError(fn, fd, 'shm_open', name);
}

/** fstat + mmap an open segment descriptor (which the attachment then owns). */
function mapFd(fd: number, name: string, mode: AccessMode, sem: PosixSem): PosixAttachment {
  try {
    const st = check(fstat(fd), `${ATTACH} (fstat)`, 'fstat', name);
    const prot = mode === AccessMode.ReadOnly ? C.PROT_READ : C.PROT_READ | C.PROT_WRITE;
    const map = check(native.mmap(fd, st.size, prot, 0), `${ATTACH} (mmap)`, 'mmap', name);
    return new PosixAttachment(fd, map, sem);
  } catch (e) {
    native.close(fd);
    throw e;
  }
}

/** The `'posix'` backend. @internal */
export class PosixBackend implements Backend {
  readonly name = 'posix' as const;

  nativeKeyFor(key: string): string {
    return legacyNativeKeyFor(key, IpcKeyType.PosixRealtime).nativeKey;
  }

  resolveNativeKey(nativeKey: string): string {
    return nativeKey;
  }

  create(nativeKey: string, size: number, mode: AccessMode, ctx?: KeyContext): Attachment {
    const names = namesFor(nativeKey, ctx);
    const sem = openSem(names.sem);
    try {
      return underLock(sem, CREATE, () => {
        const fd = shmOpen(names.shm, C.O_RDWR | C.O_CREAT | C.O_EXCL | C.O_CLOEXEC, IPC_MODE, CREATE);
        const r = native.ftruncate(fd, size);
        if (r < 0) native.close(fd);
        try {
          check(r, `${CREATE} (ftruncate)`, 'ftruncate', names.shm);
          return mapFd(fd, names.shm, mode, sem);
        } catch (e) {
          native.shmUnlink(names.shm); // we made it: a failed create leaves nothing
          throw e;
        }
      }, bound(lockTimeoutMs()));
    } catch (e) {
      sem.close();
      throw e;
    }
  }

  attach(nativeKey: string, mode: AccessMode, ctx?: KeyContext): Attachment {
    const names = namesFor(nativeKey, ctx);
    const flags = (mode === AccessMode.ReadOnly ? C.O_RDONLY : C.O_RDWR) | C.O_CLOEXEC;
    // Open first: a missing segment must not leave a semaphore behind.
    const fd = shmOpen(names.shm, flags, 0, `${ATTACH} (shm_open)`);
    let sem: PosixSem;
    try {
      sem = openSem(names.sem);
    } catch (e) {
      native.close(fd);
      throw e;
    }
    let mapping = false; // mapFd owns (and on failure closes) the descriptor
    try {
      // Under the lock, so a creator's ftruncate is complete before we read the size.
      return underLock(sem, ATTACH, () => {
        mapping = true;
        return mapFd(fd, names.shm, mode, sem);
      }, bound(lockTimeoutMs()));
    } catch (e) {
      if (!mapping) native.close(fd);
      sem.close();
      throw e;
    }
  }

  remove(nativeKey: string, ctx?: KeyContext): boolean {
    const names = namesFor(nativeKey, ctx);
    let removed = false;
    for (const [name, r, syscall] of [
      [names.shm, native.shmUnlink(names.shm), 'shm_unlink'],
      [names.sem, native.semUnlink(names.sem), 'sem_unlink'],
    ] as const) {
      if (r === 0) removed = true;
      else if (errnoName(r) !== 'ENOENT') throw sysError(REMOVE, r, syscall, name);
    }
    return removed;
  }
}
