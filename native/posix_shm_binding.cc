// SPDX-License-Identifier: MIT
// Node-API binding of posix_shm.cc: shm_open and named semaphores. A semaphore reaches
// JavaScript as a type-tagged External the environment owns until semClose.
#include <string>

#include "napi_util.h"
#include "sys.h"

namespace qshm {
namespace {

const napi_type_tag kSemTag = {0x71736d73656d6161ULL, 0x6b2f91d04a3c7e55ULL};
const ResourceKind kSemaphore = {
    "semaphore", [](intptr_t s) { return sys::SemClose(reinterpret_cast<void*>(s)); }};

Napi::Value ShmOpen(const Napi::CallbackInfo& info) {
  std::string name;
  int64_t flags, mode;
  if (!Str(info, 0, &name) || !Int(info, 1, &flags) || !Int(info, 2, &mode)) {
    return info.Env().Undefined();
  }
  return TrackFd(info.Env(),
                 sys::ShmOpen(name.c_str(), static_cast<int>(flags), static_cast<int>(mode)));
}

Napi::Value ShmUnlink(const Napi::CallbackInfo& info) {
  std::string name;
  if (!Str(info, 0, &name)) return info.Env().Undefined();
  return N(info.Env(), sys::ShmUnlink(name.c_str()));
}

void* SemArg(const Napi::CallbackInfo& info, size_t i) {
  Napi::Env env = info.Env();
  if (info.Length() <= i || !info[i].IsExternal()) {
    Fail(env, "qshm native: expected a semaphore handle");
    return nullptr;
  }
  bool ok = false;
  napi_check_object_type_tag(env, info[i], &kSemTag, &ok);
  if (!ok) {
    Fail(env, "qshm native: not a qshm semaphore handle");
    return nullptr;
  }
  void* s = info[i].As<Napi::External<void>>().Data();
  if (!Owns(env, kSemaphore, reinterpret_cast<intptr_t>(s))) {
    Fail(env, "qshm native: semaphore handle is closed");
    return nullptr;
  }
  return s;
}

Napi::Value SemOpen(const Napi::CallbackInfo& info) {
  std::string name;
  int64_t flags, mode, value;
  if (!Str(info, 0, &name) || !Int(info, 1, &flags) || !Int(info, 2, &mode) ||
      !Int(info, 3, &value)) {
    return info.Env().Undefined();
  }
  int err = 0;
  void* s = sys::SemOpen(name.c_str(), static_cast<int>(flags), static_cast<int>(mode),
                         static_cast<unsigned>(value), &err);
  if (!s) return N(info.Env(), -err);
  Own(info.Env(), kSemaphore, reinterpret_cast<intptr_t>(s));
  Napi::External<void> ext = Napi::External<void>::New(info.Env(), s);
  napi_type_tag_object(info.Env(), ext, &kSemTag);
  return ext;
}

Napi::Value SemClose(const Napi::CallbackInfo& info) {
  void* s = SemArg(info, 0);
  if (!s) return info.Env().Undefined();
  Disown(info.Env(), kSemaphore, reinterpret_cast<intptr_t>(s));
  return N(info.Env(), sys::SemClose(s));
}

Napi::Value SemUnlink(const Napi::CallbackInfo& info) {
  std::string name;
  if (!Str(info, 0, &name)) return info.Env().Undefined();
  return N(info.Env(), sys::SemUnlink(name.c_str()));
}

Napi::Value SemWait(const Napi::CallbackInfo& info) {
  void* s = SemArg(info, 0);
  double timeout;
  if (!s || !Dbl(info, 1, &timeout)) return info.Env().Undefined();
  return N(info.Env(), sys::SemWait(s, timeout));
}

Napi::Value SemPost(const Napi::CallbackInfo& info) {
  void* s = SemArg(info, 0);
  if (!s) return info.Env().Undefined();
  return N(info.Env(), sys::SemPost(s));
}

void Register(Napi::Env env, Napi::Object exports, Napi::Object, Capabilities* caps) {
  Export(env, exports, "shmOpen", ShmOpen);
  Export(env, exports, "shmUnlink", ShmUnlink);
  Export(env, exports, "semOpen", SemOpen);
  Export(env, exports, "semClose", SemClose);
  Export(env, exports, "semUnlink", SemUnlink);
  Export(env, exports, "semWait", SemWait);
  Export(env, exports, "semPost", SemPost);
  caps->posixShm = true;
}

const Facility kFacility(5, Register);

}  // namespace
}  // namespace qshm
