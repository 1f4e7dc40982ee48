// SPDX-License-Identifier: MIT
// Capability-based skips: a test that cannot run here says what is missing.

/** Skips the test or suite (`ctx`, mocha's `this`) when `why` is set, printing why. */
export function skipIf(ctx, why) {
  if (!why) return;
  console.log(`      skipped: ${why}`);
  ctx.skip();
}
