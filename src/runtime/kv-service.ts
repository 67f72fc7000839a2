// The node's key-value service: the one request path behind every front end. It checks a
// request against the bucket type and the node's limits, places the key on the ring, and hands
// the request to a coordinator. Nothing is written for a request it rejects.

import { type BucketProps, type RequestLimits, resolveRead, resolveWrite } from '../core/bucket.js';
import { DecodeError, decodeContext, encodeStorageKey } from '../core/codec.js';
import { type KvErrorCode, type Result, fail, ok } from '../core/errors.js';
import { type DatatypeOp, contentsValue, datatypeOfType, opBytes, opOfUpdate } from '../core/datatype.js';
import type {
  DatatypeFetchReply,
  DatatypeFetchRequest,
  DatatypeUpdateReply,
  DatatypeUpdateRequest,
  DeleteReply,
  DeleteRequest,
  GetReply,
  GetRequest,
  KvService,
  ListBucketsRequest,
  ListKeysRequest,
  NewContent,
  ObjectKey,
  PutReply,
  PutRequest,
} from '../core/kv.js';
import { ttlMsMax } from '../core/kv.js';
import { partitionOf, preferencePartitions } from '../core/ring.js';
import { type VersionVector, emptyVv } from '../core/version-vector.js';
import type { CoordinatorActor, Placement } from '../../actors/coordinator.js';
import type { NodeStats, Operation } from './stats.js';
import type { WriteWarningReporter } from './write-warnings.js';

export interface KvLimits extends RequestLimits {
  readonly maxKeyBytes: number;
  readonly maxBucketBytes: number;
  readonly maxValueBytes: number;
  readonly maxContentTypeBytes: number;
  readonly maxUserMetaBytes: number;
}

/** The replicas of a key: its N partitions, and the fallbacks standing in for down owners. */
export type ReplicaPlacement = (first: number, nVal: number, sloppyQuorum: boolean) => { readonly partitions: readonly number[]; readonly placement?: Placement };

export interface KvServiceDeps {
  readonly coordinators: CoordinatorActor;
  /** Where replicas are; without it, the N partitions from the key's own on, all primaries. */
  readonly replicas?: ReplicaPlacement;
  readonly bucketTypes: ReadonlyMap<string, BucketProps>;
  readonly limits: KvLimits;
  readonly stats: NodeStats;
  /** Logs and counts writes that passed a soft bound; absent, such warnings are dropped. */
  readonly writeWarnings?: WriteWarningReporter;
  readonly nowMs: () => number;
  readonly monotonicUs: () => number;
}

/** LMDB's key size limit, less one byte of headroom. */
const storageKeyBytesMax = 510;

export class KvNodeService implements KvService {
  private stopping = false;
  private refusing: string | undefined;

  constructor(private readonly deps: KvServiceDeps) {}

  /** From now on every request is refused with `shutting_down`. */
  stopAccepting(): void {
    this.stopping = true;
  }

  /** Refuses every request with `reason` (503) until `acceptRequests`: a node still joining a cluster. */
  refuseRequests(reason: string): void {
    this.refusing = reason;
  }

  acceptRequests(): void {
    this.refusing = undefined;
  }

  get(request: GetRequest): Promise<Result<GetReply>> {
    return this.timed('get', () => {
      const placed = this.place(request.key);
      if (!placed.ok) return placed;
      const quorum = resolveRead(placed.value.props, request, this.deps.limits);
      if (!quorum.ok) return quorum;
      const { partition, storageKey } = placed.value;
      const replicas = this.replicasOf(partition, quorum.value.n, quorum.value.sloppyQuorum);
      return this.deps.coordinators.get(replicas.partitions, storageKey, quorum.value, replicas.placement);
    });
  }

  put(request: PutRequest): Promise<Result<PutReply>> {
    return this.timed('put', () => {
      const content = this.checkContent(request.content);
      if (content !== undefined) return content;
      return this.write(request, request.content, false, request.returnBody ?? false);
    });
  }

