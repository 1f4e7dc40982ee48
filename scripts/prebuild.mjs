// SPDX-License-Identifier: MIT
// Builds the prebuilt binaries that `npm pack` puts in the package (run by `prepack`; they are
// never committed): prebuilds/linux-x64/qshm.glibc.napi.node and
// prebuilds/linux-arm64/qshm.glibc.napi.node with g++ (natively or with Debian's cross
// compilers g++-x86-64-linux-gnu / g++-aarch64-linux-gnu), against node-api-headers, then
// stripped; prebuilds/win32-x64/qshm.napi.node by the tree's `npm run build:win32` (mingw) when
// it has that script.
//
//   node scripts/prebuild.mjs [--strict] [linux-x64] [linux-arm64] [win32-x64]   (none: all)
//
// A target whose toolchain is missing is skipped with a warning (an error with --strict); a
// build that fails is always an error.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, openSync, readFileSync, readSync, closeSync, rmSync, symlinkSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, nodeGypRebuild, which } from './node-gyp.mjs';

const GNU = { x64: 'x86_64-linux-gnu', arm64: 'aarch64-linux-gnu' };
const ELF_MACHINE = { x64: 62, arm64: 183 };
const argv = process.argv.slice(2);
const strict = argv.includes('--strict');
const wanted = argv.filter((a) => !a.startsWith('--'));
const targets = wanted.length ? wanted : ['linux-x64', 'linux-arm64', 'win32-x64'];
let failed = false;
// Build output goes to stderr: `npm pack --json` prints its JSON on stdout.
const TO_STDERR = ['inherit', 2, 2];

function problem(msg, fatal) {
  console.error(`prebuild: ${msg}`);
  if (fatal) failed = true;
}

/** The e_machine field of an ELF file. */
function elfMachine(file) {
  const fd = openSync(file, 'r');
  const b = Buffer.alloc(20);
  readSync(fd, b, 0, 20, 0);
  closeSync(fd);
  return b.readUInt32BE(0) === 0x7f454c46 ? b.readUInt16LE(18) : -1;
}

function buildLinux(arch) {
  const native = process.platform === 'linux' && process.arch === arch;
  const prefix = native ? '' : `${GNU[arch]}-`;
  const cxx = `${prefix}g++`;
  if (!which(cxx)) return problem(`linux-${arch}: skipped, ${cxx} not found (Debian: apt-get install g++${native ? '' : `-${GNU[arch].replace(/_/g, '-')}`})`, strict);
  // Build in a staging copy so the contributor's own build/Release is left alone.
  const stage = join(ROOT, 'build', `prebuild-linux-${arch}`);
  rmSync(stage, { recursive: true, force: true });
  mkdirSync(stage, { recursive: true });
  copyFileSync(join(ROOT, 'binding.gyp'), join(stage, 'binding.gyp'));
  symlinkSync(join(ROOT, 'native'), join(stage, 'native'));
  const env = { ...process.env, CXX: cxx, CC: `${prefix}gcc`, LINK: cxx };
  delete env.CFLAGS; delete env.CXXFLAGS; delete env.LDFLAGS;
  const status = nodeGypRebuild({ cwd: stage, arch, env, stdio: TO_STDERR });
  const built = join(stage, 'build', 'Release', 'qshm.node');
  if (status !== 0 || !existsSync(built)) return problem(`linux-${arch}: node-gyp failed (exit ${status})`, true);
  const out = join(ROOT, 'prebuilds', `linux-${arch}`, 'qshm.glibc.napi.node');
  mkdirSync(join(out, '..'), { recursive: true });
  copyFileSync(built, out);
  const strip = spawnSync(which(`${prefix}strip`) ?? 'strip', ['--strip-unneeded', out], { stdio: TO_STDERR });
  if (strip.status !== 0) problem(`linux-${arch}: strip failed; keeping the unstripped binary`, false);
  if (elfMachine(out) !== ELF_MACHINE[arch]) return problem(`linux-${arch}: ${out} is not an ${arch} ELF file`, true);
  rmSync(stage, { recursive: true, force: true });
  console.error(`prebuild: linux-${arch}: ${out} (${readFileSync(out).length} bytes)`);
}

function buildWin32() {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  const out = join(ROOT, 'prebuilds', 'win32-x64', 'qshm.napi.node');
  if (!pkg.scripts?.['build:win32']) {
    return problem('win32-x64: pending, this tree has no `build:win32` script (the mingw build)', false);
  }
  const npm = process.env.npm_execpath;
  const r = npm
    ? spawnSync(process.execPath, [npm, 'run', 'build:win32'], { cwd: ROOT, stdio: TO_STDERR })
    : spawnSync('npm', ['run', 'build:win32'], { cwd: ROOT, stdio: TO_STDERR });
  if (r.status !== 0 || !existsSync(out)) return problem(`win32-x64: \`npm run build:win32\` failed or did not write ${out}`, true);
  console.error(`prebuild: win32-x64: ${out} (${readFileSync(out).length} bytes)`);
}

for (const t of targets) {
  if (t === 'linux-x64') buildLinux('x64');
  else if (t === 'linux-arm64') buildLinux('arm64');
  else if (t === 'win32-x64') buildWin32();
  else problem(`unknown target ${t}`, true);
}
process.exit(failed ? 1 : 0);
