// SPDX-License-Identifier: MIT
/**
 * The `'sysv'` backend: Qt's System V protocol, byte for byte, so a Node process and a stock
 * Linux Qt 5/6 application share one segment and one lock.
 *
 * - Key files `<tempPath>/qipc_sharedmemory_…` / `qipc_systemsem_…` (or the native key path),
 *   made with `open(O_CREAT|O_EXCL, 0640)`; `ftok(file, type)` (type 0x51 = `'Q'`).
 * - Segment: `shmget(key, size, 0600|IPC_CREAT|IPC_EXCL)`, `shmat` (SHM_RDONLY for ReadOnly),
 *   size from `IPC_STAT`. The last detach (`shm_nattch == 0`) removes the segment and its key
 *   file, as Qt does.
 * - Lock: one System V semaphore (`semget(key, 1, 0600)`, value 1 = free), `semop ±1` with
 *   SEM_UNDO, so a holder that dies releases it. create/attach/detach take it around their work.
 * - A numeric native key (`'0x5100c121'`) addresses the segment and semaphore of that key
 *   directly, for non-Qt programs (Python's sysv_ipc, C).
 *
 * Deliberate differences from Qt (docs/interop.md): an existing semaphore is never reset
 * (Qt's create() sets it back to 1 even when it then fails) and never removed while its
 * segment exists (Qt's creator removes it on exit); it goes away with the segment.
 * @packageDocumentation
 */
import { C, MAX_MAPPING, Region, native, shmStat } from '../native.js';
import { AccessMode, QshmErrorCode, QtFn, SharedMemoryError, check, errnoName, negErrno, qshmError, qtErrorFor, sysError } from '../errors.js';
import type { LockOutcome } from '../lock.js';
import type { Attachment, Backend, KeyContext } from './backend.js';
import { HeldHere, SemaphoreLock, underLock, waitPlan, type CountingSemaphore } from './semaphore-lock.js';
import { IpcKeyType, isSystemVType, legacyNativeKeyFor } from '../nativeipckey.js';

const CREATE = QtFn.create;
const ATTACH = QtFn.attach;
const DETACH = QtFn.detach;
const HANDLE = QtFn.handle;
const INITKEY = QtFn.initKey;
const REMOVE = QtFn.remove;

const KEY_FILE_MODE = 0o640;
const IPC_MODE = 0o600;
/**
 * How often one acquire() re-opens a semaphore that keeps disappearing before it gives up
 * with a LockError (Qt retries without end; each retry needs someone to remove it again).
 */
const MAX_REOPENS = 100;

/**
 * Parses a numeric System V key (`'0x5100c121'`, `'1234'`, `'-5'`): the `key_t`, as the
 * unsigned 32-bit value the addon takes, or null when `s` is not a number. @internal
 */
export function parseNumericKey(s: string): number | null {
  const m = /^\s*(-?)(0[xX][0-9A-Fa-f]{1,8}|[0-9]{1,10})\s*$/.exec(s);
  if (!m) return null;
  const v = Number(m[2].toLowerCase().startsWith('0x') ? m[2] : m[2].replace(/^0+(?=\d)/, ''));
  const signed = m[1] ? -v : v;
  if (signed < -0x80000000 || signed > 0xffffffff) return null;
  return signed >>> 0;
}

/** Where a key lives: an ftok file (and project id) or a numeric key_t. */
interface KeySpec {
  path: string | null;
  key: number | null;
  proj: number;
}

function projOf(ctx?: KeyContext): number {
  return ctx && isSystemVType(ctx.type) ? ctx.type : IpcKeyType.SystemV;
}

/** The segment's and the lock's key specs, per Qt 6.6+ (§2.4 of internals.md). */
function specsFor(nativeKey: string, ctx: KeyContext | undefined, fn: string): { shm: KeySpec; sem: KeySpec } {
  const proj = projOf(ctx);
  const numeric = parseNumericKey(nativeKey);
  if (numeric !== null) {
    if (numeric === 0) throw qshmError(SharedMemoryError.KeyError, `${fn}: key 0 is IPC_PRIVATE`, QshmErrorCode.BadKey, nativeKey);
    const spec = { path: null, key: numeric, proj };
    return { shm: spec, sem: spec };
  }
  const shm = { path: nativeKey, key: null, proj };
  if (ctx?.legacyKey) {
    return { shm, sem: { path: legacyNativeKeyFor(ctx.legacyKey, proj, 'sem').nativeKey, key: null, proj } };
  }
  return { shm, sem: shm };
}

