// SPDX-License-Identifier: MIT
/**
 * The only place that loads the compiled addon. Declares the addon's shape so the rest of
 * lib/ is type-checked against it. Every native call returns a non-negative result or
 * `-errno`; {@link check} turns the latter into a {@link QshmError}.
 * @packageDocumentation
 */
import { createRequire } from 'node:module';
import { LOCAL_BUILDS, prebuildPath } from './addon.js';
import { existsSync } from 'node:fs';
import { constants as bufferConstants } from 'node:buffer';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Result of fstat/lstat. @internal */
export interface NativeStat {
  size: number;
  ino: number;
  dev: number;
  nlink: number;
  mode: number;
  uid: number;
  gid: number;
}

/** Result of shmctl(IPC_STAT). @internal */
export interface NativeShmStat {
  segsz: number;
  nattch: number;
  mode: number;
  uid: number;
  cpid: number;
}

/** Which native facilities this build of the addon has. @internal */
export interface Capabilities {
  /** Files with O_TMPFILE creation, mmap, fstat. */
  file: boolean;
  /** Open file description locks (F_OFD_SETLK). */
  ofdLocks: boolean;
  /** Futex wait/wake on a word of a shared mapping. */
  futex: boolean;
  /** memfd_create and file seals. */
  memfd: boolean;
  /** System V shared memory and semaphores. */
  sysv: boolean;
  /** POSIX shm_open and named semaphores. */
  posixShm: boolean;
  /** Unix-domain sockets with SCM_RIGHTS. */
  unixSocket: boolean;
  /** Windows files, named file mappings, mutexes and semaphores (win32_ipc.cc). */
  win32?: boolean;
}

/** Opaque POSIX semaphore handle. @internal */
export type SemHandle = { readonly __sem: unique symbol };

