// SPDX-License-Identifier: MIT
/**
 * The header lock: a 32-bit word in the segment header, taken with a compare-and-swap from
 * JavaScript (`Atomics` on the mapped memory, no native call when uncontended), slept on with
 * an OS facility when contended, and robust against holders that die: every attachment owns a
 * slot guarded by a kernel-released object, and a waiter that finds the holder's slot
 * released (or reassigned) takes the lock over and reports it as abandoned. The OS parts
 * (sleeping, waking, slot liveness) are a {@link LockSleeper}: a shared futex and OFD locks on
 * Linux ({@link futexSleeper}), a named semaphore and named mutexes on Windows
 * (lib/backends/win32-file.ts). The protocol is written up in docs/format.md.
 * @packageDocumentation
 */
import { C, native } from './native.js';
import { Layout, MAX_GENERATION, slotLockByte, slotOfToken } from './format.js';
import { negErrno } from './errors.js';

/** What an acquisition attempt ended with. @internal */
export type LockOutcome = 'acquired' | 'abandoned' | 'timeout';

const LOCK_INDEX = Layout.LOCK_WORD_OFFSET / 4;
const WAITERS = Layout.WAITERS_BIT | 0; // as int32: negative
const SPINS = 64;
/**
 * How long a waiter sleeps before it checks that the holder is alive (docs/format.md §7). A
 * live unlock wakes a sleeper at once, so the slice only bounds how long a dead holder goes
 * unnoticed; long enough that its timer is rarely the CPU's next event (arming and cancelling
 * that one costs a hand-off 10 µs or more on a virtual machine).
 */
const SLICE_MS = 50;
const ETIMEDOUT = negErrno('ETIMEDOUT');

/** The OS side of the header lock. @internal */
export interface LockSleeper {
  /** Sleeps while the lock word equals `expected`, at most `ms`; true when the time ran out. */
  wait(expected: number, ms: number): boolean;
  /** The same off the event loop. */
  waitAsync(expected: number, ms: number): Promise<boolean>;
  /** Wakes up to `count` sleepers. */
  wake(count: number): void;
  /** Whether some live attachment still owns slot `slot` (on an error: true, never steal). */
  slotAlive(slot: number): boolean;
}

/** Linux: a shared futex on the lock word, slot liveness from OFD locks on the slot bytes. @internal */
export function futexSleeper(header: ArrayBuffer, fd: number, slotTable: number): LockSleeper {
  const off = Layout.LOCK_WORD_OFFSET;
  return {
    wait: (expected, ms) => native.futexWait(header, off, expected, ms) === ETIMEDOUT,
    waitAsync: async (expected, ms) => (await native.futexWaitAsync(header, off, expected, ms)) === ETIMEDOUT,
    wake: (count) => void native.futexWake(header, off, count),
    slotAlive: (slot) => {
      const r = native.ofdGetLock(fd, C.F_WRLCK, slotLockByte(slotTable, slot), 1);
      return r < 0 || r !== C.F_UNLCK;
    },
  };
}

/** The lock protocol bound to one attachment (one token). @internal */
export class HeaderLock {
  readonly #words: Int32Array;
  readonly #sleeper: LockSleeper;
  readonly #slotTable: number;
  readonly #slotCount: number;
  readonly #slot: number;
  /**
   * This attachment's holder token (bit 31 clear), or 0 until it is first needed: it is made
   * and published in the slot entry on the first lock attempt, always before the lock word
   * can name it, so a waiter checking a holder always finds the holder's token published
   * (docs/format.md §6). An attachment that never locks never writes to the header.
   */
  token = 0;

  /** `token`: one already published in the slot's entry (0: make one at the first lock). */
  constructor(words: Int32Array, slotTable: number, slotCount: number, slot: number, sleeper: LockSleeper, token = 0) {
    this.#words = words;
    this.#sleeper = sleeper;
    this.#slotTable = slotTable;
    this.#slotCount = slotCount;
    this.#slot = slot;
    this.token = token;
  }