  /**
   * Deletes with the caller's context; without one, with the context of a read made first, so a
   * delete removes what the node holds at that moment (as Riak's clients do) instead of adding a
   * tombstone beside it. A write racing that read survives as a sibling, never silently lost.
   */
  async delete(request: DeleteRequest): Promise<Result<DeleteReply>> {
    return this.timed('delete', async () => {
      let context = request.context;
      if (context === undefined || context.length === 0) {
        const read = await this.get({ key: request.key, ...(request.timeoutMs === undefined ? {} : { timeoutMs: request.timeoutMs }) });
        if (!read.ok) return read;
        context = read.value.context;
      }
      const tombstone: NewContent = { value: new Uint8Array(0), contentType: 'application/octet-stream', userMeta: [] };
      const result = await this.write({ ...request, context, ifNoneMatch: false, ifNotModified: false }, tombstone, true, false);
      return result.ok ? { ok: true, value: { context: result.value.context } } : result;
    });
  }

  /** Reads every replica's siblings, as a get does, and merges their states. */
  fetchDatatype(request: DatatypeFetchRequest): Promise<Result<DatatypeFetchReply>> {
    return this.timed('get', async () => {
      const placed = this.place(request.key);
      if (!placed.ok) return placed;
      const datatype = datatypeOfType(request.key.type, placed.value.props.datatype, request.legacyCounter ?? false);
      if (!datatype.ok) return datatype;
      const quorum = resolveRead(placed.value.props, request, this.deps.limits);
      if (!quorum.ok) return quorum;
      const { partition, storageKey } = placed.value;
      const replicas = this.replicasOf(partition, quorum.value.n, quorum.value.sloppyQuorum);
      // Every sibling holds part of the value, whatever the type says about showing siblings.
      const read = await this.deps.coordinators.get(replicas.partitions, storageKey, { ...quorum.value, allowMult: true }, replicas.placement);
      if (!read.ok) return read;
      const value = contentsValue(read.value.found ? read.value.contents : [], datatype.value);
      return value.ok ? { ok: true, value: { datatype: datatype.value, value: value.value } } : value;
    });
  }

  /** A put whose coordinating replica applies the update to its merged state (core/datatype.ts). */
  updateDatatype(request: DatatypeUpdateRequest): Promise<Result<DatatypeUpdateReply>> {
    return this.timed('put', async () => {
      const placed = this.place(request.key);
      if (!placed.ok) return placed;
      const datatype = datatypeOfType(request.key.type, placed.value.props.datatype, request.legacyCounter ?? false);
      if (!datatype.ok) return datatype;
      // As in Riak: concurrent updates of a legacy counter are kept as siblings and merged.
      if (request.legacyCounter === true && !placed.value.props.allowMult) {
        return fail('invalid_request', `legacy counters need allow_mult=true on the bucket type; bucket type "${request.key.type}" has allowMult false`);
      }
      const op = opOfUpdate(request.key.type, datatype.value, request.update);
      if (!op.ok) return op;
      const { maxValueBytes } = this.deps.limits;
      if (opBytes(op.value) > maxValueBytes) return fail('value_too_large', `the update's elements are ${opBytes(op.value)} bytes, the limit is ${maxValueBytes}`);
      const placeholder: NewContent = { value: new Uint8Array(0), contentType: 'application/octet-stream', userMeta: [] };
      const returnBody = request.returnBody ?? false;
      const written = await this.write({ ...request, context: undefined }, placeholder, false, returnBody, op.value);
      if (!written.ok) return written;
      const value = returnBody ? contentsValue(written.value.contents ?? [], datatype.value) : { ok: true as const, value: undefined };
      return value.ok ? { ok: true, value: { datatype: datatype.value, value: value.value } } : value;
    });
  }

  listKeys(request: ListKeysRequest, onKeys: (keys: readonly Uint8Array[]) => void): Promise<Result<void>> {
    const checked = this.checkListing(request.type, request.bucket, request.timeoutMs);
    if (!checked.ok) return Promise.resolve(checked);
    return this.deps.coordinators.list(this.allPartitions(), request.type, request.bucket, checked.value, onKeys);
  }

  async listBuckets(request: ListBucketsRequest): Promise<Result<readonly Uint8Array[]>> {
    const checked = this.checkListing(request.type, undefined, request.timeoutMs);
    if (!checked.ok) return checked;
    const buckets: Uint8Array[] = [];
    const result = await this.deps.coordinators.list(this.allPartitions(), request.type, undefined, checked.value, (items) => buckets.push(...items));
    return result.ok ? { ok: true, value: buckets } : result;
  }

  private allPartitions(): number[] {
    return Array.from({ length: this.deps.limits.partitions }, (_, p) => p);
  }

