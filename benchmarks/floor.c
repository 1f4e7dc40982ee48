// SPDX-License-Identifier: MIT
/*
 * The physical floor for `npm run bench`: the same lock protocol qshm uses (a 32-bit word in
 * shared memory, compare-and-swap 0 -> token, a short spin, then a shared futex with a waiters
 * bit; see docs/format.md), written in plain C with GCC atomics and no library around it.
 * Built by benchmarks/run.mjs into benchmarks/.bin/floor.
 *
 *   floor uncontended <batches> <pairs-per-batch>
 *   floor contend <file> <role 0|1> <window-ms>
 *   floor handoff <file> <role 0|1> <rounds> <hold-us>
 *   floor memcpy <MiB> <repeats>
 *
 * The two-process modes share a file on /dev/shm: role 0 creates it and prints "ready", role 1
 * opens it; both meet at a barrier in the file, run, print one JSON line; role 0 then waits for
 * a line on stdin before it removes the file. See benchmarks/run.mjs for the control layout.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* Control block offsets (bytes), the same in every peer. */
enum { COUNTER = 0, LAST = 4, SWITCHES = 8, READY = 64, DONE = 128, STOP = 192, TURN = 256, T0 = 320,
       LOCKWORD = 384, CPU = 448, MAPSIZE = 4096 };
#define WAITERS 0x80000000u
#define SPINS 64

static double now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static uint32_t *word(char *base, int off) { return (uint32_t *)(base + off); }

static long futex(uint32_t *addr, int op, uint32_t val, const struct timespec *ts) {
  return syscall(SYS_futex, addr, op, val, ts, NULL, 0); /* shared: no FUTEX_PRIVATE_FLAG */
}

