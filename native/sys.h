// SPDX-License-Identifier: MIT
// qshm syscall layer: plain C++ functions, no Node-API types. Each returns 0 (or a
// non-negative result) on success and -errno on failure, so the binding files can
// hand the errno to TypeScript unchanged. Policy (keys, lifetimes, the lock protocol)
// lives in lib/, never here.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace qshm {
namespace sys {

struct FileStat {
  double size;
  double ino;
  double dev;
  double nlink;
  double mode;
  double uid;
  double gid;
};

// ---- posix_file.cc: files, mappings, open-file-description locks ----
int Open(const char* path, int flags, int mode);
int OpenAt(int dirfd, const char* path, int flags, int mode);
int Close(int fd);
int Dup(int fd);  // F_DUPFD_CLOEXEC
int Ftruncate(int fd, int64_t length);
int Fallocate(int fd, int64_t offset, int64_t length);  // posix_fallocate
int Fchmod(int fd, int mode);
int Fstat(int fd, FileStat* out);
int Lstat(const char* path, FileStat* out);
int Unlink(const char* path);
int LinkFd(int fd, const char* path);  // give an O_TMPFILE file a name
// OFD byte-range locks. type: F_RDLCK/F_WRLCK/F_UNLCK. wait: F_OFD_SETLKW.
int OfdLock(int fd, int type, int64_t start, int64_t len, bool wait);
// Returns the type of a conflicting lock (F_UNLCK if none) or -errno.
int OfdGetLock(int fd, int type, int64_t start, int64_t len);
// Whether this OS has OFD locks (Linux 3.15+); elsewhere the two calls above fail.
bool HasOfdLocks();
int PageSize();
void* Mmap(size_t len, int prot, int fd, int64_t offset, int* err);
int Munmap(void* addr, size_t len);
int Mprotect(void* addr, size_t len, int prot);
// fcntl(F_GETFL): the descriptor's status flags (its access mode among them), or -errno.
int GetFl(int fd);
// pread until len bytes, end of file or an error: bytes read, or -errno.
int64_t Pread(int fd, void* buf, size_t len, int64_t offset);

// ---- futex (linux_futex.cc) ----
// Shared (not FUTEX_PRIVATE) wait/wake on a 32-bit word in a MAP_SHARED mapping.
// timeout_ms < 0 waits forever. Returns 0, -ETIMEDOUT, -EAGAIN (value changed) or -EINTR.
int FutexWait(void* addr, uint32_t expected, double timeout_ms);
int FutexWake(void* addr, int count);

// ---- memfd (linux_memfd.cc) ----
int MemfdCreate(const char* name, unsigned flags);
int AddSeals(int fd, int seals);
int GetSeals(int fd);

// ---- System V IPC (sysv.cc) ----
struct ShmStat {
  double segsz;
  double nattch;
  double mode;
  double uid;
  double cpid;
};
int FtokOut(const char* path, int proj, int32_t* key);
int Shmget(int32_t key, size_t size, int flags);
void* Shmat(int id, int flags, int* err);
int Shmdt(const void* addr);
int ShmctlStat(int id, ShmStat* out);
int ShmctlRmid(int id);
int Semget(int32_t key, int nsems, int flags);
int SemctlSetval(int id, int num, int value);
int SemctlGetval(int id, int num);
int SemctlRmid(int id);
// One semop on sem 0. timeout_ms < 0: block forever (semop); else semtimedop.
int Semop(int id, int op, int flags, double timeout_ms);

// ---- POSIX realtime IPC (posix_shm.cc) ----
int ShmOpen(const char* name, int flags, int mode);
int ShmUnlink(const char* name);
// Semaphores are referred to by an opaque handle (the sem_t*), boxed by posix_shm_binding.cc.
void* SemOpen(const char* name, int flags, int mode, unsigned value, int* err);
int SemClose(void* sem);
int SemUnlink(const char* name);
int SemWait(void* sem, double timeout_ms);  // <0 forever, 0 trywait
int SemPost(void* sem);

// ---- Unix domain sockets with SCM_RIGHTS (unix_socket.cc) ----
int UnixListen(const char* path, int backlog);
// Connects to path and sends one descriptor with a small payload.
int UnixSendFd(const char* path, int fd, const void* data, size_t len);
// Accepts one connection on listen_fd (waiting up to timeout_ms, <0 forever) and
// receives one descriptor plus up to cap payload bytes. Returns the fd; *n gets the
// payload length.
int UnixRecvFd(int listen_fd, double timeout_ms, void* buf, size_t cap, size_t* n);

}  // namespace sys
}  // namespace qshm