/** The addon's exports. Numbers < 0 are `-errno`. @internal */
export interface NativeBinding {
  open(path: string, flags: number, mode: number): number;
  close(fd: number): number;
  dup(fd: number): number;
  ftruncate(fd: number, length: number): number;
  fallocate(fd: number, offset: number, length: number): number;
  fchmod(fd: number, mode: number): number;
  /** fstat into `out` (size, ino, dev, nlink, mode, uid, gid; see {@link fstat}): 0 or -errno. */
  fstat(fd: number, out: Float64Array): number;
  /** lstat into `out`, as {@link NativeBinding.fstat} (see {@link lstat}): 0 or -errno. */
  lstat(path: string, out: Float64Array): number;
  unlink(path: string): number;
  linkFd(fd: number, path: string): number;
  ofdLock(fd: number, type: number, start: number, len: number, wait: boolean): number;
  ofdGetLock(fd: number, type: number, start: number, len: number): number;
  mmap(fd: number, length: number, prot: number, offset: number): ArrayBuffer | number;
  /** fcntl(F_GETFL): the descriptor's status flags (access mode: `& (O_RDONLY | O_WRONLY | O_RDWR)`), or -errno. */
  getFl(fd: number): number;
  /** pread into all of `buffer` (short only at end of file): bytes read or -errno. */
  pread(fd: number, buffer: Uint8Array, offset: number): number;
  /**
   * One mmap of the file's first `firstLength + secondLength` bytes, the second part with
   * `secondProt`, held as a region number (> 0; see {@link Region}) or -errno. `firstLength`
   * must be a multiple of the page size only when the two protections differ (the second part
   * is then mprotect'ed).
   */
  mmapRegion(fd: number, firstLength: number, firstProt: number, secondLength: number, secondProt: number): number;
  /** An ArrayBuffer view of `length` bytes at `offset` of a region (one more share of it), or -errno. */
  regionView(region: number, offset: number, length: number): ArrayBuffer | number;
  /** Gives up a region's number; the memory goes with it and the last view: 0 or -errno. */
  regionRelease(region: number): number;
  unmap(mapping: ArrayBuffer): number;
  mappingLive(mapping: ArrayBuffer): boolean;
  futexWait(mapping: ArrayBuffer, byteOffset: number, expected: number, timeoutMs: number): number;
  futexWake(mapping: ArrayBuffer, byteOffset: number, count: number): number;
  futexWaitAsync(mapping: ArrayBuffer, byteOffset: number, expected: number, timeoutMs: number): Promise<number>;
  memfdCreate(name: string, flags: number): number;
  addSeals(fd: number, seals: number): number;
  getSeals(fd: number): number;
  ftok(path: string, proj: number): number;
  shmget(key: number, size: number, flags: number): number;
  /** shmat, held as a region number (see {@link Region}) or -errno. */
  shmat(id: number, flags: number, size: number): number;
  /** shmctl(IPC_STAT) into `out` (segsz, nattch, mode, uid, cpid; see {@link shmStat}): 0 or -errno. */
  shmctlStat(id: number, out: Float64Array): number;
  shmctlRmid(id: number): number;
  semget(key: number, nsems: number, flags: number): number;
  semctlSetval(id: number, num: number, value: number): number;
  semctlGetval(id: number, num: number): number;
  semctlRmid(id: number): number;
  semop(id: number, op: number, flags: number, timeoutMs: number): number;
  /** semop(id, op (-1 or 1), SEM_UNDO) waiting forever, with the cheapest call (int32 arguments): 0 or -errno. */
  semopUndo(id: number, op: number): number;
  shmOpen(name: string, flags: number, mode: number): number;
  shmUnlink(name: string): number;
  semOpen(name: string, flags: number, mode: number, value: number): SemHandle | number;
  semClose(sem: SemHandle): number;
  semUnlink(name: string): number;
  semWait(sem: SemHandle, timeoutMs: number): number;
  semPost(sem: SemHandle): number;
  unixListen(path: string, backlog: number): number;
  unixSendFd(path: string, fd: number, payload: Buffer): number;
  unixRecvFdAsync(listenFd: number, timeoutMs: number): Promise<{ fd: number; data: Buffer } | number>;
  /** Which facilities this build has (absent from builds older than the facility split). */
  capabilities?: Capabilities;
  constants: Record<string, number> & {
    O_RDONLY: number; O_RDWR: number; O_CREAT: number; O_EXCL: number; O_CLOEXEC: number;
    O_NOFOLLOW: number; O_TMPFILE?: number; PROT_READ: number; PROT_WRITE: number;
    F_RDLCK: number; F_WRLCK: number; F_UNLCK: number; FD_CLOEXEC: number;
    IPC_CREAT: number; IPC_EXCL: number; IPC_NOWAIT: number; SHM_RDONLY: number; SEM_UNDO: number;
    MFD_CLOEXEC?: number; MFD_ALLOW_SEALING?: number; F_SEAL_SEAL?: number; F_SEAL_SHRINK?: number;
    F_SEAL_GROW?: number; F_SEAL_WRITE?: number; F_SEAL_FUTURE_WRITE: number; pageSize: number;
  };
}

/** A Create* result: the handle (or -error) and GetLastError() (ERROR_ALREADY_EXISTS when the name existed). @internal */
export interface Win32Created {
  handle: number;
  lastError: number;
}

/**
 * The Windows addon's exports (native/win32_binding.cc). Numbers < 0 are `-GetLastError()`;
 * handles are positive numbers owned by the calling thread's environment. @internal
 */
