// SPDX-License-Identifier: MIT
// System V shared memory and semaphores, as Qt's System V backend uses them.
// See: man 2 ftok (3), shmget, shmat, shmctl, semget, semctl, semop.
#include <errno.h>
#include <sys/ipc.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <time.h>

#include "sys.h"

namespace qshm {
namespace sys {

union SemUn {
  int val;
  struct semid_ds* buf;
  unsigned short* array;
};

int FtokOut(const char* path, int proj, int32_t* key) {
  key_t k = ftok(path, proj);
  if (k == static_cast<key_t>(-1)) return -errno;
  *key = static_cast<int32_t>(k);
  return 0;
}

int Shmget(int32_t key, size_t size, int flags) {
  int r = shmget(static_cast<key_t>(key), size, flags);
  return r < 0 ? -errno : r;
}

void* Shmat(int id, int flags, int* err) {
  void* p = shmat(id, nullptr, flags);
  if (p == reinterpret_cast<void*>(-1)) {
    *err = errno;
    return nullptr;
  }
  *err = 0;
  return p;
}

int Shmdt(const void* addr) { return shmdt(addr) < 0 ? -errno : 0; }

int ShmctlStat(int id, ShmStat* out) {
  struct shmid_ds ds;
  if (shmctl(id, IPC_STAT, &ds) < 0) return -errno;
  out->segsz = static_cast<double>(ds.shm_segsz);
  out->nattch = static_cast<double>(ds.shm_nattch);
  out->mode = static_cast<double>(ds.shm_perm.mode);
  out->uid = static_cast<double>(ds.shm_perm.uid);
  out->cpid = static_cast<double>(ds.shm_cpid);
  return 0;
}

int ShmctlRmid(int id) { return shmctl(id, IPC_RMID, nullptr) < 0 ? -errno : 0; }

int Semget(int32_t key, int nsems, int flags) {
  int r = semget(static_cast<key_t>(key), nsems, flags);
  return r < 0 ? -errno : r;
}

int SemctlSetval(int id, int num, int value) {
  SemUn arg;
  arg.val = value;
  return semctl(id, num, SETVAL, arg) < 0 ? -errno : 0;
}

int SemctlGetval(int id, int num) {
  int r = semctl(id, num, GETVAL);
  return r < 0 ? -errno : r;
}

int SemctlRmid(int id) { return semctl(id, 0, IPC_RMID) < 0 ? -errno : 0; }

int Semop(int id, int op, int flags, double timeout_ms) {
  struct sembuf sb;
  sb.sem_num = 0;
  sb.sem_op = static_cast<short>(op);
  sb.sem_flg = static_cast<short>(flags);
  int r;
  if (!(timeout_ms >= 0 && timeout_ms < 1e12)) {  // NaN, negative, huge, infinite: forever
    do {
      r = semop(id, &sb, 1);
    } while (r < 0 && errno == EINTR);
  } else {
    struct timespec ts;
    ts.tv_sec = static_cast<time_t>(timeout_ms / 1000);
    ts.tv_nsec = static_cast<long>((timeout_ms - ts.tv_sec * 1000.0) * 1e6);
    r = semtimedop(id, &sb, 1, &ts);
  }
  return r < 0 ? -errno : 0;
}

}  // namespace sys
}  // namespace qshm
