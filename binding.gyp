{
  "targets": [
    {
      "target_name": "qshm",
      # addon.cc holds what every platform shares and includes no OS header. Each facility is
      # a syscall file (no Node-API) plus its binding file, registered into the exports at load;
      # which ones a platform has is chosen only here.
      "sources": ["native/addon.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-fvisibility=hidden", "-fstack-protector-strong"],
      "conditions": [
        ["OS=='linux'", {
          "sources": [
            "native/posix_file.cc", "native/file_binding.cc",
            "native/linux_futex.cc", "native/futex_binding.cc",
            "native/linux_memfd.cc", "native/memfd_binding.cc",
            "native/sysv.cc", "native/sysv_binding.cc",
            "native/posix_shm.cc", "native/posix_shm_binding.cc",
            "native/unix_socket.cc", "native/unix_socket_binding.cc"
          ],
          "libraries": ["-lrt", "-lpthread"]
        }],
        ["OS!='linux' and OS!='win'", {
          "sources": [
            "native/posix_file.cc", "native/file_binding.cc",
            "native/sysv.cc", "native/sysv_binding.cc",
            "native/posix_shm.cc", "native/posix_shm_binding.cc",
            "native/unix_socket.cc", "native/unix_socket_binding.cc"
          ]
        }],
        ["OS=='win'", {
          # The Windows facility: Win32 files, named file mappings, mutexes and semaphores.
          # Built here with MSVC (not run in CI: CI cross-compiles with mingw-w64, see
          # scripts/build-win32.sh, which compiles the same three files).
          "sources": ["native/win32_ipc.cc", "native/win32_binding.cc"],
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