static int cas(uint32_t *w, uint32_t expect, uint32_t want) {
  return __atomic_compare_exchange_n(w, &expect, want, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}

static void lock(uint32_t *w, uint32_t token) {
  if (cas(w, 0, token)) return;
  for (int i = 0; i < SPINS; i++) {
    if (__atomic_load_n(w, __ATOMIC_RELAXED) == 0 && cas(w, 0, token)) return;
  }
  for (;;) {
    uint32_t v = __atomic_load_n(w, __ATOMIC_SEQ_CST);
    if (v == 0) {
      if (cas(w, 0, token | WAITERS)) return;
      continue;
    }
    if (!(v & WAITERS)) {
      if (!cas(w, v, v | WAITERS)) continue;
      v |= WAITERS;
    }
    futex(w, FUTEX_WAIT, v, NULL);
  }
}

static void unlock(uint32_t *w, uint32_t token) {
  if (cas(w, token, 0)) return;
  uint32_t v = __atomic_exchange_n(w, 0, __ATOMIC_SEQ_CST);
  if (v & WAITERS) futex(w, FUTEX_WAKE, 1, NULL);
}

static char *map_file(const char *path, int create) {
  int fd = open(path, O_RDWR | O_CLOEXEC | (create ? O_CREAT | O_EXCL : 0), 0600);
  if (fd < 0) { perror(path); exit(2); }
  if (create && ftruncate(fd, MAPSIZE) != 0) { perror("ftruncate"); exit(2); }
  char *m = mmap(NULL, MAPSIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (m == MAP_FAILED) { perror("mmap"); exit(2); }
  close(fd);
  return m;
}

static void barrier(char *m, int off, uint32_t n) {
  __atomic_add_fetch(word(m, off), 1, __ATOMIC_SEQ_CST);
  while (__atomic_load_n(word(m, off), __ATOMIC_SEQ_CST) < n) { }
}

/* Asleep in a shared futex on the turn word until it holds `want` (the same in every peer). */
static void wait_turn(uint32_t *turn, uint32_t want) {
  for (;;) {
    uint32_t v = __atomic_load_n(turn, __ATOMIC_SEQ_CST);
    if (v == want) return;
    futex(turn, FUTEX_WAIT, v, NULL);
  }
}

static void set_turn(uint32_t *turn, uint32_t v) {
  __atomic_store_n(turn, v, __ATOMIC_SEQ_CST);
  futex(turn, FUTEX_WAKE, 1, NULL);
}

static void sleep_us(double us) {
  struct timespec ts = { (time_t)(us / 1e6), (long)((us - (double)(time_t)(us / 1e6) * 1e6) * 1000) };
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) { }
}

/* role 0: announce, run, then wait for the orchestrator's go-ahead before removing the file. */
static char *open_role(const char *path, int role) {
  char *m = map_file(path, role == 0);
  if (role == 0) { printf("ready\n"); fflush(stdout); }
  return m;
}

static void finish_role(const char *path, char *m, int role) {
  if (role == 0) {
    char line[16];
    if (!fgets(line, sizeof line, stdin)) { }
    unlink(path);
  }
  munmap(m, MAPSIZE);
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

#define WARM_MS 250

static int uncontended(long batches, long pairs) {
  char *m = mmap(NULL, MAPSIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  uint32_t *w = word(m, LOCKWORD);
  /* Untimed warm-up, the same in every peer: at least one batch and WARM_MS. */
  double warm_end = now_ns() + WARM_MS * 1e6;
  do {
    for (long i = 0; i < pairs; i++) { lock(w, 5); unlock(w, 5); }
  } while (now_ns() < warm_end);
  double *ns = calloc((size_t)batches, sizeof(double));
  for (long b = 0; b < batches; b++) {
    double t = now_ns();
    for (long i = 0; i < pairs; i++) { lock(w, 5); unlock(w, 5); }
    ns[b] = (now_ns() - t) / (double)pairs;
  }
  printf("{\"samples\":[");
  for (long b = 0; b < batches; b++) printf("%s%.3f", b ? "," : "", ns[b]);
  printf("]}\n");
  return 0;
}

static int contend(const char *path, int role, double window_ms) {
  char *m = open_role(path, role);
  uint32_t *w = word(m, LOCKWORD), me = (uint32_t)role + 1, token = me;
  volatile uint32_t *counter = word(m, COUNTER), *last = word(m, LAST), *switches = word(m, SWITCHES);
  barrier(m, READY, 2);
  double start = now_ns(), deadline = start + window_ms * 1e6;
  long mine = 0;
  for (;;) {
    if (role == 0 && (mine & 255) == 0 && now_ns() > deadline) __atomic_store_n(word(m, STOP), 1, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(word(m, STOP), __ATOMIC_RELAXED)) break;
    lock(w, token);
    *counter = *counter + 1;
    if (*last != me) { *last = me; *switches = *switches + 1; }
    unlock(w, token);
    mine++;
  }
  double end = now_ns();
  barrier(m, DONE, 2);
  printf("{\"ops\":%ld,\"start\":%.0f,\"end\":%.0f,\"counter\":%u,\"switches\":%u}\n", mine, start, end,
         __atomic_load_n(word(m, COUNTER), __ATOMIC_SEQ_CST), __atomic_load_n(word(m, SWITCHES), __ATOMIC_SEQ_CST));
  fflush(stdout);
  finish_role(path, m, role);
  return 0;
}

static int handoff(const char *path, int role, long rounds, double hold_us) {
  char *m = open_role(path, role);
  uint32_t *w = word(m, LOCKWORD), token = (uint32_t)role + 1, *turn = word(m, TURN);
  volatile double *t0 = (volatile double *)(m + T0);
  int *cpu = (int *)(m + CPU);
  barrier(m, READY, 2);
  long last = rounds + 1, n = 0;
  long late = 0;
  double *lat = calloc((size_t)rounds, sizeof(double));
  int *same = calloc((size_t)rounds, sizeof(int));
  for (long a = role == 0 ? 1 : 2; a <= last; a += 2) {
    if (a > 1) wait_turn(turn, (uint32_t)(a - 1));
    double entered = now_ns();
    lock(w, token);
    double t1 = now_ns();
    if (a > 1) {
      if (entered < *t0) {
        same[n] = sched_getcpu() == __atomic_load_n(cpu, __ATOMIC_SEQ_CST);
        lat[n++] = t1 - *t0;
      } else {
        late++;
      }
    }
    set_turn(turn, (uint32_t)a);
    sleep_us(hold_us);
    if (a < last) {
      __atomic_store_n(cpu, sched_getcpu(), __ATOMIC_SEQ_CST);
      *t0 = now_ns();
    }
    unlock(w, token);
  }
  barrier(m, DONE, 2);
  printf("{\"late\":%ld,\"samples\":[", late);
  for (long i = 0; i < n; i++) printf("%s%.0f", i ? "," : "", lat[i]);
  printf("],\"same\":[");
  for (long i = 0; i < n; i++) printf("%s%d", i ? "," : "", same[i]);
  printf("]}\n");
  fflush(stdout);
  finish_role(path, m, role);
  return 0;
}

static int bandwidth(long mib, long repeats) {
  size_t n = (size_t)mib << 20;
  char *src = malloc(n);
  char *dst = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  memset(src, 1, n);
  memset(dst, 0, n);
  double *gbs = calloc((size_t)repeats, sizeof(double));
  for (long r = 0; r < repeats; r++) {
    src[r] = (char)r;
    double t = now_ns();
    memcpy(dst, src, n);
    gbs[r] = (double)n / (now_ns() - t);
    if (dst[r] != (char)r) return 3;
  }
  qsort(gbs, (size_t)repeats, sizeof(double), cmp_double);
  printf("{\"samples\":[");
  for (long r = 0; r < repeats; r++) printf("%s%.3f", r ? "," : "", gbs[r]);
  printf("]}\n");
  return 0;
}

int main(int argc, char **argv) {
  if (argc >= 4 && !strcmp(argv[1], "uncontended")) return uncontended(atol(argv[2]), atol(argv[3]));
  if (argc >= 5 && !strcmp(argv[1], "contend")) return contend(argv[2], atoi(argv[3]), atof(argv[4]));
  if (argc >= 6 && !strcmp(argv[1], "handoff")) return handoff(argv[2], atoi(argv[3]), atol(argv[4]), atof(argv[5]));
  if (argc >= 4 && !strcmp(argv[1], "memcpy")) return bandwidth(atol(argv[2]), atol(argv[3]));
  fprintf(stderr, "usage: see the comment at the top of benchmarks/floor.c\n");
  return 2;
}
