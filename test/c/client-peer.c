/* SPDX-License-Identifier: MIT
 *
 * client-peer: test peer for test/clients.test.mjs, built on clients/c/qshm.h. The Python
 * (test/fixtures/client-peer.py) and Node (test/fixtures/client-peer.mjs) peers take the same
 * arguments and print the same lines.
 *
 *   client-peer create KEY ACTION [N]   create KEY (64 data bytes) in /dev/shm
 *   client-peer attach KEY ACTION [N]   attach KEY
 *   client-peer attachro KEY ACTION [N] attach KEY read-only (the data; the lock still works)
 *   client-peer fd FD ACTION [N]        attach the memfd segment on descriptor FD
 *   client-peer name KEY                print qshm_key_to_name(KEY)
 *
 * After creating or attaching it prints "ready" (or "error NAME ERRNO TEXT" and exits 3). ACTION:
 *   count N  wait for a line on stdin, add 1 to the u64 at data offset 0 N times under the
 *            lock, detach, print "done N abandoned K"
 *   hold     lock, print "held abandoned K", then write to the data under the lock until killed
 *   lock     lock, print "locked abandoned K", unlock, detach, print "detached"
 *   stay     wait for a line on stdin (or its end), detach, print "detached"
 *   trylock MS  try to lock for MS ms, print "trylock 1" or "trylock 0", detach
 *   readonly    print "readonly" + whether the data is writable (it must not be), detach
 */
#define QSHM_IMPLEMENTATION
#include "qshm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(void) {
  fprintf(stderr, "usage: client-peer create|attach KEY | fd FD  count N | hold | lock | stay\n");
  exit(2);
}

int main(int argc, char **argv) {
  qshm_status st;
  qshm *s = NULL;
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc == 3 && strcmp(argv[1], "name") == 0) {
    char buf[512];
    qshm_key_to_name(argv[2], buf, sizeof buf);
    printf("%s\n", buf);
    return 0;
  }
  if (argc < 4) usage();
  if (strcmp(argv[1], "create") == 0) s = qshm_create(argv[2], NULL, 64, &st);
  else if (strcmp(argv[1], "attach") == 0) s = qshm_attach(argv[2], NULL, QSHM_READ_WRITE, &st);
  else if (strcmp(argv[1], "attachro") == 0) s = qshm_attach(argv[2], NULL, QSHM_READ_ONLY, &st);
  else if (strcmp(argv[1], "fd") == 0) s = qshm_attach_fd(atoi(argv[2]), QSHM_READ_WRITE, &st);
  else usage();
  if (!s) {
    printf("error %s %d %s\n", qshm_strerror(st.error), st.sys_errno, st.text);
    return 3;
  }
  printf("ready\n");
  char line[64];
  if (strcmp(argv[3], "count") == 0 && argc == 5) {
    long n = strtol(argv[4], NULL, 10), abandoned = 0;
    volatile uint64_t *counter = (volatile uint64_t *)qshm_data(s);
    if (!fgets(line, sizeof line, stdin)) return 1;
    for (long i = 0; i < n; i++) {
      if (!qshm_lock(s)) {
        fprintf(stderr, "lock: %s\n", qshm_last_error(s)->text);
        return 1;
      }
      abandoned += qshm_lock_was_abandoned(s);
      *counter = *counter + 1; /* plain read-modify-write: only the lock keeps it exact */
      if (!qshm_unlock(s)) {
        fprintf(stderr, "unlock: %s\n", qshm_last_error(s)->text);
        return 1;
      }
    }
    qshm_detach(s);
    printf("done %ld abandoned %ld\n", n, abandoned);
    return 0;
  }
  if (strcmp(argv[3], "hold") == 0) {
    if (!qshm_lock(s)) return 1;
    printf("held abandoned %d\n", qshm_lock_was_abandoned(s));
    volatile uint8_t *d = (volatile uint8_t *)qshm_data(s);
    pid_t parent = getppid();
    for (unsigned long i = 1;; i++) {
      d[qshm_size(s) - 1]++; /* mid-critical-section until killed */
      if ((i & 0xfffff) == 0 && getppid() != parent) return 1; /* orphaned: do not spin forever */
    }
  }
  if (strcmp(argv[3], "lock") == 0) {
    if (!qshm_lock(s)) {
      printf("error %s %d %s\n", qshm_strerror(qshm_last_error(s)->error), 0, qshm_last_error(s)->text);
      return 1;
    }
    printf("locked abandoned %d\n", qshm_lock_was_abandoned(s));
    qshm_unlock(s);
    qshm_detach(s);
    printf("detached\n");
    return 0;
  }
  if (strcmp(argv[3], "trylock") == 0 && argc == 5) {
    int r = qshm_trylock(s, atoi(argv[4]));
    printf("trylock %d %s\n", r, qshm_strerror(qshm_last_error(s)->error));
    if (r) qshm_unlock(s);
    qshm_detach(s);
    return 0;
  }
  if (strcmp(argv[3], "readonly") == 0) {
    /* Print the data mapping's permissions from /proc/self/maps ("r--s": read-only, shared). */
    char maps[256], perms[8] = "?";
    unsigned long start;
    FILE *f = fopen("/proc/self/maps", "r");
    while (f && fgets(maps, sizeof maps, f)) {
      if (sscanf(maps, "%lx-%*x %7s", &start, perms) == 2 && start == (unsigned long)qshm_data(s)) break;
      strcpy(perms, "?");
    }
    if (f) fclose(f);
    int locked = qshm_lock(s);
    printf("readonly %s lock %d\n", perms, locked);
    if (locked) qshm_unlock(s);
    qshm_detach(s);
    return 0;
  }
  if (strcmp(argv[3], "stay") == 0) {
    if (!fgets(line, sizeof line, stdin)) line[0] = 0;
    qshm_detach(s);
    printf("detached\n");
    return 0;
  }
  usage();
}
