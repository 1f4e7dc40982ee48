// SPDX-License-Identifier: MIT
// Node-API binding of the Windows facility (win32_ipc.cc): unpacks arguments, calls win32.h and
// hands results back as numbers (a handle or a view, else -GetLastError()). It never throws for
// an OS error; wrong argument types throw TypeError (napi_util.h). Handles are owned per
// environment (main thread or worker) and closed when it ends; views are mappings of
// addon.cc (released by its `unmap`, or when the environment ends). Uses only Node-API
// functions that node.exe 20 exports (NAPI_VERSION 8).
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#ifndef NOMINMAX
#define NOMINMAX
#endif
#include <windows.h>

#include <cmath>
#include <string>

#include "napi_util.h"
#include "win32.h"

namespace qshm {
namespace {

constexpr double kInvalidParameter = ERROR_INVALID_PARAMETER;
constexpr double kInvalidHandle = ERROR_INVALID_HANDLE;
constexpr double kNotEnoughMemory = ERROR_NOT_ENOUGH_MEMORY;

int CloseOwned(intptr_t h) { return win::HandleClose(reinterpret_cast<win::Handle>(h)); }
const ResourceKind kHandle = {"HANDLE", CloseOwned};

int UnmapView(void* addr, size_t) { return win::ViewUnmap(addr); }

bool U32(const Napi::CallbackInfo& info, size_t i, uint32_t* out) {
  int64_t v = 0;
  if (!Int(info, i, &v)) return false;
  if (v < 0 || v > 0xffffffffLL)
    return Fail(info.Env(), "qshm native: expected a 32-bit unsigned number");
  *out = static_cast<uint32_t>(v);
  return true;
}
// A UTF-16 name or path without NUL characters; '' means "no name" where a name is optional.
bool WStr(const Napi::CallbackInfo& info, size_t i, std::wstring* out) {
  if (info.Length() <= i || !info[i].IsString())
    return Fail(info.Env(), "qshm native: expected a string argument");
  std::u16string s = info[i].As<Napi::String>().Utf16Value();
  if (s.find(u'\0') != std::u16string::npos)
    return Fail(info.Env(), "qshm native: string contains a NUL character");
  out->assign(s.begin(), s.end());
  return true;
}
const wchar_t* NameOrNull(const std::wstring& s) { return s.empty() ? nullptr : s.c_str(); }
// A handle this environment owns; null (reported as ERROR_INVALID_HANDLE) for any other number.
bool Hnd(const Napi::CallbackInfo& info, size_t i, win::Handle* out) {
  int64_t v = 0;
  if (!Int(info, i, &v)) return false;
  *out = v > 0 && Owns(info.Env(), kHandle, static_cast<intptr_t>(v))
             ? reinterpret_cast<win::Handle>(v)
             : nullptr;
  return true;
}
// Owns h when it is one (h > 0) and returns it or -error as a number.
Napi::Value Track(Napi::Env env, int64_t h) {
  if (h > 0 && !Own(env, kHandle, static_cast<intptr_t>(h))) {
    win::HandleClose(reinterpret_cast<win::Handle>(h));  // the environment is ending
    h = -kInvalidHandle;
  }
  return N(env, static_cast<double>(h));
}
// {handle, lastError} for the Create* calls whose success may carry ERROR_ALREADY_EXISTS.
Napi::Value Created(Napi::Env env, int64_t h, uint32_t last) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("handle", Track(env, h));
  o.Set("lastError", N(env, last));
  return o;
}

Napi::Value FileCreate(const Napi::CallbackInfo& info) {
  std::wstring path;
  uint32_t access = 0, share = 0, disposition = 0, flags = 0;
  if (!WStr(info, 0, &path) || !U32(info, 1, &access) || !U32(info, 2, &share) ||
      !U32(info, 3, &disposition) || !U32(info, 4, &flags))
    return info.Env().Undefined();
  return Track(info.Env(), win::FileCreate(path.c_str(), access, share, disposition, flags));
}
Napi::Value FileSetSize(const Napi::CallbackInfo& info) {
  win::Handle h = nullptr;
  int64_t size = 0;
  if (!Hnd(info, 0, &h) || !Int(info, 1, &size)) return info.Env().Undefined();
  return N(info.Env(), h ? win::FileSetSize(h, size) : -kInvalidHandle);
}
Napi::Value FileAllocate(const Napi::CallbackInfo& info) {
  win::Handle h = nullptr;
  int64_t size = 0;
  if (!Hnd(info, 0, &h) || !Int(info, 1, &size)) return info.Env().Undefined();
  return N(info.Env(), h ? win::FileAllocate(h, size) : -kInvalidHandle);
}
Napi::Value FileSize(const Napi::CallbackInfo& info) {
  win::Handle h = nullptr;
  if (!Hnd(info, 0, &h)) return info.Env().Undefined();
  return N(info.Env(), h ? static_cast<double>(win::FileSize(h)) : -kInvalidHandle);
}
Napi::Value HandleClose(const Napi::CallbackInfo& info) {
  win::Handle h = nullptr;
  if (!Hnd(info, 0, &h)) return info.Env().Undefined();
  if (!h) return N(info.Env(), -kInvalidHandle);  // never close a handle that is not ours
  Disown(info.Env(), kHandle, reinterpret_cast<intptr_t>(h));
  return N(info.Env(), win::HandleClose(h));
}

Napi::Value MappingCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  win::Handle file = nullptr;
  int64_t given = 0, size = 0;
  uint32_t protect = 0;
  std::wstring name;
  if (!Int(info, 0, &given) || !Hnd(info, 0, &file) || !U32(info, 1, &protect) ||
      !Int(info, 2, &size) || !WStr(info, 3, &name))
    return env.Undefined();
  if (given != 0 && !file)
    return Created(env, -kInvalidHandle, ERROR_INVALID_HANDLE);  // 0: the page file
  if (size < 0) return Created(env, -kInvalidParameter, ERROR_INVALID_PARAMETER);
  uint32_t last = 0;
  int64_t h =
      win::MappingCreate(file, protect, static_cast<uint64_t>(size), NameOrNull(name), &last);
  return Created(env, h, last);
}
Napi::Value MappingOpen(const Napi::CallbackInfo& info) {
  uint32_t access = 0;
  std::wstring name;
  if (!U32(info, 0, &access) || !WStr(info, 1, &name)) return info.Env().Undefined();
  return Track(info.Env(), win::MappingOpen(access, name.c_str()));
}
// A view as an ArrayBuffer (addon.cc's mapping: `unmap`, `mappingLive`). Size 0: the whole
// section from `offset`, its length the region size (page-rounded), as Qt's size().
Napi::Value ViewMap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  win::Handle mapping = nullptr;
  uint32_t access = 0;
  int64_t offset = 0, size = 0;
  if (!Hnd(info, 0, &mapping) || !U32(info, 1, &access) || !Int(info, 2, &offset) ||
      !Int(info, 3, &size))
    return env.Undefined();
  if (!mapping) return N(env, -kInvalidHandle);
  if (offset < 0 || size < 0) return N(env, -kInvalidParameter);
  uint32_t err = 0;
  void* p =
      win::ViewMap(mapping, access, static_cast<uint64_t>(offset), static_cast<size_t>(size), &err);
  if (!p) return N(env, -static_cast<double>(err));
  if (size == 0) {
    size = win::ViewRegionSize(p);
    if (size <= 0) {
      win::ViewUnmap(p);
      return N(env, size < 0 ? static_cast<double>(size) : -kInvalidParameter);
    }
  }
  Napi::Value v = MakeMapping(env, p, static_cast<size_t>(size), UnmapView);
  return v.IsNumber() ? N(env, -kNotEnoughMemory) : v;  // MakeMapping released the view
}

