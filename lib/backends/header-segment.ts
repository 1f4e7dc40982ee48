// SPDX-License-Identifier: MIT
/**
 * A segment with the qshm header (lib/format.ts): shared by the `file` and `memfd` backends.
 * Initialises a fresh descriptor, validates a received one before trusting anything in it,
 * maps header and data separately (so a ReadOnly data mapping can still lock), and keeps the
 * kernel-released OFD locks that make attachment liveness survive crashes.
 * @packageDocumentation
 */
import { C, MAX_MAPPING, native, type NativeStat } from '../native.js';
import { Layout, MAGIC, MAX_GENERATION, slotLockByte, writeFreshHeader } from '../format.js';
import { QshmErrorCode, AccessMode, SharedMemoryError, check, negErrno, qshmError, sysError } from '../errors.js';
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
  const st = check(native.fstat(fd), fn, 'fstat', path);
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
}

/** One attachment of a header segment. Owns `fd` from the moment it is constructed. @internal */
export class HeaderSegment implements Attachment {
  readonly fd: number;
  readonly size: number;
  readonly data: Buffer;
  readonly lock: HeaderLock | null;
  readonly lockUnavailable?: string;
  readonly info: HeaderInfo;
  #header: ArrayBuffer | null;
  #dataMap: ArrayBuffer | null;
  #slot: number;
  #writable: boolean;
  #beforeClose?: (seg: HeaderSegment, last: boolean) => void;
  #detached = false;

  private constructor(fd: number, info: HeaderInfo, header: ArrayBuffer, dataMap: ArrayBuffer, slot: number,
    token: number, writable: boolean, beforeClose?: (seg: HeaderSegment, last: boolean) => void) {
    this.fd = fd;
    this.info = info;
    this.size = info.dataSize;
    this.#header = header;
    this.#dataMap = dataMap;
    this.data = Buffer.from(dataMap);
    this.#slot = slot;
    this.#writable = writable;
    this.#beforeClose = beforeClose;
    if (token) {
      this.lock = new HeaderLock(new Int32Array(header), info.slotTable, info.slotCount, token, futexSleeper(header, fd, info.slotTable));
    } else {
      this.lock = null;
      this.lockUnavailable = 'the segment was opened read-only (no write permission), so it cannot take part in the lock';
    }
  }

  /**
   * Validates and maps `fd` (which the segment then owns: it is closed on failure too),
   * takes the presence lock and claims a slot.
   */
  static open(fd: number, mode: AccessMode, o: OpenOptions): HeaderSegment {
    const { fn, path } = o;
    const maps: ArrayBuffer[] = [];
    let slot = -1;
    try {
      const st = statRegular(fd, fn, path);
      if (st.size < Layout.HEADER_SIZE) badHeader(fn, `file is only ${st.size} bytes`, path);
      // Presence: a shared lock that every attachment holds while attached.
      takePresence(fd, fn, path);
      const hprot = o.writable ? C.PROT_READ | C.PROT_WRITE : C.PROT_READ;
      let header = check(native.mmap(fd, Layout.HEADER_SIZE, hprot, 0), fn, 'mmap', path);
      maps.push(header);
      const info = validateHeader(Buffer.from(header), st.size, fn, path);
      if (info.headerSize !== Layout.HEADER_SIZE) {
        native.unmap(maps.pop()!);
        header = check(native.mmap(fd, info.headerSize, hprot, 0), fn, 'mmap', path);
        maps.push(header);
      }
      const dprot = mode === AccessMode.ReadOnly ? C.PROT_READ : C.PROT_READ | C.PROT_WRITE;
      const dataMap = check(native.mmap(fd, info.dataSize, dprot, info.headerSize), fn, 'mmap', path);
      maps.push(dataMap);
      let token = 0;
      if (o.writable) {
        slot = claimSlot(fd, info, fn, path);
        const words = new Int32Array(header);
        let gen = 0;
        while (gen === 0) gen = (Atomics.add(words, Layout.TOKEN_COUNTER_OFFSET / 4, 1) + 1) & MAX_GENERATION;
        token = gen * (1 << Layout.SLOT_BITS) + slot;
        Atomics.store(words, info.slotTable / 4 + slot, token);
      }
      return new HeaderSegment(fd, info, header, dataMap, slot, token, o.writable, o.beforeClose);
    } catch (e) {
      for (const m of maps) native.unmap(m);
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
    if (this.lock?.isHeldByMe()) this.lock.release();
    const header = this.#header!;
    if (this.#slot >= 0) {
      const words = new Int32Array(header);
      Atomics.compareExchange(words, this.info.slotTable / 4 + this.#slot, this.lock!.token, 0);
      native.ofdLock(this.fd, C.F_UNLCK, slotLockByte(this.info.slotTable, this.#slot), 1, false);
    }
    native.unmap(this.#dataMap!);
    native.unmap(header);
    this.#dataMap = this.#header = null;
    // Last one out? Drop our shared presence lock first, then try for an exclusive one: two
    // processes detaching at once could otherwise each see the other's shared lock, and
    // neither would remove the segment. Only a writable descriptor can lock exclusively.
    native.ofdLock(this.fd, C.F_UNLCK, Layout.PRESENCE_LOCK_BYTE, 1, false);
    const last = this.#writable && native.ofdLock(this.fd, C.F_WRLCK, Layout.PRESENCE_LOCK_BYTE, 1, false) === 0;
    try {
      this.#beforeClose?.(this, last);
    } finally {
      // Unlock explicitly: a duplicate of this descriptor held elsewhere (fd inheritance) would
      // otherwise keep the exclusive lock and block every later attach.
      native.ofdLock(this.fd, C.F_UNLCK, Layout.PRESENCE_LOCK_BYTE, 1, false);
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

/** Claims the first free slot with a non-blocking exclusive OFD lock on its byte. */
function claimSlot(fd: number, info: HeaderInfo, fn: string, path?: string): number {
  for (let i = 0; i < info.slotCount; i++) {
    const r = native.ofdLock(fd, C.F_WRLCK, slotLockByte(info.slotTable, i), 1, false);
    if (r === 0) return i;
    if (r !== EAGAIN && r !== EACCES) throw sysError(fn, r, 'fcntl(F_OFD_SETLK)', path);
  }
  throw qshmError(SharedMemoryError.OutOfResources,
    `${fn}: out of resources (all ${info.slotCount} attachment slots are in use)`, QshmErrorCode.NoSlot, path);
}

export { PAGE };
