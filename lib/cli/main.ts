// SPDX-License-Identifier: MIT
/**
 * The `qshm` commands, built on the library: `ls`, `info`, `rm`, `dump`, `write`, `lock`,
 * `create`. Exit codes: 0 ok, 1 refused or not found, 2 usage, 75 timeout. Errors are one line
 * on stderr with Qt's error name. docs/cli.md documents every command, flag and JSON shape.
 * @packageDocumentation
 */
import { parseArgs } from 'node:util';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { constants as osConstants } from 'node:os';
import { QSharedMemory } from '../shared-memory.js';
import { QNativeIpcKey, IpcKeyType } from '../nativeipckey.js';
import { AccessMode, QshmError, SharedMemoryError } from '../errors.js';
import { legacyKeyName } from '../keys.js';
import { backendNames, type BackendName } from '../backends/index.js';
import { inspectPath } from '../inspect.js';
import { scan, type Entry } from './scan.js';
import { lockSegment } from './locker.js';
import { CliError, Exit, exitKeeping, fromQshm, refused, shmFor, usage } from './common.js';

const out = (s: string) => writeSync(1, s);
const json = (v: unknown) => out(`${JSON.stringify(v, null, 2)}\n`);

const BACKENDS: readonly string[] = backendNames;

const COMMON = {
  help: { type: 'boolean', short: 'h' },
  backend: { type: 'string' },
  dir: { type: 'string' },
  json: { type: 'boolean' },
} as const;

const HELP: Record<string, string> = {
  '': `Usage: qshm <command> [options]

See, inspect, lock and clean up shared memory: qshm's, Qt's and anyone's.

Commands:
  ls [KEY…]                     list segments (qshm files and memfds, Qt System V and POSIX, other POSIX shm)
  info TARGET                   header, attachments and lock of a segment
  rm TARGET… | --stale          remove segments nobody is attached to
  dump TARGET                   print a segment's data (read-only attach)
  write TARGET --offset N       write stdin into a segment under its lock
  lock TARGET -- COMMAND…       run a command holding a segment's lock
  create KEY SIZE [--hold]      make a segment

TARGET is a key (as given to QSharedMemory / Qt), a native name (/dev/shm/…, /name, a Qt key file
path, 0x… System V key) or a path printed by 'qshm ls'.

Options of every command: --help, --backend file|memfd|sysv|posix, --dir DIR, --json
Exit status: 0 ok, 1 refused or not found, 2 usage, 75 timeout. 'qshm <command> --help' for more.
Documentation: docs/cli.md`,
  ls: `Usage: qshm ls [KEY…] [--all] [--json] [--backend B] [--dir DIR]

Lists every segment the caller can see, one line each: backend, size, live attachments, lock
state (free, held, held-dead = its holder died and the next locker takes it over), owner, mode,
age and name. Looks in /dev/shm, $XDG_RUNTIME_DIR and --dir for qshm files, in /proc for memfds
held by live processes, in Qt's temp dir ($TMPDIR or /tmp) for Qt's System V key files.
With KEYs, lists only the segments whose names derive from them (and shows the key).
  --all     also list foreign objects (System V objects without Qt key files, stray semaphores)`,
  info: `Usage: qshm info TARGET [--json] [--backend B] [--dir DIR]

Shows a segment in detail: for qshm segments the header fields (docs/format.md), each slot
(live or dead, and the processes holding it), the lock word decoded; for Qt's System V
segments the ids, nattch, creator and last pids and the semaphore value.`,
  rm: `Usage: qshm rm TARGET… [--force] [--dry-run] [--json] [--backend B] [--dir DIR]
       qshm rm --stale [--dry-run] [--json] [--dir DIR]

Removes segments nobody is attached to: qshm files; Qt's System V segment, key file, semaphore
and semaphore key file, in Qt's order; POSIX objects and their semaphores. Refuses (exit 1,
naming the processes attached) when someone is attached.
  --force     remove even while attached (the attached processes keep their memory)
  --dry-run   say what would be removed, remove nothing
  --stale     remove every qshm segment whose attachments all died`,
  dump: `Usage: qshm dump TARGET [--offset N] [--length N] [--format hex|raw|base64] [--json]

Attaches read-only and prints the data: hex (offset, 16 bytes, text) by default, raw bytes or
base64. --json prints {"offset", "length", "size", "base64"}. A System V or POSIX segment made
by Qt is named by its key (Qt's lock semaphore derives from it).`,
  write: `Usage: qshm write TARGET --offset N [--timeout MS] [--json]

Writes standard input into the segment at offset N, holding the segment's lock.
Refused (exit 1) when the data would run past the end. --timeout: exit 75 if the lock is not
free within MS milliseconds.`,
  lock: `Usage: qshm lock TARGET [--timeout MS] -- COMMAND [ARG…]

Runs COMMAND while holding the segment's lock (as flock(1) does for files), so shell scripts
take part in the same lock as Node, C, Python and Qt programs. The lock is released when the
command ends or is killed, and when qshm itself is killed. Exits with the command's status
(128 + signal number if it was killed). --timeout: exit 75 if the lock is not free within MS
milliseconds. The command sees QSHM_LOCK_ABANDONED=1 when the lock was taken over from a
holder that died.`,
  create: `Usage: qshm create KEY SIZE [--hold] [--mode OCTAL] [--json] [--backend B] [--dir DIR]

Makes a segment of SIZE bytes (a number, or with a K, M or G suffix). Prints its native key.
Without --hold the command exits without detaching, so the segment stays: a file segment then
has no live attachment (it counts as stale), a System V one has nattch 0, a POSIX one stays
until removed; a memfd needs --hold. With --hold it stays attached until SIGINT, SIGTERM or
SIGHUP, then detaches as a program would (the last detach removes file and System V segments).`,
};