Napi::Value MutexCreate(const Napi::CallbackInfo& info) {
  std::wstring name;
  if (!WStr(info, 0, &name)) return info.Env().Undefined();
  bool owner = info.Length() > 1 && info[1].ToBoolean().Value();
  uint32_t last = 0;
  int64_t h = win::MutexCreate(NameOrNull(name), owner, &last);
  return Created(info.Env(), h, last);
}
Napi::Value MutexOpen(const Napi::CallbackInfo& info) {
  std::wstring name;
  if (!WStr(info, 0, &name)) return info.Env().Undefined();
  return Track(info.Env(), win::MutexOpen(name.c_str()));
}
Napi::Value MutexRelease(const Napi::CallbackInfo& info) {
  win::Handle h = nullptr;
  if (!Hnd(info, 0, &h)) return info.Env().Undefined();
  return N(info.Env(), h ? win::MutexRelease(h) : -kInvalidHandle);
}
Napi::Value SemaphoreCreate(const Napi::CallbackInfo& info) {
  std::wstring name;
  int64_t initial = 0, maximum = 0;
  if (!WStr(info, 0, &name) || !Int(info, 1, &initial) || !Int(info, 2, &maximum))
    return info.Env().Undefined();
  if (initial < 0 || maximum < 1 || initial > maximum || maximum > 0x7fffffff)
    return Created(info.Env(), -kInvalidParameter, ERROR_INVALID_PARAMETER);
  uint32_t last = 0;
  int64_t h = win::SemaphoreCreate(NameOrNull(name), static_cast<int32_t>(initial),
                                   static_cast<int32_t>(maximum), &last);
  return Created(info.Env(), h, last);
}
Napi::Value SemaphoreOpen(const Napi::CallbackInfo& info) {
  std::wstring name;
  if (!WStr(info, 0, &name)) return info.Env().Undefined();
  return Track(info.Env(), win::SemaphoreOpen(name.c_str()));
}
Napi::Value SemaphoreRelease(const Napi::CallbackInfo& info) {
  win::Handle h = nullptr;
  int64_t count = 0;
  if (!Hnd(info, 0, &h) || !Int(info, 1, &count)) return info.Env().Undefined();
  if (!h) return N(info.Env(), -kInvalidHandle);
  if (count < 1 || count > 0x7fffffff) return N(info.Env(), -kInvalidParameter);
  return N(info.Env(), static_cast<double>(win::SemaphoreRelease(h, static_cast<int32_t>(count))));
}
Napi::Value HandleWait(const Napi::CallbackInfo& info) {
  win::Handle h = nullptr;
  double ms = 0;
  if (!Hnd(info, 0, &h) || !Dbl(info, 1, &ms)) return info.Env().Undefined();
  return N(info.Env(), h ? static_cast<double>(win::HandleWait(h, ms)) : -kInvalidHandle);
}

