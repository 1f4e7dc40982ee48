// SPDX-License-Identifier: MIT
/**
 * What the `qshm` command's modules share: exit statuses, the one-line error, opening a found
 * segment through the library, and leaving without detaching.
 * @packageDocumentation
 */
import { QSharedMemory } from '../shared-memory.js';
import { QNativeIpcKey, IpcKeyType } from '../nativeipckey.js';
import { type QshmError, SharedMemoryError } from '../errors.js';
import type { Entry } from './scan.js';

/** Exit statuses (docs/cli.md). */
export const Exit = { OK: 0, REFUSED: 1, USAGE: 2, TIMEOUT: 75 } as const;

/** A failure that ends the command: one stderr line (`errorName: message`), then `status`. */
export class CliError extends Error {
  constructor(readonly status: number, readonly errorName: string, message: string) {
    super(message);
  }
}

/** A usage error (exit 2). */
export const usage = (msg: string) => new CliError(Exit.USAGE, 'UsageError', msg);
/** A refusal or a missing segment (exit 1), named by Qt's error. */
export const refused = (qt: SharedMemoryError, msg: string) => new CliError(Exit.REFUSED, SharedMemoryError[qt], msg);

/** The library's error as a refusal. */
export function fromQshm(e: QshmError | null, fallback: string): CliError {
  if (!e) return new CliError(Exit.REFUSED, 'UnknownError', fallback);
  return new CliError(Exit.REFUSED, SharedMemoryError[e.qtError], e.message);
}

/**
 * A QSharedMemory for a found entry, set up so that it shares the lock with the segment's
 * other users: Qt's System V and POSIX segments need their key (the semaphore derives from it).
 */
export function shmFor(e: Entry): QSharedMemory {
  switch (e.backend) {
    case 'file':
    case 'memfd': {
      const shm = new QSharedMemory(undefined, { backend: e.backend });
      shm.setNativeKey(e.path!);
      return shm;
    }
    case 'sysv':
    case 'posix':
      if (e.origin === 'qt') {
        if (e.key === null) {
          throw refused(SharedMemoryError.KeyError, `${e.path ?? e.name} is a Qt segment: name it by its key (Qt's lock semaphore is derived from the key, not from the name)`);
        }
        return new QSharedMemory(e.key, { backend: e.backend });
      }
      return new QSharedMemory(new QNativeIpcKey(e.name, IpcKeyType.PosixRealtime));
    default:
      throw refused(SharedMemoryError.KeyError, `${e.name} is not a segment qshm can attach to (${e.note ?? 'foreign'})`);
  }
}

/**
 * Ends the process without detaching: a command that only looked at or wrote into a segment
 * must not remove it as "the last detach" would (file and System V segments). The kernel
 * closes the descriptors and mappings; the lock was released before. Skips the library's exit
 * handler, which would detach.
 */
export function exitKeeping(status: number): never {
  const really = (process as unknown as { reallyExit?: (code: number) => never }).reallyExit;
  if (really) really.call(process, status);
  // Never through the library's exit handler: a command must not remove what it only looked
  // at (see exitKeeping); `create --hold` detaches explicitly before it gets here.
  exitKeeping(status);
}
