// SPDX-License-Identifier: MIT
/**
 * `QSharedMemory`: Qt's API and contract (operations return false and set `error()`), a thin
 * layer over the key ({@link KeyState}), the attachment state and the lock API
 * (lib/locking.ts). Wrong argument types throw TypeError, out-of-range numbers RangeError.
 * @packageDocumentation
 */
import { closeSync } from 'node:fs';
import {
  AccessMode, type QshmError, QshmErrorCode, QtFn, SharedMemoryError, argTypeError, checkAccessMode, checkInteger, qshmError,
} from './errors.js';
import { backendSpec, backendForKeyType, isBackendName, backendNames, type BackendName } from './backends/index.js';
import { type IpcKeyType, QNativeIpcKey, checkKeyType, legacyNativeKeyFor, platformSafeKeyFor } from './nativeipckey.js';
import { MAX_MAPPING } from './native.js';
import { KeyState } from './key-state.js';
import { attachState, newState, releaseState, type State } from './attachment-state.js';
import * as locking from './locking.js';
import type { LockAsyncOptions } from './locking.js';
import { QSHM_FD_ENV, attachFd, decodeSeals, inheritedFd, sealBits, type SealOptions, type SegmentSeals } from './backends/memfd.js';

export type { LockAsyncOptions };

/** Options of a {@link QSharedMemory}. */
export interface QSharedMemoryOptions {
  /**
   * The mechanism: `'file'` (default; a file with a lock header on a RAM filesystem),
   * `'memfd'` (Linux anonymous memory, handed over by descriptor), `'sysv'` and `'posix'`
   * (byte-compatible with Qt's own backends). A backend this platform lacks throws a
   * TypeError with code `ERR_FEATURE_UNAVAILABLE_ON_PLATFORM`.
   */
  backend?: BackendName;
  /**
   * For `'file'`: the directory segments live in. Default `/dev/shm`; `'xdg'` means
   * `$XDG_RUNTIME_DIR` (KeyError when unset). Relative native keys name files inside it.
   */
  dir?: string;
  /** Permission bits of created segments. Default `0o600`. */
  mode?: number;
}

function checkOptions(o: unknown): QSharedMemoryOptions {
  if (o === undefined) return {};
  if (o === null || typeof o !== 'object') throw argTypeError('options', 'an object', o);
  const opts = o as QSharedMemoryOptions;
  if (opts.backend !== undefined && !isBackendName(opts.backend)) {
    throw argTypeError('options.backend', `one of ${backendNames.map((b) => `'${b}'`).join(', ')}`, opts.backend);
  }
  if (opts.dir !== undefined && typeof opts.dir !== 'string') throw argTypeError('options.dir', 'a string', opts.dir);
  if (opts.mode !== undefined) checkInteger('options.mode', opts.mode, 0, 0o7777, 'a permission mode from 0 to 0o7777');
  return opts;
}

/** A key type argument: undefined means `fallback`; else a QNativeIpcKey type (TypeError/RangeError). */
function keyTypeArg(type: unknown, fallback: IpcKeyType): number {
  return type === undefined ? fallback : checkKeyType(type);
}

/**
 * A named shared-memory segment between processes, with a lock — Qt's `QSharedMemory`.
 *
 * ```ts
 * const shm = new QSharedMemory('my-key');
 * if (!shm.create(4096)) console.error(shm.errorString());
 * shm.lock(); shm.data()!.write('hello'); shm.unlock();
 * ```
 */
