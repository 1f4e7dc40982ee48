/* qshm.h - join qshm shared-memory segments from C or C++. Single header, C11, Linux.
 * SPDX-License-Identifier: MIT
 * Copyright (c) the qshm contributors. MIT licence: see the end of this file.
 *
 * A qshm segment is a file (in /dev/shm or another directory) or a memfd whose header holds
 * a futex lock word and attachment slots; Node.js programs use it through the `qshm` package
 * (QSharedMemory), and this header lets C and C++ programs create, attach, lock and detach
 * the same segments on an equal footing: robust takeover of a dead holder's lock, removal by
 * the last detach, reclaiming of stale files, validation of every header before use. The
 * format and the protocol are docs/format.md in the qshm repository; this file is a reference
 * implementation of it.
 *
 * USE
 *   In exactly one C or C++ file:
 *       #define QSHM_IMPLEMENTATION
 *       #include "qshm.h"
 *   Everywhere else just #include "qshm.h". Define QSHM_STATIC before the include as well to
 *   make every function static to that one file. Linux 3.15+, glibc or musl, gcc or clang;
 *   compiles with -std=c11 (or later) and as C++ (-std=c++17). On 32-bit targets build with
 *   -D_FILE_OFFSET_BITS=64.
 *
 *   The file that defines QSHM_IMPLEMENTATION needs _GNU_SOURCE (for F_OFD_SETLK, O_TMPFILE,
 *   AT_EMPTY_PATH). qshm.h defines it itself, which works when that file includes qshm.h
 *   before any system header (a plain #include "qshm.h" earlier is fine); otherwise define
 *   _GNU_SOURCE first, or compile with -D_GNU_SOURCE. g++ defines it already.
 *
 *   qshm_status st;
 *   qshm *s = qshm_attach("market", NULL, QSHM_READ_WRITE, &st);   // key, dir (NULL: /dev/shm)
 *   if (!s) { fprintf(stderr, "%s\n", st.text); return 1; }
 *   if (qshm_lock(s)) {
 *       if (qshm_lock_was_abandoned(s)) ...  // the previous holder died holding it
 *       ((char *)qshm_data(s))[0]++;
 *       qshm_unlock(s);
 *   }
 *   qshm_detach(s);                                              // the last detach removes it
 *
 * ERRORS
 *   Functions that return a pointer return NULL on failure and fill the qshm_status they are
 *   given (may be NULL); functions on a segment return 0 on failure and fill
 *   qshm_last_error(s). `error` is Qt's QSharedMemory::SharedMemoryError number
 *   (enum qshm_error), `sys_errno` the errno of the failing system call (0 if none), `text` a
 *   Qt-style message. qshm_strerror(error) gives Qt's enum name ("NotFound", ...).
 *
 * THREADS
 *   One qshm object is one attachment and one lock owner: use it from one thread at a time.
 *   Separate objects (in one thread, several threads or several processes) exclude each other.
 *   Signals interrupting a wait are handled (the wait resumes); the functions are not
 *   async-signal-safe.
 *
 * FORK
 *   A child must not use, and should not detach, its parent's objects: attach again in the
 *   child. Descriptors are close-on-exec.
 */
/* Outside the include guard: the implementation may come after a plain include of qshm.h.
 * (The declarations below include only <stddef.h>, which sets no feature macros.) */
#if defined(QSHM_IMPLEMENTATION) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE 1
#endif

#ifndef QSHM_H
#define QSHM_H

#include <stddef.h>

/* BEGIN GENERATED layout (clients/generate.mjs; do not edit) */
/* Generated from lib/format.ts by qshm. Do not edit. */
#ifndef QSHM_FORMAT_H
#define QSHM_FORMAT_H
#define QSHM_MAGIC "QSHMSEG" /* followed by one NUL byte: 8 bytes */
#define QSHM_MAGIC_OFFSET 0u
#define QSHM_VERSION_OFFSET 8u
#define QSHM_HEADER_SIZE_OFFSET 12u
#define QSHM_DATA_SIZE_OFFSET 16u
#define QSHM_LOCK_WORD_OFFSET 24u
#define QSHM_TOKEN_COUNTER_OFFSET 28u
#define QSHM_SLOT_COUNT_OFFSET 32u
#define QSHM_SLOT_TABLE_OFFSET_OFFSET 36u
#define QSHM_FLAGS_OFFSET 40u
#define QSHM_PRESENCE_LOCK_BYTE 0u
#define QSHM_VERSION 1u
#define QSHM_SLOT_TABLE_OFFSET 2048u
#define QSHM_SLOT_COUNT 512u
#define QSHM_SLOT_BITS 9u
#define QSHM_HEADER_SIZE 4096u
#define QSHM_MAX_HEADER_SIZE 1048576u
#define QSHM_WAITERS_BIT 2147483648u
#define QSHM_TOKEN_MASK 2147483647u
#define QSHM_MAX_GENERATION 4194303u
#endif

/* Qt's QSharedMemory::SharedMemoryError, with Qt's numbering. */
enum qshm_error {
  QSHM_NO_ERROR = 0,
  QSHM_PERMISSION_DENIED = 1,
  QSHM_INVALID_SIZE = 2,
  QSHM_KEY_ERROR = 3,
  QSHM_ALREADY_EXISTS = 4,
  QSHM_NOT_FOUND = 5,
  QSHM_LOCK_ERROR = 6,
  QSHM_OUT_OF_RESOURCES = 7,
  QSHM_UNKNOWN_ERROR = 8,
};
/* END GENERATED layout */

