/* SPDX-License-Identifier: MIT
 *
 * lockpeer: a C program that takes part in a qshm segment's lock using only the protocol
 * written in docs/format.md, to prove that document (test/lock.test.mjs builds and runs it).
 * Every constant comes from qshm_format.h, which the test generates from lib/format.ts with
 * cHeaderText(); nothing about the layout is written by hand here.
 *
 *   lockpeer PATH count N   attach, print "ready", wait for a line on stdin, then add 1 to the
 *                           u64 at data offset 0, N times, each under the lock; detach; print
 *                           "done N abandoned K" (K = acquisitions that took over a dead holder)
 *   lockpeer PATH hold      attach, lock, print "held abandoned K", then keep writing to the
 *                           data under the lock until killed
 *   lockpeer PATH lock      attach, lock, print "locked abandoned K", unlock, detach
 *
 * Exit status: 0 on success, 2 on usage errors, 1 on any other failure (message on stderr).
 * Linux only (open file description locks, futex).
 */
#define _GNU_SOURCE
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "qshm_format.h"

#define SPINS 64
#define FIRST_SLICE_MS 2
#define MAX_SLICE_MS 50

struct seg {
  const char *path;
  int fd;
  uint8_t *hdr;
  size_t hdr_size;
  uint8_t *data;
  uint64_t data_size;
  uint32_t slot_table;
  uint32_t slot_count;
  uint32_t slot;
  uint32_t token;
};

static void die(const char *what) {
  fprintf(stderr, "lockpeer: %s: %s\n", what, errno ? strerror(errno) : "failed");
  exit(1);
}

/* The fixed header fields are little-endian. */
static uint32_t le32_at(const uint8_t *p, uint32_t off) {
  uint32_t v;
  memcpy(&v, p + off, 4);
  return le32toh(v);
}

static uint64_t le64_at(const uint8_t *p, uint32_t off) {
  uint64_t v;
  memcpy(&v, p + off, 8);
  return le64toh(v);
}

/* The atomic words (lock word, token counter, slot table) are native u32s. */
static uint32_t *word(const struct seg *s, uint32_t off) { return (uint32_t *)(s->hdr + off); }

