// SPDX-License-Identifier: MIT
/**
 * qshm: Qt's QSharedMemory for Node.js.
 * @packageDocumentation
 */
export { QSharedMemory } from './shared-memory.js';
export type { QSharedMemoryOptions, LockAsyncOptions } from './shared-memory.js';
export { AccessMode, SharedMemoryError, QshmError, QshmErrorCode } from './errors.js';
export type { QshmErrorInit } from './errors.js';
export type { BackendName } from './backends/index.js';
export { legacyKeyName, SHM_PREFIX, SEM_PREFIX } from './keys.js';
export { QNativeIpcKey, IpcKeyType } from './nativeipckey.js';
export { Layout, MAGIC, cHeaderText } from './format.js';
export type { SealOptions, SegmentSeals } from './backends/memfd.js';
export {
  spawnWithSegment, fromProcessFd, sendSegment, listenForSegments, receiveSegment, SegmentListener,
  QSHM_FD_ENV, MAX_SEGMENT_MESSAGE,
} from './handoff.js';
export type {
  SpawnWithSegmentOptions, SendSegmentOptions, ReceivedSegment, AcceptOptions, ListenOptions,
} from './handoff.js';
