// SPDX-License-Identifier: MIT
/**
 * Attaching and locking for `qshm lock` and `qshm write`, in a worker thread. Qt's System V
 * and POSIX protocols take the lock inside attach() itself and wait for it as long as its
 * holder keeps it, in a system call JavaScript cannot interrupt; in a worker, the main thread
 * keeps its timer (`--timeout`, exit 75) and its signal handlers while the worker waits.
 * @packageDocumentation
 */
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { QshmError, SharedMemoryError } from '../errors.js';
import type { QSharedMemory } from '../shared-memory.js';
import { CliError, Exit, fromQshm, refused, shmFor } from './common.js';
import type { Entry } from './scan.js';

type Failure = { ok: false; status: number; errorName: string; message: string };
type Reply = { ok: true; abandoned?: boolean; size?: number } | Failure;
type Request = { op: 'write'; offset: number; data: Uint8Array } | { op: 'unlock' };

/** The lock, held by the worker on behalf of the command. */
export interface HeldLock {
  /** The lock was taken over from a holder that died. */
  readonly abandoned: boolean;
  /** The segment's size. */
  readonly size: number;
  /** Copies `data` into the segment at `offset` (refused past the end). */
  write(offset: number, data: Uint8Array): Promise<void>;
  /** Releases the lock. */
  unlock(): Promise<void>;
}

/** Extra time the main thread gives a worker whose own timed wait is running out. */
const GRACE_MS = 100;

function failure(e: unknown): Failure {
  if (e instanceof CliError) return { ok: false, status: e.status, errorName: e.errorName, message: e.message };
  if (e instanceof QshmError) return { ok: false, status: Exit.REFUSED, errorName: SharedMemoryError[e.qtError], message: e.message };
  return { ok: false, status: Exit.REFUSED, errorName: 'UnknownError', message: String((e as Error)?.message ?? e) };
}

const timedOut = (e: Entry, ms: number): Failure => ({
  ok: false, status: Exit.TIMEOUT, errorName: 'LockError', message: `the lock of ${e.path ?? e.name} was not free within ${ms} ms`,
});

/**
 * Attaches to `entry` read-write in a worker and takes its lock, waiting at most `timeoutMs`
 * (undefined: for ever) for both. Throws a CliError (exit 75 on timeout).
 */
export async function lockSegment(entry: Entry, timeoutMs?: number): Promise<HeldLock> {
  const worker = new Worker(fileURLToPath(import.meta.url), { workerData: { qshmLocker: true, entry, timeoutMs: timeoutMs ?? null } });
  const next = () => new Promise<Reply>((resolve) => {
    worker.once('message', resolve);
    worker.once('error', (e) => resolve(failure(e)));
  });
  // The worker says when it starts to attach: loading it is not part of the wait.
  const started = await next();
  if (!started.ok) throw new CliError(started.status, started.errorName, started.message);
  const first = await new Promise<Reply>((resolve) => {
    const timer = timeoutMs === undefined ? null : setTimeout(() => resolve(timedOut(entry, timeoutMs)), timeoutMs + GRACE_MS);
    void next().then((r) => {
      if (timer) clearTimeout(timer);
      resolve(r);
    });
  });
  if (!first.ok) throw new CliError(first.status, first.errorName, first.message);
  const call = async (req: Request) => {
    const reply = next();
    worker.postMessage(req);
    const r = await reply;
    if (!r.ok) throw new CliError(r.status, r.errorName, r.message);
  };
  return {
    abandoned: !!first.abandoned,
    size: first.size!,
    write: (offset, data) => call({ op: 'write', offset, data }),
    unlock: () => call({ op: 'unlock' }),
  };
}

function runWorker(entry: Entry, timeoutMs: number | null): void {
  const port = parentPort!;
  let held: QSharedMemory | null = null;
  // Listening from the start keeps the worker alive whatever happens: it never ends on its own,
  // so the library's exit handler never detaches here (the main thread leaves with exitKeeping).
  port.on('message', (req: Request) => {
    try {
      const shm = held;
      if (!shm) throw refused(SharedMemoryError.LockError, 'the lock is not held');
      if (req.op === 'write') {
        if (req.offset + req.data.length > shm.size()) {
          throw refused(SharedMemoryError.InvalidSize,
            `${req.data.length} bytes at offset ${req.offset} run past the end of the ${shm.size()}-byte segment; nothing written`);
        }
        shm.data()!.set(req.data, req.offset);
      } else {
        shm.unlock();
      }
      port.postMessage({ ok: true } satisfies Reply);
    } catch (e) {
      port.postMessage(failure(e));
    }
  });
  port.postMessage({ ok: true } satisfies Reply);
  const started = performance.now();
  try {
    const shm = shmFor(entry);
    if (!shm.attach()) throw fromQshm(shm.lastError(), shm.errorString());
    const ok = timeoutMs === null ? shm.lock() : shm.tryLock(Math.max(0, timeoutMs - (performance.now() - started)));
    if (!ok) {
      // tryLock() returns false with no error when the time ran out.
      port.postMessage(shm.error() === SharedMemoryError.NoError ? timedOut(entry, timeoutMs ?? 0) : failure(fromQshm(shm.lastError(), shm.errorString())));
      return;
    }
    port.postMessage({ ok: true, abandoned: shm.lockWasAbandoned(), size: shm.size() } satisfies Reply);
    held = shm;
  } catch (e) {
    port.postMessage(failure(e));
  }
}

if (!isMainThread && (workerData as { qshmLocker?: boolean } | null)?.qshmLocker) {
  const d = workerData as { entry: Entry; timeoutMs: number | null };
  runWorker(d.entry, d.timeoutMs);
}
