// SPDX-License-Identifier: MIT
/**
 * What the `'sysv'` and `'posix'` backends share: Qt's internal locker around
 * create/attach/detach, and the `SegmentLock` over a counting semaphore (value 1 = free).
 * @packageDocumentation
 */
import { SharedMemoryError, qshmError } from '../errors.js';
import type { LockOutcome } from '../lock.js';
import type { SegmentLock } from './backend.js';

/** A system semaphore used as a lock. @internal */
export interface CountingSemaphore {
  /** Takes one unit, waiting up to `timeoutMs` (< 0: forever). */
  acquire(timeoutMs: number): LockOutcome;
  /** Gives one unit back; false when that failed. */
  release(): boolean;
  /** Whether this thread holds it already (through any object). */
  heldByThisThread(): boolean;
  /** Set once the semaphore was removed (there is nothing left to release). */
  readonly removed?: boolean;
}

const ASYNC_SLICE_MS = 1;
const MAX_ASYNC_SLEEP_MS = 10;

/**
 * Runs `work` under the lock as Qt's internal locker does, unless this thread already holds
 * it (another object of this thread locked it: waiting would never end). `work` learns which.
 * @internal
 */
export function underLock<T>(sem: CountingSemaphore, fn: string, work: (alreadyHeld: boolean) => T): T {
  const mine = sem.heldByThisThread();
  if (!mine) {
    try {
      sem.acquire(-1);
    } catch (e) {
      throw qshmError(SharedMemoryError.LockError, `${fn}: unable to lock`, (e as { code?: string }).code ?? 'ERR_QSHM_LOCK');
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
 * @internal
 */
export class SemaphoreLock implements SegmentLock {
  readonly #sem: CountingSemaphore;
  #held = false;

  constructor(sem: CountingSemaphore) {
    this.#sem = sem;
  }

  acquire(timeoutMs: number): LockOutcome {
    const r = this.#sem.acquire(timeoutMs);
    if (r !== 'timeout') this.#held = true;
    return r;
  }

  async acquireAsync(timeoutMs: number, aborted: () => boolean): Promise<LockOutcome | 'aborted'> {
    const deadline = timeoutMs < 0 ? Infinity : performance.now() + timeoutMs;
    let sleep = 1;
    for (;;) {
      if (aborted()) return 'aborted';
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
