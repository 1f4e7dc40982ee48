// SPDX-License-Identifier: MIT
// Entry point of the runtimes subset (issue 15). Not a mocha file (npm test's glob is
// *.test.mjs): run it with each runtime's own runner —
//   bun test ./test/runtimes/runtimes.spec.mjs
//   deno test <flags from test/runtimes/runtime.mjs> test/runtimes/runtimes.spec.mjs
//   node --test --expose-gc test/runtimes/runtimes.spec.mjs
// (npm run test:runtimes runs all three).
import { groups } from './bodies.mjs';
import { register } from './register.mjs';

await register(groups);
