// The key operations and listings of the protobuf API: each request becomes one KvService call,
// and its result the Riak reply (or replies, for a streamed listing). Quorum, versioning and
// storage decisions stay behind KvService; this file only translates.

import { type KvError, type Result, ok } from '../../core/errors.js';
import type { Content, KvService, ObjectKey, ReadOptions, WriteOptions } from '../../core/kv.js';
import { bucketTypeOf, bytesOf, newContentOf, quorumFromWire, rpbContentOf } from './convert.js';
import { kvErrorFrame } from './errors.js';
import { encodeFrame, encodeMessageFrame, errorFrame } from './frame.js';
import { MessageCode, type RpbDelReq, type RpbGetReq, type RpbListBucketsReq, type RpbListKeysReq, type RpbPutReq } from './schema.js';

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

export interface KvHandlerDeps {
  readonly kv: KvService;
  readonly generateKey: () => string;
  /** A listing's replies are held until it completes; past this many bytes it fails instead. */
  readonly maxListingBytes: number;
}

function failure(error: KvError): Buffer {
  return kvErrorFrame(error);
}

export function objectKey(type: Uint8Array | undefined, bucket: Uint8Array, key: Uint8Array): Result<ObjectKey> {
  const typeName = bucketTypeOf(type);
  return typeName.ok ? ok({ type: typeName.value, bucket, key }) : typeName;
}

export function readOptionsOf(m: RpbGetReq): ReadOptions {
  const out: Mutable<ReadOptions> = {};
  if (m.r !== undefined) out.r = quorumFromWire(m.r);
  if (m.pr !== undefined) out.pr = quorumFromWire(m.pr);
  if (m.n_val !== undefined) out.nVal = m.n_val;
  if (m.notfound_ok !== undefined) out.notfoundOk = m.notfound_ok;
  if (m.basic_quorum !== undefined) out.basicQuorum = m.basic_quorum;
  if (m.timeout !== undefined) out.timeoutMs = m.timeout;
  if (m.sloppy_quorum !== undefined) out.sloppyQuorum = m.sloppy_quorum;
  return out;
}

/** Quorum fields of a put or delete; a delete's rw stands in for w when w is not given. */
export function writeOptionsOf(m: {
  readonly w?: number;
  readonly dw?: number;
  readonly pw?: number;
  readonly rw?: number;
  readonly n_val?: number;
  readonly timeout?: number;
  readonly sloppy_quorum?: boolean;
}): WriteOptions {
  const out: Mutable<WriteOptions> = {};
  const w = m.w ?? m.rw;
  if (w !== undefined) out.w = quorumFromWire(w);
  if (m.dw !== undefined) out.dw = quorumFromWire(m.dw);
  if (m.pw !== undefined) out.pw = quorumFromWire(m.pw);
  if (m.n_val !== undefined) out.nVal = m.n_val;
  if (m.timeout !== undefined) out.timeoutMs = m.timeout;
  if (m.sloppy_quorum !== undefined) out.sloppyQuorum = m.sloppy_quorum;
  return out;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(a, b) === 0;
}

/**
 * RpbGetReq. Not found is an empty RpbGetResp (Riak's way); with deletedvclock a deleted key
 * answers its tombstone's context and no content; if_modified equal to the current context
 * answers `unchanged`; head sends every sibling without its value; include_expiry (a ringkv
 * extension) adds each expiring sibling's expires_at_ms.
 */
export async function handleGet(deps: KvHandlerDeps, m: RpbGetReq): Promise<Buffer> {
  const key = objectKey(m.type, m.bucket, m.key);
  if (!key.ok) return failure(key.error);
  const result = await deps.kv.get({ ...readOptionsOf(m), key: key.value });
  if (!result.ok) return failure(result.error);
  const reply = result.value;
  if (!reply.found || reply.contents.length === 0) {
    const tombstone = m.deletedvclock === true && reply.context !== undefined ? { vclock: reply.context } : {};
    return encodeMessageFrame(MessageCode.GetResp, 'RpbGetResp', tombstone);
  }
  if (m.if_modified !== undefined && sameBytes(m.if_modified, reply.context)) {
    // Riak leaves the vclock out here, but basho-riak-client reads it from every non-empty
    // RpbGetResp and fails without one; it is the context the client already holds.
    return encodeMessageFrame(MessageCode.GetResp, 'RpbGetResp', { unchanged: true, vclock: reply.context });
  }
  return encodeMessageFrame(MessageCode.GetResp, 'RpbGetResp', { content: contentsOf(reply.contents, m.head !== true, m.include_expiry === true), vclock: reply.context });
}

function contentsOf(contents: readonly Content[], withValue: boolean, withExpiry: boolean): object[] {
  return contents.map((c) => rpbContentOf(c, withValue, withExpiry));
}

/**
 * RpbPutReq. An absent key is generated and returned in RpbPutResp.key; return_body and
 * return_head answer the siblings after the write (return_head without values), with their
 * expires_at_ms under include_expiry. ttl_ms (a ringkv extension) goes to the service as it came:
 * the service judges its range, so a bad value gets the same error as over HTTP.
 */
