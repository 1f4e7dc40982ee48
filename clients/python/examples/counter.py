# counter: add 1 to a counter shared with other processes (Python, C, Node), N times, each
# under the segment's lock. Run:
#
#   python3 clients/python/examples/counter.py demo-counter 100000
#
# (after `pip install ./clients/python`, or with clients/python on PYTHONPATH). The segment
# "demo-counter" (8 bytes: one unsigned 64-bit counter) is attached, or created if nobody has
# it yet; the last process to detach removes it.
# SPDX-License-Identifier: MIT
import struct
import sys

import qshm


def open_segment(key):
    for _ in range(10):
        try:
            return qshm.SharedMemory(key)                      # attach (default dir: /dev/shm)
        except qshm.SharedMemoryError as e:
            if e.error != "NotFound":
                raise
        try:
            return qshm.SharedMemory(key, create=8)            # zero-filled
        except qshm.SharedMemoryError as e:
            if e.error != "AlreadyExists":                     # someone else was quicker: attach
                raise
    raise RuntimeError(f"could not attach or create {key!r}")


def main(key, n):
    abandoned = value = 0
    with open_segment(key) as seg:
        for _ in range(n):
            with seg.locked():
                if seg.lock_was_abandoned:                     # a holder died mid-update: check the data
                    abandoned += 1
                (value,) = struct.unpack_from("<Q", seg.buf, 0)
                value += 1
                struct.pack_into("<Q", seg.buf, 0, value)
    print(f"counter {value} after my {n} increments ({abandoned} taken over from dead holders)")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(f"usage: {sys.argv[0]} KEY N")
    main(sys.argv[1], int(sys.argv[2]))
