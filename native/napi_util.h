// SPDX-License-Identifier: MIT
// What every Node-API binding file of qshm shares: argument checks (TypeError on misuse, so a
// bypass of the TypeScript checks cannot crash the process), the per-environment ownership
// of descriptors and handles, mappings handed to JavaScript as ArrayBuffers, the one helper
// that runs a blocking call on the thread pool, and the registration of each facility.
// Implemented in addon.cc, which includes no OS header: this file must stay portable.
#pragma once
#include <napi.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace qshm {

// ---- arguments ----
// Each returns false after throwing a TypeError; the binding then returns undefined.
bool Fail(Napi::Env env, const char* what);
// A number that is a safe integer (NaN, infinities and larger magnitudes are refused).
bool Int(const Napi::CallbackInfo& info, size_t i, int64_t* out);
// A descriptor: a whole number from 0 to INT_MAX (never silently truncated).
bool Fd(const Napi::CallbackInfo& info, size_t i, int64_t* out);
bool Dbl(const Napi::CallbackInfo& info, size_t i, double* out);
// A string without NUL bytes.
bool Str(const Napi::CallbackInfo& info, size_t i, std::string* out);
// The data of argument i when it is a Float64Array of at least n elements (where a call writes
// its results: cheaper than making an object); null after a TypeError.
double* Float64Out(const Napi::CallbackInfo& info, size_t i, size_t n);
inline Napi::Value N(Napi::Env env, double v) { return Napi::Number::New(env, v); }

// ---- ownership ----
// A kind of OS resource (descriptor, semaphore, later a Windows HANDLE) the environment owns
// once handed to JavaScript, and closes when it ends (main thread at exit or a worker thread)
// unless JavaScript gave it back first. That is what lets other processes see a terminated
// worker's attachments as gone.
struct ResourceKind {
  const char* name;
  int (*close)(intptr_t handle);
};
// Takes ownership. False when the environment is already ending (or its state is gone): the
// caller then still owns the handle. Safe in an async completion during teardown.
bool Own(napi_env env, const ResourceKind& kind, intptr_t handle);
bool Owns(napi_env env, const ResourceKind& kind, intptr_t handle);
// Gives up ownership without closing. True if the handle was owned.
bool Disown(napi_env env, const ResourceKind& kind, intptr_t handle);

// Descriptors (file_binding.cc, compiled on every POSIX system).
extern const ResourceKind kDescriptor;
// Owns fd when it is one (fd >= 0) and returns fd or -errno as a number.
Napi::Value TrackFd(Napi::Env env, int fd);

// ---- mappings ----
// How a facility releases the memory it mapped (munmap, shmdt, UnmapViewOfFile...).
using UnmapFn = int (*)(void* addr, size_t len);
// Wraps addr in an external ArrayBuffer that owns the mapping, or on failure releases the
// memory and returns -EFBIG (larger than this Node's largest ArrayBuffer) or -ENOTSUP
// (external buffers not allowed, as in Electron's V8 sandbox).
Napi::Value MakeMapping(Napi::Env env, void* addr, size_t len, UnmapFn unmap);
// The same memory held by a number instead (no ArrayBuffer is made until JavaScript asks for
// a view with `regionView`; making one costs far more than the mapping): returns the region's
// number (> 0), released with `regionRelease` and the last of its views. On failure the memory
// is released and -ENOTSUP (this runtime makes no external buffers, like MakeMapping) or
// -ECANCELED (the environment is ending) returned.
Napi::Value MakeRegion(Napi::Env env, void* addr, size_t len, UnmapFn unmap);
// Address of the aligned 32-bit word at the byte offset in argument 1 of the mapping in
// argument 0. Null either after a TypeError (*err == 0) or with *err = -EBADF (unmapped) or
// -EINVAL (misaligned, outside).
uint32_t* MappingWord(const Napi::CallbackInfo& info, int* err);

// ---- blocking calls ----
// One blocking call run on the libuv pool, settling a promise. Written against the raw
// Node-API on purpose: when a worker thread ends while a job is pending, Node still completes
// the job during teardown, and then every call may fail. Nothing may turn such a failure into
// a fatal error; a result that cannot be delivered is dropped through Undelivered().
class AsyncJob {
 public:
  virtual ~AsyncJob() = default;
  // On a pool thread: no Node-API, no JavaScript values.
  virtual void Execute() = 0;
  // On the JavaScript thread: the value to resolve with, or nullptr if it cannot be made.
  // Only raw Node-API calls, checked, never throwing.
  virtual napi_value Result(napi_env env) = 0;
  // The result was resolved: take ownership of what it hands over. False when that is
  // impossible (the environment is ending); Undelivered() then releases it.
  virtual bool Delivered(napi_env) { return true; }
  // The result never reached JavaScript (or nobody owns it): release what it holds.
  virtual void Undelivered() {}
};
// Queues job (taking it) and returns its promise. keep_alive (optional) is kept from garbage
// collection until the job completes. If the job cannot be queued the promise resolves with
// -EAGAIN. Returns undefined only if no promise could be made.
Napi::Value QueueJob(Napi::Env env, AsyncJob* job, const char* name,
                     napi_value keep_alive = nullptr);
// A promise already resolved with v (an argument error found before queueing).
Napi::Value ResolvedPromise(Napi::Env env, double v);

// ---- facilities ----
// What this build can do, exported as `capabilities`. Each facility sets its own flags.
struct Capabilities {
  bool file = false;        // files with O_TMPFILE creation, mmap, fstat (posix_file.cc)
  bool ofdLocks = false;    // open-file-description byte-range locks (posix_file.cc)
  bool futex = false;       // shared futex wait/wake (linux_futex.cc)
  bool memfd = false;       // memfd_create and seals (linux_memfd.cc)
  bool sysv = false;        // System V shared memory and semaphores (sysv.cc)
  bool posixShm = false;    // shm_open and named semaphores (posix_shm.cc)
  bool unixSocket = false;  // descriptor passing over Unix sockets (unix_socket.cc)
  bool win32 = false;       // Windows files, named mappings, mutexes, semaphores (win32_ipc.cc)
};
// Adds one facility's functions to exports, its constants to constants, and sets its flags.
using RegisterFn = void (*)(Napi::Env env, Napi::Object exports, Napi::Object constants,
                            Capabilities* caps);
// One per binding file, as a namespace-scope constant: `const Facility kFacility(1, Register);`.
// Which files are compiled in is chosen by binding.gyp; addon.cc's Init calls the registration
// functions of those present in rank order (which fixes the order of the exports).
struct Facility {
  Facility(int rank, RegisterFn fn);
};
// Adds a C constant to the constants object under its own name.
#define QSHM_CONSTANT(constants, name) (constants).Set(#name, static_cast<double>(name))
// Exports a function under its JavaScript name.
void Export(Napi::Env env, Napi::Object exports, const char* js_name, Napi::Function::Callback fn);

}  // namespace qshm
