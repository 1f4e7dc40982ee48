// SPDX-License-Identifier: MIT
// Node-API binding of linux_futex.cc: wait and wake on a 32-bit word of a mapping.
#include "napi_util.h"
#include "sys.h"

namespace qshm {
namespace {

// mapping, byteOffset, expected, timeoutMs: the arguments of both waits.
uint32_t* WaitArgs(const Napi::CallbackInfo& info, int* err, int64_t* expected, double* timeout) {
  uint32_t* w = MappingWord(info, err);
  if (!w && !*err) return nullptr;
  if (!Int(info, 2, expected) || !Dbl(info, 3, timeout)) {
    *err = 0;
    return nullptr;
  }
  return w;
}

Napi::Value FutexWait(const Napi::CallbackInfo& info) {
  int err = 0;
  uint32_t* w = MappingWord(info, &err);
  if (!w) return err ? N(info.Env(), err) : info.Env().Undefined();
  int64_t expected;
  double timeout;
  if (!Int(info, 2, &expected) || !Dbl(info, 3, &timeout)) return info.Env().Undefined();
  return N(info.Env(), sys::FutexWait(w, static_cast<uint32_t>(expected), timeout));
}

Napi::Value FutexWake(const Napi::CallbackInfo& info) {
  int err = 0;
  uint32_t* w = MappingWord(info, &err);
  if (!w) return err ? N(info.Env(), err) : info.Env().Undefined();
  int64_t count;
  if (!Int(info, 2, &count)) return info.Env().Undefined();
  return N(info.Env(), sys::FutexWake(w, static_cast<int>(count)));
}

class FutexJob : public AsyncJob {
 public:
  FutexJob(uint32_t* word, uint32_t expected, double timeout)
      : word_(word), expected_(expected), timeout_(timeout) {}
  void Execute() override { result_ = sys::FutexWait(word_, expected_, timeout_); }
  napi_value Result(napi_env env) override {
    napi_value v;
    return napi_create_double(env, result_, &v) == napi_ok ? v : nullptr;
  }

 private:
  uint32_t* word_;
  uint32_t expected_;
  double timeout_;
  int result_ = 0;
};

// The mapping's ArrayBuffer is kept alive while waiting.
Napi::Value FutexWaitAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int err = 0;
  int64_t expected;
  double timeout;
  uint32_t* w = WaitArgs(info, &err, &expected, &timeout);
  if (!w && !err) return env.Undefined();
  if (!w) return ResolvedPromise(env, err);
  // Bounded so that a worker or process shutdown never waits long on the pool.
  if (!(timeout >= 0) || timeout > 1000) timeout = 1000;
  return QueueJob(env, new FutexJob(w, static_cast<uint32_t>(expected), timeout), "qshm.futexWait",
                  info[0]);
}

void Register(Napi::Env env, Napi::Object exports, Napi::Object, Capabilities* caps) {
  Export(env, exports, "futexWait", FutexWait);
  Export(env, exports, "futexWake", FutexWake);
  Export(env, exports, "futexWaitAsync", FutexWaitAsync);
  caps->futex = true;
}

const Facility kFacility(2, Register);

}  // namespace
}  // namespace qshm