export interface Win32Binding {
  fileCreate(path: string, access: number, share: number, disposition: number, flags: number): number;
  fileSetSize(file: number, size: number): number;
  fileAllocate(file: number, size: number): number;
  fileSize(file: number): number;
  handleClose(handle: number): number;
  /** `file` 0: backed by the page file. `name` '': unnamed. */
  mappingCreate(file: number, protect: number, size: number, name: string): Win32Created;
  mappingOpen(access: number, name: string): number;
  /** `size` 0: the whole section from `offset` (length from VirtualQuery, page-rounded). */
  viewMap(mapping: number, access: number, offset: number, size: number): ArrayBuffer | number;
  /** Unmaps a view (shared with the POSIX mappings: addon.cc's `unmap`). */
  unmap(view: ArrayBuffer): number;
  mappingLive(view: ArrayBuffer): boolean;
  mutexCreate(name: string, initialOwner: boolean): Win32Created;
  mutexOpen(name: string): number;
  mutexRelease(mutex: number): number;
  semaphoreCreate(name: string, initial: number, maximum: number): Win32Created;
  semaphoreOpen(name: string): number;
  semaphoreRelease(semaphore: number, count: number): number;
  /** WAIT_OBJECT_0, WAIT_ABANDONED, WAIT_TIMEOUT, or -error. `ms` < 0: forever. */
  handleWait(handle: number, ms: number): number;
  /** The same on a pool thread (never for a mutex), at most 1 s per call. */
  handleWaitAsync(handle: number, ms: number): Promise<number>;
  constants: Record<string, number> & {
    pageSize: number; allocationGranularity: number;
    GENERIC_READ: number; GENERIC_WRITE: number; FILE_SHARE_READ: number; FILE_SHARE_WRITE: number;
    FILE_SHARE_DELETE: number; CREATE_NEW: number; OPEN_EXISTING: number; FILE_ATTRIBUTE_TEMPORARY: number;
    FILE_FLAG_DELETE_ON_CLOSE: number; PAGE_READONLY: number; PAGE_READWRITE: number; FILE_MAP_READ: number;
    FILE_MAP_WRITE: number; FILE_MAP_ALL_ACCESS: number; WAIT_OBJECT_0: number; WAIT_ABANDONED: number;
    WAIT_TIMEOUT: number;
  };
  /** Win32 error codes by name (ERROR_ALREADY_EXISTS: 183, …). */
  errors: Record<string, number>;
}

/** "Node v20.20.2", "Bun 1.4.5" or "Deno 2.9.6" (Bun and Deno report a Node version too). */
function runtimeName(): string {
  const g = globalThis as { Bun?: { version: string }; Deno?: { version: { deno: string } } };
  if (g.Bun) return `Bun ${g.Bun.version}`;
  if (g.Deno) return `Deno ${g.Deno.version.deno}`;
  return `Node ${process.version}`;
}

/**
 * Loads the addon: `$QSHM_NATIVE_BINDING` if set, then a local build, then the prebuilt binary
 * for this platform (see addon.ts for why in that order). On failure the error lists every
 * file tried with the reason, and the fixes.
 */
function load(): NativeBinding {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..');
  const require = createRequire(import.meta.url);
  const tried: string[] = [];
  let override: string | undefined;
  try {
    override = process.env.QSHM_NATIVE_BINDING;
  } catch (e) {
    // Deno without --allow-env throws instead of answering undefined.
    tried.push(`$QSHM_NATIVE_BINDING (${(e as Error).message})`);
  }
  // The prebuilt binary's name needs the C library, which costs a read of /proc/self/maps:
  // worked out only when no local build loads.
  let prebuild = '';
  const candidates = function* (): Generator<string> {
    if (override) yield override;
    for (const f of LOCAL_BUILDS) yield join(root, f);
    try {
      prebuild = prebuildPath();
    } catch (e) {
      tried.push(`prebuilds/ (${(e as Error).message})`);
      return;
    }
    yield join(root, prebuild);
  };
  for (const file of candidates()) {
    let exists: boolean;
    try {
      exists = existsSync(file);
    } catch (e) {
      // Deno without --allow-read throws here instead of answering false.
      tried.push(`${file} (${(e as Error).message})`);
      continue;
    }
    if (!exists) {
      tried.push(`${file} (missing)`);
      continue;
    }
    try {
      return require(file) as NativeBinding;
    } catch (e) {
      tried.push(`${file} (${(e as Error).message.split('\n')[0]})`);
    }
  }
  throw new Error(
    `qshm: could not load its native addon on ${process.platform}-${process.arch}, ${runtimeName()}.\n` +
      `Tried:\n  ${tried.join('\n  ')}\n` +
      'Possible solutions:\n' +
      `  - prebuilt binaries ship for linux-x64 and linux-arm64 (glibc 2.34+) and win32-x64; elsewhere, or if ${prebuild || 'the prebuilt binary'} failed to load,\n` +
      '    run `npm rebuild qshm` to build it from source: it needs a C++17 compiler (g++, or $CXX), make and python3, and downloads nothing;\n' +
      '  - if npm ran with --ignore-scripts on a platform without a prebuilt binary, run `npm rebuild qshm`;\n' +
      '  - set QSHM_NATIVE_BINDING to the path of a qshm.node built for this platform;\n' +
      '  - do not run Node with --no-addons;\n' +
      '  - under Deno, allow reading and loading the addon: --allow-read --allow-ffi --allow-env (docs/runtimes.md).',
  );
}

