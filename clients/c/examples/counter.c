/* counter: add 1 to a counter shared with other processes (C, Python, Node), N times, each
 * under the segment's lock. Build and run:
 *
 *   cc -std=c11 -O2 -I clients/c clients/c/examples/counter.c -o counter
 *   ./counter demo-counter 100000
 *
 * The segment "demo-counter" (8 bytes: one unsigned 64-bit counter) is attached, or created if
 * nobody has it yet; the last process to detach removes it.
 * SPDX-License-Identifier: MIT
 */
#define QSHM_IMPLEMENTATION
#include "qshm.h"

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s KEY N\n", argv[0]);
    return 2;
  }
  const char *key = argv[1];
  long n = strtol(argv[2], NULL, 10);
  qshm_status st;
  qshm *seg = NULL;
  for (int tries = 0; !seg && tries < 10; tries++) {
    seg = qshm_attach(key, NULL, QSHM_READ_WRITE, &st);           /* NULL: /dev/shm */
    if (!seg && st.error == QSHM_NOT_FOUND) {
      seg = qshm_create(key, NULL, sizeof(uint64_t), &st);          /* zero-filled */
      if (!seg && st.error == QSHM_ALREADY_EXISTS) continue;        /* someone else was quicker */
    }
    if (!seg) break;
  }
  if (!seg) {
    fprintf(stderr, "%s (%s)\n", st.text, qshm_strerror(st.error));
    return 1;
  }
  volatile uint64_t *counter = (volatile uint64_t *)qshm_data(seg);
  uint64_t value = 0;
  long abandoned = 0;
  for (long i = 0; i < n; i++) {
    if (!qshm_lock(seg)) {
      fprintf(stderr, "%s\n", qshm_last_error(seg)->text);
      qshm_detach(seg);
      return 1;
    }
    if (qshm_lock_was_abandoned(seg)) abandoned++; /* a holder died mid-update: check the data */
    value = *counter + 1;
    *counter = value;
    qshm_unlock(seg);
  }
  printf("counter %llu after my %ld increments (%ld taken over from dead holders)\n", (unsigned long long)value, n,
         abandoned);
  qshm_detach(seg);
  return 0;
}