#ifdef QSHM_STATIC
#define QSHMDEF static __attribute__((unused))
#else
#define QSHMDEF extern
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Access modes (Qt's QSharedMemory::AccessMode numbering). */
#define QSHM_READ_ONLY 0
#define QSHM_READ_WRITE 1

/* Length of qshm_key_to_name()'s result for a key with L ASCII letters, without the NUL. */
#define QSHM_NAME_LEN(letters) (18 + (letters) + 40)

/** An attachment to a segment (opaque). */
typedef struct qshm qshm;

/** What went wrong. */
typedef struct qshm_status {
  int error;      /* enum qshm_error (Qt's SharedMemoryError number); QSHM_NO_ERROR on success */
  int sys_errno;  /* errno of the failing system call, 0 if the failure was not a system call's */
  char text[256]; /* Qt-style message, e.g. "QSharedMemory::attach: doesn't exist (open ...)" */
} qshm_status;

/**
 * Qt's file name for `key` (UTF-8): "qipc_sharedmemory_" + the key's ASCII letters + the
 * lower-case hex SHA-1 of its bytes. Writes at most `size` bytes including the NUL (like
 * snprintf) and returns the length of the whole name; 0 for an empty key.
 */
QSHMDEF size_t qshm_key_to_name(const char *key, char *buf, size_t size);

/**
 * Creates the segment for `key` with `size` data bytes (zero-filled) in `dir` (NULL: /dev/shm)
 * and attaches it read-write. Fails with QSHM_ALREADY_EXISTS if a live segment has the key; a
 * stale one (every attachment died) is removed and replaced.
 */
QSHMDEF qshm *qshm_create(const char *key, const char *dir, size_t size, qshm_status *st);

/** qshm_create() by file path (Qt's native key) instead of key. */
QSHMDEF qshm *qshm_create_native(const char *path, size_t size, qshm_status *st);

/**
 * Attaches the segment for `key` in `dir` (NULL: /dev/shm). `mode`: QSHM_READ_WRITE or
 * QSHM_READ_ONLY (the data is mapped read-only; the lock still works if the file is writable
 * by this process).
 */
QSHMDEF qshm *qshm_attach(const char *key, const char *dir, int mode, qshm_status *st);

/** qshm_attach() by file path (Qt's native key) instead of key. */
QSHMDEF qshm *qshm_attach_native(const char *path, int mode, qshm_status *st);

/**
 * Attaches a memfd segment received as descriptor `fd` (inherited, e.g. from Node's
 * spawnWithSegment(), or over SCM_RIGHTS). `fd` stays the caller's: the attachment opens its
 * own description of it through /proc/self/fd (so it has its own locks). Without /proc it uses
 * a duplicate and stays out of the lock (qshm_lock fails with QSHM_LOCK_ERROR).
 */
QSHMDEF qshm *qshm_attach_fd(int fd, int mode, qshm_status *st);

/**
 * Detaches and frees `s` (NULL is ignored): releases the lock if held; the last attachment
 * to a file segment removes the file. Returns 1.
 */
QSHMDEF int qshm_detach(qshm *s);

/** The data (qshm_size() bytes, page-aligned). */
QSHMDEF void *qshm_data(const qshm *s);

/** The data size given to create. */
QSHMDEF size_t qshm_size(const qshm *s);

/** Takes the lock, waiting as long as needed. 1 on success (also if already held by `s`). */
QSHMDEF int qshm_lock(qshm *s);

/**
 * Takes the lock, waiting at most `timeout_ms` (0: do not wait; < 0: forever). 1 if held;
 * 0 on timeout (error QSHM_NO_ERROR) or failure (error set).
 */
QSHMDEF int qshm_trylock(qshm *s, int timeout_ms);

/** Releases the lock. 0 with QSHM_LOCK_ERROR if `s` does not hold it. */
QSHMDEF int qshm_unlock(qshm *s);

/**
 * 1 if the last acquisition took the lock over from a holder that died holding it: the data
 * may be half-updated. Reset by the next acquisition.
 */
QSHMDEF int qshm_lock_was_abandoned(const qshm *s);

/** The status of the last failed call on `s`. */
QSHMDEF const qshm_status *qshm_last_error(const qshm *s);

/** Qt's name for an enum qshm_error value ("NoError", "NotFound", ...). */
QSHMDEF const char *qshm_strerror(int error);

#ifdef __cplusplus
}
#endif
#endif /* QSHM_H */

/* ======================================================================================== */
#ifdef QSHM_IMPLEMENTATION
#ifndef QSHM_IMPLEMENTED
#define QSHM_IMPLEMENTED

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <linux/futex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#if !defined(F_OFD_SETLK) || !defined(O_TMPFILE) || !defined(AT_EMPTY_PATH)
#error "qshm.h: define _GNU_SOURCE before including any system header in the file that defines QSHM_IMPLEMENTATION"
#endif
#if !defined(__LP64__) && (!defined(_FILE_OFFSET_BITS) || _FILE_OFFSET_BITS != 64)
#error "qshm.h: on 32-bit targets compile with -D_FILE_OFFSET_BITS=64 (OFD locks need a 64-bit struct flock)"
#endif
#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE 0x0010 /* Linux 5.1 */
#endif

/* BEGIN GENERATED errors (clients/generate.mjs; do not edit) */
/* errno -> Qt error and Qt's text (lib/errors.ts qtErrorFor); anything else is UnknownError. */
static int qshm__qt_error_for(int e, const char **text) {
  switch (e) {
#ifdef EACCES
    case EACCES: *text = "permission denied"; return 1;
#endif
#ifdef EDQUOT
    case EDQUOT: *text = "out of resources"; return 7;
#endif
#ifdef EEXIST
    case EEXIST: *text = "already exists"; return 4;
#endif
#ifdef EFBIG
    case EFBIG: *text = "out of resources"; return 7;
#endif
#ifdef EMFILE
    case EMFILE: *text = "out of resources"; return 7;
#endif
#ifdef ENAMETOOLONG
    case ENAMETOOLONG: *text = "key too long"; return 3;
#endif
#ifdef ENFILE
    case ENFILE: *text = "out of resources"; return 7;
#endif
#ifdef ENOENT
    case ENOENT: *text = "doesn't exist"; return 5;
#endif
#ifdef ENOMEM
    case ENOMEM: *text = "out of resources"; return 7;
#endif
#ifdef ENOSPC
    case ENOSPC: *text = "out of resources"; return 7;
#endif
#ifdef EPERM
    case EPERM: *text = "permission denied"; return 1;
#endif
    default: *text = 0; return QSHM_UNKNOWN_ERROR;
  }
}

static const char *const qshm__error_names[] = {
  "NoError",
  "PermissionDenied",
  "InvalidSize",
  "KeyError",
  "AlreadyExists",
  "NotFound",
  "LockError",
  "OutOfResources",
  "UnknownError",
};
/* END GENERATED errors */

