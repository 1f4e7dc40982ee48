# SPDX-License-Identifier: MIT
"""Join qshm shared-memory segments from Python: a pure-Python client (standard library only).

A qshm segment is a file (in /dev/shm or another directory) or a memfd whose header holds a
futex lock word and attachment slots. Node.js programs use it through the ``qshm`` package
(``QSharedMemory``); this module lets Python programs create, attach, lock and detach the same
segments on an equal footing: robust takeover of a dead holder's lock (reported as
abandoned), removal by the last detach, reclaiming of stale files, validation of every
header before use. The format and protocol are docs/format.md in the qshm repository; this
module is a reference implementation of it.

    from qshm import SharedMemory

    with SharedMemory("market", create=4096) as seg:   # or SharedMemory("market") to attach
        with seg.locked():
            if seg.lock_was_abandoned:
                ...                                      # the previous holder died holding it
            seg.buf[0] = 42                              # seg.buf: a memoryview of the data

Linux (3.15+) on a 64-bit little-endian CPU (x86-64, arm64, riscv64, ppc64le, loongarch64),
Python 3.9+. The atomic operations come from ``libatomic.so.1`` (Debian/Ubuntu package
``libatomic1``, installed with gcc; Fedora ``libatomic``), the futex from ``syscall(2)``,
both through ctypes; nothing is compiled.

One ``SharedMemory`` object is one attachment and one lock owner: use it from one thread at
a time. Separate objects (in one thread, several threads or processes) exclude each other.

MIT License. Copyright (c) the qshm contributors.
"""
import contextlib
import ctypes
import errno as _errno
import fcntl
import hashlib
import mmap
import os
import struct
import time

__all__ = ["SharedMemory", "SharedMemoryError", "from_fd", "key_to_name", "READ_ONLY", "READ_WRITE"]
__version__ = "0.1.0"

# BEGIN GENERATED layout (clients/generate.mjs; do not edit)
# Header layout (lib/format.ts).
MAGIC = b"QSHMSEG\x00"
MAGIC_OFFSET = 0
VERSION_OFFSET = 8
HEADER_SIZE_OFFSET = 12
DATA_SIZE_OFFSET = 16
LOCK_WORD_OFFSET = 24
TOKEN_COUNTER_OFFSET = 28
SLOT_COUNT_OFFSET = 32
SLOT_TABLE_OFFSET_OFFSET = 36
FLAGS_OFFSET = 40
PRESENCE_LOCK_BYTE = 0
VERSION = 1
SLOT_TABLE_OFFSET = 2048
SLOT_COUNT = 512
SLOT_BITS = 9
HEADER_SIZE = 4096
MAX_HEADER_SIZE = 1048576
WAITERS_BIT = 2147483648
TOKEN_MASK = 2147483647
MAX_GENERATION = 4194303

# Qt's QSharedMemory::SharedMemoryError names, indexed by Qt's numbers (lib/errors.ts).
ERROR_NAMES = ("NoError", "PermissionDenied", "InvalidSize", "KeyError", "AlreadyExists", "NotFound", "LockError", "OutOfResources", "UnknownError")

# errno -> (Qt error number, Qt's text) (lib/errors.ts qtErrorFor); anything else is UnknownError.
_QT_ERRORS = {
    "EACCES": (1, "permission denied"),
    "EDQUOT": (7, "out of resources"),
    "EEXIST": (4, "already exists"),
    "EFBIG": (7, "out of resources"),
    "EMFILE": (7, "out of resources"),
    "ENAMETOOLONG": (3, "key too long"),
    "ENFILE": (7, "out of resources"),
    "ENOENT": (5, "doesn't exist"),
    "ENOMEM": (7, "out of resources"),
    "ENOSPC": (7, "out of resources"),
    "EPERM": (1, "permission denied"),
}
# END GENERATED layout

READ_ONLY, READ_WRITE = 0, 1  # Qt's QSharedMemory::AccessMode numbering

