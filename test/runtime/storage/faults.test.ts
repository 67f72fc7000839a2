// Storage under disk faults: an fdatasync error fails the store for good, a simulated power loss
// (FaultyWalFileSystem.crash) keeps every write that was durable, and a real SIGKILL followed by
// discardUnsynced keeps every write acknowledged before the kill.

import test from 'ava';
import { spawn } from 'node:child_process';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FaultyWalFileSystem } from '../../../src/runtime/storage/faulty-wal-file.js';
import { discardUnsynced, StorageFailedError, WorkerStore } from '../../../src/runtime/storage/worker-store.js';
import { bytes, delayMs, putMany, storeOptions, tempDir, text, waitDurable } from './helpers.js';

test('an fdatasync error fails the store: the write never becomes durable and later writes throw', async (t) => {
  const dir = await tempDir(t);
  const files = new FaultyWalFileSystem();
  const errors: string[] = [];
  const { store } = await WorkerStore.open(storeOptions(dir, { files, log: (level, msg) => void (level === 'error' && errors.push(msg)) }));
  const durableLsn = await putMany(store, 'ok', 5);
  const failures: string[] = [];
  store.onFailure((failure) => failures.push(failure));
  const durableAdvances: number[] = [];
  store.onDurable((lsn) => durableAdvances.push(lsn));

  files.failNextDatasync();
  const lsn = store.put(1, bytes('doomed'), bytes('x'));
  await t.throwsAsync(waitDurable(store, lsn), { message: /fdatasync/ });
  t.is(failures.length, 1);
  t.regex(store.failure ?? '', /injected fdatasync failure/);
  t.is(errors.length, 1);
  t.is(store.durableLsn, durableLsn);
  t.deepEqual(durableAdvances, []);
  t.is(store.pendingLsnOf(1, bytes('doomed')), 0);
  t.is(store.get(1, bytes('doomed')), undefined, 'reads no longer see the write that will never be durable');
  t.is(text(store.get(1, bytes('ok-4'))), 'value-ok-4', 'durable data is still readable');

  const error = t.throws(() => store.put(1, bytes('later'), bytes('x')), { instanceOf: StorageFailedError });
  t.is(error?.code, 'storage_failed');
  t.throws(() => store.remove(1, bytes('ok-1')), { instanceOf: StorageFailedError });
  await t.throwsAsync(store.checkpoint(), { instanceOf: StorageFailedError });
  await delayMs(20);
  t.is(store.durableLsn, durableLsn, 'durableLsn never advances again');
  await store.close();
});

test('a write error fails the store the same way', async (t) => {
  const dir = await tempDir(t);
  const files = new FaultyWalFileSystem();
  const { store } = await WorkerStore.open(storeOptions(dir, { files, durability: 'none' }));
  files.failNextAppend();
  const lsn = store.put(1, bytes('k'), bytes('v'));
  await t.throwsAsync(waitDurable(store, lsn));
  t.regex(store.failure ?? '', /injected write failure/);
  t.is(store.durableLsn, 0);
  await store.close();
});

test('a full disk (ENOSPC from the kernel, by way of /dev/full) fails the store with the reason and acknowledges nothing', async (t) => {
  const dir = await tempDir(t);
  const { store } = await WorkerStore.open(storeOptions(dir));
  // The first segment is created at the first append: make its name lead to a device on which
  // every write fails with ENOSPC, as on a file system with no space left.
  const segment = path.join(dir, 'wal', '0000000000000001.log');
  await fsp.symlink('/dev/full', segment);
  t.teardown(() => fsp.rm(segment, { force: true }));
  const lsn = store.put(1, bytes('k'), bytes('v'));
  await t.throwsAsync(waitDurable(store, lsn));
  t.regex(store.failure ?? '', /ENOSPC/);
  t.is(store.durableLsn, 0, 'nothing was acknowledged');
  t.throws(() => store.put(1, bytes('k2'), bytes('v')), { message: /storage failed/ });
  await store.close();
});

