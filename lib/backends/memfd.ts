// SPDX-License-Identifier: MIT
/**
 * The `memfd` backend (Linux): anonymous memory from `memfd_create(2)` with the same header,
 * lock and liveness as the `file` backend (lib/backends/header-segment.ts). It has no name in
 * any filesystem: a peer gets it only by being handed the descriptor (inheritance, SCM_RIGHTS,
 * or `/proc/<pid>/fd/<n>`), nothing is left behind after a crash, and the kernel frees the
 * memory when the last descriptor and mapping are gone ("last detach destroys" for free).
 * File seals (`fcntl(2)` F_ADD_SEALS) let the creator rule out shrinking (no SIGBUS from a
 * truncating peer) and writing by peers.
 *
 * Every attachment gets its own open file description (OFD), because the liveness of an
 * attachment is an OFD lock: a received descriptor is reopened through `/proc/self/fd/<n>`
 * rather than used or dup'ed (a dup shares the sender's OFD and with it the sender's locks).
 * @packageDocumentation
 */
import { readFileSync } from 'node:fs';
import { C, fstat, native, type NativeStat } from '../native.js';
import { QshmErrorCode, AccessMode, QtFn, SharedMemoryError, argTypeError, check, errnoName, qshmError, sysError } from '../errors.js';
import type { Attachment, Backend, SegmentLock } from './backend.js';
import { HeaderSegment, initHeader, statRegular } from './header-segment.js';

const CREATE = QtFn.create;
const ATTACH = QtFn.attach;

/** memfd_create(2) flags; the values are the kernel ABI. */
const MFD_CLOEXEC = C.MFD_CLOEXEC ?? 0x1;
const MFD_ALLOW_SEALING = C.MFD_ALLOW_SEALING ?? 0x2;
/** Linux 6.3+: not executable, and F_SEAL_EXEC set. Older kernels reject it with EINVAL. */
const MFD_NOEXEC_SEAL = 0x8;
/** Longest memfd name the kernel accepts (NAME_MAX minus the "memfd:" prefix). */
const MEMFD_NAME_MAX = 249;

const SEAL = {
  seal: C.F_SEAL_SEAL ?? 0x1,
  shrink: C.F_SEAL_SHRINK ?? 0x2,
  grow: C.F_SEAL_GROW ?? 0x4,
  write: C.F_SEAL_WRITE ?? 0x8,
  futureWrite: C.F_SEAL_FUTURE_WRITE ?? 0x10,
  exec: 0x20,
} as const;
const WRITE_SEALS = SEAL.write | SEAL.futureWrite;

/** Seals to add with `QSharedMemory.seal()`. Seals can only be added, never removed. */
export interface SealOptions {
  /** F_SEAL_SHRINK: nobody can make the segment smaller (a peer's `ftruncate` fails with EPERM). */
  shrink?: boolean;
  /** F_SEAL_GROW: nobody can make the segment larger. */
  grow?: boolean;
  /**
   * F_SEAL_WRITE: the memory becomes immutable for everyone, this object included. The kernel
   * refuses it while any writable mapping exists, so `seal()` first turns this object's own
   * attachment read-only (its lock is then unavailable and `data()` is a new, read-only
   * Buffer); it fails with EBUSY, leaving everything as it was, while another attachment
   * through a writable descriptor (even a ReadOnly one) is still attached.
   */
  write?: boolean;
  /**
   * F_SEAL_FUTURE_WRITE (Linux 5.1): mappings that exist keep working (this object can still
   * write and lock), but nobody can map the segment writable any more, so peers that attach
   * later get read-only memory enforced by the kernel and cannot take part in the lock.
   */
  futureWrite?: boolean;
  /** F_SEAL_SEAL: no further seals can be added. */
  seal?: boolean;
}

