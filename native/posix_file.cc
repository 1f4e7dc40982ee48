// SPDX-License-Identifier: MIT
// Files, mappings and open-file-description locks. See: man 2 open, fcntl (F_OFD_SETLK),
// posix_fallocate, mmap, linkat.
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sys.h"

namespace qshm {
namespace sys {

static void FillStat(const struct stat& st, FileStat* out) {
  out->size = static_cast<double>(st.st_size);
  out->ino = static_cast<double>(st.st_ino);
  out->dev = static_cast<double>(st.st_dev);
  out->nlink = static_cast<double>(st.st_nlink);
  out->mode = static_cast<double>(st.st_mode);
  out->uid = static_cast<double>(st.st_uid);
  out->gid = static_cast<double>(st.st_gid);
}

int Open(const char* path, int flags, int mode) {
  int fd;
  do {
    fd = open(path, flags, mode);
  } while (fd < 0 && errno == EINTR);
  return fd < 0 ? -errno : fd;
}

int OpenAt(int dirfd, const char* path, int flags, int mode) {
  int fd;
  do {
    fd = openat(dirfd, path, flags, mode);
  } while (fd < 0 && errno == EINTR);
  return fd < 0 ? -errno : fd;
}

int Close(int fd) { return close(fd) < 0 && errno != EINTR ? -errno : 0; }

int Dup(int fd) {
  int r = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  return r < 0 ? -errno : r;
}

int Ftruncate(int fd, int64_t length) {
  int r;
  do {
    r = ftruncate(fd, static_cast<off_t>(length));
  } while (r < 0 && errno == EINTR);
  return r < 0 ? -errno : 0;
}

int Fallocate(int fd, int64_t offset, int64_t length) {
  int r;
  do {
    r = posix_fallocate(fd, static_cast<off_t>(offset), static_cast<off_t>(length));
  } while (r == EINTR);
  return -r;
}

int Fchmod(int fd, int mode) { return fchmod(fd, static_cast<mode_t>(mode)) < 0 ? -errno : 0; }

int Fstat(int fd, FileStat* out) {
  struct stat st;
  if (fstat(fd, &st) < 0) return -errno;
  FillStat(st, out);
  return 0;
}

int Lstat(const char* path, FileStat* out) {
  struct stat st;
  if (lstat(path, &st) < 0) return -errno;
  FillStat(st, out);
  return 0;
}

int Unlink(const char* path) { return unlink(path) < 0 ? -errno : 0; }

int LinkFd(int fd, const char* path) {
#ifdef AT_EMPTY_PATH
  // Needs CAP_DAC_READ_SEARCH; the /proc form below works for everyone else.
  if (linkat(fd, "", AT_FDCWD, path, AT_EMPTY_PATH) == 0) return 0;
  if (errno != EPERM && errno != ENOENT && errno != EINVAL) return -errno;
#endif
  char proc[64];
  snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
  return linkat(AT_FDCWD, proc, AT_FDCWD, path, AT_SYMLINK_FOLLOW) < 0 ? -errno : 0;
}

bool HasOfdLocks() {
#ifdef __linux__
  return true;
#else
  return false;
#endif
}

// Older C libraries lack the names; Linux has had the calls since 3.15.
#ifndef F_OFD_SETLK
#define F_OFD_GETLK 36
#define F_OFD_SETLK 37
#define F_OFD_SETLKW 38
#endif

int OfdLock(int fd, int type, int64_t start, int64_t len, bool wait) {
  struct flock fl = {};
  fl.l_type = static_cast<short>(type);
  fl.l_whence = SEEK_SET;
  fl.l_start = static_cast<off_t>(start);
  fl.l_len = static_cast<off_t>(len);
  fl.l_pid = 0;  // must be 0 for OFD locks
  int r;
  do {
    r = fcntl(fd, wait ? F_OFD_SETLKW : F_OFD_SETLK, &fl);
  } while (r < 0 && errno == EINTR);
  return r < 0 ? -errno : 0;
}

int OfdGetLock(int fd, int type, int64_t start, int64_t len) {
  struct flock fl = {};
  fl.l_type = static_cast<short>(type);
  fl.l_whence = SEEK_SET;
  fl.l_start = static_cast<off_t>(start);
  fl.l_len = static_cast<off_t>(len);
  fl.l_pid = 0;
  if (fcntl(fd, F_OFD_GETLK, &fl) < 0) return -errno;
  return fl.l_type;
}

int PageSize() { return static_cast<int>(sysconf(_SC_PAGESIZE)); }

void* Mmap(size_t len, int prot, int fd, int64_t offset, int* err) {
  void* p = mmap(nullptr, len, prot, MAP_SHARED, fd, static_cast<off_t>(offset));
  if (p == MAP_FAILED) {
    *err = errno;
    return nullptr;
  }
  *err = 0;
  return p;
}

int Munmap(void* addr, size_t len) { return munmap(addr, len) < 0 ? -errno : 0; }

int64_t Pread(int fd, void* buf, size_t len, int64_t offset) {
  size_t done = 0;
  while (done < len) {
    ssize_t r = pread(fd, static_cast<char*>(buf) + done, len - done,
                      static_cast<off_t>(offset + static_cast<int64_t>(done)));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return -errno;
    if (r == 0) break;
    done += static_cast<size_t>(r);
  }
  return static_cast<int64_t>(done);
}

int GetFl(int fd) {
  int r = fcntl(fd, F_GETFL);
  return r < 0 ? -errno : r;
}

int Mprotect(void* addr, size_t len, int prot) {
  return mprotect(addr, len, prot) < 0 ? -errno : 0;
}

}  // namespace sys
}  // namespace qshm