// Waits on a pool thread on its own duplicate of the handle (closing the caller's handle
// meanwhile is safe). Never for a mutex: ownership would go to the pool thread.
class WaitJob : public AsyncJob {
 public:
  WaitJob(win::Handle h, double ms) : handle_(h), ms_(ms) {}
  ~WaitJob() override { win::HandleClose(handle_); }
  void Execute() override { result_ = static_cast<double>(win::HandleWait(handle_, ms_)); }
  napi_value Result(napi_env env) override {
    napi_value v = nullptr;
    return napi_create_double(env, result_, &v) == napi_ok ? v : nullptr;
  }

 private:
  win::Handle handle_;
  double ms_;
  double result_ = 0;
};
Napi::Value HandleWaitAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  win::Handle h = nullptr;
  double ms = 0;
  if (!Hnd(info, 0, &h) || !Dbl(info, 1, &ms)) return env.Undefined();
  int64_t dup = h ? win::HandleDuplicate(h) : -static_cast<int64_t>(kInvalidHandle);
  if (dup <= 0) return ResolvedPromise(env, static_cast<double>(dup));
  // Bounded so that a worker or process shutdown never waits long on the pool.
  if (!(ms >= 0) || ms > 1000) ms = 1000;
  return QueueJob(env, new WaitJob(reinterpret_cast<win::Handle>(dup), ms), "qshm.handleWait");
}

