// SPDX-License-Identifier: MIT
// The addon's entry point and what every facility shares (napi_util.h): argument checks, the
// per-environment state and its cleanup hook, mappings handed out as ArrayBuffers, the async
// job helper. The Node-API bindings themselves live next to their syscall files
// (file_binding.cc next to posix_file.cc, ...), chosen by binding.gyp. Every call returns a
// non-negative result or -errno (never throws for an OS error); TypeScript turns -errno into a
// SystemError-shaped error with code, errno and syscall.
//
// No OS header here (only the C++ library's <cerrno>): this file compiles unchanged for
// Windows, where the facilities are the win32_* files.
#include <napi.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "napi_util.h"

namespace qshm {

// ---- arguments ----
bool Fail(Napi::Env env, const char* what) {
  Napi::TypeError::New(env, what).ThrowAsJavaScriptException();
  return false;
}

bool Int(const Napi::CallbackInfo& info, size_t i, int64_t* out) {
  if (info.Length() <= i || !info[i].IsNumber()) {
    return Fail(info.Env(), "qshm native: expected a number argument");
  }
  double d = info[i].As<Napi::Number>().DoubleValue();
  // Rejects NaN and infinities too; the conversion below is then always defined.
  if (!(d >= -9007199254740991.0 && d <= 9007199254740991.0)) {
    return Fail(info.Env(), "qshm native: number out of range");
  }
  *out = static_cast<int64_t>(d);
  return true;
}

bool Fd(const Napi::CallbackInfo& info, size_t i, int64_t* out) {
  if (!Int(info, i, out)) return false;
  if (*out < 0 || *out > 2147483647 ||
      static_cast<double>(*out) != info[i].As<Napi::Number>().DoubleValue()) {
    return Fail(info.Env(), "qshm native: expected a descriptor (a whole number from 0 to 2^31-1)");
  }
  return true;
}

bool Dbl(const Napi::CallbackInfo& info, size_t i, double* out) {
  if (info.Length() <= i || !info[i].IsNumber()) {
    return Fail(info.Env(), "qshm native: expected a number argument");
  }
  *out = info[i].As<Napi::Number>().DoubleValue();
  return true;
}

double* Float64Out(const Napi::CallbackInfo& info, size_t i, size_t n) {
  if (info.Length() <= i || !info[i].IsTypedArray() ||
      info[i].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array ||
      info[i].As<Napi::TypedArray>().ElementLength() < n) {
    Fail(info.Env(), "qshm native: expected a Float64Array for the results");
    return nullptr;
  }
  return info[i].As<Napi::Float64Array>().Data();
}

bool Str(const Napi::CallbackInfo& info, size_t i, std::string* out) {
  if (info.Length() <= i || !info[i].IsString()) {
    return Fail(info.Env(), "qshm native: expected a string argument");
  }
  *out = info[i].As<Napi::String>().Utf8Value();
  if (out->find('\0') != std::string::npos) {
    return Fail(info.Env(), "qshm native: string contains a NUL byte");
  }
  return true;
}

void Export(Napi::Env env, Napi::Object exports, const char* js_name, Napi::Function::Callback fn) {
  exports.Set(js_name, Napi::Function::New(env, fn, js_name));
}

namespace {

struct AddonState;

// One piece of memory from one map call (mmap, shmat, MapViewOfFile), released as a whole when
// the last of its shares is released: one per ArrayBuffer view, and one for a region number.
struct Region {
  void* addr;
  size_t len;
  UnmapFn unmap;
  int views;
};

int ReleaseShare(Region* r) {
  if (--r->views > 0) return 0;
  int result = r->unmap(r->addr, r->len);
  delete r;
  return result;
}

// One view of a region handed to JavaScript as exactly one ArrayBuffer.
struct Mapping {
  void* addr;
  size_t len;
  Region* region;
  bool live;
  AddonState* state;
  bool creating;   // inside napi_create_external_arraybuffer
  bool finalized;  // the finalizer ran while creating
};

// Per-environment (main thread or worker) ownership, released when the environment ends.
// Live views are found by their address: an ArrayBuffer whose data pointer and length match a
// live view is that view (no other memory can have that address while it is mapped).
struct AddonState {
  std::unordered_map<void*, Mapping*> maps;
  // Regions JavaScript holds by number (MakeRegion); each holds one of its region's shares.
  std::unordered_map<int32_t, Region*> regions;
  int32_t last_region = 0;
  std::map<const ResourceKind*, std::set<intptr_t>> owned;
  bool closed = false;  // the environment is being torn down: own nothing new
  // Whether this runtime makes external ArrayBuffers (Electron's V8 sandbox does not): probed
  // once, so a region number is refused up front, as a mapping handed out at once would be.
  bool external_buffers = true;
};

// Never throws: usable in an async completion while the environment is torn down.
AddonState* State(napi_env env) {
  void* data = nullptr;
  if (napi_get_instance_data(env, &data) != napi_ok) return nullptr;
  return static_cast<AddonState*>(data);
}

int Release(Mapping* m) {
  if (!m->live) return 0;
  m->live = false;
  if (m->state) m->state->maps.erase(m->addr);
  m->state = nullptr;
  Region* r = m->region;
  m->region = nullptr;
  return ReleaseShare(r);
}

// Runs when the environment (the main thread at exit, or a worker thread) ends: releases
// every mapping and every resource it still owns (its OFD locks drop with the descriptors).
// The struct itself is freed by the instance-data finalizer, which runs after everything
// else, because async work may still complete during teardown.
void Cleanup(void* data) {
  AddonState* st = static_cast<AddonState*>(data);
  std::vector<Mapping*> maps;
  for (const auto& e : st->maps) maps.push_back(e.second);
  for (Mapping* m : maps) Release(m);
  for (const auto& e : st->regions) ReleaseShare(e.second);
  st->regions.clear();
  for (auto& kind : st->owned) {
    for (intptr_t h : kind.second) kind.first->close(h);
  }
  st->owned.clear();
  st->closed = true;
}

void FinalizeMapping(napi_env, void*, void* hint) {
  Mapping* m = static_cast<Mapping*>(hint);
  Release(m);
  if (m->creating) {
    m->finalized = true;  // MakeView still owns the struct
    return;
  }
  delete m;
}

// The view behind argument i. Null after a TypeError, or with *gone set when the ArrayBuffer
// was detached (unmapped).
Mapping* GetMapping(const Napi::CallbackInfo& info, size_t i, bool* gone) {
  Napi::Env env = info.Env();
  *gone = false;
  void* data = nullptr;
  size_t len = 0;
  if (info.Length() <= i || !info[i].IsArrayBuffer() ||
      napi_get_arraybuffer_info(env, info[i], &data, &len) != napi_ok) {
    Fail(env, "qshm native: expected a mapping ArrayBuffer");
    return nullptr;
  }
  AddonState* st = State(env);
  if (st && data) {
    auto it = st->maps.find(data);
    if (it != st->maps.end() && it->second->len == len) return it->second;
  }
  bool detached = false;
  if (!data && napi_is_detached_arraybuffer(env, info[i], &detached) == napi_ok && detached) {
    *gone = true;  // detached by unmap
    return nullptr;
  }
  Fail(env, "qshm native: ArrayBuffer is not a qshm mapping");
  return nullptr;
}

// Detaches the ArrayBuffer (every view of it reads as length 0) and releases the memory.
Napi::Value Unmap(const Napi::CallbackInfo& info) {
  bool gone;
  Mapping* m = GetMapping(info, 0, &gone);
  if (!m) return gone ? N(info.Env(), 0) : info.Env().Undefined();
  int r = Release(m);
  napi_detach_arraybuffer(info.Env(), info[0]);
  return N(info.Env(), r);
}

Napi::Value StatusError(Napi::Env env, napi_status s) {
  return N(env, s == napi_no_external_buffers_allowed ? -ENOTSUP : -EFBIG);
}

// The region numbered by argument 0 (a whole number), or null: a TypeError is then pending for
// anything but a number, or *id is set and the number names no region.
Region* FindRegion(const Napi::CallbackInfo& info, AddonState* st, int32_t* id) {
  double d;
  if (!Dbl(info, 0, &d)) return nullptr;
  if (!(d >= 0 && d <= INT32_MAX) || d != static_cast<int32_t>(d)) {
    Fail(info.Env(), "qshm native: expected a region number");
    return nullptr;
  }
  *id = static_cast<int32_t>(d);
  if (!st) return nullptr;
  auto it = st->regions.find(*id);
  return it == st->regions.end() ? nullptr : it->second;
}

napi_status MakeView(napi_env env, Region* r, size_t off, size_t len, napi_value* out,
                     Mapping** made = nullptr);

// region, offset, length: an ArrayBuffer view of that part of a region made by MakeRegion
// (one more share of it), or -EBADF (no such region), -EINVAL (outside it), -EEXIST (a live
// view already starts there) or MakeMapping's -errno.
Napi::Value RegionView(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  AddonState* st = State(env);
  int32_t id;
  Region* r = FindRegion(info, st, &id);
  if (env.IsExceptionPending()) return env.Undefined();
  int64_t off, len;
  if (!Int(info, 1, &off) || !Int(info, 2, &len)) return env.Undefined();
  if (!r) return N(env, -EBADF);
  if (off < 0 || len <= 0 || static_cast<uint64_t>(off) + static_cast<uint64_t>(len) > r->len) {
    return N(env, -EINVAL);
  }
  // Views are found by their address: one live view per address.
  if (st && st->maps.count(static_cast<char*>(r->addr) + off)) return N(env, -EEXIST);
  r->views++;
  napi_value ab;
  napi_status s = MakeView(env, r, static_cast<size_t>(off), static_cast<size_t>(len), &ab);
  return s == napi_ok ? Napi::Value(env, ab) : StatusError(env, s);
}

// region: gives up the number (views already made stay usable until each is unmapped); the
// memory goes with the last share. 0, the unmap call's -errno, or -EBADF (no such region).
Napi::Value RegionRelease(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  AddonState* st = State(env);
  int32_t id;
  Region* r = FindRegion(info, st, &id);
  if (env.IsExceptionPending()) return env.Undefined();
  if (!r) return N(env, -EBADF);
  st->regions.erase(id);
  return N(env, ReleaseShare(r));
}

Napi::Value MappingLive(const Napi::CallbackInfo& info) {
  bool gone;
  Mapping* m = GetMapping(info, 0, &gone);
  if (!m && !gone) return info.Env().Undefined();
  return Napi::Boolean::New(info.Env(), m != nullptr);
}

// Wraps one view of region r in an external ArrayBuffer that holds one of the region's views.
// On failure the view is released and the status returned.
napi_status MakeView(napi_env env, Region* r, size_t off, size_t len, napi_value* out,
                     Mapping** made) {
  void* addr = static_cast<char*>(r->addr) + off;
  Mapping* m = new Mapping{addr, len, r, true, State(env), true, false};
  napi_status s = napi_create_external_arraybuffer(env, addr, len, FinalizeMapping, m, out);
  m->creating = false;
  if (s != napi_ok) {
    // Node may or may not have run the finalizer already; Release is idempotent.
    Release(m);
    delete m;
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (pending) {
      napi_value ignored;
      napi_get_and_clear_last_exception(env, &ignored);
    }
    return s;
  }
  if (m->state) m->state->maps[addr] = m;
  if (made) *made = m;
  return napi_ok;
}

// ---- async jobs ----
struct QueuedJob {
  AsyncJob* job;
  napi_async_work work = nullptr;
  napi_deferred deferred = nullptr;
  napi_ref keep_alive = nullptr;
};

void JobExecute(napi_env, void* data) { static_cast<QueuedJob*>(data)->job->Execute(); }

void JobComplete(napi_env env, napi_status status, void* data) {
  QueuedJob* q = static_cast<QueuedJob*>(data);
  bool delivered = false;
  if (status == napi_ok) {
    napi_value v = q->job->Result(env);
    if (v && napi_resolve_deferred(env, q->deferred, v) == napi_ok) {
      delivered = q->job->Delivered(env);
    }
  }
  if (!delivered) q->job->Undelivered();
  if (q->keep_alive) napi_delete_reference(env, q->keep_alive);
  napi_delete_async_work(env, q->work);
  delete q->job;
  delete q;
}

// ---- facilities ----
std::vector<std::pair<int, RegisterFn>>& Facilities() {
  static std::vector<std::pair<int, RegisterFn>> list;
  return list;
}

Napi::Object CapabilitiesObject(Napi::Env env, const Capabilities& c) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("file", c.file);
  o.Set("ofdLocks", c.ofdLocks);
  o.Set("futex", c.futex);
  o.Set("memfd", c.memfd);
  o.Set("sysv", c.sysv);
  o.Set("posixShm", c.posixShm);
  o.Set("unixSocket", c.unixSocket);
  o.Set("win32", c.win32);
  o.Freeze();
  return o;
}

}  // namespace