export async function handlePut(deps: KvHandlerDeps, m: RpbPutReq): Promise<Buffer> {
  const generated = m.key === undefined || m.key.length === 0 ? bytesOf(deps.generateKey()) : undefined;
  const key = objectKey(m.type, m.bucket, generated ?? m.key!);
  if (!key.ok) return failure(key.error);
  if (m.asis === true) return failure({ code: 'invalid_request', message: 'asis (replication writes) is not supported' });
  const content = newContentOf(m.content);
  if (!content.ok) return failure(content.error);
  const preconditions = { ifNoneMatch: m.if_none_match === true, ifNotModified: m.if_not_modified === true };
  const wantBody = m.return_body === true || m.return_head === true;
  const result = await deps.kv.put({
    ...writeOptionsOf(m),
    key: key.value,
    context: m.vclock !== undefined && m.vclock.length > 0 ? m.vclock : undefined,
    content: content.value,
    returnBody: wantBody,
    ...preconditions,
    ...(m.ttl_ms === undefined ? {} : { ttlMs: m.ttl_ms }),
    ...(m.overwrite === true ? { overwrite: true } : {}),
  });
  if (!result.ok) return kvErrorFrame(result.error, preconditions);
  const reply: { content?: object[]; vclock?: Uint8Array; key?: Uint8Array } = {};
  if (generated !== undefined) reply.key = generated;
  if (wantBody && result.value.contents !== undefined) {
    reply.content = contentsOf(result.value.contents, m.return_body === true, m.include_expiry === true);
    reply.vclock = result.value.context;
  }
  return encodeMessageFrame(MessageCode.PutResp, 'RpbPutResp', reply);
}

/**
 * RpbDelReq. A ringkv delete writes a tombstone without reading first, so r and pr (the quorums
 * of Riak's read before a delete) have nothing to govern and are accepted and not used.
 */
export async function handleDelete(deps: KvHandlerDeps, m: RpbDelReq): Promise<Buffer> {
  const key = objectKey(m.type, m.bucket, m.key);
  if (!key.ok) return failure(key.error);
  const result = await deps.kv.delete({ ...writeOptionsOf(m), key: key.value, context: m.vclock !== undefined && m.vclock.length > 0 ? m.vclock : undefined });
  return result.ok ? encodeFrame(MessageCode.DelResp) : failure(result.error);
}

/**
 * Collects a streamed listing's frames up to a byte budget. The tcp front end sends a reply as
 * one piece, so the whole listing is held until it completes; past the budget further chunks are
 * dropped and the listing answers an error instead of a partial list.
 */
class ListingFrames {
  readonly frames: Buffer[] = [];
  private bytes = 0;
  overflowed = false;

  constructor(private readonly maxBytes: number) {}

  add(frame: Buffer): void {
    if (this.overflowed) return;
    this.bytes += frame.length;
    if (this.bytes > this.maxBytes) {
      this.overflowed = true;
      this.frames.length = 0;
      return;
    }
    this.frames.push(frame);
  }

  overflowError(what: string): Buffer {
    return errorFrame(`ringkv: the ${what} listing is over ${this.maxBytes} bytes, the most one listing reply may hold (clientMaxUnsentBytes)`);
  }
}

/** RpbListKeysReq: one RpbListKeysResp per chunk the service delivers, then one with done = true. */
export async function handleListKeys(deps: KvHandlerDeps, m: RpbListKeysReq): Promise<Buffer> {
  const type = bucketTypeOf(m.type);
  if (!type.ok) return failure(type.error);
  const listing = new ListingFrames(deps.maxListingBytes);
  const request = m.timeout === undefined ? { type: type.value, bucket: m.bucket } : { type: type.value, bucket: m.bucket, timeoutMs: m.timeout };
  const result = await deps.kv.listKeys(request, (keys) => {
    if (keys.length > 0) listing.add(encodeMessageFrame(MessageCode.ListKeysResp, 'RpbListKeysResp', { keys }));
  });
  if (!result.ok) return failure(result.error);
  if (listing.overflowed) return listing.overflowError('key');
  listing.add(encodeMessageFrame(MessageCode.ListKeysResp, 'RpbListKeysResp', { done: true }));
  return Buffer.concat(listing.frames);
}

/**
 * RpbListBucketsReq. With stream = true the buckets come in one RpbListBucketsResp marked done;
 * without it, as in Riak, in one reply carrying no done flag.
 */
export async function handleListBuckets(deps: KvHandlerDeps, m: RpbListBucketsReq): Promise<Buffer> {
  const type = bucketTypeOf(m.type);
  if (!type.ok) return failure(type.error);
  const request = m.timeout === undefined ? { type: type.value } : { type: type.value, timeoutMs: m.timeout };
  const result = await deps.kv.listBuckets(request);
  if (!result.ok) return failure(result.error);
  const listing = new ListingFrames(deps.maxListingBytes);
  const body = m.stream === true ? { buckets: result.value, done: true } : { buckets: result.value };
  listing.add(encodeMessageFrame(MessageCode.ListBucketsResp, 'RpbListBucketsResp', body));
  if (listing.overflowed) return listing.overflowError('bucket');
  return listing.frames[0]!;
}
