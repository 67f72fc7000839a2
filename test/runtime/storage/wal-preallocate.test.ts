// WAL preallocation: segments are zero-filled ahead of their appends so that most fdatasyncs need
// not commit a new file size. The zeros must never be mistaken for records or for damage: a clean
// close cuts them off, recovery after a crash reads them as the end of the log, and a write cut
// short by a crash (garbage before the zeros) counts as a torn tail with nothing before it lost.

import test from 'ava';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { decodeRecord } from '../../../src/runtime/storage/wal-record.js';
import { WorkerStore } from '../../../src/runtime/storage/worker-store.js';
import type { WorkerStoreOptions } from '../../../src/runtime/storage/worker-store.js';
import { FaultyWalFileSystem } from '../../../src/runtime/storage/faulty-wal-file.js';
import { discardUnsynced } from '../../../src/runtime/storage/synced-state.js';
import { bytes, delayMs, putMany, segmentFiles, storeOptions, tempDir, text, waitDurable } from './helpers.js';

const preallocateBytes = 16 * 1024;

/** Bytes of whole records at the start of `data`; the rest is whatever follows the last one. */
function recordBytes(data: Buffer): number {
  let offset = 0;
  for (;;) {
    const decoded = decodeRecord(data, offset);
    if (decoded.kind !== 'record') return offset;
    offset += decoded.bytes;
  }
}

function isAllZero(data: Buffer): boolean {
  return data.every((byte) => byte === 0);
}

/**
 * Writes `count` keys with preallocation on, then copies the WAL as a crash would leave it (the
 * store still open, its segment still carrying its zeros) into a fresh directory without LMDB,
 * so that reopening it replays everything from the log.
 */
async function crashCopy(t: import('ava').ExecutionContext, options: WorkerStoreOptions, count: number): Promise<{ copy: WorkerStoreOptions; lastLsn: number }> {
  const { store } = await WorkerStore.open(options);
  const lastLsn = await putMany(store, 'k', count);
  const copyDir = await tempDir(t);
  await fsp.cp(path.join(options.dir, 'wal'), path.join(copyDir, 'wal'), { recursive: true });
  await store.close();
  return { copy: { ...options, dir: copyDir }, lastLsn };
}

test('an open segment carries zeros after its records, and a clean close cuts them off', async (t) => {
  const dir = await tempDir(t);
  const options = storeOptions(dir, { walPreallocateBytes: preallocateBytes });
  const { store } = await WorkerStore.open(options);
  await putMany(store, 'k', 50);
  const [segment] = await segmentFiles(dir);
  const open = await fsp.readFile(segment!);
  const records = recordBytes(open);
  t.true(records > 0);
  t.true(open.length >= preallocateBytes && open.length > records, `the file (${open.length} bytes) runs past its ${records} bytes of records`);
  t.true(isAllZero(open.subarray(records)), 'everything after the records is zeros');
  await store.close();

  for (const file of await segmentFiles(dir)) {
    const closed = await fsp.readFile(file);
    t.is(recordBytes(closed), closed.length, `${path.basename(file)} holds nothing but whole records after the close`);
  }
  const { store: reopened, recovery } = await WorkerStore.open(options);
  t.false(recovery.tornTail || recovery.corruptRecord);
  t.is(text(reopened.get(1, bytes('k-49'))), 'value-k-49');
  await reopened.close();
});

test('segments roll as before, each preallocated no further than the segment size', async (t) => {
  const dir = await tempDir(t);
  const options = storeOptions(dir, { walPreallocateBytes: preallocateBytes, walSegmentBytesMax: 2048, commitBatchRecordsMax: 10 });
  const { store } = await WorkerStore.open(options);
  await putMany(store, 'k', 200);
  const files = await segmentFiles(dir);
  t.true(files.length > 3, `${files.length} segments`);
  const newest = await fsp.readFile(files.at(-1)!);
  t.true(newest.length <= 2048 + 2048, `the open segment (${newest.length} bytes) is preallocated to about the segment size, not ${preallocateBytes}`);
  await store.close();
  const { store: reopened, recovery } = await WorkerStore.open(options);
  t.is(recovery.lastLsn, 200);
  t.is(text(reopened.get(1, bytes('k-0'))), 'value-k-0');
  t.is(text(reopened.get(1, bytes('k-199'))), 'value-k-199');
  await reopened.close();
});

