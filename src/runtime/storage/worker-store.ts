// The storage of one vnode-host worker thread: a write-ahead log for durability plus one LMDB
// environment holding the current value of every key of the partitions the worker hosts. Writes
// are acknowledged by LSN through group commit; reads see pending writes through an overlay.
// It knows nothing of objects, versions or vnodes: keys and values are opaque bytes.

import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { assert } from '../../core/errors.js';
import { readCheckpointLsn, writeCheckpointLsn } from './checkpoint-file.js';
import { LmdbStore } from './lmdb-store.js';
import { lmdbDirName, replaceSyncedLmdbCopy, walDirName } from './synced-state.js';
import { realWalFileSystem } from './wal-file.js';
import type { WalFileSystem } from './wal-file.js';
import { encodeRecord } from './wal-record.js';
import type { WalOp, WalRecord } from './wal-record.js';
import { recoverWal } from './wal-recovery.js';
import { Wal } from './wal.js';

export { discardUnsynced } from './synced-state.js';
export type { WalFileSystem, WalFileHandle } from './wal-file.js';

/**
 * When a write counts as durable (durableLsn covers it), and what each mode risks:
 *
 * - 'fsync': after its batch was written to the segment and fdatasynced. A process kill
 *   (SIGKILL), a kernel crash or a power loss loses no acknowledged write.
 * - 'interval': after its batch's write() reached the OS; a timer fdatasyncs every
 *   syncIntervalMs. A process kill loses nothing (the OS holds written bytes); a power loss or
 *   kernel crash loses up to the last syncIntervalMs of acknowledged writes.
 * - 'none': after write(), with fdatasync only at checkpoints and close. A process kill loses
 *   nothing; a power loss or kernel crash loses whatever the OS had not written back yet
 *   (on Linux typically up to ~30 s, unbounded in principle).
 *
 * In every mode LMDB runs with its syncing off (MDB_NOSYNC) and is synced only by a checkpoint.
 * A process kill leaves it intact, but after a power loss or kernel crash LMDB's own caveat
 * applies: pages written since the last checkpoint may have reused pages of the synced snapshot,
 * so the file can be damaged, and recovery (which trusts LMDB up to the checkpoint) cannot tell.
 */
export type Durability = 'fsync' | 'interval' | 'none';

export type StorageLogLevel = 'info' | 'warn' | 'error';

export interface WorkerStoreOptions {
  /** e.g. <dataDir>/worker-0; created if missing. */
  dir: string;
  /** Partitions hosted; each gets a named LMDB database "p-<partition>". */
  partitions: readonly number[];
  durability: Durability;
  /** fdatasync period for 'interval'. */
  syncIntervalMs: number;
  /** A segment rolls to a new file once the next batch would take it past this. */
  walSegmentBytesMax: number;
  /**
   * Zero-filled bytes kept ahead of the WAL's appends, so that most fdatasyncs need not commit a
   * new file size (wal-file.ts); 0 turns preallocation off. Defaults to 0 here; the node's
   * configuration (walPreallocateBytes) sets 1 MiB.
   */
  walPreallocateBytes?: number;
  /** A checkpoint starts once this much WAL was written since the last one. */
  checkpointWalBytes: number;
  lmdbMapSizeBytes: number;
  /** Records per group commit (one WAL write, one fdatasync, one LMDB transaction). */
  commitBatchRecordsMax: number;
  /**
   * Writes accepted but not yet durable, across all batches; put/remove throw a
   * StorageOverloadError past it. Defaults to 64 full batches.
   */
  pendingRecordsMax?: number;
  /** Injectable for fault tests; the real file system by default. */
  files?: WalFileSystem;
  /** Fault-test mode for real-process crash tests; see discardUnsynced. */
  recordSyncedState?: boolean;
  log?: (level: StorageLogLevel, msg: string, fields?: object) => void;
}

