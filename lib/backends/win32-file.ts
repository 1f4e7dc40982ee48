// SPDX-License-Identifier: MIT
/**
 * The `'file'` backend on Windows: a file in a directory (default `<os.tmpdir()>\qshm`) with
 * the same qshm header as on Linux (lib/format.ts), shared through a named file mapping.
 *
 * - create(): `CreateFileW(CREATE_NEW, FILE_ATTRIBUTE_TEMPORARY | FILE_FLAG_DELETE_ON_CLOSE,
 *   share READ|WRITE|DELETE)`, sized and its disk space reserved (a full disk fails here with
 *   OutOfResources), the header written through an unnamed mapping, and only then the named
 *   mapping `Local\qshm_<sha1 of the path>` made: nobody can open a half-made segment.
 * - attach(): `OpenFileMappingW` by that name. Attachers join through the kernel object, never
 *   by reopening the path (on real Windows it may be delete-pending).
 * - Removal: the kernel deletes the file when the last handle and view go, also when every
 *   attached process was killed. Nothing is left to reclaim.
 * - Lock: the header lock word with the same JavaScript compare-and-swap as on Linux; waiters
 *   sleep on the named semaphore `…_wake`; every attachment owns the named mutex `…_s<slot>`
 *   of its slot, so a holder that dies leaves its mutex abandoned and the next waiter takes the
 *   lock over (`lockWasAbandoned()`), never trusting a process id.
 * @packageDocumentation
 */
import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { MAX_MAPPING, win32, type Win32Binding } from '../native.js';
import { Layout, MAX_GENERATION, slotOfToken, writeFreshHeader } from '../format.js';
import { legacyKeyName } from '../keys.js';
import { AccessMode, SharedMemoryError, qshmError, winError, winErrorName } from '../errors.js';
import { HeaderLock, type LockSleeper } from '../lock.js';
import type { Attachment, Backend } from './backend.js';
import { validateHeader, type HeaderInfo } from './header-segment.js';

const CREATE = 'QSharedMemory::create';
const ATTACH = 'QSharedMemory::attach';
const NO_ALLOCATION = ['ERROR_INVALID_PARAMETER', 'ERROR_NOT_SUPPORTED', 'ERROR_INVALID_FUNCTION', 'ERROR_CALL_NOT_IMPLEMENTED'];

/** The Windows addon; this module is only loaded through the backend table on win32. */
function api(): Win32Binding {
  if (!win32) throw new Error('qshm: the Windows file backend needs win32');
  return win32;
}

/**
 * Kernel object names of the segment at `path`: `Local\qshm_<sha1>` where the SHA-1 is of the
 * absolute path in lower case (Windows paths are case-insensitive; kernel object names are
 * not, and may not contain backslashes). `Local\`: the session namespace, which needs no
 * privilege (`Global\` needs SeCreateGlobalPrivilege outside session 0). @internal
 */
export function win32ObjectNames(path: string): { mapping: string; wake: string; slot: (i: number) => string } {
  const base = 'Local\\qshm_' + createHash('sha1').update(resolve(path).toLowerCase(), 'utf8').digest('hex');
  return { mapping: base, wake: `${base}_wake`, slot: (i) => `${base}_s${i}` };
}

// Slot mutexes this thread owns (a Windows mutex is recursive for its owner thread, so a
// second attachment in this thread must not claim, or probe, one of these).
const ownedSlots = new Set<string>();

/** Options of the Windows file backend. @internal */
export interface Win32FileBackendOptions {
  /** Directory; default `<os.tmpdir()>\qshm` (made on first create). */
  dir?: string;
}

/** @internal */
export class Win32FileBackend implements Backend {
  readonly name = 'file' as const;
  readonly #dir: string;
  readonly #defaultDir: boolean;

  constructor(o: Win32FileBackendOptions = {}) {
    this.#defaultDir = o.dir === undefined;
    this.#dir = o.dir ?? join(tmpdir(), 'qshm');
  }

  /** The directory segments live in. */
  get dir(): string {
    return this.#dir;
  }

