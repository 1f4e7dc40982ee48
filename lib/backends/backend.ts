// SPDX-License-Identifier: MIT
/**
 * What every backend provides. Backends throw {@link QshmError}; `QSharedMemory` turns that
 * into Qt's return-false-and-set-error() contract.
 * @packageDocumentation
 */
import type { AccessMode } from '../errors.js';
import type { LockOutcome } from '../lock.js';

/** The lock behind `QSharedMemory.lock()` for one attachment. @internal */
export interface SegmentLock {
  /**
   * One uncontended attempt with no system call and no native call, where the lock has one
   * (the header lock: a compare-and-swap). Never throws.
   */
  readonly tryFast?: () => boolean;
  /** Blocks until held or the timeout (< 0: forever) runs out. */
  acquire(timeoutMs: number): LockOutcome;
  /** Waits off the event loop. */
  acquireAsync(timeoutMs: number, aborted: () => boolean): Promise<LockOutcome | 'aborted'>;
  /** Releases; false if this attachment did not hold it. */
  release(): boolean;
  /** Wakes waiters so they re-check an abort flag. */
  wakeAll(): void;
}

/** One attachment: a mapping of a segment by one `QSharedMemory` object. @internal */
export interface Attachment {
  /** Data size in bytes. */
  readonly size: number;
  /**
   * The data region (a view of the mapping, which may be made at the first read: a getter;
   * detached to length 0 by detach()).
   */
  readonly data: Buffer;
  /**
   * The lock, or null when this attachment cannot lock (e.g. a read-only descriptor); may be
   * made at the first read.
   */
  readonly lock: SegmentLock | null;
  /** Why `lock` is null, as a Qt-style reason. */
  readonly lockUnavailable?: string;
  /**
   * True when `lock` is one object for the attachment's whole life (a memfd attachment swaps
   * its own when sealed): `QSharedMemory` may then keep it for its lock()/unlock() hot path.
   */
  readonly lockFixed?: boolean;
  /** The descriptor behind the mapping, or -1. */
  readonly fd: number;
  /** Releases the mapping and everything the attachment holds; removes the segment if last. */
  detach(): void;
  /** memfd: the descriptor `QSharedMemory.fd()` hands out (other backends have none). */
  handOffFd?(): number;
  /** memfd: adds file seals (F_ADD_SEALS bits); throws a {@link QshmError}. */
  addSeals?(bits: number, fn: string): void;
  /** memfd: the current seal bits (F_GET_SEALS); throws a {@link QshmError}. */
  sealBits?(): number;
}


/**
 * What a backend learns about the key besides the native key string (Qt 6.6+ keeps both in a
 * QNativeIpcKey). Backends that do not need it ignore it. @internal
 */
export interface KeyContext {
  /** The legacy key the native key was derived from (`setKey`), or `''` for a native key. */
  legacyKey: string;
  /** The QNativeIpcKey type; for System V the ftok project id (0x51 by default). */
  type: number;
}

/** A segment mechanism. @internal */
export interface Backend {
  /** Its name in the backend table (lib/backends/index.ts). */
  readonly name: string;
  /** Native key for a legacy key string (`setKey`). */
  nativeKeyFor(key: string): string;
  /**
   * The name a native key stands for (e.g. resolved inside a directory); throws a KeyError
   * {@link QshmError} for a key the backend cannot use. `fn` is the calling Qt function.
   */
  resolveNativeKey(nativeKey: string, fn: string): string;
  /**
   * Creates and attaches. `nativeKey` comes from {@link resolveNativeKey} and has been checked
   * (not empty unless the backend's key is optional, no NUL character).
   */
  create(nativeKey: string, size: number, mode: AccessMode, ctx?: KeyContext): Attachment;
  /** Attaches; `nativeKey` as for {@link create}. */
  attach(nativeKey: string, mode: AccessMode, ctx?: KeyContext): Attachment;
  /**
   * Removes the named segment and its lock regardless of attachments (for names a crashed
   * process or a never-unlinking peer left behind). True if anything was removed.
   */
  remove?(nativeKey: string, ctx?: KeyContext): boolean;
}
