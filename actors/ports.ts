// The interfaces actors use to reach the world. Production implements them with the WAL + LMDB
// store and worker-thread messaging; the simulator with seeded in-memory doubles. Actors import
// these and the core, nothing else.

/** A vnode's view of its host's storage: synchronous reads, appends that become durable later. */
export interface VnodeStoragePort {
  get(partition: number, key: Uint8Array): Uint8Array | undefined;
  /** The LSN that must be durable before what `get` returns may be shown to a client (0 if it is). */
  pendingLsnOf(partition: number, key: Uint8Array): number;
  /**
   * Appends a write and returns its LSN; it is durable once the host reports that LSN durable.
   * `decoded`, when given, is exactly what `value` decodes to: the host may use it instead of
   * decoding the bytes again (the anti-entropy trees hash each write's version).
   */
  put(partition: number, key: Uint8Array, value: Uint8Array, decoded?: KvObject): number;
  /** Appends the removal of a key and returns its LSN, durable like a put's. */
  remove(partition: number, key: Uint8Array): number;
  /** Every key and value of the partition, pending writes included, in key order. */
  forEach(partition: number, fn: (key: Uint8Array, value: Uint8Array) => void): void;
}

import type { VnodeReply, VnodeRequest } from '../src/core/messages.js';
import type { KvObject } from '../src/core/object.js';

/** Delivers vnode requests to whichever host owns the partition; replies come back by callback. */
export interface VnodeRouter {
  /** Sends to the node owning the partition, or to `node` (a fallback standing in for it). */
  send(request: VnodeRequest, node?: string): void;
  /** The host (worker, later node and worker) of a partition's vnode. */
  hostOf(partition: number): number;
}

export type TimerHandle = { readonly id: unknown };

/** Time as the actors see it: the real clock in production, the seeded one in the simulator. */
export interface Clock {
  nowMs(): number;
  setTimer(delayMs: number, fire: () => void): TimerHandle;
  clearTimer(handle: TimerHandle): void;
}

export type ReplyListener = (reply: VnodeReply) => void;
