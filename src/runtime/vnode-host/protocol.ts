// The messages between the node supervisor (main thread) and a vnode-host worker on the data
// path. Requests and replies travel in batches, one postMessage per event-loop turn per
// direction, packed into an ArrayBuffer that is transferred (batch-codec.ts). The control plane
// (stats, close) goes over a separate comlink port.

import type { ExchangeAnswer, ExchangeRequest, TreeId } from '../../core/aae-exchange.js';
import type { TreeShape } from '../../core/merkle.js';
import type { VnodeReply, VnodeRequest } from '../../core/messages.js';
import type { PackedBatch } from './batch-codec.js';
import type { WorkerStoreOptions, RecoveryReport } from '../storage/worker-store.js';

export interface WorkerInit {
  readonly workerIndex: number;
  readonly partitions: readonly number[];
  readonly store: Omit<WorkerStoreOptions, 'files' | 'log' | 'partitions'>;
  readonly vnodeMailboxCapacity: number;
  readonly logLevel: string;
  readonly logFormat: 'json' | 'pretty';
  readonly nodeName: string;
  /** Fault tests: open the store through a fault-injecting file layer and accept injectFault. */
  readonly faultInjection: boolean;
}

/** Vnode requests in the order they were sent; post it with `bin` in the transfer list. */
export interface RequestBatch extends PackedBatch<VnodeRequest> {
  readonly type: 'RequestBatch';
}

export type MainToWorker = RequestBatch;

export interface WorkerReady {
  readonly type: 'WorkerReady';
  readonly recovery: RecoveryReport;
  readonly actorIds: readonly { partition: number; actorId: string }[];
}

/** Vnode replies in the order they were made; post it with `bin` in the transfer list. */
export interface ReplyBatch extends PackedBatch<VnodeReply> {
  readonly type: 'ReplyBatch';
}

/** The store failed (an fsync error): the worker no longer acknowledges writes. */
export interface StorageFailed {
  readonly type: 'StorageFailed';
  readonly reason: string;
}

export type WorkerToMain = WorkerReady | ReplyBatch | StorageFailed;

export interface WorkerStats {
  readonly workerIndex: number;
  readonly partitions: number;
  readonly mailboxDepthMax: number;
  readonly requestsHandled: number;
  readonly repliesAwaitingDurability: number;
  readonly storage: ReturnType<import('../storage/worker-store.js').WorkerStore['stats']>;
}

/**
 * What a worker needs to keep anti-entropy trees: the ring size and each bucket type's n_val pick
 * a key's tree (its first partition and how many copies its type stores), the shape must be the
 * cluster's, and the chunk size bounds one step of a rebuild. Sent with the partitions to track,
 * not in WorkerInit: the composition root builds WorkerInit before the cluster (and so the
 * ownership) is known, and a restarted worker gets both again from the same call.
 */
export interface TreesConfig {
  readonly partitionCount: number;
  /** Bucket type name → its n_val. Keys of a type not listed are in no tree. */
  readonly typeNVals: Readonly<Record<string, number>>;
  readonly shape: TreeShape;
  /** Keys read and hashed per rebuild step, before the worker yields to its mailboxes. */
  readonly rebuildChunkKeys: number;
}

/** `pending`: tracked, waiting for a rebuild slot; `rebuilding`; `ready`: answers exchanges. */
export type TreesState = 'pending' | 'rebuilding' | 'ready';

export interface TreeSummary {
  readonly primaryPartition: number;
  readonly nVal: number;
  readonly keys: number;
  readonly nonEmptySegments: number;
  /** 16 hex digits; replicas of one preference list with equal roots hold the same versions. */
  readonly root: string;
  readonly updates: number;
}

/** The anti-entropy trees of one vnode. */
export interface VnodeTreesStats {
  readonly partition: number;
  readonly state: TreesState;
  readonly keys: number;
  readonly trees: readonly TreeSummary[];
  /** Objects the last rebuild found in no tree: hints, stray copies, bucket types not configured. */
  readonly keysOutsideTrees: number;
  /** Stored objects that could not be decoded (so could not be hashed), since tracking began. */
  readonly undecodable: number;
  readonly rebuilds: number;
  /** When the last rebuild finished (ms since the epoch), and how long it took. */
  readonly rebuiltAtMs: number | null;
  readonly rebuildMs: number | null;
  readonly rebuildChunks: number | null;
}

export type { ReapScan } from '../../../actors/reaper.js';
import type { ReapScan } from '../../../actors/reaper.js';

/** The control-plane API each worker exposes through comlink. */
export interface WorkerControl {
  stats(): WorkerStats;
  close(): Promise<void>;
  /**
   * Handoff: one batch of the partition's objects after `afterKey` (hex), in key order, pending
   * writes included; the vnode's own identity record is never part of it.
   */
  foldBatch(partition: number, afterKeyHex: string | undefined, maxItems: number, maxBytes: number): { items: { key: Uint8Array; value: Uint8Array }[]; done: boolean; resumeAfterHex: string | undefined };
  /** Objects stored for the partition (those committed to LMDB). */
  countKeys(partition: number): number;
  /**
   * Tombstone reaping: judges up to `maxItems` objects of the partition after `afterKey` (hex), in
   * key order (see judgeStored in src/core/reaping.ts); returns the tombstones old enough to reap
   * and how many younger ones it passed.
   */
  reapScan(partition: number, partitionCount: number, afterKeyHex: string | undefined, maxItems: number, nowMs: number, delayMs: number): ReapScan;
  /**
   * Removes every object of a partition this node no longer owns, durably, and gives its vnode a
   * fresh causal identity (should the partition come back, it must not reuse the old one).
   */
  dropPartition(partition: number): Promise<{ removed: number }>;
  /**
   * Anti-entropy: keep trees for exactly these of the worker's partitions (those its node owns or
   * is receiving). A partition newly tracked, or all of them when the config changed, starts
   * `pending`; trees of partitions no longer listed are dropped. Idempotent.
   */
  aaeTrack(config: TreesConfig, partitions: readonly number[]): void;
  /**
   * Rebuilds a pending partition's trees in the background: the worker walks the partition in
   * chunks, yielding to its mailboxes between them. Resolves when it is done (or was cancelled).
   */
  aaeRebuild(partition: number): Promise<void>;
  /** Answers one exchange request from the vnode's tree (a failure value when it cannot). */
  aaeAnswer(partition: number, tree: TreeId, request: ExchangeRequest): ExchangeAnswer;
  /** The tracked vnodes' trees, and a digest of the config they were built with. */
  aaeStats(): { configDigest: string; partitions: VnodeTreesStats[] };
  /** Fault tests only (refused unless the worker was started with faultInjection). */
  injectFault(fault: 'fail-next-datasync'): void;
}
