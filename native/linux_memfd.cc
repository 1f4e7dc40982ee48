// SPDX-License-Identifier: MIT
// Anonymous shared memory and file seals. See: man 2 memfd_create, fcntl (F_ADD_SEALS).
#include <errno.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sys.h"

namespace qshm {
namespace sys {

int MemfdCreate(const char* name, unsigned flags) {
#ifdef SYS_memfd_create
  long r = syscall(SYS_memfd_create, name, flags);
  return r < 0 ? -errno : static_cast<int>(r);
#else
  (void)name;
  (void)flags;
  return -ENOSYS;
#endif
}

int AddSeals(int fd, int seals) { return fcntl(fd, F_ADD_SEALS, seals) < 0 ? -errno : 0; }

int GetSeals(int fd) {
  int r = fcntl(fd, F_GET_SEALS);
  return r < 0 ? -errno : r;
}

}  // namespace sys
}  // namespace qshm