#ifdef __cplusplus
extern "C" {
#endif

#define QSHM__SPINS 64
#define QSHM__FIRST_SLICE_MS 2
#define QSHM__MAX_SLICE_MS 50
#define QSHM__PRESENCE_WAIT_MS 2000
#define QSHM__ATTACH_TRIES 5
#define QSHM__MAX_DATA ((uint64_t)1 << 53) /* exclusive: the Node side's Number.MAX_SAFE_INTEGER */

struct qshm {
  int fd;
  char *path; /* NULL: memfd, or a file that never got its name */
  uint8_t *hdr;
  size_t hdr_size;
  uint8_t *data;
  size_t data_size;
  uint32_t slot_table;
  uint32_t slot_count;
  int slot;       /* -1: none (not in the lock) */
  uint32_t token; /* 0: not in the lock */
  int writable;   /* the descriptor is writable: may lock and may remove the file */
  int held;
  int abandoned;
  const char *no_lock; /* why this attachment cannot lock, or NULL */
  qshm_status err;
};

/* ---- errors ---- */

static void qshm__vset(qshm_status *st, int error, int sys_errno, const char *fmt, va_list ap) {
  if (!st) return;
  st->error = error;
  st->sys_errno = sys_errno;
  vsnprintf(st->text, sizeof st->text, fmt, ap);
}

#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
static int qshm__set(qshm_status *st, int error, int sys_errno, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  qshm__vset(st, error, sys_errno, fmt, ap);
  va_end(ap);
  return 0;
}

/* A failed system call: Qt's mapping of errno unless `error`/`why` override it (error < 0: map). */
static int qshm__sys(qshm_status *st, const char *fn, int e, const char *call, const char *path, int error,
                     const char *why) {
  const char *text;
  int code = qshm__qt_error_for(e, &text);
  if (why) text = why;
  if (error >= 0) code = error;
  if (!text) {
    return qshm__set(st, code, e, "%s: unknown error: %s (%s%s%s%s)", fn, strerror(e), call, path ? " '" : "",
                     path ? path : "", path ? "'" : "");
  }
  return qshm__set(st, code, e, "%s: %s (%s%s%s%s: %s)", fn, text, call, path ? " '" : "", path ? path : "",
                   path ? "'" : "", strerror(e));
}

static const char *const qshm__create_fn = "QSharedMemory::create";
static const char *const qshm__attach_fn = "QSharedMemory::attach";

QSHMDEF const char *qshm_strerror(int error) {
  if (error < 0 || (size_t)error >= sizeof qshm__error_names / sizeof qshm__error_names[0]) return "UnknownError";
  return qshm__error_names[error];
}

/* ---- system calls ---- */

static int qshm__open(const char *path, int flags, unsigned mode) {
  int fd;
  do fd = open(path, flags, (mode_t)mode); while (fd < 0 && errno == EINTR);
  return fd;
}

/* One-byte open file description lock (F_OFD_SETLK / F_OFD_SETLKW): 0 or -errno. */
static int qshm__ofd(int fd, int cmd, int type, uint64_t byte) {
  struct flock fl;
  int r;
  memset(&fl, 0, sizeof fl); /* l_pid must be 0 for OFD locks */
  fl.l_type = (short)type;
  fl.l_whence = SEEK_SET;
  fl.l_start = (off_t)byte;
  fl.l_len = 1;
  do r = fcntl(fd, cmd, &fl); while (r < 0 && errno == EINTR);
  return r < 0 ? -errno : 0;
}

/* F_OFD_GETLK for an exclusive lock on one byte: the conflicting lock type, F_UNLCK, or -errno. */
static int qshm__ofd_probe(int fd, uint64_t byte) {
  struct flock fl;
  memset(&fl, 0, sizeof fl);
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  fl.l_start = (off_t)byte;
  fl.l_len = 1;
  if (fcntl(fd, F_OFD_GETLK, &fl) < 0) return -errno;
  return fl.l_type;
}

/* Shared (not FUTEX_PRIVATE_FLAG) futex: the waiters are in other processes. 0 or -errno. */
static int qshm__futex_wait(uint32_t *addr, uint32_t expected, int64_t ns) {
  struct timespec ts;
  ts.tv_sec = (time_t)(ns / 1000000000);
  ts.tv_nsec = (long)(ns % 1000000000);
  return syscall(SYS_futex, addr, FUTEX_WAIT, expected, &ts, NULL, 0) < 0 ? -errno : 0;
}

static void qshm__futex_wake(uint32_t *addr, int n) { syscall(SYS_futex, addr, FUTEX_WAKE, n, NULL, NULL, 0); }

static int64_t qshm__now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void qshm__nap_ns(int64_t ns) {
  struct timespec ts;
  ts.tv_sec = (time_t)(ns / 1000000000);
  ts.tv_nsec = (long)(ns % 1000000000);
  while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
  }
}

