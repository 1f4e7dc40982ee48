// SPDX-License-Identifier: MIT
/**
 * `QSharedMemory`'s lock API over an attachment's {@link SegmentLock}: Qt's contract (holding
 * is a flag, not a count; failures are false + error(), never a throw) plus the extensions
 * (tryLock, lockAsync). The uncontended lock() is one compare-and-swap: no system call, no
 * native call.
 * @packageDocumentation
 */
import { QshmError, QshmErrorCode, SharedMemoryError, argTypeError, qshmError } from './errors.js';
import type { SegmentLock } from './backends/backend.js';
import type { LockOutcome } from './lock.js';
import type { State } from './attachment-state.js';

/** Options of `QSharedMemory.lockAsync`. */
export interface LockAsyncOptions {
  /** Give up (resolve false) after this many milliseconds. Default: wait forever. */
  timeoutMs?: number;
  /** Reject with an AbortError (and not hold the lock) when this signal fires. */
  signal?: AbortSignal;
}

/** A lock timeout for the backends: ms >= 0, or -1 for "forever" (Infinity); negative is 0. */
function waitMs(timeoutMs: number): number {
  if (Number.isFinite(timeoutMs)) return Math.max(0, timeoutMs);
  return timeoutMs > 0 ? -1 : 0;
}

/** Sets `s.error` and returns false. @internal */
export function fail(s: State, e: unknown): false {
  if (!(e instanceof QshmError)) throw e;
  s.error = e;
  return false;
}

/** The attachment's lock, or null with LockError set (not attached, or no lock). */
function lockable(s: State, fn: string): SegmentLock | null {
  const att = s.att;
  if (att?.lock) return att.lock;
  s.error = att
    ? qshmError(SharedMemoryError.LockError, `${fn}: unable to lock (${att.lockUnavailable})`, QshmErrorCode.NoLock)
    : qshmError(SharedMemoryError.LockError, `${fn}: unable to lock (not attached)`, QshmErrorCode.NotAttached);
  return null;
}

function took(s: State, outcome: LockOutcome): boolean {
  if (outcome === 'timeout') return false;
  s.held = true;
  s.abandoned = outcome === 'abandoned';
  return true;
}

/** Acquires with Qt's contract: an OS failure is false + error(), never a throw. */
function acquire(s: State, l: SegmentLock, timeoutMs: number): boolean {
  let outcome: LockOutcome;
  try {
    outcome = l.acquire(timeoutMs);
  } catch (e) {
    return fail(s, e);
  }
  return took(s, outcome);
}

/** `lock()`. @internal */
export function lock(s: State, fn: string): boolean {
  const att = s.att;
  const l = att?.lock;
  if (l && !s.held) {
    if (att.lockFixed && l.tryFast) s.fast = l; // QSharedMemory.lock() takes it directly from now on
    // Hot path: one compare-and-swap, no system call, no native call.
    if (l.tryFast?.()) {
      s.held = true;
      s.abandoned = false;
      return true;
    }
    return acquire(s, l, -1);
  }
  const got = lockable(s, fn);
  if (!got) return false;
  process.emitWarning(`${fn}: already locked`, { code: 'QSHM_ALREADY_LOCKED' });
  return true;
}

/** `tryLock(timeoutMs)`. @internal */
export function tryLock(s: State, fn: string, timeoutMs: unknown): boolean {
  if (typeof timeoutMs !== 'number' || Number.isNaN(timeoutMs)) throw argTypeError('timeoutMs', 'a number', timeoutMs);
  const l = lockable(s, fn);
  if (!l) return false;
  if (s.held) return true;
  return acquire(s, l, waitMs(timeoutMs));
}

/** `lockAsync(options)`. @internal */
export async function lockAsync(s: State, fn: string, options: LockAsyncOptions): Promise<boolean> {
  if (options === null || typeof options !== 'object') throw argTypeError('options', 'an object', options);
  const { timeoutMs, signal } = options;
  if (timeoutMs !== undefined && (typeof timeoutMs !== 'number' || Number.isNaN(timeoutMs))) {
    throw argTypeError('options.timeoutMs', 'a number', timeoutMs);
  }
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw argTypeError('options.signal', 'an AbortSignal', signal);
  signal?.throwIfAborted();
  const l = lockable(s, fn);
  if (!l) return false;
  if (s.held) return true;
  const att = s.att;
  const onAbort = () => l.wakeAll();
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    let outcome: LockOutcome | 'aborted';
    try {
      outcome = await l.acquireAsync(timeoutMs === undefined ? -1 : waitMs(timeoutMs), () => signal?.aborted === true);
    } catch (e) {
      return fail(s, e);
    }
    if (outcome === 'aborted') {
      throw signal!.reason ?? new DOMException('This operation was aborted', 'AbortError');
    }
    // Detached while waiting: detach() gave back anything the wait had taken.
    if (s.att !== att) return false;
    return took(s, outcome);
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}

/** `unlock()`: false with no error when not held; LockError when the lock was taken over. @internal */
export function unlock(s: State, fn: string): boolean {
  const att = s.att;
  if (!att || !s.held) return false;
  s.held = false;
  return att.lock!.release() || lost(s, fn);
}

/** unlock() found the lock taken over (its holder was presumed dead): false + LockError. @internal */
export function lost(s: State, fn: string): false {
  return fail(s, qshmError(SharedMemoryError.LockError, `${fn}: unable to unlock (the lock was taken over)`, QshmErrorCode.LockLost));
}
