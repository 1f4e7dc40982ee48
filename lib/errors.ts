// SPDX-License-Identifier: MIT
/**
 * Qt's error enum, the one errno → Qt error mapping, and the error class that carries
 * Node's SystemError fields (`code`, `errno`, `syscall`) plus Qt's `error()` code.
 * @packageDocumentation
 */
import { getSystemErrorMap } from 'node:util';
import { constants as osConstants } from 'node:os';
import { win32 } from './native.js';

/** How a segment is mapped. Numbering is Qt's `QSharedMemory::AccessMode`. */
export enum AccessMode {
  /** Map read-only: writes through `data()` fault (the process crashes, as in Qt). */
  ReadOnly = 0,
  /** Map readable and writable. */
  ReadWrite = 1,
}

/** Qt's `QSharedMemory::SharedMemoryError`, with Qt's numbering. */
export enum SharedMemoryError {
  /** No error occurred. */
  NoError = 0,
  /** The operation failed because the caller lacked the permissions. */
  PermissionDenied = 1,
  /** A create operation failed due to an invalid size. */
  InvalidSize = 2,
  /** The operation failed because of an invalid key. */
  KeyError = 3,
  /** A create() failed because a segment with the key already exists. */
  AlreadyExists = 4,
  /** An attach() failed because no segment with the key exists. */
  NotFound = 5,
  /** Locking or unlocking failed. */
  LockError = 6,
  /** Not enough memory, descriptors or slots were available. */
  OutOfResources = 7,
  /** Something else went wrong. */
  UnknownError = 8,
}

const errnoMap = getSystemErrorMap();
// libuv's map lacks System V and other errnos (EIDRM, EDQUOT, EBADMSG, ENOLCK, …): fill the
// names from the OS's own table, keeping libuv's name where both have one (EAGAIN, not EWOULDBLOCK).
const errnoNames = new Map<number, string>();
for (const [name, num] of Object.entries(osConstants.errno)) if (!errnoNames.has(-num)) errnoNames.set(-num, name);
for (const [num, [name]] of errnoMap) errnoNames.set(num, name);

/**
 * The negative errno for `name` on this OS (`-os.constants.errno[name]`), so comparisons never
 * hard-code one platform's numbers. A name this OS lacks gives NaN, which equals nothing.
 * @internal
 */
export function negErrno(name: keyof typeof osConstants.errno): number {
  const n = osConstants.errno[name];
  return n === undefined ? NaN : -n;
}

/** The errno name (`'EEXIST'`) for a negative errno. @internal */
export function errnoName(errno: number): string {
  return errnoNames.get(errno) ?? `Unknown system error ${errno}`;
}

/** The strerror-like description for a negative errno. @internal */
export function errnoMessage(errno: number): string {
  return errnoMap.get(errno)?.[1] ?? `error ${-errno}${errnoNames.has(errno) ? ` (${errnoNames.get(errno)})` : ''}`;
}

/**
 * The one errno → Qt error mapping (Qt's `setUnixErrorString`, plus ENAMETOOLONG → KeyError
 * as QSystemSemaphore does, and EPERM → PermissionDenied). Returns the Qt code and Qt's text.
 * @internal
 */
export function qtErrorFor(errno: number): [SharedMemoryError, string] {
  switch (errnoName(errno)) {
    case 'EACCES':
    case 'EPERM':
      return [SharedMemoryError.PermissionDenied, 'permission denied'];
    case 'EEXIST':
      return [SharedMemoryError.AlreadyExists, 'already exists'];
    case 'ENOENT':
      return [SharedMemoryError.NotFound, "doesn't exist"];
    case 'EMFILE':
    case 'ENFILE':
    case 'ENOMEM':
    case 'ENOSPC':
    case 'EDQUOT':
    case 'EFBIG':
      return [SharedMemoryError.OutOfResources, 'out of resources'];
    case 'ENAMETOOLONG':
      return [SharedMemoryError.KeyError, 'key too long'];
    default:
      return [SharedMemoryError.UnknownError, `unknown error: ${errnoMessage(errno)}`];
  }
}

// Win32 error names come from the Windows addon (<winerror.h>), so no code is written here twice.
const winNames = new Map<number, string>();
for (const [name, code] of Object.entries(win32?.errors ?? {})) winNames.set(code, name);

