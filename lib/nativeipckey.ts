// SPDX-License-Identifier: MIT
/**
 * `QNativeIpcKey` (Qt 6.6+): a native key plus its type, with Qt's string form, and Qt's two
 * key derivations (`legacyNativeKey`, `platformSafeKey`). Everything here was checked against
 * Qt 6.11 (PySide6) runs; see docs/interop.md and test/nativeipckey.test.mjs.
 * @packageDocumentation
 */
import { mkdirSync, realpathSync } from 'node:fs';
import { userInfo } from 'node:os';
import { argRangeError, argTypeError } from './errors.js';
import { SEM_PREFIX, SHM_PREFIX, legacyKeyName } from './keys.js';

/**
 * Qt's `QNativeIpcKey::Type`. Any value from 1 to 0xFF is a System V key whose value is the
 * `ftok()` project id; 0x51 (`'Q'`) is the standard one. 0 is the invalid type.
 */
export enum IpcKeyType {
  /** System V IPC (`ftok(path, 0x51)`, `shmget`, `semget`). */
  SystemV = 0x51,
  /** POSIX realtime IPC (`shm_open`, `sem_open`). */
  PosixRealtime = 0x100,
  /** Win32 named objects (never usable on Linux; keys of this type derive to `''`). */
  Windows = 0x101,
}

const INVALID_TYPE = 0;
/** Legacy key for the key being constructed by {@link makeKey} (constructors cannot take it). */
let pendingLegacy = '';

/** Whether `type` is a System V type (1..0xFF; the value is the ftok project id). */
export function isSystemVType(type: number): boolean {
  return Number.isInteger(type) && type >= 1 && type <= 0xff;
}

function checkType(type: unknown, name = 'type'): number {
  if (typeof type !== 'number' || !Number.isInteger(type) || type < 0 || type > 0xffff) {
    throw argTypeError(name, 'a QNativeIpcKey type (an integer from 0 to 0xFFFF, e.g. IpcKeyType.SystemV)', type);
  }
  return type;
}

/**
 * A key type argument of the static QSharedMemory functions: TypeError when not a number,
 * RangeError when not one of Qt's key types (1..0xFF System V, PosixRealtime, Windows).
 * @internal
 */
export function checkKeyType(type: unknown, name = 'type'): number {
  if (typeof type !== 'number') throw argTypeError(name, 'of type number (an IpcKeyType)', type);
  if (!isSystemVType(type) && type !== IpcKeyType.PosixRealtime && type !== IpcKeyType.Windows) {
    throw argRangeError(name, 'an IpcKeyType: 1 to 0xFF (System V; IpcKeyType.SystemV is 0x51), 0x100 (PosixRealtime) or 0x101 (Windows)', type);
  }
  return type;
}

function typeToString(type: number): string | null {
  if (type === IpcKeyType.SystemV) return 'systemv';
  if (type === IpcKeyType.PosixRealtime) return 'posix';
  if (type === IpcKeyType.Windows) return 'windows';
  if (isSystemVType(type)) return `systemv-${type}`;
  return null;
}

function stringToType(scheme: string): number {
  if (scheme === 'posix') return IpcKeyType.PosixRealtime;
  if (scheme === 'windows') return IpcKeyType.Windows;
  if (!scheme.startsWith('systemv')) return INVALID_TYPE;
  const rest = scheme.slice('systemv'.length);
  if (rest === '') return IpcKeyType.SystemV;
  const m = /^-(\d{1,10})$/.exec(rest);
  if (!m) return INVALID_TYPE;
  const n = Number(m[1]);
  return n >= 1 && n <= 0xff ? n : INVALID_TYPE;
}

