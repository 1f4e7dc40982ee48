// SPDX-License-Identifier: MIT
// Shared futex wait/wake on a word inside a MAP_SHARED mapping. See: man 2 futex.
// FUTEX_PRIVATE_FLAG is deliberately not used: waiters live in other processes.
#include <errno.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "sys.h"

namespace qshm {
namespace sys {

int FutexWait(void* addr, uint32_t expected, double timeout_ms) {
  struct timespec ts;
  struct timespec* tp = nullptr;
  if (timeout_ms >= 0 && timeout_ms < 1e12) {  // NaN, negative, huge, infinite: wait forever
    ts.tv_sec = static_cast<time_t>(timeout_ms / 1000);
    ts.tv_nsec = static_cast<long>((timeout_ms - ts.tv_sec * 1000.0) * 1e6);
    tp = &ts;
  }
  long r = syscall(SYS_futex, addr, FUTEX_WAIT, expected, tp, nullptr, 0);
  return r < 0 ? -errno : 0;
}

int FutexWake(void* addr, int count) {
  long r = syscall(SYS_futex, addr, FUTEX_WAKE, count, nullptr, nullptr, 0);
  return r < 0 ? -errno : static_cast<int>(r);
}

}  // namespace sys
}  // namespace qshm
