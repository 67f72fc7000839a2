// The request and result types of the key-value service: the one request path that every front
// end (HTTP, protobuf, RESP, CLI) speaks. Front ends translate their wire form into these and
// back; they never carry quorum, versioning or storage logic of their own.

import type { Datatype } from './bucket.js';
import type { DatatypeValue } from './datatype.js';
import type { Result } from './errors.js';

/** A key in a bucket in a bucket type. Buckets and keys are binary; type names are text. */
export interface ObjectKey {
  readonly type: string;
  readonly bucket: Uint8Array;
  readonly key: Uint8Array;
}

/** A quorum: a number of replicas, or a symbolic value resolved against n_val. */
export type Quorum = number | 'one' | 'quorum' | 'all' | 'default';

export interface UserMeta {
  readonly key: string;
  readonly value: string;
}

/** What a client sends as the value of a write. */
export interface NewContent {
  readonly value: Uint8Array;
  readonly contentType: string;
  readonly userMeta: readonly UserMeta[];
}

/** One sibling as a client sees it. */
export interface Content extends NewContent {
  readonly lastModifiedMs: number;
  /** Stable identifier of this sibling (derived from its dot). */
  readonly vtag: string;
  readonly deleted: boolean;
  /** When this sibling expires (ms since the epoch); absent: never (docs/ttl.md). */
  readonly expiresAtMs?: number;
}

export interface ReadOptions {
  readonly r?: Quorum;
  readonly pr?: Quorum;
  readonly nVal?: number;
  readonly notfoundOk?: boolean;
  readonly basicQuorum?: boolean;
  readonly timeoutMs?: number;
  /** False: only primary replicas are used; a replica on a down node is not replaced by a fallback. */
  readonly sloppyQuorum?: boolean;
}

export interface WriteOptions {
  readonly w?: Quorum;
  readonly dw?: Quorum;
  readonly pw?: Quorum;
  readonly nVal?: number;
  readonly timeoutMs?: number;
  /** False: only primary replicas are used; a replica on a down node is not replaced by a fallback. */
  readonly sloppyQuorum?: boolean;
}

export interface GetRequest extends ReadOptions {
  readonly key: ObjectKey;
}

/**
 * `found: false` with a context means the key is deleted (only tombstones remain); the context
 * lets a writer supersede the tombstone. `contents` holds live siblings only, in a stable order.
 */
export type GetReply =
  | { readonly found: true; readonly contents: readonly Content[]; readonly context: Uint8Array }
  | { readonly found: false; readonly context: Uint8Array | undefined };

export interface PutRequest extends WriteOptions {
  readonly key: ObjectKey;
  /** The causal context the writer saw (from a read); absent for a blind write. */
  readonly context: Uint8Array | undefined;
  readonly content: NewContent;
  readonly returnBody?: boolean;
  /** Only write when the key holds no live value. Decided where the write is applied. */
  readonly ifNoneMatch?: boolean;
  /** Only write when the stored context equals `context`. Decided where the write is applied. */
  readonly ifNotModified?: boolean;
  /** Only write when the key holds a live value (Redis's SET XX). Decided where the write is applied. */
  readonly ifPresent?: boolean;
  /**
   * Supersede whatever the coordinating replica holds when it applies the write, as if the writer
   * had read that replica's context at that instant; `context` must then be absent. A blind write
   * that overwrites instead of adding a sibling, without a read first (Redis's SET). Versions the
   * coordinating replica has not yet seen (a concurrent write still on its way) stay siblings.
   */
  readonly overwrite?: boolean;
  /**
   * The value expires this long after the coordinating node's clock at the write; 0: never,
   * whatever the bucket type's default; absent: the type's default (docs/ttl.md). At most ttlMsMax.
   */
  readonly ttlMs?: number;
  /**
   * Instead of ttlMs (not with it): the instant the value expires, ms since the epoch, used as
   * given (an instant already past stores a value that reads as expired). At most ttlMsMax after
   * the coordinating node's clock. For front ends whose client names an absolute time (Redis's
   * EXPIREAT, SET … PXAT, KEEPTTL), so that the time a read takes before the write does not move it.
   */
  readonly expiresAtMs?: number;
}

