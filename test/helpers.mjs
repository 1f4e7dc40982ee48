// SPDX-License-Identifier: MIT
// Shared test helpers: everything of the support module (test/support/index.mjs), under the
// names tests import from here (uniqueKey, run, runNode, leftovers, debianPython, fixtures,
// testDir, track, LineChild, ...).
export * from './support/index.mjs';
