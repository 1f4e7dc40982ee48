// SPDX-License-Identifier: MIT
/**
 * Finds the shared memory the caller can see: qshm `file` segments in their directories,
 * `memfd` segments held by live processes, Qt's System V segments and semaphores (matched
 * through their key files in Qt's temp dir and `/proc/sysvipc`), POSIX objects in `/dev/shm`,
 * and who is attached to each (through `/proc/<pid>/fd`, `fdinfo` locks and `maps`).
 * Read-only: nothing here attaches, locks or writes.
 * @packageDocumentation
 */
import { readdirSync, readFileSync, readlinkSync, statSync, lstatSync, type Stats } from 'node:fs';
import { join, basename } from 'node:path';
import { C, native } from '../native.js';
import { inspectHeader, type HeaderReport } from '../inspect.js';
import { SEM_PREFIX, SHM_PREFIX } from '../keys.js';
import { IpcKeyType, qtTempPath } from '../nativeipckey.js';
import { QshmError } from '../errors.js';

/** Where a segment comes from, as `qshm ls` shows it. */
export type EntryBackend = 'file' | 'memfd' | 'sysv' | 'posix' | 'foreign';

/** Lock state: `none` = the segment has no lock of its own; `unknown` = it could not be read. */
export type LockState = 'free' | 'held' | 'held-dead' | 'none' | 'unknown';

/** One segment (the JSON shape of `qshm ls --json`; docs/cli.md). */
export interface Entry {
  backend: EntryBackend;
  /** `qshm` (a qshm header), `qt` (Qt's naming), `other`. */
  origin: 'qshm' | 'qt' | 'other';
  /** The key the name derives from, when known (given on the command line). */
  key: string | null;
  /** File or object name: a basename, `/name` for POSIX objects, `0x…` for a bare System V key. */
  name: string;
  /** What to pass to other commands: a file path, a key file, `/name`, `/proc/<pid>/fd/<n>`. */
  path: string | null;
  size: number | null;
  /** Live attachments (qshm: live slots; System V: nattch; POSIX: processes mapping it). */
  attachments: number | null;
  lock: LockState;
  /** qshm segments only: nobody live is attached (`qshm rm --stale` removes it). */
  stale: boolean | null;
  uid: number | null;
  user: string | null;
  /** Permission bits, octal text (`"0600"`). */
  mode: string | null;
  ageSeconds: number | null;
  /** Processes seen holding it (open descriptor, mapping or System V attach), sorted. */
  pids: number[];
  /** For `info`: the decoded qshm header, with each slot's processes. */
  header?: HeaderReport & { slots: Array<HeaderReport['slots'][number] & { pids: number[] }> };
  sysv?: {
    shmKey: string | null; shmid: number | null; nattch: number | null; cpid: number | null; lpid: number | null;
    semKeyFile: string | null; semKey: string | null; semid: number | null; semValue: number | null;
  };
  posix?: { semaphore: string | null; semValue: number | null };
  /** Why some fields are null. */
  note?: string;
}

/** Options of {@link scan}. */
export interface ScanOptions {
  /** Extra directory of `file` segments (`--dir`). */
  dir?: string;
  /** Also list foreign objects. */
  all?: boolean;
}

interface FdRef { pid: number; fd: number; target: string }

let users: Map<number, string> | null = null;
function userName(uid: number): string | null {
  if (!users) {
    users = new Map();
    try {
      for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
        const f = line.split(':');
        if (f.length > 2 && !users.has(Number(f[2]))) users.set(Number(f[2]), f[0]);
      }
    } catch {
      // no passwd: numbers only
    }
  }
  return users.get(uid) ?? null;
}

const octal = (m: number) => (m & 0o7777).toString(8).padStart(4, '0');
const hexKey = (k: number) => `0x${(k >>> 0).toString(16).padStart(8, '0')}`;

/** `major:minor:ino` of a stat result, as /proc/<pid>/maps prints it (decoded). */
function devIno(st: { dev: number; ino: number }): string {
  const dev = st.dev;
  const major = Math.floor(dev / 256) & 0xfff;
  const minor = (dev & 0xff) | (Math.floor(dev / 4096) & 0xfff00);
  return `${major}:${minor}:${st.ino}`;
}

/** What every readable process holds: descriptors (by link target) and shared mappings. */
class ProcView {
  readonly fds: FdRef[] = [];
  /** `major:minor:ino` → pids mapping it shared; `SYSV:<shmid>:<key>` for System V. */
  readonly maps = new Map<string, Set<number>>();

