// SPDX-License-Identifier: MIT
// Module entry of the Windows build: the Windows facility (win32_binding.cc) is the whole addon.
#include <napi.h>

namespace qshm {
Napi::Object InitWin32(Napi::Env env, Napi::Object exports);
}

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return qshm::InitWin32(env, exports); }
NODE_API_MODULE(NODE_GYP_MODULE_NAME, InitAddon)
