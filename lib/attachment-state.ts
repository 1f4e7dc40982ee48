// SPDX-License-Identifier: MIT
/**
 * What a `QSharedMemory` holds — its attachment, whether it holds the lock, its last error —
 * kept apart from the object so it can be released when the object is collected or the
 * process (or worker) exits, as Qt's destructor detaches.
 * @packageDocumentation
 */
import type { QshmError } from './errors.js';
import type { Attachment, SegmentLock } from './backends/backend.js';

/** Per-object state that outlives the object for cleanup (never references the object). @internal */
export interface State {
  att: Attachment | null;
  /**
   * `att.lock` once lock() has found it fixed for the attachment's life and with a one-CAS
   * path (`tryFast`), for QSharedMemory's inlined hot path; null otherwise. Never set while
   * `att` is null, and cleared whenever `att` changes.
   */
  fast: SegmentLock | null;
  /** Whether this object holds the lock. */
  held: boolean;
  /** Whether the last acquisition took over the lock of a holder that died. */
  abandoned: boolean;
  /** The last error, or null. */
  error: QshmError | null;
}

const collected = new FinalizationRegistry<State>((s) => releaseState(s));

/** A fresh state, registered for release when `owner` is collected. @internal */
export function newState(owner: object): State {
  const s: State = { att: null, fast: null, held: false, abandoned: false, error: null };
  collected.register(owner, s, owner);
  return s;
}

const live = new Set<State>();

/** Records a new attachment in `s`. @internal */
export function attachState(s: State, att: Attachment): void {
  s.att = att;
  s.fast = null;
  s.held = false;
  live.add(s);
}

/** Releases what a state holds: the lock if held, then the attachment. @internal */
export function releaseState(s: State): void {
  const att = s.att;
  if (!att) return;
  if (s.held) {
    s.held = false;
    att.lock?.release();
  }
  s.att = null;
  s.fast = null;
  live.delete(s);
  att.detach();
}

// Qt's destructor semantics: normal exit (of the process or of a worker thread) detaches.
process.on('exit', () => {
  for (const s of [...live]) releaseState(s);
});