  constructor() {
    for (const d of readdirSync('/proc')) {
      if (!/^[0-9]+$/.test(d)) continue;
      const pid = Number(d);
      if (pid === process.pid) continue;
      try {
        for (const f of readdirSync(`/proc/${d}/fd`)) {
          try {
            const target = readlinkSync(`/proc/${d}/fd/${f}`);
            if (target.startsWith('/')) this.fds.push({ pid, fd: Number(f), target });
          } catch {
            // closed meanwhile
          }
        }
      } catch {
        // not ours to read, or gone
      }
      let text: string;
      try {
        text = readFileSync(`/proc/${d}/maps`, 'utf8');
      } catch {
        continue;
      }
      for (const line of text.split('\n')) {
        const m = /^\S+\s+\S{3}s\s+\S+\s+([0-9a-f]+):([0-9a-f]+)\s+(\d+)\s*(.*)$/.exec(line);
        if (!m) continue;
        const sysv = /^\/SYSV([0-9a-f]{8})/.exec(m[4]);
        const k = sysv ? `SYSV:${m[3]}:${parseInt(sysv[1], 16) | 0}` : `${parseInt(m[1], 16)}:${parseInt(m[2], 16)}:${m[3]}`;
        let set = this.maps.get(k);
        if (!set) this.maps.set(k, (set = new Set()));
        set.add(pid);
      }
    }
  }

  /** Descriptors that refer to the file with stat `st` (checked by dev/inode, not by name). */
  openers(st: { dev: number; ino: number }, name: string): FdRef[] {
    const want = devIno(st);
    return this.fds.filter((r) => {
      if (!r.target.includes(name)) return false;
      try {
        return devIno(statSync(`/proc/${r.pid}/fd/${r.fd}`)) === want;
      } catch {
        return false;
      }
    });
  }

  mappers(st: { dev: number; ino: number }): number[] {
    return [...(this.maps.get(devIno(st)) ?? [])];
  }
}

/** The OFD locks a descriptor holds, from its fdinfo: [type, start] pairs. */
function fdLocks(pid: number, fd: number): Array<{ write: boolean; start: number }> {
  try {
    const out = [];
    for (const line of readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8').split('\n')) {
      const m = /^lock:\s+\d+:\s+OFDLCK\s+\S+\s+(READ|WRITE)\s+\S+\s+\S+\s+(\d+)\s/.exec(line);
      if (m) out.push({ write: m[1] === 'WRITE', start: Number(m[2]) });
    }
    return out;
  } catch {
    return [];
  }
}

const sorted = (pids: Iterable<number>) => [...new Set(pids)].sort((a, b) => a - b);

/** Seconds since the file was made (its birth time where the filesystem records one, else its change time). */
function ageOf(st: Stats): number {
  const born = st.birthtimeMs > 0 ? st.birthtimeMs : st.ctimeMs;
  return Math.max(0, Math.round((Date.now() - born) / 1000));
}

/** A qshm header segment open on `fd` (stat `st`), as an entry. */
function headerEntry(backend: 'file' | 'memfd', fd: number, st: Stats, name: string, path: string, procs: ProcView): Entry {
  const report = inspectHeader(fd, 'qshm', path);
  const openers = procs.openers(st, backend === 'memfd' ? 'memfd:' : basename(path));
  const slotPids = new Map<number, number[]>();
  for (const o of openers) {
    for (const l of fdLocks(o.pid, o.fd)) {
      if (!l.write || l.start < report.slotTable) continue;
      const slot = (l.start - report.slotTable) / 4;
      if (Number.isInteger(slot)) slotPids.set(slot, [...(slotPids.get(slot) ?? []), o.pid]);
    }
  }
  return {
    backend,
    origin: 'qshm',
    key: null,
    name,
    path,
    size: report.dataSize,
    attachments: Math.max(report.liveSlots, report.present ? 1 : 0),
    lock: report.lock,
    stale: !report.present,
    uid: st.uid,
    user: userName(st.uid),
    mode: octal(st.mode),
    ageSeconds: ageOf(st),
    pids: sorted([...openers.map((o) => o.pid), ...procs.mappers(st)]),
    header: { ...report, slots: report.slots.map((s) => ({ ...s, pids: sorted(slotPids.get(s.slot) ?? []) })) },
  };
}

/** The value of a glibc POSIX semaphore file (`/dev/shm/sem.<name>`): its first 32-bit word. */
function posixSemValue(file: string): number | null {
  try {
    const b = readFileSync(file);
    return b.length >= 4 ? b.readUInt32LE(0) : null;
  } catch {
    return null;
  }
}