_SPINS = 64
_FIRST_SLICE = 0.002
_MAX_SLICE = 0.050
_PRESENCE_WAIT = 2.0
_ATTACH_TRIES = 5
_MAX_DATA = (1 << 53) - 1  # the Node side's Number.MAX_SAFE_INTEGER

# Kernel ABI values, for Pythons whose fcntl module predates them.
_F_OFD_GETLK = getattr(fcntl, "F_OFD_GETLK", 36)
_F_OFD_SETLK = getattr(fcntl, "F_OFD_SETLK", 37)
_F_GET_SEALS = getattr(fcntl, "F_GET_SEALS", 1034)
_F_SEAL_WRITE = getattr(fcntl, "F_SEAL_WRITE", 0x8)
_F_SEAL_FUTURE_WRITE = getattr(fcntl, "F_SEAL_FUTURE_WRITE", 0x10)
_WRITE_SEALS = _F_SEAL_WRITE | _F_SEAL_FUTURE_WRITE

_CREATE = "QSharedMemory::create"
_ATTACH = "QSharedMemory::attach"


class SharedMemoryError(OSError):
    """A qshm failure. ``error`` is Qt's QSharedMemory::SharedMemoryError name ("NotFound", ...),
    ``code`` its number, ``errno`` the failing system call's errno (0 if none), ``strerror`` and
    ``str(e)`` a Qt-style message."""

    def __init__(self, code, message, err=0):
        super().__init__(err, message)
        self.code = code
        self.error = ERROR_NAMES[code]

    def __str__(self):
        return self.strerror


def _fail(code, message, err=0):
    raise SharedMemoryError(ERROR_NAMES.index(code), message, err)


def _sys_error(fn, e, call, path=None, code=None, why=None):
    """The error for a failed system call, with Qt's errno mapping unless code/why override it."""
    qt, text = _QT_ERRORS.get(_errno.errorcode.get(e, ""), (ERROR_NAMES.index("UnknownError"), None))
    if code is not None:
        qt = ERROR_NAMES.index(code)
    where = f"{call} '{path}'" if path else call
    if why is None and text is None:
        return SharedMemoryError(qt, f"{fn}: unknown error: {os.strerror(e)} ({where})", e)
    return SharedMemoryError(qt, f"{fn}: {why or text} ({where}: {os.strerror(e)})", e)


# ---- the platform: struct flock, futex, atomics ----

_SYS_FUTEX = {"x86_64": 202, "aarch64": 98, "arm64": 98, "riscv64": 98, "loongarch64": 98, "ppc64le": 221}
_FUTEX_WAIT, _FUTEX_WAKE = 0, 1  # shared futexes: never FUTEX_PRIVATE_FLAG
_SEQ_CST = 5
# struct flock of 64-bit Linux: short l_type, short l_whence, off_t l_start, off_t l_len,
# pid_t l_pid, in native alignment (4 bytes of padding after l_whence and after l_pid).
_FLOCK = "hhqqi4x"


