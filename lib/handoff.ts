// SPDX-License-Identifier: MIT
/**
 * Handing a `memfd` segment to another process: to a child through a `child_process.spawn`
 * stdio slot ({@link spawnWithSegment}, child side `QSharedMemory.fromInherited()`), to an
 * unrelated process over a Unix domain socket with SCM_RIGHTS ({@link sendSegment},
 * {@link listenForSegments}, {@link receiveSegment}), or by `/proc/<pid>/fd/<n>`
 * ({@link fromProcessFd}). See docs/handoff.md.
 *
 * What travels is always a fresh open file description made for the purpose (never the
 * sender's own descriptor, whose OFD carries the sender's liveness locks), opened
 * close-on-exec so nothing else inherits it; the receiver attaches with its own OFD too.
 * @packageDocumentation
 */
import { spawn, type ChildProcess, type SpawnOptions, type StdioOptions } from 'node:child_process';
import { chmodSync, lstatSync, unlinkSync } from 'node:fs';
import { createConnection } from 'node:net';
import { C, native } from './native.js';
import { QshmErrorCode, AccessMode, QshmError, SharedMemoryError, argTypeError, check, checkAccessMode, checkInteger, errnoName, qshmError, sysError } from './errors.js';
import { QSharedMemory } from './shared-memory.js';
import { QSHM_FD_ENV } from './backends/memfd.js';

export { QSHM_FD_ENV };

/** First bytes of the message qshm sends with a descriptor (so an empty message is distinguishable). */
const FRAME = Buffer.from('QSH1', 'latin1');
/** Largest message the receiver takes with a descriptor (its buffer is 4096 bytes). */
export const MAX_SEGMENT_MESSAGE = 4096 - FRAME.length;
/** Wait slice of accept(): how soon close() and abort signals are noticed. */
const ACCEPT_SLICE_MS = 200;


/**
 * A descriptor to hand over: a new open file description of `shm`'s memfd (read-only if
 * asked), close-on-exec. Falls back to a duplicate where /proc is unavailable; a receiver
 * using `fromFd` then keeps that shared OFD out of the lock, so liveness stays sound.
 */
function carrierFd(shm: QSharedMemory, readOnly: boolean, fn: string): number {
  if (!(shm instanceof QSharedMemory)) throw argTypeError('shm', 'a QSharedMemory', shm);
  const fd = shm.fd();
  if (fd < 0) {
    throw shm.isAttached()
      ? qshmError(SharedMemoryError.UnknownError, `${fn}: only memfd segments can be handed over by descriptor`, QshmErrorCode.NotMemfd)
      : qshmError(SharedMemoryError.UnknownError, `${fn}: not attached`, QshmErrorCode.NotAttached);
  }
  const path = `/proc/self/fd/${fd}`;
  const c = native.open(path, (readOnly ? C.O_RDONLY : C.O_RDWR) | C.O_CLOEXEC, 0);
  if (c >= 0) return c;
  if (readOnly) {
    throw sysError(fn, c, 'open', path, [SharedMemoryError.UnknownError, 'handing over read-only needs /proc/self/fd']);
  }
  return check(native.dup(fd), fn, 'fcntl(F_DUPFD_CLOEXEC)');
}

// ---- to a child process ----

/** Options of {@link spawnWithSegment}: `child_process.spawn`'s, plus two. */
export interface SpawnWithSegmentOptions extends SpawnOptions {
  /**
   * Hand over a read-only descriptor: the child can attach only ReadOnly and cannot lock.
   * (A determined child could still reopen it writable through /proc; seal `futureWrite`
   * to have the kernel enforce read-only.) Default false.
   */
  readOnly?: boolean;
  /** Environment variable that tells the child the descriptor number. Default `QSHM_FD`. */
  envVar?: string;
}

function stdioSlots(stdio: StdioOptions | undefined): unknown[] {
  if (stdio === undefined) return ['pipe', 'pipe', 'pipe'];
  if (typeof stdio === 'string') return [stdio, stdio, stdio];
  if (!Array.isArray(stdio)) throw argTypeError('options.stdio', 'a string or an array', stdio);
  const slots: unknown[] = [...stdio];
  while (slots.length < 3) slots.push(undefined); // spawn's default for 0–2: 'pipe'
  return slots;
}

/** Array.isArray without its `any[]` narrowing. */
const isArray = (v: unknown): boolean => Array.isArray(v);

