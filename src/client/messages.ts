// The requests the client sends and the replies it reads, as Riak protocol-buffers frames:
// option objects become RpbGetReq/RpbPutReq/RpbDelReq/RpbListKeysReq, and reply frames become
// typed values (siblings, contexts). Pure translation: no sockets, no retries, no timers.

import { quorumFromWire, quorumSentinel } from '../runtime/pb/convert.js';
import { encodeFrame, encodeMessageFrame } from '../runtime/pb/frame.js';
import { MessageCode, type RpbBucketProps, type RpbContent, decodeMessage } from '../runtime/pb/schema.js';
import type { ReplyDecoder } from './call.js';
import { RingkvError } from './errors.js';

/** A causal context as the server hands it out: opaque bytes, only ever passed back. */
export type Context = Buffer & { readonly __ringkvContext: true };

/** A count of replicas, or one of Riak's symbolic quorums. */
export type Quorum = number | 'one' | 'quorum' | 'all' | 'default';

/** Bucket, key and bucket type are byte strings; a string is taken as UTF-8. */
export type Bytes = string | Uint8Array;

export interface UserMetaEntry {
  readonly key: string;
  readonly value: string;
}

export interface Sibling {
  readonly value: Buffer;
  readonly contentType: string;
  readonly lastModifiedMs: number;
  readonly vtag: string;
  readonly userMeta: readonly UserMetaEntry[];
  /** When this sibling expires, in ms since the epoch; absent: never (docs/ttl.md). */
  readonly expiresAtMs?: number;
}

/** A read: not found (with the tombstone's context when the key was deleted), or its siblings. */
export type GetReply =
  | { readonly found: false; readonly context?: Context }
  | { readonly found: true; readonly siblings: readonly Sibling[]; readonly context: Context };

export interface PutReply {
  readonly context: Context;
  /** The siblings after the write, with values, when `returnBody` was asked for. */
  readonly siblings?: readonly Sibling[];
}

export interface GetOptions {
  readonly type?: Bytes | undefined;
  readonly r?: Quorum | undefined;
  readonly pr?: Quorum | undefined;
  readonly notfoundOk?: boolean | undefined;
  readonly nVal?: number | undefined;
  readonly timeoutMs?: number | undefined;
  /** The node's own deadline for the request, sent as its `timeout`; unset: the node's defaultTimeoutMs. */
  readonly nodeTimeoutMs?: number | undefined;
}

export interface PutOptions {
  readonly type?: Bytes | undefined;
  readonly context?: Context | undefined;
  readonly contentType?: string | undefined;
  readonly userMeta?: readonly UserMetaEntry[] | undefined;
  readonly w?: Quorum | undefined;
  readonly dw?: Quorum | undefined;
  readonly pw?: Quorum | undefined;
  readonly returnBody?: boolean | undefined;
  readonly ifNoneMatch?: boolean | undefined;
  readonly ifNotModified?: boolean | undefined;
  readonly nVal?: number | undefined;
  /**
   * The value expires this long after the write, by the coordinating node's clock; 0: never,
   * whatever the bucket type's default; unset: the type's default (docs/ttl.md).
   */
  readonly ttlMs?: number | undefined;
  /**
   * Supersede what the replica applying the write holds, without a context (docs/versions.md): a
   * blind write that does not add a sibling. Not with `context` or `ifNotModified`.
   */
  readonly overwrite?: boolean | undefined;
  readonly timeoutMs?: number | undefined;
  /** The node's own deadline for the request, sent as its `timeout`; unset: the node's defaultTimeoutMs. */
  readonly nodeTimeoutMs?: number | undefined;
}

export interface DeleteOptions {
  readonly type?: Bytes | undefined;
  readonly context?: Context | undefined;
  readonly w?: Quorum | undefined;
  readonly dw?: Quorum | undefined;
  readonly pw?: Quorum | undefined;
  readonly nVal?: number | undefined;
  readonly timeoutMs?: number | undefined;
  /** The node's own deadline for the request, sent as its `timeout`; unset: the node's defaultTimeoutMs. */
  readonly nodeTimeoutMs?: number | undefined;
}

export interface ListKeysOptions {
  readonly type?: Bytes | undefined;
  readonly timeoutMs?: number | undefined;
  /** The node's own deadline for the listing, sent as its `timeout`; unset: the node's defaultTimeoutMs. */
  readonly nodeTimeoutMs?: number | undefined;
}

const bytes = (value: Bytes): Buffer => (typeof value === 'string' ? Buffer.from(value, 'utf8') : Buffer.from(value.buffer, value.byteOffset, value.byteLength));
const text = (value: Uint8Array | undefined): string => (value === undefined ? '' : Buffer.from(value).toString('utf8'));
const asContext = (value: Uint8Array): Context => Buffer.from(value) as Context;