/** %XX (upper-case hex) for each UTF-16 code unit below 0x80 that `re` matches. */
function encodeChars(s: string, re: RegExp): string {
  return s.replace(re, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0'));
}

/** QUrl's tolerant percent-decoding: valid %XX runs are UTF-8 decoded, stray `%` stays. */
function percentDecode(s: string): string {
  return s.replace(/(?:%[0-9A-Fa-f]{2})+/g, (run) => Buffer.from(run.replace(/%/g, ''), 'hex').toString('utf8'));
}

/**
 * A native IPC key and its type, as Qt 6.6+'s `QNativeIpcKey`. Immutable: build a new key to
 * change it. Pass {@link toString}'s text to another process (Qt or qshm) and rebuild it there
 * with {@link fromString}.
 *
 * ```ts
 * const k = new QNativeIpcKey('/tmp/mykey', IpcKeyType.SystemV);
 * k.toString();                          // 'systemv:/tmp/mykey'
 * QNativeIpcKey.fromString('posix:/x');  // type PosixRealtime, nativeKey '/x'
 * ```
 */
export class QNativeIpcKey {
  /** The key types (Qt's `QNativeIpcKey::Type`). */
  static readonly Type = IpcKeyType;
  /** Qt's `DefaultTypeForOs`: PosixRealtime on Linux, Windows on Windows. */
  static readonly DefaultTypeForOs: IpcKeyType = process.platform === 'win32' ? IpcKeyType.Windows : IpcKeyType.PosixRealtime;

  /** The key type: 0x51 (or 1..0xFF) System V, 0x100 POSIX, 0x101 Windows, 0 invalid. */
  readonly type: number;
  /** The native key: an ftok path (System V) or an object name such as `/name` (POSIX). */
  readonly nativeKey: string;
  /**
   * The legacy (Qt ≤ 6.5 string) key this native key was derived from, or `''`. Only keys from
   * `QSharedMemory.legacyNativeKey()`, `setKey()` or a string with `?legacyKey=` carry one; it
   * selects the `qipc_systemsem_…` lock semaphore that legacy Qt peers use.
   */
  readonly legacyKey: string;

  /**
   * `new QNativeIpcKey()` is an empty key of the OS default type (PosixRealtime);
   * `new QNativeIpcKey(type)` an empty key of `type`; `new QNativeIpcKey(nativeKey, type?)`
   * holds `nativeKey` (type defaults to PosixRealtime, as in Qt).
   */
  constructor(nativeKeyOrType?: string | number, type?: number) {
    let key = '';
    let t: number = QNativeIpcKey.DefaultTypeForOs;
    if (typeof nativeKeyOrType === 'number') {
      if (type !== undefined) throw argTypeError('type', 'undefined when the first argument is a type', type);
      t = checkType(nativeKeyOrType);
    } else if (nativeKeyOrType !== undefined) {
      if (typeof nativeKeyOrType !== 'string') throw argTypeError('nativeKey', 'of type string', nativeKeyOrType);
      key = nativeKeyOrType;
      if (type !== undefined) t = checkType(type);
    }
    this.type = t;
    this.nativeKey = key;
    this.legacyKey = pendingLegacy;
    pendingLegacy = '';
    Object.freeze(this);
  }

  /** Qt's `legacyDefaultTypeForOs()`: SystemV on Linux (what Qt ≤ 6.5 used), Windows on Windows. */
  static legacyDefaultTypeForOs(): IpcKeyType {
    return process.platform === 'win32' ? IpcKeyType.Windows : IpcKeyType.SystemV;
  }

  /** Whether the native key is empty. */
  isEmpty(): boolean {
    return this.nativeKey === '';
  }

  /** Whether the type is valid (not 0). Says nothing about support on this OS. */
  isValid(): boolean {
    return this.type !== INVALID_TYPE;
  }

  /** Type, native key and legacy key all equal (Qt's `operator==`). */
  equals(other: QNativeIpcKey): boolean {
    if (!(other instanceof QNativeIpcKey)) throw argTypeError('other', 'a QNativeIpcKey', other);
    return this.type === other.type && this.nativeKey === other.nativeKey && this.legacyKey === other.legacyKey;
  }

  /**
   * Qt's string form: `systemv:/tmp/x`, `posix:/name`, `systemv-84:/path`, with `%`, `?`, `#`,
   * control characters and a leading `//` percent-encoded, plus `?legacyKey=<key>` when the
   * key carries a legacy key. An invalid key gives `''` (Qt: a null string).
   */
  toString(): string {
    const scheme = typeToString(this.type);
    if (scheme === null) return '';
    let path = this.nativeKey.replace(/%/g, '%25');
    if (path.startsWith('//')) path = '/%2F' + path.slice(2);
    let out = `${scheme}:${encodeChars(path, /[\x00-\x1f\x7f#?]/g)}`;
    if (this.legacyKey !== '') {
      out += '?legacyKey=' + encodeChars(this.legacyKey.replace(/%/g, '%25'), /[\x00-\x1f\x7f#&=]/g);
    }
    return out;
  }

  /**
   * Parses Qt's string form (as Qt's `fromString`, which uses QUrl in tolerant mode). Text
   * that is not a key — unknown scheme, `systemv-0`, `systemv-256`, a host, user or port, a
   * query item other than `legacyKey` — gives an invalid key (type 0), never an exception.
   */
  static fromString(text: string): QNativeIpcKey {
    if (typeof text !== 'string') throw argTypeError('text', 'of type string', text);
    const invalid = new QNativeIpcKey(INVALID_TYPE);
    const m = /^([A-Za-z][A-Za-z0-9+.-]*):([^]*)$/.exec(text);
    if (!m) return invalid;
    const type = stringToType(m[1].toLowerCase());
    if (type === INVALID_TYPE) return invalid;
    let rest = m[2];
    const hash = rest.indexOf('#');
    if (hash >= 0) rest = rest.slice(0, hash);
    const q = rest.indexOf('?');
    const query = q >= 0 ? rest.slice(q + 1) : null;
    let path = q >= 0 ? rest.slice(0, q) : rest;
    if (path.startsWith('//')) {
      const end = path.indexOf('/', 2);
      const authority = end >= 0 ? path.slice(2, end) : path.slice(2);
      path = end >= 0 ? path.slice(end) : '';
      const at = authority.lastIndexOf('@');
      const hostPort = authority.slice(at + 1);
      const colon = hostPort.indexOf(':');
      const host = colon >= 0 ? hostPort.slice(0, colon) : hostPort;
      const port = colon >= 0 ? hostPort.slice(colon + 1) : '';
      if ((at >= 0 && authority.slice(0, at) !== '') || host !== '' || port !== '') return invalid;
    }
    let legacy = '';
    if (query !== null && query !== '') {
      const items = query.split('&');
      if (items[items.length - 1] === '') items.pop();
      for (const item of items) {
        const eq = item.indexOf('=');
        const k = percentDecode(eq >= 0 ? item.slice(0, eq) : item);
        if (k !== 'legacyKey') return invalid;
        legacy = percentDecode(eq >= 0 ? item.slice(eq + 1) : '');
      }
    }
    return makeKey(percentDecode(path), type, legacy);
  }

  /** Shown by `util.inspect` / console.log. */
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `QNativeIpcKey <${this.isValid() ? this.toString() : 'invalid'}>`;
  }
}

/** A key that carries a legacy key (Qt's private `setNativeAndLegacyKeys`). @internal */
export function makeKey(nativeKey: string, type: number, legacyKey = ''): QNativeIpcKey {
  pendingLegacy = '';
  checkType(type);
  pendingLegacy = legacyKey;
  return new QNativeIpcKey(nativeKey, type);
}

let tempPathCache: { dir: string; path: string } | undefined;

/**
 * Qt's `QDir::tempPath()` as Qt 5.15, 6.4 and 6.8 compute it: `$TMPDIR` (or `/tmp` when unset
 * or empty), cleaned and canonicalised (symbolic links resolved); `''` when the directory does
 * not exist. (Qt 6.11 no longer canonicalises; see docs/interop.md.) The canonical form of a
 * `$TMPDIR` value (an absolute one) is computed once and kept while `$TMPDIR` keeps that value (Qt computes it
 * on every call; the two differ only if the directory is replaced while the program runs).
 */
export function qtTempPath(): string {
  const dir = process.env.TMPDIR || '/tmp';
  if (tempPathCache?.dir === dir) return tempPathCache.path;
  try {
    const path = realpathSync.native(dir).replace(/\/+$/, '');
    // A relative $TMPDIR depends on the working directory: resolved again on every call.
    if (dir.startsWith('/')) tempPathCache = { dir, path };
    return path;
  } catch (e) {
    // Deno without read access to it (NotCapable): do not derive a key Qt would not.
    if ((e as Error).name === 'NotCapable') throw e;
    return '';
  }
}

/**
 * Qt's `QStandardPaths::writableLocation(RuntimeLocation)` on Linux: `$XDG_RUNTIME_DIR`, or
 * `/tmp/runtime-<user>` which, like Qt, is created with mode 0700 when missing.
 */
export function qtRuntimePath(): string {
  const xdg = process.env.XDG_RUNTIME_DIR;
  if (xdg) return xdg.replace(/(.)\/+$/, '$1');
  const dir = `${qtTempPath() || '/tmp'}/runtime-${userInfo().username}`;
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch {
    // exists already (or cannot be made: creating the key file will then report it)
  }
  return dir;
}

const ON_WINDOWS = process.platform === 'win32';

/**
 * Qt's Windows name for a legacy key (all Qt versions): `qipc_sharedmemory_` (or
 * `qipc_systemsem_` for `'sem'`) + the key's ASCII letters + the SHA-1 hex of its UTF-8 bytes,
 * with no directory, no namespace and no truncation (../shared/qt/windows.md §1.1).
 */
export function windowsLegacyName(key: string, kind: IpcKind = 'shm'): string {
  return legacyKeyName(key, kind === 'shm' ? SHM_PREFIX : SEM_PREFIX);
}

/**
 * Qt 6.6+'s Windows `platformSafeKey`: a leading `Local\` or `Global\` is kept, then `shm_`
 * (or `sem_`) and the rest of the key, cut to MAX_PATH (260) UTF-16 code units as Qt 6.7+ does.
 */
export function windowsPlatformSafeName(key: string, kind: IpcKind = 'shm'): string {
  if (key === '') return '';
  const mid = kind === 'shm' ? 'shm_' : 'sem_';
  for (const ns of ['Local\\', 'Global\\']) {
    if (key.startsWith(ns)) return (ns + mid + key.slice(ns.length)).slice(0, 260);
  }
  return (mid + key).slice(0, 260);
}

/**
 * The name of the semaphore behind `QSharedMemory::lock()` on Windows (Qt 6.6+): Qt's legacy
 * semaphore name for a legacy key (the same as ≤ 6.5 and as `QSystemSemaphore(key)`), else the
 * native key cut to 255 code units + `_sem`.
 */
export function windowsLockName(nativeKey: string, legacyKey: string): string {
  return legacyKey ? windowsLegacyName(legacyKey, 'sem') : nativeKey.slice(0, 260 - 4 - 1) + '_sem';
}

/** Which Qt class a key is for: the legacy derivation uses a different prefix. @internal */
export type IpcKind = 'shm' | 'sem';

/**
 * Qt's `legacyNativeKey(key, type)` (Qt's derivation since 4.4): System V →
 * `<tempPath>/qipc_sharedmemory_<letters><sha1>`, POSIX → `/qipc_sharedmemory_…`; Windows
 * keys derive to `''` on Linux, as in Qt. The result carries `key` as its legacy key.
 * @internal
 */
export function legacyNativeKeyFor(key: string, type: number, kind: IpcKind = 'shm'): QNativeIpcKey {
  if (key === '') return new QNativeIpcKey(type);
  const name = legacyKeyName(key, kind === 'shm' ? SHM_PREFIX : SEM_PREFIX);
  if (type === IpcKeyType.PosixRealtime) return makeKey('/' + name, type, key);
  if (isSystemVType(type)) return makeKey(`${qtTempPath()}/${name}`, type, key);
  if (type === IpcKeyType.Windows && ON_WINDOWS) return makeKey(name, type, key);
  return new QNativeIpcKey(type);
}

/**
 * Qt 6.6+'s `platformSafeKey(key, type)`: POSIX → `/<key>`; System V → the key itself when it
 * starts with `/`, else `<runtime dir>/<key>`; Windows → `''` on Linux. Shared memory and
 * semaphores get the same key.
 * @internal
 */
export function platformSafeKeyFor(key: string, type: number): QNativeIpcKey {
  if (key === '') return new QNativeIpcKey(type);
  if (type === IpcKeyType.PosixRealtime) return new QNativeIpcKey('/' + key, type);
  if (isSystemVType(type)) return new QNativeIpcKey(key.startsWith('/') ? key : `${qtRuntimePath()}/${key}`, type);
  if (type === IpcKeyType.Windows && ON_WINDOWS) return new QNativeIpcKey(windowsPlatformSafeName(key), type);
  return new QNativeIpcKey(type);
}
