// SPDX-License-Identifier: MIT
// What a qshm or Qt segment can leave behind, per platform, and the scan the root hook makes
// before and after the suite.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * The places to scan on `platform`: `{ dir, match }` lists the entries of a directory whose
 * names match; `{ sysv, file }` lists the objects in a /proc/sysvipc table. A place that does
 * not exist on this machine is skipped by leftovers().
 */
export function leftoverPlaces(platform = process.platform) {
  switch (platform) {
    case 'linux':
      return [
        { dir: '/dev/shm', match: /^(qipc_|qshm|sem\.qipc_|sem\.qshm|qshmtest)/ },
        // Qt and qshm put System V key files in $TMPDIR (QDir::tempPath()), /tmp by default.
        { dir: process.env.TMPDIR || '/tmp', match: /^qipc_/ },
        { sysv: 'shm', file: '/proc/sysvipc/shm' },
        { sysv: 'sem', file: '/proc/sysvipc/sem' },
      ];
    case 'win32':
      // The Windows backend keeps its named objects' files in a qshm folder of the temp dir.
      return [{ dir: join(tmpdir(), 'qshm'), match: /./ }];
    default:
      // Other POSIX systems: the System V / POSIX key files Qt and qshm make in $TMPDIR.
      return [{ dir: process.env.TMPDIR || tmpdir(), match: /^(qipc_|qshm)/ }];
  }
}

/** IPC objects and files that a qshm or Qt segment could leave behind (on this platform). */
export function leftovers(places = leftoverPlaces()) {
  const out = [];
  for (const place of places) {
    if (place.dir) {
      if (!existsSync(place.dir)) continue;
      for (const f of readdirSync(place.dir)) if (place.match.test(f)) out.push(join(place.dir, f));
    } else if (place.sysv) {
      if (!existsSync(place.file)) continue;
      const lines = readFileSync(place.file, 'utf8').trim().split('\n').slice(1);
      for (const l of lines) if (l.trim()) out.push(`sysv ${place.sysv}: ${l.trim().split(/\s+/).slice(0, 3).join(' ')}`);
    }
  }
  return out;
}
