// SPDX-License-Identifier: MIT
// The only Node-API file of qshm: unpacks arguments, calls the syscall layer in sys.h and
// hands results back. Every call returns a non-negative result or -errno (never throws for
// an OS error); TypeScript turns -errno into a SystemError-shaped error with code, errno and
// syscall. Wrong argument types throw TypeError here too, so a bypass of the TypeScript
// checks cannot crash the process.
#include <errno.h>
#include <fcntl.h>
#include <napi.h>
#include <semaphore.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/sem.h>
#include <sys/shm.h>

#include <set>
#include <string>

#include "sys.h"

namespace qshm {
namespace {

struct AddonState;

// One mapping handed to JavaScript as exactly one ArrayBuffer.
struct Mapping {
  void* addr;
  size_t len;
  bool sysv;  // shmat() memory, released with shmdt()
  bool live;
  AddonState* state;
  bool creating;   // inside napi_create_external_arraybuffer
  bool finalized;  // the finalizer ran while creating
};

// Per-environment (main thread or worker) ownership, released when the environment ends.
struct AddonState {
  std::set<int> fds;
  std::set<Mapping*> maps;
  std::set<void*> sems;
  bool closed = false;  // the environment is being torn down: own nothing new
};

AddonState* State(Napi::Env env) { return env.GetInstanceData<AddonState>(); }

int Release(Mapping* m) {
  if (!m->live) return 0;
  m->live = false;
  if (m->state) m->state->maps.erase(m);
  m->state = nullptr;
  return m->sysv ? sys::Shmdt(m->addr) : sys::Munmap(m->addr, m->len);
}

// Runs when the environment (the main thread at exit, or a worker thread) ends: releases
// every mapping, descriptor and semaphore it still owns. That is what lets others see a
// terminated worker's attachments as gone (its OFD locks drop with the descriptors). The
// struct itself is freed by the instance-data finalizer, which runs after everything else,
// because async work may still complete during teardown.
void Cleanup(void* data) {
  AddonState* st = static_cast<AddonState*>(data);
  std::set<Mapping*> maps = st->maps;
  for (Mapping* m : maps) Release(m);
  for (int fd : st->fds) sys::Close(fd);
  for (void* s : st->sems) sys::SemClose(s);
  st->fds.clear();
  st->sems.clear();
  st->closed = true;
}

// ---- argument helpers (TypeError on misuse) ----
bool Fail(Napi::Env env, const char* what) {
  Napi::TypeError::New(env, what).ThrowAsJavaScriptException();
  return false;
}
bool Int(const Napi::CallbackInfo& info, size_t i, int64_t* out) {
  if (info.Length() <= i || !info[i].IsNumber()) return Fail(info.Env(), "qshm native: expected a number argument");
  double d = info[i].As<Napi::Number>().DoubleValue();
  // Rejects NaN and infinities too; the conversion below is then always defined.
  if (!(d >= -9007199254740991.0 && d <= 9007199254740991.0)) return Fail(info.Env(), "qshm native: number out of range");
  *out = static_cast<int64_t>(d);
  return true;
}
// A descriptor: a whole number from 0 to INT_MAX (never silently truncated).
bool Fd(const Napi::CallbackInfo& info, size_t i, int64_t* out) {
  if (!Int(info, i, out)) return false;
  if (*out < 0 || *out > 2147483647 || static_cast<double>(*out) != info[i].As<Napi::Number>().DoubleValue())
    return Fail(info.Env(), "qshm native: expected a descriptor (a whole number from 0 to 2^31-1)");
  return true;
}
bool Dbl(const Napi::CallbackInfo& info, size_t i, double* out) {
  if (info.Length() <= i || !info[i].IsNumber()) return Fail(info.Env(), "qshm native: expected a number argument");
  *out = info[i].As<Napi::Number>().DoubleValue();
  return true;
}
bool Str(const Napi::CallbackInfo& info, size_t i, std::string* out) {
  if (info.Length() <= i || !info[i].IsString()) return Fail(info.Env(), "qshm native: expected a string argument");
  *out = info[i].As<Napi::String>().Utf8Value();
  if (out->find('\0') != std::string::npos) return Fail(info.Env(), "qshm native: string contains a NUL byte");
  return true;
}
Napi::Value N(Napi::Env env, double v) { return Napi::Number::New(env, v); }
Napi::Value Track(Napi::Env env, int fd) {
  if (fd >= 0) State(env)->fds.insert(fd);
  return N(env, fd);
}

const napi_type_tag kMapTag = {0x71736d6d61707070ULL, 0x1e5c0d3b9a0f4c21ULL};
const napi_type_tag kSemTag = {0x71736d73656d6161ULL, 0x6b2f91d04a3c7e55ULL};

void FinalizeMapping(napi_env, void*, void* hint) {
  Mapping* m = static_cast<Mapping*>(hint);
  Release(m);
  if (m->creating) {
    m->finalized = true;  // MakeMapping still owns the struct
    return;
  }
  delete m;
}

// Wraps addr in an external ArrayBuffer that owns the mapping. On failure the memory is
// released and -errno returned: -EFBIG when it is larger than this Node's largest
// ArrayBuffer, -ENOTSUP when external buffers are not allowed (Electron's V8 sandbox).
Napi::Value MakeMapping(Napi::Env env, void* addr, size_t len, bool sysv) {
  Mapping* m = new Mapping{addr, len, sysv, true, State(env), true, false};
  napi_value ab;
  napi_status s = napi_create_external_arraybuffer(env, addr, len, FinalizeMapping, m, &ab);
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
    return N(env, s == napi_no_external_buffers_allowed ? -ENOTSUP : -EFBIG);
  }
  napi_type_tag_object(env, ab, &kMapTag);
  m->state->maps.insert(m);
  // Remember the Mapping on the buffer itself so munmap can find it.
  napi_wrap(env, ab, m, nullptr, nullptr, nullptr);
  return Napi::Value(env, ab);
}

Mapping* GetMapping(const Napi::CallbackInfo& info, size_t i) {
  Napi::Env env = info.Env();
  if (info.Length() <= i || !info[i].IsArrayBuffer()) {
    Fail(env, "qshm native: expected a mapping ArrayBuffer");
    return nullptr;
  }
  bool ok = false;
  napi_check_object_type_tag(env, info[i], &kMapTag, &ok);
  if (!ok) {
    Fail(env, "qshm native: ArrayBuffer is not a qshm mapping");
    return nullptr;
  }
  void* p = nullptr;
  napi_unwrap(env, info[i], &p);
  return static_cast<Mapping*>(p);
}

// Address of a 32-bit word at byteOffset inside a live mapping, or null (-errno in *err).
uint32_t* Word(const Napi::CallbackInfo& info, int* err) {
  Mapping* m = GetMapping(info, 0);
  if (!m) return nullptr;
  int64_t off;
  if (!Int(info, 1, &off)) return nullptr;
  if (!m->live) {
    *err = -EBADF;
    return nullptr;
  }
  if (off < 0 || off % 4 != 0 || static_cast<size_t>(off) + 4 > m->len) {
    *err = -EINVAL;
    return nullptr;
  }
  return reinterpret_cast<uint32_t*>(static_cast<char*>(m->addr) + off);
}

Napi::Value StatObject(Napi::Env env, const sys::FileStat& st) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("size", st.size);
  o.Set("ino", st.ino);
  o.Set("dev", st.dev);
  o.Set("nlink", st.nlink);
  o.Set("mode", st.mode);
  o.Set("uid", st.uid);
  o.Set("gid", st.gid);
  return o;
}

