// SPDX-License-Identifier: MIT
// npm's install script for qshm. When the prebuilt binary for this platform loads, it compiles
// nothing. Otherwise (no prebuild fits, `npm install --build-from-source`, `npm rebuild qshm`)
// it builds from source with node-gyp against npm-delivered Node-API headers, downloading
// nothing; when a tool is missing it says which in one line. With --ignore-scripts this never
// runs and the loader (lib/native.ts) finds the prebuild at run time.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT, missingTools, nodeGypRebuild } from './node-gyp.mjs';

const require = createRequire(import.meta.url);
const env = process.env;
// `--build-from-source`, or node-pre-gyp's list form `--build-from-source=qshm,other`.
const flag = env.npm_config_build_from_source ?? '';
const fromSource = flag === 'true' || flag.split(',').includes('qshm') || process.argv.includes('--build-from-source');
const rebuild = env.npm_command === 'rebuild';

/** The prebuilt binary for this platform and whether it loads here. */
async function prebuild() {
  let addon;
  try {
    addon = await import(pathToFileURL(join(ROOT, 'dist', 'addon.js')).href);
  } catch {
    return { file: 'prebuilds/', error: 'none in a source checkout' }; // dist/ not built yet: a git clone
  }
  const rel = addon.prebuildPath();
  const where = `${process.platform}-${process.arch}${addon.libcFamily() ? ` (${addon.libcFamily()})` : ''}`;
  if (!existsSync(join(ROOT, rel))) return { file: rel, where, error: 'none shipped for this platform' };
  try {
    require(join(ROOT, rel));
    return { file: rel, where, ok: true };
  } catch (e) {
    return { file: rel, where, error: String(e.message).split('\n')[0] };
  }
}

const pre = await prebuild();
if (pre.ok && !fromSource && !rebuild) process.exit(0);

const fallback = pre.ok && !fromSource; // `npm rebuild` without --build-from-source: the prebuild still works
const noPrebuild = pre.ok ? '' : ` (no usable prebuilt binary: ${pre.file}: ${pre.error})`;
const hint =
  process.platform === 'linux' ? ' (Debian/Ubuntu: apt-get install g++ make python3; Alpine: apk add g++ make python3)' : '';
const missing = process.platform === 'win32' ? [] : missingTools(env);
if (missing.length > 0) {
  const line = `qshm: cannot build the native addon from source: missing ${missing.join(', ')}${noPrebuild}; install them${hint} and run \`npm rebuild qshm\`.`;
  if (fallback) {
    console.warn(`${line} Using the prebuilt ${pre.file}.`);
    process.exit(0);
  }
  console.error(line);
  process.exit(1);
}

const status = nodeGypRebuild({ env });
if (status !== 0) {
  const line = `qshm: building the native addon from source failed (node-gyp's output above)${noPrebuild}.`;
  if (fallback) {
    console.warn(`${line} Using the prebuilt ${pre.file}.`);
    process.exit(0);
  }
  console.error(line);
  process.exit(status);
}