export interface RecoveryReport {
  checkpointLsn: number;
  replayedRecords: number;
  lastLsn: number;
  tornTail: boolean;
  corruptRecord: boolean;
  truncatedBytes: number;
}

export interface WorkerStoreStats {
  walBytes: number;
  segments: number;
  durableLsn: number;
  lastLsn: number;
  commits: number;
  recordsPerCommitAvg: number;
  checkpoints: number;
  pendingRecords: number;
}

/** The storage failed (an fsync or write error); this store never acknowledges a write again. */
export class StorageFailedError extends Error {
  readonly code = 'storage_failed';
  constructor(message: string) {
    super(message);
    this.name = 'StorageFailedError';
  }
}

/** More writes are pending than pendingRecordsMax allows; retry once durableLsn advances. */
export class StorageOverloadError extends Error {
  readonly code = 'overload';
  constructor(message: string) {
    super(message);
    this.name = 'StorageOverloadError';
  }
}

/** A bound on one batch's bytes as well as its records, so one write() stays a sane size. */
const commitBatchBytesMax = 8 * 1024 * 1024;
const pendingBatchesDefault = 64;
/** Named-database slots beyond the hosted partitions, for WAL records of partitions no longer hosted. */
const spareDbSlots = 64;

interface Batch {
  readonly records: WalRecord[];
  readonly chunks: Buffer[];
  bytes: number;
}

interface PendingWrite {
  readonly lsn: number;
  readonly value: Buffer | undefined;
}

/** A batch of a partition walk; continue with `afterKey = resumeAfter` until `done`. */
export interface FoldBatch {
  readonly items: { key: Buffer; value: Buffer }[];
  readonly done: boolean;
  readonly resumeAfter: Buffer | undefined;
}