/* Whether `path` still names the file open on `fd` (it may have been removed or replaced). */
static int qshm__same_file(const char *path, int fd) {
  struct stat a, b;
  return lstat(path, &a) == 0 && fstat(fd, &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev &&
         b.st_nlink > 0;
}

/* ---- the header ---- */

/* The fixed header fields are little-endian; the host must be too (docs/format.md §13). */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "qshm.h: the qshm format is only supported on little-endian hosts"
#endif

static uint32_t qshm__u32(const uint8_t *p, uint32_t off) {
  uint32_t v;
  memcpy(&v, p + off, 4);
  return v;
}

static uint64_t qshm__u64(const uint8_t *p, uint32_t off) {
  uint64_t v;
  memcpy(&v, p + off, 8);
  return v;
}

/* The atomic words (lock word, token counter, slot entries) are native 32-bit words. */
static uint32_t *qshm__word(const qshm *s, uint32_t off) { return (uint32_t *)(void *)(s->hdr + off); }

static int qshm__cas(uint32_t *w, uint32_t expected, uint32_t desired) {
  return __atomic_compare_exchange_n(w, &expected, desired, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}

static uint32_t qshm__load(uint32_t *w) { return __atomic_load_n(w, __ATOMIC_SEQ_CST); }

static uint64_t qshm__slot_byte(uint32_t slot_table, uint32_t i) { return (uint64_t)slot_table + 4u * (uint64_t)i; }

/* Validates the first page of a header against the file size (docs/format.md §4). NULL if good. */
static const char *qshm__validate(const uint8_t *h, uint64_t file_size, uint32_t *hs_out, uint64_t *ds_out,
                                  uint32_t *st_out, uint32_t *sc_out) {
  uint32_t hs, st, sc;
  uint64_t ds;
  if (memcmp(h + QSHM_MAGIC_OFFSET, QSHM_MAGIC, 8) != 0) return "bad magic";
  if (qshm__u32(h, QSHM_VERSION_OFFSET) != QSHM_VERSION) return "unsupported format version";
  hs = qshm__u32(h, QSHM_HEADER_SIZE_OFFSET);
  if (hs < QSHM_HEADER_SIZE || hs > QSHM_MAX_HEADER_SIZE || hs % 4096u != 0) return "bad header size";
  ds = qshm__u64(h, QSHM_DATA_SIZE_OFFSET);
  if (ds < 1 || ds >= QSHM__MAX_DATA) return "bad data size";
  if (ds > (uint64_t)SIZE_MAX - hs) return "data size too large for this process";
  if ((uint64_t)hs + ds > file_size) return "file is shorter than its header and data";
  st = qshm__u32(h, QSHM_SLOT_TABLE_OFFSET_OFFSET);
  sc = qshm__u32(h, QSHM_SLOT_COUNT_OFFSET);
  if (st < 64 || st % 4 != 0 || sc < 1 || sc > (1u << QSHM_SLOT_BITS) ||
      (uint64_t)st + 4u * (uint64_t)sc > QSHM_HEADER_SIZE) {
    return "bad slot table";
  }
  *hs_out = hs;
  *ds_out = ds;
  *st_out = st;
  *sc_out = sc;
  return NULL;
}

static size_t qshm__page(void) {
  long p = sysconf(_SC_PAGESIZE);
  return p > 0 ? (size_t)p : 4096;
}

/* Reserves the pages and writes a fresh header into an empty descriptor (magic last). */
static int qshm__init_header(int fd, size_t size, const char *path, qshm_status *st) {
  size_t page = qshm__page();
  uint64_t total = QSHM_HEADER_SIZE + ((uint64_t)size + page - 1) / page * page;
  uint8_t *h;
  uint32_t v;
  uint64_t d;
  int r = posix_fallocate(fd, 0, (off_t)total);
  if (r == EOPNOTSUPP || r == EINVAL) {
    if (ftruncate(fd, (off_t)total) < 0) return qshm__sys(st, qshm__create_fn, errno, "ftruncate", path, -1, NULL);
  } else if (r != 0) {
    return qshm__sys(st, qshm__create_fn, r, "posix_fallocate", path, -1, NULL);
  }
  h = (uint8_t *)mmap(NULL, QSHM_HEADER_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (h == MAP_FAILED) return qshm__sys(st, qshm__create_fn, errno, "mmap", path, -1, NULL);
  v = QSHM_VERSION;
  memcpy(h + QSHM_VERSION_OFFSET, &v, 4);
  v = QSHM_HEADER_SIZE;
  memcpy(h + QSHM_HEADER_SIZE_OFFSET, &v, 4);
  d = size;
  memcpy(h + QSHM_DATA_SIZE_OFFSET, &d, 8);
  v = QSHM_SLOT_COUNT;
  memcpy(h + QSHM_SLOT_COUNT_OFFSET, &v, 4);
  v = QSHM_SLOT_TABLE_OFFSET;
  memcpy(h + QSHM_SLOT_TABLE_OFFSET_OFFSET, &v, 4);
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
  memcpy(h + QSHM_MAGIC_OFFSET, QSHM_MAGIC, 8); /* last: a valid magic means a complete header */
  munmap(h, QSHM_HEADER_SIZE);
  return 1;
}

/*
 * Shared presence lock on byte 0. Only a detacher or a reclaimer holds it exclusively, for a
 * few system calls; give up after 2 s rather than hang on a process that keeps it.
 */
static int qshm__take_presence(int fd, const char *fn, const char *path, qshm_status *st) {
  int64_t start = qshm__now_ns(), nap = 50000;
  for (;;) {
    int r = qshm__ofd(fd, F_OFD_SETLK, F_RDLCK, QSHM_PRESENCE_LOCK_BYTE);
    if (r == 0) return 1;
    if (r != -EAGAIN && r != -EACCES) return qshm__sys(st, fn, -r, "fcntl(F_OFD_SETLK)", path, -1, NULL);
    if (qshm__now_ns() - start > (int64_t)QSHM__PRESENCE_WAIT_MS * 1000000) {
      return qshm__set(st, QSHM_LOCK_ERROR, 0,
                       "%s: unable to lock (another process has held the segment's presence lock for over 2 s)", fn);
    }
    qshm__nap_ns(nap);
    if (nap < 50000000) nap *= 2;
  }
}

/*
 * Validates and maps `fd`, takes the presence lock and (if `writable`) claims a slot and a
 * token. Owns `fd`: it is closed on failure.
 */
static qshm *qshm__open_segment(int fd, int mode, int writable, const char *fn, const char *path, qshm_status *st) {
  struct stat sb;
  uint8_t *h = (uint8_t *)MAP_FAILED, *data = (uint8_t *)MAP_FAILED;
  uint32_t hs = 0, stab = 0, sc = 0, i, gen;
  uint64_t ds = 0;
  const char *bad;
  int hprot = writable ? PROT_READ | PROT_WRITE : PROT_READ;
  qshm *s = NULL;
  if (fstat(fd, &sb) < 0) {
    qshm__sys(st, fn, errno, "fstat", path, -1, NULL);
    goto fail;
  }
  if (!S_ISREG(sb.st_mode)) {
    qshm__set(st, QSHM_KEY_ERROR, 0, "%s: not a regular file", fn);
    goto fail;
  }
  if (sb.st_size < (off_t)QSHM_HEADER_SIZE) {
    qshm__set(st, QSHM_UNKNOWN_ERROR, 0, "%s: not a valid qshm segment (file is only %lld bytes)", fn,
              (long long)sb.st_size);
    goto fail;
  }
  if (!qshm__take_presence(fd, fn, path, st)) goto fail;
  h = (uint8_t *)mmap(NULL, QSHM_HEADER_SIZE, hprot, MAP_SHARED, fd, 0);
  if (h == MAP_FAILED) {
    qshm__sys(st, fn, errno, "mmap", path, -1, NULL);
    goto fail;
  }
  bad = qshm__validate(h, (uint64_t)sb.st_size, &hs, &ds, &stab, &sc);
  if (bad) {
    qshm__set(st, QSHM_UNKNOWN_ERROR, 0, "%s: not a valid qshm segment (%s)", fn, bad);
    goto fail;
  }
  if (hs != QSHM_HEADER_SIZE) {
    munmap(h, QSHM_HEADER_SIZE);
    h = (uint8_t *)mmap(NULL, hs, hprot, MAP_SHARED, fd, 0);
    if (h == MAP_FAILED) {
      qshm__sys(st, fn, errno, "mmap", path, -1, NULL);
      goto fail;
    }
  }
  data = (uint8_t *)mmap(NULL, (size_t)ds, mode == QSHM_READ_ONLY ? PROT_READ : PROT_READ | PROT_WRITE, MAP_SHARED,
                         fd, (off_t)hs);
  if (data == MAP_FAILED) {
    qshm__sys(st, fn, errno, "mmap", path, -1, NULL);
    goto fail;
  }
  s = (qshm *)calloc(1, sizeof *s);
  if (!s) {
    qshm__sys(st, fn, ENOMEM, "malloc", NULL, -1, NULL);
    goto fail;
  }
  s->fd = fd;
  s->hdr = h;
  s->hdr_size = hs;
  s->data = data;
  s->data_size = (size_t)ds;
  s->slot_table = stab;
  s->slot_count = sc;
  s->slot = -1;
  s->writable = writable;
  if (!writable) {
    s->no_lock = "the segment was opened read-only (no write permission), so it cannot take part in the lock";
    return s;
  }
  /* Claim a slot: the first whose byte we can lock exclusively without waiting. */
  for (i = 0; i < sc; i++) {
    int r = qshm__ofd(fd, F_OFD_SETLK, F_WRLCK, qshm__slot_byte(stab, i));
    if (r == 0) break;
    if (r != -EAGAIN && r != -EACCES) {
      qshm__sys(st, fn, -r, "fcntl(F_OFD_SETLK)", path, -1, NULL);
      goto fail;
    }
  }
  if (i == sc) {
    qshm__set(st, QSHM_OUT_OF_RESOURCES, 0, "%s: out of resources (all %u attachment slots are in use)", fn, sc);
    goto fail;
  }
  do gen = __atomic_add_fetch(qshm__word(s, QSHM_TOKEN_COUNTER_OFFSET), 1u, __ATOMIC_SEQ_CST) & QSHM_MAX_GENERATION;
  while (gen == 0);
  s->slot = (int)i;
  s->token = (gen << QSHM_SLOT_BITS) | i;
  __atomic_store_n(qshm__word(s, stab + 4 * i), s->token, __ATOMIC_SEQ_CST);
  return s;
fail:
  free(s);
  if (data != MAP_FAILED) munmap(data, (size_t)ds);
  if (h != MAP_FAILED) munmap(h, hs ? hs : QSHM_HEADER_SIZE);
  close(fd); /* releases the presence and slot locks */
  return NULL;
}

static void qshm__release(qshm *s);

/* Detaches; removes the file if this was the last attachment and `s->path` still names it. */
static void qshm__detach(qshm *s) {
  int last;
  if (s->held) qshm__release(s);
  if (s->slot >= 0) {
    qshm__cas(qshm__word(s, s->slot_table + 4 * (uint32_t)s->slot), s->token, 0);
    qshm__ofd(s->fd, F_OFD_SETLK, F_UNLCK, qshm__slot_byte(s->slot_table, (uint32_t)s->slot));
  }
  munmap(s->data, s->data_size);
  munmap(s->hdr, s->hdr_size);
  /* Drop our shared presence lock first; if we can then lock it exclusively, nobody else is
   * attached (docs/format.md §9). */
  qshm__ofd(s->fd, F_OFD_SETLK, F_UNLCK, QSHM_PRESENCE_LOCK_BYTE);
  last = s->writable && qshm__ofd(s->fd, F_OFD_SETLK, F_WRLCK, QSHM_PRESENCE_LOCK_BYTE) == 0;
  if (last && s->path && qshm__same_file(s->path, s->fd)) unlink(s->path);
  qshm__ofd(s->fd, F_OFD_SETLK, F_UNLCK, QSHM_PRESENCE_LOCK_BYTE);
  close(s->fd);
  free(s->path);
  free(s);
}

QSHMDEF int qshm_detach(qshm *s) {
  if (s) qshm__detach(s);
  return 1;
}

/* ---- names ---- */

typedef struct {
  uint32_t h[5];
  uint64_t len;
  uint8_t buf[64];
  size_t n;
} qshm__sha1;

static uint32_t qshm__rol(uint32_t x, int k) { return (x << k) | (x >> (32 - k)); }

static void qshm__sha1_block(qshm__sha1 *c, const uint8_t *p) {
  uint32_t w[80], a = c->h[0], b = c->h[1], d = c->h[3], e = c->h[4], cc = c->h[2], t;
  int i;
  for (i = 0; i < 16; i++) w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
  for (i = 16; i < 80; i++) w[i] = qshm__rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
  for (i = 0; i < 80; i++) {
    uint32_t f, k;
    if (i < 20) f = (b & cc) | (~b & d), k = 0x5A827999u;
    else if (i < 40) f = b ^ cc ^ d, k = 0x6ED9EBA1u;
    else if (i < 60) f = (b & cc) | (b & d) | (cc & d), k = 0x8F1BBCDCu;
    else f = b ^ cc ^ d, k = 0xCA62C1D6u;
    t = qshm__rol(a, 5) + f + e + k + w[i];
    e = d;
    d = cc;
    cc = qshm__rol(b, 30);
    b = a;
    a = t;
  }
  c->h[0] += a;
  c->h[1] += b;
  c->h[2] += cc;
  c->h[3] += d;
  c->h[4] += e;
}

static void qshm__sha1_add(qshm__sha1 *c, const uint8_t *p, size_t n) {
  c->len += n;
  while (n--) {
    c->buf[c->n++] = *p++;
    if (c->n == 64) {
      qshm__sha1_block(c, c->buf);
      c->n = 0;
    }
  }
}

static void qshm__sha1_hex(const uint8_t *p, size_t n, char out[41]) {
  static const char hex[] = "0123456789abcdef";
  qshm__sha1 c;
  uint64_t bits;
  uint8_t pad = 0x80, zero = 0, len[8];
  int i;
  memset(&c, 0, sizeof c);
  c.h[0] = 0x67452301u;
  c.h[1] = 0xEFCDAB89u;
  c.h[2] = 0x98BADCFEu;
  c.h[3] = 0x10325476u;
  c.h[4] = 0xC3D2E1F0u;
  qshm__sha1_add(&c, p, n);
  bits = c.len * 8;
  qshm__sha1_add(&c, &pad, 1);
  while (c.n != 56) qshm__sha1_add(&c, &zero, 1);
  for (i = 0; i < 8; i++) len[i] = (uint8_t)(bits >> (56 - 8 * i));
  qshm__sha1_add(&c, len, 8);
  for (i = 0; i < 40; i++) out[i] = hex[(c.h[i / 8] >> (28 - 4 * (i % 8))) & 15];
  out[40] = 0;
}

QSHMDEF size_t qshm_key_to_name(const char *key, char *buf, size_t size) {
  static const char prefix[] = "qipc_sharedmemory_";
  char hex[41];
  size_t n = 0, i;
  const char *k;
  if (!key || !*key) {
    if (buf && size) buf[0] = 0;
    return 0;
  }
#define QSHM__PUT(ch)                          \
  do {                                         \
    if (buf && n + 1 < size) buf[n] = (ch);    \
    n++;                                       \
  } while (0)
  for (i = 0; prefix[i]; i++) QSHM__PUT(prefix[i]);
  for (k = key; *k; k++) {
    if ((*k >= 'A' && *k <= 'Z') || (*k >= 'a' && *k <= 'z')) QSHM__PUT(*k);
  }
  qshm__sha1_hex((const uint8_t *)key, strlen(key), hex);
  for (i = 0; i < 40; i++) QSHM__PUT(hex[i]);
#undef QSHM__PUT
  if (buf && size) buf[n < size ? n : size - 1] = 0;
  return n;
}

/* `dir`/name for `key` in a new malloc'd string (NULL on an empty key or no memory). */
static char *qshm__key_path(const char *key, const char *dir, const char *fn, qshm_status *st) {
  size_t n, d;
  char *p;
  if (!key || !*key) {
    qshm__set(st, QSHM_KEY_ERROR, 0, "%s: key is empty", fn);
    return NULL;
  }
  if (!dir) dir = "/dev/shm";
  n = qshm_key_to_name(key, NULL, 0);
  d = strlen(dir);
  p = (char *)malloc(d + 1 + n + 1);
  if (!p) {
    qshm__sys(st, fn, ENOMEM, "malloc", NULL, -1, NULL);
    return NULL;
  }
  memcpy(p, dir, d);
  p[d] = '/';
  qshm_key_to_name(key, p + d + 1, n + 1);
  return p;
}

static char *qshm__dirname(const char *path) {
  const char *slash = strrchr(path, '/');
  size_t n = slash ? (size_t)(slash - path) : 1;
  char *d = (char *)malloc(n + 1);
  if (!d) return NULL;
  if (!slash) {
    d[0] = '.';
    n = 1;
  } else if (n == 0) {
    d[0] = '/';
    n = 1;
  } else {
    memcpy(d, path, n);
  }
  d[n] = 0;
  return d;
}

static int qshm__dir_exists(const char *path) {
  struct stat sb;
  char *d = qshm__dirname(path);
  int ok = d && stat(d, &sb) == 0 && S_ISDIR(sb.st_mode);
  free(d);
  return ok;
}

/* ---- create ---- */

static int qshm__link(int fd, const char *path) {
  char proc[64];
  if (linkat(fd, "", AT_FDCWD, path, AT_EMPTY_PATH) == 0) return 0;
  if (errno != EPERM && errno != ENOENT && errno != EINVAL) return -errno;
  snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
  return linkat(AT_FDCWD, proc, AT_FDCWD, path, AT_SYMLINK_FOLLOW) < 0 ? -errno : 0;
}

/*
 * A file at `path` that nobody is attached to (its presence byte can be locked exclusively)
 * and whose header is valid is stale: remove it. 1: retry the create; 0: it stays.
 */
static int qshm__reclaim_stale(const char *path) {
  struct stat sb;
  uint8_t *h;
  uint32_t hs, stab, sc;
  uint64_t ds;
  int ok = 0;
  int fd = qshm__open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW, 0);
  if (fd < 0) return errno == ENOENT;
  if (qshm__ofd(fd, F_OFD_SETLK, F_WRLCK, QSHM_PRESENCE_LOCK_BYTE) == 0 && fstat(fd, &sb) == 0 &&
      S_ISREG(sb.st_mode) && sb.st_size >= (off_t)QSHM_HEADER_SIZE) {
    h = (uint8_t *)mmap(NULL, QSHM_HEADER_SIZE, PROT_READ, MAP_SHARED, fd, 0);
    if (h != MAP_FAILED) {
      if (!qshm__validate(h, (uint64_t)sb.st_size, &hs, &ds, &stab, &sc)) {
        ok = !qshm__same_file(path, fd) || unlink(path) == 0;
      }
      munmap(h, QSHM_HEADER_SIZE);
    }
  }
  close(fd);
  return ok;
}

QSHMDEF qshm *qshm_create_native(const char *path, size_t size, qshm_status *st) {
  const char *fn = qshm__create_fn;
  char *dir;
  int attempt;
  if (!path || !*path) {
    qshm__set(st, QSHM_KEY_ERROR, 0, "%s: key is empty", fn);
    return NULL;
  }
  if (size < 1 || (uint64_t)size >= QSHM__MAX_DATA) {
    qshm__set(st, QSHM_INVALID_SIZE, 0, "%s: create size is less or equal to 0 or too large", fn);
    return NULL;
  }
  dir = qshm__dirname(path);
  if (!dir) {
    qshm__sys(st, fn, ENOMEM, "malloc", NULL, -1, NULL);
    return NULL;
  }
  for (attempt = 0;; attempt++) {
    qshm *s;
    int r, fd = qshm__open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0) {
      int e = errno;
      if (e == ENOENT || e == ENOTDIR) {
        char why[64 + PATH_MAX];
        snprintf(why, sizeof why, "directory %s does not exist", dir);
        qshm__sys(st, fn, e, "open", dir, QSHM_KEY_ERROR, why);
      } else if (e == EOPNOTSUPP || e == EISDIR || e == EINVAL) {
        qshm__sys(st, fn, e, "open(O_TMPFILE)", dir, QSHM_UNKNOWN_ERROR,
                  "the filesystem cannot make unnamed files (O_TMPFILE); use tmpfs (/dev/shm, $XDG_RUNTIME_DIR)");
      } else {
        qshm__sys(st, fn, e, "open(O_TMPFILE)", dir, -1, NULL);
      }
      break;
    }
    if (fchmod(fd, 0600) < 0) {
      qshm__sys(st, fn, errno, "fchmod", path, -1, NULL);
      close(fd);
      break;
    }
    if (!qshm__init_header(fd, size, path, st)) {
      close(fd);
      break;
    }
    s = qshm__open_segment(fd, QSHM_READ_WRITE, 1, fn, path, st);
    if (!s) break;
    r = qshm__link(s->fd, path);
    if (r == 0) {
      s->path = strdup(path);
      if (!s->path) {
        unlink(path);
        qshm__detach(s);
        qshm__sys(st, fn, ENOMEM, "malloc", NULL, -1, NULL);
        break;
      }
      free(dir);
      return s;
    }
    qshm__detach(s); /* never linked: removes nothing */
    if (r != -EEXIST || attempt >= 2 || !qshm__reclaim_stale(path)) {
      qshm__sys(st, fn, -r, "linkat", path, -1, NULL);
      break;
    }
  }
  free(dir);
  return NULL;
}

QSHMDEF qshm *qshm_create(const char *key, const char *dir, size_t size, qshm_status *st) {
  char *path = qshm__key_path(key, dir, qshm__create_fn, st);
  qshm *s;
  if (!path) return NULL;
  s = qshm_create_native(path, size, st);
  free(path);
  return s;
}

/* ---- attach ---- */

QSHMDEF qshm *qshm_attach_native(const char *path, int mode, qshm_status *st) {
  const char *fn = qshm__attach_fn;
  int attempt;
  if (!path || !*path) {
    qshm__set(st, QSHM_KEY_ERROR, 0, "%s: key is empty", fn);
    return NULL;
  }
  if (mode != QSHM_READ_ONLY && mode != QSHM_READ_WRITE) {
    qshm__set(st, QSHM_UNKNOWN_ERROR, EINVAL, "%s: mode must be QSHM_READ_ONLY or QSHM_READ_WRITE", fn);
    return NULL;
  }
  for (attempt = 0; attempt < QSHM__ATTACH_TRIES; attempt++) {
    qshm *s;
    int writable = 1, flags = O_CLOEXEC | O_NOFOLLOW;
    int fd = qshm__open(path, flags | O_RDWR, 0);
    if (fd < 0 && errno == EACCES && mode == QSHM_READ_ONLY) {
      fd = qshm__open(path, flags | O_RDONLY, 0);
      writable = 0;
    }
    if (fd < 0) {
      int e = errno;
      if (e == ELOOP) {
        qshm__sys(st, fn, e, "open", path, QSHM_KEY_ERROR, "key names a symbolic link; refusing to follow it");
      } else if (e == ENOTDIR || (e == ENOENT && !qshm__dir_exists(path))) {
        qshm__sys(st, fn, e, "open", path, QSHM_KEY_ERROR, "directory does not exist");
      } else {
        qshm__sys(st, fn, e, "open", path, -1, NULL);
      }
      return NULL;
    }
    s = qshm__open_segment(fd, mode, writable, fn, path, st);
    if (!s) return NULL;
    /* A last detacher may have removed the file between our open() and our presence lock. */
    if (qshm__same_file(path, s->fd)) {
      s->path = strdup(path);
      if (s->path) return s;
      qshm__detach(s);
      qshm__sys(st, fn, ENOMEM, "malloc", NULL, -1, NULL);
      return NULL;
    }
    qshm__detach(s);
  }
  qshm__set(st, QSHM_NOT_FOUND, ENOENT, "%s: doesn't exist", fn);
  return NULL;
}

QSHMDEF qshm *qshm_attach(const char *key, const char *dir, int mode, qshm_status *st) {
  char *path = qshm__key_path(key, dir, qshm__attach_fn, st);
  qshm *s;
  if (!path) return NULL;
  s = qshm_attach_native(path, mode, st);
  free(path);
  return s;
}

QSHMDEF qshm *qshm_attach_fd(int fd, int mode, qshm_status *st) {
  const char *fn = qshm__attach_fn;
  char proc[64];
  struct stat sb;
  int acc, own, seals, writable, shared = 0;
  qshm *s;
  if (mode != QSHM_READ_ONLY && mode != QSHM_READ_WRITE) {
    qshm__set(st, QSHM_UNKNOWN_ERROR, EINVAL, "%s: mode must be QSHM_READ_ONLY or QSHM_READ_WRITE", fn);
    return NULL;
  }
  acc = fcntl(fd, F_GETFL);
  if (acc < 0 || fstat(fd, &sb) < 0) {
    qshm__sys(st, fn, errno, "fstat", NULL, QSHM_KEY_ERROR, "not an open descriptor");
    return NULL;
  }
  acc &= O_ACCMODE;
  if (acc == O_WRONLY) {
    qshm__set(st, QSHM_PERMISSION_DENIED, EACCES, "%s: permission denied (the descriptor is write-only)", fn);
    return NULL;
  }
  if (!S_ISREG(sb.st_mode) || sb.st_nlink != 0) {
    qshm__set(st, QSHM_KEY_ERROR, 0,
              "%s: the descriptor is not a memfd segment (attach named segments by key or path)", fn);
    return NULL;
  }
  /* A new open file description of our own: the sender's carries the sender's locks. */
  snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
  own = qshm__open(proc, (acc == O_RDONLY ? O_RDONLY : O_RDWR) | O_CLOEXEC, 0);
  if (own < 0) {
    if (errno == EMFILE || errno == ENFILE || errno == ENOMEM) {
      qshm__sys(st, fn, errno, "open", proc, -1, NULL);
      return NULL;
    }
    own = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (own < 0) {
      qshm__sys(st, fn, errno, "fcntl(F_DUPFD_CLOEXEC)", NULL, -1, NULL);
      return NULL;
    }
    shared = 1;
  }
  seals = fcntl(own, F_GET_SEALS);
  if (seals < 0) seals = 0;
  if ((seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE)) && mode == QSHM_READ_WRITE) {
    close(own);
    qshm__set(st, QSHM_PERMISSION_DENIED, EPERM,
              "%s: permission denied (the segment is sealed against writing; attach it read-only)", fn);
    return NULL;
  }
  if (acc == O_RDONLY && mode == QSHM_READ_WRITE) {
    close(own);
    qshm__set(st, QSHM_PERMISSION_DENIED, EACCES, "%s: permission denied (the descriptor is read-only)", fn);
    return NULL;
  }
  writable = !shared && !(seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE)) && acc != O_RDONLY;
  s = qshm__open_segment(own, mode, writable, fn, NULL, st);
  if (s && shared) {
    s->no_lock = "the descriptor could not be reopened through /proc/self/fd; a duplicate shares the sender's "
                 "locks, so this attachment stays out of the lock";
  } else if (s && (seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE))) {
    s->no_lock = "the segment is sealed against writing, so this attachment cannot take part in the lock";
  }
  return s;
}