// ---- files ----
Napi::Value Open(const Napi::CallbackInfo& info) {
  std::string path;
  int64_t flags, mode;
  if (!Str(info, 0, &path) || !Int(info, 1, &flags) || !Int(info, 2, &mode)) return info.Env().Undefined();
  return Track(info.Env(), sys::Open(path.c_str(), static_cast<int>(flags), static_cast<int>(mode)));
}
Napi::Value Close(const Napi::CallbackInfo& info) {
  int64_t fd;
  if (!Fd(info, 0, &fd)) return info.Env().Undefined();
  AddonState* st = State(info.Env());
  if (!st->fds.count(static_cast<int>(fd))) return N(info.Env(), -EBADF);  // not ours: never close it
  st->fds.erase(static_cast<int>(fd));
  return N(info.Env(), sys::Close(static_cast<int>(fd)));
}
Napi::Value Dup(const Napi::CallbackInfo& info) {
  int64_t fd;
  if (!Fd(info, 0, &fd)) return info.Env().Undefined();
  return Track(info.Env(), sys::Dup(static_cast<int>(fd)));
}
Napi::Value Ftruncate(const Napi::CallbackInfo& info) {
  int64_t fd, len;
  if (!Fd(info, 0, &fd) || !Int(info, 1, &len)) return info.Env().Undefined();
  return N(info.Env(), sys::Ftruncate(static_cast<int>(fd), len));
}
Napi::Value Fallocate(const Napi::CallbackInfo& info) {
  int64_t fd, off, len;
  if (!Fd(info, 0, &fd) || !Int(info, 1, &off) || !Int(info, 2, &len)) return info.Env().Undefined();
  return N(info.Env(), sys::Fallocate(static_cast<int>(fd), off, len));
}
Napi::Value Fchmod(const Napi::CallbackInfo& info) {
  int64_t fd, mode;
  if (!Fd(info, 0, &fd) || !Int(info, 1, &mode)) return info.Env().Undefined();
  return N(info.Env(), sys::Fchmod(static_cast<int>(fd), static_cast<int>(mode)));
}
Napi::Value Fstat(const Napi::CallbackInfo& info) {
  int64_t fd;
  if (!Fd(info, 0, &fd)) return info.Env().Undefined();
  sys::FileStat st;
  int r = sys::Fstat(static_cast<int>(fd), &st);
  return r < 0 ? N(info.Env(), r) : StatObject(info.Env(), st);
}
Napi::Value Lstat(const Napi::CallbackInfo& info) {
  std::string path;
  if (!Str(info, 0, &path)) return info.Env().Undefined();
  sys::FileStat st;
  int r = sys::Lstat(path.c_str(), &st);
  return r < 0 ? N(info.Env(), r) : StatObject(info.Env(), st);
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
Napi::Value OfdLock(const Napi::CallbackInfo& info) {
  int64_t fd, type, start, len;
  if (!Fd(info, 0, &fd) || !Int(info, 1, &type) || !Int(info, 2, &start) || !Int(info, 3, &len))
    return info.Env().Undefined();
  bool wait = info.Length() > 4 && info[4].ToBoolean().Value();
  return N(info.Env(), sys::OfdLock(static_cast<int>(fd), static_cast<int>(type), start, len, wait));
}
Napi::Value OfdGetLock(const Napi::CallbackInfo& info) {
  int64_t fd, type, start, len;
  if (!Fd(info, 0, &fd) || !Int(info, 1, &type) || !Int(info, 2, &start) || !Int(info, 3, &len))
    return info.Env().Undefined();
  return N(info.Env(), sys::OfdGetLock(static_cast<int>(fd), static_cast<int>(type), start, len));
}

// ---- mappings ----
Napi::Value Mmap(const Napi::CallbackInfo& info) {
  int64_t fd, len, prot, off;
  if (!Fd(info, 0, &fd) || !Int(info, 1, &len) || !Int(info, 2, &prot) || !Int(info, 3, &off))
    return info.Env().Undefined();
  if (len <= 0) return N(info.Env(), -EINVAL);
  int err = 0;
  void* p = sys::Mmap(static_cast<size_t>(len), static_cast<int>(prot), static_cast<int>(fd), off, &err);
  if (!p) return N(info.Env(), -err);
  return MakeMapping(info.Env(), p, static_cast<size_t>(len), false);
}
// Detaches the ArrayBuffer (every view of it reads as length 0) and releases the memory.
Napi::Value Unmap(const Napi::CallbackInfo& info) {
  Mapping* m = GetMapping(info, 0);
  if (!m) return info.Env().Undefined();
  if (!m->live) return N(info.Env(), 0);
  int r = Release(m);
  napi_detach_arraybuffer(info.Env(), info[0]);
  return N(info.Env(), r);
}
Napi::Value MappingLive(const Napi::CallbackInfo& info) {
  Mapping* m = GetMapping(info, 0);
  if (!m) return info.Env().Undefined();
  return Napi::Boolean::New(info.Env(), m->live);
}

// ---- futex ----
Napi::Value FutexWait(const Napi::CallbackInfo& info) {
  int err = 0;
  uint32_t* w = Word(info, &err);
  if (!w) return err ? N(info.Env(), err) : info.Env().Undefined();
  int64_t expected;
  double timeout;
  if (!Int(info, 2, &expected) || !Dbl(info, 3, &timeout)) return info.Env().Undefined();
  return N(info.Env(), sys::FutexWait(w, static_cast<uint32_t>(expected), timeout));
}
Napi::Value FutexWake(const Napi::CallbackInfo& info) {
  int err = 0;
  uint32_t* w = Word(info, &err);
  if (!w) return err ? N(info.Env(), err) : info.Env().Undefined();
  int64_t count;
  if (!Int(info, 2, &count)) return info.Env().Undefined();
  return N(info.Env(), sys::FutexWake(w, static_cast<int>(count)));
}

// Async work is written against the raw Node-API on purpose: when a worker thread ends while
// a job is pending, Node still completes the job during teardown, and then every call may
// fail. Nothing here may turn such a failure into a fatal error; results that cannot be
// delivered are dropped (a received descriptor is closed).
struct FutexJob {
  napi_async_work work = nullptr;
  napi_deferred deferred = nullptr;
  napi_ref ref = nullptr;  // keeps the mapping's ArrayBuffer alive while waiting
  uint32_t* word;
  uint32_t expected;
  double timeout;
  int result = 0;
};

void FutexExecute(napi_env, void* data) {
  FutexJob* j = static_cast<FutexJob*>(data);
  j->result = sys::FutexWait(j->word, j->expected, j->timeout);
}

void FutexComplete(napi_env env, napi_status status, void* data) {
  FutexJob* j = static_cast<FutexJob*>(data);
  napi_value v;
  if (status == napi_ok && napi_create_double(env, j->result, &v) == napi_ok) napi_resolve_deferred(env, j->deferred, v);
  if (j->ref) napi_delete_reference(env, j->ref);
  napi_delete_async_work(env, j->work);
  delete j;
}

Napi::Value FutexWaitAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int err = 0;
  uint32_t* w = Word(info, &err);
  if (!w && !err) return env.Undefined();
  int64_t expected;
  double timeout;
  if (!Int(info, 2, &expected) || !Dbl(info, 3, &timeout)) return env.Undefined();
  napi_value promise;
  napi_deferred deferred;
  if (napi_create_promise(env, &deferred, &promise) != napi_ok) return env.Undefined();
  if (!w) {
    napi_resolve_deferred(env, deferred, N(env, err));
    return Napi::Value(env, promise);
  }
  // Bounded so that a worker or process shutdown never waits long on the pool.
  if (!(timeout >= 0) || timeout > 1000) timeout = 1000;
  FutexJob* j = new FutexJob{nullptr, deferred, nullptr, w, static_cast<uint32_t>(expected), timeout, 0};
  napi_value name;
  napi_create_string_utf8(env, "qshm.futexWait", NAPI_AUTO_LENGTH, &name);
  if (napi_create_reference(env, info[0], 1, &j->ref) != napi_ok ||
      napi_create_async_work(env, nullptr, name, FutexExecute, FutexComplete, j, &j->work) != napi_ok ||
      napi_queue_async_work(env, j->work) != napi_ok) {
    if (j->work) napi_delete_async_work(env, j->work);
    if (j->ref) napi_delete_reference(env, j->ref);
    delete j;
    napi_resolve_deferred(env, deferred, N(env, -EAGAIN));
  }
  return Napi::Value(env, promise);
}

