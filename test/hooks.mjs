// SPDX-License-Identifier: MIT
// Root hooks: after each test, every child, worker and tracked resource is released; the suite
// fails if a release failed or if it leaves anything behind in the places this platform's
// segments live (leftovers()). A failed release is reported at the end rather than thrown
// at once, which would skip every test after it.
import { cleanup, leftovers } from './support/index.mjs';

let before = [];
const failedReleases = [];
export const mochaHooks = {
  beforeAll() {
    before = leftovers();
  },
  async afterEach() {
    try {
      await cleanup();
    } catch (e) {
      failedReleases.push(`after "${this.currentTest?.fullTitle()}": ${e?.stack ?? e}`);
    }
  },
  afterAll() {
    const now = leftovers().filter((x) => !before.includes(x));
    const problems = [
      ...failedReleases.map((f) => `releasing a test's resources failed ${f}`),
      ...(now.length ? [`the test suite left these behind:\n  ${now.join('\n  ')}`] : []),
    ];
    if (problems.length) throw new Error(problems.join('\n'));
  },
};