  /** One compare-and-swap: 0 → token. */
  readonly tryFast = (): boolean => Atomics.compareExchange(this.#words, LOCK_INDEX, 0, this.token || this.#publishToken()) === 0;

  /** Makes this attachment's token (docs/format.md §6, steps 7 and 8) and publishes it in its slot entry. */
  #publishToken(): number {
    const w = this.#words;
    let gen = 0;
    while (gen === 0) gen = (Atomics.add(w, Layout.TOKEN_COUNTER_OFFSET / 4, 1) + 1) & MAX_GENERATION;
    const token = gen * (1 << Layout.SLOT_BITS) + this.#slot;
    Atomics.store(w, this.#slotTable / 4 + this.#slot, token);
    return (this.token = token);
  }

  /**
   * Blocks until held or `timeoutMs` (< 0: forever) runs out.
   */
  acquire(timeoutMs: number): LockOutcome {
    if (this.tryFast()) return 'acquired';
    const w = this.#words;
    for (let i = 0; i < SPINS; i++) {
      if (Atomics.load(w, LOCK_INDEX) === 0 && this.tryFast()) return 'acquired';
    }
    if (timeoutMs === 0) return 'timeout';
    const deadline = timeoutMs < 0 ? Infinity : performance.now() + timeoutMs;
    for (;;) {
      const step = this.#step();
      if (step !== undefined) return step;
      const v = Atomics.load(w, LOCK_INDEX);
      if ((v & Layout.TOKEN_MASK) === 0 || (v & WAITERS) === 0) continue; // changed under us: try again
      const left = deadline - performance.now();
      if (left <= 0) return this.#giveUp('timeout');
      if (this.#sleeper.wait(v >>> 0, Math.min(SLICE_MS, left))) {
        const taken = this.#takeOverIfDead(v);
        if (taken) return taken;
      }
    }
  }

  /**
   * Waits without blocking the event loop. Resolves to the outcome, or 'timeout'; `aborted()`
   * is polled between waits (the caller wakes the waiters when its signal fires).
   */
  async acquireAsync(timeoutMs: number, aborted: () => boolean): Promise<LockOutcome | 'aborted'> {
    if (this.tryFast()) return 'acquired';
    const deadline = timeoutMs < 0 ? Infinity : performance.now() + timeoutMs;
    for (;;) {
      if (aborted()) return this.#giveUp('aborted');
      const step = this.#step();
      if (step !== undefined) return step;
      const v = Atomics.load(this.#words, LOCK_INDEX);
      if ((v & Layout.TOKEN_MASK) === 0 || (v & WAITERS) === 0) continue;
      const left = deadline - performance.now();
      if (left <= 0) return this.#giveUp('timeout');
      const timedOut = await this.#sleeper.waitAsync(v >>> 0, Math.min(SLICE_MS, left));
      // Detached while waiting (the mapping is gone, its views are length 0): stop, not holding.
      if (this.#words.length === 0) return aborted() ? 'aborted' : 'timeout';
      if (timedOut) {
        if (aborted()) return this.#giveUp('aborted');
        const taken = this.#takeOverIfDead(v);
        if (taken) return taken;
      }
    }
  }

  /**
   * A waiter that leaves without the lock may have consumed the one wake-up an unlock sent;
   * pass it on so no sleeper waits out a whole slice for nothing.
   */
  #giveUp<T extends 'timeout' | 'aborted'>(why: T): T {
    if (Atomics.load(this.#words, LOCK_INDEX) === 0) this.#sleeper.wake(1);
    return why;
  }

  /** Wakes every waiter (they re-check); used when an async waiter is aborted. */
  wakeAll(): void {
    this.#sleeper.wake(0x7fffffff);
  }

  /**
   * One step of the contended protocol: take a free word (marking it contended, since others
   * may sleep), or set the waiters bit on a held one. Returns the outcome when acquired.
   */
  #step(): LockOutcome | undefined {
    const w = this.#words;
    const v = Atomics.load(w, LOCK_INDEX);
    if ((v & Layout.TOKEN_MASK) === 0) {
      // Free (0), or a waiters bit with no holder (only a corrupt word looks like that).
      return Atomics.compareExchange(w, LOCK_INDEX, v, this.token | WAITERS) === v ? 'acquired' : undefined;
    }
    if ((v & WAITERS) === 0) Atomics.compareExchange(w, LOCK_INDEX, v, v | WAITERS);
    return undefined;
  }

  /** If the holder recorded in `v` is dead, swap the word to us and report 'abandoned'. */
  #takeOverIfDead(v: number): LockOutcome | undefined {
    const holder = v & Layout.TOKEN_MASK;
    // Our own token: another pending acquisition of this attachment (a second lockAsync) holds
    // it. Never probe ourselves: F_OFD_GETLK does not see our own OFD's lock (nor does a
    // recursive Windows mutex), so we would look dead and "take over" from ourselves.
    if (holder === this.token) return 'acquired';
    if (holder === 0 || this.holderAlive(holder)) return undefined;
    return Atomics.compareExchange(this.#words, LOCK_INDEX, v, this.token | WAITERS) === v ? 'abandoned' : undefined;
  }

  /**
   * A holder is alive while its slot still records its token and the slot's kernel object
   * (an OFD lock, a named mutex) is held. Both are released by the kernel or reassigned when it dies.
   */
  holderAlive(holder: number): boolean {
    return holderAlive(this.#words, this.#slotTable, this.#slotCount, holder, (slot) => this.#sleeper.slotAlive(slot));
  }

  /** Releases a lock this token holds; false if the word does not name us. */
  release(): boolean {
    const w = this.#words;
    if (w.length === 0 || this.token === 0) return false; // unmapped (detach() released it), or never locked
    if (Atomics.compareExchange(w, LOCK_INDEX, this.token, 0) === this.token) return true; // uncontended
    for (;;) {
      const v = Atomics.load(w, LOCK_INDEX);
      if ((v & Layout.TOKEN_MASK) !== this.token) return false;
      if (Atomics.compareExchange(w, LOCK_INDEX, v, 0) !== v) continue;
      if (v & WAITERS) this.#sleeper.wake(1);
      return true;
    }
  }

  /** Whether the word currently names this token. */
  isHeldByMe(): boolean {
    return this.token !== 0 && this.#words.length > 0 && (Atomics.load(this.#words, LOCK_INDEX) & Layout.TOKEN_MASK) === this.token;
  }
}

/**
 * Whether the attachment with token `holder` is alive: its slot entry in `words` (the mapped
 * header) still records the token and `slotAlive` says the slot's kernel object is held (an
 * OFD lock on Linux, a named mutex on Windows). The one liveness rule (docs/format.md §8), used by the lock and by the
 * read-only inspector (lib/inspect.ts). On an error it answers alive: never steal a live lock.
 * @internal
 */
export function holderAlive(words: Int32Array, slotTable: number, slotCount: number, holder: number,
  slotAlive: (slot: number) => boolean): boolean {
  const slot = slotOfToken(holder);
  if (slot >= slotCount) return false;
  if (Atomics.load(words, slotTable / 4 + slot) !== holder) return false;
  return slotAlive(slot);
}
