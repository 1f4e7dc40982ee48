// SPDX-License-Identifier: MIT
// Where the loader looks for the addon (lib/addon.ts) and what the install script says when it
// cannot build. The whole install path (npm pack, no compiler, arm64 under qemu, Wine) is
// scripts/test-pack.sh (npm run test:pack); see docs/packaging.md.
import { expect } from 'chai';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LOCAL_BUILDS, libcFamily, prebuildPath } from '../dist/addon.js';
import { run } from './helpers.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));

describe('packaging', () => {
  it('prebuilt binaries use node-gyp-build names, with the C library as a tag on Linux', () => {
    expect(prebuildPath('linux', 'x64', 'glibc')).to.equal(join('prebuilds', 'linux-x64', 'qshm.glibc.napi.node'));
    expect(prebuildPath('linux', 'arm64', 'glibc')).to.equal(join('prebuilds', 'linux-arm64', 'qshm.glibc.napi.node'));
    expect(prebuildPath('linux', 'x64', 'musl')).to.equal(join('prebuilds', 'linux-x64', 'qshm.musl.napi.node'));
    expect(prebuildPath('win32', 'x64')).to.equal(join('prebuilds', 'win32-x64', 'qshm.napi.node'));
    expect(LOCAL_BUILDS).to.deep.equal([join('build', 'Release', 'qshm.node'), join('build', 'Debug', 'qshm.node')]);
  });

  it("detects this process's C library as Node's own report does", () => {
    const report = process.report.getReport();
    expect(libcFamily()).to.equal(report.header.glibcVersionRuntime ? 'glibc' : 'musl');
    expect(libcFamily('win32')).to.equal(undefined);
  });

  it('a build from source with no compiler, make or python3 fails with one line naming them', async () => {
    const bin = mkdtempSync(join(tmpdir(), 'qshm-nocc-'));
    try {
      symlinkSync(process.execPath, join(bin, 'node'));
      const env = { HOME: bin, PATH: bin };
      const r = await run(process.execPath, [join(root, 'scripts', 'install.mjs'), '--build-from-source'], { env });
      expect(r.code).to.equal(1);
      const lines = r.stderr.trim().split('\n');
      expect(lines).to.have.length(1);
      expect(lines[0]).to.match(/^qshm: cannot build the native addon from source: missing a C\+\+17 compiler \(g\+\+\), make, python3 \(for node-gyp\)/);
      expect(lines[0]).to.contain('npm rebuild qshm');
    } finally {
      rmSync(bin, { recursive: true, force: true });
    }
  });
});
