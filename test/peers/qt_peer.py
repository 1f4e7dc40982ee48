# SPDX-License-Identifier: MIT
"""A scriptable peer that uses the real Qt QSharedMemory, for test/interop-qt.test.mjs.

Usage: /usr/bin/python3 qt_peer.py PyQt6|PyQt5|PySide6
Reads one JSON command per line on stdin and answers each with one JSON line on stdout:
{"ok": <return value>, "error": <QSharedMemory::SharedMemoryError>, "errorString": ..., "value": ...}.
Commands (field "op"):
  new      key | native (+ optional type, PySide6 only) | ipc (QNativeIpcKey string, PySide6)
  create   size [mode]       attach [mode]     detach       size      nativeKey   ipcKey
  write    offset hex        read offset len   lock         unlock
  incr     n offset gate     (wait until byte `gate` is 1, then n locked increments of the
                             little-endian u32 at `offset`)
  exit                       (drops the object, as a Qt program's destructor would)
The first line printed is {"ready": true, "qt": "<Qt version>"}.
"""
import json
import sys
import time

BINDING = sys.argv[1]
if BINDING == 'PyQt6':
    from PyQt6.QtCore import QSharedMemory, QT_VERSION_STR as QT_VERSION
elif BINDING == 'PyQt5':
    from PyQt5.QtCore import QSharedMemory, QT_VERSION_STR as QT_VERSION
elif BINDING == 'PySide6':
    from PySide6.QtCore import QSharedMemory, QNativeIpcKey, qVersion
    QT_VERSION = qVersion()
else:
    sys.exit('unknown binding ' + BINDING)


def enum_int(v):
    return int(getattr(v, 'value', v))


def access(mode):
    return QSharedMemory.AccessMode.ReadOnly if mode == 0 else QSharedMemory.AccessMode.ReadWrite


def view(shm):
    return memoryview(shm.data())


def main():
    shm = None
    out = sys.stdout
    out.write(json.dumps({'ready': True, 'qt': QT_VERSION}) + '\n')
    out.flush()
    for line in sys.stdin:
        cmd = json.loads(line)
        op = cmd['op']
        value = None
        ok = True
        if op == 'new':
            if 'ipc' in cmd:
                shm = QSharedMemory(QNativeIpcKey.fromString(cmd['ipc']))
            elif 'native' in cmd:
                shm = QSharedMemory()
                if 'type' in cmd:
                    shm.setNativeKey(cmd['native'], QNativeIpcKey.Type(cmd['type']))
                else:
                    shm.setNativeKey(cmd['native'])
            else:
                shm = QSharedMemory(cmd.get('key', ''))
        elif op == 'create':
            ok = shm.create(cmd['size'], access(cmd.get('mode', 1)))
        elif op == 'attach':
            ok = shm.attach(access(cmd.get('mode', 1)))
        elif op == 'detach':
            ok = shm.detach()
        elif op == 'size':
            value = shm.size()
        elif op == 'nativeKey':
            value = shm.nativeKey()
        elif op == 'ipcKey':
            value = shm.nativeIpcKey().toString()
        elif op == 'write':
            data = bytes.fromhex(cmd['hex'])
            view(shm)[cmd['offset']:cmd['offset'] + len(data)] = data
        elif op == 'read':
            value = bytes(view(shm)[cmd['offset']:cmd['offset'] + cmd['len']]).hex()
        elif op == 'lock':
            ok = shm.lock()
        elif op == 'unlock':
            ok = shm.unlock()
        elif op == 'incr':
            mv, o = view(shm), cmd['offset']
            while mv[cmd['gate']] != 1:
                time.sleep(0.0005)
            for _ in range(cmd['n']):
                if not shm.lock():
                    ok = False
                    break
                v = int.from_bytes(mv[o:o + 4], 'little')
                mv[o:o + 4] = ((v + 1) & 0xffffffff).to_bytes(4, 'little')
                shm.unlock()
            del mv
        elif op == 'exit':
            shm = None
            out.write(json.dumps({'ok': True}) + '\n')
            out.flush()
            return
        else:
            ok = False
            value = 'unknown op ' + op
        reply = {'ok': ok, 'value': value}
        if shm is not None:
            reply['error'] = enum_int(shm.error())
            reply['errorString'] = shm.errorString()
        out.write(json.dumps(reply) + '\n')
        out.flush()


main()