function scanDir(dir: string, isShm: boolean, procs: ProcView, out: Entry[], all: boolean, seen: Set<string>): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  const semFiles = new Set(isShm ? names.filter((n) => n.startsWith('sem.')) : []);
  const usedSems = new Set<string>();
  for (const n of names) {
    const path = join(dir, n);
    let st: Stats;
    try {
      st = lstatSync(path);
    } catch {
      continue;
    }
    if (!st.isFile() || n.startsWith('sem.')) continue;
    const id = devIno(st);
    if (seen.has(id)) continue;
    seen.add(id);
    const fd = native.open(path, C.O_RDONLY | C.O_CLOEXEC | C.O_NOFOLLOW, 0);
    if (fd >= 0) {
      try {
        out.push(headerEntry('file', fd, st, n, path, procs));
        continue;
      } catch (e) {
        if (!(e instanceof QshmError)) throw e;
      } finally {
        native.close(fd);
      }
    }
    if (!isShm) continue; // other directories hold all sorts of files: only qshm's are listed
    if (fd < 0 && !all) continue;
    const qt = n.startsWith(SHM_PREFIX);
    const semName = qt ? SEM_PREFIX + n.slice(SHM_PREFIX.length) : n;
    const semFile = semFiles.has(`sem.${semName}`) ? join(dir, `sem.${semName}`) : null;
    if (semFile) usedSems.add(`sem.${semName}`);
    const pids = sorted([...procs.openers(st, n).map((o) => o.pid), ...procs.mappers(st)]);
    const semValue = semFile ? posixSemValue(semFile) : null;
    out.push({
      backend: fd < 0 ? 'foreign' : 'posix',
      origin: qt ? 'qt' : 'other',
      key: null,
      name: `/${n}`,
      path: `/${n}`,
      size: st.size,
      attachments: pids.length,
      lock: semFile === null ? 'none' : semValue === null ? 'unknown' : semValue > 0 ? 'free' : 'held',
      stale: null,
      uid: st.uid,
      user: userName(st.uid),
      mode: octal(st.mode),
      ageSeconds: ageOf(st),
      pids,
      posix: { semaphore: semFile ? `/${semName}` : null, semValue },
      ...(fd < 0 ? { note: 'not readable by this user' } : {}),
    });
  }
  if (!all) return;
  for (const s of semFiles) {
    if (usedSems.has(s)) continue;
    let st: Stats;
    try {
      st = lstatSync(join(dir, s));
    } catch {
      continue;
    }
    const v = posixSemValue(join(dir, s));
    out.push({
      backend: 'foreign', origin: s.startsWith(`sem.${SEM_PREFIX}`) ? 'qt' : 'other', key: null,
      name: `/${s.slice(4)}`, path: null, size: null, attachments: null,
      lock: v === null ? 'unknown' : v > 0 ? 'free' : 'held', stale: null, uid: st.uid, user: userName(st.uid),
      mode: octal(st.mode), ageSeconds: ageOf(st), pids: [], posix: { semaphore: `/${s.slice(4)}`, semValue: v },
      note: 'a POSIX semaphore without a segment',
    });
  }
}

/** Rows of /proc/sysvipc/<kind> as objects keyed by the header's column names. */
function sysvRows(kind: 'shm' | 'sem'): Array<Record<string, number>> {
  let text: string;
  try {
    text = readFileSync(`/proc/sysvipc/${kind}`, 'utf8');
  } catch {
    return [];
  }
  const [head, ...lines] = text.trim().split('\n');
  const cols = head.trim().split(/\s+/);
  return lines.filter((l) => l.trim()).map((l) => {
    const f = l.trim().split(/\s+/);
    return Object.fromEntries(cols.map((c, i) => [c, c === 'perms' ? parseInt(f[i], 8) : Number(f[i])]));
  });
}

