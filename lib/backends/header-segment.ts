// SPDX-License-Identifier: MIT
/**
 * A segment with the qshm header (lib/format.ts): shared by the `file` and `memfd` backends.
 * Initialises a fresh descriptor, validates a received one before trusting anything in it,
 * maps header and data with one mmap (the data part read-only for a ReadOnly attachment, the
 * header writable so it can still lock) whose two views are made on first use, and keeps the
 * kernel-released OFD locks that make attachment liveness survive crashes.
 * @packageDocumentation
 */
import { C, MAX_MAPPING, Region, fstat, native, type NativeStat } from '../native.js';
import { Layout, MAGIC, slotLockByte, writeFreshHeader } from '../format.js';
import { QshmErrorCode, AccessMode, QtFn, SharedMemoryError, check, negErrno, qshmError, sysError } from '../errors.js';
import { HeaderLock, futexSleeper } from '../lock.js';
import type { Attachment } from './backend.js';

/** What a non-blocking F_OFD_SETLK returns when the byte is locked (POSIX allows either). */
const EAGAIN = negErrno('EAGAIN');
const EACCES = negErrno('EACCES');
/** posix_fallocate on a filesystem that cannot reserve space. */
const EOPNOTSUPP = negErrno('EOPNOTSUPP');

const PAGE = C.pageSize;
const S_IFMT = 0o170000;
const S_IFREG = 0o100000;

/** Parsed, validated header fields. @internal */
export interface HeaderInfo {
  headerSize: number;
  dataSize: number;
  slotTable: number;
  slotCount: number;
}

/** Bytes of file for a data size: header plus data rounded up to pages. @internal */
export function fileSizeFor(dataSize: number): number {
  return Layout.HEADER_SIZE + Math.ceil(dataSize / PAGE) * PAGE;
}

function badHeader(fn: string, what: string, path?: string): never {
  throw qshmError(SharedMemoryError.UnknownError, `${fn}: not a valid qshm segment (${what})`, QshmErrorCode.BadHeader, path);
}

/** Validates the header in `page` (the first page) against the file's real size. @internal */
export function validateHeader(page: Buffer, fileSize: number, fn: string, path?: string): HeaderInfo {
  if (!page.subarray(0, 8).equals(MAGIC)) badHeader(fn, 'bad magic', path);
  const version = page.readUInt32LE(Layout.VERSION_OFFSET);
  if (version !== Layout.VERSION) badHeader(fn, `unsupported format version ${version}`, path);
  const headerSize = page.readUInt32LE(Layout.HEADER_SIZE_OFFSET);
  if (headerSize < Layout.HEADER_SIZE || headerSize > Layout.MAX_HEADER_SIZE || headerSize % 4096 !== 0) {
    badHeader(fn, `bad header size ${headerSize}`, path);
  }
  const big = page.readBigUInt64LE(Layout.DATA_SIZE_OFFSET);
  if (big < 1n || big > BigInt(Number.MAX_SAFE_INTEGER)) badHeader(fn, `bad data size ${big}`, path);
  const dataSize = Number(big);
  if (dataSize > MAX_MAPPING) {
    throw qshmError(SharedMemoryError.OutOfResources,
      `${fn}: out of resources (the segment's ${dataSize} bytes exceed the largest Buffer this Node.js can map, ${MAX_MAPPING})`,
      QshmErrorCode.TooLarge, path);
  }
  if (headerSize + dataSize > fileSize) {
    badHeader(fn, `file is ${fileSize} bytes, shorter than header ${headerSize} + data ${dataSize}`, path);
  }
  const slotTable = page.readUInt32LE(Layout.SLOT_TABLE_OFFSET_OFFSET);
  const slotCount = page.readUInt32LE(Layout.SLOT_COUNT_OFFSET);
  if (slotTable < 64 || slotTable % 4 !== 0 || slotCount < 1 || slotCount > 1 << Layout.SLOT_BITS ||
      slotTable + 4 * slotCount > Layout.HEADER_SIZE) {
    badHeader(fn, 'bad slot table', path);
  }
  return { headerSize, dataSize, slotTable, slotCount };
}

/** fstat that insists on a regular file. @internal */
export function statRegular(fd: number, fn: string, path?: string): NativeStat {
  const st = check(fstat(fd), fn, 'fstat', path);
  if ((st.mode & S_IFMT) !== S_IFREG) {
    throw qshmError(SharedMemoryError.KeyError, `${fn}: not a regular file`, QshmErrorCode.NotRegular, path);
  }
  return st;
}

/**
 * Reserves the pages (so a full tmpfs fails here with OutOfResources, not with SIGBUS later)
 * and writes a fresh header into an empty descriptor. @internal
 */
