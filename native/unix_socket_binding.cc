// SPDX-License-Identifier: MIT
// Node-API binding of unix_socket.cc: descriptor passing between unrelated processes.
#include <string>

#include "napi_util.h"
#include "sys.h"

namespace qshm {
namespace {

Napi::Value UnixListen(const Napi::CallbackInfo& info) {
  std::string path;
  int64_t backlog;
  if (!Str(info, 0, &path) || !Int(info, 1, &backlog)) return info.Env().Undefined();
  return TrackFd(info.Env(), sys::UnixListen(path.c_str(), static_cast<int>(backlog)));
}

Napi::Value UnixSendFd(const Napi::CallbackInfo& info) {
  std::string path;
  int64_t fd;
  if (!Str(info, 0, &path) || !Fd(info, 1, &fd)) return info.Env().Undefined();
  if (info.Length() < 3 || !info[2].IsBuffer()) {
    Fail(info.Env(), "qshm native: expected a Buffer payload");
    return info.Env().Undefined();
  }
  Napi::Buffer<char> b = info[2].As<Napi::Buffer<char>>();
  return N(info.Env(), sys::UnixSendFd(path.c_str(), static_cast<int>(fd), b.Data(), b.Length()));
}

// Resolves with { fd, data } or -errno. The received descriptor is owned by the environment
// once delivered, and closed if it cannot be.
class RecvJob : public AsyncJob {
 public:
  RecvJob(int lfd, double timeout) : lfd_(lfd), timeout_(timeout) {}
  void Execute() override { result_ = sys::UnixRecvFd(lfd_, timeout_, buf_, sizeof buf_, &n_); }
  napi_value Result(napi_env env) override {
    napi_value v = nullptr;
    if (result_ < 0) return napi_create_double(env, result_, &v) == napi_ok ? v : nullptr;
    napi_value fdv, data;
    void* copy = nullptr;
    if (napi_create_object(env, &v) != napi_ok ||
        napi_create_int32(env, result_, &fdv) != napi_ok ||
        napi_set_named_property(env, v, "fd", fdv) != napi_ok ||
        napi_create_buffer_copy(env, n_, buf_, &copy, &data) != napi_ok ||
        napi_set_named_property(env, v, "data", data) != napi_ok) {
      return nullptr;
    }
    return v;
  }
  // Nobody would ever close it otherwise.
  bool Delivered(napi_env env) override { return result_ < 0 || Own(env, kDescriptor, result_); }
  void Undelivered() override {
    if (result_ >= 0) sys::Close(result_);
  }

 private:
  int lfd_;
  double timeout_;
  int result_ = 0;
  char buf_[4096];
  size_t n_ = 0;
};

Napi::Value UnixRecvFdAsync(const Napi::CallbackInfo& info) {
  int64_t lfd;
  double timeout;
  if (!Fd(info, 0, &lfd) || !Dbl(info, 1, &timeout)) return info.Env().Undefined();
  return QueueJob(info.Env(), new RecvJob(static_cast<int>(lfd), timeout), "qshm.unixRecvFd");
}

void Register(Napi::Env env, Napi::Object exports, Napi::Object, Capabilities* caps) {
  Export(env, exports, "unixListen", UnixListen);
  Export(env, exports, "unixSendFd", UnixSendFd);
  Export(env, exports, "unixRecvFdAsync", UnixRecvFdAsync);
  caps->unixSocket = true;
}

const Facility kFacility(6, Register);

}  // namespace
}  // namespace qshm