/* ---- data ---- */

QSHMDEF void *qshm_data(const qshm *s) { return s->data; }

QSHMDEF size_t qshm_size(const qshm *s) { return s->data_size; }

QSHMDEF const qshm_status *qshm_last_error(const qshm *s) { return &s->err; }

QSHMDEF int qshm_lock_was_abandoned(const qshm *s) { return s->abandoned; }

/* ---- the lock (docs/format.md §7, §8) ---- */

/* A holder is alive while its slot records its token and some description locks the slot byte. */
static int qshm__holder_alive(const qshm *s, uint32_t holder) {
  uint32_t slot = holder & ((1u << QSHM_SLOT_BITS) - 1);
  int r;
  if (slot >= s->slot_count) return 0;
  if (qshm__load(qshm__word(s, s->slot_table + 4 * slot)) != holder) return 0;
  r = qshm__ofd_probe(s->fd, qshm__slot_byte(s->slot_table, slot));
  return r < 0 || r != F_UNLCK; /* on an error assume alive: never steal a live lock */
}

/* 1 acquired, 2 acquired from a dead holder, 0 timed out. */
static int qshm__acquire(qshm *s, int timeout_ms) {
  uint32_t *w = qshm__word(s, QSHM_LOCK_WORD_OFFSET);
  const uint32_t me = s->token;
  int64_t deadline = timeout_ms < 0 ? INT64_MAX : qshm__now_ns() + (int64_t)timeout_ms * 1000000;
  int64_t slice = QSHM__FIRST_SLICE_MS;
  int i;
  if (qshm__cas(w, 0, me)) return 1;
  for (i = 0; i < QSHM__SPINS; i++) {
    if (__atomic_load_n(w, __ATOMIC_RELAXED) == 0 && qshm__cas(w, 0, me)) return 1;
  }
  if (timeout_ms == 0) return 0;
  for (;;) {
    uint32_t v = qshm__load(w), holder;
    int64_t left;
    int r;
    if ((v & QSHM_TOKEN_MASK) == 0) {
      /* Free (or a corrupt bare waiters bit). Taken on the contended path: keep the waiters
       * bit, others may be asleep. */
      if (qshm__cas(w, v, me | QSHM_WAITERS_BIT)) return 1;
      continue;
    }
    if (!(v & QSHM_WAITERS_BIT)) {
      if (!qshm__cas(w, v, v | QSHM_WAITERS_BIT)) continue;
      v |= QSHM_WAITERS_BIT;
    }
    holder = v & QSHM_TOKEN_MASK;
    if (holder == me) return 1; /* never probe ourselves: F_OFD_GETLK does not see our own locks */
    left = deadline == INT64_MAX ? INT64_MAX : deadline - qshm__now_ns();
    if (left <= 0) {
      /* We may have consumed the wake-up an unlock sent: pass it on. */
      if (qshm__load(w) == 0) qshm__futex_wake(w, 1);
      return 0;
    }
    r = qshm__futex_wait(w, v, slice * 1000000 < left ? slice * 1000000 : left);
    if (r == -ETIMEDOUT) {
      slice = slice * 2 < QSHM__MAX_SLICE_MS ? slice * 2 : QSHM__MAX_SLICE_MS;
      if (!qshm__holder_alive(s, holder) && qshm__cas(w, v, me | QSHM_WAITERS_BIT)) return 2;
    }
    /* woken, EAGAIN (the word changed) or EINTR: look again */
  }
}

