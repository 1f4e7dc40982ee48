// SPDX-License-Identifier: MIT
/**
 * `QSharedMemory`: Qt's API and contract (operations return false and set `error()`), over
 * the backend chosen in the options. Wrong argument types throw TypeError.
 * @packageDocumentation
 */
import { AccessMode, QshmError, SharedMemoryError, argTypeError, checkAccessMode, qshmError } from './errors.js';
import type { Attachment, Backend, BackendName, SegmentLock } from './backends/backend.js';
import { backendFactories } from './backends/index.js';
import {
  IpcKeyType, QNativeIpcKey, backendForKeyType, keyTypeForBackend, legacyNativeKeyFor, makeKey, platformSafeKeyFor,
} from './nativeipckey.js';
import { closeSync } from 'node:fs';
import { MAX_MAPPING } from './native.js';
import {
  MemfdAttachment, QSHM_FD_ENV, attachFd, decodeSeals, inheritedFd, sealBits, type SealOptions, type SegmentSeals,
} from './backends/memfd.js';
import type { LockOutcome } from './lock.js';

/** Options of a {@link QSharedMemory}. */
export interface QSharedMemoryOptions {
  /**
   * The mechanism: `'file'` (default; a file with a lock header on a RAM filesystem),
   * `'memfd'` (Linux anonymous memory, handed over by descriptor), `'sysv'` and `'posix'`
   * (byte-compatible with Qt's own backends).
   */
  backend?: BackendName;
  /**
   * For `'file'`: the directory segments live in. Default `/dev/shm`; `'xdg'` means
   * `$XDG_RUNTIME_DIR` (KeyError when unset).
   */
  dir?: string;
  /** Permission bits of created segments. Default `0o600`. */
  mode?: number;
}

/** Options of {@link QSharedMemory.lockAsync}. */
export interface LockAsyncOptions {
  /** Give up (resolve false) after this many milliseconds. Default: wait forever. */
  timeoutMs?: number;
  /** Reject with an AbortError (and not hold the lock) when this signal fires. */
  signal?: AbortSignal;
}

/** Per-object state that must outlive the object for cleanup (never references the object). */
interface State {
  att: Attachment | null;
  held: boolean;
}

const live = new Set<State>();

/** Releases what a state holds: the lock if held, then the attachment. */
function release(s: State): void {
  const att = s.att;
  if (!att) return;
  if (s.held) {
    s.held = false;
    att.lock?.release();
  }
  s.att = null;
  live.delete(s);
  att.detach();
}

// Qt's destructor semantics: normal exit (of the process or of a worker thread) detaches.
process.on('exit', () => {
  for (const s of [...live]) release(s);
});
const collected = new FinalizationRegistry<State>(release);

function makeBackend(name: BackendName, o: QSharedMemoryOptions): Backend {
  const make = backendFactories[name];
  if (!make) {
    const here = Object.keys(backendFactories).map((b) => `'${b}'`).join(', ');
    const err = new TypeError(`qshm: backend '${name}' is not available on ${process.platform} (available here: ${here})`);
    (err as TypeError & { code: string }).code = 'ERR_QSHM_BACKEND_UNAVAILABLE';
    throw err;
  }
  return make(o);
}

const BACKENDS: readonly string[] = ['file', 'memfd', 'sysv', 'posix', 'windows'];

function checkOptions(o: unknown): QSharedMemoryOptions {
  if (o === undefined) return {};
  if (o === null || typeof o !== 'object') throw argTypeError('options', 'an object', o);
  const opts = o as QSharedMemoryOptions;
  if (opts.backend !== undefined && !BACKENDS.includes(opts.backend as string)) {
    throw argTypeError('options.backend', `one of ${BACKENDS.map((b) => `'${b}'`).join(', ')}`, opts.backend);
  }
  if (opts.dir !== undefined && typeof opts.dir !== 'string') throw argTypeError('options.dir', 'a string', opts.dir);
  if (opts.mode !== undefined && (!Number.isInteger(opts.mode) || opts.mode < 0 || opts.mode > 0o7777)) {
    throw argTypeError('options.mode', 'an integer permission mode (0 to 0o7777)', opts.mode);
  }
  return opts;
}