export function initHeader(fd: number, dataSize: number, fn: string, path?: string): void {
  const total = fileSizeFor(dataSize);
  const r = native.fallocate(fd, 0, total);
  if (r < 0) {
    // Filesystems without fallocate: size it anyway (pages are then allocated on first touch).
    if (r !== EOPNOTSUPP) throw sysError(fn, r, 'posix_fallocate', path);
    check(native.ftruncate(fd, total), fn, 'ftruncate', path);
  }
  const map = check(native.mmap(fd, Layout.HEADER_SIZE, C.PROT_READ | C.PROT_WRITE, 0), fn, 'mmap', path);
  try {
    writeFreshHeader(Buffer.from(map), dataSize);
  } finally {
    native.unmap(map);
  }
}

/** Options for {@link HeaderSegment.open}. @internal */
export interface OpenOptions {
  /** The descriptor is open for writing (needed for locking and slot ownership). */
  writable: boolean;
  /** Qt function name used in error texts. */
  fn: string;
  /** For messages. */
  path?: string;
  /** Called after the mappings and slot are released, before the descriptor is closed. */
  beforeClose?: (seg: HeaderSegment, last: boolean) => void;
  /**
   * The descriptor's fstat, when the caller made one already (a descriptor with no name to
   * race on: memfd). Without it, open() takes the presence lock first and then fstats, so
   * {@link HeaderSegment.linked} is exact for a named file.
   */
  stat?: NativeStat;
}

/** One attachment of a header segment. Owns `fd` from the moment it is constructed. @internal */
export class HeaderSegment implements Attachment {
  readonly fd: number;
  readonly size: number;
  readonly lockUnavailable?: string;
  readonly lockFixed = true;
  readonly info: HeaderInfo;
  /**
   * Whether the file still had a name (nlink > 0) once the presence lock was held. Removing a
   * segment's file needs the exclusive presence lock, so while this attachment lives a linked
   * file stays linked: an attacher that opened a path and finds its file linked here has the
   * file that path names, with no second stat of the path.
   */
  readonly linked: boolean;
  /** Header and data, one mapping; their views are made on first use (Region). */
  readonly #region: Region;
  #header: ArrayBuffer | null = null;
  #data: Buffer | null = null;
  #lock: HeaderLock | null = null;
  #slot: number;
  #writable: boolean;
  #beforeClose?: (seg: HeaderSegment, last: boolean) => void;
  #detached = false;

  private constructor(fd: number, info: HeaderInfo, linked: boolean, region: Region, header: ArrayBuffer | null,
    slot: number, writable: boolean, beforeClose?: (seg: HeaderSegment, last: boolean) => void) {
    this.fd = fd;
    this.info = info;
    this.linked = linked;
    this.size = info.dataSize;
    this.#region = region;
    this.#header = header;
    this.#slot = slot;
    this.#writable = writable;
    this.#beforeClose = beforeClose;
    if (slot < 0) this.lockUnavailable = 'the segment was opened read-only (no write permission), so it cannot take part in the lock';
  }

  /** The data: a view made at the first call (detached to length 0 by detach()). */
  get data(): Buffer {
    return this.#data ?? (this.#data = Buffer.from(this.#view(this.info.headerSize, this.info.dataSize)));
  }