/** The seals a segment carries, as read by `QSharedMemory.seals()`. */
export interface SegmentSeals {
  /** F_SEAL_SEAL: the set of seals is final. */
  seal: boolean;
  /** F_SEAL_SHRINK. */
  shrink: boolean;
  /** F_SEAL_GROW. */
  grow: boolean;
  /** F_SEAL_WRITE. */
  write: boolean;
  /** F_SEAL_FUTURE_WRITE. */
  futureWrite: boolean;
  /** F_SEAL_EXEC (set by the kernel on segments created with MFD_NOEXEC_SEAL, Linux 6.3+). */
  exec: boolean;
}

const SEAL_KEYS = ['shrink', 'grow', 'write', 'futureWrite', 'seal'] as const;

/** Validates `seal()`'s argument (TypeError on wrong types) and returns the F_SEAL_* bits. @internal */
export function sealBits(o: unknown): number {
  if (o === null || typeof o !== 'object') throw argTypeError('seals', 'an object', o);
  let bits = 0;
  for (const k of SEAL_KEYS) {
    const v = (o as Record<string, unknown>)[k];
    if (v === undefined || v === false) continue;
    if (v !== true) throw argTypeError(`seals.${k}`, 'of type boolean', v);
    bits |= SEAL[k];
  }
  return bits;
}

/** Decodes F_GET_SEALS bits. @internal */
export function decodeSeals(bits: number): SegmentSeals {
  return {
    seal: (bits & SEAL.seal) !== 0,
    shrink: (bits & SEAL.shrink) !== 0,
    grow: (bits & SEAL.grow) !== 0,
    write: (bits & SEAL.write) !== 0,
    futureWrite: (bits & SEAL.futureWrite) !== 0,
    exec: (bits & SEAL.exec) !== 0,
  };
}

const SEALED_REASON =
  'the segment is sealed against writing, so this attachment maps its header read-only and cannot take part in the lock';
const SHARED_OFD_REASON =
  'the descriptor could not be reopened through /proc/self/fd, and a duplicate shares the open file description ' +
  "(and the OFD locks) of the sender's descriptor, so this attachment stays out of the lock";

/**
 * One attachment of a memfd segment: a {@link HeaderSegment} plus the seal operations. The
 * inner segment is replaced when sealing `write` turns the attachment read-only. @internal
 */
export class MemfdAttachment implements Attachment {
  #seg: HeaderSegment;
  #mode: AccessMode;
  #reason: string | undefined;
  #lockShared: boolean;

  constructor(seg: HeaderSegment, mode: AccessMode, reason: string | undefined, lockShared: boolean) {
    this.#seg = seg;
    this.#mode = mode;
    this.#reason = reason;
    this.#lockShared = lockShared;
  }

  get size(): number {
    return this.#seg.size;
  }

  get data(): Buffer {
    return this.#seg.data;
  }

  get lock(): SegmentLock | null {
    return this.#reason ? null : this.#seg.lock;
  }

  get lockUnavailable(): string | undefined {
    return this.#reason ?? this.#seg.lockUnavailable;
  }

  get fd(): number {
    return this.#seg.fd;
  }

  handOffFd(): number {
    return this.#seg.fd;
  }

  detach(): void {
    this.#seg.detach();
  }

