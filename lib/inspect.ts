// SPDX-License-Identifier: MIT
/**
 * A read-only look at a segment with the qshm header (`file` and `memfd` backends) without
 * attaching to it: no presence lock, no slot, nothing written. The header is validated by the
 * backends' own check, fields are read at the offsets of lib/format.ts, and liveness uses the
 * lock's own rule; only the `qshm` command uses this.
 * @packageDocumentation
 */
import { C, fstat, native } from './native.js';
import { Layout, slotLockByte, slotOfToken } from './format.js';
import { check } from './errors.js';
import { validateHeader } from './backends/header-segment.js';
import { futexSleeper, holderAlive } from './lock.js';

/** One attachment slot that is in use or was used by an attachment that died. @internal */
export interface SlotReport {
  /** Slot index. */
  slot: number;
  /** The token recorded in the slot (0: none). */
  token: number;
  /** Whether some open file description holds the slot's OFD lock (its owner is alive). */
  alive: boolean;
}

/** The decoded header of a qshm segment and the liveness of its attachments. @internal */
export interface HeaderReport {
  version: number;
  headerSize: number;
  dataSize: number;
  slotTable: number;
  slotCount: number;
  flags: number;
  tokenCounter: number;
  /** The raw lock word (u32). */
  lockWord: number;
  /** `free`, `held` (by a live attachment) or `held-dead` (its holder died: the next locker takes it over as abandoned). */
  lock: 'free' | 'held' | 'held-dead';
  /** The holder named by the lock word, or null when free. */
  holder: { token: number; slot: number; waiters: boolean } | null;
  /** Whether any attachment holds the shared presence lock (someone live is attached). */
  present: boolean;
  /** Slots with a token or a held lock byte. */
  slots: SlotReport[];
  /** Number of slots whose owner is alive. */
  liveSlots: number;
}

function locked(fd: number, byte: number): boolean {
  const r = native.ofdGetLock(fd, C.F_WRLCK, byte, 1);
  return r < 0 || r !== C.F_UNLCK; // unsure: say held, never call a live attachment dead
}

/**
 * Decodes the header of the segment open on `fd` (any access mode; the caller keeps the
 * descriptor, and must hold no lock on it, since OFD lock queries do not see the caller's own).
 * Throws the backends' QshmError (`ERR_QSHM_BAD_HEADER`, …) for anything that is not a valid
 * qshm segment. @internal
 */
export function inspectHeader(fd: number, fn: string, path?: string): HeaderReport {
  const st = check(fstat(fd), fn, 'fstat', path);
  const page = Buffer.alloc(Layout.HEADER_SIZE);
  if (st.size >= Layout.HEADER_SIZE) {
    const map = check(native.mmap(fd, Layout.HEADER_SIZE, C.PROT_READ, 0), fn, 'mmap', path);
    try {
      // One snapshot: the live words may change while we decode.
      Buffer.from(map).copy(page);
    } finally {
      native.unmap(map);
    }
  }
  const info = validateHeader(page, st.size, fn, path);
  const words = new Int32Array(page.buffer, page.byteOffset, page.length / 4);
  const lockWord = page.readUInt32LE(Layout.LOCK_WORD_OFFSET);
  const token = lockWord & Layout.TOKEN_MASK;
  const slots: SlotReport[] = [];
  let liveSlots = 0;
  for (let i = 0; i < info.slotCount; i++) {
    const t = words[info.slotTable / 4 + i] >>> 0;
    const alive = locked(fd, slotLockByte(info.slotTable, i));
    if (alive) liveSlots++;
    if (t !== 0 || alive) slots.push({ slot: i, token: t, alive });
  }
  let lock: HeaderReport['lock'] = 'free';
  if (token !== 0) {
    lock = holderAlive(words, info.slotTable, info.slotCount, token, (slot) => futexSleeper(words.buffer, fd, info.slotTable).slotAlive(slot)) ? 'held' : 'held-dead';
  }
  return {
    version: page.readUInt32LE(Layout.VERSION_OFFSET),
    headerSize: info.headerSize,
    dataSize: info.dataSize,
    slotTable: info.slotTable,
    slotCount: info.slotCount,
    flags: page.readUInt32LE(Layout.FLAGS_OFFSET),
    tokenCounter: page.readUInt32LE(Layout.TOKEN_COUNTER_OFFSET),
    lockWord,
    lock,
    holder: token === 0 ? null : { token, slot: slotOfToken(token), waiters: (lockWord & Layout.WAITERS_BIT) !== 0 },
    present: locked(fd, Layout.PRESENCE_LOCK_BYTE),
    slots,
    liveSlots,
  };
}

/**
 * Opens `path` read-only (never following a symbolic link), decodes it with
 * {@link inspectHeader} and closes it. @internal
 */
export function inspectPath(path: string, fn: string): HeaderReport {
  const fd = check(native.open(path, C.O_RDONLY | C.O_CLOEXEC | C.O_NOFOLLOW, 0), fn, 'open', path);
  try {
    return inspectHeader(fd, fn, path);
  } finally {
    native.close(fd);
  }
}
