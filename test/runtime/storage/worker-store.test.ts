// Behaviour of a WorkerStore on a real disk: round trips, group commit, the pending overlay,
// checkpoints, the three durability modes and the bound on pending writes.

import test from 'ava';
import * as fsp from 'node:fs/promises';
import { FaultyWalFileSystem } from '../../../src/runtime/storage/faulty-wal-file.js';
import { decodeRecord } from '../../../src/runtime/storage/wal-record.js';
import { StorageOverloadError, WorkerStore } from '../../../src/runtime/storage/worker-store.js';
import type { Durability } from '../../../src/runtime/storage/worker-store.js';
import { bytes, delayMs, putMany, segmentFiles, storeOptions, tempDir, text, waitDurable } from './helpers.js';

test('records round-trip across close and open', async (t) => {
  const dir = await tempDir(t);
  const first = await WorkerStore.open(storeOptions(dir));
  t.deepEqual(first.recovery, { checkpointLsn: 0, replayedRecords: 0, lastLsn: 0, tornTail: false, corruptRecord: false, truncatedBytes: 0 });
  const store = first.store;
  store.put(1, bytes('a'), bytes('one'));
  store.put(2, bytes('a'), bytes('two'));
  store.put(1, bytes('gone'), bytes('x'));
  const lsn = store.remove(1, bytes('gone'));
  store.remove(3, bytes('never-written'));
  store.put(3, Buffer.from([0, 255, 0]), Buffer.alloc(0));
  await waitDurable(store, lsn);
  await store.close();

  const { store: reopened, recovery } = await WorkerStore.open(storeOptions(dir));
  t.is(recovery.lastLsn, 6);
  t.is(text(reopened.get(1, bytes('a'))), 'one');
  t.is(text(reopened.get(2, bytes('a'))), 'two');
  t.is(reopened.get(1, bytes('gone')), undefined);
  t.is(reopened.get(3, Buffer.from([0, 255, 0]))?.length, 0);
  t.is(reopened.put(1, bytes('b'), bytes('next')), 7, 'LSNs continue after the last one');
  await reopened.close();
});

test('puts in one tick form one group commit; get sees them before they are durable', async (t) => {
  const dir = await tempDir(t);
  const { store } = await WorkerStore.open(storeOptions(dir, { commitBatchRecordsMax: 256 }));
  const puts = 1000;
  let lastLsn = 0;
  for (let i = 0; i < puts; i += 1) lastLsn = store.put(1, bytes(`k${i}`), bytes(`v${i}`));
  t.is(lastLsn, puts);
  t.is(store.durableLsn, 0);
  t.is(text(store.get(1, bytes('k7'))), 'v7');
  t.is(store.pendingLsnOf(1, bytes('k7')), 8);
  t.is(store.pendingLsnOf(1, bytes('absent')), 0);

  const advances: number[] = [];
  store.onDurable((durableLsn) => advances.push(durableLsn));
  await waitDurable(store, lastLsn);
  t.is(store.durableLsn, puts);
  t.is(store.pendingLsnOf(1, bytes('k7')), 0);
  t.is(text(store.get(1, bytes('k7'))), 'v7', 'now read from LMDB');
  const stats = store.stats();
  t.true(stats.commits < puts);
  t.is(stats.commits, Math.ceil(puts / 256));
  t.is(stats.recordsPerCommitAvg, puts / stats.commits);
  t.deepEqual(advances, [256, 512, 768, 1000]);
  await store.close();
});

test('a newer pending write shadows an older one, and a pending remove hides a durable value', async (t) => {
  const dir = await tempDir(t);
  const { store } = await WorkerStore.open(storeOptions(dir));
  await waitDurable(store, store.put(1, bytes('k'), bytes('old')));
  const removeLsn = store.remove(1, bytes('k'));
  t.is(store.get(1, bytes('k')), undefined);
  t.is(store.pendingLsnOf(1, bytes('k')), removeLsn);
  const putLsn = store.put(1, bytes('k'), bytes('new'));
  t.is(text(store.get(1, bytes('k'))), 'new');
  t.is(store.pendingLsnOf(1, bytes('k')), putLsn);
  await waitDurable(store, putLsn);
  t.is(text(store.get(1, bytes('k'))), 'new');
  await store.close();
});

