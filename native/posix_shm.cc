// SPDX-License-Identifier: MIT
// POSIX realtime shared memory and named semaphores, as Qt's POSIX backend and Python's
// multiprocessing.shared_memory use them. See: man 3 shm_open, sem_overview.
#include <errno.h>
#include <fcntl.h>
#include <semaphore.h>
#include <sys/mman.h>
#include <time.h>

#include "sys.h"

namespace qshm {
namespace sys {

int ShmOpen(const char* name, int flags, int mode) {
  int fd = shm_open(name, flags, static_cast<mode_t>(mode));
  return fd < 0 ? -errno : fd;
}

int ShmUnlink(const char* name) { return shm_unlink(name) < 0 ? -errno : 0; }

void* SemOpen(const char* name, int flags, int mode, unsigned value, int* err) {
  sem_t* s;
  do {
    s = sem_open(name, flags, static_cast<mode_t>(mode), value);
  } while (s == SEM_FAILED && errno == EINTR);
  if (s == SEM_FAILED) {
    *err = errno;
    return nullptr;
  }
  *err = 0;
  return s;
}

int SemClose(void* sem) { return sem_close(static_cast<sem_t*>(sem)) < 0 ? -errno : 0; }

int SemUnlink(const char* name) { return sem_unlink(name) < 0 ? -errno : 0; }

int SemWait(void* sem, double timeout_ms) {
  sem_t* s = static_cast<sem_t*>(sem);
  int r;
  if (!(timeout_ms >= 0 && timeout_ms < 1e12)) {  // NaN, negative, huge, infinite: forever
    do {
      r = sem_wait(s);
    } while (r < 0 && errno == EINTR);
  } else if (timeout_ms == 0) {
    r = sem_trywait(s);
  } else {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    double ns = ts.tv_nsec + timeout_ms * 1e6;
    ts.tv_sec += static_cast<time_t>(ns / 1e9);
    ts.tv_nsec = static_cast<long>(ns - static_cast<double>(static_cast<time_t>(ns / 1e9)) * 1e9);
    do {
      r = sem_timedwait(s, &ts);
    } while (r < 0 && errno == EINTR);
  }
  return r < 0 ? -errno : 0;
}

int SemPost(void* sem) { return sem_post(static_cast<sem_t*>(sem)) < 0 ? -errno : 0; }

}  // namespace sys
}  // namespace qshm
