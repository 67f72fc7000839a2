// The messages between coordinators and vnodes. Objects travel as their encoded bytes: a vnode
// reads and returns stored bytes without decoding them, and only the side that merges decodes.
// Every request carries the id the reply echoes, so replies may arrive in any order.

import type { DatatypeOp } from './datatype.js';
import type { KvError } from './errors.js';
import type { NewContent } from './kv.js';
import type { VersionVector } from './version-vector.js';

export interface VnodeGet {
  readonly type: 'VnodeGet';
  readonly requestId: number;
  readonly partition: number;
  readonly storageKey: Uint8Array;
  /** Sent to a fallback standing in for the partition's down owner (sloppy quorum). */
  readonly fallback?: boolean;
}

/** A client write, applied by the coordinating replica, which advances the causal context once. */
export interface VnodePut {
  readonly type: 'VnodePut';
  readonly requestId: number;
  readonly partition: number;
  readonly storageKey: Uint8Array;
  readonly context: VersionVector;
  readonly content: NewContent;
  readonly deleted: boolean;
  readonly nowMs: number;
  readonly ifNoneMatch: boolean;
  readonly ifNotModified: boolean;
  readonly maxSiblings: number;
  /**
   * The largest encoded object (all siblings) the write may leave; absent: no bound (a peer that
   * predates the bound). Only client writes are bounded: replication and repair never are.
   */
  readonly maxObjectBytes?: number;
  /** Last-write-wins buckets: the write supersedes every sibling, whatever its context. */
  readonly lastWriteWins: boolean;
  /** When false, a client write keeps only the newest sibling (Riak's allow_mult=false). */
  readonly allowMult: boolean;
  /**
   * Other replicas of the key hosted beside this vnode: the host merges the applied result into
   * each of them in the same group commit, and each answers with its own VnodeReplicateReply.
   */
  readonly localReplicas: readonly number[];
  /** Sent to a fallback, which keeps the write as a hint for the partition's owner. */
  readonly fallback?: boolean;
  /**
   * A data-type update (counter or set): applied to the merge of the stored siblings instead of
   * writing `content`, which is then ignored, as are the conditions, context and sibling settings.
   */
  readonly op?: DatatypeOp;
  /** When the written value expires (absolute, ms since the epoch); absent: never (docs/ttl.md). */
  readonly expiresAtMs?: number;
  /** Only write when the key holds a live value; absent: no such condition (a peer that predates it). */
  readonly ifPresent?: boolean;
}

/** An object to merge into the replica: replication of a write, or read repair. */
export interface VnodeReplicate {
  readonly type: 'VnodeReplicate';
  readonly requestId: number;
  readonly partition: number;
  readonly storageKey: Uint8Array;
  readonly object: Uint8Array;
  /** Sent to a fallback, which keeps the object as a hint for the partition's owner. */
  readonly fallback?: boolean;
}

/** Lists the live keys of a bucket held by one vnode, or (bucket undefined) its buckets. */
export interface VnodeList {
  readonly type: 'VnodeList';
  readonly requestId: number;
  readonly partition: number;
  readonly bucketType: string;
  readonly bucket: Uint8Array | undefined;
}

/**
 * Removes a tombstone that every replica was confirmed to hold (tombstone reaping): the vnode
 * removes the key only if it still holds exactly `object`, the bytes it answered the
 * confirmation read with; anything written since keeps the key.
 */
export interface VnodeReap {
  readonly type: 'VnodeReap';
  readonly requestId: number;
  readonly partition: number;
  readonly storageKey: Uint8Array;
  readonly object: Uint8Array;
}

export type VnodeRequest = VnodeGet | VnodePut | VnodeReplicate | VnodeList | VnodeReap;

export interface VnodeGetReply {
  readonly type: 'VnodeGetReply';
  readonly requestId: number;
  readonly partition: number;
  readonly object: Uint8Array | undefined;
}

/**
 * The coordinating replica applied the write; `object` is the result, not yet durable. Sent at
 * once, so the coordinator can replicate while the replica's own group commit runs.
 */
export interface VnodePutApplied {
  readonly type: 'VnodePutApplied';
  readonly requestId: number;
  readonly partition: number;
  readonly object: Uint8Array;
}

/** The coordinating replica's write is durable. Always follows its VnodePutApplied. */
export interface VnodePutReply {
  readonly type: 'VnodePutReply';
  readonly requestId: number;
  readonly partition: number;
}

export interface VnodeReplicateReply {
  readonly type: 'VnodeReplicateReply';
  readonly requestId: number;
  readonly partition: number;
  /** Whether the merge changed what the replica stores (false: it already had all of it). */
  readonly changed?: boolean;
}

export interface VnodeFailed {
  readonly type: 'VnodeFailed';
  readonly requestId: number;
  readonly partition: number;
  readonly error: KvError;
}

/** A chunk of a listing (keys, or bucket names); the last chunk has done = true. */
export interface VnodeListChunk {
  readonly type: 'VnodeListChunk';
  readonly requestId: number;
  readonly partition: number;
  readonly items: readonly Uint8Array[];
  readonly done: boolean;
}

/** The reap is durable (`removed`), or the key held something else and was kept. */
export interface VnodeReapReply {
  readonly type: 'VnodeReapReply';
  readonly requestId: number;
  readonly partition: number;
  readonly removed: boolean;
}

export type VnodeReply = VnodeGetReply | VnodePutApplied | VnodePutReply | VnodeReplicateReply | VnodeListChunk | VnodeReapReply | VnodeFailed;

/** Replies after which the vnode has nothing more to say about that request. */
export function isFinalReply(reply: VnodeReply): boolean {
  if (reply.type === 'VnodeListChunk') return reply.done;
  return reply.type !== 'VnodePutApplied';
}
