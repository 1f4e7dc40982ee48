#!/usr/bin/env bash
# Makes the Wine prefix $WINEPREFIX ready to run the official Windows node.exe, once (a prefix
# that has system.reg is left alone). Used by scripts/test-win32.sh and benchmarks/win32.mjs.
#
#   WINEPREFIX=/tmp/some-dir WINEARCH=win64 bash scripts/wine-prefix.sh
set -euo pipefail
: "${WINEPREFIX:?set WINEPREFIX}"
export WINEARCH=${WINEARCH:-win64} WINEDEBUG=${WINEDEBUG:--all}
[ -f "$WINEPREFIX/system.reg" ] && exit 0
wineboot -i >/dev/null 2>&1 || true   # warns that wine32 is missing on a wine64-only install: harmless
# Node 20 refuses Wine's default Windows 7 (exit 216).
wine reg add 'HKCU\Software\Wine' /v Version /d win10 /f >/dev/null 2>&1
# No debugger for crashing processes (the ReadOnly test crashes one on purpose).
wine reg delete 'HKLM\Software\Microsoft\Windows NT\CurrentVersion\AeDebug' /v Debugger /f >/dev/null 2>&1 || true
wineserver -w