/**
 * Spawns `command` with the attached memfd segment `shm` in the first `stdio` slot after the
 * ones in `options.stdio` (descriptor 3 with the default stdio), and the environment variable
 * `QSHM_FD` (or `options.envVar`) set to that number. The child attaches with
 * `QSharedMemory.fromInherited()` (Node) or maps that descriptor itself (any language; the
 * header layout is in docs/format.md).
 *
 * The child gets a new open file description of the segment, so it shares none of this
 * process's liveness locks; the descriptor is close-on-exec in this process and closed here
 * once the child has it, so no other child ever sees it.
 * @returns the ChildProcess, as from `spawn`.
 * @throws QshmError when `shm` is not an attached memfd segment.
 */
export function spawnWithSegment(shm: QSharedMemory, command: string, args: readonly string[] = [],
  options: SpawnWithSegmentOptions = {}): ChildProcess {
  if (typeof command !== 'string') throw argTypeError('command', 'of type string', command);
  if (!isArray(args)) throw argTypeError('args', 'an array', args);
  if (options === null || typeof options !== 'object') throw argTypeError('options', 'an object', options);
  const { readOnly = false, envVar = QSHM_FD_ENV, ...spawnOptions } = options;
  if (typeof readOnly !== 'boolean') throw argTypeError('options.readOnly', 'of type boolean', readOnly);
  if (typeof envVar !== 'string' || envVar === '') throw argTypeError('options.envVar', 'a non-empty string', envVar);
  const slots = stdioSlots(spawnOptions.stdio);
  const fd = carrierFd(shm, readOnly, 'spawnWithSegment');
  try {
    const slot = slots.length;
    slots.push(fd);
    const env = { ...(spawnOptions.env ?? process.env), [envVar]: String(slot) };
    // spawn() returns once the child has exec'd (or failed to), so its copy exists by then.
    return spawn(command, [...args], { ...spawnOptions, stdio: slots as StdioOptions, env });
  } finally {
    native.close(fd);
  }
}

// ---- by /proc/<pid>/fd/<n> ----

/**
 * Attaches the memfd segment that process `pid` has open as descriptor `fd`, by opening
 * `/proc/<pid>/fd/<fd>`: same user, and where the kernel allows it (ptrace read access; not
 * for non-dumpable processes). Never gains access the target's descriptor lacks. The same is
 * available as `setNativeKey('/proc/<pid>/fd/<fd>')` + `attach()` on a `'memfd'` object.
 * @throws QshmError (NotFound: no such process or descriptor; PermissionDenied; as `fromFd`).
 */
export function fromProcessFd(pid: number, fd: number, mode: AccessMode = AccessMode.ReadWrite): QSharedMemory {
  checkInteger('pid', pid, 1, 0x7fffffff, 'a process id (a whole number from 1 to 2^31-1)');
  checkInteger('fd', fd, 0, 0x7fffffff, 'a descriptor (a whole number from 0 to 2^31-1)');
  const shm = new QSharedMemory(undefined, { backend: 'memfd' });
  shm.setNativeKey(`/proc/${pid}/fd/${fd}`);
  if (!shm.attach(mode)) throw shm.lastError()!;
  return shm;
}

// ---- to an unrelated process: SCM_RIGHTS over a Unix domain socket ----

/** Options of {@link sendSegment}. */
export interface SendSegmentOptions {
  /** Send a read-only descriptor (see {@link SpawnWithSegmentOptions.readOnly}). Default false. */
  readOnly?: boolean;
  /** A message that travels with the descriptor (at most {@link MAX_SEGMENT_MESSAGE} bytes). */
  message?: Buffer | string;
}

/**
 * Sends the attached memfd segment `shm` to the process listening on the Unix domain socket
 * `socketPath` ({@link listenForSegments}/{@link receiveSegment}, or any program that
 * receives SCM_RIGHTS). Synchronous: returns once the descriptor is in the receiver's
 * queue, which keeps the memory alive even if this process detaches and exits at once.
 * @throws QshmError (NotFound when nobody listens there; PermissionDenied; …).
 */
