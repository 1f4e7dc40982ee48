// SPDX-License-Identifier: MIT
/**
 * Where qshm's compiled addon can be, in the order the loader (native.ts) tries them. Free of
 * side effects so that scripts/install.mjs asks the same question before deciding to compile.
 *
 * - A local build, `build/Release/qshm.node` (or `build/Debug`): it exists only when someone
 *   compiled on this machine (a contributor's `npm install`, `npm rebuild qshm`,
 *   `npm install --build-from-source`), so when present it is what they asked for.
 * - The prebuilt Node-API binary shipped in the package, named by node-gyp-build's conventions:
 *   `prebuilds/<platform>-<arch>/qshm[.<libc>].napi.node`, e.g.
 *   `prebuilds/linux-arm64/qshm.glibc.napi.node`, `prebuilds/win32-x64/qshm.napi.node`.
 *   Node-API is ABI-stable, so one binary serves every supported Node version. On Linux the C
 *   library is part of the name: a glibc binary is never loaded under musl.
 * @packageDocumentation
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The addon's file name stem (binding.gyp's target_name). @internal */
export const ADDON_NAME = 'qshm';

/**
 * The C library this Linux process runs on, read from its own memory map (`/proc/self/maps`:
 * musl's loader is its libc, glibc maps `libc.so.6`); where /proc is hidden, from Node's
 * diagnostic report (slower: tens of milliseconds). `undefined` off Linux. @internal
 */
export function libcFamily(platform: string = process.platform): 'glibc' | 'musl' | undefined {
  if (platform !== 'linux') return undefined;
  try {
    const maps = readFileSync('/proc/self/maps', 'latin1');
    if (/\/ld-musl-[^/\n]*$/m.test(maps)) return 'musl';
    if (/\/libc\.so\.6$/m.test(maps)) return 'glibc';
  } catch {
    // fall through to the report
  }
  const report = process.report.getReport() as { header?: { glibcVersionRuntime?: string } };
  return report.header?.glibcVersionRuntime ? 'glibc' : 'musl';
}

/**
 * The prebuilt binary for a platform, relative to the package root, e.g.
 * `prebuilds/linux-x64/qshm.glibc.napi.node`. @internal
 */
export function prebuildPath(
  platform: string = process.platform,
  arch: string = process.arch,
  libc: string | undefined = libcFamily(platform),
): string {
  const tags = [ADDON_NAME, ...(libc ? [libc] : []), 'napi', 'node'];
  return join('prebuilds', `${platform}-${arch}`, tags.join('.'));
}

/** Local builds, relative to the package root, in the order they are tried. @internal */
export const LOCAL_BUILDS: readonly string[] = [
  join('build', 'Release', `${ADDON_NAME}.node`),
  join('build', 'Debug', `${ADDON_NAME}.node`),
];