/** Qt's createUnixKeyFile: true if made, false if it was there; KeyError `text` otherwise. */
function makeKeyFile(path: string, fn: string, text: string): boolean {
  const fd = native.open(path, C.O_RDWR | C.O_CREAT | C.O_EXCL | C.O_CLOEXEC, KEY_FILE_MODE);
  if (fd >= 0) {
    native.close(fd);
    return true;
  }
  if (errnoName(fd) === 'EEXIST') return false;
  throw sysError(fn, fd, 'open', path, [SharedMemoryError.KeyError, text]);
}

/** ftok for a file spec; the numeric key otherwise. Returns -errno on failure. */
function keyOf(spec: KeySpec): number {
  return spec.key ?? native.ftok(spec.path!, spec.proj);
}

function sameKeyFile(spec: KeySpec, key: number): boolean {
  return spec.path !== null && native.ftok(spec.path, spec.proj) === key;
}

/** Semaphore ids this thread holds. */
const heldHere = new HeldHere<number>();

/** The lock semaphore of one key, as Qt's QSystemSemaphore (initial value 1) handles it. */
class SysvSem implements CountingSemaphore {
  readonly spec: KeySpec;
  id = -1;
  /** Whether the last open() made the semaphore (and so may have to remove it again). */
  created = false;
  createdFile = false;
  removed = false;

  constructor(spec: KeySpec) {
    this.spec = spec;
  }

  /**
   * Opens the semaphore, making it (and its key file) when missing. Never resets an existing
   * one: Qt's create() does (SETVAL 1), which lets a second holder in; we do not.
   */
  open(known?: number): void {
    const text = (t: string) => `unable to set key on lock (QSystemSemaphore::handle:: ${t})`;
    const path = this.spec.path;
    // Qt makes the key file (O_EXCL) and then ftoks it; most often it exists, so ftok first
    // decides with one call, and only a missing file is made. `known`: the key the caller has
    // just derived from this same file.
    let key = known ?? keyOf(this.spec);
    this.createdFile = false;
    if (key < 0 && path !== null) {
      // Missing, or not usable (ENOTDIR, EACCES, ELOOP): making it gives Qt's error for those.
      this.createdFile = makeKeyFile(path, INITKEY, text('unable to make key'));
      key = keyOf(this.spec);
    }
    if (key < 0) {
      throw sysError(INITKEY, key, 'ftok', path ?? undefined, [SharedMemoryError.KeyError, text('ftok failed')]);
    }
    for (let attempt = 0; ; attempt++) {
      // Most often the semaphore exists too: look it up first, make it only when missing.
      let id = native.semget(key, 1, IPC_MODE);
      if (id >= 0) {
        this.created = false;
        this.id = id;
        return;
      }
      if (errnoName(id) !== 'ENOENT') throw this.#error(id, 'semget');
      id = native.semget(key, 1, IPC_MODE | C.IPC_CREAT | C.IPC_EXCL);
      if (id >= 0) {
        this.created = true;
        this.createdFile ||= path !== null;
        const r = native.semctlSetval(id, 0, 1);
        if (r < 0) throw this.#error(r, 'semctl(SETVAL)');
        this.id = id;
        return;
      }
      // Made by someone else between the two calls: look it up again.
      if (attempt >= 3 || errnoName(id) !== 'EEXIST') throw this.#error(id, 'semget');
    }
  }