/** The Win32 error name (`'ERROR_ALREADY_EXISTS'`) for a Windows error code (either sign). @internal */
export function winErrorName(code: number): string {
  return winNames.get(Math.abs(code)) ?? `Windows error ${Math.abs(code)}`;
}

/**
 * The one Win32 error → Qt error mapping: Qt's `setWindowsErrorString` (qsharedmemory_win.cpp:
 * ERROR_ALREADY_EXISTS, ERROR_FILE_NOT_FOUND, ERROR_COMMITMENT_LIMIT → InvalidSize,
 * ERROR_NO_SYSTEM_RESOURCES / ERROR_NOT_ENOUGH_MEMORY, ERROR_ACCESS_DENIED), plus what the
 * file backend meets and Qt's mapping has no case for (ERROR_FILE_EXISTS from CREATE_NEW, a
 * full disk, too many handles, an over-long name) mapped as the errno mapping above maps their
 * POSIX equivalents. `code` may be negative (as the addon returns it).
 * @internal
 */
export function qtErrorForWin(code: number): [SharedMemoryError, string] {
  switch (winErrorName(code)) {
    case 'ERROR_ALREADY_EXISTS':
    case 'ERROR_FILE_EXISTS':
      return [SharedMemoryError.AlreadyExists, 'already exists'];
    case 'ERROR_FILE_NOT_FOUND':
      return [SharedMemoryError.NotFound, "doesn't exist"];
    case 'ERROR_COMMITMENT_LIMIT':
      return [SharedMemoryError.InvalidSize, 'invalid size'];
    case 'ERROR_NO_SYSTEM_RESOURCES':
    case 'ERROR_NOT_ENOUGH_MEMORY':
    case 'ERROR_OUTOFMEMORY':
    case 'ERROR_DISK_FULL':
    case 'ERROR_HANDLE_DISK_FULL':
    case 'ERROR_TOO_MANY_OPEN_FILES':
      return [SharedMemoryError.OutOfResources, 'out of resources'];
    case 'ERROR_ACCESS_DENIED':
      return [SharedMemoryError.PermissionDenied, 'permission denied'];
    case 'ERROR_FILENAME_EXCED_RANGE':
      return [SharedMemoryError.KeyError, 'key too long'];
    default:
      return [SharedMemoryError.UnknownError, `unknown error: ${winErrorName(code)} (${Math.abs(code)})`];
  }
}

/**
 * The error for a failed Win32 call made by `fn`: Qt's mapping unless `override` replaces
 * it; `code` is `ERROR_…` and `winError` the code. @internal
 */
export function winError(fn: string, code: number, syscall: string, path?: string, override?: [SharedMemoryError, string]): QshmError {
  const [qtError, text] = override ?? qtErrorForWin(code);
  return new QshmError({ qtError, errorString: `${fn}: ${text}`, winError: Math.abs(code), code: winErrorName(code), syscall, path });
}

/** Fields of a {@link QshmError}. */
export interface QshmErrorInit {
  /** Qt's error code for this failure. */
  qtError: SharedMemoryError;
  /** Qt-style text: `"QSharedMemory::create: already exists"`. */
  errorString: string;
  /** Negative errno, when an OS call failed. */
  errno?: number;
  /** The Windows error code (GetLastError()), when a Win32 call failed. */
  winError?: number;
  /** The failing system call. */
  syscall?: string;
  /** An errno name (`'EEXIST'`) or a qshm code (`'ERR_QSHM_BAD_HEADER'`). */
  code?: string;
  /** The file, object name or key involved. */
  path?: string;
}

/**
 * An error from qshm. `QSharedMemory` methods never throw it for OS failures (they return
 * false and set `error()`/`errorString()`); it is what {@link QSharedMemory.lastError}
 * returns, and what the extension APIs (`lockAsync`, `fromFd`, fd passing) reject or throw with.
 * Shaped like Node's SystemError: `code`, `errno` and `syscall` when an OS call failed.
 */
export class QshmError extends Error {
  /** Qt's error code. */
  readonly qtError: SharedMemoryError;
  /** Qt-style error text, identical to `errorString()`. */
  readonly errorString: string;
  /** Errno name (`'EEXIST'`), Win32 error name (`'ERROR_ALREADY_EXISTS'`) or qshm code (`'ERR_QSHM_…'`). */
  readonly code: string;
  /** Negative errno as in Node's SystemError, when an OS call failed. */
  readonly errno?: number;
  /** The Windows error code (`GetLastError()`, e.g. 183), when a Win32 call failed; `code` is its name. */
  readonly winError?: number;
  /** The failing system call. */
  readonly syscall?: string;
  /** The file, object name or key involved. */
  readonly path?: string;