  /** The lock (made, with its view of the header, at the first call), or null for a read-only descriptor. */
  get lock(): HeaderLock | null {
    if (this.#lock !== null || this.#slot < 0) return this.#lock;
    const header = this.#headerView();
    const { slotTable, slotCount } = this.info;
    return (this.#lock = new HeaderLock(new Int32Array(header), slotTable, slotCount, this.#slot, futexSleeper(header, this.fd, slotTable)));
  }

  #headerView(): ArrayBuffer {
    return this.#header ?? (this.#header = this.#view(0, this.info.headerSize));
  }

  /**
   * A view of the mapping. Making one fails only where the runtime allows no external
   * buffers (Electron's V8 sandbox: ENOTSUP), and then at the first data() or lock().
   */
  #view(offset: number, length: number): ArrayBuffer {
    return check(this.#region.view(offset, length), QtFn.attach, 'mmap');
  }

  /**
   * Validates and maps `fd` (which the segment then owns: it is closed on failure too),
   * takes the presence lock and claims a slot. Touches none of the mapped pages: the header
   * fields and the slot entry are read with pread, and the token is made and published on the
   * first lock (HeaderLock). A page touched here would have to be faulted in and, on detach,
   * flushed from the TLB: on a virtual machine that costs more than all the system calls of an
   * attach together (docs/benchmarks.md).
   */
  static open(fd: number, mode: AccessMode, o: OpenOptions): HeaderSegment {
    const { fn, path } = o;
    let region: Region | null = null;
    let header: ArrayBuffer | null = null;
    let slot = -1;
    try {
      let st = o.stat;
      if (st) takePresence(fd, fn, path);
      else st = presenceThenStat(fd, fn, path);
      if (st.size < Layout.HEADER_SIZE) badHeader(fn, `file is only ${st.size} bytes`, path);
      // A writable attachment claims its slot first, at the slot table of the last segment
      // this process attached (qshm writes one layout): the header fields and that slot's
      // entry then come in one pread. A header with another layout is claimed again below.
      const guessTable = lastSlotTable;
      const guess = o.writable && tryClaim(fd, guessTable, lastSlot, fn, path) ? lastSlot : -1;
      const head = preadAt(fd, 0, guess >= 0 ? guessTable + 4 * guess + 4 : HEADER_FIELDS, fn, path);
      const info = validateHeader(head, st.size, fn, path);
      // One mapping, two views made on first use: the header (writable whenever the descriptor
      // is, because locking writes to it) and the data, so data().buffer never exposes the header.
      const hprot = o.writable ? C.PROT_READ | C.PROT_WRITE : C.PROT_READ;
      const dprot = mode === AccessMode.ReadOnly ? C.PROT_READ : C.PROT_READ | C.PROT_WRITE;
      region = new Region(check(native.mmapRegion(fd, info.headerSize, hprot, info.dataSize, dprot), fn, 'mmap', path));
      if (o.writable) {
        let stale: number;
        if (guess >= 0 && guessTable === info.slotTable && guess < info.slotCount) {
          slot = guess;
          stale = head.readInt32LE(info.slotTable + 4 * slot);
        } else {
          if (guess >= 0) native.ofdLock(fd, C.F_UNLCK, slotLockByte(guessTable, guess), 1, false);
          // Not claimed (held by another attachment) at this very table: not worth a second try.
          const tried = guess < 0 && guessTable === info.slotTable ? lastSlot : -1;
          slot = claimSlot(fd, info, fn, path, tried);
          stale = preadAt(fd, info.slotTable + 4 * slot, 4, fn, path).readInt32LE(0);
        }
        lastSlotTable = info.slotTable;
        // A previous owner of this slot that died left its token in the entry: clear it, or a
        // waiter would take that dead holder for us (alive) until our first lock (docs/format.md
        // §6). A clean detach leaves 0 there, read without touching the page.
        if (stale !== 0) {
          header = check(region.view(0, info.headerSize), fn, 'mmap', path);
          Atomics.compareExchange(new Int32Array(header), (info.slotTable + 4 * slot) / 4, stale, 0);
        }
      }
      return new HeaderSegment(fd, info, st.nlink > 0, region, header, slot, o.writable, o.beforeClose);
    } catch (e) {
      region?.release();
      native.close(fd); // releases the presence and slot locks
      throw e;
    }
  }

  /** Whether `detach()` has run. */
  get detached(): boolean {
    return this.#detached;
  }

  /** Detaches without removing anything (for a segment that never got its name). */
  detachUnlinked(): void {
    this.#beforeClose = undefined;
    this.detach();
  }

  detach(): void {
    if (this.#detached) return;
    this.#detached = true;
    // A lockAsync() can take the lock in the same tick as a detach(), before QSharedMemory
    // has recorded that it holds it: never unmap with the word still naming us.
    const lock = this.#lock;
    if (lock?.isHeldByMe()) lock.release();
    // Our locks on this descriptor's OFD are the presence byte and (writable) our slot's byte:
    // one F_UNLCK from the presence byte through the slot byte drops both (no other lock of
    // this OFD lies between them: a shared OFD never claims a slot).
    let unlockEnd = Layout.PRESENCE_LOCK_BYTE + 1;
    if (this.#slot >= 0) {
      const token = lock?.token ?? 0; // 0: never locked, nothing published (page untouched)
      if (token !== 0) Atomics.compareExchange(new Int32Array(this.#header!), this.info.slotTable / 4 + this.#slot, token, 0);
      unlockEnd = slotLockByte(this.info.slotTable, this.#slot) + 1;
    }
    this.#region.release();
    // Last one out? Drop our shared presence lock first, then try for an exclusive one: two
    // processes detaching at once could otherwise each see the other's shared lock, and
    // neither would remove the segment. Only a writable descriptor can lock exclusively.
    native.ofdLock(this.fd, C.F_UNLCK, Layout.PRESENCE_LOCK_BYTE, unlockEnd - Layout.PRESENCE_LOCK_BYTE, false);
    const last = this.#writable && native.ofdLock(this.fd, C.F_WRLCK, Layout.PRESENCE_LOCK_BYTE, 1, false) === 0;
    try {
      this.#beforeClose?.(this, last);
    } finally {
      // Unlock explicitly: a duplicate of this descriptor held elsewhere (fd inheritance) would
      // otherwise keep the exclusive lock and block every later attach. (Not last: we hold none.)
      if (last) native.ofdLock(this.fd, C.F_UNLCK, Layout.PRESENCE_LOCK_BYTE, 1, false);
      native.close(this.fd);
    }
  }
}

const PRESENCE_WAIT_MS = 2000;
const nap = new Int32Array(new SharedArrayBuffer(4));

/**
 * Takes the shared presence lock. Only a detacher or a reclaimer holds it exclusively, and
 * only for a few system calls, so the wait is bounded: a process that holds it longer is
 * hostile or broken, and attach() fails instead of hanging.
 */
function takePresence(fd: number, fn: string, path?: string): void {
  const started = performance.now();
  for (let ms = 0.05; ; ms = Math.min(ms * 2, 50)) {
    const r = native.ofdLock(fd, C.F_RDLCK, Layout.PRESENCE_LOCK_BYTE, 1, false);
    if (r === 0) return;
    if (r !== EAGAIN && r !== EACCES) throw sysError(fn, r, 'fcntl(F_OFD_SETLK)', path);
    if (performance.now() - started > PRESENCE_WAIT_MS) {
      throw qshmError(SharedMemoryError.LockError,
        `${fn}: unable to lock (another process has held the segment's presence lock for over ${PRESENCE_WAIT_MS / 1000} s)`,
        QshmErrorCode.PresenceBusy, path);
    }
    Atomics.wait(nap, 0, 0, ms);
  }
}

/**
 * Takes the presence lock, then fstats (a regular file is required). A descriptor that cannot
 * be locked at all is reported by what it is (not a regular file) when that is the reason.
 */
function presenceThenStat(fd: number, fn: string, path?: string): NativeStat {
  try {
    takePresence(fd, fn, path);
  } catch (e) {
    statRegular(fd, fn, path); // throws its own error for a descriptor of the wrong kind
    throw e;
  }
  return statRegular(fd, fn, path);
}

/** Bytes of the header's fixed fields (validateHeader reads no further). */
const HEADER_FIELDS = Layout.FLAGS_OFFSET + 4;

/** Where preadAt reads to (one buffer, reused: its contents are parsed at once). */
const scratch = Buffer.alloc(Layout.HEADER_SIZE);

/**
 * `length` (≤ HEADER_SIZE) bytes of the file at `offset`, read with pread, so no page of a
 * mapping is touched. The result is valid until the next call.
 */
function preadAt(fd: number, offset: number, length: number, fn: string, path?: string): Buffer {
  const b = scratch.subarray(0, length);
  const n = native.pread(fd, b, offset);
  if (n < 0) throw sysError(fn, n, 'pread', path);
  if (n < length) badHeader(fn, `short read of the header (${n} of ${length} bytes at ${offset})`, path);
  return b;
}

/** The slot this process claimed last (free again after a detach, so tried first), and the slot table it was in. */
let lastSlot = 0;
let lastSlotTable: number = Layout.SLOT_TABLE_OFFSET;

/** A non-blocking exclusive OFD lock on slot `i`'s byte: false when another description holds it. */
function tryClaim(fd: number, slotTable: number, i: number, fn: string, path?: string): boolean {
  const r = native.ofdLock(fd, C.F_WRLCK, slotLockByte(slotTable, i), 1, false);
  if (r === 0) return true;
  if (r !== EAGAIN && r !== EACCES) throw sysError(fn, r, 'fcntl(F_OFD_SETLK)', path);
  return false;
}

/**
 * Claims a free slot with a non-blocking exclusive OFD lock on its byte: the slot this
 * process claimed last first, then every slot in order, all but `tried` (found held just now).
 * The OFD lock alone decides.
 */
function claimSlot(fd: number, info: HeaderInfo, fn: string, path?: string, tried = -1): number {
  const hint = lastSlot < info.slotCount ? lastSlot : 0;
  if (hint !== tried && tryClaim(fd, info.slotTable, hint, fn, path)) return (lastSlot = hint);
  for (let i = 0; i < info.slotCount; i++) {
    if (i !== hint && i !== tried && tryClaim(fd, info.slotTable, i, fn, path)) return (lastSlot = i);
  }
  throw qshmError(SharedMemoryError.OutOfResources,
    `${fn}: out of resources (all ${info.slotCount} attachment slots are in use)`, QshmErrorCode.NoSlot, path);
}

export { PAGE };