test('a value handed to put can be mutated afterwards without changing what was stored', async (t) => {
  const dir = await tempDir(t);
  const { store } = await WorkerStore.open(storeOptions(dir));
  const value = bytes('original');
  const lsn = store.put(1, bytes('k'), value);
  value.fill(0);
  const read = store.get(1, bytes('k'))!;
  t.is(text(read), 'original');
  read.fill(0);
  t.is(text(store.get(1, bytes('k'))), 'original', 'get returns a copy');
  await waitDurable(store, lsn);
  await store.close();
  const { store: reopened } = await WorkerStore.open(storeOptions(dir));
  t.is(text(reopened.get(1, bytes('k'))), 'original');
  await reopened.close();
});

test('forEach merges durable and pending writes', async (t) => {
  const dir = await tempDir(t);
  const { store } = await WorkerStore.open(storeOptions(dir));
  store.put(1, bytes('a'), bytes('1'));
  store.put(1, bytes('b'), bytes('2'));
  store.put(2, bytes('other'), bytes('x'));
  await waitDurable(store, store.put(1, bytes('c'), bytes('3')));
  store.put(1, bytes('b'), bytes('2b'));
  store.remove(1, bytes('c'));
  store.put(1, bytes('d'), bytes('4'));
  const seen = new Map<string, string>();
  store.forEach(1, (key, value) => seen.set(text(key)!, text(value)!));
  t.deepEqual(Object.fromEntries([...seen].sort()), { a: '1', b: '2b', d: '4' });
  await store.close();
});

test('a checkpoint retires old segments; reopening replays only newer records', async (t) => {
  const dir = await tempDir(t);
  const options = storeOptions(dir, { walSegmentBytesMax: 2048, commitBatchRecordsMax: 10 });
  const files = new FaultyWalFileSystem();
  const { store } = await WorkerStore.open({ ...options, files });
  const checkpointLsn = await putMany(store, 'before', 200);
  t.true(store.stats().segments > 3, 'small segments rolled');
  await store.checkpoint();
  t.is(store.stats().checkpoints, 1);
  t.is(store.stats().segments, 1, 'only the segment being written is left');
  t.is((await segmentFiles(dir)).length, 1);
  await putMany(store, 'after', 30);
  // Stop without close (and so without its checkpoint): the disk dies, LMDB's file stays.
  await files.crash();
  await store.close();

  const { store: reopened, recovery } = await WorkerStore.open(options);
  t.is(recovery.checkpointLsn, checkpointLsn);
  t.is(recovery.replayedRecords, 30);
  t.is(recovery.lastLsn, checkpointLsn + 30);
  t.false(recovery.tornTail || recovery.corruptRecord);
  t.is(text(reopened.get(1, bytes('before-0'))), 'value-before-0');
  t.is(text(reopened.get(1, bytes('after-29'))), 'value-after-29');
  await reopened.close();
});

test('checkpoints start by themselves after checkpointWalBytes of WAL', async (t) => {
  const dir = await tempDir(t);
  const { store } = await WorkerStore.open(storeOptions(dir, { walSegmentBytesMax: 2048, checkpointWalBytes: 8192, commitBatchRecordsMax: 10 }));
  await putMany(store, 'k', 400);
  await delayMs(50);
  t.true(store.stats().checkpoints >= 2);
  t.true(store.stats().walBytes < 8192 + 4096, 'retired segments no longer count');
  await store.close();
});

