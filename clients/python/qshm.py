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
