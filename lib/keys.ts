// SPDX-License-Identifier: MIT
/**
 * Qt's key derivation, defined once. See docs/interop.md and ../shared/qt/internals.md §2.
 * @packageDocumentation
 */
import { createHash } from 'node:crypto';
import { isAbsolute, join } from 'node:path';
import { argTypeError } from './errors.js';

/** File-name prefix Qt uses for shared-memory keys. */
export const SHM_PREFIX = 'qipc_sharedmemory_';
/** File-name prefix Qt uses for the lock semaphore (and QSystemSemaphore). */
export const SEM_PREFIX = 'qipc_systemsem_';

/**
 * Qt's legacy name for `key`: `prefix` + the key's ASCII letters + the lower-case SHA-1 hex
 * of its UTF-8 bytes; `''` for an empty key. This is the file or object name without the
 * directory or the leading `/`.
 */
export function legacyKeyName(key: string, prefix: string = SHM_PREFIX): string {
  if (typeof key !== 'string') throw argTypeError('key', 'of type string', key);
  if (typeof prefix !== 'string') throw argTypeError('prefix', 'of type string', prefix);
  if (key === '') return '';
  let names = legacyNames.get(prefix);
  if (!names) {
    if (legacyNames.size >= 16) legacyNames.clear();
    legacyNames.set(prefix, (names = new Map<string, string>()));
  }
  let name = names.get(key);
  if (name === undefined) {
    const letters = key.replace(/[^A-Za-z]/g, '');
    name = prefix + letters + createHash('sha1').update(key, 'utf8').digest('hex');
    if (names.size >= 256) names.clear();
    names.set(key, name);
  }
  return name;
}

/** Names derived lately, per prefix (a SHA-1 per attach would cost more than some of its system calls). */
const legacyNames = new Map<string, Map<string, string>>();

/**
 * The file a native key names in directory `dir`: an absolute key is used as is; a relative one
 * must be a single file name (no `/`, and on Windows no `\`; not `.` or `..`), so that a key can
 * never name a file outside `dir`. Returns null for a relative key that would leave it.
 * @internal
 */
export function pathInDir(dir: string, nativeKey: string): string | null {
  if (isAbsolute(nativeKey)) return nativeKey;
  const separators = process.platform === 'win32' ? /[\\/]/ : /\//;
  if (nativeKey === '.' || nativeKey === '..' || separators.test(nativeKey)) return null;
  return join(dir, nativeKey);
}