function quorumOnWire(quorum: Quorum): number {
  return typeof quorum === 'number' ? quorum : quorumSentinel[quorum];
}

/** Copies the options that are set, so unset ones stay off the wire. */
function defined(fields: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined));
}

function quorums(fields: Record<string, Quorum | undefined>): Record<string, number> {
  return defined(Object.fromEntries(Object.entries(fields).map(([name, q]) => [name, q === undefined ? undefined : quorumOnWire(q)]))) as Record<string, number>;
}

function expectCode(expected: number, code: number, what: string): void {
  if (code !== expected) throw new RingkvError('protocol_error', `expected ${what} (code ${expected}), got code ${code}`);
}

function siblingOf(content: RpbContent): Sibling {
  return {
    value: Buffer.from(content.value),
    contentType: text(content.content_type),
    lastModifiedMs: (content.last_mod ?? 0) * 1000 + Math.floor((content.last_mod_usecs ?? 0) / 1000),
    vtag: text(content.vtag),
    userMeta: (content.usermeta ?? []).map((pair) => ({ key: text(pair.key), value: text(pair.value) })),
    ...(content.expires_at_ms === undefined ? {} : { expiresAtMs: content.expires_at_ms }),
  };
}

/**
 * ttl_ms goes on the wire as a uint64, which would silently truncate a fraction and wrap a
 * negative number into a huge one; such a value is refused here, before anything is sent. Its
 * range (at most ten years) is the node's to judge, so every API answers it alike.
 */
/** An overwrite supersedes what the applying replica holds; a context would contradict it. */
function overwriteOnWire(options: PutOptions): true | undefined {
  if (options.overwrite !== true) return undefined;
  if (options.context !== undefined || options.ifNotModified === true) throw new TypeError('ringkv client: overwrite takes no context and no ifNotModified');
  return true;
}

function ttlOnWire(ttlMs: number | undefined): number | undefined {
  if (ttlMs !== undefined && !(Number.isSafeInteger(ttlMs) && ttlMs >= 0)) throw new TypeError(`ringkv client: ttlMs must be a non-negative integer (got ${ttlMs})`);
  return ttlMs;
}

export function getRequest(bucket: Bytes, key: Bytes, options: GetOptions): Buffer {
  return encodeMessageFrame(MessageCode.GetReq, 'RpbGetReq', {
    bucket: bytes(bucket),
    key: bytes(key),
    // A deleted key answers its tombstone's context, so a later write supersedes the delete.
    deletedvclock: true,
    // ringkv's extension: each sibling's expiry (never sent to a client that does not ask).
    include_expiry: true,
    ...quorums({ r: options.r, pr: options.pr }),
    ...defined({ notfound_ok: options.notfoundOk, n_val: options.nVal, timeout: options.nodeTimeoutMs, type: options.type === undefined ? undefined : bytes(options.type) }),
  });
}

export const decodeGetReply: ReplyDecoder<GetReply> = (code, body) => {
  expectCode(MessageCode.GetResp, code, 'RpbGetResp');
  const message = decodeMessage<{ content?: RpbContent[]; vclock?: Uint8Array }>('RpbGetResp', body);
  const siblings = (message.content ?? []).map(siblingOf);
  if (siblings.length === 0) return { done: true, value: message.vclock === undefined ? { found: false } : { found: false, context: asContext(message.vclock) } };
  if (message.vclock === undefined) throw new RingkvError('protocol_error', 'RpbGetResp has content but no vclock');
  return { done: true, value: { found: true, siblings, context: asContext(message.vclock) } };
};

export function putRequest(bucket: Bytes, key: Bytes, value: Bytes, options: PutOptions): Buffer {
  const content = defined({
    value: bytes(value),
    content_type: options.contentType === undefined ? undefined : bytes(options.contentType),
    usermeta: options.userMeta?.map((m) => ({ key: bytes(m.key), value: bytes(m.value) })),
  });
  return encodeMessageFrame(MessageCode.PutReq, 'RpbPutReq', {
    bucket: bytes(bucket),
    key: bytes(key),
    content,
    // return_head brings back the new context without the values.
    ...(options.returnBody === true ? { return_body: true, include_expiry: true } : { return_head: true }),
    ...quorums({ w: options.w, dw: options.dw, pw: options.pw }),
    ...defined({
      vclock: options.context,
      if_none_match: options.ifNoneMatch,
      if_not_modified: options.ifNotModified,
      n_val: options.nVal,
      timeout: options.nodeTimeoutMs,
      type: options.type === undefined ? undefined : bytes(options.type),
      ttl_ms: ttlOnWire(options.ttlMs),
      overwrite: overwriteOnWire(options),
    }),
  });
}