QSHMDEF int qshm_trylock(qshm *s, int timeout_ms) {
  int r;
  s->err.error = QSHM_NO_ERROR;
  s->err.sys_errno = 0;
  s->err.text[0] = 0;
  if (s->held) return 1;
  if (!s->token) {
    return qshm__set(&s->err, QSHM_LOCK_ERROR, 0, "QSharedMemory::lock: unable to lock (%s)",
                     s->no_lock ? s->no_lock : "not attached");
  }
  r = qshm__acquire(s, timeout_ms);
  if (r == 0) return 0;
  s->held = 1;
  s->abandoned = r == 2;
  return 1;
}

QSHMDEF int qshm_lock(qshm *s) { return qshm_trylock(s, -1); }

/* Sets the word from our token to 0 and wakes a waiter if the bit says one may sleep. */
static void qshm__release(qshm *s) {
  uint32_t *w = qshm__word(s, QSHM_LOCK_WORD_OFFSET);
  s->held = 0;
  for (;;) {
    uint32_t v = qshm__load(w);
    if ((v & QSHM_TOKEN_MASK) != s->token) return; /* not ours (never write the word then) */
    if (qshm__cas(w, v, 0)) {
      if (v & QSHM_WAITERS_BIT) qshm__futex_wake(w, 1);
      return;
    }
  }
}