test('a simulated power loss keeps every write that was durable in fsync mode', async (t) => {
  const dir = await tempDir(t);
  const options = storeOptions(dir, { walSegmentBytesMax: 2048, commitBatchRecordsMax: 16 });
  const files = new FaultyWalFileSystem();
  const { store } = await WorkerStore.open({ ...options, files });
  const durableBefore = await putMany(store, 'durable', 100);
  // Writes still in flight when the power goes: some may survive, none may be corrupt.
  for (let i = 0; i < 100; i += 1) store.put(2, bytes(`inflight-${i}`), bytes('v'));
  await delayMs(1);
  const durableAtCrash = store.durableLsn;
  const { bytesDropped } = await files.crash();
  t.log(`durable at crash ${durableAtCrash}, bytes dropped ${bytesDropped}`);
  await store.close();

  const { store: reopened, recovery } = await WorkerStore.open(options);
  t.false(recovery.corruptRecord);
  t.false(recovery.tornTail);
  t.true(recovery.lastLsn >= durableAtCrash);
  for (let i = 0; i < 100; i += 1) t.is(text(reopened.get(1, bytes(`durable-${i}`))), `value-durable-${i}`);
  t.true(durableBefore <= durableAtCrash);
  for (let i = 0; i < 100; i += 1) {
    if (durableBefore + 1 + i <= durableAtCrash) t.is(text(reopened.get(2, bytes(`inflight-${i}`))), 'v');
  }
  // Nothing after the crash is corrupt: the log takes writes and reads back cleanly.
  await waitDurable(reopened, reopened.put(3, bytes('after'), bytes('crash')));
  await reopened.close();
  const { store: again, recovery: again2 } = await WorkerStore.open(options);
  t.false(again2.corruptRecord || again2.tornTail);
  t.is(text(again.get(3, bytes('after'))), 'crash');
  await again.close();
});

interface KilledChild {
  readonly durableAtKill: number;
}

/** Runs the kill-child fixture until it reports `durableTarget`, then SIGKILLs it. */
function runAndKill(dir: string, durableTarget: number): Promise<KilledChild> {
  const script = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'kill-child.js');
  const child = spawn(process.execPath, [script, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let durable = 0;
    let pending = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        const match = /^durable (\d+)$/.exec(line);
        if (match !== null) durable = Math.max(durable, Number(match[1]));
      }
      if (durable >= durableTarget && child.exitCode === null && !child.killed) child.kill('SIGKILL');
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (signal === 'SIGKILL') resolve({ durableAtKill: durable });
      else reject(new Error(`kill-child exited with ${code ?? signal}`));
    });
  });
}

test('after a SIGKILL, discardUnsynced + reopen keeps every write acknowledged before the kill', async (t) => {
  const dir = await tempDir(t);
  // Every open of a directory used this way must record synced state, or a checkpoint would
  // retire WAL segments that the LMDB copy discardUnsynced restores does not cover.
  const options = storeOptions(dir, { partitions: [1], recordSyncedState: true });
  let expectedLsn = 0;
  // Two kills: the second run starts from the first run's discarded state, checkpoint copy included.
  for (const durableTarget of [3000, 6000]) {
    const { durableAtKill } = await runAndKill(dir, durableTarget);
    t.true(durableAtKill >= durableTarget);
    const synced = JSON.parse(await fsp.readFile(path.join(dir, 'wal', 'synced.json'), 'utf8')) as { segments: object };
    t.true(Object.keys(synced.segments).length >= 1);
    await fsp.access(path.join(dir, 'lmdb-synced', 'data.mdb'));
    const { walBytesDropped } = await discardUnsynced(dir);
    t.log(`killed at durable ${durableAtKill}; discard dropped ${walBytesDropped} WAL bytes`);

    const { store, recovery } = await WorkerStore.open(options);
    t.false(recovery.corruptRecord, 'discarding unsynced bytes leaves whole records');
    t.true(recovery.lastLsn >= durableAtKill);
    t.true(recovery.checkpointLsn > expectedLsn, 'checkpoints ran in the child');
    let missing = 0;
    for (let lsn = 1; lsn <= durableAtKill; lsn += 1) {
      if (text(store.get(1, bytes(`key-${lsn}`))) !== `value-${lsn}`) missing += 1;
    }
    t.is(missing, 0, 'every acknowledged write survived');
    expectedLsn = durableAtKill;
    await store.close();
  }
});
