// SPDX-License-Identifier: MIT
/**
 * The default backend: a file on a RAM filesystem (`/dev/shm`, `$XDG_RUNTIME_DIR` or a chosen
 * directory) with the qshm header. Creation builds the file unnamed (O_TMPFILE), fully
 * initialised and locked, then links it into place, so nobody ever sees a half-made segment
 * and a crash mid-create leaves nothing behind. The last attachment to detach removes it;
 * a file left by processes that died is reclaimed by the next create().
 * @packageDocumentation
 */
import { C, fstat, lstat, native } from '../native.js';
import { Layout } from '../format.js';
import { legacyKeyName, pathInDir } from '../keys.js';
import { AccessMode, QshmErrorCode, QtFn, SharedMemoryError, check, errnoName, qshmError, sysError } from '../errors.js';
import type { Attachment, Backend } from './backend.js';
import { HeaderSegment, initHeader, validateHeader } from './header-segment.js';

/** Options of the file backend. @internal */
export interface FileBackendOptions {
  /** Directory, `'xdg'` for `$XDG_RUNTIME_DIR`; default `/dev/shm`. */
  dir?: string;
  /** Permission bits of created files; default 0o600. */
  mode?: number;
}

const CREATE = QtFn.create;
const ATTACH = QtFn.attach;

/** @internal */
export class FileBackend implements Backend {
  readonly name = 'file' as const;
  readonly #dir: string | undefined;
  readonly #dirError: string | undefined;
  readonly #perm: number;

  constructor(o: FileBackendOptions = {}) {
    this.#perm = o.mode ?? 0o600;
    if (o.dir === 'xdg') {
      const xdg = process.env.XDG_RUNTIME_DIR;
      if (xdg) this.#dir = xdg;
      else this.#dirError = 'XDG_RUNTIME_DIR is not set';
    } else {
      this.#dir = o.dir ?? '/dev/shm';
    }
  }

  /** The directory segments live in. */
  get dir(): string {
    return this.#dir ?? '';
  }

  nativeKeyFor(key: string): string {
    const name = legacyKeyName(key);
    return name === '' || this.#dir === undefined ? name : this.resolveNativeKey(name, QtFn.create);
  }

