// SPDX-License-Identifier: MIT
// Node-API binding of sysv.cc: System V shared memory and semaphores.
#include <errno.h>
#include <sys/ipc.h>
#include <sys/sem.h>
#include <sys/shm.h>

#include <string>

#include "napi_util.h"
#include "sys.h"

namespace qshm {
namespace {

// A System V key: any 32-bit pattern, passed from JavaScript as an unsigned number.
int32_t Key(int64_t key) { return static_cast<int32_t>(static_cast<uint32_t>(key)); }

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
  if (!Int(info, 0, &key) || !Int(info, 1, &size) || !Int(info, 2, &flags)) {
    return info.Env().Undefined();
  }
  if (size < 0) return N(info.Env(), -EINVAL);
  return N(info.Env(), sys::Shmget(Key(key), static_cast<size_t>(size), static_cast<int>(flags)));
}

int Shmdt(void* addr, size_t) { return sys::Shmdt(addr); }

Napi::Value Shmat(const Napi::CallbackInfo& info) {
  int64_t id, flags, size;
  if (!Int(info, 0, &id) || !Int(info, 1, &flags) || !Int(info, 2, &size)) {
    return info.Env().Undefined();
  }
  if (size <= 0) return N(info.Env(), -EINVAL);
  int err = 0;
  void* p = sys::Shmat(static_cast<int>(id), static_cast<int>(flags), &err);
  if (!p) return N(info.Env(), -err);
  return MakeRegion(info.Env(), p, static_cast<size_t>(size), Shmdt);
}

// id, out: shmctl(IPC_STAT) into a Float64Array of at least 5 elements (segsz, nattch, mode,
// uid, cpid), which is cheaper than making an object. 0 or -errno.
Napi::Value ShmctlStat(const Napi::CallbackInfo& info) {
  int64_t id;
  if (!Int(info, 0, &id)) return info.Env().Undefined();
  double* out = Float64Out(info, 1, 5);
  if (!out) return info.Env().Undefined();
  sys::ShmStat st;
  int r = sys::ShmctlStat(static_cast<int>(id), &st);
  if (r < 0) return N(info.Env(), r);
  out[0] = st.segsz;
  out[1] = st.nattch;
  out[2] = st.mode;
  out[3] = st.uid;
  out[4] = st.cpid;
  return N(info.Env(), 0);
}

Napi::Value ShmctlRmid(const Napi::CallbackInfo& info) {
  int64_t id;
  if (!Int(info, 0, &id)) return info.Env().Undefined();
  return N(info.Env(), sys::ShmctlRmid(static_cast<int>(id)));
}

Napi::Value Semget(const Napi::CallbackInfo& info) {
  int64_t key, n, flags;
  if (!Int(info, 0, &key) || !Int(info, 1, &n) || !Int(info, 2, &flags)) {
    return info.Env().Undefined();
  }
  return N(info.Env(), sys::Semget(Key(key), static_cast<int>(n), static_cast<int>(flags)));
}

Napi::Value SemctlSetval(const Napi::CallbackInfo& info) {
  int64_t id, num, v;
  if (!Int(info, 0, &id) || !Int(info, 1, &num) || !Int(info, 2, &v)) {
    return info.Env().Undefined();
  }
  return N(info.Env(),
           sys::SemctlSetval(static_cast<int>(id), static_cast<int>(num), static_cast<int>(v)));
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
  if (!Int(info, 0, &id) || !Int(info, 1, &op) || !Int(info, 2, &flags) ||
      !Dbl(info, 3, &timeout)) {
    return info.Env().Undefined();
  }
  return N(info.Env(), sys::Semop(static_cast<int>(id), static_cast<int>(op),
                                  static_cast<int>(flags), timeout));
}

// id, op: semop(id, {0, op, SEM_UNDO}) waiting forever, the lock()/unlock() of the sysv
// backend. Written against the raw Node-API (two int32 reads, one int32 result): on the
// uncontended path the call itself is most of what the binding adds to the system call.
napi_value SemopUndo(napi_env env, napi_callback_info cbi) {
  size_t argc = 2;
  napi_value argv[2];
  int32_t id = 0, op = 0;
  napi_value result = nullptr;
  if (napi_get_cb_info(env, cbi, &argc, argv, nullptr, nullptr) != napi_ok || argc < 2 ||
      napi_get_value_int32(env, argv[0], &id) != napi_ok ||
      napi_get_value_int32(env, argv[1], &op) != napi_ok || id < 0 || op < -1 || op > 1) {
    napi_throw_type_error(env, nullptr, "qshm native: semopUndo(id >= 0, op -1 or 1)");
    return nullptr;
  }
  napi_create_int32(env, sys::Semop(id, op, SEM_UNDO, -1), &result);
  return result;
}

void Register(Napi::Env env, Napi::Object exports, Napi::Object constants, Capabilities* caps) {
  Export(env, exports, "ftok", Ftok);
  Export(env, exports, "shmget", Shmget);
  Export(env, exports, "shmat", Shmat);
  Export(env, exports, "shmctlStat", ShmctlStat);
  Export(env, exports, "shmctlRmid", ShmctlRmid);
  Export(env, exports, "semget", Semget);
  Export(env, exports, "semctlSetval", SemctlSetval);
  Export(env, exports, "semctlGetval", SemctlGetval);
  Export(env, exports, "semctlRmid", SemctlRmid);
  Export(env, exports, "semop", Semop);
  napi_value fast;
  napi_create_function(env, "semopUndo", NAPI_AUTO_LENGTH, SemopUndo, nullptr, &fast);
  exports.Set("semopUndo", Napi::Value(env, fast));
  QSHM_CONSTANT(constants, IPC_CREAT);
  QSHM_CONSTANT(constants, IPC_EXCL);
  QSHM_CONSTANT(constants, IPC_NOWAIT);
  QSHM_CONSTANT(constants, SHM_RDONLY);
  QSHM_CONSTANT(constants, SEM_UNDO);
  caps->sysv = true;
}

const Facility kFacility(4, Register);

}  // namespace
}  // namespace qshm
