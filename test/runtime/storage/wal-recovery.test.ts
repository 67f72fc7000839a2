// Recovery from a damaged log: a torn tail and a corrupt record in the middle. Recovery must stop
// there, keep everything before it, report it, and leave a log that takes new writes.
// LMDB is removed before reopening, so every value read back comes from replaying the WAL.

import test from 'ava';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { FaultyWalFileSystem } from '../../../src/runtime/storage/faulty-wal-file.js';
import { decodeRecord } from '../../../src/runtime/storage/wal-record.js';
import { WorkerStore } from '../../../src/runtime/storage/worker-store.js';
import type { WorkerStoreOptions } from '../../../src/runtime/storage/worker-store.js';
import { bytes, putMany, segmentFiles, storeOptions, tempDir, text } from './helpers.js';

/** Writes `count` records over several segments, then stops without a checkpoint. */
async function writeWithoutCheckpoint(options: WorkerStoreOptions, count: number): Promise<void> {
  const files = new FaultyWalFileSystem();
  const { store } = await WorkerStore.open({ ...options, files });
  await putMany(store, 'k', count);
  await files.crash();
  await store.close();
  await fsp.rm(path.join(options.dir, 'lmdb'), { recursive: true });
}

/** The byte offset and LSN of every record in a segment file. */
async function recordsIn(file: string): Promise<{ offset: number; lsn: number; bytes: number }[]> {
  const data = await fsp.readFile(file);
  const records: { offset: number; lsn: number; bytes: number }[] = [];
  for (let offset = 0; offset < data.length; ) {
    const decoded = decodeRecord(data, offset);
    if (decoded.kind !== 'record') throw new Error(`unexpected ${decoded.kind} at ${offset}`);
    records.push({ offset, lsn: decoded.record.lsn, bytes: decoded.bytes });
    offset += decoded.bytes;
  }
  return records;
}

async function expectIntactUpTo(t: import('ava').ExecutionContext, store: WorkerStore, lastGoodLsn: number, count: number): Promise<void> {
  // Key k-i was written with lsn i + 1.
  for (let i = 0; i < count; i += 1) {
    const value = text(store.get(1, bytes(`k-${i}`)));
    if (i + 1 <= lastGoodLsn) t.is(value, `value-k-${i}`, `k-${i} before the bad record is intact`);
    else t.is(value, undefined, `k-${i} after the bad record is gone`);
  }
}

async function writeMoreAndReopen(t: import('ava').ExecutionContext, store: WorkerStore, options: WorkerStoreOptions, lastGoodLsn: number): Promise<void> {
  t.is(store.put(1, bytes('after-recovery'), bytes('fresh')), lastGoodLsn + 1);
  await putMany(store, 'more', 20);
  await store.close();
  const { store: reopened, recovery } = await WorkerStore.open(options);
  t.false(recovery.tornTail || recovery.corruptRecord, 'the repaired log reads cleanly');
  t.is(recovery.lastLsn, lastGoodLsn + 21);
  t.is(text(reopened.get(1, bytes('after-recovery'))), 'fresh');
  t.is(text(reopened.get(1, bytes('more-19'))), 'value-more-19');
  t.is(text(reopened.get(1, bytes('k-0'))), 'value-k-0');
  await reopened.close();
}

test('a torn tail: recovery stops at the last whole record and the log takes new writes', async (t) => {
  const dir = await tempDir(t);
  const options = storeOptions(dir, { walSegmentBytesMax: 1024, commitBatchRecordsMax: 10 });
  const count = 120;
  await writeWithoutCheckpoint(options, count);
  const segments = await segmentFiles(dir);
  t.true(segments.length >= 3);
  const last = segments.at(-1)!;
  const records = await recordsIn(last);
  const torn = records.at(-2)!;
  const { size } = await fsp.stat(last);
  await fsp.truncate(last, torn.offset + 7);

  const { store, recovery } = await WorkerStore.open(options);
  const lastGoodLsn = torn.lsn - 1;
  t.true(recovery.tornTail);
  t.false(recovery.corruptRecord);
  t.is(recovery.lastLsn, lastGoodLsn);
  t.is(recovery.replayedRecords, lastGoodLsn);
  t.is(recovery.truncatedBytes, 7);
  t.is((await fsp.stat(last)).size, torn.offset, 'the segment is cut at the last good record');
  t.true(size > torn.offset);
  await expectIntactUpTo(t, store, lastGoodLsn, count);
  await writeMoreAndReopen(t, store, options, lastGoodLsn);
});

test('a corrupt record in a middle segment: recovery keeps what precedes it and drops the rest', async (t) => {
  const dir = await tempDir(t);
  const options = storeOptions(dir, { walSegmentBytesMax: 1024, commitBatchRecordsMax: 10 });
  const count = 120;
  await writeWithoutCheckpoint(options, count);
  const segments = await segmentFiles(dir);
  t.true(segments.length >= 3);
  const middleIndex = Math.floor(segments.length / 2);
  const middle = segments[middleIndex]!;
  const records = await recordsIn(middle);
  const bad = records[Math.floor(records.length / 2)]!;
  const data = await fsp.readFile(middle);
  data[bad.offset + bad.bytes - 3] ^= 0x40; // a flipped bit inside the value
  await fsp.writeFile(middle, data);
  let laterBytes = data.length - bad.offset;
  for (const later of segments.slice(middleIndex + 1)) laterBytes += (await fsp.stat(later)).size;

  const warnings: string[] = [];
  const logged = { ...options, log: (level: string, msg: string) => void (level === 'warn' && warnings.push(msg)) };
  const { store, recovery } = await WorkerStore.open(logged);
  const lastGoodLsn = bad.lsn - 1;
  t.true(recovery.corruptRecord);
  t.false(recovery.tornTail);
  t.is(recovery.lastLsn, lastGoodLsn);
  t.is(recovery.truncatedBytes, laterBytes);
  t.is(warnings.length, 1);
  t.deepEqual(await segmentFiles(dir), segments.slice(0, middleIndex + 1), 'later segments are deleted');
  await expectIntactUpTo(t, store, lastGoodLsn, count);
  await writeMoreAndReopen(t, store, options, lastGoodLsn);
});

test('a record whose LSN breaks the sequence counts as corrupt', async (t) => {
  const dir = await tempDir(t);
  const options = storeOptions(dir, { walSegmentBytesMax: 1024 * 1024, commitBatchRecordsMax: 10 });
  await writeWithoutCheckpoint(options, 30);
  const [segment] = await segmentFiles(dir);
  const data = await fsp.readFile(segment!);
  const records = await recordsIn(segment!);
  // Swap two whole records: each is intact, but the LSN order is not.
  const a = records[10]!;
  const b = records[11]!;
  const swapped = Buffer.concat([
    data.subarray(0, a.offset),
    data.subarray(b.offset, b.offset + b.bytes),
    data.subarray(a.offset, a.offset + a.bytes),
    data.subarray(b.offset + b.bytes),
  ]);
  await fsp.writeFile(segment!, swapped);
  const { store, recovery } = await WorkerStore.open(options);
  t.true(recovery.corruptRecord);
  t.is(recovery.lastLsn, 10);
  await expectIntactUpTo(t, store, 10, 30);
  await store.close();
});