export class QSharedMemory {
  /** Qt's `QSharedMemory::AccessMode` enum, as PySide6 and PyQt6 reach it. */
  static readonly AccessMode = AccessMode;
  /** Qt's `QSharedMemory::SharedMemoryError` enum, as PySide6 and PyQt6 reach it. */
  static readonly SharedMemoryError = SharedMemoryError;
  /** `AccessMode.ReadOnly`, unscoped as PySide6 also offers it. */
  static readonly ReadOnly = AccessMode.ReadOnly;
  /** `AccessMode.ReadWrite`, unscoped. */
  static readonly ReadWrite = AccessMode.ReadWrite;
  /** `SharedMemoryError.NoError`, unscoped. */
  static readonly NoError = SharedMemoryError.NoError;
  /** `SharedMemoryError.PermissionDenied`, unscoped. */
  static readonly PermissionDenied = SharedMemoryError.PermissionDenied;
  /** `SharedMemoryError.InvalidSize`, unscoped. */
  static readonly InvalidSize = SharedMemoryError.InvalidSize;
  /** `SharedMemoryError.KeyError`, unscoped. */
  static readonly KeyError = SharedMemoryError.KeyError;
  /** `SharedMemoryError.AlreadyExists`, unscoped. */
  static readonly AlreadyExists = SharedMemoryError.AlreadyExists;
  /** `SharedMemoryError.NotFound`, unscoped. */
  static readonly NotFound = SharedMemoryError.NotFound;
  /** `SharedMemoryError.LockError`, unscoped. */
  static readonly LockError = SharedMemoryError.LockError;
  /** `SharedMemoryError.OutOfResources`, unscoped. */
  static readonly OutOfResources = SharedMemoryError.OutOfResources;
  /** `SharedMemoryError.UnknownError`, unscoped. */
  static readonly UnknownError = SharedMemoryError.UnknownError;

  readonly #keys: KeyState;
  readonly #state: State;

  /**
   * @param key - the key (Qt's legacy key: the native key is derived from it); omitted or
   * `''` for none. A {@link QNativeIpcKey} is used as Qt 6.6+ does, and its type picks the
   * backend (`'sysv'` for SystemV, `'posix'` for PosixRealtime); `options.backend`, if given,
   * must agree with it.
   * @param options - backend, directory and permissions.
   */
  constructor(key?: string | QNativeIpcKey, options?: QSharedMemoryOptions) {
    if (key !== undefined && typeof key !== 'string' && !(key instanceof QNativeIpcKey)) {
      throw argTypeError('key', 'of type string or a QNativeIpcKey', key);
    }
    this.#state = newState(this);
    this.#keys = new KeyState(checkOptions(options), key);
    if (key instanceof QNativeIpcKey) this.setNativeKey(key);
    else if (key !== undefined) this.setKey(key);
  }

  /** The backend in use. */
  get backend(): BackendName {
    return this.#keys.backendName;
  }

