// SPDX-License-Identifier: MIT
// Child for the read-only hand-off test (memfd-parent.mjs readonly): tries to attach the
// inherited segment ReadWrite, then ReadOnly, and reports one JSON line.
import { AccessMode, QSharedMemory } from '../../dist/index.js';

const attempt = (mode) => {
  try {
    const s = QSharedMemory.fromFd(Number(process.env.QSHM_FD), mode);
    const r = { ok: true, byte0: s.data()[0] };
    s.detach();
    return r;
  } catch (e) {
    return { ok: false, code: e.code, qtError: e.qtError, message: e.message };
  }
};
process.stdout.write(`${JSON.stringify({ rw: attempt(AccessMode.ReadWrite), ro: attempt(AccessMode.ReadOnly) })}\n`);