// The Win32 error codes qshm names (lib/errors.ts maps them to Qt's errors), from <winerror.h>.
Napi::Object ErrorCodes(Napi::Env env) {
  Napi::Object c = Napi::Object::New(env);
#define E(name) \
  c.Set(#name, static_cast<double>(name))  // not QSHM_CONSTANT: #name must not be expanded first
  E(ERROR_FILE_NOT_FOUND);
  E(ERROR_PATH_NOT_FOUND);
  E(ERROR_TOO_MANY_OPEN_FILES);
  E(ERROR_ACCESS_DENIED);
  E(ERROR_INVALID_HANDLE);
  E(ERROR_NOT_ENOUGH_MEMORY);
  E(ERROR_OUTOFMEMORY);
  E(ERROR_SHARING_VIOLATION);
  E(ERROR_HANDLE_DISK_FULL);
  E(ERROR_NOT_SUPPORTED);
  E(ERROR_FILE_EXISTS);
  E(ERROR_INVALID_PARAMETER);
  E(ERROR_DISK_FULL);
  E(ERROR_INVALID_NAME);
  E(ERROR_BAD_PATHNAME);
  E(ERROR_ALREADY_EXISTS);
  E(ERROR_FILENAME_EXCED_RANGE);
  E(ERROR_TOO_MANY_POSTS);
  E(ERROR_DELETE_PENDING);
  E(ERROR_NOACCESS);
  E(ERROR_USER_MAPPED_FILE);
  E(ERROR_NO_SYSTEM_RESOURCES);
  E(ERROR_COMMITMENT_LIMIT);
  E(ERROR_INVALID_ADDRESS);
  E(ERROR_NOT_OWNER);
  E(ERROR_INVALID_FUNCTION);
  E(ERROR_DIRECTORY);
  E(ERROR_CALL_NOT_IMPLEMENTED);
#undef E
  return c;
}

void Register(Napi::Env env, Napi::Object exports, Napi::Object constants, Capabilities* caps) {
  Export(env, exports, "fileCreate", FileCreate);
  Export(env, exports, "fileSetSize", FileSetSize);
  Export(env, exports, "fileAllocate", FileAllocate);
  Export(env, exports, "fileSize", FileSize);
  Export(env, exports, "handleClose", HandleClose);
  Export(env, exports, "mappingCreate", MappingCreate);
  Export(env, exports, "mappingOpen", MappingOpen);
  Export(env, exports, "viewMap", ViewMap);
  Export(env, exports, "mutexCreate", MutexCreate);
  Export(env, exports, "mutexOpen", MutexOpen);
  Export(env, exports, "mutexRelease", MutexRelease);
  Export(env, exports, "semaphoreCreate", SemaphoreCreate);
  Export(env, exports, "semaphoreOpen", SemaphoreOpen);
  Export(env, exports, "semaphoreRelease", SemaphoreRelease);
  Export(env, exports, "handleWait", HandleWait);
  Export(env, exports, "handleWaitAsync", HandleWaitAsync);
  exports.Set("errors", ErrorCodes(env));
  constants.Set("pageSize", static_cast<double>(win::PageSize()));
  constants.Set("allocationGranularity", static_cast<double>(win::AllocationGranularity()));
#define K(name) constants.Set(#name, static_cast<double>(name))
  K(GENERIC_READ);
  K(GENERIC_WRITE);
  K(FILE_SHARE_READ);
  K(FILE_SHARE_WRITE);
  K(FILE_SHARE_DELETE);
  K(CREATE_NEW);
  K(OPEN_EXISTING);
  K(FILE_ATTRIBUTE_TEMPORARY);
  K(FILE_FLAG_DELETE_ON_CLOSE);
  K(PAGE_READONLY);
  K(PAGE_READWRITE);
  K(FILE_MAP_READ);
  K(FILE_MAP_WRITE);
  K(FILE_MAP_ALL_ACCESS);
  K(WAIT_OBJECT_0);
  K(WAIT_ABANDONED);
  K(WAIT_TIMEOUT);
#undef K
  caps->win32 = true;
}

const Facility kFacility(10, Register);

}  // namespace
}  // namespace qshm