  #error(errno: number, syscall: string) {
    const [code, text] = qtErrorFor(errno);
    return sysError(INITKEY, errno, syscall, this.spec.path ?? undefined, [code, `unable to set key on lock (QSystemSemaphore::handle: ${text})`]);
  }

  /**
   * semop(-1, SEM_UNDO), waiting up to `timeoutMs` (< 0 or not finite: forever; long waits
   * in bounded semtimedop slices). When the semaphore was removed (a Qt creator removes it
   * when its object goes away), re-opens it, which makes it again if needed, and retries, as
   * Qt does (internals.md §5).
   */
  acquire(timeoutMs: number): LockOutcome {
    // The common case, an untimed lock() that gets the semaphore: one call, nothing else.
    if (timeoutMs < 0 && native.semopUndo(this.id, -1) === 0) return this.#acquired();
    const plan = waitPlan(timeoutMs);
    let reopens = 0;
    for (;;) {
      const r = native.semop(this.id, -1, C.SEM_UNDO, plan.next());
      if (r === 0) return this.#acquired();
      const name = errnoName(r);
      if (name === 'EAGAIN') {
        if (plan.expired()) return 'timeout';
        continue; // one slice of a longer wait ran out
      }
      if (name === 'EINTR') continue;
      if (this.#gone(r) && reopens++ < MAX_REOPENS) {
        this.open();
        continue;
      }
      throw sysError(QtFn.lock, r, 'semop', this.spec.path ?? undefined, [SharedMemoryError.LockError, 'unable to lock']);
    }
  }

  #acquired(): 'acquired' {
    this.removed = false;
    heldHere.took(this.id);
    return 'acquired';
  }

  /**
   * Whether semop's error `errno` means our semaphore was removed: EIDRM (removed while we
   * waited) always; EINVAL (also a bad timeout or operation) only if the id no longer names
   * a semaphore.
   */
  #gone(errno: number): boolean {
    const name = errnoName(errno);
    if (name === 'EIDRM') return true;
    if (name !== 'EINVAL') return false;
    const v = native.semctlGetval(this.id, 0);
    return v < 0 && (errnoName(v) === 'EINVAL' || errnoName(v) === 'EIDRM');
  }

  /** semop(+1, SEM_UNDO). False when the semaphore was removed under us (by a Qt creator). */
  release(): boolean {
    for (;;) {
      const r = native.semopUndo(this.id, 1);
      // Given back, or nothing left to give back to (removed under us): this thread no longer holds it.
      if (r === 0 || this.#gone(r)) {
        heldHere.gave(this.id);
        return r === 0;
      }
      if (errnoName(r) !== 'EINTR') return false;
    }
  }

  /** Whether this thread holds this semaphore already. */
  heldByThisThread(): boolean {
    return heldHere.holds(this.id);
  }

  /** Removes the semaphore and (file specs) its key file, in Qt's order: unlink, then IPC_RMID. */
  remove(): void {
    this.removed = true;
    heldHere.forget(this.id);
    if (this.spec.path !== null) native.unlink(this.spec.path);
    native.semctlRmid(this.id);
  }
}

/** One shmat() mapping. */
class SysvAttachment implements Attachment {
  readonly size: number;
  readonly lock: SemaphoreLock;
  readonly fd = -1;
  readonly #map: Region;
  #data: Buffer | null = null;
  readonly #id: number;
  readonly #key: number;
  readonly #shm: KeySpec;
  readonly #sem: SysvSem;

  constructor(map: Region, size: number, id: number, key: number, shm: KeySpec, sem: SysvSem) {
    this.#map = map;
    this.#id = id;
    this.#key = key;
    this.#shm = shm;
    this.#sem = sem;
    this.size = size;
    this.lock = new SemaphoreLock(sem);
  }

  /** The data: a view made at the first call (Region; detached to length 0 by detach()). */
  get data(): Buffer {
    return this.#data ?? (this.#data = Buffer.from(check(this.#map.view(0, this.size), ATTACH, 'shmat')));
  }

