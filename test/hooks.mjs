// SPDX-License-Identifier: MIT
// Root hooks: after each test, every child, worker and tracked resource is released; the suite
// fails if it leaves anything behind in the places this platform's segments live (leftovers()).
import { cleanup, leftovers } from './support/index.mjs';

let before = [];
export const mochaHooks = {
  beforeAll() {
    before = leftovers();
  },
  async afterEach() {
    await cleanup();
  },
  afterAll() {
    const now = leftovers().filter((x) => !before.includes(x));
    if (now.length) {
      throw new Error(`the test suite left these behind:\n  ${now.join('\n  ')}`);
    }
  },
};