export function decodePutReply(withBody: boolean): ReplyDecoder<PutReply> {
  return (code, body) => {
    expectCode(MessageCode.PutResp, code, 'RpbPutResp');
    const message = decodeMessage<{ content?: RpbContent[]; vclock?: Uint8Array }>('RpbPutResp', body);
    if (message.vclock === undefined) throw new RingkvError('protocol_error', 'RpbPutResp has no vclock although the write asked for one');
    const context = asContext(message.vclock);
    return { done: true, value: withBody ? { context, siblings: (message.content ?? []).map(siblingOf) } : { context } };
  };
}

export function deleteRequest(bucket: Bytes, key: Bytes, options: DeleteOptions): Buffer {
  return encodeMessageFrame(MessageCode.DelReq, 'RpbDelReq', {
    bucket: bytes(bucket),
    key: bytes(key),
    ...quorums({ w: options.w, dw: options.dw, pw: options.pw }),
    ...defined({ vclock: options.context, n_val: options.nVal, timeout: options.nodeTimeoutMs, type: options.type === undefined ? undefined : bytes(options.type) }),
  });
}

export const decodeDeleteReply: ReplyDecoder<void> = (code) => {
  expectCode(MessageCode.DelResp, code, 'RpbDelResp');
  return { done: true, value: undefined };
};

export function listKeysRequest(bucket: Bytes, options: ListKeysOptions): Buffer {
  return encodeMessageFrame(MessageCode.ListKeysReq, 'RpbListKeysReq', {
    bucket: bytes(bucket),
    ...defined({ timeout: options.nodeTimeoutMs, type: options.type === undefined ? undefined : bytes(options.type) }),
  });
}

/** A streamed listing: keys gather across RpbListKeysResp frames until one says done. */
export function decodeListKeysReply(): ReplyDecoder<Buffer[]> {
  const keys: Buffer[] = [];
  return (code, body) => {
    expectCode(MessageCode.ListKeysResp, code, 'RpbListKeysResp');
    const message = decodeMessage<{ keys?: Uint8Array[]; done?: boolean }>('RpbListKeysResp', body);
    for (const key of message.keys ?? []) keys.push(Buffer.from(key));
    return message.done === true ? { done: true, value: keys } : { done: false };
  };
}

/** A bucket's properties as the node reports them; quorums as counts or one|quorum|all|default. */
export interface BucketProps {
  readonly nVal?: number;
  readonly allowMult?: boolean;
  readonly lastWriteWins?: boolean;
  readonly r?: Quorum;
  readonly w?: Quorum;
  readonly dw?: Quorum;
  readonly pr?: Quorum;
  readonly pw?: Quorum;
  readonly basicQuorum?: boolean;
  readonly notfoundOk?: boolean;
  /** 'counter' or 'set' for a type holding a data type. */
  readonly datatype?: string;
}

export function bucketPropsRequest(bucket: Bytes, options: { readonly type?: string | undefined }): Buffer {
  return encodeMessageFrame(MessageCode.GetBucketReq, 'RpbGetBucketReq', {
    bucket: bytes(bucket),
    ...defined({ type: options.type === undefined ? undefined : bytes(options.type) }),
  });
}

export const decodeBucketPropsReply: ReplyDecoder<BucketProps> = (code, body) => {
  expectCode(MessageCode.GetBucketResp, code, 'RpbGetBucketResp');
  const { props } = decodeMessage<{ props: RpbBucketProps }>('RpbGetBucketResp', body);
  const quorum = (value: number | undefined): Quorum | undefined => (value === undefined ? undefined : quorumFromWire(value));
  const out: Record<string, unknown> = {
    nVal: props.n_val,
    allowMult: props.allow_mult,
    lastWriteWins: props.last_write_wins,
    r: quorum(props.r),
    w: quorum(props.w),
    dw: quorum(props.dw),
    pr: quorum(props.pr),
    pw: quorum(props.pw),
    basicQuorum: props.basic_quorum,
    notfoundOk: props.notfound_ok,
    datatype: props.datatype === undefined || props.datatype === null ? undefined : Buffer.from(props.datatype as Uint8Array).toString('utf8'),
  };
  for (const name of Object.keys(out)) if (out[name] === undefined || out[name] === null) delete out[name];
  return { done: true, value: out as BucketProps };
};

export const pingRequest = (): Buffer => encodeFrame(MessageCode.PingReq);

export const decodePingReply: ReplyDecoder<void> = (code) => {
  expectCode(MessageCode.PingResp, code, 'RpbPingResp');
  return { done: true, value: undefined };
};

/**
 * Merges a read's siblings into one value to write back with the read's context, which tells
 * the server the write supersedes every sibling it saw. A not-found reply merges no siblings.
 */
export function resolve(reply: GetReply, merge: (siblings: readonly Sibling[]) => Buffer): { value: Buffer; context?: Context } {
  const value = merge(reply.found ? reply.siblings : []);
  return reply.context === undefined ? { value } : { value, context: reply.context };
}
