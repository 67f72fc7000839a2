// An in-memory KvService for testing front ends: one replica whose objects are built by the
// real core functions, so siblings, tombstones and causal contexts behave as in a node. It
// checks what KvService checks that a front end might get wrong (bucket type, empty names,
// undecodable contexts), records every call, and fails on demand with any error code.

import { DecodeError, decodeContext, encodeContext, decodeStorageKey, encodeStorageKey } from '../../../src/core/codec.js';
import { type KvError, type KvErrorCode, type Result, fail, ok } from '../../../src/core/errors.js';
import type { Datatype } from '../../../src/core/bucket.js';
import { applyDatatypeOp, datatypeOfType, objectValue, opOfUpdate } from '../../../src/core/datatype.js';
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
} from '../../../src/core/kv.js';
import { type KvObject, applyWrite, emptyObject, isDeleted, liveSiblings, mergeObjects, toContent, withoutExpired } from '../../../src/core/object.js';
import { type VersionVector, emptyVv } from '../../../src/core/version-vector.js';

export type MemoryKvOperation = 'get' | 'put' | 'delete' | 'fetchDatatype' | 'updateDatatype';

export type MemoryKvCall =
  | { readonly op: 'get'; readonly request: GetRequest }
  | { readonly op: 'put'; readonly request: PutRequest }
  | { readonly op: 'delete'; readonly request: DeleteRequest }
  | { readonly op: 'fetchDatatype'; readonly request: DatatypeFetchRequest }
  | { readonly op: 'updateDatatype'; readonly request: DatatypeUpdateRequest };

export interface MemoryKvOptions {
  /** The replica's actor id, stamped on every dot. */
  readonly actor?: string;
  readonly nowMs?: () => number;
  readonly bucketTypes?: readonly string[];
  /** The data type of each type that holds one; by default "counters" and "sets". */
  readonly datatypes?: Readonly<Record<string, Datatype>>;
}

const tombstone: NewContent = { value: new Uint8Array(0), contentType: 'application/octet-stream', userMeta: [] };

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

export class MemoryKv implements KvService {
  readonly calls: MemoryKvCall[] = [];
  /** Writes applied (puts and deletes that changed an object). */
  writes = 0;
  private readonly objects = new Map<string, KvObject>();
  private readonly failures: Array<{ readonly op: MemoryKvOperation | undefined; readonly error: KvError }> = [];
  private throwNext: Error | undefined;
  private readonly actor: string;
  private readonly nowMs: () => number;
  private readonly bucketTypes: ReadonlySet<string>;
  private readonly datatypes: ReadonlyMap<string, Datatype>;

  constructor(options: MemoryKvOptions = {}) {
    this.actor = options.actor ?? 'memory-1';
    let tick = 1_700_000_000_000;
    this.nowMs = options.nowMs ?? (() => (tick += 1000));
    this.datatypes = new Map(Object.entries(options.datatypes ?? { counters: 'counter', sets: 'set' }));
    this.bucketTypes = new Set([...(options.bucketTypes ?? ['default', 'typed']), ...this.datatypes.keys()]);
  }

  /** The next call (of `op`, or of any operation) answers this error instead. */
  failNext(code: KvErrorCode, message = `injected ${code}`, op?: MemoryKvOperation): void {
    this.failures.push({ op, error: { code, message } });
  }

  /** The next call throws, as a buggy service would. */
  throwOnNext(error: Error): void {
    this.throwNext = error;
  }

  /** Blocks every call until the returned function is called, to hold requests in flight. */
  hold(): () => void {
    let release!: () => void;
    this.gate = new Promise<void>((resolve) => (release = resolve));
    return () => {
      this.gate = undefined;
      release();
    };
  }

  private gate: Promise<void> | undefined;

