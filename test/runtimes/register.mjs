// SPDX-License-Identifier: MIT
// Registers runtime-agnostic test groups with the test runner of the runtime that loads this
// file: bun:test under `bun test`, Deno.test under `deno test`, node:test under `node --test`.
// A group is { name, tests: [{ name, fn, timeoutMs?, skip? }] }; fn may be async. `skip` is a
// string naming what is missing. Also checks that nothing is left behind (test/helpers.mjs).
import { leftovers } from '../helpers.mjs';
import { runtime } from './runtime.mjs';

const DEFAULT_TIMEOUT_MS = 60000;

async function runnerApi() {
  if (runtime === 'bun') {
    const t = await import('bun:test');
    return {
      define(fullName, test) {
        if (test.skip) t.test.skip(`${fullName} (skipped: ${test.skip})`, () => {});
        else t.test(fullName, test.fn, test.timeoutMs ?? DEFAULT_TIMEOUT_MS);
      },
      beforeAll: t.beforeAll,
      afterAll: t.afterAll,
    };
  }
  if (runtime === 'deno') {
    // Child processes and the addon's thread-pool work are awaited by each test, but Deno's op
    // and resource sanitizers also count their stdio pipes: leave them to the leftover check.
    const opts = { sanitizeOps: false, sanitizeResources: false };
    const hooks = { before: null, after: null };
    let first = true;
    const pending = [];
    return {
      define(fullName, test) {
        pending.push({ fullName, test });
      },
      beforeAll: (fn) => (hooks.before = fn),
      afterAll: (fn) => (hooks.after = fn),
      flush() {
        pending.forEach(({ fullName, test }, i) => {
          const last = i === pending.length - 1;
          globalThis.Deno.test({
            name: test.skip ? `${fullName} (skipped: ${test.skip})` : fullName,
            ignore: Boolean(test.skip),
            ...opts,
            async fn() {
              if (first) {
                first = false;
                await hooks.before?.();
              }
              try {
                await test.fn();
              } finally {
                if (last) await hooks.after?.();
              }
            },
          });
        });
      },
    };
  }
  const t = await import('node:test');
  return {
    define(fullName, test) {
      t.test(fullName, { timeout: test.timeoutMs ?? DEFAULT_TIMEOUT_MS, skip: test.skip || false }, test.fn);
    },
    beforeAll: t.before,
    afterAll: t.after,
  };
}

/** Registers `groups` and the no-leftovers check with this runtime's runner. */
export async function register(groups) {
  const api = await runnerApi();
  let before = [];
  api.beforeAll(() => {
    before = leftovers();
  });
  for (const g of groups) for (const test of g.tests) api.define(`${runtime}: ${g.name}: ${test.name}`, test);
  api.define('no leftovers: nothing is left in /dev/shm, $TMPDIR or System V IPC', {
    fn() {
      const now = leftovers().filter((x) => !before.includes(x));
      if (now.length) throw new Error(`left behind:\n  ${now.join('\n  ')}`);
    },
  });
  api.afterAll(() => {
    const now = leftovers().filter((x) => !before.includes(x));
    if (now.length) throw new Error(`the runtimes suite left these behind:\n  ${now.join('\n  ')}`);
  });
  api.flush?.();
}