export function sendSegment(socketPath: string, shm: QSharedMemory, options: SendSegmentOptions = {}): void {
  const fn = 'sendSegment';
  if (typeof socketPath !== 'string') throw argTypeError('socketPath', 'of type string', socketPath);
  if (options === null || typeof options !== 'object') throw argTypeError('options', 'an object', options);
  const { readOnly = false, message = Buffer.alloc(0) } = options;
  if (typeof message !== 'string' && !Buffer.isBuffer(message)) throw argTypeError('options.message', 'a Buffer or a string', message);
  const body = Buffer.from(message);
  if (body.length > MAX_SEGMENT_MESSAGE) {
    const err = new RangeError(`The "options.message" argument must be at most ${MAX_SEGMENT_MESSAGE} bytes. Received ${body.length}`);
    throw Object.assign(err, { code: 'ERR_OUT_OF_RANGE' });
  }
  const fd = carrierFd(shm, readOnly === true, fn);
  try {
    const r = native.unixSendFd(socketPath, fd, Buffer.concat([FRAME, body]));
    if (r < 0) {
      const name = errnoName(r);
      const override: [SharedMemoryError, string] | undefined = name === 'ECONNREFUSED' || name === 'ENOENT'
        ? [SharedMemoryError.NotFound, `nobody is listening on ${socketPath}`]
        : undefined;
      throw sysError(fn, r, 'connect/sendmsg', socketPath, override);
    }
  } finally {
    native.close(fd);
  }
}

/** What {@link SegmentListener.accept} and {@link receiveSegment} deliver. */
export interface ReceivedSegment {
  /** The segment, attached with its own open file description (see `QSharedMemory.fromFd`). */
  shm: QSharedMemory;
  /** The message the sender attached (empty if none). */
  message: Buffer;
}

/** Options of {@link SegmentListener.accept} and {@link receiveSegment}. */
export interface AcceptOptions {
  /** How to attach the received segment. Default ReadWrite. */
  mode?: AccessMode;
  /** Reject with a QshmError (code ETIMEDOUT) after this many milliseconds. Default: wait forever. */
  timeoutMs?: number;
  /** Reject with the signal's reason when it fires. */
  signal?: AbortSignal;
}

/** Options of {@link listenForSegments}. */
export interface ListenOptions {
  /** Permission bits of the socket file (who may connect and send). Default 0o600. */
  permissions?: number;
}

const openListeners = new Set<SegmentListener>();
let exitHookInstalled = false;

/**
 * A Unix domain socket at a path that receives memfd segments. Close it when done: that
 * removes the socket file (process exit does too; a file left by a crash is replaced by the
 * next listener).
 */
export class SegmentListener {
  /** The socket's path. */
  readonly path: string;
  #fd: number;
  #ino: number;
  #dev: number;
  #closed = false;
  #busy = false;

  /** @internal Use {@link listenForSegments}. */
  constructor(path: string, fd: number, ino: number, dev: number) {
    this.path = path;
    this.#fd = fd;
    this.#ino = ino;
    this.#dev = dev;
    openListeners.add(this);
    if (!exitHookInstalled) {
      exitHookInstalled = true;
      process.on('exit', () => {
        for (const l of [...openListeners]) l.close();
      });
    }
  }

