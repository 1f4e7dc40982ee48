// SPDX-License-Identifier: MIT
// Root hooks of the Wine suite: it fails if it leaves a segment file behind.
import { leftovers } from './helpers.mjs';

let before = [];
export const mochaHooks = {
  beforeAll() {
    before = leftovers();
  },
  afterAll() {
    const now = leftovers().filter((x) => !before.includes(x));
    if (now.length) throw new Error(`the Windows suite left these behind:\n  ${now.join('\n  ')}`);
  },
};
