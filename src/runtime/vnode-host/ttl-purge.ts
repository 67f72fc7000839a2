// The background purge of expired objects on one vnode-host worker: it walks each hosted
// partition in bounded chunks, one chunk per event-loop turn, and removes the objects whose every
// sibling has expired, each through the vnode's removeIfUnchanged, so a write that lands between
// the scan and the removal keeps its key. It decides nothing about visibility: an expired object
// already reads as not found everywhere; the purge only frees its space (docs/ttl.md).

import { DecodeError } from '../../core/codec.js';
import { isPurgeable } from '../../core/vnode.js';
import type { FoldSource } from './vnode-trees.js';

export interface TtlPurgeOptions {
  readonly source: FoldSource;
  /** The partitions to walk, read at the start of each sweep. */
  readonly partitions: () => readonly number[];
  /** Removes the key if it still holds exactly `value` (VnodeActor.removeIfUnchanged); true if removed. */
  readonly purge: (partition: number, key: Uint8Array, value: Uint8Array) => boolean;
  /** Resolves on a later event-loop turn, after the mailboxes had their turn (setImmediate). */
  readonly yieldTurn: () => Promise<void>;
  readonly nowMs: () => number;
  /** Objects read per step before the worker serves its mailboxes again. */
  readonly chunkKeys: number;
}

/** One step reads at most this many bytes, whatever the key count. */
const purgeChunkBytesMax = 4 << 20;

export interface TtlPurgeStats {
  /** Expired objects removed since the worker started. */
  readonly ttlPurged: number;
  readonly ttlPurgeSweeps: number;
}

export class TtlPurger {
  private purged = 0;
  private sweeps = 0;
  private running = false;
  private stopped = false;

  constructor(private readonly options: TtlPurgeOptions) {
    if (!(options.chunkKeys >= 1)) throw new Error(`assertion failed: purge chunk of ${options.chunkKeys} keys`);
  }

  /** Walks every partition once; a sweep asked for while one runs is skipped, not queued. */
  async sweep(): Promise<void> {
    if (this.running || this.stopped) return;
    this.running = true;
    try {
      for (const partition of this.options.partitions()) {
        await this.sweepPartition(partition);
        if (this.stopped) return;
      }
      this.sweeps++;
    } finally {
      this.running = false;
    }
  }

  private async sweepPartition(partition: number): Promise<void> {
    let after: Uint8Array | undefined;
    for (;;) {
      const batch = this.options.source.foldBatch(partition, after, this.options.chunkKeys, purgeChunkBytesMax);
      const nowMs = this.options.nowMs();
      for (const item of batch.items) {
        if (item.key.length === 0 || item.key[0] === 0) continue;
        if (expired(item.value, nowMs) && this.options.purge(partition, item.key, item.value)) this.purged++;
      }
      if (batch.done) return;
      after = batch.resumeAfter;
      await this.options.yieldTurn();
      if (this.stopped) return;
    }
  }

  /** The worker is closing: a sweep under way stops at its next step. */
  stop(): void {
    this.stopped = true;
  }

  stats(): TtlPurgeStats {
    return { ttlPurged: this.purged, ttlPurgeSweeps: this.sweeps };
  }
}

/** Undecodable bytes are not this module's to judge: anti-entropy counts them; they are kept. */
function expired(value: Uint8Array, nowMs: number): boolean {
  try {
    return isPurgeable(value, nowMs);
  } catch (error) {
    if (error instanceof DecodeError) return false;
    throw error;
  }
}