  /** Whether {@link close} has been called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Waits for the next sender and attaches the segment it sends. Connections that bring no
   * descriptor are ignored. One accept() at a time per listener.
   * @throws QshmError (code ETIMEDOUT on timeout, ERR_QSHM_CLOSED when closed meanwhile, or
   * the `fromFd` error for a descriptor that is not a qshm memfd segment); the signal's
   * reason when aborted.
   */
  async accept(options: AcceptOptions = {}): Promise<ReceivedSegment> {
    const fn = 'SegmentListener.accept';
    if (options === null || typeof options !== 'object') throw argTypeError('options', 'an object', options);
    const { mode = AccessMode.ReadWrite, timeoutMs, signal } = options;
    checkAccessMode(mode);
    if (timeoutMs !== undefined && (typeof timeoutMs !== 'number' || Number.isNaN(timeoutMs))) {
      throw argTypeError('options.timeoutMs', 'a number', timeoutMs);
    }
    if (signal !== undefined && !(signal instanceof AbortSignal)) throw argTypeError('options.signal', 'an AbortSignal', signal);
    if (this.#busy) {
      throw qshmError(SharedMemoryError.UnknownError, `${fn}: another accept() is waiting on this listener`, QshmErrorCode.Busy, this.path);
    }
    this.#busy = true;
    const deadline = timeoutMs === undefined || timeoutMs < 0 ? Infinity : performance.now() + timeoutMs;
    try {
      for (;;) {
        signal?.throwIfAborted();
        if (this.#closed) throw qshmError(SharedMemoryError.UnknownError, `${fn}: the listener was closed`, QshmErrorCode.Closed, this.path);
        const left = deadline - performance.now();
        if (left <= 0) {
          throw new QshmError({ qtError: SharedMemoryError.UnknownError, errorString: `${fn}: timed out after ${timeoutMs} ms`,
            code: 'ETIMEDOUT', path: this.path });
        }
        const r = await native.unixRecvFdAsync(this.#fd, Math.min(left, ACCEPT_SLICE_MS));
        if (typeof r === 'number') {
          const name = errnoName(r);
          if (name === 'ETIMEDOUT' || name === 'EBADMSG' || name === 'ECONNABORTED' || name === 'EINTR') continue;
          throw sysError(fn, r, 'accept/recvmsg', this.path);
        }
        try {
          if (this.#closed) continue; // reported at the top of the loop
          const message = r.data.subarray(0, FRAME.length).equals(FRAME) ? r.data.subarray(FRAME.length) : r.data;
          return { shm: QSharedMemory.fromFd(r.fd, mode), message: Buffer.from(message) };
        } finally {
          native.close(r.fd);
        }
      }
    } finally {
      this.#busy = false;
      if (this.#closed) this.#release();
    }
  }

  /** Stops listening and removes the socket file (if it is still this listener's). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    openListeners.delete(this);
    try {
      const st = lstatSync(this.path);
      if (st.ino === this.#ino && st.dev === this.#dev) unlinkSync(this.path);
    } catch {
      // already gone
    }
    // A pending accept() is polling the descriptor on a worker thread: it closes it when done.
    if (!this.#busy) this.#release();
  }

  #release(): void {
    if (this.#fd >= 0) native.close(this.#fd);
    this.#fd = -1;
  }

  /** Same as {@link close}, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }
}

/** Whether `path` is a socket nobody listens on (left by a process that died). */
function staleSocket(path: string): Promise<boolean> {
  try {
    if (!lstatSync(path).isSocket()) return Promise.resolve(false);
  } catch {
    return Promise.resolve(false);
  }
  return new Promise((resolve) => {
    const c = createConnection(path);
    c.once('connect', () => {
      c.destroy();
      resolve(false);
    });
    c.once('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'ECONNREFUSED'));
  });
}

/**
 * Listens on the Unix domain socket `socketPath` for segments sent with
 * {@link sendSegment}. The socket file gets `options.permissions` (default 0o600: only this user
 * may send); for a stricter guarantee put it in a private directory, e.g.
 * `$XDG_RUNTIME_DIR`. A socket file left by a listener that died is replaced; any other
 * existing file is an AlreadyExists error.
 */
export async function listenForSegments(socketPath: string, options: ListenOptions = {}): Promise<SegmentListener> {
  const fn = 'listenForSegments';
  if (typeof socketPath !== 'string') throw argTypeError('socketPath', 'of type string', socketPath);
  if (options === null || typeof options !== 'object') throw argTypeError('options', 'an object', options);
  const { permissions = 0o600 } = options;
  checkInteger('options.permissions', permissions, 0, 0o777, 'a permission mode from 0 to 0o777');
  let fd = native.unixListen(socketPath, 16);
  if (fd < 0 && errnoName(fd) === 'EADDRINUSE' && await staleSocket(socketPath)) {
    try {
      unlinkSync(socketPath);
    } catch {
      // someone else replaced it: the retry reports what is there now
    }
    fd = native.unixListen(socketPath, 16);
  }
  if (fd < 0) {
    throw sysError(fn, fd, 'bind/listen', socketPath,
      errnoName(fd) === 'EADDRINUSE' ? [SharedMemoryError.AlreadyExists, `${socketPath} already exists`] : undefined);
  }
  try {
    chmodSync(socketPath, permissions);
    const st = lstatSync(socketPath);
    return new SegmentListener(socketPath, fd, st.ino, st.dev);
  } catch (e) {
    native.close(fd);
    try {
      unlinkSync(socketPath);
    } catch {
      // nothing to remove
    }
    const err = e as NodeJS.ErrnoException;
    throw new QshmError({ qtError: SharedMemoryError.UnknownError, errorString: `${fn}: ${err.message}`,
      code: err.code ?? QshmErrorCode.Generic, path: socketPath });
  }
}

/**
 * Listens on `socketPath`, accepts one segment, and stops listening (removing the socket
 * file) — the one-shot form of {@link listenForSegments} + {@link SegmentListener.accept}.
 */
export async function receiveSegment(socketPath: string, options: AcceptOptions & ListenOptions = {}): Promise<ReceivedSegment> {
  const listener = await listenForSegments(socketPath, { permissions: options.permissions });
  try {
    return await listener.accept(options);
  } finally {
    listener.close();
  }
}
