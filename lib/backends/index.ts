// SPDX-License-Identifier: MIT
/**
 * Backend registry: maps `QSharedMemoryOptions.backend` to an implementation available on
 * this OS. On Windows: `'file'` (lib/backends/win32-file.ts) and `'windows'` (Qt's Windows
 * protocol); elsewhere `'file'`, `'memfd'`, `'sysv'` and `'posix'`.
 * @packageDocumentation
 */
import type { Backend, BackendName } from './backend.js';
import { FileBackend } from './file.js';
import { PosixBackend } from './posix.js';
import { SysvBackend } from './sysv.js';
import { MemfdBackend } from './memfd.js';
import { Win32FileBackend } from './win32-file.js';
import { WindowsBackend } from './windows.js';

/** Options every backend factory receives. @internal */
export interface BackendOptions {
  dir?: string;
  mode?: number;
}

/** @internal */
export const backendFactories: Partial<Record<BackendName, (o: BackendOptions) => Backend>> =
  process.platform === 'win32'
    ? {
        file: (o) => new Win32FileBackend(o),
        windows: () => new WindowsBackend(),
      }
    : {
        file: (o) => new FileBackend(o),
        sysv: () => new SysvBackend(),
        posix: () => new PosixBackend(),
        memfd: () => new MemfdBackend(),
      };
