// LmdbStore.sync() must be safe to leave in flight when its thread goes away: a vnode-host worker
// can die or be terminated during a checkpoint, and the node must then restart that worker, not
// crash. The scenario runs in a child process, since a crash would take the test runner with it.

import test from 'ava';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

test('terminating a thread while its LMDB sync is in flight does not crash the process', (t) => {
  const fixture = fileURLToPath(new URL('./fixtures/sync-then-terminate.js', import.meta.url));
  const run = spawnSync(process.execPath, [fixture, '40'], { encoding: 'utf8', timeout: 60_000 });
  t.is(run.signal, null, `the process was killed by ${run.signal}: ${run.stderr}`);
  t.is(run.status, 0, run.stderr);
  t.regex(run.stdout, /survived 40 rounds/);
});