class _Platform:
    """libc's syscall() and libatomic's 32-bit atomics, loaded on first use."""

    def __init__(self):
        machine = os.uname().machine
        if struct.calcsize("P") != 8 or machine not in _SYS_FUTEX:
            raise SharedMemoryError(ERROR_NAMES.index("UnknownError"),
                                    f"qshm: unsupported platform {machine} (needs 64-bit little-endian Linux)")
        self.sys_futex = _SYS_FUTEX[machine]
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.libc.syscall.restype = ctypes.c_long
        try:
            atomic = ctypes.CDLL("libatomic.so.1")
        except OSError as e:
            raise SharedMemoryError(ERROR_NAMES.index("UnknownError"),
                                    f"qshm: libatomic.so.1 is missing (install libatomic1): {e}") from None
        # getattr: a "__name" written inside a class body would be name-mangled.
        self.add = getattr(atomic, "__atomic_fetch_add_4")
        self.add.argtypes = (ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int)
        self.add.restype = ctypes.c_uint32
        self.load = getattr(atomic, "__atomic_load_4")
        self.load.argtypes = (ctypes.c_void_p, ctypes.c_int)
        self.load.restype = ctypes.c_uint32
        self.store = getattr(atomic, "__atomic_store_4")
        self.store.argtypes = (ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int)
        self.store.restype = None
        self.cas = getattr(atomic, "__atomic_compare_exchange_4")
        self.cas.argtypes = (ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint32, ctypes.c_bool, ctypes.c_int,
                             ctypes.c_int)
        self.cas.restype = ctypes.c_bool  # a C bool: read as int, the upper bits are garbage

    def futex_wait(self, addr, expected, seconds):
        """0, or the errno (ETIMEDOUT, EAGAIN, EINTR)."""
        ns = max(int(seconds * 1e9), 0)
        ts = ctypes.create_string_buffer(struct.pack("qq", ns // 1000000000, ns % 1000000000))
        r = self.libc.syscall(ctypes.c_long(self.sys_futex), ctypes.c_void_p(addr), ctypes.c_int(_FUTEX_WAIT),
                              ctypes.c_uint32(expected), ts, None, ctypes.c_int(0))
        return ctypes.get_errno() if r < 0 else 0

    def futex_wake(self, addr, n):
        self.libc.syscall(ctypes.c_long(self.sys_futex), ctypes.c_void_p(addr), ctypes.c_int(_FUTEX_WAKE),
                          ctypes.c_int(n), None, None, ctypes.c_int(0))


_platform = None


def _plat():
    global _platform
    if _platform is None:
        _platform = _Platform()
    return _platform


def _ofd(fd, cmd, kind, byte):
    """One-byte open file description lock; returns the l_type the kernel left (for F_OFD_GETLK)."""
    fl = fcntl.fcntl(fd, cmd, struct.pack(_FLOCK, kind, os.SEEK_SET, byte, 1, 0))
    return struct.unpack(_FLOCK, fl)[0]


def _try_ofd(fd, kind, byte):
    """F_OFD_SETLK without waiting: True if taken, False if someone else holds a conflicting lock."""
    try:
        _ofd(fd, _F_OFD_SETLK, kind, byte)
        return True
    except OSError as e:
        if e.errno in (_errno.EAGAIN, _errno.EACCES):
            return False
        raise


def _unlock_byte(fd, byte):
    try:
        _ofd(fd, _F_OFD_SETLK, fcntl.F_UNLCK, byte)
    except OSError:
        pass


def _same_file(path, fd):
    """Whether ``path`` still names the file open on ``fd``."""
    try:
        a, b = os.lstat(path), os.fstat(fd)
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino) and b.st_nlink > 0


def key_to_name(key):
    """Qt's file name for ``key``: "qipc_sharedmemory_" + its ASCII letters + the hex SHA-1 of its
    UTF-8 bytes; "" for an empty key."""
    if key == "":
        return ""
    letters = "".join(c for c in key if "A" <= c <= "Z" or "a" <= c <= "z")
    return "qipc_sharedmemory_" + letters + hashlib.sha1(key.encode("utf-8")).hexdigest()


def _validate(h, file_size):
    """Checks a header (docs/format.md §4); returns (header_size, data_size, slot_table, slot_count)."""
    magic, version, hs, ds = struct.unpack_from("<8sIIQ", h, MAGIC_OFFSET)
    if magic != MAGIC:
        return "bad magic"
    if version != VERSION:
        return f"unsupported format version {version}"
    if hs < HEADER_SIZE or hs > MAX_HEADER_SIZE or hs % 4096:
        return f"bad header size {hs}"
    if not 1 <= ds <= _MAX_DATA:
        return f"bad data size {ds}"
    if hs + ds > file_size:
        return f"file is {file_size} bytes, shorter than header {hs} + data {ds}"
    (table,) = struct.unpack_from("<I", h, SLOT_TABLE_OFFSET_OFFSET)
    (count,) = struct.unpack_from("<I", h, SLOT_COUNT_OFFSET)
    if table < 64 or table % 4 or not 1 <= count <= 1 << SLOT_BITS or table + 4 * count > HEADER_SIZE:
        return "bad slot table"
    return hs, ds, table, count


def _take_presence(fd, fn, path):
    """Shared lock on the presence byte, retried for at most 2 s (a detacher or reclaimer holds it
    exclusively only for a moment)."""
    start, nap = time.monotonic(), 0.00005
    while True:
        try:
            if _try_ofd(fd, fcntl.F_RDLCK, PRESENCE_LOCK_BYTE):
                return
        except OSError as e:
            raise _sys_error(fn, e.errno, "fcntl(F_OFD_SETLK)", path) from None
        if time.monotonic() - start > _PRESENCE_WAIT:
            _fail("LockError", f"{fn}: unable to lock (another process has held the segment's presence lock "
                               "for over 2 s)")
        time.sleep(nap)
        nap = min(nap * 2, 0.05)


class SharedMemory:
    """An attachment to a qshm segment.

    ``SharedMemory(key)`` attaches the segment for ``key`` (Qt's key derivation) in ``dir``
    (default /dev/shm); ``create=size`` creates it with ``size`` zeroed data bytes instead
    (SharedMemoryError "AlreadyExists" if a live segment has the key; a stale one is replaced).
    ``native_key=path`` names the file directly. ``readonly=True`` maps the data read-only (the
    lock still works when the file is writable by this process).

    ``buf`` is a memoryview of the data (``numpy.frombuffer(seg.buf, ...)`` works); release any
    views of it before ``detach()``. The last attachment to detach removes the file.
    """

    def __init__(self, key=None, create=None, readonly=False, dir=None, *, native_key=None):
        self._fd = -1
        self._detached = True
        self._held = False
        self._abandoned = False
        self.path = None
        if native_key is None:
            if not isinstance(key, str):
                raise TypeError(f"key must be a str, not {type(key).__name__}")
            fn = _CREATE if create is not None else _ATTACH
            if key == "":
                _fail("KeyError", f"{fn}: key is empty")
            native_key = os.path.join("/dev/shm" if dir is None else dir, key_to_name(key))
        elif not isinstance(native_key, str):
            raise TypeError(f"native_key must be a str, not {type(native_key).__name__}")
        if create is not None:
            if readonly:
                raise ValueError("create= and readonly=True exclude each other")
            if isinstance(create, bool) or not isinstance(create, int):
                raise TypeError(f"create must be an int size, not {type(create).__name__}")
            self._create(native_key, create)
        else:
            self._attach(native_key, readonly)

    @classmethod
    def from_fd(cls, fd, readonly=False):
        """Attaches a memfd segment received as descriptor ``fd`` (inherited, e.g. from Node's
        spawnWithSegment(), or over SCM_RIGHTS). ``fd`` stays the caller's: the attachment opens
        its own description of it through /proc/self/fd, so it has its own locks."""
        if isinstance(fd, bool) or not isinstance(fd, int):
            raise TypeError(f"fd must be an int, not {type(fd).__name__}")
        self = cls.__new__(cls)
        self._fd, self._detached, self._held, self._abandoned, self.path = -1, True, False, False, None
        self._attach_fd(fd, readonly)
        return self

    # ---- opening ----

    def _open(self, fd, readonly, writable, fn, path):
        """Validates and maps ``fd``, takes presence and (if writable) a slot and token. Owns ``fd``."""
        hdr = data = None
        try:
            st = os.fstat(fd)
            if not (st.st_mode & 0o170000) == 0o100000:
                _fail("KeyError", f"{fn}: not a regular file")
            if st.st_size < HEADER_SIZE:
                _fail("UnknownError", f"{fn}: not a valid qshm segment (file is only {st.st_size} bytes)")
            _take_presence(fd, fn, path)
            hprot = mmap.PROT_READ | (mmap.PROT_WRITE if writable else 0)
            hdr = mmap.mmap(fd, HEADER_SIZE, mmap.MAP_SHARED, hprot)
            info = _validate(hdr, st.st_size)
            if isinstance(info, str):
                _fail("UnknownError", f"{fn}: not a valid qshm segment ({info})")
            hs, ds, self._table, self._slots = info
            if hs != HEADER_SIZE:
                hdr.close()
                hdr = None
                hdr = mmap.mmap(fd, hs, mmap.MAP_SHARED, hprot)
            dprot = mmap.PROT_READ | (0 if readonly else mmap.PROT_WRITE)
            data = mmap.mmap(fd, ds, mmap.MAP_SHARED, dprot, offset=hs)
            self._fd, self._hdr, self._data, self.size = fd, hdr, data, ds
            self._writable, self._slot, self._token, self._no_lock = writable, -1, 0, None
            self.path = path
            if writable:
                self._join()
            else:
                self._no_lock = "the segment was opened read-only (no write permission), so it cannot lock"
            self.buf = memoryview(data)
            self._detached = False
        except BaseException:
            for m in (data, hdr):
                if m is not None:
                    m.close()
            os.close(fd)  # releases the presence and slot locks
            self._fd = -1
            raise

    def _join(self):
        """Claims a slot and publishes a fresh token (docs/format.md §6)."""
        p = _plat()
        self._base = ctypes.addressof(ctypes.c_char.from_buffer(self._hdr))
        for slot in range(self._slots):
            try:
                if _try_ofd(self._fd, fcntl.F_WRLCK, self._table + 4 * slot):
                    break
            except OSError as e:
                raise _sys_error(_ATTACH, e.errno, "fcntl(F_OFD_SETLK)", self.path) from None
        else:
            _fail("OutOfResources", f"{_ATTACH}: out of resources (all {self._slots} attachment slots are in use)")
        gen = 0
        while gen == 0:
            gen = (p.add(self._base + TOKEN_COUNTER_OFFSET, 1, _SEQ_CST) + 1) & MAX_GENERATION
        self._slot, self._token = slot, gen << SLOT_BITS | slot
        p.store(self._base + self._table + 4 * slot, self._token, _SEQ_CST)

    def _attach(self, path, readonly):
        for _ in range(_ATTACH_TRIES):
            writable = True
            flags = os.O_CLOEXEC | os.O_NOFOLLOW
            try:
                try:
                    fd = os.open(path, flags | os.O_RDWR)
                except PermissionError:
                    if not readonly:
                        raise
                    fd = os.open(path, flags | os.O_RDONLY)
                    writable = False
            except OSError as e:
                if e.errno == _errno.ELOOP:
                    raise _sys_error(_ATTACH, e.errno, "open", path, "KeyError",
                                     "key names a symbolic link; refusing to follow it") from None
                if e.errno == _errno.ENOTDIR or (e.errno == _errno.ENOENT and not os.path.isdir(os.path.dirname(path) or ".")):
                    raise _sys_error(_ATTACH, e.errno, "open", path, "KeyError", "directory does not exist") from None
                raise _sys_error(_ATTACH, e.errno, "open", path) from None
            self._open(fd, readonly, writable, _ATTACH, path)
            # A last detacher may have removed the file between our open() and our presence lock.
            if _same_file(path, self._fd):
                return
            self._detach(remove=False)
        _fail("NotFound", f"{_ATTACH}: doesn't exist", _errno.ENOENT)

    def _create(self, path, size):
        if not 1 <= size <= _MAX_DATA:
            _fail("InvalidSize", f"{_CREATE}: create size is less or equal to 0 or too large")
        d = os.path.dirname(path) or "."
        for attempt in range(3):
            try:
                fd = os.open(d, os.O_TMPFILE | os.O_RDWR | os.O_CLOEXEC, 0o600)
            except OSError as e:
                if e.errno in (_errno.ENOENT, _errno.ENOTDIR):
                    raise _sys_error(_CREATE, e.errno, "open", d, "KeyError", f"directory {d} does not exist") from None
                if e.errno in (_errno.EOPNOTSUPP, _errno.EISDIR, _errno.EINVAL):
                    raise _sys_error(_CREATE, e.errno, "open(O_TMPFILE)", d, "UnknownError",
                                     "the filesystem cannot make unnamed files (O_TMPFILE); use tmpfs") from None
                raise _sys_error(_CREATE, e.errno, "open(O_TMPFILE)", d) from None
            try:
                os.fchmod(fd, 0o600)
                _init_header(fd, size, path)
            except OSError as e:
                os.close(fd)
                if isinstance(e, SharedMemoryError):
                    raise
                raise _sys_error(_CREATE, e.errno, "fchmod", path) from None
            self._open(fd, False, True, _CREATE, None)
            try:
                _link_fd(self._fd, path)
                self.path = path
                return
            except OSError as e:
                err = e.errno
            self._detach(remove=False)  # never linked: removes nothing
            if err != _errno.EEXIST or attempt >= 2 or not _reclaim_stale(path):
                raise _sys_error(_CREATE, err, "linkat", path)

    def _attach_fd(self, fd, readonly):
        try:
            acc = fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE
            st = os.fstat(fd)
        except OSError as e:
            raise _sys_error(_ATTACH, e.errno, "fstat", None, "KeyError", f"{fd} is not an open descriptor") from None
        if acc == os.O_WRONLY:
            _fail("PermissionDenied", f"{_ATTACH}: permission denied (the descriptor is write-only)", _errno.EACCES)
        if acc == os.O_RDONLY and not readonly:
            _fail("PermissionDenied", f"{_ATTACH}: permission denied (the descriptor is read-only)", _errno.EACCES)
        if (st.st_mode & 0o170000) != 0o100000 or st.st_nlink != 0:
            _fail("KeyError", f"{_ATTACH}: the descriptor is not a memfd segment (attach named segments by key)")
        shared = False
        try:  # a new open file description of our own: the sender's carries the sender's locks
            own = os.open(f"/proc/self/fd/{fd}", (os.O_RDONLY if acc == os.O_RDONLY else os.O_RDWR) | os.O_CLOEXEC)
        except OSError as e:
            if e.errno in (_errno.EMFILE, _errno.ENFILE, _errno.ENOMEM):
                raise _sys_error(_ATTACH, e.errno, "open", f"/proc/self/fd/{fd}") from None
            own = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 0)
            shared = True
        try:
            seals = fcntl.fcntl(own, _F_GET_SEALS)
        except OSError:
            seals = 0
        if seals & _WRITE_SEALS and not readonly:
            os.close(own)
            _fail("PermissionDenied", f"{_ATTACH}: permission denied (the segment is sealed against writing; "
                                      "attach it read-only)", _errno.EPERM)
        writable = not shared and not seals & _WRITE_SEALS and acc != os.O_RDONLY
        self._open(own, readonly, writable, _ATTACH, None)
        if shared:
            self._no_lock = ("the descriptor could not be reopened through /proc/self/fd; a duplicate shares the "
                             "sender's locks, so this attachment stays out of the lock")
        elif seals & _WRITE_SEALS:
            self._no_lock = "the segment is sealed against writing, so this attachment cannot lock"

    # ---- the lock (docs/format.md §7, §8) ----

    def _holder_alive(self, holder):
        slot = holder & ((1 << SLOT_BITS) - 1)
        if slot >= self._slots or _plat().load(self._base + self._table + 4 * slot, _SEQ_CST) != holder:
            return False
        try:
            return _ofd(self._fd, _F_OFD_GETLK, fcntl.F_WRLCK, self._table + 4 * slot) != fcntl.F_UNLCK
        except OSError:
            return True  # unsure: never steal a live lock

    def _acquire(self, timeout):
        """True (held), "abandoned" (taken over from a dead holder) or False (timed out)."""
        p, me = _plat(), self._token
        w = self._base + LOCK_WORD_OFFSET
        expected = ctypes.c_uint32(0)
        ref = ctypes.byref(expected)

        def cas(old, new):
            expected.value = old
            return p.cas(w, ref, new, False, _SEQ_CST, _SEQ_CST)

        if cas(0, me):
            return True
        for _ in range(_SPINS):
            if p.load(w, _SEQ_CST) == 0 and cas(0, me):
                return True
        if timeout == 0:
            return False
        deadline = None if timeout is None or timeout < 0 else time.monotonic() + timeout
        slice_ = _FIRST_SLICE
        while True:
            v = p.load(w, _SEQ_CST)
            if v & TOKEN_MASK == 0:
                # Free (or a corrupt bare waiters bit); taken on the contended path: keep the bit.
                if cas(v, me | WAITERS_BIT):
                    return True
                continue
            if not v & WAITERS_BIT:
                if not cas(v, v | WAITERS_BIT):
                    continue
                v |= WAITERS_BIT
            holder = v & TOKEN_MASK
            if holder == me:
                return True  # never probe ourselves: F_OFD_GETLK does not see our own locks
            wait = slice_
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    if p.load(w, _SEQ_CST) == 0:
                        p.futex_wake(w, 1)  # we may have consumed an unlock's wake-up: pass it on
                    return False
                wait = min(wait, left)
            if p.futex_wait(w, v, wait) == _errno.ETIMEDOUT:
                slice_ = min(slice_ * 2, _MAX_SLICE)
                if not self._holder_alive(holder) and cas(v, me | WAITERS_BIT):
                    return "abandoned"
            # woken, EAGAIN (the word changed) or EINTR: look again

    def try_lock(self, timeout=0):
        """Takes the lock, waiting at most ``timeout`` seconds (0: do not wait; None or < 0: forever).
        True if held (also if this object already holds it), False on timeout."""
        self._check_attached("QSharedMemory::lock")
        if self._held:
            return True
        if not self._token:
            _fail("LockError", f"QSharedMemory::lock: unable to lock ({self._no_lock})")
        r = self._acquire(timeout)
        if not r:
            return False
        self._held, self._abandoned = True, r == "abandoned"
        return True

    def lock(self):
        """Takes the lock, waiting as long as needed. Returns True."""
        return self.try_lock(None)

    def unlock(self):
        """Releases the lock (SharedMemoryError "LockError" if this object does not hold it)."""
        if not self._held:
            _fail("LockError", "QSharedMemory::unlock: not locked")
        if not self._release():
            _fail("LockError", "QSharedMemory::unlock: the lock word no longer names this attachment")

    def _release(self):
        p, w = _plat(), self._base + LOCK_WORD_OFFSET
        self._held = False
        expected = ctypes.c_uint32(0)
        while True:
            v = p.load(w, _SEQ_CST)
            if v & TOKEN_MASK != self._token:
                return False  # not ours: never write the word
            expected.value = v
            if p.cas(w, ctypes.byref(expected), 0, False, _SEQ_CST, _SEQ_CST):
                if v & WAITERS_BIT:
                    p.futex_wake(w, 1)
                return True

    @contextlib.contextmanager
    def locked(self, timeout=None):
        """``with seg.locked():`` holds the lock for the block (TimeoutError if ``timeout`` seconds pass)."""
        if not self.try_lock(timeout):
            raise TimeoutError(f"qshm: lock not acquired within {timeout} s")
        try:
            yield self
        finally:
            if self._held:
                self.unlock()

    @property
    def lock_was_abandoned(self):
        """True if the last acquisition took the lock over from a holder that died holding it: the
        data may be half-updated. Reset by the next acquisition."""
        return self._abandoned

    @property
    def is_attached(self):
        return not self._detached

    # ---- detaching ----

    def _check_attached(self, fn):
        if self._detached:
            _fail("NotFound", f"{fn}: not attached")

    def detach(self):
        """Releases the lock if held and detaches; the last attachment removes the file. Views of
        ``buf`` taken by the caller must be released first (else the mapping lives on with them)."""
        if not self._detached:
            self._detach(remove=True)

    def _detach(self, remove):
        self._detached = True
        fd = self._fd
        if self._held:
            self._release()
        if self._slot >= 0:
            expected = ctypes.c_uint32(self._token)
            _plat().cas(self._base + self._table + 4 * self._slot, ctypes.byref(expected), 0, False, _SEQ_CST,
                        _SEQ_CST)
            _unlock_byte(fd, self._table + 4 * self._slot)
            self._slot = -1
        try:
            self.buf.release()
        except BufferError:
            pass  # exported further (numpy, ...): it lives on with those views
        for m in (self._data, self._hdr):
            try:
                m.close()
            except BufferError:
                pass  # the caller still has views; the mapping goes when they do
        # Drop our shared presence lock first; if we can then lock it exclusively, nobody else
        # is attached (docs/format.md §9).
        _unlock_byte(fd, PRESENCE_LOCK_BYTE)
        try:
            last = self._writable and _try_ofd(fd, fcntl.F_WRLCK, PRESENCE_LOCK_BYTE)
        except OSError:
            last = False
        if last and remove and self.path and _same_file(self.path, fd):
            try:
                os.unlink(self.path)
            except OSError:
                pass
        _unlock_byte(fd, PRESENCE_LOCK_BYTE)
        os.close(fd)
        self._fd = -1

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.detach()

    def __repr__(self):
        state = "detached" if self._detached else f"size={self.size}"
        return f"<qshm.SharedMemory {self.path or 'memfd'} {state}>"