  /** Current F_SEAL_* bits. */
  sealBits(): number {
    return check(native.getSeals(this.#seg.fd), 'QSharedMemory::seals', 'fcntl(F_GET_SEALS)');
  }

  /**
   * Adds seals. Sealing `write` while this attachment maps the segment writable first swaps
   * it for a read-only one (the kernel requires that no writable mapping exist), and swaps it
   * back if the kernel still refuses.
   */
  addSeals(bits: number, fn: string): void {
    const fd = this.#seg.fd;
    const have = check(native.getSeals(fd), fn, 'fcntl(F_GET_SEALS)');
    if ((bits & SEAL.write) === 0 || (have & SEAL.write) !== 0 || this.#reason === SEALED_REASON) {
      // Nothing of ours maps the segment writable, or no write seal is asked for.
      check(native.addSeals(fd, bits), fn, 'fcntl(F_ADD_SEALS)', undefined, BAD_SEALS);
      return;
    }
    if (have & SEAL.seal) {
      throw sysError(fn, -1 /* EPERM */, 'fcntl(F_ADD_SEALS)', undefined,
        [SharedMemoryError.PermissionDenied, 'permission denied (the seals are final: F_SEAL_SEAL is set)']);
    }
    // Current kernels (seen on 6.18) count any shared mapping of a writable descriptor as writable, so the
    // read-only attachment must map a read-only descriptor; the seal goes through a writable one.
    const roFd = native.open(`/proc/self/fd/${fd}`, C.O_RDONLY | C.O_CLOEXEC, 0);
    if (roFd < 0) {
      throw sysError(fn, roFd, 'open', `/proc/self/fd/${fd}`, [SharedMemoryError.UnknownError,
        'sealing write needs /proc/self/fd to reopen the segment read-only']);
    }
    const readOnly = HeaderSegment.open(roFd, AccessMode.ReadOnly, { writable: false, fn });
    let sealFd: number;
    try {
      sealFd = check(native.dup(fd), fn, 'fcntl(F_DUPFD_CLOEXEC)');
    } catch (e) {
      readOnly.detach();
      throw e;
    }
    try {
      this.#seg.detach(); // it releases its presence lock, which sealFd's shared OFD would otherwise keep
      const r = native.addSeals(sealFd, bits);
      if (r === 0) {
        this.#seg = readOnly;
        this.#reason = SEALED_REASON;
        return;
      }
      // Put this attachment back as it was (new mappings and a new slot, same memory).
      try {
        this.#seg = HeaderSegment.open(reopenOwn(sealFd, fn), this.#mode, { writable: !this.#lockShared, fn });
      } catch (e) {
        this.#seg = readOnly;
        this.#reason = SEALED_REASON;
        throw e;
      }
      readOnly.detach();
      if (errnoName(r) === 'EBUSY') {
        throw sysError(fn, r, 'fcntl(F_ADD_SEALS)', undefined, [SharedMemoryError.UnknownError,
          'the segment is still mapped by another attachment that could write (any attachment through a ' +
          'writable descriptor, even a ReadOnly one); detach those first, or seal futureWrite instead']);
      }
      throw sysError(fn, r, 'fcntl(F_ADD_SEALS)', undefined, errnoName(r) === 'EINVAL' ? BAD_SEALS : undefined);
    } finally {
      native.close(sealFd);
    }
  }
}

const BAD_SEALS: [SharedMemoryError, string] = [SharedMemoryError.UnknownError,
  'this kernel does not support one of the requested seals'];

/**
 * A new descriptor for a segment this attachment owns: a new OFD through /proc/self/fd, or a
 * dup (sharing our own OFD, which nobody else uses) where /proc is unavailable.
 */
function reopenOwn(fd: number, fn: string): number {
  const r = reopen('self', fd, fn);
  return r >= 0 ? r : check(native.dup(fd), fn, 'fcntl(F_DUPFD_CLOEXEC)');
}

/** The access mode of an open descriptor (ours: fcntl; another process's: /proc/<pid>/fdinfo), or undefined if unknown. */
function accessOf(pid: string, fd: number): 'r' | 'w' | 'rw' | undefined {
  if (pid === 'self') {
    // Our own descriptor: one fcntl instead of reading /proc/self/fdinfo.
    const fl = native.getFl(fd);
    if (fl < 0) return undefined;
    const acc = fl & (C.O_RDONLY | C.O_WRONLY | C.O_RDWR);
    return acc === C.O_RDONLY ? 'r' : acc === C.O_WRONLY ? 'w' : 'rw';
  }
  try {
    const m = /^flags:\s*([0-7]+)/m.exec(readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'latin1'));
    if (!m) return undefined;
    const acc = parseInt(m[1], 8) & 3;
    return acc === 0 ? 'r' : acc === 1 ? 'w' : 'rw';
  } catch (e) {
    // Deno refuses /proc/*/fdinfo without --allow-all (NotCapable): fail closed rather than
    // reopen a read-only descriptor read-write unchecked.
    if ((e as Error).name === 'NotCapable') {
      throw qshmError(SharedMemoryError.PermissionDenied, `cannot read the access mode of descriptor ${fd} ` +
        `(${(e as Error).message}); Deno allows it only with --allow-all`, 'EACCES', `/proc/${pid}/fdinfo/${fd}`);
    }
    return undefined;
  }
}

function writeOnly(fn: string, path?: string): never {
  throw qshmError(SharedMemoryError.PermissionDenied, `${fn}: permission denied (the descriptor is write-only)`,
    'EACCES', path);
}

/**
 * Opens `/proc/<pid>/fd/<n>` (a new OFD of the same file) with the access the original
 * descriptor has, never more: a reopen could otherwise turn a read-only descriptor into a
 * writable one (memfd files are mode 0777). Returns -errno on failure.
 */
function reopen(pid: string, fd: number, fn: string): number {
  const acc = accessOf(pid, fd);
  if (acc === 'w') writeOnly(fn, `/proc/${pid}/fd/${fd}`);
  const flags = (acc === 'r' ? C.O_RDONLY : C.O_RDWR) | C.O_CLOEXEC;
  return native.open(`/proc/${pid}/fd/${fd}`, flags, 0);
}

/** Whether an OFD of `fd` is open for writing. */
function fdWritable(fd: number): boolean {
  return accessOf('self', fd) !== 'r';
}

/**
 * Maps a memfd descriptor this module owns (closed on failure too). `lockShared`: the
 * descriptor shares its OFD with someone else's, so it must not take part in the lock.
 */
function openMemfd(fd: number, mode: AccessMode, fn: string, lockShared: boolean, path?: string): MemfdAttachment {
  let seals: number;
  let writable: boolean;
  let stat: NativeStat;
  try {
    stat = statRegular(fd, fn, path);
    if (stat.nlink !== 0) {
      throw qshmError(SharedMemoryError.KeyError, `${fn}: the descriptor names a file with a name in a filesystem, ` +
        'not a memfd segment (attach named segments by key)', QshmErrorCode.NotMemfd, path);
    }
    seals = native.getSeals(fd);
    if (seals < 0) seals = 0; // not sealable: no seals
    if (seals & WRITE_SEALS && mode === AccessMode.ReadWrite) {
      throw qshmError(SharedMemoryError.PermissionDenied,
        `${fn}: permission denied (the segment is sealed against writing; attach it ReadOnly)`, 'EPERM', path);
    }
    writable = !lockShared && (seals & WRITE_SEALS) === 0 && fdWritable(fd);
  } catch (e) {
    native.close(fd);
    throw e;
  }
  const seg = HeaderSegment.open(fd, mode, { writable, fn, path, stat });
  const reason = seals & WRITE_SEALS ? SEALED_REASON : lockShared ? SHARED_OFD_REASON : undefined;
  return new MemfdAttachment(seg, mode, reason, lockShared);
}

/**
 * Attaches a descriptor the caller keeps: maps a new OFD of it (through /proc/self/fd, or a
 * dup that stays out of the lock when /proc is unavailable). @internal
 */
export function attachFd(fd: number, mode: AccessMode, fn: string): MemfdAttachment {
  const st = fstat(fd);
  if (typeof st === 'number') {
    throw sysError(fn, st, 'fstat', undefined, [SharedMemoryError.KeyError, `${fd} is not an open descriptor`]);
  }
  let own = reopen('self', fd, fn);
  let lockShared = false;
  if (own < 0) {
    const name = errnoName(own);
    if (name === 'EMFILE' || name === 'ENFILE' || name === 'ENOMEM') throw sysError(fn, own, 'open', `/proc/self/fd/${fd}`);
    own = check(native.dup(fd), fn, 'fcntl(F_DUPFD_CLOEXEC)');
    lockShared = true;
  }
  return openMemfd(own, mode, fn, lockShared);
}

/** `/proc/<pid>/fd/<n>` (or `/proc/self/fd/<n>`): the only native keys the memfd backend attaches by. */
const PROC_FD = /^\/proc\/(self|[1-9][0-9]*)\/fd\/(0|[1-9][0-9]*)$/;

/** The memfd backend. @internal */
export class MemfdBackend implements Backend {
  readonly name = 'memfd' as const;