static int cas(uint32_t *w, uint32_t expected, uint32_t desired) {
  return __atomic_compare_exchange_n(w, &expected, desired, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}

/* One-byte open file description lock; cmd F_OFD_SETLK / F_OFD_SETLKW. 0 or -errno. */
static int ofd_lock(int fd, int cmd, short type, off_t byte) {
  struct flock fl;
  memset(&fl, 0, sizeof fl); /* l_pid must be 0 for OFD locks */
  fl.l_type = type;
  fl.l_whence = SEEK_SET;
  fl.l_start = byte;
  fl.l_len = 1;
  int r;
  do r = fcntl(fd, cmd, &fl); while (r < 0 && errno == EINTR);
  return r < 0 ? -errno : 0;
}

/* F_OFD_GETLK for an exclusive lock on one byte: the conflicting type, F_UNLCK, or -errno. */
static int ofd_probe(int fd, off_t byte) {
  struct flock fl;
  memset(&fl, 0, sizeof fl);
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  fl.l_start = byte;
  fl.l_len = 1;
  if (fcntl(fd, F_OFD_GETLK, &fl) < 0) return -errno;
  return fl.l_type;
}

/* Shared (not FUTEX_PRIVATE) futex: the waiters are in other processes. */
static int futex_wait(uint32_t *addr, uint32_t expected, long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  return syscall(SYS_futex, addr, FUTEX_WAIT, expected, &ts, NULL, 0) < 0 ? -errno : 0;
}

static void futex_wake(uint32_t *addr, int n) { syscall(SYS_futex, addr, FUTEX_WAKE, n, NULL, NULL, 0); }

static off_t slot_byte(const struct seg *s, uint32_t i) { return (off_t)s->slot_table + 4 * (off_t)i; }

/* Whether `path` still names the file open on `fd` (it may have been removed and replaced). */
static int same_file(const char *path, int fd) {
  struct stat a, b;
  return lstat(path, &a) == 0 && fstat(fd, &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev && b.st_nlink > 0;
}

/* Validates the header in the first page against the file size; fills the geometry. */
static const char *validate(struct seg *s, const uint8_t *h, uint64_t file_size) {
  if (memcmp(h + QSHM_MAGIC_OFFSET, QSHM_MAGIC, 8) != 0) return "bad magic";
  if (le32_at(h, QSHM_VERSION_OFFSET) != QSHM_VERSION) return "unsupported version";
  uint32_t hs = le32_at(h, QSHM_HEADER_SIZE_OFFSET);
  if (hs < QSHM_HEADER_SIZE || hs > QSHM_MAX_HEADER_SIZE || hs % 4096 != 0) return "bad header size";
  uint64_t ds = le64_at(h, QSHM_DATA_SIZE_OFFSET);
  if (ds < 1 || ds > (1ull << 53) - 1) return "bad data size";
  if (hs + ds > file_size) return "file shorter than header + data";
  uint32_t st = le32_at(h, QSHM_SLOT_TABLE_OFFSET_OFFSET), sc = le32_at(h, QSHM_SLOT_COUNT_OFFSET);
  if (st < 64 || st % 4 != 0 || sc < 1 || sc > (1u << QSHM_SLOT_BITS) || st + 4ull * sc > QSHM_HEADER_SIZE) {
    return "bad slot table";
  }
  s->hdr_size = hs;
  s->data_size = ds;
  s->slot_table = st;
  s->slot_count = sc;
  return NULL;
}

static void attach(struct seg *s, const char *path) {
  s->path = path;
  for (int attempt = 0; attempt < 5; attempt++) {
    int fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) die("open");
    /* Presence: shared lock on byte 0, held for the whole attachment. */
    if (ofd_lock(fd, F_OFD_SETLKW, F_RDLCK, QSHM_PRESENCE_LOCK_BYTE) < 0) die("F_OFD_SETLKW presence");
    struct stat st;
    if (fstat(fd, &st) < 0) die("fstat");
    if (!S_ISREG(st.st_mode) || st.st_size < QSHM_HEADER_SIZE) {
      errno = 0;
      die("not a qshm segment (size)");
    }
    uint8_t *h = mmap(NULL, QSHM_HEADER_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (h == MAP_FAILED) die("mmap header");
    const char *bad = validate(s, h, (uint64_t)st.st_size);
    if (bad) {
      errno = 0;
      die(bad);
    }
    if (s->hdr_size != QSHM_HEADER_SIZE) {
      munmap(h, QSHM_HEADER_SIZE);
      h = mmap(NULL, s->hdr_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
      if (h == MAP_FAILED) die("mmap header");
    }
    s->fd = fd;
    s->hdr = h;
    s->data = mmap(NULL, s->data_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, s->hdr_size);
    if (s->data == MAP_FAILED) die("mmap data");
    /* The last detacher may have removed the file between our open() and our presence lock. */
    if (same_file(path, fd)) break;
    munmap(s->data, s->data_size);
    munmap(s->hdr, s->hdr_size);
    close(fd);
    s->hdr = NULL;
  }
  if (!s->hdr) {
    errno = ENOENT;
    die("attach");
  }
  /* Claim a slot: the first byte we can lock exclusively without waiting. */
  uint32_t i;
  for (i = 0; i < s->slot_count; i++) {
    int r = ofd_lock(s->fd, F_OFD_SETLK, F_WRLCK, slot_byte(s, i));
    if (r == 0) break;
    if (r != -EAGAIN && r != -EACCES) {
      errno = -r;
      die("F_OFD_SETLK slot");
    }
  }
  if (i == s->slot_count) {
    errno = 0;
    die("all attachment slots in use");
  }
  s->slot = i;
  uint32_t gen;
  do gen = __atomic_add_fetch(word(s, QSHM_TOKEN_COUNTER_OFFSET), 1, __ATOMIC_SEQ_CST) & QSHM_MAX_GENERATION;
  while (gen == 0);
  s->token = (gen << QSHM_SLOT_BITS) | i;
  __atomic_store_n(word(s, s->slot_table + 4 * i), s->token, __ATOMIC_SEQ_CST);
}

static void detach(struct seg *s) {
  cas(word(s, s->slot_table + 4 * s->slot), s->token, 0);
  ofd_lock(s->fd, F_OFD_SETLK, F_UNLCK, slot_byte(s, s->slot));
  munmap(s->data, s->data_size);
  munmap(s->hdr, s->hdr_size);
  /* Drop our shared presence lock first, then the last one out (nobody else holds one)
   * removes the file (docs/format.md §9). */
  ofd_lock(s->fd, F_OFD_SETLK, F_UNLCK, QSHM_PRESENCE_LOCK_BYTE);
  if (ofd_lock(s->fd, F_OFD_SETLK, F_WRLCK, QSHM_PRESENCE_LOCK_BYTE) == 0 && same_file(s->path, s->fd)) {
    unlink(s->path);
  }
  ofd_lock(s->fd, F_OFD_SETLK, F_UNLCK, QSHM_PRESENCE_LOCK_BYTE);
  close(s->fd);
}

/* Alive = the slot still records this token and some open file description locks its byte. */
static int holder_alive(const struct seg *s, uint32_t holder) {
  uint32_t slot = holder & ((1u << QSHM_SLOT_BITS) - 1);
  if (slot >= s->slot_count) return 0;
  if (__atomic_load_n(word(s, s->slot_table + 4 * slot), __ATOMIC_SEQ_CST) != holder) return 0;
  int r = ofd_probe(s->fd, slot_byte(s, slot));
  return r < 0 || r != F_UNLCK; /* on an error assume alive: never steal a live lock */
}

/* Takes the lock; returns 1 if it took over a dead holder's lock, else 0. */
static int lock(const struct seg *s) {
  uint32_t *w = word(s, QSHM_LOCK_WORD_OFFSET);
  if (cas(w, 0, s->token)) return 0;
  for (int i = 0; i < SPINS; i++) {
    if (__atomic_load_n(w, __ATOMIC_RELAXED) == 0 && cas(w, 0, s->token)) return 0;
  }
  long slice = FIRST_SLICE_MS;
  for (;;) {
    uint32_t v = __atomic_load_n(w, __ATOMIC_SEQ_CST);
    if ((v & QSHM_TOKEN_MASK) == 0) {
      /* Free (or a corrupt bare waiters bit). Taken on the contended path: keep the waiters
       * bit, others may be asleep. */
      if (cas(w, v, s->token | QSHM_WAITERS_BIT)) return 0;
      continue;
    }
    if (!(v & QSHM_WAITERS_BIT)) {
      if (!cas(w, v, v | QSHM_WAITERS_BIT)) continue;
      v |= QSHM_WAITERS_BIT;
    }
    if (futex_wait(w, v, slice) == -ETIMEDOUT) {
      if (slice < MAX_SLICE_MS) slice = slice * 2 < MAX_SLICE_MS ? slice * 2 : MAX_SLICE_MS;
      uint32_t holder = v & QSHM_TOKEN_MASK;
      /* Never probe our own token: F_OFD_GETLK does not report our own locks. */
      if (holder != s->token && !holder_alive(s, holder) && cas(w, v, s->token | QSHM_WAITERS_BIT)) return 1;
    }
  }
}

static void unlock(const struct seg *s) {
  uint32_t *w = word(s, QSHM_LOCK_WORD_OFFSET);
  for (;;) {
    uint32_t v = __atomic_load_n(w, __ATOMIC_SEQ_CST);
    if ((v & QSHM_TOKEN_MASK) != s->token) {
      errno = 0;
      die("unlock: the lock word does not name us");
    }
    if (cas(w, v, 0)) {
      if (v & QSHM_WAITERS_BIT) futex_wake(w, 1);
      return;
    }
  }
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: lockpeer PATH count N | hold | lock\n");
    return 2;
  }
  struct seg s;
  memset(&s, 0, sizeof s);
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (strcmp(argv[2], "count") == 0 && argc == 4) {
    long n = strtol(argv[3], NULL, 10);
    attach(&s, argv[1]);
    if (s.data_size < 8) {
      errno = 0;
      die("segment smaller than the u64 counter");
    }
    printf("ready\n");
    char line[16];
    if (!fgets(line, sizeof line, stdin)) die("stdin");
    volatile uint64_t *counter = (volatile uint64_t *)s.data;
    long abandoned = 0;
    for (long i = 0; i < n; i++) {
      abandoned += lock(&s);
      *counter = *counter + 1; /* plain read-modify-write: only the lock keeps it exact */
      unlock(&s);
    }
    detach(&s);
    printf("done %ld abandoned %ld\n", n, abandoned);
    return 0;
  }
  if (strcmp(argv[2], "hold") == 0 && argc == 3) {
    attach(&s, argv[1]);
    int abandoned = lock(&s);
    printf("held abandoned %d\n", abandoned);
    volatile uint8_t *d = s.data;
    pid_t parent = getppid();
    for (unsigned long i = 1;; i++) {
      d[s.data_size - 1]++; /* mid-critical-section until killed */
      if ((i & 0xfffff) == 0 && getppid() != parent) return 1; /* orphaned: do not spin forever */
    }
  }
  if (strcmp(argv[2], "lock") == 0 && argc == 3) {
    attach(&s, argv[1]);
    int abandoned = lock(&s);
    printf("locked abandoned %d\n", abandoned);
    unlock(&s);
    detach(&s);
    return 0;
  }
  fprintf(stderr, "usage: lockpeer PATH count N | hold | lock\n");
  return 2;
}