test('after a crash, recovery reads the zeros as the end of the log: nothing lost, nothing reported', async (t) => {
  const options = storeOptions(await tempDir(t), { walPreallocateBytes: preallocateBytes });
  const { copy, lastLsn } = await crashCopy(t, options, 60);
  const [segment] = await segmentFiles(copy.dir);
  t.true((await fsp.stat(segment!)).size > recordBytes(await fsp.readFile(segment!)), 'the copied segment still has its zeros');

  const { store, recovery } = await WorkerStore.open(copy);
  t.like(recovery, { lastLsn, replayedRecords: lastLsn, tornTail: false, corruptRecord: false, truncatedBytes: 0 });
  for (let i = 0; i < 60; i += 1) t.is(text(store.get(1, bytes(`k-${i}`))), `value-k-${i}`);
  const kept = await fsp.readFile(segment!);
  t.is(recordBytes(kept), kept.length, 'recovery cut the zeros off the segment it keeps');
  t.is(store.put(1, bytes('after'), bytes('fresh')), lastLsn + 1, 'the log goes on from the last record');
  await store.close();
  const { store: reopened, recovery: again } = await WorkerStore.open(copy);
  t.false(again.tornTail || again.corruptRecord);
  t.is(text(reopened.get(1, bytes('after'))), 'fresh');
  await reopened.close();
});

test('a write cut short by a crash, garbage before the zeros, is a torn tail and loses nothing before it', async (t) => {
  const options = storeOptions(await tempDir(t), { walPreallocateBytes: preallocateBytes });
  const { copy, lastLsn } = await crashCopy(t, options, 40);
  const [segment] = await segmentFiles(copy.dir);
  const data = await fsp.readFile(segment!);
  const end = recordBytes(data);
  // The first half of a copy of the last whole record, as if only its first page reached the disk.
  let last = 0;
  for (let offset = 0; offset < end; ) {
    const decoded = decodeRecord(data, offset);
    if (decoded.kind !== 'record') break;
    last = offset;
    offset += decoded.bytes;
  }
  const torn = data.subarray(last, last + Math.ceil((end - last) / 2));
  const handle = await fsp.open(segment!, 'r+');
  await handle.write(torn, 0, torn.length, end);
  await handle.close();

  const { store, recovery } = await WorkerStore.open(copy);
  t.like(recovery, { lastLsn, tornTail: true, corruptRecord: false, truncatedBytes: torn.length });
  t.is(text(store.get(1, bytes('k-39'))), 'value-k-39');
  t.is(store.put(1, bytes('after'), bytes('fresh')), lastLsn + 1);
  await store.close();
  const { store: reopened, recovery: again } = await WorkerStore.open(copy);
  t.false(again.tornTail || again.corruptRecord, 'the repaired log reads cleanly');
  t.is(text(reopened.get(1, bytes('after'))), 'fresh');
  await reopened.close();
});

test('a segment of nothing but zeros (a crash before its first record landed) is removed', async (t) => {
  const options = storeOptions(await tempDir(t), { walPreallocateBytes: preallocateBytes, walSegmentBytesMax: 2048, commitBatchRecordsMax: 10 });
  const { copy, lastLsn } = await crashCopy(t, options, 30);
  const files = await segmentFiles(copy.dir);
  const empty = path.join(copy.dir, 'wal', `${String(lastLsn + 1).padStart(16, '0')}.log`);
  await fsp.writeFile(empty, Buffer.alloc(2048));

  const { store, recovery } = await WorkerStore.open(copy);
  t.like(recovery, { lastLsn, tornTail: false, corruptRecord: false, truncatedBytes: 0 });
  t.deepEqual(await segmentFiles(copy.dir), files, 'the zero-filled segment is gone, the others kept');
  t.is(text(store.get(1, bytes('k-29'))), 'value-k-29');
  await store.close();
});