  /** Checks a listing request; returns its timeout. */
  private checkListing(type: string, bucket: Uint8Array | undefined, timeoutMs: number | undefined): Result<number> {
    if (this.stopping) return fail('shutting_down', 'the node is shutting down');
    if (this.refusing !== undefined) return fail('insufficient_vnodes', this.refusing);
    if (!this.deps.bucketTypes.has(type)) return fail('unknown_bucket_type', `bucket type "${type}" is not defined`);
    if (bucket !== undefined && (bucket.length === 0 || bucket.length > this.deps.limits.maxBucketBytes)) {
      return fail('invalid_request', `the bucket name must be 1 to ${this.deps.limits.maxBucketBytes} bytes`);
    }
    const limit = this.deps.limits.maxTimeoutMs;
    if (timeoutMs !== undefined && (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > limit)) {
      return fail('invalid_request', `timeout_ms must be an integer from 1 to ${limit}, got ${timeoutMs}`);
    }
    return { ok: true, value: timeoutMs ?? this.deps.limits.defaultTimeoutMs };
  }

  /**
   * The instant a write's value expires: from expiresAtMs as given, from ttlMs (or the type's
   * default) after `nowMs`; undefined: never.
   */
  private expiresAtOf(request: Omit<PutRequest, 'content'>, defaultTtlMs: number, nowMs: number): Result<number | undefined> {
    if (request.expiresAtMs !== undefined) {
      if (request.ttlMs !== undefined) return fail('invalid_request', 'give ttl_ms or expires_at_ms, not both');
      const at = request.expiresAtMs;
      if (!Number.isSafeInteger(at) || at < 1 || at > nowMs + ttlMsMax) return fail('invalid_request', `expires_at_ms must be an integer from 1 to ${ttlMsMax} ms from now (${nowMs + ttlMsMax}), got ${at}`);
      return ok(at);
    }
    const ttlMs = request.ttlMs ?? defaultTtlMs;
    if (!Number.isSafeInteger(ttlMs) || ttlMs < 0 || ttlMs > ttlMsMax) return fail('invalid_request', `ttl_ms must be an integer from 0 (never expires) to ${ttlMsMax}, got ${ttlMs}`);
    return ok(ttlMs === 0 ? undefined : nowMs + ttlMs);
  }

  private write(
    request: Omit<PutRequest, 'content'>,
    content: NewContent,
    deleted: boolean,
    returnBody: boolean,
    op?: DatatypeOp,
  ): Promise<Result<PutReply>> | Result<PutReply> {
    const placed = this.place(request.key);
    if (!placed.ok) return placed;
    const quorum = resolveWrite(placed.value.props, request, this.deps.limits);
    if (!quorum.ok) return quorum;
    if (op === undefined && !deleted && quorum.value.datatype !== undefined) {
      return fail('invalid_request', `bucket type "${request.key.type}" holds ${quorum.value.datatype}s: update them with a data-type update (DtUpdateReq, or POST .../datatypes/{key}), not a plain put`);
    }
    const context = this.decodeContext(request.context);
    if (!context.ok) return context;
    if (request.ifNotModified && request.context === undefined) {
      return fail('invalid_request', 'if_not_modified needs the context the writer saw');
    }
    if (request.overwrite && (request.context !== undefined || request.ifNotModified)) {
      return fail('invalid_request', 'an overwrite supersedes what the coordinating replica holds: give it no context and no if_not_modified');
    }
    const nowMs = this.deps.nowMs();
    const expiresAtMs = this.expiresAtOf(request, quorum.value.ttlMs, nowMs);
    if (!expiresAtMs.ok) return expiresAtMs;
    const { partition, storageKey } = placed.value;
    const replicas = this.replicasOf(partition, quorum.value.n, quorum.value.sloppyQuorum);
    // Expiry is absolute and fixed here, once: every replica and every reader judges that instant
    // against its own clock (docs/ttl.md). Deletes and data types never expire.
    const expiry = expiresAtMs.value === undefined || deleted || op !== undefined ? {} : { expiresAtMs: expiresAtMs.value };
    const written = this.deps.coordinators.put(
      replicas.partitions,
      {
        storageKey,
        context: context.value,
        content,
        deleted,
        nowMs,
        ifNoneMatch: request.ifNoneMatch ?? false,
        ifNotModified: request.ifNotModified ?? false,
        ...(request.ifPresent === true ? { ifPresent: true } : {}),
        maxSiblings: quorum.value.maxSiblings,
        maxObjectBytes: quorum.value.maxObjectBytes,
        // An overwrite is applied as a last-write-wins type's writes are: over the coordinating
        // replica's own context.
        lastWriteWins: quorum.value.lastWriteWins || (request.overwrite ?? false),
        allowMult: quorum.value.allowMult,
        ...(op === undefined ? {} : { op }),
        ...expiry,
      },
      quorum.value,
      returnBody,
      replicas.placement,
    );
    return this.reportWarnings(request.key, written);
  }