  nativeKeyFor(key: string): string {
    const name = legacyKeyName(key);
    return name === '' ? name : join(this.#dir, name);
  }

  resolveNativeKey(nativeKey: string): string {
    if (nativeKey === '' || isAbsolute(nativeKey)) return nativeKey;
    return join(this.#dir, nativeKey);
  }

  create(path: string, size: number, mode: AccessMode): Attachment {
    checkPath(path, CREATE);
    const w = api();
    const K = w.constants;
    if (this.#defaultDir) {
      try {
        mkdirSync(this.#dir, { recursive: true });
      } catch {
        // reported by CreateFileW below
      }
    }
    // (… | …) >>> 0: the flag words are unsigned 32-bit (GENERIC_READ is bit 31).
    const file = w.fileCreate(path, (K.GENERIC_READ | K.GENERIC_WRITE) >>> 0,
      K.FILE_SHARE_READ | K.FILE_SHARE_WRITE | K.FILE_SHARE_DELETE, K.CREATE_NEW,
      (K.FILE_ATTRIBUTE_TEMPORARY | K.FILE_FLAG_DELETE_ON_CLOSE) >>> 0);
    if (file < 0) {
      if (winErrorName(file) === 'ERROR_PATH_NOT_FOUND') {
        throw winError(CREATE, file, 'CreateFileW', path, [SharedMemoryError.KeyError, `directory ${dirname(path)} does not exist`]);
      }
      throw winError(CREATE, file, 'CreateFileW', path);
    }
    let mapping = 0;
    try {
      const total = Layout.HEADER_SIZE + Math.ceil(size / K.pageSize) * K.pageSize;
      winCheck(w.fileSetSize(file, total), CREATE, 'SetEndOfFile', path);
      // Reserve the disk space now (a full disk fails create(), not a later write). File
      // systems (and Wine) that cannot do it say so; the size set above then stands.
      const r = w.fileAllocate(file, total);
      if (r < 0 && !NO_ALLOCATION.includes(winErrorName(r))) {
        throw winError(CREATE, r, 'SetFileInformationByHandle(FileAllocationInfo)', path);
      }
      writeHeader(w, file, size, path);
      const names = win32ObjectNames(path);
      const m = w.mappingCreate(file, K.PAGE_READWRITE, 0, names.mapping);
      if (m.handle < 0) throw winError(CREATE, m.handle, 'CreateFileMappingW', names.mapping);
      mapping = m.handle;
      if (m.lastError === w.errors.ERROR_ALREADY_EXISTS) {
        throw winError(CREATE, -m.lastError, 'CreateFileMappingW', names.mapping);
      }
      const att = Win32FileAttachment.open(w, mapping, file, mode, CREATE, path);
      mapping = 0;
      return att;
    } catch (e) {
      if (mapping) w.handleClose(mapping);
      w.handleClose(file); // DELETE_ON_CLOSE: the file goes with it
      throw e;
    }
  }

  attach(path: string, mode: AccessMode): Attachment {
    checkPath(path, ATTACH);
    const w = api();
    const K = w.constants;
    const names = win32ObjectNames(path);
    let mapping = w.mappingOpen(K.FILE_MAP_READ | K.FILE_MAP_WRITE, names.mapping);
    if (mapping < 0 && winErrorName(mapping) === 'ERROR_ACCESS_DENIED' && mode === AccessMode.ReadOnly) {
      mapping = w.mappingOpen(K.FILE_MAP_READ, names.mapping);
    }
    if (mapping < 0) throw winError(ATTACH, mapping, 'OpenFileMappingW', names.mapping);
    return Win32FileAttachment.open(w, mapping, 0, mode, ATTACH, path);
  }
}

function checkPath(path: string, fn: string): void {
  if (path === '') throw qshmError(SharedMemoryError.KeyError, `${fn}: key is empty`, 'ERR_QSHM_EMPTY_KEY');
  if (path.includes('\0')) throw qshmError(SharedMemoryError.KeyError, `${fn}: key contains a NUL character`, 'ERR_QSHM_BAD_KEY', path);
}

function winCheck(r: number, fn: string, call: string, path: string): void {
  if (r < 0) throw winError(fn, r, call, path);
}

/** Writes a fresh header through an unnamed mapping of `file` (magic last). */
function writeHeader(w: Win32Binding, file: number, dataSize: number, path: string): void {
  const K = w.constants;
  const m = w.mappingCreate(file, K.PAGE_READWRITE, 0, '');
  if (m.handle < 0) throw winError(CREATE, m.handle, 'CreateFileMappingW', path);
  try {
    const view = w.viewMap(m.handle, K.FILE_MAP_READ | K.FILE_MAP_WRITE, 0, Layout.HEADER_SIZE);
    if (typeof view === 'number') throw winError(CREATE, view, 'MapViewOfFile', path);
    writeFreshHeader(Buffer.from(view), dataSize);
    w.unmap(view);
  } finally {
    w.handleClose(m.handle);
  }
}

/** One attachment: views of the named mapping, a slot mutex, the wake semaphore. */
class Win32FileAttachment implements Attachment {
  readonly fd = -1;
  readonly size: number;
  readonly data: Buffer;
  readonly lock: HeaderLock | null;
  readonly lockFixed = true;
  readonly lockUnavailable?: string;
  readonly #w: Win32Binding;
  readonly #views: ArrayBuffer[];
  readonly #words: Int32Array;
  readonly #handles: number[];
  readonly #slotName: string;
  readonly #slotMutex: number;
  readonly #slotTable: number;
  #detached = false;

  private constructor(w: Win32Binding, info: HeaderInfo, header: ArrayBuffer, data: ArrayBuffer, views: ArrayBuffer[],
    handles: number[], slot: { name: string; mutex: number; token: number } | null, wake: number) {
    this.#w = w;
    this.size = info.dataSize;
    this.data = Buffer.from(data, info.headerSize, info.dataSize);
    this.#views = views;
    this.#words = new Int32Array(header, 0, info.headerSize / 4);
    this.#handles = handles;
    this.#slotTable = info.slotTable;
    this.#slotName = slot?.name ?? '';
    this.#slotMutex = slot?.mutex ?? 0;
    if (slot) {
      this.lock = new HeaderLock(this.#words, info.slotTable, info.slotCount, slotOfToken(slot.token),
        win32Sleeper(w, wake, this.#slotName), slot.token);
    } else {
      this.lock = null;
      this.lockUnavailable = 'the segment was opened read-only (no write permission), so it cannot take part in the lock';
    }
  }

  /** Maps `mapping` (owned from here on, with `file` when non-zero), validates, claims a slot. */
  static open(w: Win32Binding, mapping: number, file: number, mode: AccessMode, fn: string, path: string): Win32FileAttachment {
    const K = w.constants;
    const views: ArrayBuffer[] = [];
    const handles = [mapping, ...(file ? [file] : [])];
    let slot: { name: string; mutex: number; token: number } | null = null;
    try {
      const probe = w.viewMap(mapping, K.FILE_MAP_READ, 0, Layout.HEADER_SIZE);
      if (typeof probe === 'number') throw winError(fn, probe, 'MapViewOfFile', path);
      views.push(probe);
      const first = Buffer.from(probe);
      const headerSize = first.readUInt32LE(Layout.HEADER_SIZE_OFFSET);
      const dataSize = Number(first.readBigUInt64LE(Layout.DATA_SIZE_OFFSET));
      const total = headerSize + dataSize;
      // Map the whole segment (views start at allocation-granularity offsets, so header and
      // data share one view); a header claiming more than the section fails here.
      const safeTotal = Number.isSafeInteger(total) && total <= MAX_MAPPING + Layout.MAX_HEADER_SIZE ? total : 0;
      const wantWrite = mode === AccessMode.ReadWrite;
      const full = safeTotal > 0
        ? w.viewMap(mapping, wantWrite ? K.FILE_MAP_READ | K.FILE_MAP_WRITE : K.FILE_MAP_READ, 0, safeTotal)
        : -w.errors.ERROR_INVALID_PARAMETER;
      const info = validateHeader(first, typeof full === 'number' ? 0 : full.byteLength, fn, path);
      if (typeof full === 'number') throw winError(fn, full, 'MapViewOfFile', path);
      views.push(full);
      w.unmap(views.shift()!);
      // The lock needs a writable header even when the data is mapped read-only.
      let header: ArrayBuffer | null = wantWrite ? full : null;
      if (!header) {
        const h = w.viewMap(mapping, K.FILE_MAP_READ | K.FILE_MAP_WRITE, 0, info.headerSize);
        if (typeof h !== 'number') {
          views.push(h);
          header = h;
        }
      }
      let wake = 0;
      if (header) {
        const names = win32ObjectNames(path);
        const sem = w.semaphoreCreate(names.wake, 0, 0x7fffffff);
        if (sem.handle < 0) throw winError(fn, sem.handle, 'CreateSemaphoreW', names.wake);
        wake = sem.handle;
        handles.push(wake);
        slot = claimSlot(w, names, info, header, fn);
      }
      return new Win32FileAttachment(w, info, header ?? full, full, views, handles, slot, wake);
    } catch (e) {
      if (slot) releaseSlot(w, slot.name, slot.mutex);
      for (const v of views) w.unmap(v);
      for (const h of handles) w.handleClose(h);
      throw e;
    }
  }

  detach(): void {
    if (this.#detached) return;
    this.#detached = true;
    const w = this.#w;
    if (this.lock) {
      if (this.lock.isHeldByMe()) this.lock.release();
      const words = this.#words;
      const slot = slotOfToken(this.lock.token);
      Atomics.compareExchange(words, this.#slotTable / 4 + slot, this.lock.token, 0);
      releaseSlot(w, this.#slotName, this.#slotMutex);
    }
    for (const v of this.#views) w.unmap(v);
    for (const h of this.#handles) w.handleClose(h); // the last one out: the kernel deletes the file
  }
}

/** Claims the first slot whose named mutex this thread can own, and a fresh token. */
function claimSlot(w: Win32Binding, names: ReturnType<typeof win32ObjectNames>, info: HeaderInfo, header: ArrayBuffer,
  fn: string): { name: string; mutex: number; token: number } {
  const K = w.constants;
  for (let i = 0; i < info.slotCount; i++) {
    const name = names.slot(i);
    if (ownedSlots.has(name)) continue;
    const m = w.mutexCreate(name, false);
    if (m.handle < 0) throw winError(fn, m.handle, 'CreateMutexW', name);
    const r = w.handleWait(m.handle, 0);
    if (r === K.WAIT_OBJECT_0 || r === K.WAIT_ABANDONED) {
      ownedSlots.add(name);
      const words = new Int32Array(header, 0, info.headerSize / 4);
      let gen = 0;
      while (gen === 0) gen = (Atomics.add(words, Layout.TOKEN_COUNTER_OFFSET / 4, 1) + 1) & MAX_GENERATION;
      const token = gen * (1 << Layout.SLOT_BITS) + i;
      Atomics.store(words, info.slotTable / 4 + i, token);
      return { name, mutex: m.handle, token };
    }
    w.handleClose(m.handle);
    if (r !== K.WAIT_TIMEOUT) throw winError(fn, r, 'WaitForSingleObject', name);
  }
  throw qshmError(SharedMemoryError.OutOfResources,
    `${fn}: out of resources (all ${info.slotCount} attachment slots are in use)`, 'ERR_QSHM_NO_SLOT');
}

function releaseSlot(w: Win32Binding, name: string, mutex: number): void {
  ownedSlots.delete(name);
  w.mutexRelease(mutex);
  w.handleClose(mutex);
}

/**
 * Windows side of the header lock: sleep on the named wake semaphore (its count keeps a
 * wake-up posted before the sleeper arrived, so none is lost; a stray one costs one extra
 * check), and a slot is alive while some thread owns its named mutex.
 */
function win32Sleeper(w: Win32Binding, wake: number, ownSlot: string): LockSleeper {
  const K = w.constants;
  const base = ownSlot.slice(0, ownSlot.lastIndexOf('_s'));
  return {
    wait: (_expected, ms) => w.handleWait(wake, ms) === K.WAIT_TIMEOUT,
    waitAsync: async (_expected, ms) => (await w.handleWaitAsync(wake, ms)) === K.WAIT_TIMEOUT,
    // One unit per wake: waiters re-check the word; an aborted lockAsync notices within a slice.
    wake: () => void w.semaphoreRelease(wake, 1),
    slotAlive: (slot) => {
      const name = `${base}_s${slot}`;
      if (ownedSlots.has(name)) return true; // this thread's own attachment
      const h = w.mutexOpen(name);
      if (h < 0) return winErrorName(h) !== 'ERROR_FILE_NOT_FOUND'; // gone: its owner is gone
      try {
        const r = w.handleWait(h, 0);
        if (r === K.WAIT_OBJECT_0 || r === K.WAIT_ABANDONED) {
          w.mutexRelease(h); // nobody owned it: the holder detached or died
          return false;
        }
        return true; // WAIT_TIMEOUT (owned), or an error: never steal a live lock
      } finally {
        w.handleClose(h);
      }
    },
  };
}
