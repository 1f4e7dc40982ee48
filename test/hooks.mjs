// SPDX-License-Identifier: MIT
// Root hooks: the suite fails if it leaves anything behind in /dev/shm, /tmp or ipcs.
import { leftovers } from './helpers.mjs';

let before = [];
export const mochaHooks = {
  beforeAll() {
    before = leftovers();
  },
  afterAll() {
    const now = leftovers().filter((x) => !before.includes(x));
    if (now.length) {
      throw new Error(`the test suite left these behind:\n  ${now.join('\n  ')}`);
    }
  },
};
