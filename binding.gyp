{
  "targets": [
    {
      "target_name": "qshm",
      "sources": ["native/addon.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-fvisibility=hidden", "-fstack-protector-strong"],
      "conditions": [
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
        }]
      ]
    }
  ]
}