function keyString(key: Uint8Array): string {
  // latin1 maps each byte to one UTF-16 unit, so distinct keys stay distinct map keys.
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('latin1');
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function validateOptions(options: WorkerStoreOptions): void {
  assert(options.dir.length > 0, 'dir is required');
  assert(options.syncIntervalMs > 0, 'syncIntervalMs must be positive');
  assert(options.walSegmentBytesMax > 0, 'walSegmentBytesMax must be positive');
  assert(options.walPreallocateBytes === undefined || (Number.isInteger(options.walPreallocateBytes) && options.walPreallocateBytes >= 0), 'walPreallocateBytes must be a non-negative integer');
  assert(options.checkpointWalBytes > 0, 'checkpointWalBytes must be positive');
  assert(options.lmdbMapSizeBytes > 0, 'lmdbMapSizeBytes must be positive');
  assert(Number.isInteger(options.commitBatchRecordsMax) && options.commitBatchRecordsMax >= 1, 'commitBatchRecordsMax must be >= 1');
  assert(
    options.pendingRecordsMax === undefined || options.pendingRecordsMax >= options.commitBatchRecordsMax,
    'pendingRecordsMax must hold at least one batch',
  );
  assert(new Set(options.partitions).size === options.partitions.length, 'partitions must be distinct');
}

export class WorkerStore {
  private readonly durableListeners: ((durableLsn: number) => void)[] = [];
  private readonly failureListeners: ((failure: string) => void)[] = [];
  /** Writes not yet applied to LMDB, per partition, by key; the newest write per key wins. */
  private readonly overlay = new Map<number, Map<string, PendingWrite>>();
  /** Batches waiting for a flush, oldest first; the last one is being filled. */
  private batches: Batch[] = [];
  private readonly pendingRecordsMax: number;
  private pendingRecordCount = 0;
  private nextLsn: number;
  private durableLsnValue: number;
  /** Highest LSN applied to LMDB; a checkpoint records this. */
  private appliedLsn: number;
  private failureReason: string | undefined;
  private flushScheduled = false;
  private flushRunning: Promise<void> | undefined;
  private checkpointQueued = false;
  private checkpointChain: Promise<void> = Promise.resolve();
  private timerSync: Promise<void> | undefined;
  private readonly syncTimer: NodeJS.Timeout | undefined;
  private walBytesSinceCheckpoint = 0;
  private commits = 0;
  private recordsCommitted = 0;
  private checkpoints = 0;
  private closing: Promise<void> | undefined;
  private closed = false;

  private constructor(
    private readonly options: WorkerStoreOptions,
    private readonly files: WalFileSystem,
    private readonly wal: Wal,
    private readonly lmdb: LmdbStore,
    lastLsn: number,
  ) {
    this.pendingRecordsMax = options.pendingRecordsMax ?? options.commitBatchRecordsMax * pendingBatchesDefault;
    this.nextLsn = lastLsn + 1;
    this.durableLsnValue = lastLsn;
    this.appliedLsn = lastLsn;
    if (options.durability === 'interval') {
      this.syncTimer = setInterval(() => this.syncOnTimer(), options.syncIntervalMs);
      this.syncTimer.unref();
    }
  }

  static async open(options: WorkerStoreOptions): Promise<{ store: WorkerStore; recovery: RecoveryReport }> {
    validateOptions(options);
    const files = options.files ?? realWalFileSystem;
    const log = options.log ?? (() => undefined);
    const walDir = path.join(options.dir, walDirName);
    const lmdbDir = path.join(options.dir, lmdbDirName);
    await files.mkdirp(walDir);
    await fsp.mkdir(lmdbDir, { recursive: true });

    const checkpointLsn = await readCheckpointLsn(files, options.dir);
    const lmdb = LmdbStore.open(lmdbDir, options.partitions, options.lmdbMapSizeBytes, options.partitions.length + spareDbSlots);
    try {
      const replay = (records: readonly WalRecord[]): void => {
        for (const record of records) {
          if (lmdb.hasPartition(record.partition)) continue;
          log('warn', 'wal holds records of a partition this worker does not host; keeping them', { partition: record.partition });
          lmdb.openPartition(record.partition);
        }
        lmdb.apply(records);
      };
      const recovered = await recoverWal(files, walDir, checkpointLsn, replay, log);
      // A log cut back below the checkpoint (its tail was never synced) must not reuse LSNs LMDB already holds.
      const lastLsn = Math.max(recovered.lastLsn, checkpointLsn);
      const recordSyncedState = options.recordSyncedState ?? false;
      const wal = new Wal(
        { files, walDir, segmentBytesMax: options.walSegmentBytesMax, preallocateBytes: options.walPreallocateBytes ?? 0, recordSyncedState },
        recovered.segments,
      );
      if (recordSyncedState) await wal.recordRecoveredState();
      const recovery: RecoveryReport = {
        checkpointLsn,
        replayedRecords: recovered.replayedRecords,
        lastLsn,
        tornTail: recovered.tornTail,
        corruptRecord: recovered.corruptRecord,
        truncatedBytes: recovered.truncatedBytes,
      };
      log('info', 'worker store recovered', { dir: options.dir, ...recovery });
      const store = new WorkerStore(options, files, wal, lmdb, lastLsn);
      store.walBytesSinceCheckpoint = wal.bytes;
      return { store, recovery };
    } catch (error) {
      lmdb.close();
      throw error;
    }
  }

  /** Highest LSN that is acknowledged-safe under the durability mode. */
  get durableLsn(): number {
    return this.durableLsnValue;
  }

  /** Set after an fsync or write error; from then on writes throw and durableLsn stays put. */
  get failure(): string | undefined {
    return this.failureReason;
  }

  get pendingRecords(): number {
    return this.pendingRecordCount;
  }

  /** The newest value of `key`, pending writes included; a copy the caller may keep. */
  get(partition: number, key: Uint8Array): Uint8Array | undefined {
    this.assertUsable();
    const overlay = this.overlay.get(partition);
    // Most reads find nothing pending for their partition: no map key to build then.
    const pending = overlay === undefined || overlay.size === 0 ? undefined : overlay.get(keyString(key));
    if (pending !== undefined) return pending.value === undefined ? undefined : Buffer.from(pending.value);
    return this.lmdb.get(partition, Buffer.from(key.buffer, key.byteOffset, key.byteLength));
  }

  /** LSN of the not-yet-durable write that get() reflects for this key, or 0 when it is durable. */
  pendingLsnOf(partition: number, key: Uint8Array): number {
    this.assertUsable();
    const overlay = this.overlay.get(partition);
    return overlay === undefined || overlay.size === 0 ? 0 : (overlay.get(keyString(key))?.lsn ?? 0);
  }

  /** Logs a put and returns its LSN; it is durable once durableLsn reaches that LSN. */
  put(partition: number, key: Uint8Array, value: Uint8Array): number {
    return this.append(partition, 'put', key, value);
  }

  /** Logs a physical delete and returns its LSN. */
  remove(partition: number, key: Uint8Array): number {
    return this.append(partition, 'remove', key, undefined);
  }

  /** `listener` runs after each group commit advances durableLsn. */
  onDurable(listener: (durableLsn: number) => void): void {
    this.durableListeners.push(listener);
  }

  /** `listener` runs once, when the store fails; pending writes will never become durable. */
  onFailure(listener: (failure: string) => void): void {
    this.failureListeners.push(listener);
  }

  /** Every key of the partition with its newest value, pending writes included; unordered. */
  forEach(partition: number, fn: (key: Uint8Array, value: Uint8Array) => void): void {
    this.assertUsable();
    const pending = this.overlay.get(partition);
    this.lmdb.forEach(partition, (key, value) => {
      if (pending === undefined || !pending.has(keyString(key))) fn(key, value);
    });
    if (pending === undefined) return;
    for (const [key, write] of pending) {
      if (write.value !== undefined) fn(Buffer.from(key, 'latin1'), Buffer.from(write.value));
    }
  }

  /**
   * One batch of a partition's keys after `afterKey`, in key order, pending writes included (a
   * pending remove hides the key). Handoff walks a partition with it, batch by batch.
   */
  foldBatch(partition: number, afterKey: Uint8Array | undefined, maxItems: number, maxBytes: number): FoldBatch {
    this.assertUsable();
    const stored = this.lmdb.range(partition, afterKey, maxItems, maxBytes);
    const resumeAfter = stored.done ? undefined : stored.items[stored.items.length - 1]!.key;
    const pending = this.overlay.get(partition);
    if (pending === undefined || pending.size === 0) return { ...stored, resumeAfter };
    const after = afterKey === undefined ? undefined : Buffer.from(afterKey);
    const upTo = stored.done ? undefined : stored.items[stored.items.length - 1]?.key;
    const byKey = new Map<string, { key: Buffer; value: Buffer | undefined }>();
    for (const item of stored.items) byKey.set(keyString(item.key), item);
    for (const [k, write] of pending) {
      const key = Buffer.from(k, 'latin1');
      if (after !== undefined && Buffer.compare(key, after) <= 0) continue;
      if (upTo !== undefined && Buffer.compare(key, upTo) > 0) continue;
      byKey.set(k, { key, value: write.value });
    }
    const items = [...byKey.values()].filter((i): i is { key: Buffer; value: Buffer } => i.value !== undefined).sort((a, b) => Buffer.compare(a.key, b.key));
    // The next batch starts after the last key read from LMDB, even when a pending remove hid it.
    return { items, done: stored.done, resumeAfter };
  }

  /**
   * Objects stored for the partition (committed to LMDB; pending writes not counted). The vnode's
   * own record (its actor id, the one key starting with a zero byte, first in key order) is not one.
   */
  countObjects(partition: number): number {
    this.assertUsable();
    const count = this.lmdb.count(partition);
    const first = this.lmdb.range(partition, undefined, 1, Number.MAX_SAFE_INTEGER).items[0];
    return first !== undefined && first.key[0] === 0 ? count - 1 : count;
  }

  stats(): WorkerStoreStats {
    return {
      walBytes: this.wal.bytes,
      segments: this.wal.segmentCount,
      durableLsn: this.durableLsnValue,
      lastLsn: this.nextLsn - 1,
      commits: this.commits,
      recordsPerCommitAvg: this.commits === 0 ? 0 : this.recordsCommitted / this.commits,
      checkpoints: this.checkpoints,
      pendingRecords: this.pendingRecordCount,
    };
  }

  /** Runs a checkpoint covering every write applied so far (after any checkpoint under way). */
  checkpoint(): Promise<void> {
    this.assertUsable();
    return this.enqueueCheckpoint();
  }

  /** Commits what is pending, checkpoints and closes the environment; nothing works afterwards. */
  close(): Promise<void> {
    this.closing ??= this.closeOnce();
    return this.closing;
  }

  private append(partition: number, op: WalOp, key: Uint8Array, value: Uint8Array | undefined): number {
    this.assertUsable();
    assert(this.closing === undefined, 'write after close');
    if (this.failureReason !== undefined) throw new StorageFailedError(`storage failed: ${this.failureReason}`);
    assert(this.lmdb.hasPartition(partition), `partition ${partition} is not hosted by this store`);
    if (this.pendingRecordCount >= this.pendingRecordsMax) {
      throw new StorageOverloadError(`${this.pendingRecordCount} writes are waiting for durability (max ${this.pendingRecordsMax})`);
    }
    const lsn = this.nextLsn;
    const { bytes, record } = encodeRecord(lsn, partition, op, key, value);
    this.nextLsn += 1;
    let batch = this.batches.at(-1);
    if (batch === undefined || batch.records.length >= this.options.commitBatchRecordsMax || batch.bytes >= commitBatchBytesMax) {
      batch = { records: [], chunks: [], bytes: 0 };
      this.batches.push(batch);
    }
    batch.records.push(record);
    batch.chunks.push(bytes);
    batch.bytes += bytes.length;
    this.pendingRecordCount += 1;
    let pending = this.overlay.get(partition);
    if (pending === undefined) {
      pending = new Map();
      this.overlay.set(partition, pending);
    }
    pending.set(keyString(record.key), { lsn, value: record.value });
    this.scheduleFlush();
    return lsn;
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.flushRunning !== undefined) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.startFlushing();
    });
  }

  private startFlushing(): void {
    if (this.flushRunning !== undefined || this.batches.length === 0) return;
    this.flushRunning = this.flushAll().finally(() => {
      this.flushRunning = undefined;
      // A put between the loop's last check and now found a flush running and scheduled none.
      if (this.batches.length > 0 && this.failureReason === undefined) this.scheduleFlush();
    });
  }

  /** One group commit after another until no batch is waiting; at most one runs at a time. */
  private async flushAll(): Promise<void> {
    while (this.batches.length > 0 && this.failureReason === undefined) {
      const batch = this.batches.shift()!;
      await this.commitBatch(batch);
    }
  }

  private async commitBatch(batch: Batch): Promise<void> {
    const firstLsn = batch.records[0]!.lsn;
    const lastLsn = batch.records.at(-1)!.lsn;
    try {
      await this.wal.append(Buffer.concat(batch.chunks, batch.bytes), firstLsn, lastLsn);
      if (this.options.durability === 'fsync') await this.wal.sync();
      // Checked again because a failing timer sync may have failed the store meanwhile.
      if (this.failureReason !== undefined) return;
      this.lmdb.apply(batch.records);
    } catch (error) {
      this.fail(`group commit of lsn ${firstLsn}..${lastLsn} failed: ${describe(error)}`);
      return;
    }
    this.appliedLsn = lastLsn;
    this.walBytesSinceCheckpoint += batch.bytes;
    this.commits += 1;
    this.recordsCommitted += batch.records.length;
    this.pendingRecordCount -= batch.records.length;
    for (const record of batch.records) {
      const pending = this.overlay.get(record.partition);
      const key = keyString(record.key);
      if (pending?.get(key)?.lsn === record.lsn) pending.delete(key);
    }
    this.durableLsnValue = lastLsn;
    for (const listener of this.durableListeners) listener(lastLsn);
    if (this.walBytesSinceCheckpoint >= this.options.checkpointWalBytes && !this.checkpointQueued && this.closing === undefined) {
      this.enqueueCheckpoint().catch(() => undefined);
    }
  }

  private syncOnTimer(): void {
    if (this.timerSync !== undefined || this.failureReason !== undefined || this.closing !== undefined) return;
    this.timerSync = this.wal
      .sync()
      .catch((error: unknown) => this.fail(`interval fdatasync failed: ${describe(error)}`))
      .finally(() => {
        this.timerSync = undefined;
      });
  }

  private enqueueCheckpoint(): Promise<void> {
    this.checkpointQueued = true;
    const run = this.checkpointChain.then(() => {
      this.checkpointQueued = false;
      return this.runCheckpoint();
    });
    this.checkpointChain = run.catch(() => undefined);
    return run;
  }

  private async runCheckpoint(): Promise<void> {
    if (this.failureReason !== undefined) throw new StorageFailedError(`storage failed: ${this.failureReason}`);
    const lsn = this.appliedLsn;
    const walBytesCovered = this.walBytesSinceCheckpoint;
    try {
      // The WAL up to lsn must be durable before a checkpoint claims lsn (a no-op in 'fsync').
      await this.wal.sync();
      await this.lmdb.sync();
      if (this.options.recordSyncedState === true) {
        await replaceSyncedLmdbCopy(this.options.dir, (target) => this.lmdb.copyTo(target));
      }
      await writeCheckpointLsn(this.files, this.options.dir, lsn);
      this.walBytesSinceCheckpoint = Math.max(0, this.walBytesSinceCheckpoint - walBytesCovered);
      this.checkpoints += 1;
      const retired = await this.wal.retire(lsn);
      this.log('info', 'checkpoint', { lsn, retiredSegments: retired });
    } catch (error) {
      this.fail(`checkpoint at lsn ${lsn} failed: ${describe(error)}`);
      throw new StorageFailedError(`storage failed: ${this.failureReason ?? describe(error)}`);
    }
  }

  private fail(reason: string): void {
    if (this.failureReason !== undefined) return;
    this.failureReason = reason;
    this.log('error', 'storage failed; no write will be acknowledged again', { reason, durableLsn: this.durableLsnValue });
    // Writes that were never applied will never become durable; reads no longer see them.
    this.batches = [];
    this.pendingRecordCount = 0;
    this.overlay.clear();
    if (this.syncTimer !== undefined) clearInterval(this.syncTimer);
    for (const listener of this.failureListeners) listener(reason);
  }

  private async closeOnce(): Promise<void> {
    if (this.syncTimer !== undefined) clearInterval(this.syncTimer);
    // Commit every batch still waiting; startFlushing picks up batches a scheduled flush would.
    for (;;) {
      this.startFlushing();
      if (this.flushRunning === undefined) break;
      await this.flushRunning;
    }
    await this.timerSync;
    if (this.failureReason === undefined) {
      await this.enqueueCheckpoint().catch(() => undefined);
    }
    await this.checkpointChain;
    if (this.failureReason === undefined) {
      await this.wal.close().catch((error: unknown) => this.fail(`closing the wal failed: ${describe(error)}`));
    } else {
      await this.wal.abandon();
    }
    this.lmdb.close();
    this.closed = true;
  }

  private assertUsable(): void {
    assert(!this.closed, 'worker store used after close');
  }

  private log(level: StorageLogLevel, msg: string, fields?: object): void {
    this.options.log?.(level, msg, fields);
  }
}