QSHMDEF int qshm_unlock(qshm *s) {
  if (!s->held) {
    return qshm__set(&s->err, QSHM_LOCK_ERROR, 0, "QSharedMemory::unlock: not locked");
  }
  if ((qshm__load(qshm__word(s, QSHM_LOCK_WORD_OFFSET)) & QSHM_TOKEN_MASK) != s->token) {
    s->held = 0;
    return qshm__set(&s->err, QSHM_LOCK_ERROR, 0,
                     "QSharedMemory::unlock: the lock word no longer names this attachment");
  }
  qshm__release(s);
  return 1;
}

#ifdef __cplusplus
}
#endif
#endif /* QSHM_IMPLEMENTED */
#endif /* QSHM_IMPLEMENTATION */

/*
 * MIT License
 *
 * Permission is hereby granted, free of charge, to any person obtaining a copy of this
 * software and associated documentation files (the "Software"), to deal in the Software
 * without restriction, including without limitation the rights to use, copy, modify, merge,
 * publish, distribute, sublicense, and/or sell copies of the Software, and to permit persons
 * to whom the Software is furnished to do so, subject to the following conditions:
 *
 * The above copyright notice and this permission notice shall be included in all copies or
 * substantial portions of the Software.
 *
 * THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED,
 * INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR
 * PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE
 * FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR
 * OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER
 * DEALINGS IN THE SOFTWARE.
 */