  /**
   * Sets the key; the native key is derived from it as Qt does. Detaches first if attached
   * (unless the key is unchanged). `setKey('')` clears both keys, as Qt does.
   */
  setKey(key: string): void {
    if (typeof key !== 'string') throw argTypeError('key', 'of type string', key);
    if (this.#keys.setLegacy(key)) this.detach();
  }

  /** The key set with {@link setKey} or the constructor; `''` after {@link setNativeKey}. */
  key(): string {
    return this.#keys.key;
  }

  /**
   * Sets the native key (a file path or name for `'file'`, as the backend documents) used
   * verbatim; {@link key} becomes `''`. Detaches first if attached. A {@link QNativeIpcKey}
   * (or a string with an explicit `type`) switches to the backend of its type, as Qt 6.6+
   * does; a type this platform cannot use (Windows, invalid) sets KeyError.
   */
  setNativeKey(key: string | QNativeIpcKey, type?: number): void {
    if (!(key instanceof QNativeIpcKey) && typeof key !== 'string') throw argTypeError('key', 'of type string or a QNativeIpcKey', key);
    if (type !== undefined) {
      if (typeof key !== 'string') throw argTypeError('type', 'undefined when the key is a QNativeIpcKey', type);
      key = new QNativeIpcKey(key, type);
    }
    this.detach();
    const err = this.#keys.setNative(key);
    if (err) this.#state.error = err;
  }

  /**
   * The key as a {@link QNativeIpcKey} (Qt 6.6+): type SystemV for `'sysv'`, PosixRealtime for
   * `'posix'`, carrying the legacy key when it came from {@link setKey}. Null for `'file'` and
   * `'memfd'`, which Qt has no key type for.
   */
  nativeIpcKey(): QNativeIpcKey | null {
    return this.#keys.nativeIpcKey();
  }

  /**
   * Qt's `legacyNativeKey(key, type)`: the native key Qt ≤ 6.5 (and `setKey` everywhere)
   * derives, carrying `key` as its legacy key. Type defaults to Qt's legacy default: SystemV
   * on Linux, Windows on Windows.
   * @throws TypeError when `key` is not a string or `type` not a number; RangeError when
   * `type` is not a QNativeIpcKey type.
   */
  static legacyNativeKey(key: string, type: number = QNativeIpcKey.legacyDefaultTypeForOs()): QNativeIpcKey {
    if (typeof key !== 'string') throw argTypeError('key', 'of type string', key);
    return legacyNativeKeyFor(key, keyTypeArg(type, QNativeIpcKey.legacyDefaultTypeForOs()));
  }

  /**
   * Qt 6.6+'s `platformSafeKey(key, type)`: `/<key>` for PosixRealtime (the default on
   * Linux), a path under the runtime directory for SystemV, `shm_<key>` for Windows (the
   * default on Windows).
   * @throws TypeError / RangeError as {@link legacyNativeKey}.
   */
  static platformSafeKey(key: string, type: number = QNativeIpcKey.DefaultTypeForOs): QNativeIpcKey {
    if (typeof key !== 'string') throw argTypeError('key', 'of type string', key);
    return platformSafeKeyFor(key, keyTypeArg(type, QNativeIpcKey.DefaultTypeForOs));
  }

  /**
   * Qt 6.6+'s `isKeyTypeSupported`: whether a backend available here speaks keys of `type`
   * (SystemV types and PosixRealtime on Linux, Windows on Windows).
   * @throws TypeError when `type` is not a number; RangeError when it is not a key type.
   */
  static isKeyTypeSupported(type: number): boolean {
    return backendForKeyType(checkKeyType(type)) !== null;
  }

  /**
   * Removes a `'sysv'` or `'posix'` segment and its lock semaphore (and key files) by key,
   * whether or not anyone is attached — for POSIX segments, which nothing removes on detach
   * (Qt on Linux never unlinks them), and for what a crashed process left. `key` is a legacy
   * key string (backend from `options.backend`) or a {@link QNativeIpcKey}. Returns true if
   * anything was removed, false if nothing existed.
   * @throws QshmError when removal fails (e.g. PermissionDenied).
   * @throws TypeError for other backends or wrong argument types.
   */
  static remove(key: string | QNativeIpcKey, options?: QSharedMemoryOptions): boolean {
    if (typeof key !== 'string' && !(key instanceof QNativeIpcKey)) throw argTypeError('key', 'of type string or a QNativeIpcKey', key);
    const shm = new QSharedMemory(key, options);
    const keys = shm.#keys;
    const backend = keys.backend;
    if (!backend.remove || !backendSpec(keys.backendName).removable) {
      throw argTypeError('options.backend', `one of ${backendNames.filter((b) => backendSpec(b).removable).map((b) => `'${b}'`).join(', ')}`, keys.backendName);
    }
    if (keys.nativeKey === '' && !keys.unsupported) return false;
    return backend.remove(keys.name(QtFn.remove), keys.context());
  }

  /** The native key: for the `'file'` backend the path of the segment file. */
  nativeKey(): string {
    return this.#keys.nativeKey;
  }

  #setError(qtError: SharedMemoryError, text: string, code: string): false {
    this.#state.error = qshmError(qtError, text, code, this.#keys.nativeKey || undefined);
    return false;
  }