// ---- ownership ----
bool Own(napi_env env, const ResourceKind& kind, intptr_t handle) {
  AddonState* st = State(env);
  if (!st || st->closed) return false;
  st->owned[&kind].insert(handle);
  return true;
}

bool Owns(napi_env env, const ResourceKind& kind, intptr_t handle) {
  AddonState* st = State(env);
  if (!st) return false;
  auto it = st->owned.find(&kind);
  return it != st->owned.end() && it->second.count(handle) > 0;
}

bool Disown(napi_env env, const ResourceKind& kind, intptr_t handle) {
  AddonState* st = State(env);
  if (!st) return false;
  auto it = st->owned.find(&kind);
  return it != st->owned.end() && it->second.erase(handle) > 0;
}

// ---- mappings ----
Napi::Value MakeMapping(Napi::Env env, void* addr, size_t len, UnmapFn unmap) {
  Region* r = new Region{addr, len, unmap, 1};
  napi_value ab;
  napi_status s = MakeView(env, r, 0, len, &ab);
  return s == napi_ok ? Napi::Value(env, ab) : StatusError(env, s);
}

Napi::Value MakeRegion(Napi::Env env, void* addr, size_t len, UnmapFn unmap) {
  AddonState* st = State(env);
  if (!st || st->closed || !st->external_buffers) {
    unmap(addr, len);
    return N(env, st && !st->closed ? -ENOTSUP : -ECANCELED);
  }
  int32_t id = st->last_region;
  do {
    id = id == INT32_MAX ? 1 : id + 1;
  } while (st->regions.count(id));
  st->last_region = id;
  st->regions[id] = new Region{addr, len, unmap, 1};
  return N(env, id);
}