// ---- memfd ----
Napi::Value MemfdCreate(const Napi::CallbackInfo& info) {
  std::string name;
  int64_t flags;
  if (!Str(info, 0, &name) || !Int(info, 1, &flags)) return info.Env().Undefined();
  return Track(info.Env(), sys::MemfdCreate(name.c_str(), static_cast<unsigned>(flags)));
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

// ---- System V ----
Napi::Value Ftok(const Napi::CallbackInfo& info) {
  std::string path;
  int64_t proj;
  if (!Str(info, 0, &path) || !Int(info, 1, &proj)) return info.Env().Undefined();
  int32_t key = 0;
  int r = sys::FtokOut(path.c_str(), static_cast<int>(proj), &key);
  return N(info.Env(), r < 0 ? r : static_cast<double>(static_cast<uint32_t>(key)));
}
Napi::Value Shmget(const Napi::CallbackInfo& info) {
  int64_t key, size, flags;
  if (!Int(info, 0, &key) || !Int(info, 1, &size) || !Int(info, 2, &flags)) return info.Env().Undefined();
  if (size < 0) return N(info.Env(), -EINVAL);
  return N(info.Env(), sys::Shmget(static_cast<int32_t>(static_cast<uint32_t>(key)), static_cast<size_t>(size), static_cast<int>(flags)));
}
Napi::Value Shmat(const Napi::CallbackInfo& info) {
  int64_t id, flags, size;
  if (!Int(info, 0, &id) || !Int(info, 1, &flags) || !Int(info, 2, &size)) return info.Env().Undefined();
  if (size <= 0) return N(info.Env(), -EINVAL);
  int err = 0;
  void* p = sys::Shmat(static_cast<int>(id), static_cast<int>(flags), &err);
  if (!p) return N(info.Env(), -err);
  return MakeMapping(info.Env(), p, static_cast<size_t>(size), true);
}
Napi::Value ShmctlStat(const Napi::CallbackInfo& info) {
  int64_t id;
  if (!Int(info, 0, &id)) return info.Env().Undefined();
  sys::ShmStat st;
  int r = sys::ShmctlStat(static_cast<int>(id), &st);
  if (r < 0) return N(info.Env(), r);
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("segsz", st.segsz);
  o.Set("nattch", st.nattch);
  o.Set("mode", st.mode);
  o.Set("uid", st.uid);
  o.Set("cpid", st.cpid);
  return o;
}
Napi::Value ShmctlRmid(const Napi::CallbackInfo& info) {
  int64_t id;
  if (!Int(info, 0, &id)) return info.Env().Undefined();
  return N(info.Env(), sys::ShmctlRmid(static_cast<int>(id)));
}
Napi::Value Semget(const Napi::CallbackInfo& info) {
  int64_t key, n, flags;
  if (!Int(info, 0, &key) || !Int(info, 1, &n) || !Int(info, 2, &flags)) return info.Env().Undefined();
  return N(info.Env(), sys::Semget(static_cast<int32_t>(static_cast<uint32_t>(key)), static_cast<int>(n), static_cast<int>(flags)));
}
Napi::Value SemctlSetval(const Napi::CallbackInfo& info) {
  int64_t id, num, v;
  if (!Int(info, 0, &id) || !Int(info, 1, &num) || !Int(info, 2, &v)) return info.Env().Undefined();
  return N(info.Env(), sys::SemctlSetval(static_cast<int>(id), static_cast<int>(num), static_cast<int>(v)));
}
Napi::Value SemctlGetval(const Napi::CallbackInfo& info) {
  int64_t id, num;
  if (!Int(info, 0, &id) || !Int(info, 1, &num)) return info.Env().Undefined();
  return N(info.Env(), sys::SemctlGetval(static_cast<int>(id), static_cast<int>(num)));
}
Napi::Value SemctlRmid(const Napi::CallbackInfo& info) {
  int64_t id;
  if (!Int(info, 0, &id)) return info.Env().Undefined();
  return N(info.Env(), sys::SemctlRmid(static_cast<int>(id)));
}
Napi::Value Semop(const Napi::CallbackInfo& info) {
  int64_t id, op, flags;
  double timeout;
  if (!Int(info, 0, &id) || !Int(info, 1, &op) || !Int(info, 2, &flags) || !Dbl(info, 3, &timeout))
    return info.Env().Undefined();
  return N(info.Env(), sys::Semop(static_cast<int>(id), static_cast<int>(op), static_cast<int>(flags), timeout));
}

// ---- POSIX realtime ----
Napi::Value ShmOpen(const Napi::CallbackInfo& info) {
  std::string name;
  int64_t flags, mode;
  if (!Str(info, 0, &name) || !Int(info, 1, &flags) || !Int(info, 2, &mode)) return info.Env().Undefined();
  return Track(info.Env(), sys::ShmOpen(name.c_str(), static_cast<int>(flags), static_cast<int>(mode)));
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
  if (!State(env)->sems.count(s)) {
    Fail(env, "qshm native: semaphore handle is closed");
    return nullptr;
  }
  return s;
}
Napi::Value SemOpen(const Napi::CallbackInfo& info) {
  std::string name;
  int64_t flags, mode, value;
  if (!Str(info, 0, &name) || !Int(info, 1, &flags) || !Int(info, 2, &mode) || !Int(info, 3, &value))
    return info.Env().Undefined();
  int err = 0;
  void* s = sys::SemOpen(name.c_str(), static_cast<int>(flags), static_cast<int>(mode), static_cast<unsigned>(value), &err);
  if (!s) return N(info.Env(), -err);
  State(info.Env())->sems.insert(s);
  Napi::External<void> ext = Napi::External<void>::New(info.Env(), s);
  napi_type_tag_object(info.Env(), ext, &kSemTag);
  return ext;
}
Napi::Value SemClose(const Napi::CallbackInfo& info) {
  void* s = SemArg(info, 0);
  if (!s) return info.Env().Undefined();
  State(info.Env())->sems.erase(s);
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

// ---- Unix sockets ----
Napi::Value UnixListen(const Napi::CallbackInfo& info) {
  std::string path;
  int64_t backlog;
  if (!Str(info, 0, &path) || !Int(info, 1, &backlog)) return info.Env().Undefined();
  return Track(info.Env(), sys::UnixListen(path.c_str(), static_cast<int>(backlog)));
}
Napi::Value UnixSendFd(const Napi::CallbackInfo& info) {
  std::string path;
  int64_t fd;
  if (!Str(info, 0, &path) || !Fd(info, 1, &fd)) return info.Env().Undefined();
  if (info.Length() < 3 || !info[2].IsBuffer()) return Fail(info.Env(), "qshm native: expected a Buffer payload"), info.Env().Undefined();
  Napi::Buffer<char> b = info[2].As<Napi::Buffer<char>>();
  return N(info.Env(), sys::UnixSendFd(path.c_str(), static_cast<int>(fd), b.Data(), b.Length()));
}
struct RecvJob {
  napi_async_work work = nullptr;
  napi_deferred deferred = nullptr;
  int lfd;
  double timeout;
  int result = 0;
  char buf[4096];
  size_t n = 0;
};

void RecvExecute(napi_env, void* data) {
  RecvJob* j = static_cast<RecvJob*>(data);
  j->result = sys::UnixRecvFd(j->lfd, j->timeout, j->buf, sizeof j->buf, &j->n);
}

void RecvComplete(napi_env env, napi_status status, void* data) {
  RecvJob* j = static_cast<RecvJob*>(data);
  bool delivered = false;
  if (status == napi_ok) {
    napi_value v = nullptr;
    if (j->result < 0) {
      if (napi_create_double(env, j->result, &v) != napi_ok) v = nullptr;
    } else {
      napi_value fdv, data_v;
      void* copy = nullptr;
      if (napi_create_object(env, &v) != napi_ok || napi_create_int32(env, j->result, &fdv) != napi_ok ||
          napi_set_named_property(env, v, "fd", fdv) != napi_ok ||
          napi_create_buffer_copy(env, j->n, j->buf, &copy, &data_v) != napi_ok ||
          napi_set_named_property(env, v, "data", data_v) != napi_ok) {
        v = nullptr;
      }
    }
    if (v && napi_resolve_deferred(env, j->deferred, v) == napi_ok) {
      delivered = true;
      if (j->result >= 0) {
        AddonState* st = nullptr;
        if (napi_get_instance_data(env, reinterpret_cast<void**>(&st)) == napi_ok && st && !st->closed) {
          st->fds.insert(j->result);
        } else {
          delivered = false;  // nobody will ever close it
        }
      }
    }
  }
  if (!delivered && j->result >= 0) sys::Close(j->result);
  napi_delete_async_work(env, j->work);
  delete j;
}

Napi::Value UnixRecvFdAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t lfd;
  double timeout;
  if (!Fd(info, 0, &lfd) || !Dbl(info, 1, &timeout)) return env.Undefined();
  napi_value promise;
  napi_deferred deferred;
  if (napi_create_promise(env, &deferred, &promise) != napi_ok) return env.Undefined();
  RecvJob* j = new RecvJob();
  j->deferred = deferred;
  j->lfd = static_cast<int>(lfd);
  j->timeout = timeout;
  napi_value name;
  napi_create_string_utf8(env, "qshm.unixRecvFd", NAPI_AUTO_LENGTH, &name);
  if (napi_create_async_work(env, nullptr, name, RecvExecute, RecvComplete, j, &j->work) != napi_ok ||
      napi_queue_async_work(env, j->work) != napi_ok) {
    if (j->work) napi_delete_async_work(env, j->work);
    delete j;
    napi_resolve_deferred(env, deferred, N(env, -EAGAIN));
  }
  return Napi::Value(env, promise);
}

Napi::Object Constants(Napi::Env env) {
  Napi::Object c = Napi::Object::New(env);
#define K(name) c.Set(#name, static_cast<double>(name))
  K(O_RDONLY); K(O_WRONLY); K(O_RDWR); K(O_CREAT); K(O_EXCL); K(O_TRUNC); K(O_CLOEXEC); K(O_NOFOLLOW);
  K(O_DIRECTORY);
#ifdef O_TMPFILE
  K(O_TMPFILE);
#endif
  K(PROT_NONE); K(PROT_READ); K(PROT_WRITE);
  K(F_RDLCK); K(F_WRLCK); K(F_UNLCK); K(FD_CLOEXEC);
  K(IPC_CREAT); K(IPC_EXCL); K(IPC_NOWAIT); K(SHM_RDONLY); K(SEM_UNDO);
#ifdef MFD_CLOEXEC
  K(MFD_CLOEXEC); K(MFD_ALLOW_SEALING);
#endif
#ifdef F_SEAL_SEAL
  K(F_SEAL_SEAL); K(F_SEAL_SHRINK); K(F_SEAL_GROW); K(F_SEAL_WRITE);
#endif
#ifdef F_SEAL_FUTURE_WRITE
  K(F_SEAL_FUTURE_WRITE);
#else
  c.Set("F_SEAL_FUTURE_WRITE", 0x0010);
#endif
#undef K
  c.Set("pageSize", sys::PageSize());
  return c;
}

std::string JsName(const char* n) {
  std::string s(n);
  s[0] = static_cast<char>(s[0] - 'A' + 'a');
  return s;
}

}  // namespace

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  AddonState* st = new AddonState();
  napi_set_instance_data(env, st, [](napi_env, void* d, void*) { delete static_cast<AddonState*>(d); }, nullptr);
  napi_add_env_cleanup_hook(env, Cleanup, st);
#define F(name) exports.Set(JsName(#name), Napi::Function::New(env, name, #name))
  F(Open); F(Close); F(Dup); F(Ftruncate); F(Fallocate); F(Fchmod); F(Fstat); F(Lstat); F(Unlink);
  F(LinkFd); F(OfdLock); F(OfdGetLock);
  F(Mmap); F(Unmap); F(MappingLive);
  F(FutexWait); F(FutexWake); F(FutexWaitAsync);
  F(MemfdCreate); F(AddSeals); F(GetSeals);
  F(Ftok); F(Shmget); F(Shmat); F(ShmctlStat); F(ShmctlRmid);
  F(Semget); F(SemctlSetval); F(SemctlGetval); F(SemctlRmid); F(Semop);
  F(ShmOpen); F(ShmUnlink); F(SemOpen); F(SemClose); F(SemUnlink); F(SemWait); F(SemPost);
  F(UnixListen); F(UnixSendFd); F(UnixRecvFdAsync);
#undef F
  exports.Set("constants", Constants(env));
  return exports;
}

}  // namespace qshm

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return qshm::Init(env, exports); }
NODE_API_MODULE(NODE_GYP_MODULE_NAME, InitAddon)
