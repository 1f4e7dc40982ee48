// SPDX-License-Identifier: MIT
/**
 * Backend registry: maps `QSharedMemoryOptions.backend` to an implementation.
 * @packageDocumentation
 */
import type { Backend, BackendName } from './backend.js';
import { FileBackend } from './file.js';
import { PosixBackend } from './posix.js';
import { SysvBackend } from './sysv.js';
import { MemfdBackend } from './memfd.js';

/** Options every backend factory receives. @internal */
export interface BackendOptions {
  dir?: string;
  mode?: number;
}

/** @internal */
export const backendFactories: Partial<Record<BackendName, (o: BackendOptions) => Backend>> = {
  file: (o) => new FileBackend(o),
  sysv: () => new SysvBackend(),
  posix: () => new PosixBackend(),
  memfd: () => new MemfdBackend(),
};
