# memfd_child: the child side of clients/examples/memfd-parent.mjs. Attaches the memfd
# segment its Node parent handed over as a descriptor (QSHM_FD names it), reads the parent's
# text and writes a reply, under the lock.
#
#   node clients/examples/memfd-parent.mjs python3 clients/python/examples/memfd_child.py
# SPDX-License-Identifier: MIT
import os
import sys

import qshm

if "QSHM_FD" not in os.environ:
    sys.exit("run me through clients/examples/memfd-parent.mjs (QSHM_FD is not set)")
with qshm.from_fd(int(os.environ["QSHM_FD"])) as seg:
    with seg.locked():
        text = bytes(seg.buf[:seg.size]).split(b"\0", 1)[0].decode()
        print(f"child read: {text}", flush=True)
        reply = b"hello from Python\0"
        seg.buf[:len(reply)] = reply
