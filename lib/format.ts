// SPDX-License-Identifier: MIT
/**
 * The one definition of the segment file header used by the `file` and `memfd` backends.
 * docs/format.md describes it for C and Python peers; `cHeaderText()` generates the C header
 * the C test peer compiles against, so the two cannot disagree.
 *
 * Fixed fields are little-endian; the lock word, token counter and slot table are 32-bit words
 * used atomically in host order, so only little-endian hosts are supported (x86-64, arm64,
 * riscv64 as Linux runs them). Offsets are in bytes from the start of the file.
 * @packageDocumentation
 */

/** The 8 magic bytes at offset 0: "QSHMSEG" followed by NUL. */
export const MAGIC = Buffer.from('QSHMSEG\0', 'latin1');

/** Layout constants and field offsets. */
export const Layout = {
  /** Offset of the 8-byte magic. */
  MAGIC_OFFSET: 0,
  /** u32: format version, currently 1. */
  VERSION_OFFSET: 8,
  /** u32: header size = offset of the data region; a multiple of 4096. */
  HEADER_SIZE_OFFSET: 12,
  /** u64: data size in bytes, exactly what create() was asked for. */
  DATA_SIZE_OFFSET: 16,
  /** u32: the lock word (futex). 0 = free; else holder token, bit 31 = waiters. */
  LOCK_WORD_OFFSET: 24,
  /** u32: token generation counter, incremented atomically by each attachment. */
  TOKEN_COUNTER_OFFSET: 28,
  /** u32: number of attachment slots. */
  SLOT_COUNT_OFFSET: 32,
  /** u32: offset of the slot table (one u32 token per slot). */
  SLOT_TABLE_OFFSET_OFFSET: 36,
  /** u32: flags, reserved, 0. */
  FLAGS_OFFSET: 40,
  /** Byte locked (OFD lock) shared by every attachment: presence. Exclusive = "nobody else attached". */
  PRESENCE_LOCK_BYTE: 0,
  /** Format version written by this library. */
  VERSION: 1,
  /** Slot table offset written by this library. */
  SLOT_TABLE_OFFSET: 2048,
  /** Slots written by this library (max attachments per segment). */
  SLOT_COUNT: 512,
  /** Bits of a token that hold the slot index. */
  SLOT_BITS: 9,
  /** Header size written by this library (at least one page). */
  HEADER_SIZE: 4096,
  /** Largest header size accepted from a file. */
  MAX_HEADER_SIZE: 1 << 20,
  /** Bit 31 of the lock word: someone may be sleeping on it. */
  WAITERS_BIT: 0x80000000,
  /** Mask of the holder token in the lock word. */
  TOKEN_MASK: 0x7fffffff,
} as const;

/** Max generation number in a token (22 bits). */
export const MAX_GENERATION = Layout.TOKEN_MASK >>> Layout.SLOT_BITS;

/** The slot index a holder token names (its low SLOT_BITS bits). */
export function slotOfToken(token: number): number {
  return token & ((1 << Layout.SLOT_BITS) - 1);
}

/** OFD lock byte of slot `i`: the first byte of its slot-table entry. */
export function slotLockByte(slotTableOffset: number, i: number): number {
  return slotTableOffset + 4 * i;
}

/**
 * Writes a fresh header for `dataSize` bytes of data into `b` (the first HEADER_SIZE bytes of a
 * zero-filled segment), the magic last: a valid magic means a complete header. @internal
 */
export function writeFreshHeader(b: Buffer, dataSize: number): void {
  b.writeUInt32LE(Layout.VERSION, Layout.VERSION_OFFSET);
  b.writeUInt32LE(Layout.HEADER_SIZE, Layout.HEADER_SIZE_OFFSET);
  b.writeBigUInt64LE(BigInt(dataSize), Layout.DATA_SIZE_OFFSET);
  b.writeUInt32LE(Layout.SLOT_COUNT, Layout.SLOT_COUNT_OFFSET);
  b.writeUInt32LE(Layout.SLOT_TABLE_OFFSET, Layout.SLOT_TABLE_OFFSET_OFFSET);
  MAGIC.copy(b, Layout.MAGIC_OFFSET);
}

/** The C header with the same constants, for C peers (generated, never hand-written). */
export function cHeaderText(): string {
  const lines = [
    '/* Generated from lib/format.ts by qshm. Do not edit. */',
    '#ifndef QSHM_FORMAT_H',
    '#define QSHM_FORMAT_H',
    '#define QSHM_MAGIC "QSHMSEG" /* followed by one NUL byte: 8 bytes */',
  ];
  for (const [k, v] of Object.entries(Layout)) lines.push(`#define QSHM_${k} ${v}u`);
  lines.push(`#define QSHM_MAX_GENERATION ${MAX_GENERATION}u`, '#endif', '');
  return lines.join('\n');
}
