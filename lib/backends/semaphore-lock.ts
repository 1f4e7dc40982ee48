// SPDX-License-Identifier: MIT
/**
 * What the `'sysv'` and `'posix'` backends share: Qt's internal locker around
 * create/attach/detach, and the `SegmentLock` over a counting semaphore (value 1 = free).
 * @packageDocumentation
 */
import { QshmErrorCode, SharedMemoryError, qshmError } from '../errors.js';
import type { LockOutcome } from '../lock.js';
import type { SegmentLock } from './backend.js';

/** A system semaphore used as a lock. @internal */
export interface CountingSemaphore {
  /** Takes one unit, waiting up to `timeoutMs` (< 0 or not finite: forever). */
  acquire(timeoutMs: number): LockOutcome;
  /** Gives one unit back; false when that failed. */
  release(): boolean;
  /** Whether this thread holds it already (through any object). */
  heldByThisThread(): boolean;
  /** Set once the semaphore was removed (there is nothing left to release). */
  readonly removed?: boolean;
}

/**
 * How many units of which semaphores this thread holds, through any object: create, attach
 * and detach by another object of the same thread must not wait for a lock this thread
 * already holds (it would never be released). Module state, so per thread. @internal
 */
export class HeldHere<K> {
  // One counter object per key, kept at 0 rather than deleted while there are few: lock() and
  // unlock() then only read the map (no insertion and deletion per lock pair).
  readonly #counts = new Map<K, { n: number }>();

  /** Records a unit taken. */
  took(k: K): void {
    const c = this.#counts.get(k);
    if (c) c.n++;
    else this.#counts.set(k, { n: 1 });
  }

  /** Records a unit given back; call it only once the release call has succeeded. */
  gave(k: K): void {
    const c = this.#counts.get(k);
    if (!c || c.n === 0) return;
    // Kept at 0 for the next lock; dropped when many semaphores went through this thread
    // (others may remove theirs, and their ids do not come back soon).
    if (--c.n === 0 && this.#counts.size > 64) this.#counts.delete(k);
  }

  /** Whether this thread holds a unit of `k`. */
  holds(k: K): boolean {
    return (this.#counts.get(k)?.n ?? 0) > 0;
  }

  /** Forgets `k` (the semaphore was removed). */
  forget(k: K): void {
    this.#counts.delete(k);
  }
}

const ASYNC_SLICE_MS = 1;
const MAX_ASYNC_SLEEP_MS = 10;

/**
 * The longest single timed system wait (semtimedop, sem_timedwait): longer timeouts are waited
 * in slices of this length, so every timespec handed to the kernel is small and valid.
 * @internal
 */
export const MAX_WAIT_SLICE_MS = 3_600_000;

/**
 * A timed wait of `timeoutMs` (< 0 or not finite, e.g. Infinity: forever) as slices: `next()`
 * gives the length of the next system wait (-1: forever), `expired()` whether the whole
 * timeout has run out. @internal
 */
export function waitPlan(timeoutMs: number): { next(): number; expired(): boolean } {
  if (!(timeoutMs >= 0 && Number.isFinite(timeoutMs))) return { next: () => -1, expired: () => false };
  const deadline = performance.now() + timeoutMs;
  return {
    next: () => Math.min(Math.max(0, deadline - performance.now()), MAX_WAIT_SLICE_MS),
    expired: () => performance.now() >= deadline,
  };
}

/** A bound on the internal lock of create/attach/detach (see {@link underLock}). @internal */
export interface LockBound {
  /** How long to wait for the lock (< 0: forever, as Qt). */
  timeoutMs: number;
  /** Why not getting it in time fails, for the error text: `unable to lock (<reason>)`. */
  reason: string;
}

/**
 * Runs `work` under the lock as Qt's internal locker does, unless this thread already holds
 * it (another object of this thread locked it: waiting would never end). `work` learns which.
 * With a `bound`, gives up after `bound.timeoutMs` with a LockError (code
 * `ERR_QSHM_LOCK_TIMEOUT`) instead of waiting forever.
 * @internal
 */
export function underLock<T>(sem: CountingSemaphore, fn: string, work: (alreadyHeld: boolean) => T, bound?: LockBound): T {
  const mine = sem.heldByThisThread();
  if (!mine) {
    let outcome: LockOutcome;
    try {
      outcome = sem.acquire(bound?.timeoutMs ?? -1);
    } catch (e) {
      throw qshmError(SharedMemoryError.LockError, `${fn}: unable to lock`, (e as { code?: string }).code ?? QshmErrorCode.Lock);
    }
    if (outcome === 'timeout') {
      throw qshmError(SharedMemoryError.LockError, `${fn}: unable to lock (${bound?.reason ?? 'timed out'})`, QshmErrorCode.LockTimeout);
    }
  }
  try {
    return work(mine);
  } finally {
    if (!mine && !sem.removed) sem.release();
  }
}

/**
 * `QSharedMemory.lock()` over a semaphore, for one attachment. Async waits poll in 1 ms
 * slices with growing sleeps (up to 10 ms) between them, so the event loop is never blocked
 * for long; there is nothing to wake (wakeAll is a no-op, the abort flag is polled).
 * Once the attachment detaches ({@link close}), waits end as timeouts and never touch the
 * semaphore again: its handle may be closed, or it may be removed, and reopening it would
 * re-create it (and its key file) for nobody.
 * @internal
 */
export class SemaphoreLock implements SegmentLock {
  readonly #sem: CountingSemaphore;
  #held = false;
  #closed = false;

  constructor(sem: CountingSemaphore) {
    this.#sem = sem;
  }

  /**
   * Marks the attachment detached: pending and later acquires end as 'timeout'. A unit this
   * lock still holds is given back first: a lockAsync() can take it in the same tick as a
   * detach(), before QSharedMemory has recorded that it holds it.
   */
  close(): void {
    if (this.#held) this.release();
    this.#closed = true;
  }

  acquire(timeoutMs: number): LockOutcome {
    if (this.#closed) return 'timeout';
    const r = this.#sem.acquire(timeoutMs);
    if (r !== 'timeout') this.#held = true;
    return r;
  }

  async acquireAsync(timeoutMs: number, aborted: () => boolean): Promise<LockOutcome | 'aborted'> {
    const deadline = timeoutMs < 0 ? Infinity : performance.now() + timeoutMs;
    let sleep = 1;
    for (;;) {
      if (aborted()) return 'aborted';
      if (this.#closed) return 'timeout'; // detached while waiting
      const left = deadline - performance.now();
      if (this.acquire(Math.max(0, Math.min(ASYNC_SLICE_MS, left))) !== 'timeout') return 'acquired';
      if (left <= ASYNC_SLICE_MS) return 'timeout';
      await new Promise((r) => setTimeout(r, Math.max(0, Math.min(sleep, deadline - performance.now()))));
      sleep = Math.min(sleep * 2, MAX_ASYNC_SLEEP_MS);
    }
  }

  release(): boolean {
    if (!this.#held) return false;
    this.#held = false;
    return this.#sem.release();
  }

  wakeAll(): void {
    // acquireAsync polls its abort flag between short waits.
  }
}