/** A lock timeout for the backends: ms >= 0, or -1 for "forever" (Infinity); negative is 0. */
function waitMs(timeoutMs: number): number {
  if (Number.isFinite(timeoutMs)) return Math.max(0, timeoutMs);
  return timeoutMs > 0 ? -1 : 0;
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
  #backend: Backend;
  #options: QSharedMemoryOptions;
  #key = '';
  #nativeKey = '';
  /** QNativeIpcKey type of the key (0: a backend Qt has no type for); see docs/interop.md. */
  #type = 0;
  #unsupportedType = false;
  #state: State = { att: null, held: false };
  #error: QshmError | null = null;
  #abandoned = false;

  /**
   * @param key - the key (Qt's legacy key: the native key is derived from it); omitted or
   * `''` for none. A {@link QNativeIpcKey} is used as Qt 6.6+ does, and its type picks the
   * backend (`'sysv'` for SystemV, `'posix'` for PosixRealtime); `options.backend`, if given,
   * must agree with it.
   * @param options - backend, directory and permissions.
   */
  constructor(key?: string | QNativeIpcKey, options?: QSharedMemoryOptions) {
    const o = checkOptions(options);
    this.#options = o;
    let name = o.backend ?? 'file';
    if (key instanceof QNativeIpcKey) {
      const wanted = backendForKeyType(key.type);
      if (wanted && o.backend !== undefined && o.backend !== wanted) {
        throw argTypeError('options.backend', `'${wanted}' (or omitted) for a key of type 0x${key.type.toString(16)}`, o.backend);
      }
      name = wanted ?? name;
    }
    this.#backend = makeBackend(name, o);
    this.#type = keyTypeForBackend(name);
    if (key instanceof QNativeIpcKey) this.setNativeKey(key);
    else if (key !== undefined) this.setKey(key);
    collected.register(this, this.#state, this);
  }

  /** The backend in use. */
  get backend(): BackendName {
    return this.#backend.name;
  }

  /**
   * Sets the key; the native key is derived from it as Qt does. Detaches first if attached.
   */
  setKey(key: string): void {
    if (typeof key !== 'string') throw argTypeError('key', 'of type string', key);
    if (key === this.#key && this.#nativeKey !== '' ) return;
    if (this.isAttached()) this.detach();
    this.#key = key;
    this.#nativeKey = this.#backend.nativeKeyFor(key);
    this.#type = keyTypeForBackend(this.#backend.name);
    this.#unsupportedType = false;
  }

  /** The key set with {@link setKey} or the constructor; `''` after {@link setNativeKey}. */
  key(): string {
    return this.#key;
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
    if (this.isAttached()) this.detach();
    this.#unsupportedType = false;
    if (typeof key === 'string') {
      this.#key = '';
      this.#nativeKey = key;
      this.#type = keyTypeForBackend(this.#backend.name);
      return;
    }
    const name = backendForKeyType(key.type);
    if (name === null) {
      this.#unsupportedType = true;
      this.#setError(SharedMemoryError.KeyError, 'QSharedMemory::setNativeKey: unsupported key type', 'ERR_QSHM_UNSUPPORTED_KEY_TYPE');
    } else if (name !== this.#backend.name) {
      this.#backend = makeBackend(name, this.#options);
    }
    this.#key = key.legacyKey;
    this.#nativeKey = key.nativeKey;
    this.#type = key.type;
  }

  /**
   * The key as a {@link QNativeIpcKey} (Qt 6.6+): type SystemV for `'sysv'`, PosixRealtime for
   * `'posix'`, carrying the legacy key when it came from {@link setKey}. Null for `'file'` and
   * `'memfd'`, which Qt has no key type for.
   */
  nativeIpcKey(): QNativeIpcKey | null {
    return this.#type === 0 ? null : makeKey(this.#nativeKey, this.#type, this.#key);
  }

  /**
   * Qt's `legacyNativeKey(key, type)`: the native key Qt ≤ 6.5 (and `setKey` everywhere)
   * derives, carrying `key` as its legacy key. Type defaults to Qt's legacy default: SystemV
   * on Linux, Windows on Windows.
   */
  static legacyNativeKey(key: string, type: number = QNativeIpcKey.legacyDefaultTypeForOs()): QNativeIpcKey {
    if (typeof key !== 'string') throw argTypeError('key', 'of type string', key);
    return legacyNativeKeyFor(key, new QNativeIpcKey(type).type);
  }

  /**
   * Qt 6.6+'s `platformSafeKey(key, type)`: `/<key>` for PosixRealtime (the default on
   * Linux), a path under the runtime directory for SystemV, `shm_<key>` for Windows (the
   * default on Windows).
   */
  static platformSafeKey(key: string, type: number = QNativeIpcKey.DefaultTypeForOs): QNativeIpcKey {
    if (typeof key !== 'string') throw argTypeError('key', 'of type string', key);
    return platformSafeKeyFor(key, new QNativeIpcKey(type).type);
  }

  /** Qt 6.6+'s `isKeyTypeSupported`: SystemV types and PosixRealtime on Linux, Windows on Windows. */
  static isKeyTypeSupported(type: number): boolean {
    return backendForKeyType(new QNativeIpcKey(type).type) !== null;
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
    const o = checkOptions(options);
    const shm = new QSharedMemory(key, o);
    const backend = shm.#backend;
    if (!backend.remove) throw argTypeError('options.backend', "'sysv' or 'posix'", backend.name);
    if (shm.#unsupportedType) throw shm.#error!;
    if (shm.#nativeKey === '') return false;
    return backend.remove(shm.#nativeKey, { legacyKey: shm.#key, type: shm.#type });
  }

  /** The native key: for the `'file'` backend the path of the segment file. */
  nativeKey(): string {
    return this.#nativeKey;
  }

  #keyContext() {
    return { legacyKey: this.#key, type: this.#type };
  }

  #fail(e: unknown): false {
    if (!(e instanceof QshmError)) throw e;
    this.#error = e;
    return false;
  }

  #setError(qtError: SharedMemoryError, text: string, code: string): false {
    this.#error = qshmError(qtError, text, code, this.#nativeKey || undefined);
    return false;
  }

  #attachWith(att: Attachment): void {
    this.#state.att = att;
    this.#state.held = false;
    live.add(this.#state);
  }

  /**
   * Creates a segment of `size` bytes and attaches to it. Returns false and sets
   * {@link error} on failure (AlreadyExists, InvalidSize, KeyError, OutOfResources, …).
   * New memory reads as zeros.
   */
  create(size: number, mode: AccessMode = AccessMode.ReadWrite): boolean {
    if (typeof size !== 'number') throw argTypeError('size', 'of type number', size);
    checkAccessMode(mode);
    this.#error = null;
    if (this.isAttached()) {
      return this.#setError(SharedMemoryError.AlreadyExists, 'QSharedMemory::create: already exists', 'EEXIST');
    }
    if (this.#unsupportedType) {
      return this.#setError(SharedMemoryError.KeyError, 'QSharedMemory::setNativeKey: unsupported key type', 'ERR_QSHM_UNSUPPORTED_KEY_TYPE');
    }
    if (this.#nativeKey === '' && this.#backend.name !== 'memfd') { // a memfd's key is only a label
      return this.#setError(SharedMemoryError.KeyError, 'QSharedMemory::create: key is empty', 'ERR_QSHM_EMPTY_KEY');
    }
    if (!(size > 0)) {
      return this.#setError(SharedMemoryError.InvalidSize, 'QSharedMemory::create: create size is less then 0', 'ERR_QSHM_INVALID_SIZE');
    }
    if (!Number.isSafeInteger(size)) {
      return this.#setError(SharedMemoryError.InvalidSize, `QSharedMemory::create: invalid size ${size} (must be a whole number of bytes up to 2^53-1)`, 'ERR_QSHM_INVALID_SIZE');
    }
    if (size > MAX_MAPPING) {
      // Qt reports absurd sizes (2^45) as OutOfResources too.
      return this.#setError(SharedMemoryError.OutOfResources, `QSharedMemory::create: out of resources (${size} bytes is more than the largest Buffer this Node.js can map, ${MAX_MAPPING} bytes)`, 'ERR_QSHM_TOO_LARGE');
    }
    try {
      this.#attachWith(this.#backend.create(this.#backend.resolveNativeKey(this.#nativeKey), size, mode, this.#keyContext()));
      return true;
    } catch (e) {
      return this.#fail(e);
    }
  }

  /**
   * Attaches to an existing segment. Returns false if already attached (no error), or on
   * failure with {@link error} set (NotFound, KeyError, PermissionDenied, …).
   */
  attach(mode: AccessMode = AccessMode.ReadWrite): boolean {
    checkAccessMode(mode);
    if (this.isAttached()) return false;
    this.#error = null;
    if (this.#unsupportedType) {
      return this.#setError(SharedMemoryError.KeyError, 'QSharedMemory::setNativeKey: unsupported key type', 'ERR_QSHM_UNSUPPORTED_KEY_TYPE');
    }
    if (this.#nativeKey === '') {
      return this.#setError(SharedMemoryError.KeyError, 'QSharedMemory::handle: key is empty', 'ERR_QSHM_EMPTY_KEY');
    }
    try {
      this.#attachWith(this.#backend.attach(this.#backend.resolveNativeKey(this.#nativeKey), mode, this.#keyContext()));
      return true;
    } catch (e) {
      return this.#fail(e);
    }
  }

  /**
   * Detaches; releases the lock if this object holds it. When this was the last attachment
   * in any process, the segment is destroyed. Buffers from {@link data} become length 0.
   * Returns false if not attached.
   */
  detach(): boolean {
    if (!this.#state.att) return false;
    release(this.#state);
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

  #lockable(fn: string): Attachment | null {
    const att = this.#state.att;
    if (!att) {
      this.#setError(SharedMemoryError.LockError, `${fn}: unable to lock (not attached)`, 'ERR_QSHM_NOT_ATTACHED');
      return null;
    }
    if (!att.lock) {
      this.#setError(SharedMemoryError.LockError, `${fn}: unable to lock (${att.lockUnavailable})`, 'ERR_QSHM_NO_LOCK');
      return null;
    }
    return att;
  }

  #took(outcome: LockOutcome): boolean {
    if (outcome === 'timeout') return false;
    this.#state.held = true;
    this.#abandoned = outcome === 'abandoned';
    return true;
  }

  /**
   * Takes the segment's lock, waiting as long as needed. Excludes every other
   * `QSharedMemory` object (in this or any process or worker). A lock whose holder died is
   * taken over; {@link lockWasAbandoned} then returns true. A second lock() by the holder
   * returns true at once (Qt's rule: holding is a flag, not a count).
   */
  lock(): boolean {
    const s = this.#state;
    const l = s.att?.lock;
    if (l && !s.held) {
      // Hot path: one compare-and-swap, no system call, no native call.
      if (l.tryFast?.()) {
        s.held = true;
        this.#abandoned = false;
        return true;
      }
      return this.#acquire(l, -1);
    }
    const att = this.#lockable('QSharedMemory::lock');
    if (!att) return false;
    if (this.#state.held) {
      process.emitWarning('QSharedMemory::lock: already locked', { code: 'QSHM_ALREADY_LOCKED' });
      return true;
    }
    return this.#acquire(att.lock!, -1);
  }

  /** Acquires with Qt's contract: an OS failure is false + error(), never a throw. */
  #acquire(l: SegmentLock, timeoutMs: number): boolean {
    let outcome: LockOutcome;
    try {
      outcome = l.acquire(timeoutMs);
    } catch (e) {
      return this.#fail(e);
    }
    return this.#took(outcome);
  }

  /**
   * Like {@link lock} but gives up after `timeoutMs` (0: try once), returning false with no
   * error set.
   */
  tryLock(timeoutMs = 0): boolean {
    if (typeof timeoutMs !== 'number' || Number.isNaN(timeoutMs)) throw argTypeError('timeoutMs', 'a number', timeoutMs);
    const att = this.#lockable('QSharedMemory::tryLock');
    if (!att) return false;
    if (this.#state.held) return true;
    return this.#acquire(att.lock!, waitMs(timeoutMs));
  }

  /**
   * Takes the lock without blocking the event loop. Resolves true when held, false on
   * timeout (or when the object is not attached: see {@link error}); rejects with an
   * `AbortError` when `signal` fires, and then does not hold the lock.
   */
  async lockAsync(options: LockAsyncOptions = {}): Promise<boolean> {
    if (options === null || typeof options !== 'object') throw argTypeError('options', 'an object', options);
    const { timeoutMs, signal } = options;
    if (timeoutMs !== undefined && (typeof timeoutMs !== 'number' || Number.isNaN(timeoutMs))) {
      throw argTypeError('options.timeoutMs', 'a number', timeoutMs);
    }
    if (signal !== undefined && !(signal instanceof AbortSignal)) throw argTypeError('options.signal', 'an AbortSignal', signal);
    signal?.throwIfAborted();
    const att = this.#lockable('QSharedMemory::lockAsync');
    if (!att) return false;
    if (this.#state.held) return true;
    const lock = att.lock!;
    const onAbort = () => lock.wakeAll();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      let outcome: LockOutcome | 'aborted';
      try {
        outcome = await lock.acquireAsync(timeoutMs === undefined ? -1 : waitMs(timeoutMs), () => signal?.aborted === true);
      } catch (e) {
        return this.#fail(e);
      }
      if (outcome === 'aborted') {
        throw signal!.reason ?? new DOMException('This operation was aborted', 'AbortError');
      }
      if (this.#state.att !== att) {
        // Detached while waiting: detach() gave back anything the wait had taken.
        return false;
      }
      return this.#took(outcome);
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  /**
   * Releases the lock. Returns false, with no error, if this object does not hold it.
   */
  unlock(): boolean {
    const s = this.#state;
    const att = s.att;
    if (!att || !s.held) return false;
    s.held = false;
    if (!att.lock!.release()) {
      return this.#setError(SharedMemoryError.LockError, 'QSharedMemory::unlock: unable to unlock (the lock was taken over)', 'ERR_QSHM_LOCK_LOST');
    }
    return true;
  }

  /**
   * Whether the last acquisition by this object took over the lock of a holder that died
   * while holding it (its data may be half-written: repair it before unlocking).
   */
  lockWasAbandoned(): boolean {
    return this.#abandoned;
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
    if (!this.lock()) throw this.#error!;
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
    if (!this.lock()) throw this.#error!;
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
    return this.#error?.qtError ?? SharedMemoryError.NoError;
  }

  /** The last error's text, in Qt's style (`"QSharedMemory::create: already exists"`); `''` if none. */
  errorString(): string {
    return this.#error?.errorString ?? '';
  }

  /** The last error with `code`, `errno`, `syscall` and `path`, or null. */
  lastError(): QshmError | null {
    return this.#error;
  }

  // ---- memfd segments: descriptors, hand-off and seals (docs/handoff.md) ----

  /**
   * The descriptor of an attached `memfd` segment, or -1 (not attached, or another backend).
   * It belongs to this object: do not close it (detach() does). It is close-on-exec, so no
   * child inherits it unless handed it on purpose (`spawnWithSegment`, a `stdio` slot).
   */
  fd(): number {
    const att = this.#state.att;
    return att instanceof MemfdAttachment ? att.fd : -1;
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
    if (!Number.isInteger(fd) || fd < 0 || fd > 0x7fffffff) throw argTypeError('fd', 'a descriptor (a whole number from 0 to 2^31-1)', fd);
    checkAccessMode(mode);
    const shm = new QSharedMemory(undefined, { backend: 'memfd' });
    shm.#attachWith(attachFd(fd, mode, 'QSharedMemory::fromFd'));
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
    const fd = inheritedFd(envVar, 'QSharedMemory::fromInherited');
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
    this.#error = null;
    const att = this.#state.att;
    if (!(att instanceof MemfdAttachment)) {
      return att
        ? this.#setError(SharedMemoryError.UnknownError, 'QSharedMemory::seal: only memfd segments can be sealed', 'ERR_QSHM_NOT_MEMFD')
        : this.#setError(SharedMemoryError.UnknownError, 'QSharedMemory::seal: not attached', 'ERR_QSHM_NOT_ATTACHED');
    }
    if (seals.write && this.#state.held) {
      return this.#setError(SharedMemoryError.LockError, 'QSharedMemory::seal: unlock before sealing write (the attachment becomes read-only)', 'ERR_QSHM_LOCKED');
    }
    try {
      att.addSeals(bits, 'QSharedMemory::seal');
      return true;
    } catch (e) {
      return this.#fail(e);
    }
  }

  /** The seals of an attached `memfd` segment, or null (not attached, or another backend). */
  seals(): SegmentSeals | null {
    const att = this.#state.att;
    if (!(att instanceof MemfdAttachment)) return null;
    try {
      return decodeSeals(att.sealBits());
    } catch {
      return null;
    }
  }

}
