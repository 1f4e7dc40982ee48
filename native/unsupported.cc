// SPDX-License-Identifier: MIT
// Facilities this OS lacks: every call fails with ENOSYS, never crashes.
#include <errno.h>

#include "sys.h"

namespace qshm {
namespace sys {

int FutexWait(void*, uint32_t, double) { return -ENOSYS; }
int FutexWake(void*, int) { return -ENOSYS; }
int MemfdCreate(const char*, unsigned) { return -ENOSYS; }
int AddSeals(int, int) { return -ENOSYS; }
int GetSeals(int) { return -ENOSYS; }

}  // namespace sys
}  // namespace qshm