  /** The key is only a debug label (it shows in /proc/<pid>/fd as `memfd:qshm:<key>`). */
  nativeKeyFor(key: string): string {
    return key;
  }

  resolveNativeKey(nativeKey: string): string {
    return nativeKey;
  }

  create(label: string, size: number, mode: AccessMode): Attachment {
    const fd = memfdCreate(label);
    try {
      initHeader(fd, size, CREATE, label || undefined);
    } catch (e) {
      native.close(fd);
      throw e;
    }
    const seg = HeaderSegment.open(fd, mode, { writable: true, fn: CREATE, path: label || undefined });
    return new MemfdAttachment(seg, mode, undefined, false);
  }

  /**
   * A memfd segment has no name to be found by: only `/proc/<pid>/fd/<n>` native keys attach
   * (a same-user process's descriptor, where the kernel allows it); any other key is a
   * KeyError pointing at `QSharedMemory.fromFd()`.
   */
  attach(nativeKey: string, mode: AccessMode): Attachment {
    const m = PROC_FD.exec(nativeKey);
    if (!m) {
      throw qshmError(SharedMemoryError.KeyError, `${ATTACH}: a memfd segment cannot be attached by key; ` +
        'attach a descriptor handed over by its creator with QSharedMemory.fromFd() or fromInherited(), ' +
        'or set the native key /proc/<pid>/fd/<n>', QshmErrorCode.MemfdNoKey, nativeKey);
    }
    const fd = reopen(m[1], Number(m[2]), ATTACH);
    if (fd < 0) throw sysError(ATTACH, fd, 'open', nativeKey);
    return openMemfd(fd, mode, ATTACH, false, nativeKey);
  }
}

/**
 * `text` cut to at most `max` UTF-8 bytes, at a character boundary (one encode, one decode:
 * linear in the length, whatever the length).
 * @internal
 */
export function truncateUtf8(text: string, max: number): string {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= max) return text;
  let end = max;
  while (end > 0 && (bytes[end] & 0xc0) === 0x80) end--; // back off continuation bytes
  return bytes.subarray(0, end).toString('utf8');
}

