// SPDX-License-Identifier: MIT
/**
 * The backend table: the one place that says which backends exist, what each accepts and
 * where it is available. The `backend` option's type, the default backend, the name lists,
 * the error texts and the QNativeIpcKey type maps are all derived from it. Adding a backend
 * means one file implementing {@link Backend} (plus its native facility) and one row here.
 * @packageDocumentation
 */
import type { Backend } from './backend.js';
import { FileBackend } from './file.js';
import { PosixBackend } from './posix.js';
import { SysvBackend } from './sysv.js';
import { MemfdBackend } from './memfd.js';
import { Win32FileBackend } from './win32-file.js';
import { WindowsBackend } from './windows.js';
import { capabilities, type Capabilities } from '../native.js';
import { IpcKeyType, isSystemVType } from '../nativeipckey.js';

/** Options every backend factory receives. @internal */
export interface BackendOptions {
  dir?: string;
  mode?: number;
}

/** One row of the backend table. @internal */
export interface BackendSpec {
  /** What the backend needs, for the error when it is unavailable. */
  readonly needs: string;
  /** Whether this platform and build have what the backend needs. */
  available(c: Capabilities): boolean;
  /** Makes the backend. */
  make(o: BackendOptions): Backend;
  /** The QNativeIpcKey type its keys get (0: a backend Qt has no key type for). */
  readonly keyType: number;
  /** Whether a QNativeIpcKey of `type` selects this backend (Qt 6.6+'s setNativeKey). */
  acceptsKeyType(type: number): boolean;
  /** Whether create() works without a key (a memfd's key is only a label). */
  readonly keyOptional: boolean;
  /** Whether `QSharedMemory.remove()` applies (segments that outlive their attachments). */
  readonly removable: boolean;
}

const never = (): boolean => false;

/** The backends, in the order they are documented. @internal */
export const backendTable = {
  file: {
    needs: 'O_TMPFILE, open file description locks and futexes (Linux), or Win32 files and named objects (Windows)',
    available: (c) => (c.file && c.ofdLocks && c.futex) || c.win32 === true,
    // The same format and lock on both: lib/backends/win32-file.ts is the Windows side.
    make: (o) => (capabilities.win32 ? new Win32FileBackend(o) : new FileBackend(o)),
    keyType: 0,
    acceptsKeyType: never,
    keyOptional: false,
    removable: false,
  },
  memfd: {
    needs: 'memfd_create (Linux 3.17+)',
    available: (c) => c.memfd && c.ofdLocks && c.futex,
    make: () => new MemfdBackend(),
    keyType: 0,
    acceptsKeyType: never,
    keyOptional: true,
    removable: false,
  },
  sysv: {
    needs: 'System V shared memory and semaphores',
    available: (c) => c.sysv,
    make: () => new SysvBackend(),
    keyType: IpcKeyType.SystemV,
    acceptsKeyType: isSystemVType,
    keyOptional: false,
    removable: true,
  },
  posix: {
    needs: 'POSIX shared memory and named semaphores',
    available: (c) => c.posixShm,
    make: () => new PosixBackend(),
    keyType: IpcKeyType.PosixRealtime,
    acceptsKeyType: (t) => t === IpcKeyType.PosixRealtime,
    keyOptional: false,
    removable: true,
  },
  windows: {
    needs: "Win32 named file mappings and semaphores (Windows): Qt's Windows protocol",
    available: (c) => c.win32 === true,
    make: () => new WindowsBackend(),
    keyType: IpcKeyType.Windows,
    acceptsKeyType: (t) => t === IpcKeyType.Windows,
    keyOptional: false,
    removable: false,
  },
} as const satisfies Record<string, BackendSpec>;

/** Backend names accepted by `QSharedMemoryOptions.backend`. */
export type BackendName = keyof typeof backendTable;

/** Every backend name, available here or not. @internal */
export const backendNames = Object.keys(backendTable) as readonly BackendName[];

/** The backend used when the options name none. @internal */
export const defaultBackend: BackendName = 'file';

/** Whether `name` is a backend name. @internal */
export function isBackendName(name: unknown): name is BackendName {
  return typeof name === 'string' && Object.hasOwn(backendTable, name);
}

/** Whether backend `name` works on this platform and build. @internal */
export function backendAvailable(name: BackendName): boolean {
  return (backendTable[name] as BackendSpec).available(capabilities);
}

/**
 * Makes backend `name`. An unavailable backend is Node's `ERR_FEATURE_UNAVAILABLE_ON_PLATFORM`
 * TypeError, naming the platform and what the backend needs.
 * @internal
 */
export function makeBackend(name: BackendName, o: BackendOptions): Backend {
  const spec: BackendSpec = backendTable[name];
  if (!spec.available(capabilities)) {
    const err = new TypeError(
      `The qshm backend '${name}' is not available on ${process.platform}-${process.arch}: it needs ${spec.needs}. ` +
        `Available here: ${backendNames.filter(backendAvailable).map((b) => `'${b}'`).join(', ') || 'none'}`,
    );
    throw Object.assign(err, { code: 'ERR_FEATURE_UNAVAILABLE_ON_PLATFORM' });
  }
  return spec.make(o);
}

/** The row of backend `name`. @internal */
export function backendSpec(name: BackendName): BackendSpec {
  return backendTable[name];
}

/** The available backend a QNativeIpcKey type selects, or null (unsupported here). @internal */
export function backendForKeyType(type: number): BackendName | null {
  return backendNames.find((b) => (backendTable[b] as BackendSpec).acceptsKeyType(type) && backendAvailable(b)) ?? null;
}