uint32_t* MappingWord(const Napi::CallbackInfo& info, int* err) {
  bool gone;
  Mapping* m = GetMapping(info, 0, &gone);
  if (!m) {
    if (gone) *err = -EBADF;
    return nullptr;
  }
  int64_t off = 0;
  if (!Int(info, 1, &off)) return nullptr;
  if (off < 0 || off % 4 != 0 || static_cast<size_t>(off) + 4 > m->len) {
    *err = -EINVAL;
    return nullptr;
  }
  return reinterpret_cast<uint32_t*>(static_cast<char*>(m->addr) + off);
}

// ---- async jobs ----
Napi::Value QueueJob(Napi::Env env, AsyncJob* job, const char* name, napi_value keep_alive) {
  QueuedJob* q = new QueuedJob{job};
  napi_value promise;
  if (napi_create_promise(env, &q->deferred, &promise) != napi_ok) {
    delete job;
    delete q;
    return env.Undefined();
  }
  napi_value resource_name;
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &resource_name);
  if ((keep_alive && napi_create_reference(env, keep_alive, 1, &q->keep_alive) != napi_ok) ||
      napi_create_async_work(env, nullptr, resource_name, JobExecute, JobComplete, q, &q->work) !=
          napi_ok ||
      napi_queue_async_work(env, q->work) != napi_ok) {
    if (q->work) napi_delete_async_work(env, q->work);
    if (q->keep_alive) napi_delete_reference(env, q->keep_alive);
    napi_resolve_deferred(env, q->deferred, N(env, -EAGAIN));
    delete job;
    delete q;
  }
  return Napi::Value(env, promise);
}

