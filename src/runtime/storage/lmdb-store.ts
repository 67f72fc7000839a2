// The LMDB half of a WorkerStore: one node-lmdb environment, one named database per partition,
// batches of WAL records applied in one write transaction, and reads through a reusable read
// transaction renewed after each commit. LMDB's own syncing is off: the WAL is the durability,
// and a checkpoint calls sync(). One thread opens and closes an environment, never two.

import { closeSync, fsync, openSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { assert } from '../../core/errors.js';
import type { WalRecord } from './wal-record.js';

type LmdbModule = typeof import('node-lmdb');
type Env = InstanceType<LmdbModule['Env']>;
type Dbi = ReturnType<Env['openDbi']>;
type Txn = ReturnType<Env['beginTxn']>;
/** node-lmdb has env.copy(path, compact, callback) but its typings omit it. */
type EnvWithCopy = Env & { copy(path: string, compact: boolean, callback: (error: Error | null) => void): void };

const lmdb = createRequire(import.meta.url)('node-lmdb') as LmdbModule;
const keyIsBuffer = { keyIsBuffer: true } as const;

function partitionDbName(partition: number): string {
  return `p-${partition}`;
}

function isNotFound(error: unknown): boolean {
  return error instanceof Error && error.message.includes('MDB_NOTFOUND');
}

export class LmdbStore {
  private readonly dbis = new Map<number, Dbi>();
  private readTxn: Txn;
  /** The read transaction was reset after a commit and must be renewed before the next read. */
  private readTxnReset = false;
  private closed = false;

  private constructor(
    private readonly env: EnvWithCopy,
    private readonly maxDbs: number,
    /** The environment's data file, opened read-only, for sync(). */
    private readonly dataFd: number,
  ) {
    this.readTxn = env.beginTxn({ readOnly: true });
  }

  /** Opens (creating if needed) the environment in `dir`, which must exist. */
  static open(dir: string, partitions: readonly number[], mapSizeBytes: number, maxDbs: number): LmdbStore {
    assert(partitions.length <= maxDbs, `${partitions.length} partitions exceed maxDbs ${maxDbs}`);
    const env = new lmdb.Env() as EnvWithCopy;
    env.open({ path: dir, mapSize: mapSizeBytes, maxDbs, noSync: true });
    const store = new LmdbStore(env, maxDbs, openSync(join(dir, 'data.mdb'), 'r'));
    for (const partition of partitions) store.openPartition(partition);
    return store;
  }

  hasPartition(partition: number): boolean {
    return this.dbis.has(partition);
  }

  /** Opens the partition's database, creating it when new. */
  openPartition(partition: number): void {
    assert(!this.closed, 'LMDB used after close');
    if (this.dbis.has(partition)) return;
    assert(this.dbis.size < this.maxDbs, `no database slot left for partition ${partition}`);
    this.dbis.set(partition, this.env.openDbi({ name: partitionDbName(partition), create: true, keyIsBuffer: true }));
    // A read transaction begun before the database was opened does not know its handle.
    this.resetReadTxn();
  }

  get(partition: number, key: Buffer): Buffer | undefined {
    const value = this.freshReadTxn().getBinary(this.dbi(partition), key, keyIsBuffer) as Buffer | null;
    return value ?? undefined;
  }

  /** Applies the records in order in one write transaction; a remove of a missing key is a no-op. */
  apply(records: readonly WalRecord[]): void {
    const txn = this.env.beginTxn();
    try {
      for (const record of records) {
        const dbi = this.dbi(record.partition);
        if (record.value !== undefined) {
          txn.putBinary(dbi, record.key, record.value, keyIsBuffer);
          continue;
        }
        try {
          txn.del(dbi, record.key, keyIsBuffer);
        } catch (error) {
          if (!isNotFound(error)) throw error;
        }
      }
    } catch (error) {
      txn.abort();
      throw error;
    }
    txn.commit();
    // The read transaction still sees the snapshot before this commit; let the next read renew it.
    this.resetReadTxn();
  }

  forEach(partition: number, fn: (key: Buffer, value: Buffer) => void): void {
    const cursor = new lmdb.Cursor<Buffer>(this.freshReadTxn(), this.dbi(partition), keyIsBuffer);
    try {
      for (let key = cursor.goToFirst(keyIsBuffer); key !== null; key = cursor.goToNext(keyIsBuffer)) {
        const value = cursor.getCurrentBinary();
        assert(value !== null, 'cursor positioned on a key has a value');
        fn(key, value);
      }
    } finally {
      cursor.close();
    }
  }

  /**
   * The keys after `afterKey` (from the first when undefined) in key order, up to `maxItems`
   * items or about `maxBytes` bytes; `done` when the partition has nothing further.
   */
  range(partition: number, afterKey: Uint8Array | undefined, maxItems: number, maxBytes: number): { items: { key: Buffer; value: Buffer }[]; done: boolean } {
    const cursor = new lmdb.Cursor<Buffer>(this.freshReadTxn(), this.dbi(partition), keyIsBuffer);
    const items: { key: Buffer; value: Buffer }[] = [];
    let bytes = 0;
    try {
      const start = afterKey === undefined ? undefined : Buffer.from(afterKey.buffer, afterKey.byteOffset, afterKey.byteLength);
      let key = start === undefined ? cursor.goToFirst(keyIsBuffer) : cursor.goToRange(start, keyIsBuffer);
      if (key !== null && start !== undefined && key.equals(start)) key = cursor.goToNext(keyIsBuffer);
      for (; key !== null; key = cursor.goToNext(keyIsBuffer)) {
        if (items.length >= maxItems || bytes >= maxBytes) return { items, done: false };
        const value = cursor.getCurrentBinary();
        assert(value !== null, 'cursor positioned on a key has a value');
        items.push({ key: Buffer.from(key), value: Buffer.from(value) });
        bytes += key.length + value.length;
      }
      return { items, done: true };
    } finally {
      cursor.close();
    }
  }

  /** Number of keys stored in the partition (committed transactions only). */
  count(partition: number): number {
    return this.dbi(partition).stat(this.freshReadTxn()).entryCount;
  }

  /**
   * Flushes every committed transaction to disk: fsync of the data file, on the libuv thread
   * pool. That is what mdb_env_sync(force) does for an environment like this one (no WRITEMAP:
   * commits pwrite() their pages, so flushing the file is the whole of it; LMDB uses fdatasync
   * on kernels from 3.6 and fsync before, and fsync is right on both). It is called through
   * Node, not through node-lmdb's env.sync: that one completes on a Nan AsyncWorker, and a
   * worker thread terminated while it was in flight crashed the whole process when it completed
   * (SIGSEGV in HandleScope, seen on forced exits; test/runtime/storage/lmdb-sync.test.ts).
   */
  sync(): Promise<void> {
    assert(!this.closed, 'LMDB used after close');
    return new Promise((resolve, reject) => {
      fsync(this.dataFd, (error) => (error ? reject(error) : resolve()));
    });
  }

  /** Copies the environment's data file into `dir`, which must exist and hold no data.mdb. */
  copyTo(dir: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.env.copy(dir, false, (error) => (error ? reject(error) : resolve()));
    });
  }

  /** Must not be called while sync() or copyTo() is running. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.readTxn.abort();
    for (const dbi of this.dbis.values()) dbi.close();
    this.env.close();
    closeSync(this.dataFd);
  }

  private dbi(partition: number): Dbi {
    const dbi = this.dbis.get(partition);
    assert(dbi !== undefined, `partition ${partition} is not hosted by this store`);
    return dbi;
  }

  private resetReadTxn(): void {
    if (this.readTxnReset) return;
    this.readTxn.reset();
    this.readTxnReset = true;
  }

  private freshReadTxn(): Txn {
    assert(!this.closed, 'LMDB used after close');
    if (this.readTxnReset) {
      this.readTxn.renew();
      this.readTxnReset = false;
    }
    return this.readTxn;
  }
}