/** The longest TTL a write may ask for: ten years, in ms (docs/ttl.md). */
export const ttlMsMax = 10 * 365 * 24 * 3600 * 1000;

export interface PutReply {
  /** The context of the object after the write. */
  readonly context: Uint8Array;
  /** Live siblings after the write, when `returnBody` was asked for. */
  readonly contents: readonly Content[] | undefined;
  /** Soft bounds the stored object passed with this write (it was written all the same). */
  readonly warnings?: readonly WriteWarning[];
}

/** A client write left an object above a soft bound (warnSiblings, warnObjectBytes). */
export type WriteWarning =
  | { readonly kind: 'siblings'; readonly siblings: number; readonly warnSiblings: number }
  | { readonly kind: 'object_size'; readonly bytes: number; readonly warnObjectBytes: number };

export interface DeleteRequest extends WriteOptions {
  readonly key: ObjectKey;
  readonly context: Uint8Array | undefined;
}

export interface DeleteReply {
  readonly context: Uint8Array;
}

export interface ListKeysRequest {
  readonly type: string;
  readonly bucket: Uint8Array;
  readonly timeoutMs?: number;
}

export interface ListBucketsRequest {
  readonly type: string;
  readonly timeoutMs?: number;
}

/** An update of a counter or a set (see docs/data-types.md). */
export type DatatypeUpdate =
  | { readonly type: 'counter'; readonly increment: number }
  | {
      readonly type: 'set';
      readonly adds: readonly Uint8Array[];
      readonly removes: readonly Uint8Array[];
      /** The context of the read the removes are based on; without it, only held elements can be removed. */
      readonly context?: Uint8Array;
    };

export interface DatatypeFetchRequest extends ReadOptions {
  readonly key: ObjectKey;
  /**
   * A Riak 1.4 counter (RpbCounterGetReq): read as a counter in a type that declares no data type.
   * Riak kept these in ordinary allow_mult buckets; without the flag such a type is refused.
   */
  readonly legacyCounter?: boolean;
}

/** `value` is undefined when the key holds nothing (a counter then reads as 0, a set as empty). */
export interface DatatypeFetchReply {
  readonly datatype: Datatype;
  readonly value: DatatypeValue | undefined;
}

export interface DatatypeUpdateRequest extends WriteOptions {
  readonly key: ObjectKey;
  readonly update: DatatypeUpdate;
  /** Return the value after the update (as the replica that applied it holds it). */
  readonly returnBody?: boolean;
  /** See DatatypeFetchRequest.legacyCounter. */
  readonly legacyCounter?: boolean;
}

export interface DatatypeUpdateReply {
  readonly datatype: Datatype;
  /** The value after the update, when `returnBody` was asked for. */
  readonly value: DatatypeValue | undefined;
}

/** The service every front end calls. Implemented by the node's coordinators. */
export interface KvService {
  get(request: GetRequest): Promise<Result<GetReply>>;
  put(request: PutRequest): Promise<Result<PutReply>>;
  delete(request: DeleteRequest): Promise<Result<DeleteReply>>;
  /**
   * Streams the live keys of a bucket to `onKeys` in chunks (each key once; deleted keys never),
   * then resolves. Listing visits every partition: it is for administration, not the request path.
   */
  listKeys(request: ListKeysRequest, onKeys: (keys: readonly Uint8Array[]) => void): Promise<Result<void>>;
  /** The buckets of a type that hold at least one live key. */
  listBuckets(request: ListBucketsRequest): Promise<Result<readonly Uint8Array[]>>;
  /** Reads a counter or set: the merge of every replica's and every sibling's state. */
  fetchDatatype(request: DatatypeFetchRequest): Promise<Result<DatatypeFetchReply>>;
  /** Applies a counter or set update at one replica, which replicates the result as a put does. */
  updateDatatype(request: DatatypeUpdateRequest): Promise<Result<DatatypeUpdateReply>>;
}