function parse<T extends Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }>>(cmd: string, args: string[], extra: T) {
  try {
    return parseArgs({ args, options: { ...COMMON, ...extra }, allowPositionals: true, strict: true });
  } catch (e) {
    throw usage(`${(e as Error).message.split('\n')[0].split('. To specify')[0]} (see qshm ${cmd} --help)`);
  }
}

function intArg(name: string, v: string | undefined, suffixes = false): number | undefined {
  if (v === undefined) return undefined;
  const m = /^(0x[0-9a-f]+|[0-9]+)([kmg]?)$/i.exec(v.trim());
  if (!m || (m[2] && !suffixes)) throw usage(`${name} must be a non-negative integer${suffixes ? ' (K, M, G suffixes allowed)' : ''}, got '${v}'`);
  const value = Number(m[1]) * (m[2] ? 1024 ** ('kmg'.indexOf(m[2].toLowerCase()) + 1) : 1);
  if (!Number.isSafeInteger(value)) throw usage(`${name} is too large: '${v}'`);
  return value;
}

function backendArg(v: string | undefined): BackendName | undefined {
  if (v === undefined) return undefined;
  if (!BACKENDS.includes(v)) throw usage(`--backend must be one of ${BACKENDS.join(', ')}, got '${v}'`);
  return v as BackendName;
}

/** Whether `e` is what `target` names; sets `e.key` when it matched as a key. */
function matches(e: Entry, target: string): boolean {
  if (e.path === target || e.name === target || e.name === `/${target}`) return true;
  if (e.sysv?.shmKey && parseInt(e.sysv.shmKey, 16) === Number(target) && /^0x[0-9a-f]+$|^[0-9]+$/i.test(target)) return true;
  const derived = legacyKeyName(target);
  if (derived !== '' && (e.name === derived || e.name === `/${derived}`) && e.backend !== 'foreign') {
    e.key = target;
    return true;
  }
  if (e.backend === 'memfd' && (e.name === `memfd:qshm:${target}`)) {
    e.key = target;
    return true;
  }
  return false;
}

function find(targets: string[], o: { backend?: BackendName; dir?: string; all?: boolean }): Entry[] {
  return scan({ dir: o.dir, all: o.all }).filter((e) => (!o.backend || e.backend === o.backend) && targets.some((t) => matches(e, t)));
}

function one(target: string, o: { backend?: BackendName; dir?: string }): Entry {
  const found = find([target], o);
  if (found.length === 0) throw refused(SharedMemoryError.NotFound, `no segment matches '${target}'${o.backend ? ` with backend ${o.backend}` : ''} (see qshm ls)`);
  if (found.length > 1) {
    throw refused(SharedMemoryError.KeyError, `'${target}' matches ${found.length} segments (${found.map((e) => `${e.backend} ${e.path ?? e.name}`).join(', ')}); pick one with --backend or a path`);
  }
  return found[0];
}

function human(n: number | null): string {
  if (n === null) return '-';
  for (const [u, s] of [[1 << 30, 'G'], [1 << 20, 'M'], [1 << 10, 'K']] as const) if (n >= u && n % u === 0) return `${n / u}${s}`;
  return String(n);
}

