// SPDX-License-Identifier: MIT
/**
 * The `'windows'` backend: Qt's own Windows protocol (qsharedmemory_win.cpp,
 * qsystemsemaphore_win.cpp; ../shared/qt/windows.md), so a Windows Qt application and qshm
 * share memory and the lock.
 *
 * - Segment: a page-file-backed named mapping, `CreateFileMappingW(INVALID_HANDLE_VALUE,
 *   NULL, PAGE_READWRITE, size, name)`; attach: `OpenFileMappingW(FILE_MAP_ALL_ACCESS)` and a
 *   view of the whole section (`FILE_MAP_READ` for ReadOnly). `size()` is the view's region
 *   size (page-rounded), as Qt reports it. `setKey(k)` gives Qt's legacy
 *   `qipc_sharedmemory_<letters><sha1>`; native keys are used verbatim.
 * - Lock: Qt's QSystemSemaphore, `CreateSemaphoreW(NULL, 1, MAXLONG, name)`, named
 *   `qipc_systemsem_<letters><sha1>` for a legacy key or `<native key>_sem` (Qt 6.6+), taken
 *   around create/attach/detach as Qt does.
 * - Removal: the kernel removes the mapping when its last handle goes; nothing to remove.
 *
 * Qt's semaphore is not robust: a holder that dies leaves it taken (Qt then blocks forever;
 * qshm waits at most 10 s in create/attach and 1 s in detach, then fails or detaches anyway).
 * @packageDocumentation
 */
import { win32, type Win32Binding } from '../native.js';
import { AccessMode, SharedMemoryError, qshmError, winError } from '../errors.js';
import type { LockOutcome } from '../lock.js';
import type { Attachment, Backend, KeyContext } from './backend.js';
import { SemaphoreLock, underLock, waitPlan, type CountingSemaphore, type LockBound } from './semaphore-lock.js';
import { windowsLegacyName, windowsLockName } from '../nativeipckey.js';

const CREATE = 'QSharedMemory::create';
const ATTACH = 'QSharedMemory::attach';
const DETACH = 'QSharedMemory::detach';
const HANDLE = 'QSharedMemory::handle';
const INITKEY = 'QSharedMemoryPrivate::initKey';
const MAXLONG = 0x7fffffff;
const CREATE_LOCK_MS = 10_000;
const DETACH_LOCK_MS = 1_000;

function api(): Win32Binding {
  if (!win32) throw new Error("qshm: the 'windows' backend needs win32");
  return win32;
}

function bound(ms: number): LockBound {
  return { timeoutMs: ms, reason: `Qt's lock semaphore has been held for ${ms / 1000} s; its holder may have died — Windows semaphores are not released when a process dies` };
}

// Semaphore names this thread holds (name → count), so an object of this thread that holds the
// lock can still create/attach/detach (Qt's internal locker would deadlock there).
const heldHere = new Map<string, number>();

/** Qt's lock semaphore, opened as Qt opens it (CreateSemaphoreW: created with count 1 if missing). */
class QtSemaphore implements CountingSemaphore {
  readonly name: string;
  readonly handle: number;
  readonly #w: Win32Binding;

  constructor(w: Win32Binding, name: string) {
    this.#w = w;
    this.name = name;
    const r = w.semaphoreCreate(name, 1, MAXLONG);
    if (r.handle < 0) {
      throw winError(INITKEY, r.handle, 'CreateSemaphoreW', name,
        [SharedMemoryError.LockError, `unable to set key on lock (QSystemSemaphore::handle: ${winError('', r.handle, '').errorString.slice(2)})`]);
    }
    this.handle = r.handle;
  }

  acquire(timeoutMs: number): LockOutcome {
    const K = this.#w.constants;
    const plan = waitPlan(timeoutMs);
    for (;;) {
      const r = this.#w.handleWait(this.handle, plan.next());
      if (r === K.WAIT_OBJECT_0) {
        heldHere.set(this.name, (heldHere.get(this.name) ?? 0) + 1);
        return 'acquired';
      }
      if (r !== K.WAIT_TIMEOUT) {
        throw winError('QSystemSemaphore::modifySemaphore', r, 'WaitForSingleObjectEx', this.name, [SharedMemoryError.LockError, 'unable to lock']);
      }
      if (plan.expired()) return 'timeout';
    }
  }

  release(): boolean {
    const n = heldHere.get(this.name) ?? 0;
    if (n <= 1) heldHere.delete(this.name);
    else heldHere.set(this.name, n - 1);
    return this.#w.semaphoreRelease(this.handle, 1) >= 0;
  }