/** The loaded addon (its POSIX shape; on Windows use {@link win32}). @internal */
export const native: NativeBinding = load();
/** The Windows addon, on win32 only (the same module, Windows shape). @internal */
export const win32: Win32Binding | null = process.platform === 'win32' ? (native as unknown as Win32Binding) : null;
/** Native constants (open flags, lock types, seals, page size). @internal */
export const C = native.constants;
/**
 * The largest mapping qshm hands to JavaScript: one Buffer/ArrayBuffer must cover a segment's
 * data, so this Node's `buffer.constants.MAX_LENGTH` (4 GiB on Node 20).
 */
export const MAX_MAPPING: number = bufferConstants.MAX_LENGTH;

const linux = process.platform === 'linux';
/** The facilities this build has; backends are available or not from this alone. @internal */
export const capabilities: Readonly<Capabilities> = Object.freeze(native.capabilities ?? {
  file: linux && C.O_TMPFILE !== undefined,
  ofdLocks: linux,
  futex: linux,
  memfd: linux,
  sysv: process.platform !== 'win32',
  posixShm: process.platform !== 'win32',
  unixSocket: process.platform !== 'win32',
  win32: false,
});

/** Where the stat-shaped calls write (their results are copied out at once). */
const statOut = new Float64Array(7);

/** A NativeStat from statOut after a call returned `r` (0), or `r` (-errno). */
function statResult(r: number): NativeStat | number {
  if (r < 0) return r;
  const o = statOut;
  return { size: o[0], ino: o[1], dev: o[2], nlink: o[3], mode: o[4], uid: o[5], gid: o[6] };
}

/** fstat(fd) as an object, or -errno. @internal */
export function fstat(fd: number): NativeStat | number {
  return statResult(native.fstat(fd, statOut));
}

/** lstat(path) as an object, or -errno. @internal */
export function lstat(path: string): NativeStat | number {
  return statResult(native.lstat(path, statOut));
}

/** shmctl(IPC_STAT) of segment `id` as an object, or -errno. @internal */
export function shmStat(id: number): NativeShmStat | number {
  const r = native.shmctlStat(id, statOut);
  if (r < 0) return r;
  const o = statOut;
  return { segsz: o[0], nattch: o[1], mode: o[2], uid: o[3], cpid: o[4] };
}

/**
 * Memory mapped by `mmapRegion` or `shmat`, held by its region number. An ArrayBuffer view of
 * a part of it is made only when first asked for: making one costs Node more than the mapping
 * itself (a Buffer, a finalizer and a cleanup hook each), and an attachment that never touches
 * its data or never locks needs none. `release()` detaches every view made (each reads as
 * length 0 from then on) and unmaps.
 *
 * Its owner must release it: unlike an ArrayBuffer's, a region number is not freed by garbage
 * collection (a FinalizationRegistry entry per region cost attach()+detach() 0.3–0.4 µs, 6 %),
 * only by `release()` or when the thread or process ends. Every attachment releases its region
 * in detach() and on its error paths, and `QSharedMemory`'s own registry detaches an object that
 * is collected while attached. @internal
 */
export class Region {
  readonly #id: number;
  readonly #views: ArrayBuffer[] = [];
  #released = false;

  /** `id`: a region number from `mmapRegion` or `shmat`; this object owns it. */
  constructor(id: number) {
    this.#id = id;
  }

  /** A new view of `length` bytes at `offset`, or -errno (-EBADF once released). */
  view(offset: number, length: number): ArrayBuffer | number {
    const v = native.regionView(this.#released ? 0 : this.#id, offset, length);
    if (typeof v !== 'number') this.#views.push(v);
    return v;
  }

  /** Unmaps every view made and the memory: 0 or the unmap's -errno. Idempotent. */
  release(): number {
    if (this.#released) return 0;
    this.#released = true;
    let r: number;
    try {
      for (const v of this.#views) native.unmap(v);
    } finally {
      this.#views.length = 0;
      r = native.regionRelease(this.#id);
    }
    return r;
  }
}