  constructor(init: QshmErrorInit) {
    const code = init.code ?? (init.errno !== undefined ? errnoName(init.errno) : 'ERR_QSHM');
    const detail = init.syscall ? ` (${code}, ${init.syscall}${init.path ? ` '${init.path}'` : ''})` : '';
    super(`${init.errorString}${detail}`);
    this.qtError = init.qtError;
    this.errorString = init.errorString;
    this.code = code;
    if (init.errno !== undefined) this.errno = init.errno;
    if (init.winError !== undefined) this.winError = init.winError;
    if (init.syscall !== undefined) this.syscall = init.syscall;
    if (init.path !== undefined) this.path = init.path;
  }
}
Object.defineProperty(QshmError.prototype, 'name', { value: 'QshmError' });

/**
 * Builds the error for a failed system call made by `fn` (a Qt function name such as
 * `QSharedMemory::create`), with Qt's mapping unless `qtError`/`text` override it.
 * @internal
 */
export function sysError(
  fn: string,
  errno: number,
  syscall: string,
  path?: string,
  override?: [SharedMemoryError, string],
): QshmError {
  const [qtError, text] = override ?? qtErrorFor(errno);
  return new QshmError({ qtError, errorString: `${fn}: ${text}`, errno, syscall, path });
}

/** A failure with no errno behind it. @internal */
export function qshmError(qtError: SharedMemoryError, errorString: string, code: string, path?: string): QshmError {
  return new QshmError({ qtError, errorString, code, path });
}

/**
 * Returns `r` when it is a success, throws the mapped {@link QshmError} when it is `-errno`.
 * @internal
 */
export function check<T>(r: T | number, fn: string, syscall: string, path?: string, einval?: [SharedMemoryError, string]): T {
  if (typeof r === 'number' && r < 0) {
    throw sysError(fn, r, syscall, path, einval && errnoName(r) === 'EINVAL' ? einval : undefined);
  }
  return r as T;
}

/**
 * Every `code` a {@link QshmError} can carry besides an OS errno name (`'EEXIST'`, …).
 * docs/api.md lists what each means.
 */
export const QshmErrorCode = {
  /** A failure with nothing more specific to say. */
  Generic: 'ERR_QSHM',
  /** The file is not a qshm segment, or its header is corrupt or hostile. */
  BadHeader: 'ERR_QSHM_BAD_HEADER',
  /** `$QSHM_FD` (or the variable given) does not hold a descriptor number. */
  BadInheritedFd: 'ERR_QSHM_BAD_INHERITED_FD',
  /** The key holds a NUL character, names a path outside its directory, or is otherwise unusable. */
  BadKey: 'ERR_QSHM_BAD_KEY',
  /** Another attachment is busy with the segment (sealing while mapped writable). */
  Busy: 'ERR_QSHM_BUSY',
  /** A listener or socket was used after close(). */
  Closed: 'ERR_QSHM_CLOSED',
  /** create() or attach() without a key. */
  EmptyKey: 'ERR_QSHM_EMPTY_KEY',
  /** create() with a size that is not a positive whole number. */
  InvalidSize: 'ERR_QSHM_INVALID_SIZE',
  /** The lock could not be taken or released (OS failure behind it). */
  Lock: 'ERR_QSHM_LOCK',
  /** The operation needs the lock released first. */
  Locked: 'ERR_QSHM_LOCKED',
  /** unlock() found that the lock had been taken over (this holder was presumed dead). */
  LockLost: 'ERR_QSHM_LOCK_LOST',
  /** A bounded internal wait for a semaphore ran out (its holder probably died). */
  LockTimeout: 'ERR_QSHM_LOCK_TIMEOUT',
  /** attach() of a memfd segment by key: memfd segments are joined by descriptor. */
  MemfdNoKey: 'ERR_QSHM_MEMFD_NO_KEY',
  /** The operation needs an attached object. */
  NotAttached: 'ERR_QSHM_NOT_ATTACHED',
  /** The operation exists only for memfd segments. */
  NotMemfd: 'ERR_QSHM_NOT_MEMFD',
  /** The key names something other than a regular file. */
  NotRegular: 'ERR_QSHM_NOT_REGULAR',
  /** The segment directory is not set (`dir: 'xdg'` without `$XDG_RUNTIME_DIR`). */
  NoDir: 'ERR_QSHM_NO_DIR',
  /** `$QSHM_FD` (or the variable given) is not set. */
  NoInheritedFd: 'ERR_QSHM_NO_INHERITED_FD',
  /** This attachment cannot lock (a read-only descriptor, a write-sealed segment). */
  NoLock: 'ERR_QSHM_NO_LOCK',
  /** Every attachment slot of the segment is taken by live processes. */
  NoSlot: 'ERR_QSHM_NO_SLOT',
  /** A process held the segment's presence lock for longer than attach() waits. */
  PresenceBusy: 'ERR_QSHM_PRESENCE_BUSY',
  /** The size is larger than one Buffer can map in this Node.js. */
  TooLarge: 'ERR_QSHM_TOO_LARGE',
  /** The QNativeIpcKey type cannot be used on this platform (Windows or invalid keys on Linux). */
  UnsupportedKeyType: 'ERR_QSHM_UNSUPPORTED_KEY_TYPE',
} as const;

