// SPDX-License-Identifier: MIT
// Node-API binding of linux_memfd.cc: anonymous shared memory and file seals.
#include <fcntl.h>
#include <sys/mman.h>

#include <string>

#include "napi_util.h"
#include "sys.h"

namespace qshm {
namespace {

Napi::Value MemfdCreate(const Napi::CallbackInfo& info) {
  std::string name;
  int64_t flags;
  if (!Str(info, 0, &name) || !Int(info, 1, &flags)) return info.Env().Undefined();
  return TrackFd(info.Env(), sys::MemfdCreate(name.c_str(), static_cast<unsigned>(flags)));
}

Napi::Value AddSeals(const Napi::CallbackInfo& info) {
  int64_t fd, seals;
  if (!Fd(info, 0, &fd) || !Int(info, 1, &seals)) return info.Env().Undefined();
  return N(info.Env(), sys::AddSeals(static_cast<int>(fd), static_cast<int>(seals)));
}

Napi::Value GetSeals(const Napi::CallbackInfo& info) {
  int64_t fd;
  if (!Fd(info, 0, &fd)) return info.Env().Undefined();
  return N(info.Env(), sys::GetSeals(static_cast<int>(fd)));
}

void Register(Napi::Env env, Napi::Object exports, Napi::Object constants, Capabilities* caps) {
  Export(env, exports, "memfdCreate", MemfdCreate);
  Export(env, exports, "addSeals", AddSeals);
  Export(env, exports, "getSeals", GetSeals);
#ifdef MFD_CLOEXEC
  QSHM_CONSTANT(constants, MFD_CLOEXEC);
  QSHM_CONSTANT(constants, MFD_ALLOW_SEALING);
#endif
#ifdef F_SEAL_SEAL
  QSHM_CONSTANT(constants, F_SEAL_SEAL);
  QSHM_CONSTANT(constants, F_SEAL_SHRINK);
  QSHM_CONSTANT(constants, F_SEAL_GROW);
  QSHM_CONSTANT(constants, F_SEAL_WRITE);
#endif
#ifdef F_SEAL_FUTURE_WRITE
  QSHM_CONSTANT(constants, F_SEAL_FUTURE_WRITE);
#else
  constants.Set("F_SEAL_FUTURE_WRITE", 0x0010);  // Linux 5.1; older C libraries lack the name
#endif
  caps->memfd = true;
}

const Facility kFacility(3, Register);

}  // namespace
}  // namespace qshm
