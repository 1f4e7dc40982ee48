{
  "targets": [
    {
      "target_name": "qshm",
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-fvisibility=hidden", "-fstack-protector-strong"],
      "conditions": [
        ["OS!='win'", {
          "sources": ["native/addon.cc"]
        }],
        ["OS=='linux'", {
          "sources": [
            "native/posix_file.cc",
            "native/linux_futex.cc",
            "native/linux_memfd.cc",
            "native/sysv.cc",
            "native/posix_shm.cc",
            "native/unix_socket.cc"
          ],
          "libraries": ["-lrt", "-lpthread"]
        }],
        ["OS!='linux' and OS!='win'", {
          "sources": [
            "native/posix_file.cc",
            "native/sysv.cc",
            "native/posix_shm.cc",
            "native/unix_socket.cc",
            "native/unsupported.cc"
          ]
        }],
        ["OS=='win'", {
          "sources": [
            "native/win32_addon.cc",
            "native/win32_binding.cc",
            "native/win32_ipc.cc"
          ],
          "defines": ["UNICODE", "_UNICODE", "WIN32_LEAN_AND_MEAN", "NOMINMAX", "_WIN32_WINNT=0x0602"],
          "msvs_settings": {
            "VCCLCompilerTool": {
              "AdditionalOptions": ["/std:c++17", "/W3", "/utf-8"],
              "ExceptionHandling": 1
            }
          }
        }]
      ]
    }
  ]
}