  /** shmdt; when nobody is attached any more: IPC_RMID, the key file, then the lock. */
  detach(): void {
    this.lock.close(); // a lockAsync() still waiting must not reopen (re-create) the semaphore
    try {
      underLock(this.#sem, DETACH, (mine) => {
        this.#map.release();
        const st = shmStat(this.#id);
        if (typeof st === 'number' || st.nattch > 0) return;
        native.shmctlRmid(this.#id);
        if (sameKeyFile(this.#shm, this.#key)) native.unlink(this.#shm.path!);
        if (mine) return; // another object of this thread holds the lock
        this.#sem.remove();
      });
    } catch {
      // The lock could not be taken: still let go of the mapping (Qt's shmdt happens anyway).
      this.#map.release();
    }
  }
}

/** Maps segment `id` (whose key is `key`) and wraps it. */
function mapSegment(id: number, key: number, mode: AccessMode, shm: KeySpec, sem: SysvSem): SysvAttachment {
  const path = shm.path ?? undefined;
  const st = check(shmStat(id), `${ATTACH} (shmctl)`, 'shmctl(IPC_STAT)', path);
  // Larger than one Buffer can be: refused here, as a mapping's view would be later.
  if (st.segsz > MAX_MAPPING) throw sysError(`${ATTACH} (shmat)`, negErrno('EFBIG'), 'shmat', path);
  const flags = mode === AccessMode.ReadOnly ? C.SHM_RDONLY : 0;
  const map = new Region(check(native.shmat(id, flags, st.segsz), `${ATTACH} (shmat)`, 'shmat', path));
  return new SysvAttachment(map, st.segsz, id, key, shm, sem);
}

/** The `'sysv'` backend. @internal */
export class SysvBackend implements Backend {
  readonly name = 'sysv' as const;

  nativeKeyFor(key: string): string {
    return legacyNativeKeyFor(key, IpcKeyType.SystemV).nativeKey;
  }

  resolveNativeKey(nativeKey: string): string {
    return nativeKey;
  }

  create(nativeKey: string, size: number, mode: AccessMode, ctx?: KeyContext): Attachment {
    const { shm, sem: semSpec } = specsFor(nativeKey, ctx, CREATE);
    const sem = new SysvSem(semSpec);
    sem.open();
    let made: SysvAttachment | null = null;
    try {
      made = underLock(sem, CREATE, () => this.#createLocked(shm, sem, size, mode));
      return made;
    } finally {
      // A semaphore made for a segment that was not made would be left behind: remove it.
      if (!made && sem.created && !sem.heldByThisThread()) dropIfUnused(shm, sem);
    }
  }

  #createLocked(shm: KeySpec, sem: SysvSem, size: number, mode: AccessMode): SysvAttachment {
    const createdFile = shm.path !== null && makeKeyFile(shm.path, HANDLE, ': unable to make key');
    let id = -1;
    try {
      const key = check(keyOf(shm), HANDLE, 'ftok', shm.path ?? undefined);
      id = native.shmget(key, size, IPC_MODE | C.IPC_CREAT | C.IPC_EXCL);
      if (id < 0) {
        const name = errnoName(id);
        if (name === 'EINVAL') {
          throw sysError(HANDLE, id, 'shmget', shm.path ?? undefined, [SharedMemoryError.InvalidSize, 'system-imposed size restrictions']);
        }
        throw sysError(CREATE, id, 'shmget', shm.path ?? undefined);
      }
      return mapSegment(id, key, mode, shm, sem);
    } catch (e) {
      if (id >= 0) native.shmctlRmid(id);
      const exists = (e as { qtError?: number }).qtError === SharedMemoryError.AlreadyExists;
      if (createdFile && !exists) native.unlink(shm.path!);
      throw e;
    }
  }

  attach(nativeKey: string, mode: AccessMode, ctx?: KeyContext): Attachment {
    const { shm, sem: semSpec } = specsFor(nativeKey, ctx, ATTACH);
    // No key file, no segment: report it without making a semaphore for nothing. The key is
    // derived once (Qt derives it again under the lock: a key file made again in between
    // would belong to a segment made again, which that attach could not have found either).
    const key = keyOf(shm);
    if (key < 0) {
      // Qt's text for a missing key file, double colon included.
      throw sysError(`${HANDLE}:`, key, 'ftok', shm.path ?? undefined, errnoName(key) === 'ENOENT' ? [SharedMemoryError.NotFound, "UNIX key file doesn't exist"] : undefined);
    }
    const sem = new SysvSem(semSpec);
    sem.open(semSpec === shm ? key : undefined);
    let made: SysvAttachment | null = null;
    try {
      made = underLock(sem, ATTACH, () => {
        const id = check(native.shmget(key, 0, mode === AccessMode.ReadOnly ? 0o400 : 0o600), ATTACH + ' (shmget)', 'shmget', shm.path ?? undefined);
        return mapSegment(id, key, mode, shm, sem);
      });
      return made;
    } finally {
      if (!made && sem.created && !sem.heldByThisThread()) dropIfUnused(shm, sem);
    }
  }

  remove(nativeKey: string, ctx?: KeyContext): boolean {
    const { shm, sem } = specsFor(nativeKey, ctx, REMOVE);
    let removed = false;
    const shmKey = keyOf(shm);
    // Both keys before any key file goes: segment and semaphore may share one (native keys).
    const semKey = keyOf(sem);
    if (shmKey >= 0) {
      const id = native.shmget(shmKey, 0, 0);
      if (id >= 0) removed = check(native.shmctlRmid(id), REMOVE, 'shmctl(IPC_RMID)', shm.path ?? undefined) === 0 || removed;
    }
    if (shm.path !== null && native.unlink(shm.path) === 0) removed = true;
    if (semKey >= 0) {
      const id = native.semget(semKey, 0, 0);
      if (id >= 0 && native.semctlRmid(id) === 0) removed = true;
    }
    if (sem.path !== null && sem.path !== shm.path && native.unlink(sem.path) === 0) removed = true;
    return removed;
  }
}

/**
 * After a failed create/attach that made the semaphore: remove it again (and its key file)
 * if the segment does not exist, so a failed call leaves nothing behind. Taken under the lock
 * so it cannot pull the semaphore from a peer that just made the segment.
 */
function dropIfUnused(shm: KeySpec, sem: SysvSem): void {
  try {
    if (sem.acquire(0) === 'timeout') return; // someone is using it
  } catch {
    return;
  }
  const key = keyOf(shm);
  if (key >= 0 && native.shmget(key, 0, 0) >= 0) {
    sem.release();
    return;
  }
  sem.remove();
}
