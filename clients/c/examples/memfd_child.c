/* memfd_child: the child side of clients/examples/memfd-parent.mjs. Attaches the memfd
 * segment its Node parent handed over as a descriptor (QSHM_FD names it), reads the parent's
 * text and writes a reply, under the lock.
 *
 *   cc -std=c11 -O2 -I clients/c clients/c/examples/memfd_child.c -o memfd_child
 *   node clients/examples/memfd-parent.mjs ./memfd_child
 * SPDX-License-Identifier: MIT
 */
#define QSHM_IMPLEMENTATION
#include "qshm.h"

#include <stdio.h>
#include <stdlib.h>

int main(void) {
  const char *fd = getenv("QSHM_FD");
  if (!fd) {
    fprintf(stderr, "run me through clients/examples/memfd-parent.mjs (QSHM_FD is not set)\n");
    return 2;
  }
  qshm_status st;
  qshm *seg = qshm_attach_fd(atoi(fd), QSHM_READ_WRITE, &st);
  if (!seg) {
    fprintf(stderr, "%s\n", st.text);
    return 1;
  }
  char *text = (char *)qshm_data(seg);
  if (qshm_lock(seg)) {
    printf("child read: %.*s\n", (int)qshm_size(seg), text);
    snprintf(text, qshm_size(seg), "hello from C");
    qshm_unlock(seg);
  }
  qshm_detach(seg);
  return 0;
}
