// The messages between the node supervisor (main thread) and a vnode-host worker on the data
// path. Requests and replies travel in batches, one postMessage per event-loop turn per
// direction. The control plane (stats, close) goes over a separate comlink port.

import type { VnodeReply, VnodeRequest } from '../../core/messages.js';
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

export interface RequestBatch {
  readonly type: 'RequestBatch';
  readonly requests: readonly VnodeRequest[];
}

export type MainToWorker = RequestBatch;

export interface WorkerReady {
  readonly type: 'WorkerReady';
  readonly recovery: RecoveryReport;
  readonly actorIds: readonly { partition: number; actorId: string }[];
}

export interface ReplyBatch {
  readonly type: 'ReplyBatch';
  readonly replies: readonly VnodeReply[];
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
   * Removes every object of a partition this node no longer owns, durably, and gives its vnode a
   * fresh causal identity (should the partition come back, it must not reuse the old one).
   */
  dropPartition(partition: number): Promise<{ removed: number }>;
  /** Fault tests only (refused unless the worker was started with faultInjection). */
  injectFault(fault: 'fail-next-datasync'): void;
}