  async get(request: GetRequest): Promise<Result<GetReply>> {
    this.calls.push({ op: 'get', request });
    const refused = await this.refuse('get', request.key);
    if (refused !== undefined) return refused;
    const object = this.visible(this.objects.get(this.storageKey(request.key)));
    if (object === undefined) return ok({ found: false, context: undefined });
    const context = encodeContext(object.vv);
    if (isDeleted(object) || object.siblings.length === 0) return ok({ found: false, context });
    return ok({ found: true, contents: liveSiblings(object).map(toContent), context });
  }

  async put(request: PutRequest): Promise<Result<PutReply>> {
    this.calls.push({ op: 'put', request });
    const refused = await this.refuse('put', request.key);
    if (refused !== undefined) return refused;
    const context = this.decode(request.context);
    if (!context.ok) return context;
    if (request.overwrite === true && (request.context !== undefined || request.ifNotModified === true)) return fail('invalid_request', 'an overwrite takes no context');
    const datatype = this.datatypes.get(request.key.type);
    if (datatype !== undefined) return fail('invalid_request', `bucket type "${request.key.type}" holds ${datatype}s: update them with a data-type update, not a plain put`);
    const current = this.visible(this.objects.get(this.storageKey(request.key))) ?? emptyObject;
    if (request.ifNoneMatch === true && liveSiblings(current).length > 0) return fail('precondition_failed', 'the key has a value');
    if (request.ifPresent === true && liveSiblings(current).length === 0) return fail('precondition_failed', 'the key holds no value');
    if (request.ifNotModified === true) {
      if (request.context === undefined) return fail('invalid_request', 'if_not_modified needs the context the writer saw');
      if (!sameBytes(encodeContext(current.vv), request.context)) return fail('precondition_failed', 'the key changed since the context was read');
    }
    // An overwrite supersedes what the (single) replica holds, as the coordinating vnode does.
    const over = request.overwrite === true ? current.vv : context.value;
    const stored = this.write(request.key, current, over, request.content, false, request.ttlMs, request.expiresAtMs);
    const contents = request.returnBody === true ? liveSiblings(stored).map(toContent) : undefined;
    return ok({ context: encodeContext(stored.vv), contents });
  }

  async delete(request: DeleteRequest): Promise<Result<DeleteReply>> {
    this.calls.push({ op: 'delete', request });
    const refused = await this.refuse('delete', request.key);
    if (refused !== undefined) return refused;
    const context = this.decode(request.context);
    if (!context.ok) return context;
    const current = this.objects.get(this.storageKey(request.key)) ?? emptyObject;
    const stored = this.write(request.key, current, context.value, tombstone, true);
    return ok({ context: encodeContext(stored.vv) });
  }

  async fetchDatatype(request: DatatypeFetchRequest): Promise<Result<DatatypeFetchReply>> {
    this.calls.push({ op: 'fetchDatatype', request });
    const refused = await this.refuse('fetchDatatype', request.key);
    if (refused !== undefined) return refused;
    const datatype = datatypeOfType(request.key.type, this.datatypes.get(request.key.type), request.legacyCounter ?? false);
    if (!datatype.ok) return datatype;
    const value = objectValue(this.objects.get(this.storageKey(request.key)) ?? emptyObject, datatype.value);
    return value.ok ? ok({ datatype: datatype.value, value: value.value }) : value;
  }

  async updateDatatype(request: DatatypeUpdateRequest): Promise<Result<DatatypeUpdateReply>> {
    this.calls.push({ op: 'updateDatatype', request });
    const refused = await this.refuse('updateDatatype', request.key);
    if (refused !== undefined) return refused;
    const datatype = datatypeOfType(request.key.type, this.datatypes.get(request.key.type), request.legacyCounter ?? false);
    if (!datatype.ok) return datatype;
    const op = opOfUpdate(request.key.type, datatype.value, request.update);
    if (!op.ok) return op;
    const current = this.objects.get(this.storageKey(request.key)) ?? emptyObject;
    const written = applyDatatypeOp(current, op.value, this.actor, this.nowMs());
    if (!written.ok) return written;
    this.objects.set(this.storageKey(request.key), written.value);
    this.writes++;
    if (request.returnBody !== true) return ok({ datatype: datatype.value, value: undefined });
    const value = objectValue(written.value, datatype.value);
    return value.ok ? ok({ datatype: datatype.value, value: value.value }) : value;
  }