  heldByThisThread(): boolean {
    return (heldHere.get(this.name) ?? 0) > 0;
  }

  close(): void {
    this.#w.handleClose(this.handle);
  }
}

class WindowsAttachment implements Attachment {
  readonly fd = -1;
  readonly size: number;
  readonly data: Buffer;
  readonly lock: SemaphoreLock;
  readonly #w: Win32Binding;
  readonly #mapping: number;
  readonly #view: ArrayBuffer;
  readonly #sem: QtSemaphore;

  constructor(w: Win32Binding, mapping: number, view: ArrayBuffer, sem: QtSemaphore) {
    this.#w = w;
    this.#mapping = mapping;
    this.#view = view;
    this.#sem = sem;
    this.size = view.byteLength;
    this.data = Buffer.from(view);
    this.lock = new SemaphoreLock(sem);
  }

  /** UnmapViewOfFile + CloseHandle under the lock, as Qt; without it after a short wait. */
  detach(): void {
    this.lock.close();
    const w = this.#w;
    try {
      underLock(this.#sem, DETACH, () => w.unmap(this.#view), bound(DETACH_LOCK_MS));
    } catch {
      // not locked in time: let go of the view all the same
    } finally {
      if (w.mappingLive(this.#view)) w.unmap(this.#view);
      w.handleClose(this.#mapping);
      this.#sem.close();
    }
  }
}

/** The `'windows'` backend. @internal */
export class WindowsBackend implements Backend {
  readonly name = 'windows' as const;

  nativeKeyFor(key: string): string {
    return key === '' ? '' : windowsLegacyName(key);
  }

  resolveNativeKey(nativeKey: string): string {
    return nativeKey;
  }

  #names(nativeKey: string, ctx: KeyContext | undefined, fn: string): { shm: string; sem: string } {
    if (nativeKey === '') throw qshmError(SharedMemoryError.KeyError, `${HANDLE}: unable to make key`, 'ERR_QSHM_EMPTY_KEY');
    if (nativeKey.includes('\0')) throw qshmError(SharedMemoryError.KeyError, `${fn}: key contains a NUL character`, 'ERR_QSHM_BAD_KEY', nativeKey);
    return { shm: nativeKey, sem: windowsLockName(nativeKey, ctx?.legacyKey ?? '') };
  }

  create(nativeKey: string, size: number, mode: AccessMode, ctx?: KeyContext): Attachment {
    const w = api();
    const K = w.constants;
    const names = this.#names(nativeKey, ctx, CREATE);
    const sem = new QtSemaphore(w, names.sem);
    try {
      return underLock(sem, CREATE, () => {
        const m = w.mappingCreate(0, K.PAGE_READWRITE, size, names.shm);
        if (m.handle < 0) throw winError(CREATE, m.handle, 'CreateFileMappingW', names.shm);
        if (m.lastError === w.errors.ERROR_ALREADY_EXISTS) {
          w.handleClose(m.handle);
          throw winError(CREATE, -m.lastError, 'CreateFileMappingW', names.shm);
        }
        return mapWhole(w, m.handle, mode, sem, names.shm);
      }, bound(CREATE_LOCK_MS));
    } catch (e) {
      sem.close();
      throw e;
    }
  }

  attach(nativeKey: string, mode: AccessMode, ctx?: KeyContext): Attachment {
    const w = api();
    const names = this.#names(nativeKey, ctx, ATTACH);
    const sem = new QtSemaphore(w, names.sem);
    try {
      return underLock(sem, ATTACH, () => {
        const h = w.mappingOpen(w.constants.FILE_MAP_ALL_ACCESS, names.shm);
        if (h < 0) throw winError(HANDLE, h, 'OpenFileMappingW', names.shm);
        return mapWhole(w, h, mode, sem, names.shm);
      }, bound(CREATE_LOCK_MS));
    } catch (e) {
      sem.close();
      throw e;
    }
  }
}

/** MapViewOfFile of the whole section (which the attachment then owns with `mapping`). */
function mapWhole(w: Win32Binding, mapping: number, mode: AccessMode, sem: QtSemaphore, name: string): WindowsAttachment {
  const K = w.constants;
  const view = w.viewMap(mapping, mode === AccessMode.ReadOnly ? K.FILE_MAP_READ : K.FILE_MAP_ALL_ACCESS, 0, 0);
  if (typeof view === 'number') {
    w.handleClose(mapping);
    throw winError(ATTACH, view, 'MapViewOfFile', name);
  }
  return new WindowsAttachment(w, mapping, view, sem);
}
