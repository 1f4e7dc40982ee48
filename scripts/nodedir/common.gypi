# The "Node.js development tree" qshm builds against (`node-gyp --nodedir=scripts/nodedir`,
# see scripts/node-gyp.mjs): instead of Node's full headers, which node-gyp would download from
# nodejs.org or take from the user's npm config, the Node-API headers of the npm package
# node-api-headers, plus the compiler settings Node's own common.gypi gives addons on Linux
# (same flags as a build against /usr/include/node). A Node-API addon needs nothing else.
{
  'target_defaults': {
    'default_configuration': 'Release',
    'include_dirs': ['<!(node -p "require(\'node-api-headers\').include_dir")'],
    'defines': ['_FILE_OFFSET_BITS=64', '_LARGEFILE_SOURCE', '__STDC_FORMAT_MACROS'],
    'configurations': {
      'Release': {
        'cflags': ['-O3', '-fno-omit-frame-pointer'],
      },
      'Debug': {
        'defines': ['DEBUG', '_DEBUG'],
        'cflags': ['-g', '-O0'],
      },
    },
    'conditions': [
      ['OS!="win"', {
        'cflags': ['-pthread', '-Wall', '-Wextra', '-Wno-unused-parameter'],
        'cflags_cc': ['-fno-rtti', '-fno-exceptions', '-std=gnu++17'],
        'ldflags': ['-pthread', '-rdynamic'],
      }],
      ['OS!="win" and target_arch=="x64"', {
        'cflags': ['-m64'],
        'ldflags': ['-m64'],
      }],
    ],
  },
}