  /**
   * The object as a reader sees it (expired siblings dropped, as the node's coordinator does). The
   * clock is read only for objects that carry an expiry: the default clock ticks on every read.
   */
  private visible(object: KvObject | undefined): KvObject | undefined {
    if (object === undefined || !object.siblings.some((s) => s.expiresAtMs !== undefined)) return object;
    return withoutExpired(object, this.nowMs());
  }

  private write(key: ObjectKey, current: KvObject, context: VersionVector, content: NewContent, deleted: boolean, ttlMs?: number, expiresAtMs?: number): KvObject {
    const nowMs = this.nowMs();
    const expiry = deleted ? {} : expiresAtMs !== undefined ? { expiresAtMs } : ttlMs === undefined || ttlMs === 0 ? {} : { expiresAtMs: nowMs + ttlMs };
    const written = applyWrite(current, { context, content, deleted, ...expiry }, this.actor, nowMs);
    // What a replica does with the coordinator's result: merge it into what it holds.
    const stored = mergeObjects(current, written);
    this.objects.set(this.storageKey(key), stored);
    this.writes++;
    return stored;
  }

  private async refuse(op: MemoryKvOperation, key: ObjectKey): Promise<Result<never> | undefined> {
    if (this.gate !== undefined) await this.gate;
    if (this.throwNext !== undefined) {
      const error = this.throwNext;
      this.throwNext = undefined;
      throw error;
    }
    const index = this.failures.findIndex((f) => f.op === undefined || f.op === op);
    if (index >= 0) {
      const [failure] = this.failures.splice(index, 1);
      return { ok: false, error: failure!.error };
    }
    if (!this.bucketTypes.has(key.type)) return fail('unknown_bucket_type', `bucket type "${key.type}" is not defined`);
    if (key.bucket.length === 0) return fail('invalid_request', 'the bucket name is empty');
    if (key.key.length === 0) return fail('invalid_request', 'the key is empty');
    return undefined;
  }

  private decode(context: Uint8Array | undefined): Result<VersionVector> {
    if (context === undefined || context.length === 0) return ok(emptyVv);
    try {
      return ok(decodeContext(context));
    } catch (error) {
      if (error instanceof DecodeError) return fail('invalid_request', `the context is malformed (${error.message})`);
      throw error;
    }
  }

  /** Live keys of a bucket, from the stored objects (no front end lists keys over HTTP yet). */
  async listKeys(request: ListKeysRequest, onKeys: (keys: readonly Uint8Array[]) => void): Promise<Result<void>> {
    const keys: Uint8Array[] = [];
    for (const [stored, object] of this.objects) {
      const key = decodeStorageKey(Buffer.from(stored, 'latin1'));
      if (key.type === request.type && sameBytes(key.bucket, request.bucket) && !isDeleted(object)) keys.push(key.key);
    }
    onKeys(keys);
    return ok(undefined);
  }

  async listBuckets(request: ListBucketsRequest): Promise<Result<readonly Uint8Array[]>> {
    const buckets = new Map<string, Uint8Array>();
    for (const [stored, object] of this.objects) {
      const key = decodeStorageKey(Buffer.from(stored, 'latin1'));
      if (key.type === request.type && !isDeleted(object)) buckets.set(Buffer.from(key.bucket).toString('latin1'), key.bucket);
    }
    return ok([...buckets.values()]);
  }

  private storageKey(key: ObjectKey): string {
    return Buffer.from(encodeStorageKey(key)).toString('latin1');
  }
}