function age(s: number | null): string {
  if (s === null) return '-';
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  if (s < 172800) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86400)}d`;
}

const LOCK_TEXT: Record<Entry['lock'], string> = {
  free: 'free', held: 'held', 'held-dead': 'held by a dead holder', none: '-', unknown: '?',
};

function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  ')).join('\n') + '\n';
}

function entryJson(e: Entry, detail: boolean): Entry {
  if (detail) return e;
  const { header, ...rest } = e;
  return rest;
}

function cmdLs(args: string[]): number {
  const { values: v, positionals } = parse('ls', args, { all: { type: 'boolean' } });
  if (v.help) return help('ls');
  const backend = backendArg(v.backend);
  let list = scan({ dir: v.dir, all: v.all });
  if (backend) list = list.filter((e) => e.backend === backend);
  if (positionals.length) list = list.filter((e) => positionals.some((t) => matches(e, t)));
  if (v.json) {
    json({ segments: list.map((e) => entryJson(e, false)) });
    return Exit.OK;
  }
  const rows = [['BACKEND', 'SIZE', 'ATT', 'LOCK', 'OWNER', 'MODE', 'AGE', 'NAME']];
  for (const e of list) {
    const name = (e.path ?? e.name) + (e.key !== null ? ` (key ${e.key})` : '') + (e.stale ? ' [stale]' : '') + (e.note ? ` [${e.note}]` : '');
    rows.push([e.backend, human(e.size), e.attachments === null ? '-' : String(e.attachments), LOCK_TEXT[e.lock],
      e.user ?? String(e.uid ?? '-'), e.mode ?? '-', age(e.ageSeconds), name]);
  }
  out(table(rows));
  return Exit.OK;
}

function cmdInfo(args: string[]): number {
  const { values: v, positionals } = parse('info', args, {});
  if (v.help) return help('info');
  if (positionals.length !== 1) throw usage('info takes one TARGET (see qshm info --help)');
  const backend = backendArg(v.backend);
  const found = find(positionals, { backend, dir: v.dir, all: true });
  if (found.length === 0) throw refused(SharedMemoryError.NotFound, `no segment matches '${positionals[0]}' (see qshm ls --all)`);
  if (v.json) {
    json({ segments: found });
    return Exit.OK;
  }
  for (const e of found) {
    const lines: Array<[string, unknown]> = [
      ['backend', `${e.backend} (${e.origin})`], ['key', e.key ?? '-'], ['name', e.name], ['path', e.path ?? '-'],
      ['size', e.size ?? '-'], ['attachments', e.attachments ?? '-'], ['lock', LOCK_TEXT[e.lock]],
      ['owner', `${e.user ?? e.uid ?? '-'} mode ${e.mode ?? '-'}`], ['age', age(e.ageSeconds)],
      ['processes', e.pids.length ? e.pids.join(' ') : '-'],
    ];
    if (e.stale !== null) lines.push(['stale', e.stale ? 'yes (no live attachment)' : 'no']);
    if (e.note) lines.push(['note', e.note]);
    const h = e.header;
    if (h) {
      lines.push(['header', `version ${h.version}, header size ${h.headerSize}, data size ${h.dataSize}, ` +
        `${h.slotCount} slots at ${h.slotTable}, flags ${h.flags}, token counter ${h.tokenCounter}`]);
      lines.push(['lock word', `0x${h.lockWord.toString(16).padStart(8, '0')}` + (h.holder
        ? ` = token ${h.holder.token} (slot ${h.holder.slot})${h.holder.waiters ? ' + waiters' : ''}, ${h.lock === 'held' ? 'holder alive' : 'holder dead: the next locker takes it over (abandoned)'}`
        : ' = free')]);
      for (const s of h.slots) {
        lines.push([`slot ${s.slot}`, `token ${s.token}, ${s.alive ? 'live' : 'dead'}${s.pids.length ? `, pid ${s.pids.join(' ')}` : ''}`]);
      }
    }
    const sv = e.sysv;
    if (sv) {
      lines.push(['shm', `key ${sv.shmKey ?? '-'} id ${sv.shmid ?? '-'} nattch ${sv.nattch ?? '-'} creator pid ${sv.cpid ?? '-'} last pid ${sv.lpid ?? '-'}`]);
      lines.push(['semaphore', `${sv.semKeyFile ?? '-'} key ${sv.semKey ?? '-'} id ${sv.semid ?? '-'} value ${sv.semValue ?? '-'}`]);
    }
    if (e.posix) lines.push(['semaphore', `${e.posix.semaphore ?? '-'} value ${e.posix.semValue ?? '-'}`]);
    out(table(lines.map(([k, val]) => [`${k}:`, String(val)])) + '\n');
  }
  return Exit.OK;
}

/** Removes one entry; returns null on success or why it was refused (Qt's error name, text). */
function removeEntry(e: Entry, force: boolean, dryRun: boolean): [string, string] | null {
  const r = removeOrWhy(e, force, dryRun);
  return r === null ? null : typeof r === 'string' ? ['PermissionDenied', r] : r;
}

function removeOrWhy(e: Entry, force: boolean, dryRun: boolean): string | [string, string] | null {
  const who = () => (e.pids.length ? `pid ${e.pids.join(', ')}` : 'processes this user cannot see');
  switch (e.backend) {
    case 'file': {
      if (!e.stale && !force) return `${e.attachments} live attachment(s): ${who()}`;
      if (dryRun) return null;
      if (!e.stale) {
        inspectPath(e.path!, 'qshm rm'); // never unlink a file that is not a valid segment
        unlinkSync(e.path!);
        return null;
      }
      // Attach and detach: as the last to detach, the library removes it (and re-checks that
      // nobody attached meanwhile).
      const shm = shmFor(e);
      if (!shm.attach()) return [SharedMemoryError[shm.error()], shm.errorString()];
      shm.detach();
      return existsSync(e.path!) ? 'someone attached meanwhile' : null;
    }
    case 'memfd':
      return `a memfd has no name to remove: it is freed when its holders (${who()}) close it`;
    case 'sysv': {
      if ((e.attachments ?? 0) > 0 && !force) return `nattch ${e.attachments}: ${who()}`;
      if (dryRun) return null;
      // Qt's order: segment, its key file, then the semaphore and its key file.
      QSharedMemory.remove(new QNativeIpcKey(e.path!, IpcKeyType.SystemV));
      // The semaphore by its numeric key, then its key file: remove() of a key file path
      // unlinks the file before it looks up the semaphore keyed on that same file.
      const sv = e.sysv;
      if (sv?.semKey) QSharedMemory.remove(new QNativeIpcKey(sv.semKey, IpcKeyType.SystemV));
      if (sv?.semKeyFile && existsSync(sv.semKeyFile)) unlinkSync(sv.semKeyFile);
      return null;
    }
    case 'posix': {
      if ((e.attachments ?? 0) > 0 && !force) return `mapped by ${who()}`;
      if (dryRun) return null;
      QSharedMemory.remove(new QNativeIpcKey(e.name, IpcKeyType.PosixRealtime));
      if (e.posix?.semaphore && e.posix.semaphore !== e.name) QSharedMemory.remove(new QNativeIpcKey(e.posix.semaphore, IpcKeyType.PosixRealtime));
      return null;
    }
    default:
      return `not a segment qshm removes (${e.note ?? 'foreign'}); use ipcrm or rm`;
  }
}

function cmdRm(args: string[]): number {
  const { values: v, positionals } = parse('rm', args, {
    force: { type: 'boolean', short: 'f' }, 'dry-run': { type: 'boolean', short: 'n' }, stale: { type: 'boolean' },
  });
  if (v.help) return help('rm');
  const backend = backendArg(v.backend);
  let list: Entry[];
  if (v.stale) {
    if (positionals.length) throw usage('rm --stale takes no TARGET');
    if (v.force) throw usage('rm --stale removes only segments nobody is attached to: --force does not apply');
    list = scan({ dir: v.dir }).filter((e) => (e.backend === 'file') && e.stale);
  } else {
    if (!positionals.length) throw usage('rm needs a TARGET or --stale (see qshm rm --help)');
    list = find(positionals, { backend, dir: v.dir, all: true });
    const missing = positionals.filter((t) => !list.some((e) => matches(e, t)));
    if (missing.length) throw refused(SharedMemoryError.NotFound, `no segment matches '${missing.join("', '")}' (see qshm ls --all)`);
  }
  const results = list.map((e) => {
    let why: [string, string] | null;
    try {
      why = removeEntry(e, !!v.force, !!v['dry-run']);
    } catch (err) {
      if (!(err instanceof QshmError)) throw err;
      why = [SharedMemoryError[err.qtError], err.message];
    }
    return {
      backend: e.backend, name: e.name, path: e.path, key: e.key, removed: why === null && !v['dry-run'],
      refused: why && why[1], error: why && why[0],
    };
  });
  if (v.json) json({ dryRun: !!v['dry-run'], results });
  for (const r of results) {
    const what = `${r.backend} ${r.path ?? r.name}`;
    if (r.refused !== null) writeSync(2, `qshm rm: ${r.error}: refused to remove ${what}: ${r.refused}\n`);
    else if (!v.json) out(`${v['dry-run'] ? 'would remove' : 'removed'} ${what}\n`);
  }
  return results.some((r) => r.refused !== null) ? Exit.REFUSED : Exit.OK;
}

function cmdDump(args: string[]): number {
  const { values: v, positionals } = parse('dump', args, {
    offset: { type: 'string' }, length: { type: 'string' }, format: { type: 'string' },
  });
  if (v.help) return help('dump');
  if (positionals.length !== 1) throw usage('dump takes one TARGET (see qshm dump --help)');
  const format = v.format ?? 'hex';
  if (!['hex', 'raw', 'base64'].includes(format)) throw usage(`--format must be hex, raw or base64, got '${format}'`);
  const offset = intArg('--offset', v.offset) ?? 0;
  const e = one(positionals[0], { backend: backendArg(v.backend), dir: v.dir });
  let data: Buffer;
  let size: number;
  if (e.backend === 'posix' && e.origin !== 'qt') {
    // Someone else's POSIX object: read it as the file it is, without making a lock semaphore for it.
    data = readFileSync(join('/dev/shm', e.name.slice(1)));
    size = data.length;
  } else {
    const shm = shmFor(e);
    if (!shm.attach(AccessMode.ReadOnly)) throw fromQshm(shm.lastError(), shm.errorString());
    data = shm.constData()!;
    size = shm.size();
  }
  if (offset > size) throw refused(SharedMemoryError.InvalidSize, `--offset ${offset} is past the end of the ${size}-byte segment`);
  const length = Math.min(intArg('--length', v.length) ?? size - offset, size - offset);
  const bytes = Buffer.from(data.subarray(offset, offset + length));
  if (v.json) json({ offset, length, size, base64: bytes.toString('base64') });
  else if (format === 'raw') writeSync(1, bytes);
  else if (format === 'base64') out(`${bytes.toString('base64')}\n`);
  else {
    let text = '';
    let repeated = false;
    for (let i = 0; i < bytes.length; i += 16) {
      const row = bytes.subarray(i, i + 16);
      // As hexdump -C: a run of lines equal to the one before shows as one '*'.
      if (i > 0 && i + 16 < bytes.length && row.equals(bytes.subarray(i - 16, i))) {
        if (!repeated) text += '*\n';
        repeated = true;
        continue;
      }
      repeated = false;
      const hex = [...row].map((b) => b.toString(16).padStart(2, '0'));
      const left = hex.slice(0, 8).join(' ').padEnd(23);
      const right = hex.slice(8).join(' ').padEnd(23);
      text += `${(offset + i).toString(16).padStart(8, '0')}  ${left}  ${right}  |${[...row].map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('')}|\n`;
    }
    out(`${text}${(offset + bytes.length).toString(16).padStart(8, '0')}\n`);
  }
  return exitKeeping(Exit.OK);
}

async function cmdWrite(args: string[]): Promise<number> {
  const { values: v, positionals } = parse('write', args, { offset: { type: 'string' }, timeout: { type: 'string' } });
  if (v.help) return help('write');
  if (positionals.length !== 1) throw usage('write takes one TARGET (see qshm write --help)');
  const offset = intArg('--offset', v.offset);
  if (offset === undefined) throw usage('write needs --offset N');
  const timeout = intArg('--timeout', v.timeout);
  const e = one(positionals[0], { backend: backendArg(v.backend), dir: v.dir });
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  const input = Buffer.concat(chunks);
  const held = await lockSegment(e, timeout);
  try {
    await held.write(offset, input);
  } finally {
    await held.unlock();
  }
  if (v.json) json({ offset, length: input.length, size: held.size, abandoned: held.abandoned });
  return exitKeeping(Exit.OK);
}

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'] as const;

async function cmdLock(argv: string[]): Promise<number> {
  const sep = argv.indexOf('--');
  const mine = sep < 0 ? argv : argv.slice(0, sep);
  const command = sep < 0 ? [] : argv.slice(sep + 1);
  const { values: v, positionals } = parse('lock', mine, { timeout: { type: 'string' } });
  if (v.help) return help('lock');
  if (positionals.length !== 1) throw usage('lock takes one TARGET (see qshm lock --help)');
  if (!command.length) throw usage('lock needs a command after -- (see qshm lock --help)');
  const timeout = intArg('--timeout', v.timeout);
  const e = one(positionals[0], { backend: backendArg(v.backend), dir: v.dir });
  const held = await lockSegment(e, timeout);
  const abandoned = held.abandoned;
  if (abandoned) writeSync(2, `qshm lock: took over the lock of ${e.path ?? e.name} from a holder that died (abandoned); the data may need repair\n`);
  const status = await new Promise<number>((resolve) => {
    const child = spawn(command[0], command.slice(1), {
      stdio: 'inherit', env: { ...process.env, QSHM_LOCK_ABANDONED: abandoned ? '1' : '0' },
    });
    const forward = (sig: NodeJS.Signals) => child.kill(sig);
    for (const s of SIGNALS) process.on(s, forward);
    child.on('error', (err) => {
      writeSync(2, `qshm lock: UnknownError: cannot run ${command[0]}: ${err.message}\n`);
      resolve(127);
    });
    child.on('exit', (code, signal) => resolve(code ?? 128 + (signal ? osConstants.signals[signal] : 0)));
  });
  await held.unlock();
  return exitKeeping(status);
}

async function cmdCreate(args: string[]): Promise<number> {
  const { values: v, positionals } = parse('create', args, { hold: { type: 'boolean' }, mode: { type: 'string' } });
  if (v.help) return help('create');
  if (positionals.length !== 2) throw usage('create takes KEY and SIZE (see qshm create --help)');
  const [key, sizeText] = positionals as [string, string];
  const size = intArg('SIZE', sizeText, true)!;
  const backend = backendArg(v.backend) ?? 'file';
  let mode: number | undefined;
  if (v.mode !== undefined) {
    if (!/^[0-7]{1,4}$/.test(v.mode)) throw usage(`--mode must be octal permission bits such as 0640, got '${v.mode}'`);
    mode = parseInt(v.mode, 8);
  }
  if (backend === 'memfd' && !v.hold) throw usage('a memfd segment lives only while held: use --hold');
  const shm = new QSharedMemory(key, { backend, dir: v.dir, mode });
  if (!shm.create(size)) throw fromQshm(shm.lastError(), shm.errorString());
  const nativeKey = backend === 'memfd' ? `/proc/${process.pid}/fd/${shm.fd()}` : shm.nativeKey();
  if (v.json) json({ key, backend, nativeKey, size: shm.size(), pid: process.pid, held: !!v.hold });
  else out(`${nativeKey}\n`);
  if (!v.hold) return exitKeeping(Exit.OK);
  await new Promise<void>((resolve) => {
    for (const s of SIGNALS) process.on(s, () => resolve());
    setInterval(() => {}, 1 << 30); // keep the event loop alive
  });
  shm.detach();
  return Exit.OK;
}

function help(cmd: string): number {
  out(`${HELP[cmd]}\n`);
  return Exit.OK;
}

const COMMANDS: Record<string, (args: string[]) => number | Promise<number>> = {
  ls: cmdLs, info: cmdInfo, rm: cmdRm, dump: cmdDump, write: cmdWrite, lock: cmdLock, create: cmdCreate,
};

/** Runs the command line `argv` (without node and the script) and exits. */
export async function main(argv: string[]): Promise<void> {
  const [cmd, ...rest] = argv;
  let status: number;
  try {
    if (cmd === undefined || cmd === '--help' || cmd === '-h' || cmd === 'help') {
      status = help('');
      if (cmd === undefined) status = Exit.USAGE;
    } else if (!Object.hasOwn(COMMANDS, cmd)) {
      throw usage(`unknown command '${cmd}' (see qshm --help)`);
    } else {
      status = await COMMANDS[cmd](rest);
    }
  } catch (e) {
    if (e instanceof CliError) {
      writeSync(2, `qshm${cmd && Object.hasOwn(COMMANDS, cmd) ? ` ${cmd}` : ''}: ${e.errorName}: ${e.message}\n`);
      status = e.status;
    } else if (e instanceof QshmError) {
      writeSync(2, `qshm ${cmd}: ${SharedMemoryError[e.qtError]}: ${e.message}\n`);
      status = Exit.REFUSED;
    } else {
      throw e;
    }
  }
  // Never through the library's exit handler: a command must not remove what it only looked
  // at (see exitKeeping); `create --hold` detaches explicitly before it gets here.
  exitKeeping(status);
}

