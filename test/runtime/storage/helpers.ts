// Shared set-up for the storage tests: temporary worker directories removed after each test,
// store options small enough to exercise rolling and checkpoints, and waiting for durability.

import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ExecutionContext } from 'ava';
import type { WorkerStore, WorkerStoreOptions } from '../../../src/runtime/storage/worker-store.js';

export async function tempDir(t: ExecutionContext): Promise<string> {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'ringkv-storage-'));
  t.teardown(() => fsp.rm(dir, { recursive: true, force: true }));
  return dir;
}

export function storeOptions(dir: string, overrides: Partial<WorkerStoreOptions> = {}): WorkerStoreOptions {
  return {
    dir,
    partitions: [1, 2, 3],
    durability: 'fsync',
    syncIntervalMs: 20,
    walSegmentBytesMax: 64 * 1024,
    // As the node does (1 MiB there): recovery and the crash simulations must meet zero tails.
    walPreallocateBytes: 4096,
    checkpointWalBytes: 64 * 1024 * 1024,
    lmdbMapSizeBytes: 64 * 1024 * 1024,
    commitBatchRecordsMax: 256,
    ...overrides,
  };
}

export function bytes(text: string): Buffer {
  return Buffer.from(text, 'utf8');
}

export function text(value: Uint8Array | undefined): string | undefined {
  return value === undefined ? undefined : Buffer.from(value).toString('utf8');
}

/** Resolves once durableLsn reaches `lsn`; rejects if the store fails first. */
export function waitDurable(store: WorkerStore, lsn: number): Promise<void> {
  if (store.durableLsn >= lsn) return Promise.resolve();
  return new Promise((resolve, reject) => {
    store.onDurable((durableLsn) => {
      if (durableLsn >= lsn) resolve();
    });
    store.onFailure((failure) => reject(new Error(failure)));
  });
}

export function delayMs(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export async function segmentFiles(dir: string): Promise<string[]> {
  const names = await fsp.readdir(path.join(dir, 'wal'));
  return names.filter((name) => name.endsWith('.log')).sort().map((name) => path.join(dir, 'wal', name));
}

/** Puts `count` keys "<prefix>-<i>" into partition 1, one tick at a time in batches of `perTick`. */
export async function putMany(store: WorkerStore, prefix: string, count: number, perTick = 10): Promise<number> {
  let lastLsn = 0;
  for (let i = 0; i < count; i += 1) {
    lastLsn = store.put(1, bytes(`${prefix}-${i}`), bytes(`value-${prefix}-${i}`));
    if ((i + 1) % perTick === 0) await waitDurable(store, lastLsn);
  }
  await waitDurable(store, lastLsn);
  return lastLsn;
}
