// SPDX-License-Identifier: MIT
// Node-API binding of posix_file.cc: files, open-file-description locks, fstat, mmap, and the
// descriptors the environment owns.
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>

#include <string>

#include "napi_util.h"
#include "sys.h"

namespace qshm {

const ResourceKind kDescriptor = {"descriptor",
                                  [](intptr_t fd) { return sys::Close(static_cast<int>(fd)); }};

Napi::Value TrackFd(Napi::Env env, int fd) {
  if (fd >= 0) Own(env, kDescriptor, fd);
  return N(env, fd);
}

namespace {

Napi::Value Open(const Napi::CallbackInfo& info) {
  std::string path;
  int64_t flags, mode;
  if (!Str(info, 0, &path) || !Int(info, 1, &flags) || !Int(info, 2, &mode)) {
    return info.Env().Undefined();
  }
  return TrackFd(info.Env(),
                 sys::Open(path.c_str(), static_cast<int>(flags), static_cast<int>(mode)));
}

Napi::Value Close(const Napi::CallbackInfo& info) {
  int64_t fd;
  if (!Fd(info, 0, &fd)) return info.Env().Undefined();
  // Not ours: never close it.
  if (!Disown(info.Env(), kDescriptor, fd)) return N(info.Env(), -EBADF);
  return N(info.Env(), sys::Close(static_cast<int>(fd)));
}

Napi::Value Dup(const Napi::CallbackInfo& info) {
  int64_t fd;
  if (!Fd(info, 0, &fd)) return info.Env().Undefined();
  return TrackFd(info.Env(), sys::Dup(static_cast<int>(fd)));
}

Napi::Value Ftruncate(const Napi::CallbackInfo& info) {
  int64_t fd, len;
  if (!Fd(info, 0, &fd) || !Int(info, 1, &len)) return info.Env().Undefined();
  return N(info.Env(), sys::Ftruncate(static_cast<int>(fd), len));
}

Napi::Value Fallocate(const Napi::CallbackInfo& info) {
  int64_t fd, off, len;
  if (!Fd(info, 0, &fd) || !Int(info, 1, &off) || !Int(info, 2, &len)) {
    return info.Env().Undefined();
  }
  return N(info.Env(), sys::Fallocate(static_cast<int>(fd), off, len));
}

Napi::Value Fchmod(const Napi::CallbackInfo& info) {
  int64_t fd, mode;
  if (!Fd(info, 0, &fd) || !Int(info, 1, &mode)) return info.Env().Undefined();
  return N(info.Env(), sys::Fchmod(static_cast<int>(fd), static_cast<int>(mode)));
}

// The stat fields, in NativeStat's order (lib/native.ts), into out[0..6].
void FillStat(double* out, const sys::FileStat& st) {
  out[0] = st.size;
  out[1] = st.ino;
  out[2] = st.dev;
  out[3] = st.nlink;
  out[4] = st.mode;
  out[5] = st.uid;
  out[6] = st.gid;
}

// fd, out (a Float64Array of 7): 0 or -errno.
Napi::Value Fstat(const Napi::CallbackInfo& info) {
  int64_t fd;
  if (!Fd(info, 0, &fd)) return info.Env().Undefined();
  double* out = Float64Out(info, 1, 7);
  if (!out) return info.Env().Undefined();
  sys::FileStat st;
  int r = sys::Fstat(static_cast<int>(fd), &st);
  if (r == 0) FillStat(out, st);
  return N(info.Env(), r);
}

// path, out (a Float64Array of 7): 0 or -errno.
Napi::Value Lstat(const Napi::CallbackInfo& info) {
  std::string path;
  if (!Str(info, 0, &path)) return info.Env().Undefined();
  double* out = Float64Out(info, 1, 7);
  if (!out) return info.Env().Undefined();
  sys::FileStat st;
  int r = sys::Lstat(path.c_str(), &st);
  if (r == 0) FillStat(out, st);
  return N(info.Env(), r);
}

Napi::Value Unlink(const Napi::CallbackInfo& info) {
  std::string path;
  if (!Str(info, 0, &path)) return info.Env().Undefined();
  return N(info.Env(), sys::Unlink(path.c_str()));
}

Napi::Value LinkFd(const Napi::CallbackInfo& info) {
  int64_t fd;
  std::string path;
  if (!Fd(info, 0, &fd) || !Str(info, 1, &path)) return info.Env().Undefined();
  return N(info.Env(), sys::LinkFd(static_cast<int>(fd), path.c_str()));
}

// fd, type, start, len: the arguments of both OFD lock calls.
bool LockArgs(const Napi::CallbackInfo& info, int64_t* fd, int64_t* type, int64_t* start,
              int64_t* len) {
  return Fd(info, 0, fd) && Int(info, 1, type) && Int(info, 2, start) && Int(info, 3, len);
}

Napi::Value OfdLock(const Napi::CallbackInfo& info) {
  int64_t fd, type, start, len;
  if (!LockArgs(info, &fd, &type, &start, &len)) return info.Env().Undefined();
  bool wait = info.Length() > 4 && info[4].ToBoolean().Value();
  return N(info.Env(),
           sys::OfdLock(static_cast<int>(fd), static_cast<int>(type), start, len, wait));
}

Napi::Value OfdGetLock(const Napi::CallbackInfo& info) {
  int64_t fd, type, start, len;
  if (!LockArgs(info, &fd, &type, &start, &len)) return info.Env().Undefined();
  return N(info.Env(), sys::OfdGetLock(static_cast<int>(fd), static_cast<int>(type), start, len));
}

Napi::Value Mmap(const Napi::CallbackInfo& info) {
  int64_t fd, len, prot, off;
  if (!Fd(info, 0, &fd) || !Int(info, 1, &len) || !Int(info, 2, &prot) || !Int(info, 3, &off)) {
    return info.Env().Undefined();
  }
  if (len <= 0) return N(info.Env(), -EINVAL);
  int err = 0;
  void* p =
      sys::Mmap(static_cast<size_t>(len), static_cast<int>(prot), static_cast<int>(fd), off, &err);
  if (!p) return N(info.Env(), -err);
  return MakeMapping(info.Env(), p, static_cast<size_t>(len), sys::Munmap);
}

// fd, buffer (a Uint8Array), offset: pread into the whole buffer (short only at end of file):
// bytes read or -errno. Reads a file without mapping (and so touching) any of its pages.
Napi::Value Pread(const Napi::CallbackInfo& info) {
  int64_t fd, off;
  if (!Fd(info, 0, &fd)) return info.Env().Undefined();
  if (info.Length() < 2 || !info[1].IsTypedArray() ||
      info[1].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    Fail(info.Env(), "qshm native: expected a Uint8Array");
    return info.Env().Undefined();
  }
  if (!Int(info, 2, &off)) return info.Env().Undefined();
  if (off < 0) return N(info.Env(), -EINVAL);
  Napi::Uint8Array b = info[1].As<Napi::Uint8Array>();
  return N(info.Env(),
           static_cast<double>(sys::Pread(static_cast<int>(fd), b.Data(), b.ElementLength(), off)));
}

Napi::Value GetFl(const Napi::CallbackInfo& info) {
  int64_t fd;
  if (!Fd(info, 0, &fd)) return info.Env().Undefined();
  return N(info.Env(), sys::GetFl(static_cast<int>(fd)));
}

// fd, firstLen, firstProt, secondLen, secondProt: one mmap of the file's first
// firstLen + secondLen bytes (with firstProt), the second part then mprotect'ed to secondProt
// if that differs; returned as a region number (MakeRegion): one system call for a header and
// its data, and no ArrayBuffer until a view is asked for.
Napi::Value MmapRegion(const Napi::CallbackInfo& info) {
  int64_t fd, len1, prot1, len2, prot2;
  if (!Fd(info, 0, &fd) || !Int(info, 1, &len1) || !Int(info, 2, &prot1) || !Int(info, 3, &len2) ||
      !Int(info, 4, &prot2)) {
    return info.Env().Undefined();
  }
  // mprotect needs the second part to start on a page boundary; a plain pair does not.
  if (len1 <= 0 || len2 <= 0 || (prot2 != prot1 && len1 % sys::PageSize() != 0)) {
    return N(info.Env(), -EINVAL);
  }
  size_t first = static_cast<size_t>(len1), second = static_cast<size_t>(len2);
  int err = 0;
  void* p = sys::Mmap(first + second, static_cast<int>(prot1), static_cast<int>(fd), 0, &err);
  if (!p) return N(info.Env(), -err);
  if (prot2 != prot1) {
    int r = sys::Mprotect(static_cast<char*>(p) + first, second, static_cast<int>(prot2));
    if (r < 0) {
      sys::Munmap(p, first + second);
      return N(info.Env(), r);
    }
  }
  return MakeRegion(info.Env(), p, first + second, sys::Munmap);
}

void Register(Napi::Env env, Napi::Object exports, Napi::Object constants, Capabilities* caps) {
  Export(env, exports, "open", Open);
  Export(env, exports, "close", Close);
  Export(env, exports, "dup", Dup);
  Export(env, exports, "ftruncate", Ftruncate);
  Export(env, exports, "fallocate", Fallocate);
  Export(env, exports, "fchmod", Fchmod);
  Export(env, exports, "fstat", Fstat);
  Export(env, exports, "lstat", Lstat);
  Export(env, exports, "unlink", Unlink);
  Export(env, exports, "linkFd", LinkFd);
  Export(env, exports, "ofdLock", OfdLock);
  Export(env, exports, "ofdGetLock", OfdGetLock);
  Export(env, exports, "mmap", Mmap);
  Export(env, exports, "mmapRegion", MmapRegion);
  Export(env, exports, "pread", Pread);
  Export(env, exports, "getFl", GetFl);
  QSHM_CONSTANT(constants, O_RDONLY);
  QSHM_CONSTANT(constants, O_WRONLY);
  QSHM_CONSTANT(constants, O_RDWR);
  QSHM_CONSTANT(constants, O_CREAT);
  QSHM_CONSTANT(constants, O_EXCL);
  QSHM_CONSTANT(constants, O_TRUNC);
  QSHM_CONSTANT(constants, O_CLOEXEC);
  QSHM_CONSTANT(constants, O_NOFOLLOW);
  QSHM_CONSTANT(constants, O_DIRECTORY);
#ifdef O_TMPFILE
  QSHM_CONSTANT(constants, O_TMPFILE);
  caps->file = true;  // the file backend creates its files unnamed (Linux 3.11)
#endif
  QSHM_CONSTANT(constants, PROT_NONE);
  QSHM_CONSTANT(constants, PROT_READ);
  QSHM_CONSTANT(constants, PROT_WRITE);
  QSHM_CONSTANT(constants, F_RDLCK);
  QSHM_CONSTANT(constants, F_WRLCK);
  QSHM_CONSTANT(constants, F_UNLCK);
  QSHM_CONSTANT(constants, FD_CLOEXEC);
  constants.Set("pageSize", sys::PageSize());
  caps->ofdLocks = sys::HasOfdLocks();
}

const Facility kFacility(0, Register);

}  // namespace
}  // namespace qshm