test('a last record that ends in zero bytes keeps them: recovered whole, twice, and the log goes on', async (t) => {
  // Zeros that end a record (a value or key ending in zero bytes) are the record's, not the
  // preallocated tail: cutting them off would tear an acknowledged record, which the next
  // recovery would then drop along with every segment after it.
  const options = storeOptions(await tempDir(t), { walPreallocateBytes: preallocateBytes, walSegmentBytesMax: 2048, commitBatchRecordsMax: 10 });
  const first = await WorkerStore.open(options);
  const zeroValue = Buffer.from([1, 0, 0, 0]);
  const zeroKey = Buffer.from([7, 7, 0, 0]);
  const lsnA = first.store.put(1, zeroKey, bytes('key ends in zeros'));
  const lsnB = first.store.put(1, bytes('a'), zeroValue);
  await waitDurable(first.store, lsnB);
  const copyDir = await tempDir(t);
  await fsp.cp(path.join(options.dir, 'wal'), path.join(copyDir, 'wal'), { recursive: true });
  await first.store.close();
  const copy = { ...options, dir: copyDir };

  const second = await WorkerStore.open(copy);
  t.like(second.recovery, { lastLsn: lsnB, tornTail: false, corruptRecord: false, truncatedBytes: 0 });
  t.deepEqual(Buffer.from(second.store.get(1, bytes('a'))!), zeroValue);
  await putMany(second.store, 'later', 40);
  // A second crash: copy again while open (segments rolled meanwhile), and recover that.
  const copyDir2 = await tempDir(t);
  await fsp.cp(path.join(copyDir, 'wal'), path.join(copyDir2, 'wal'), { recursive: true });
  await second.store.close();

  const third = await WorkerStore.open({ ...options, dir: copyDir2 });
  t.false(third.recovery.tornTail || third.recovery.corruptRecord, 'nothing torn, nothing corrupt');
  t.is(third.recovery.lastLsn, lsnB + 40);
  t.deepEqual(Buffer.from(third.store.get(1, bytes('a'))!), zeroValue);
  t.is(text(third.store.get(1, zeroKey)), 'key ends in zeros');
  t.is(text(third.store.get(1, bytes('later-39'))), 'value-later-39');
  t.true(lsnA < lsnB);
  await third.store.close();
});

test('a simulated power loss in a preallocated segment turns unsynced bytes back into zeros', async (t) => {
  const dir = await tempDir(t);
  const files = new FaultyWalFileSystem();
  const options = storeOptions(dir, { walPreallocateBytes: preallocateBytes });
  const { store } = await WorkerStore.open({ ...options, files });
  const durable = await putMany(store, 'k', 30);
  files.failNextDatasync(1);
  store.put(1, bytes('unsynced'), bytes('never acknowledged'));
  await delayMs(50);
  t.is(store.durableLsn, durable, 'the last write never became durable');
  await files.crash();
  await store.close();
  const [segment] = await segmentFiles(dir);
  const data = await fsp.readFile(segment!);
  const records = recordBytes(data);
  t.true(data.length > records && isAllZero(data.subarray(records)), 'the file keeps its synced length, zeros after the synced records');

  const { store: reopened, recovery } = await WorkerStore.open(options);
  t.like(recovery, { lastLsn: durable, tornTail: false, corruptRecord: false });
  t.is(text(reopened.get(1, bytes('k-29'))), 'value-k-29');
  t.is(reopened.get(1, bytes('unsynced')), undefined);
  await reopened.close();
});

test('discardUnsynced leaves a preallocated segment its synced length, unsynced bytes zeroed', async (t) => {
  const dir = await tempDir(t);
  const files = new FaultyWalFileSystem();
  const options = storeOptions(dir, { walPreallocateBytes: preallocateBytes, recordSyncedState: true });
  const { store } = await WorkerStore.open({ ...options, files });
  const durable = await putMany(store, 'k', 30);
  files.failNextDatasync(1);
  store.put(1, bytes('unsynced'), bytes('never acknowledged'));
  await delayMs(50);
  t.is(store.durableLsn, durable);
  // What a SIGKILL leaves: the unsynced record is in the file, after the synced ones.
  const killed = await tempDir(t);
  await fsp.cp(dir, killed, { recursive: true });
  await store.close();
  const [before] = await segmentFiles(killed);
  const sizeBefore = (await fsp.stat(before!)).size;

  await discardUnsynced(killed);
  const [segment] = await segmentFiles(killed);
  const data = await fsp.readFile(segment!);
  t.is(data.length, sizeBefore, 'the length the last sync made durable is kept');
  const records = recordBytes(data);
  t.true(isAllZero(data.subarray(records)), 'the unsynced record became zeros');
  const { store: reopened, recovery } = await WorkerStore.open({ ...options, dir: killed });
  t.like(recovery, { lastLsn: durable, tornTail: false, corruptRecord: false });
  t.is(text(reopened.get(1, bytes('k-29'))), 'value-k-29');
  t.is(reopened.get(1, bytes('unsynced')), undefined);
  await reopened.close();
});

test('with preallocation off, segments grow by their appends alone', async (t) => {
  const dir = await tempDir(t);
  const { store } = await WorkerStore.open(storeOptions(dir, { walPreallocateBytes: 0 }));
  await putMany(store, 'k', 50);
  const [segment] = await segmentFiles(dir);
  const data = await fsp.readFile(segment!);
  t.is(recordBytes(data), data.length);
  await store.close();
});
