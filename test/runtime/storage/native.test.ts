// node-lmdb is a native addon. The binary it ships for Node 20 on linux-x64 needs glibc 2.38, and
// Debian 12 has 2.36, so on these machines it is compiled at install time (python3, make and g++
// are there). npm 11 runs a dependency's install script only once the project approves it: the
// approval is `allowScripts` in package.json. This test fails loudly if a clean install ever
// leaves no loadable binary.

import test from 'ava';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);

test('node-lmdb has a native binary that loads and opens an environment', (t) => {
  const packageDir = dirname(require.resolve('node-lmdb/package.json'));
  const nodeGypBuild = require('node-gyp-build') as { path(dir: string): string };
  const binary = nodeGypBuild.path(packageDir);
  t.true(existsSync(binary));
  t.log(`node-lmdb binary: ${binary}`);
  const lmdb = require('node-lmdb') as { Env: new () => { open(options: object): void; close(): void } };
  const dir = mkdtempSync(join(tmpdir(), 'ringkv-native-'));
  try {
    const env = new lmdb.Env();
    env.open({ path: dir, mapSize: 1 << 20, maxDbs: 1 });
    env.close();
    t.pass();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the project approves node-lmdb\'s install script, so npm 11 compiles it', (t) => {
  const manifest = require('../../../../package.json') as { allowScripts?: Record<string, boolean> };
  t.is(manifest.allowScripts?.['node-lmdb'], true);
});
