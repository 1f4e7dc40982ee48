// SPDX-License-Identifier: MIT
// Node-API binding of the Windows facility (win32_ipc.cc): unpacks arguments, calls win32.h and
// hands results back as numbers (a handle or a view, else -GetLastError()). It never throws
// for an OS error; wrong argument types throw TypeError so a bypass of the TypeScript checks
// cannot crash the process. Handles and views are owned per environment (main thread or
// worker) and released when it ends, so a terminated worker's objects go away with it.
// Uses only Node-API functions that node.exe 20 exports (NAPI_VERSION 8).
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#ifndef NOMINMAX
#define NOMINMAX
#endif
#include <windows.h>
#include <napi.h>

#include <cmath>
#include <set>
#include <string>

#include "win32.h"

namespace qshm {
namespace {

constexpr int64_t kInvalidParameter = ERROR_INVALID_PARAMETER;
constexpr int64_t kInvalidHandle = ERROR_INVALID_HANDLE;
constexpr int64_t kNotEnoughMemory = ERROR_NOT_ENOUGH_MEMORY;

struct WinState;

// One mapped view handed to JavaScript as exactly one external ArrayBuffer.
struct View {
  void* addr;
  size_t len;
  bool live;
  WinState* state;
  bool creating;
  bool finalized;
};

struct WinState {
  std::set<int64_t> handles;
  std::set<View*> views;
};

WinState* State(Napi::Env env) { return env.GetInstanceData<WinState>(); }

int Release(View* v) {
  if (!v->live) return 0;
  v->live = false;
  if (v->state) v->state->views.erase(v);
  v->state = nullptr;
  return win::ViewUnmap(v->addr);
}

void Cleanup(void* data) {
  WinState* st = static_cast<WinState*>(data);
  std::set<View*> views = st->views;
  for (View* v : views) Release(v);
  for (int64_t h : st->handles) win::HandleClose(reinterpret_cast<win::Handle>(static_cast<uintptr_t>(h)));
  st->handles.clear();
}

bool Fail(Napi::Env env, const char* what) {
  Napi::TypeError::New(env, what).ThrowAsJavaScriptException();
  return false;
}
bool Dbl(const Napi::CallbackInfo& info, size_t i, double* out) {
  if (info.Length() <= i || !info[i].IsNumber()) return Fail(info.Env(), "qshm native: expected a number argument");
  *out = info[i].As<Napi::Number>().DoubleValue();
  return true;
}
bool Int(const Napi::CallbackInfo& info, size_t i, int64_t* out) {
  double d = 0;
  if (!Dbl(info, i, &d)) return false;
  if (!(d >= -9007199254740991.0 && d <= 9007199254740991.0) || std::floor(d) != d)
    return Fail(info.Env(), "qshm native: expected a whole number");
  *out = static_cast<int64_t>(d);
  return true;
}
bool U32(const Napi::CallbackInfo& info, size_t i, uint32_t* out) {
  int64_t v = 0;
  if (!Int(info, i, &v)) return false;
  if (v < 0 || v > 0xffffffffLL) return Fail(info.Env(), "qshm native: expected a 32-bit unsigned number");
  *out = static_cast<uint32_t>(v);
  return true;
}
// A UTF-16 name or path; empty stays empty (callers pass nullptr for "no name").
bool WStr(const Napi::CallbackInfo& info, size_t i, std::wstring* out) {
  if (info.Length() <= i || !info[i].IsString()) return Fail(info.Env(), "qshm native: expected a string argument");
  std::u16string s = info[i].As<Napi::String>().Utf16Value();
  if (s.find(u'\0') != std::u16string::npos) return Fail(info.Env(), "qshm native: string contains a NUL character");
  out->assign(s.begin(), s.end());
  return true;
}
// A handle this environment owns (0 is accepted only where `allowNull`).
bool Hnd(const Napi::CallbackInfo& info, size_t i, win::Handle* out, bool allowNull = false) {
  int64_t v = 0;
  if (!Int(info, i, &v)) return false;
  if (v == 0 && allowNull) {
    *out = nullptr;
    return true;
  }
  if (v <= 0 || !State(info.Env())->handles.count(v)) {
    *out = nullptr;  // not ours: the caller reports ERROR_INVALID_HANDLE
    return true;
  }
  *out = reinterpret_cast<win::Handle>(static_cast<uintptr_t>(v));
  return true;
}
Napi::Value N(Napi::Env env, double v) { return Napi::Number::New(env, v); }
Napi::Value Track(Napi::Env env, int64_t h) {
  if (h > 0) State(env)->handles.insert(h);
  return N(env, static_cast<double>(h));
}
// {handle, lastError} for the Create* calls whose success may carry ERROR_ALREADY_EXISTS.
Napi::Value Created(Napi::Env env, int64_t h, uint32_t last) {
  Track(env, h);
  Napi::Object o = Napi::Object::New(env);
  o.Set("handle", N(env, static_cast<double>(h)));
  o.Set("lastError", N(env, last));
  return o;
}
const wchar_t* NameOrNull(const std::wstring& s) { return s.empty() ? nullptr : s.c_str(); }

const napi_type_tag kViewTag = {0x71736d7769657677ULL, 0x5a0c3e9d17b24f63ULL};

void FinalizeView(napi_env, void*, void* hint) {
  View* v = static_cast<View*>(hint);
  Release(v);
  if (v->creating) {
    v->finalized = true;
    return;
  }
  delete v;
}

View* GetView(const Napi::CallbackInfo& info, size_t i) {
  Napi::Env env = info.Env();
  if (info.Length() <= i || !info[i].IsArrayBuffer()) {
    Fail(env, "qshm native: expected a view ArrayBuffer");
    return nullptr;
  }
  bool ok = false;
  napi_check_object_type_tag(env, info[i], &kViewTag, &ok);
  if (!ok) {
    Fail(env, "qshm native: ArrayBuffer is not a qshm view");
    return nullptr;
  }
  void* p = nullptr;
  napi_unwrap(env, info[i], &p);
  return static_cast<View*>(p);
}

// ---- files ----
Napi::Value FileCreate(const Napi::CallbackInfo& info) {
  std::wstring path;
  uint32_t access = 0, share = 0, disposition = 0, flags = 0;
  if (!WStr(info, 0, &path) || !U32(info, 1, &access) || !U32(info, 2, &share) || !U32(info, 3, &disposition) ||
      !U32(info, 4, &flags))
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
  State(info.Env())->handles.erase(static_cast<int64_t>(reinterpret_cast<uintptr_t>(h)));
  return N(info.Env(), win::HandleClose(h));
}

// ---- mappings and views ----
Napi::Value MappingCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  win::Handle file = nullptr;
  uint32_t protect = 0;
  int64_t size = 0;
  std::wstring name;
  if (!Hnd(info, 0, &file, true) || !U32(info, 1, &protect) || !Int(info, 2, &size) || !WStr(info, 3, &name))
    return env.Undefined();
  int64_t given = 0;
  Int(info, 0, &given);
  if (given != 0 && !file) return Created(env, -kInvalidHandle, kInvalidHandle);
  if (size < 0) return Created(env, -kInvalidParameter, kInvalidParameter);
  uint32_t last = 0;
  int64_t h = win::MappingCreate(file, protect, static_cast<uint64_t>(size), NameOrNull(name), &last);
  return Created(env, h, last);
}
Napi::Value MappingOpen(const Napi::CallbackInfo& info) {
  uint32_t access = 0;
  std::wstring name;
  if (!U32(info, 0, &access) || !WStr(info, 1, &name)) return info.Env().Undefined();
  return Track(info.Env(), win::MappingOpen(access, name.c_str()));
}
Napi::Value ViewMap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  win::Handle mapping = nullptr;
  uint32_t access = 0;
  int64_t offset = 0, size = 0;
  if (!Hnd(info, 0, &mapping) || !U32(info, 1, &access) || !Int(info, 2, &offset) || !Int(info, 3, &size))
    return env.Undefined();
  if (!mapping) return N(env, -kInvalidHandle);
  if (offset < 0 || size < 0) return N(env, -kInvalidParameter);
  uint32_t err = 0;
  void* p = win::ViewMap(mapping, access, static_cast<uint64_t>(offset), static_cast<size_t>(size), &err);
  if (!p) return N(env, -static_cast<double>(err));
  if (size == 0) {  // the whole section: its length is the view's region size (page-rounded)
    size = win::ViewRegionSize(p);
    if (size <= 0) {
      win::ViewUnmap(p);
      return N(env, size < 0 ? static_cast<double>(size) : -kInvalidParameter);
    }
  }
  View* v = new View{p, static_cast<size_t>(size), true, State(env), true, false};
  napi_value ab;
  napi_status s = napi_create_external_arraybuffer(env, p, v->len, FinalizeView, v, &ab);
  v->creating = false;
  if (s != napi_ok) {
    Release(v);
    delete v;
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (pending) {
      napi_value ignored;
      napi_get_and_clear_last_exception(env, &ignored);
    }
    return N(env, -kNotEnoughMemory);
  }
  napi_type_tag_object(env, ab, &kViewTag);
  v->state->views.insert(v);
  napi_wrap(env, ab, v, nullptr, nullptr, nullptr);
  return Napi::Value(env, ab);
}
Napi::Value ViewUnmap(const Napi::CallbackInfo& info) {
  View* v = GetView(info, 0);
  if (!v) return info.Env().Undefined();
  if (!v->live) return N(info.Env(), -kInvalidParameter);
  int r = Release(v);
  // Detach the ArrayBuffer so no JavaScript view can touch the unmapped memory.
  napi_detach_arraybuffer(info.Env(), info[0]);
  return N(info.Env(), r);
}
Napi::Value ViewLive(const Napi::CallbackInfo& info) {
  View* v = GetView(info, 0);
  if (!v) return info.Env().Undefined();
  return Napi::Boolean::New(info.Env(), v->live);
}
Napi::Value ViewRegionSize(const Napi::CallbackInfo& info) {
  View* v = GetView(info, 0);
  if (!v) return info.Env().Undefined();
  if (!v->live) return N(info.Env(), -kInvalidParameter);
  return N(info.Env(), static_cast<double>(win::ViewRegionSize(v->addr)));
}