/** memfd_create with the best flags the kernel accepts; ENOSYS as a coded error. */
function memfdCreate(label: string): number {
  const name = truncateUtf8(label === '' ? 'qshm' : `qshm:${label}`, MEMFD_NAME_MAX);
  const flags = MFD_CLOEXEC | MFD_ALLOW_SEALING;
  let fd = native.memfdCreate(name, flags | MFD_NOEXEC_SEAL);
  if (fd < 0 && errnoName(fd) === 'EINVAL') fd = native.memfdCreate(name, flags);
  if (fd < 0 && errnoName(fd) === 'ENOSYS') {
    throw sysError(CREATE, fd, 'memfd_create', label || undefined,
      [SharedMemoryError.UnknownError, 'memfd segments are not supported on this system (memfd_create: ENOSYS)']);
  }
  return check(fd, CREATE, 'memfd_create', label || undefined);
}

/** The environment variable that names the inherited descriptor (see `spawnWithSegment`). */
export const QSHM_FD_ENV = 'QSHM_FD';

/**
 * The descriptor number an environment variable names, validated. Standard streams (0–2)
 * are refused: consuming one would close stdin, stdout or stderr. @internal
 */
export function inheritedFd(envVar: string, fn: string): number {
  const v = process.env[envVar];
  if (v === undefined) {
    throw qshmError(SharedMemoryError.NotFound,
      `${fn}: no descriptor was handed to this process (${envVar} is not set)`, QshmErrorCode.NoInheritedFd);
  }
  if (!/^[1-9][0-9]{0,8}$/.test(v) || Number(v) < 3) {
    throw qshmError(SharedMemoryError.KeyError,
      `${fn}: ${envVar}=${JSON.stringify(v)} does not name a descriptor above the standard streams`, QshmErrorCode.BadInheritedFd);
  }
  return Number(v);
}
