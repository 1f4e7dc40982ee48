// SPDX-License-Identifier: MIT
/**
 * Attaching and locking for `qshm lock` and `qshm write`, in a child process. Qt's System V
 * and POSIX protocols take the lock inside attach() itself and wait for it as long as its
 * holder keeps it, in a system call JavaScript cannot interrupt (nor can a worker thread be
 * stopped in it). In a child, `qshm` keeps its timer (`--timeout`, exit 75: the child is then
 * killed) and its signal handlers while the child waits. The child lets go of the lock when
 * `qshm` goes away, however it goes (its IPC channel closes).
 * @packageDocumentation
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { QshmError, SharedMemoryError } from '../errors.js';
import type { QSharedMemory } from '../shared-memory.js';
import { CliError, Exit, exitKeeping, fromQshm, refused, shmFor } from './common.js';
import type { Entry } from './scan.js';

type Failure = { ok: false; status: number; errorName: string; message: string };
type Reply = { ok: true; abandoned?: boolean; size?: number } | Failure;
type Request = { op: 'write'; offset: number; data: Uint8Array } | { op: 'unlock' };

/** The lock, held by the child on behalf of the command. */
export interface HeldLock {
  /** The lock was taken over from a holder that died. */
  readonly abandoned: boolean;
  /** The segment's size. */
  readonly size: number;
  /** Copies `data` into the segment at `offset` (refused past the end). */
  write(offset: number, data: Uint8Array): Promise<void>;
  /** Releases the lock and ends the process that held it (without detaching). */
  unlock(): Promise<void>;
}

/** Extra time given to a child whose own timed wait is running out. */
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
  const child: ChildProcess = fork(fileURLToPath(import.meta.url), [], {
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'], serialization: 'advanced',
    env: { ...process.env, QSHM_CLI_LOCKER: JSON.stringify({ entry, timeoutMs: timeoutMs ?? null }) },
  });
  const next = () => new Promise<Reply>((resolve) => {
    const onMessage = (m: Reply) => {
      child.off('exit', onExit);
      resolve(m);
    };
    const onExit = (code: number | null, signal: string | null) => {
      child.off('message', onMessage);
      resolve({ ok: false, status: Exit.REFUSED, errorName: 'UnknownError', message: `the locking process ended (${signal ?? code})` });
    };
    child.once('message', onMessage);
    child.once('exit', onExit);
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const fail = async (r: Failure): Promise<never> => {
    child.kill('SIGKILL'); // it may be stuck waiting in attach(): it holds nothing then
    await exited;
    throw new CliError(r.status, r.errorName, r.message);
  };
  // The child says when it starts to attach: starting it is not part of the wait.
  const started = await next();
  if (!started.ok) await fail(started);
  const first = await new Promise<Reply>((resolve) => {
    const timer = timeoutMs === undefined ? null : setTimeout(() => resolve(timedOut(entry, timeoutMs)), timeoutMs + GRACE_MS);
    void next().then((r) => {
      if (timer) clearTimeout(timer);
      resolve(r);
    });
  });
  if (!first.ok) await fail(first);
  const call = async (req: Request) => {
    const reply = next();
    child.send(req);
    const r = await reply;
    if (!r.ok) throw new CliError(r.status, r.errorName, r.message);
  };
  const held = first as { abandoned?: boolean; size?: number };
  return {
    abandoned: !!held.abandoned,
    size: held.size!,
    write: (offset, data) => call({ op: 'write', offset, data }),
    unlock: async () => {
      try {
        await call({ op: 'unlock' });
      } finally {
        // Gone before qshm exits: whoever runs next sees only the attachments that remain.
        child.kill('SIGKILL');
        await exited;
      }
    },
  };
}

function runChild(entry: Entry, timeoutMs: number | null): void {
  const send = (r: Reply) => process.send!(r);
  let held: QSharedMemory | null = null;
  process.on('message', (req: Request) => {
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
      send({ ok: true });
    } catch (e) {
      send(failure(e));
    }
  });
  // qshm went away (ended, or was killed): let go of the lock and leave without detaching, as
  // every command does (common.ts, exitKeeping).
  // Signals from the terminal reach the whole process group: qshm passes them on to the
  // command, and this process lets go only when qshm does.
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'] as const) process.on(sig, () => {});
  process.on('error', () => {}); // a reply after qshm went away: the disconnect handler follows
  process.on('disconnect', () => {
    held?.unlock();
    exitKeeping(0);
  });
  send({ ok: true });
  const started = performance.now();
  try {
    const shm = shmFor(entry);
    if (!shm.attach()) throw fromQshm(shm.lastError(), shm.errorString());
    const ok = timeoutMs === null ? shm.lock() : shm.tryLock(Math.max(0, timeoutMs - (performance.now() - started)));
    if (!ok) {
      // tryLock() returns false with no error when the time ran out.
      send(shm.error() === SharedMemoryError.NoError ? timedOut(entry, timeoutMs ?? 0) : failure(fromQshm(shm.lastError(), shm.errorString())));
      return;
    }
    held = shm;
    send({ ok: true, abandoned: shm.lockWasAbandoned(), size: shm.size() });
  } catch (e) {
    send(failure(e));
  }
}

if (process.env.QSHM_CLI_LOCKER && process.send) {
  const d = JSON.parse(process.env.QSHM_CLI_LOCKER) as { entry: Entry; timeoutMs: number | null };
  delete process.env.QSHM_CLI_LOCKER;
  runChild(d.entry, d.timeoutMs);
}