// ---- mutexes and semaphores ----
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
  if (!WStr(info, 0, &name) || !Int(info, 1, &initial) || !Int(info, 2, &maximum)) return info.Env().Undefined();
  if (initial < 0 || maximum < 1 || initial > maximum || maximum > 0x7fffffff)
    return Created(info.Env(), -kInvalidParameter, kInvalidParameter);
  uint32_t last = 0;
  int64_t h = win::SemaphoreCreate(NameOrNull(name), static_cast<int32_t>(initial), static_cast<int32_t>(maximum), &last);
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

// Waits on a pool thread. The job waits on its own duplicate of the handle, so closing the
// caller's handle meanwhile is safe. Never use it on a mutex: ownership would go to the pool
// thread. Written against the raw Node-API (see the Linux binding for why).
struct WaitJob {
  napi_async_work work = nullptr;
  napi_deferred deferred = nullptr;
  win::Handle handle = nullptr;
  double timeout = 0;
  double result = 0;
};
void WaitExecute(napi_env, void* data) {
  WaitJob* j = static_cast<WaitJob*>(data);
  j->result = static_cast<double>(win::HandleWait(j->handle, j->timeout));
}
void WaitComplete(napi_env env, napi_status status, void* data) {
  WaitJob* j = static_cast<WaitJob*>(data);
  napi_value v;
  if (status == napi_ok && napi_create_double(env, j->result, &v) == napi_ok) napi_resolve_deferred(env, j->deferred, v);
  win::HandleClose(j->handle);
  napi_delete_async_work(env, j->work);
  delete j;
}
Napi::Value HandleWaitAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  win::Handle h = nullptr;
  double timeout = 0;
  if (!Hnd(info, 0, &h) || !Dbl(info, 1, &timeout)) return env.Undefined();
  napi_value promise;
  napi_deferred deferred;
  if (napi_create_promise(env, &deferred, &promise) != napi_ok) return env.Undefined();
  int64_t dup = h ? win::HandleDuplicate(h) : -kInvalidHandle;
  if (dup <= 0) {
    napi_resolve_deferred(env, deferred, N(env, static_cast<double>(dup)));
    return Napi::Value(env, promise);
  }
  // Bounded so that a worker or process shutdown never waits long on the pool.
  if (!(timeout >= 0) || timeout > 1000) timeout = 1000;
  WaitJob* j = new WaitJob{nullptr, deferred, reinterpret_cast<win::Handle>(static_cast<uintptr_t>(dup)), timeout, 0};
  napi_value name;
  napi_create_string_utf8(env, "qshm.handleWait", NAPI_AUTO_LENGTH, &name);
  if (napi_create_async_work(env, nullptr, name, WaitExecute, WaitComplete, j, &j->work) != napi_ok ||
      napi_queue_async_work(env, j->work) != napi_ok) {
    if (j->work) napi_delete_async_work(env, j->work);
    win::HandleClose(j->handle);
    delete j;
    napi_resolve_deferred(env, deferred, N(env, -kNotEnoughMemory));
  }
  return Napi::Value(env, promise);
}