  /**
   * Creates a segment of `size` bytes and attaches to it. Returns false and sets
   * {@link error} on failure (AlreadyExists, InvalidSize, KeyError, OutOfResources, …).
   * New memory reads as zeros.
   */
  create(size: number, mode: AccessMode = AccessMode.ReadWrite): boolean {
    if (typeof size !== 'number') throw argTypeError('size', 'of type number', size);
    checkAccessMode(mode);
    this.#state.error = null;
    if (this.isAttached()) {
      return this.#setError(SharedMemoryError.AlreadyExists, `${QtFn.create}: already exists`, 'EEXIST');
    }
    try {
      const name = this.#keys.name(QtFn.create);
      if (!(size > 0)) {
        return this.#setError(SharedMemoryError.InvalidSize, `${QtFn.create}: create size is less then 0`, QshmErrorCode.InvalidSize);
      }
      if (!Number.isSafeInteger(size)) {
        return this.#setError(SharedMemoryError.InvalidSize,
          `${QtFn.create}: invalid size ${size} (must be a whole number of bytes up to 2^53-1)`, QshmErrorCode.InvalidSize);
      }
      if (size > MAX_MAPPING) {
        // Qt reports absurd sizes (2^45) as OutOfResources too.
        return this.#setError(SharedMemoryError.OutOfResources,
          `${QtFn.create}: out of resources (${size} bytes is more than the largest Buffer this Node.js can map, ${MAX_MAPPING} bytes)`,
          QshmErrorCode.TooLarge);
      }
      attachState(this.#state, this.#keys.backend.create(name, size, mode, this.#keys.context()));
      return true;
    } catch (e) {
      return locking.fail(this.#state, e);
    }
  }