  /**
   * The segment's path: absolute native keys as they are, relative ones inside the directory
   * (a relative key that would leave it is a KeyError).
   */
  resolveNativeKey(nativeKey: string, fn: string): string {
    if (this.#dir === undefined) {
      throw qshmError(SharedMemoryError.KeyError, `${fn}: ${this.#dirError}`, QshmErrorCode.NoDir);
    }
    const path = pathInDir(this.#dir, nativeKey);
    if (path === null) {
      throw qshmError(SharedMemoryError.KeyError,
        `${fn}: the native key ${JSON.stringify(nativeKey)} would name a file outside ${this.#dir} ` +
        '(a relative native key must be a plain file name; give an absolute path to use another directory)',
        QshmErrorCode.BadKey, nativeKey);
    }
    return path;
  }

  create(path: string, size: number, mode: AccessMode): Attachment {
    const dir = path.slice(0, path.lastIndexOf('/')) || '/';
    for (let attempt = 0; ; attempt++) {
      const fd = this.#openUnnamed(dir, path);
      try {
        check(native.fchmod(fd, this.#perm), CREATE, 'fchmod', path);
        initHeader(fd, size, CREATE, path);
      } catch (e) {
        native.close(fd);
        throw e;
      }
      const seg = HeaderSegment.open(fd, mode, { writable: true, fn: CREATE, path, beforeClose: removeIfLast(path) });
      const r = native.linkFd(fd, path);
      if (r === 0) return seg;
      // Not linked: this attachment must not remove anything on its way out.
      seg.detachUnlinked();
      if (errnoName(r) !== 'EEXIST' || attempt >= 2 || !reclaimStale(path)) {
        throw sysError(CREATE, r, 'linkat', path);
      }
    }
  }

  /** An unnamed, initialisable file in `dir` (O_TMPFILE), with the errors mapped to Qt's. */
  #openUnnamed(dir: string, path: string): number {
    const tmp = C.O_TMPFILE;
    if (tmp === undefined) throw qshmError(SharedMemoryError.UnknownError, `${CREATE}: O_TMPFILE is not supported here`, 'ENOSYS', path);
    const fd = native.open(dir, tmp | C.O_RDWR | C.O_CLOEXEC, this.#perm);
    if (fd >= 0) return fd;
    const name = errnoName(fd);
    if (name === 'ENOENT' || name === 'ENOTDIR') {
      throw sysError(CREATE, fd, 'open', dir, [SharedMemoryError.KeyError, `directory ${dir} does not exist`]);
    }
    if (name === 'ENOTSUP' || name === 'EOPNOTSUPP' || name === 'EISDIR' || name === 'EINVAL') {
      throw sysError(CREATE, fd, 'open(O_TMPFILE)', dir, [SharedMemoryError.UnknownError,
        `the filesystem of ${dir} cannot make unnamed files (O_TMPFILE); use tmpfs (/dev/shm, $XDG_RUNTIME_DIR), ext4, xfs or btrfs`]);
    }
    throw sysError(CREATE, fd, 'open(O_TMPFILE)', dir);
  }

  attach(path: string, mode: AccessMode): Attachment {
    for (let attempt = 0; attempt < 5; attempt++) {
      const flags = C.O_CLOEXEC | C.O_NOFOLLOW;
      let fd = native.open(path, flags | C.O_RDWR, 0);
      let writable = true;
      if (fd < 0 && errnoName(fd) === 'EACCES' && mode === AccessMode.ReadOnly) {
        fd = native.open(path, flags | C.O_RDONLY, 0);
        writable = false;
      }
      if (fd < 0) {
        const name = errnoName(fd);
        if (name === 'ELOOP') {
          throw sysError(ATTACH, fd, 'open', path, [SharedMemoryError.KeyError, 'key names a symbolic link; refusing to follow it']);
        }
        if (name === 'ENOTDIR' || (name === 'ENOENT' && !dirExists(path))) {
          const dir = path.slice(0, path.lastIndexOf('/')) || '/';
          throw sysError(ATTACH, fd, 'open', path, [SharedMemoryError.KeyError, `directory ${dir} does not exist`]);
        }
        throw sysError(ATTACH, fd, 'open', path);
      }
      const seg = HeaderSegment.open(fd, mode, { writable, fn: ATTACH, path, beforeClose: removeIfLast(path) });
      // A detacher may have removed the file between our open and our presence lock: then it
      // has no name any more (with the presence lock held, a linked file stays linked).
      if (seg.linked) return seg;
      seg.detachUnlinked();
    }
    throw qshmError(SharedMemoryError.NotFound, `${ATTACH}: doesn't exist`, 'ENOENT', path);
  }
}

function dirExists(path: string): boolean {
  const dir = path.slice(0, path.lastIndexOf('/')) || '/';
  return typeof lstat(dir) !== 'number';
}

/** Whether `path` still names the file open on `fd`. */
function sameFile(path: string, fd: number): boolean {
  const a = lstat(path);
  const b = fstat(fd);
  return typeof a !== 'number' && typeof b !== 'number' && a.ino === b.ino && a.dev === b.dev && b.nlink > 0;
}

/** On the last detach, remove the file if it is still the one we had open. */
function removeIfLast(path: string) {
  return (seg: HeaderSegment, last: boolean): void => {
    if (last && sameFile(path, seg.fd)) native.unlink(path);
  };
}

/**
 * A file at `path` that no live process is attached to (nobody holds its presence lock) and
 * that is a valid qshm segment is stale: remove it. Anything else stays, an empty file
 * included: qshm links a file into place only once its header is complete (O_TMPFILE +
 * linkat), so a file without a valid header was never a qshm segment.
 */
function reclaimStale(path: string): boolean {
  const fd = native.open(path, C.O_RDWR | C.O_CLOEXEC | C.O_NOFOLLOW, 0);
  if (fd < 0) return errnoName(fd) === 'ENOENT'; // gone already: retry the link
  try {
    if (native.ofdLock(fd, C.F_WRLCK, Layout.PRESENCE_LOCK_BYTE, 1, false) !== 0) return false; // live
    const st = fstat(fd);
    if (typeof st === 'number' || (st.mode & 0o170000) !== 0o100000) return false;
    if (st.size < Layout.HEADER_SIZE) return false;
    const map = native.mmap(fd, Layout.HEADER_SIZE, C.PROT_READ, 0);
    if (typeof map === 'number') return false;
    try {
      validateHeader(Buffer.from(map), st.size, CREATE, path);
    } catch {
      return false; // not ours to remove
    } finally {
      native.unmap(map);
    }
    if (!sameFile(path, fd)) return true;
    return native.unlink(path) === 0;
  } finally {
    native.close(fd);
  }
}