test('data held only by LMDB survives close and open', async (t) => {
  const dir = await tempDir(t);
  const options = storeOptions(dir, { walSegmentBytesMax: 2048, commitBatchRecordsMax: 10 });
  const { store } = await WorkerStore.open(options);
  const lastLsn = await putMany(store, 'k', 100);
  await store.checkpoint();
  await store.close();
  t.deepEqual(await segmentFiles(dir).then((files) => files.length <= 1), true);

  const { store: reopened, recovery } = await WorkerStore.open(options);
  t.is(recovery.checkpointLsn, lastLsn);
  t.is(recovery.replayedRecords, 0);
  t.is(reopened.stats().walBytes, 0, 'segments covered by the checkpoint are gone');
  for (let i = 0; i < 100; i += 1) t.is(text(reopened.get(1, bytes(`k-${i}`))), `value-k-${i}`);
  t.is(reopened.put(1, bytes('next'), bytes('x')), lastLsn + 1);
  await reopened.close();
});

for (const durability of ['fsync', 'interval', 'none'] as const satisfies readonly Durability[]) {
  test(`durability '${durability}' acknowledges writes and keeps them across reopen`, async (t) => {
    const dir = await tempDir(t);
    const files = new FaultyWalFileSystem();
    const { store } = await WorkerStore.open(storeOptions(dir, { durability, syncIntervalMs: 20, files }));
    const lsn = store.put(1, bytes('k'), bytes(durability));
    await waitDurable(store, lsn);
    const [segment] = await segmentFiles(dir);
    // The one record's bytes; the zeros after it are the segment's preallocated space.
    const decoded = decodeRecord(await fsp.readFile(segment!), 0);
    const size = decoded.kind === 'record' ? decoded.bytes : -1;
    t.true(size > 0);
    if (durability === 'fsync') t.is(files.syncedBytesOf(segment!), size, 'synced before it was acknowledged');
    await delayMs(120);
    const syncedBytes = files.syncedBytesOf(segment!);
    if (durability === 'interval') t.is(syncedBytes, size, 'the timer synced it');
    if (durability === 'none') t.is(syncedBytes, 0, 'nothing syncs it before a checkpoint');
    await store.checkpoint();
    t.is(files.syncedBytesOf(segment!), size, 'a checkpoint syncs the WAL in every mode');
    await store.close();

    const { store: reopened } = await WorkerStore.open(storeOptions(dir, { durability }));
    t.is(text(reopened.get(1, bytes('k'))), durability);
    await reopened.close();
  });
}

test('past pendingRecordsMax a write is refused with an overload error', async (t) => {
  const dir = await tempDir(t);
  const { store } = await WorkerStore.open(storeOptions(dir, { commitBatchRecordsMax: 10, pendingRecordsMax: 20 }));
  let lastLsn = 0;
  for (let i = 0; i < 20; i += 1) lastLsn = store.put(1, bytes(`k${i}`), bytes('v'));
  const error = t.throws(() => store.put(1, bytes('one-too-many'), bytes('v')), { instanceOf: StorageOverloadError });
  t.is(error?.code, 'overload');
  t.is(store.stats().pendingRecords, 20);
  await waitDurable(store, lastLsn);
  t.is(store.stats().pendingRecords, 0);
  t.is(store.put(1, bytes('accepted'), bytes('v')), lastLsn + 1);
  await store.close();
});

test('close commits pending writes; the store refuses use after close', async (t) => {
  const dir = await tempDir(t);
  const { store } = await WorkerStore.open(storeOptions(dir));
  for (let i = 0; i < 50; i += 1) store.put(2, bytes(`k${i}`), bytes(`v${i}`));
  await store.close();
  t.throws(() => store.get(2, bytes('k1')), { message: /after close/ });
  const { store: reopened } = await WorkerStore.open(storeOptions(dir));
  t.is(text(reopened.get(2, bytes('k49'))), 'v49');
  await reopened.close();
});

test('a put made just after a group commit completes is committed too', async (t) => {
  // Regression: a put landing after the flush loop's last check but before it finished was
  // left waiting forever.
  const dir = await tempDir(t);
  const { store } = await WorkerStore.open(storeOptions(dir));
  for (let i = 0; i < 50; i += 1) await waitDurable(store, store.put(1, bytes(`k${i}`), bytes('v')));
  t.is(store.durableLsn, 50);
  await store.close();
});