/** One of the {@link QshmErrorCode} values. */
export type QshmErrorCode = (typeof QshmErrorCode)[keyof typeof QshmErrorCode];

/**
 * Qt's function names, which start every `errorString()` (`"QSharedMemory::create: …"`),
 * defined once. @internal
 */
export const QtFn = {
  create: 'QSharedMemory::create',
  attach: 'QSharedMemory::attach',
  detach: 'QSharedMemory::detach',
  handle: 'QSharedMemory::handle',
  initKey: 'QSharedMemoryPrivate::initKey',
  remove: 'QSharedMemory::remove',
  setNativeKey: 'QSharedMemory::setNativeKey',
  lock: 'QSharedMemory::lock',
  tryLock: 'QSharedMemory::tryLock',
  lockAsync: 'QSharedMemory::lockAsync',
  unlock: 'QSharedMemory::unlock',
  fromFd: 'QSharedMemory::fromFd',
  fromInherited: 'QSharedMemory::fromInherited',
  seal: 'QSharedMemory::seal',
} as const;

/** The error for a key whose QNativeIpcKey type this platform cannot use. @internal */
export function unsupportedKeyType(path?: string): QshmError {
  return qshmError(SharedMemoryError.KeyError, `${QtFn.setNativeKey}: unsupported key type`, QshmErrorCode.UnsupportedKeyType, path);
}

/** Node-style argument type error (`ERR_INVALID_ARG_TYPE`). @internal */
export function argTypeError(name: string, expected: string, actual: unknown): TypeError {
  const shown = actual === null ? 'null' : Array.isArray(actual) ? 'an array' : typeof actual;
  const err = new TypeError(`The "${name}" argument must be ${expected}. Received ${shown}`);
  (err as TypeError & { code: string }).code = 'ERR_INVALID_ARG_TYPE';
  return err;
}

/** Checks an {@link AccessMode} argument (TypeError otherwise). @internal */
export function checkAccessMode(mode: unknown): AccessMode {
  if (mode !== AccessMode.ReadOnly && mode !== AccessMode.ReadWrite) {
    throw argTypeError('mode', 'AccessMode.ReadOnly (0) or AccessMode.ReadWrite (1)', mode);
  }
  return mode;
}

/** Node-style out-of-range error (`ERR_OUT_OF_RANGE`). @internal */
export function argRangeError(name: string, expected: string, actual: unknown): RangeError {
  const err = new RangeError(`The value of "${name}" is out of range. It must be ${expected}. Received ${String(actual)}`);
  (err as RangeError & { code: string }).code = 'ERR_OUT_OF_RANGE';
  return err;
}

/**
 * Checks a whole-number argument: TypeError when it is not a number, RangeError when it is
 * not a whole number in `[min, max]` (NaN and ±Infinity included). @internal
 */
export function checkInteger(name: string, value: unknown, min: number, max: number, expected?: string): number {
  if (typeof value !== 'number') throw argTypeError(name, 'of type number', value);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw argRangeError(name, expected ?? `an integer >= ${min} and <= ${max}`, value);
  }
  return value;
}