function scanSysv(procs: ProcView, out: Entry[], all: boolean): void {
  const shms = sysvRows('shm');
  const sems = sysvRows('sem');
  const usedShm = new Set<number>();
  const usedSem = new Set<number>();
  const dir = qtTempPath();
  let names: string[] = [];
  try {
    names = dir ? readdirSync(dir) : [];
  } catch {
    // no temp dir
  }
  const now = Date.now() / 1000;
  for (const n of names) {
    if (!n.startsWith(SHM_PREFIX)) continue;
    const path = join(dir, n);
    const key = native.ftok(path, IpcKeyType.SystemV);
    if (key < 0) continue;
    const row = shms.find((r) => r.key === (key | 0));
    const semFile = join(dir, SEM_PREFIX + n.slice(SHM_PREFIX.length));
    const semKey = native.ftok(semFile, IpcKeyType.SystemV);
    const sem = semKey < 0 ? undefined : sems.find((r) => r.key === (semKey | 0));
    if (row) usedShm.add(row.shmid);
    if (sem) usedSem.add(sem.semid);
    const semValue = sem ? native.semctlGetval(sem.semid, 0) : -1;
    const pids = row ? sorted(procs.maps.get(`SYSV:${row.shmid}:${row.key}`) ?? []) : [];
    let st: Stats | null = null;
    try {
      st = lstatSync(path);
    } catch {
      // raced with a removal
    }
    out.push({
      backend: 'sysv',
      origin: 'qt',
      key: null,
      name: n,
      path,
      size: row ? row.size : null,
      attachments: row ? row.nattch : 0,
      lock: !sem ? 'none' : semValue < 0 ? 'unknown' : semValue > 0 ? 'free' : 'held',
      stale: null,
      uid: row ? row.uid : st?.uid ?? null,
      user: userName(row ? row.uid : st?.uid ?? -1),
      mode: row ? octal(row.perms) : null,
      ageSeconds: row ? Math.max(0, Math.round(now - row.ctime)) : st ? ageOf(st) : null,
      pids,
      sysv: {
        shmKey: hexKey(key), shmid: row?.shmid ?? null, nattch: row?.nattch ?? null, cpid: row?.cpid ?? null,
        lpid: row?.lpid ?? null, semKeyFile: semKey < 0 ? null : semFile, semKey: semKey < 0 ? null : hexKey(semKey),
        semid: sem?.semid ?? null, semValue: semValue < 0 ? null : semValue,
      },
      ...(row ? {} : { note: 'a key file without a System V segment' }),
    });
  }
  if (!all) return;
  for (const r of shms) {
    if (usedShm.has(r.shmid)) continue;
    out.push({
      backend: 'foreign', origin: 'other', key: null, name: hexKey(r.key), path: r.key ? hexKey(r.key) : null,
      size: r.size, attachments: r.nattch, lock: 'none', stale: null, uid: r.uid, user: userName(r.uid),
      mode: octal(r.perms), ageSeconds: Math.max(0, Math.round(now - r.ctime)),
      pids: sorted(procs.maps.get(`SYSV:${r.shmid}:${r.key}`) ?? []),
      sysv: { shmKey: hexKey(r.key), shmid: r.shmid, nattch: r.nattch, cpid: r.cpid, lpid: r.lpid, semKeyFile: null, semKey: null, semid: null, semValue: null },
      note: 'a System V segment without a Qt key file',
    });
  }
  for (const r of sems) {
    if (usedSem.has(r.semid)) continue;
    const v = native.semctlGetval(r.semid, 0);
    out.push({
      backend: 'foreign', origin: 'other', key: null, name: hexKey(r.key), path: null, size: null, attachments: null,
      lock: v < 0 ? 'unknown' : v > 0 ? 'free' : 'held', stale: null, uid: r.uid, user: userName(r.uid),
      mode: octal(r.perms), ageSeconds: Math.max(0, Math.round(now - r.ctime)), pids: [],
      sysv: { shmKey: null, shmid: null, nattch: null, cpid: null, lpid: null, semKeyFile: null, semKey: hexKey(r.key), semid: r.semid, semValue: v < 0 ? null : v },
      note: 'a System V semaphore without a Qt key file',
    });
  }
}

/** memfd segments (with a qshm header) that live processes hold, one entry per memfd. */
function scanMemfd(procs: ProcView, out: Entry[]): void {
  const seen = new Set<string>();
  for (const r of procs.fds) {
    if (!r.target.startsWith('/memfd:')) continue;
    const path = `/proc/${r.pid}/fd/${r.fd}`;
    let st: Stats;
    try {
      st = statSync(path);
    } catch {
      continue;
    }
    const id = devIno(st);
    if (seen.has(id)) continue;
    seen.add(id);
    const fd = native.open(path, C.O_RDONLY | C.O_CLOEXEC, 0);
    if (fd < 0) continue;
    try {
      out.push(headerEntry('memfd', fd, st, r.target.replace(/^\/|\s*\(deleted\)$/g, ''), path, procs));
    } catch (e) {
      if (!(e instanceof QshmError)) throw e; // a memfd of something else
    } finally {
      native.close(fd);
    }
  }
}

/** Every segment the caller can see, in backend order. */
export function scan(o: ScanOptions = {}): Entry[] {
  const procs = new ProcView();
  const out: Entry[] = [];
  const seen = new Set<string>();
  const dirs: Array<[string, boolean]> = [['/dev/shm', true]];
  if (process.env.XDG_RUNTIME_DIR) dirs.push([process.env.XDG_RUNTIME_DIR, false]);
  const extra = o.dir === 'xdg' ? process.env.XDG_RUNTIME_DIR : o.dir; // 'xdg' as in QSharedMemoryOptions.dir
  if (extra) dirs.push([extra, extra.replace(/\/+$/, '') === '/dev/shm']);
  for (const [d, isShm] of dirs) scanDir(d, isShm, procs, out, !!o.all, seen);
  scanMemfd(procs, out);
  scanSysv(procs, out, !!o.all);
  const order: EntryBackend[] = ['file', 'memfd', 'sysv', 'posix', 'foreign'];
  return out.sort((a, b) => order.indexOf(a.backend) - order.indexOf(b.backend));
}