Napi::Object Constants(Napi::Env env) {
  Napi::Object c = Napi::Object::New(env);
  auto set = [&](const char* k, double v) { c.Set(k, N(env, v)); };
  set("pageSize", win::PageSize());
  set("allocationGranularity", win::AllocationGranularity());
#define K(name) set(#name, static_cast<double>(name))
  K(GENERIC_READ); K(GENERIC_WRITE); K(FILE_SHARE_READ); K(FILE_SHARE_WRITE); K(FILE_SHARE_DELETE);
  K(CREATE_NEW); K(OPEN_EXISTING); K(FILE_ATTRIBUTE_TEMPORARY); K(FILE_FLAG_DELETE_ON_CLOSE);
  K(PAGE_READONLY); K(PAGE_READWRITE); K(FILE_MAP_READ); K(FILE_MAP_WRITE); K(FILE_MAP_ALL_ACCESS);
  K(WAIT_OBJECT_0); K(WAIT_ABANDONED); K(WAIT_TIMEOUT);
#undef K
  return c;
}

// The Win32 error codes qshm names (lib/errors.ts maps them to Qt's errors), from <winerror.h>.
Napi::Object ErrorCodes(Napi::Env env) {
  Napi::Object c = Napi::Object::New(env);
#define E(name) c.Set(#name, N(env, static_cast<double>(name)))
  E(ERROR_FILE_NOT_FOUND); E(ERROR_PATH_NOT_FOUND); E(ERROR_TOO_MANY_OPEN_FILES); E(ERROR_ACCESS_DENIED);
  E(ERROR_INVALID_HANDLE); E(ERROR_NOT_ENOUGH_MEMORY); E(ERROR_OUTOFMEMORY); E(ERROR_SHARING_VIOLATION);
  E(ERROR_HANDLE_DISK_FULL); E(ERROR_NOT_SUPPORTED); E(ERROR_FILE_EXISTS); E(ERROR_INVALID_PARAMETER);
  E(ERROR_DISK_FULL); E(ERROR_INVALID_NAME); E(ERROR_BAD_PATHNAME); E(ERROR_ALREADY_EXISTS);
  E(ERROR_FILENAME_EXCED_RANGE); E(ERROR_TOO_MANY_POSTS); E(ERROR_DELETE_PENDING); E(ERROR_NOACCESS);
  E(ERROR_USER_MAPPED_FILE); E(ERROR_NO_SYSTEM_RESOURCES); E(ERROR_COMMITMENT_LIMIT); E(ERROR_INVALID_ADDRESS);
  E(ERROR_NOT_OWNER); E(ERROR_INVALID_FUNCTION); E(ERROR_DIRECTORY); E(ERROR_CALL_NOT_IMPLEMENTED);
#undef E
  return c;
}

std::string JsName(const char* n) {
  std::string s(n);
  s[0] = static_cast<char>(s[0] - 'A' + 'a');
  return s;
}

}  // namespace

// Registers the Windows facility on `exports` and owns its per-environment state.
Napi::Object InitWin32(Napi::Env env, Napi::Object exports) {
  WinState* st = new WinState();
  napi_set_instance_data(env, st, [](napi_env, void* d, void*) { delete static_cast<WinState*>(d); }, nullptr);
  napi_add_env_cleanup_hook(env, Cleanup, st);
#define F(name) exports.Set(JsName(#name), Napi::Function::New(env, name, #name))
  F(FileCreate); F(FileSetSize); F(FileAllocate); F(FileSize); F(HandleClose);
  F(MappingCreate); F(MappingOpen); F(ViewMap); F(ViewUnmap); F(ViewLive); F(ViewRegionSize);
  F(MutexCreate); F(MutexOpen); F(MutexRelease);
  F(SemaphoreCreate); F(SemaphoreOpen); F(SemaphoreRelease);
  F(HandleWait); F(HandleWaitAsync);
#undef F
  exports.Set("constants", Constants(env));
  exports.Set("errors", ErrorCodes(env));
  return exports;
}

}  // namespace qshm