  /**
   * Attaches to an existing segment. Returns false if already attached (no error), or on
   * failure with {@link error} set (NotFound, KeyError, PermissionDenied, …).
   */
  attach(mode: AccessMode = AccessMode.ReadWrite): boolean {
    checkAccessMode(mode);
    if (this.isAttached()) return false;
    this.#state.error = null;
    try {
      const name = this.#keys.name(QtFn.attach, QtFn.handle);
      attachState(this.#state, this.#keys.backend.attach(name, mode, this.#keys.context()));
      return true;
    } catch (e) {
      return locking.fail(this.#state, e);
    }
  }

  /**
   * Detaches; releases the lock if this object holds it. When this was the last attachment
   * in any process, the segment is destroyed. Buffers from {@link data} become length 0.
   * Returns false if not attached.
   */
  detach(): boolean {
    if (!this.#state.att) return false;
    releaseState(this.#state);
    return true;
  }

  /** Whether this object is attached. */
  isAttached(): boolean {
    return this.#state.att !== null;
  }

  /** Size of the attached segment in bytes (exactly what create() asked for); 0 if detached. */
  size(): number {
    return this.#state.att?.size ?? 0;
  }

  /**
   * The segment's memory (the same Buffer for the life of the attachment), or null when not
   * attached. It reads as length 0 after detach(). Writing to a ReadOnly attachment faults.
   */
  data(): Buffer | null {
    return this.#state.att?.data ?? null;
  }

  /** Same as {@link data} (JavaScript has no const views). */
  constData(): Buffer | null {
    return this.data();
  }

  /**
   * Takes the segment's lock, waiting as long as needed. Excludes every other
   * `QSharedMemory` object (in this or any process or worker). A lock whose holder died is
   * taken over; {@link lockWasAbandoned} then returns true. A second lock() by the holder
   * returns true at once (Qt's rule: holding is a flag, not a count).
   */
  lock(): boolean {
    const s = this.#state;
    // The hot path (locking.lock's, inlined: a call layer is a measurable share of a ~20 ns
    // pair): one compare-and-swap on a lock fixed for the attachment's life.
    const f = s.fast;
    if (f !== null && !s.held && f.tryFast!()) {
      s.held = true;
      s.abandoned = false;
      return true;
    }
    return locking.lock(s, QtFn.lock);
  }

  /**
   * Like {@link lock} but gives up after `timeoutMs` (0: try once; Infinity: never),
   * returning false with no error set.
   */
  tryLock(timeoutMs = 0): boolean {
    return locking.tryLock(this.#state, QtFn.tryLock, timeoutMs);
  }

  /**
   * Takes the lock without blocking the event loop. Resolves true when held, false on
   * timeout (or when the object is not attached: see {@link error}); rejects with an
   * `AbortError` when `signal` fires, and then does not hold the lock.
   */
  lockAsync(options: LockAsyncOptions = {}): Promise<boolean> {
    return locking.lockAsync(this.#state, QtFn.lockAsync, options);
  }

  /**
   * Releases the lock. Returns false, with no error, if this object does not hold it.
   */
  unlock(): boolean {
    const s = this.#state;
    const f = s.fast; // see lock()
    if (f !== null && s.held) {
      s.held = false;
      return f.release() || locking.lost(s, QtFn.unlock);
    }
    return locking.unlock(s, QtFn.unlock);
  }

  /**
   * Whether the last acquisition by this object took over the lock of a holder that died
   * while holding it (its data may be half-written: repair it before unlocking).
   */
  lockWasAbandoned(): boolean {
    return this.#state.abandoned;
  }

  /** Whether this object holds the lock. */
  isLocked(): boolean {
    return this.#state.held;
  }

  /**
   * Runs `fn` under the lock and always unlocks, even if `fn` throws or its promise rejects.
   * Throws the lock error if the lock cannot be taken.
   */
  withLock<T>(fn: (shm: this) => T): T {
    if (typeof fn !== 'function') throw argTypeError('fn', 'a function', fn);
    if (!this.lock()) throw this.#state.error!;
    let result: T;
    try {
      result = fn(this);
    } catch (e) {
      this.unlock();
      throw e;
    }
    if (result instanceof Promise) {
      return result.finally(() => this.unlock()) as T;
    }
    this.unlock();
    return result;
  }

  /**
   * Takes the lock and returns a guard that releases it when disposed:
   * `using guard = shm.lockGuard();`. Throws the lock error if the lock cannot be taken.
   */
  lockGuard(): Disposable & { unlock(): void } {
    if (!this.lock()) throw this.#state.error!;
    let done = false;
    const unlock = () => {
      if (!done) {
        done = true;
        this.unlock();
      }
    };
    return { unlock, [Symbol.dispose]: unlock };
  }

  /** The last error's Qt code; NoError after a successful create/attach. */
  error(): SharedMemoryError {
    return this.#state.error?.qtError ?? SharedMemoryError.NoError;
  }

  /** The last error's text, in Qt's style (`"QSharedMemory::create: already exists"`); `''` if none. */
  errorString(): string {
    return this.#state.error?.errorString ?? '';
  }

  /** The last error with `code`, `errno`, `syscall` and `path`, or null. */
  lastError(): QshmError | null {
    return this.#state.error;
  }

  // ---- memfd segments: descriptors, hand-off and seals (docs/handoff.md) ----

  /**
   * The descriptor of an attached `memfd` segment, or -1 (not attached, or another backend).
   * It belongs to this object: do not close it (detach() does). It is close-on-exec, so no
   * child inherits it unless handed it on purpose (`spawnWithSegment`, a `stdio` slot).
   */
  fd(): number {
    return this.#state.att?.handOffFd?.() ?? -1;
  }

  /**
   * Attaches the memfd segment behind a received descriptor (inherited, from SCM_RIGHTS, …),
   * after validating its header. The new object maps its own open file description (a
   * reopen of `/proc/self/fd/<fd>`), so its lock liveness is independent of whoever else
   * holds `fd`; `fd` stays the caller's (close it when done). The reopen never gains access:
   * a read-only descriptor gives a read-only, lock-less attachment. A segment sealed against
   * writing attaches only ReadOnly, and without the lock. Where /proc is unavailable it falls
   * back to a duplicate, which shares the sender's open file description and therefore stays
   * out of the lock (lock() fails with LockError) to keep the sender's liveness intact.
   * @throws QshmError (KeyError: not an open descriptor, or a named file; PermissionDenied:
   * ReadWrite on a read-only descriptor or a write-sealed segment; UnknownError with code
   * ERR_QSHM_BAD_HEADER: not a qshm segment).
   * @throws TypeError on a wrong argument type.
   */
  static fromFd(fd: number, mode: AccessMode = AccessMode.ReadWrite): QSharedMemory {
    checkInteger('fd', fd, 0, 0x7fffffff, 'a descriptor (a whole number from 0 to 2^31-1)');
    checkAccessMode(mode);
    const shm = new QSharedMemory(undefined, { backend: 'memfd' });
    attachState(shm.#state, attachFd(fd, mode, QtFn.fromFd));
    return shm;
  }

  /**
   * In a child started with `spawnWithSegment()`: attaches the segment whose descriptor the
   * environment variable `envVar` (default `QSHM_FD`) names. The inherited descriptor is then
   * consumed, whether the attach worked or not: it is closed and the variable removed, so
   * nothing leaks into processes this child starts. Call it before spawning anything.
   * @throws QshmError (NotFound when the variable is unset; else as {@link fromFd}).
   */
  static fromInherited(mode: AccessMode = AccessMode.ReadWrite, envVar: string = QSHM_FD_ENV): QSharedMemory {
    checkAccessMode(mode);
    if (typeof envVar !== 'string') throw argTypeError('envVar', 'of type string', envVar);
    const fd = inheritedFd(envVar, QtFn.fromInherited);
    try {
      return QSharedMemory.fromFd(fd, mode);
    } finally {
      delete process.env[envVar];
      try {
        closeSync(fd);
      } catch {
        // not open: fromFd has reported it
      }
    }
  }

  /**
   * Adds file seals to an attached `memfd` segment (seals are never removed). `shrink` +
   * `grow` make the size final: a peer's ftruncate fails with EPERM instead of making this
   * process's accesses fault (SIGBUS). `futureWrite` keeps existing mappings writable but
   * makes every later mapping read-only (kernel-enforced; such peers cannot lock). `write`
   * makes the memory immutable, turning this object's own attachment read-only first (take
   * data() again afterwards); it fails with EBUSY while another attachment maps it writable,
   * and with LockError while this object holds the lock. Returns false and sets
   * {@link error} on failure (including: not attached, not a memfd segment).
   */
  seal(seals: SealOptions): boolean {
    const bits = sealBits(seals);
    this.#state.error = null;
    const att = this.#state.att;
    if (!att?.addSeals) {
      return att
        ? this.#setError(SharedMemoryError.UnknownError, `${QtFn.seal}: only memfd segments can be sealed`, QshmErrorCode.NotMemfd)
        : this.#setError(SharedMemoryError.UnknownError, `${QtFn.seal}: not attached`, QshmErrorCode.NotAttached);
    }
    if (seals.write && this.#state.held) {
      return this.#setError(SharedMemoryError.LockError, `${QtFn.seal}: unlock before sealing write (the attachment becomes read-only)`, QshmErrorCode.Locked);
    }
    try {
      att.addSeals(bits, QtFn.seal);
      return true;
    } catch (e) {
      return locking.fail(this.#state, e);
    }
  }

  /** The seals of an attached `memfd` segment, or null (not attached, or another backend). */
  seals(): SegmentSeals | null {
    const att = this.#state.att;
    if (!att?.sealBits) return null;
    try {
      return decodeSeals(att.sealBits());
    } catch {
      return null;
    }
  }
}
