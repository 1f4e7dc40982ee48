// SPDX-License-Identifier: MIT
// The test support module: unique keys and paths (paths.mjs), one-shot commands (run.mjs),
// children and workers speaking a line protocol (lines.mjs), resources released after each
// test (resources.mjs), the leftover scan per platform (platform.mjs), and peers, Python and
// capability checks (peers.mjs). test/helpers.mjs re-exports all of it.
export * from './paths.mjs';
export * from './run.mjs';
export * from './lines.mjs';
export * from './resources.mjs';
export * from './platform.mjs';
export * from './peers.mjs';
export * from './skip.mjs';
