// SPDX-License-Identifier: MIT
// Runs node-gyp on qshm's binding.gyp against the Node-API headers of the npm package
// node-api-headers (scripts/nodedir/common.gypi), so a build from source never downloads Node's
// headers nor depends on a `nodedir` in the user's npm config. Shared by scripts/install.mjs
// (users, contributors) and scripts/prebuild.mjs (release builds).
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
/** The package root (where binding.gyp is). */
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const NODEDIR = join(ROOT, 'scripts', 'nodedir');

/** The full path of `cmd` on PATH, or undefined. */
export function which(cmd, path = process.env.PATH ?? '') {
  if (cmd.includes('/')) return canRun(cmd) ? cmd : undefined;
  for (const dir of path.split(delimiter)) {
    if (dir && canRun(join(dir, cmd))) return join(dir, cmd);
  }
  return undefined;
}

function canRun(file) {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * What a build from source with node-gyp needs and this machine lacks, as short phrases
 * (empty when nothing is missing). `cxx` is the C++ compiler make will call.
 */
export function missingTools(env = process.env) {
  const missing = [];
  const cxx = (env.CXX ?? 'g++').trim().split(/\s+/)[0];
  if (!which(cxx, env.PATH)) missing.push(`a C++17 compiler (${cxx}${env.CXX ? ', from $CXX' : ''})`);
  if (!which(process.platform === 'linux' ? 'make' : 'gmake', env.PATH) && !which('make', env.PATH)) missing.push('make');
  const python = env.npm_config_python || env.PYTHON;
  if (!(python ? which(python, env.PATH) : which('python3', env.PATH) || which('python', env.PATH))) {
    missing.push(`${python ?? 'python3'} (for node-gyp)`);
  }
  return missing;
}

/** node-gyp's CLI: the copy npm runs scripts with, else one installed next to qshm, else npm's own. */
function nodeGypCli(env) {
  if (env.npm_config_node_gyp) return env.npm_config_node_gyp;
  try {
    return require.resolve('node-gyp/bin/node-gyp.js');
  } catch {
    return join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
  }
}

/**
 * `node-gyp rebuild` in `cwd` (a directory with binding.gyp) against npm-delivered headers.
 * `arch` cross-compiles (set CC/CXX in `env`). Returns the exit status.
 */
export function nodeGypRebuild({ cwd = ROOT, arch, env = process.env, debug = false, stdio = 'inherit' } = {}) {
  const childEnv = { ...env };
  // Headers come from --nodedir below; a nodedir or dist-url from the user's npm config must not win.
  for (const k of Object.keys(childEnv)) {
    if (/^npm_config_(nodedir|dist_url|disturl|tarball|target|runtime)$/i.test(k)) delete childEnv[k];
  }
  // Windows links against node.lib, which node-api-headers ships only as a .def: there node-gyp
  // gets its usual headers (the prebuilt win32-x64 binary is the supported way).
  const headers = process.platform === 'win32' ? [] : [`--nodedir=${NODEDIR}`, '--force-process-config'];
  const args = [nodeGypCli(env), 'rebuild', ...headers];
  if (arch) args.push(`--arch=${arch}`);
  if (debug) args.push('--debug');
  const r = spawnSync(process.execPath, args, { cwd, env: childEnv, stdio });
  return r.status ?? 1;
}
