// SPDX-License-Identifier: MIT
// Passing descriptors between unrelated processes over a Unix domain socket.
// See: man 7 unix (SCM_RIGHTS), man 2 sendmsg, recvmsg.
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "sys.h"

namespace qshm {
namespace sys {

static int FillAddr(const char* path, struct sockaddr_un* addr) {
  size_t n = strlen(path);
  if (n == 0 || n >= sizeof(addr->sun_path)) return -ENAMETOOLONG;
  memset(addr, 0, sizeof *addr);
  addr->sun_family = AF_UNIX;
  memcpy(addr->sun_path, path, n);
  return 0;
}

int UnixListen(const char* path, int backlog) {
  struct sockaddr_un addr;
  int r = FillAddr(path, &addr);
  if (r < 0) return r;
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  if (bind(fd, reinterpret_cast<struct sockaddr*>(&addr), sizeof addr) < 0 ||
      listen(fd, backlog) < 0) {
    int e = errno;
    close(fd);
    return -e;
  }
  return fd;
}

int UnixSendFd(const char* path, int fd, const void* data, size_t len) {
  struct sockaddr_un addr;
  int r = FillAddr(path, &addr);
  if (r < 0) return r;
  int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) return -errno;
  if (connect(s, reinterpret_cast<struct sockaddr*>(&addr), sizeof addr) < 0) {
    int e = errno;
    close(s);
    return -e;
  }
  char dummy = 0;
  struct iovec iov;
  iov.iov_base = len ? const_cast<void*>(data) : &dummy;
  iov.iov_len = len ? len : 1;
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } u;
  memset(&u, 0, sizeof u);
  struct msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = u.buf;
  msg.msg_controllen = sizeof u.buf;
  struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &fd, sizeof(int));
  ssize_t w;
  do {
    w = sendmsg(s, &msg, MSG_NOSIGNAL);
  } while (w < 0 && errno == EINTR);
  int e = w < 0 ? errno : 0;
  close(s);
  return -e;
}

// Waits until fd is readable; the timeout is in ms (<0, NaN or huge: forever).
static int WaitReadable(int fd, double timeout_ms) {
  int ms = timeout_ms >= 0 && timeout_ms < 2147483647.0 ? static_cast<int>(timeout_ms) : -1;
  struct pollfd p = {fd, POLLIN, 0};
  int pr;
  do {
    pr = poll(&p, 1, ms);
  } while (pr < 0 && errno == EINTR);
  if (pr < 0) return -errno;
  return pr == 0 ? -ETIMEDOUT : 0;
}

static double NowMs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int UnixRecvFd(int listen_fd, double timeout_ms, void* buf, size_t cap, size_t* n) {
  double start = NowMs();
  int r0 = WaitReadable(listen_fd, timeout_ms);
  if (r0 < 0) return r0;
  int s = accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
  if (s < 0) return -errno;
  // A sender that connects and then sends nothing cannot hold this call for long: it gets
  // what is left of the timeout, but at least a grace period, so a real sender that connected
  // at the end of a short wait is still served (its message would otherwise be lost).
  const double kGraceMs = 1000;
  double left = -1;  // forever
  if (timeout_ms >= 0 && timeout_ms < 2147483647.0) {
    left = timeout_ms - (NowMs() - start);
    if (left < kGraceMs) left = kGraceMs;
  }
  int w = WaitReadable(s, left);
  if (w < 0) {
    close(s);
    return w;
  }
  char dummy;
  struct iovec iov;
  iov.iov_base = cap ? buf : &dummy;
  iov.iov_len = cap ? cap : 1;
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } u;
  struct msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = u.buf;
  msg.msg_controllen = sizeof u.buf;
  ssize_t r;
  do {
    r = recvmsg(s, &msg, MSG_CMSG_CLOEXEC);
  } while (r < 0 && errno == EINTR);
  int e = r < 0 ? errno : 0;
  close(s);
  if (e) return -e;
  int got = -1;
  for (struct cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
      memcpy(&got, CMSG_DATA(c), sizeof(int));
  }
  if (got < 0) return -EBADMSG;
  *n = cap ? static_cast<size_t>(r) : 0;
  return got;
}

}  // namespace sys
}  // namespace qshm