  private async reportWarnings(key: ObjectKey, written: Promise<Result<PutReply>>): Promise<Result<PutReply>> {
    const result = await written;
    if (result.ok && result.value.warnings !== undefined) this.deps.writeWarnings?.report(key, result.value.warnings, this.deps.nowMs());
    return result;
  }

  private replicasOf(first: number, nVal: number, sloppyQuorum: boolean): { readonly partitions: readonly number[]; readonly placement?: Placement } {
    return this.deps.replicas?.(first, nVal, sloppyQuorum) ?? { partitions: preferencePartitions(first, nVal, this.deps.limits.partitions) };
  }

  /** Checks the key and finds its bucket type and its partition (the first of its replicas). */
  private place(key: ObjectKey): Result<{ props: BucketProps; storageKey: Uint8Array; partition: number }> {
    if (this.stopping) return fail('shutting_down', 'the node is shutting down');
    if (this.refusing !== undefined) return fail('insufficient_vnodes', this.refusing);
    const props = this.deps.bucketTypes.get(key.type);
    if (props === undefined) return fail('unknown_bucket_type', `bucket type "${key.type}" is not defined`);
    const { maxKeyBytes, maxBucketBytes } = this.deps.limits;
    if (key.bucket.length === 0) return fail('invalid_request', 'the bucket name is empty');
    if (key.key.length === 0) return fail('invalid_request', 'the key is empty');
    if (key.bucket.length > maxBucketBytes) return fail('key_too_large', `the bucket name is ${key.bucket.length} bytes, the limit is ${maxBucketBytes}`);
    if (key.key.length > maxKeyBytes) return fail('key_too_large', `the key is ${key.key.length} bytes, the limit is ${maxKeyBytes}`);
    const storageKey = encodeStorageKey(key);
    if (storageKey.length > storageKeyBytesMax) {
      return fail('key_too_large', `type, bucket and key take ${storageKey.length} bytes together, the limit is ${storageKeyBytesMax}`);
    }
    return { ok: true, value: { props, storageKey, partition: partitionOf(storageKey, this.deps.limits.partitions) } };
  }

  private checkContent(content: NewContent): Result<never> | undefined {
    const { maxValueBytes, maxContentTypeBytes, maxUserMetaBytes } = this.deps.limits;
    if (content.value.length > maxValueBytes) return fail('value_too_large', `the value is ${content.value.length} bytes, the limit is ${maxValueBytes}`);
    // UTF-8 lengths without encoding the text (an encode allocated an array for each, on every write).
    if (Buffer.byteLength(content.contentType, 'utf8') > maxContentTypeBytes) return fail('invalid_request', `the content type is longer than ${maxContentTypeBytes} bytes`);
    let metaBytes = 0;
    for (const m of content.userMeta) metaBytes += Buffer.byteLength(m.key, 'utf8') + Buffer.byteLength(m.value, 'utf8');
    if (metaBytes > maxUserMetaBytes) return fail('invalid_request', `user metadata is ${metaBytes} bytes, the limit is ${maxUserMetaBytes}`);
    return undefined;
  }

  private decodeContext(context: Uint8Array | undefined): Result<VersionVector> {
    if (context === undefined || context.length === 0) return { ok: true, value: emptyVv };
    try {
      return { ok: true, value: decodeContext(context) };
    } catch (error) {
      if (error instanceof DecodeError) return fail('invalid_request', `the context is malformed (${error.message}); pass back the context exactly as a read returned it`);
      throw error;
    }
  }

  private async timed<T>(op: Operation, run: () => Promise<Result<T>> | Result<T>): Promise<Result<T>> {
    const started = this.deps.monotonicUs();
    const result = await run();
    const code: KvErrorCode | undefined = result.ok ? undefined : result.error.code;
    this.deps.stats.record(op, this.deps.monotonicUs() - started, code);
    return result;
  }
}