Napi::Value ResolvedPromise(Napi::Env env, double v) {
  napi_value promise;
  napi_deferred deferred;
  if (napi_create_promise(env, &deferred, &promise) != napi_ok) return env.Undefined();
  napi_resolve_deferred(env, deferred, N(env, v));
  return Napi::Value(env, promise);
}

// ---- facilities ----
Facility::Facility(int rank, RegisterFn fn) { Facilities().emplace_back(rank, fn); }

namespace {
// Mappings are made by several facilities; these two work on any of them (rank 1: right after
// the file facility's mmap, the order the exports always had).
void RegisterMappings(Napi::Env env, Napi::Object exports, Napi::Object, Capabilities*) {
  Export(env, exports, "unmap", Unmap);
  Export(env, exports, "mappingLive", MappingLive);
  Export(env, exports, "regionView", RegionView);
  Export(env, exports, "regionRelease", RegionRelease);
}
const Facility kMappings(1, RegisterMappings);
}  // namespace

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  AddonState* st = new AddonState();
  napi_set_instance_data(
      env, st, [](napi_env, void* d, void*) { delete static_cast<AddonState*>(d); }, nullptr);
  napi_add_env_cleanup_hook(env, Cleanup, st);
  static char probe;
  napi_value ab;
  if (napi_create_external_arraybuffer(env, &probe, 1, nullptr, nullptr, &ab) == napi_ok) {
    napi_detach_arraybuffer(env, ab);
  } else {
    st->external_buffers = false;
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (pending) napi_get_and_clear_last_exception(env, &ab);
  }
  Napi::Object constants = Napi::Object::New(env);
  Capabilities caps;
  std::vector<std::pair<int, RegisterFn>> list = Facilities();
  std::sort(list.begin(), list.end());
  // The POSIX facilities are file_binding.cc (rank 0), futex_binding.cc (2), memfd_binding.cc
  // (3), sysv_binding.cc (4), posix_shm_binding.cc (5) and unix_socket_binding.cc (6). The
  // Windows facility will be a win32_*.cc syscall file and its binding file, added to
  // binding.gyp's OS=='win' sources with nothing changed here.
  for (const auto& f : list) f.second(env, exports, constants, &caps);
  exports.Set("constants", constants);
  exports.Set("capabilities", CapabilitiesObject(env, caps));
  return exports;
}

}  // namespace qshm

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) {
  return qshm::Init(env, exports);
}
NODE_API_MODULE(NODE_GYP_MODULE_NAME, InitAddon)