def from_fd(fd, readonly=False):
    """Attaches a memfd segment received as descriptor ``fd``; see SharedMemory.from_fd."""
    return SharedMemory.from_fd(fd, readonly)


def _link_fd(fd, path):
    """Gives the unnamed file on ``fd`` the name ``path``, complete and at once:
    linkat(/proc/self/fd, "<fd>", AT_FDCWD, path, AT_SYMLINK_FOLLOW). EEXIST if the name is taken."""
    procfd = os.open("/proc/self/fd", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.link(str(fd), path, src_dir_fd=procfd, follow_symlinks=True)
    finally:
        os.close(procfd)


def _init_header(fd, size, path):
    """Reserves the pages and writes a fresh header (magic last)."""
    page = mmap.PAGESIZE
    total = HEADER_SIZE + (size + page - 1) // page * page
    try:
        os.posix_fallocate(fd, 0, total)
    except OSError as e:
        if e.errno not in (_errno.EOPNOTSUPP, _errno.EINVAL):
            raise _sys_error(_CREATE, e.errno, "posix_fallocate", path) from None
        os.ftruncate(fd, total)
    with mmap.mmap(fd, HEADER_SIZE, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE) as h:
        struct.pack_into("<IIQ", h, VERSION_OFFSET, VERSION, HEADER_SIZE, size)
        struct.pack_into("<II", h, SLOT_COUNT_OFFSET, SLOT_COUNT, SLOT_TABLE_OFFSET)
        h[MAGIC_OFFSET:MAGIC_OFFSET + 8] = MAGIC  # last: a valid magic means a complete header


def _reclaim_stale(path):
    """Removes a file nobody is attached to whose header is valid. True: retry the create."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError as e:
        return e.errno == _errno.ENOENT
    try:
        if not _try_ofd(fd, fcntl.F_WRLCK, PRESENCE_LOCK_BYTE):
            return False  # live
        st = os.fstat(fd)
        if (st.st_mode & 0o170000) != 0o100000 or st.st_size < HEADER_SIZE:
            return False
        with mmap.mmap(fd, HEADER_SIZE, mmap.MAP_SHARED, mmap.PROT_READ) as h:
            if isinstance(_validate(h, st.st_size), str):
                return False  # not ours to remove
        if not _same_file(path, fd):
            return True
        os.unlink(path)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)
