// Translation between Riak's protobuf field forms and KvService's types: quorum sentinels,
// RpbContent and siblings, bucket properties, and the text fields Riak carries as bytes. Pure
// translation: nothing here decides a quorum, a sibling or a precondition.

import type { BucketProps, QuorumSetting } from '../../core/bucket.js';
import { type Result, fail, ok } from '../../core/errors.js';
import type { Content, NewContent, Quorum, UserMeta } from '../../core/kv.js';
import type { RpbBucketProps, RpbContent, RpbPair } from './schema.js';

/** Riak's symbolic quorum values on the wire (2^32 - 2 … 2^32 - 5); every other value is a count. */
export const quorumSentinel = { one: 4294967294, quorum: 4294967293, all: 4294967292, default: 4294967291 } as const;

export const defaultBucketType = 'default';
export const defaultContentType = 'application/octet-stream';

const utf8Strict = new TextDecoder('utf-8', { fatal: true });
const utf8Encoder = new TextEncoder();

export function quorumFromWire(value: number): Quorum {
  switch (value) {
    case quorumSentinel.one:
      return 'one';
    case quorumSentinel.quorum:
      return 'quorum';
    case quorumSentinel.all:
      return 'all';
    case quorumSentinel.default:
      return 'default';
    default:
      return value;
  }
}

export function quorumToWire(setting: QuorumSetting): number {
  return typeof setting === 'number' ? setting : quorumSentinel[setting];
}

/** Bytes that must be UTF-8 text (type names, content types, user metadata). */
export function textOf(field: string, bytes: Uint8Array): Result<string> {
  try {
    return ok(utf8Strict.decode(bytes));
  } catch {
    return fail('invalid_request', `${field} must be UTF-8 text`);
  }
}

export function bytesOf(text: string): Uint8Array {
  return utf8Encoder.encode(text);
}

/** The bucket type a request names; Riak's rule is that an absent type means "default". */
export function bucketTypeOf(type: Uint8Array | undefined): Result<string> {
  return type === undefined || type.length === 0 ? ok(defaultBucketType) : textOf('type', type);
}

/**
 * The content of a put. Fields ringkv does not store (links, secondary indexes, charset, content
 * encoding) are refused rather than dropped, so a client never reads back less than it wrote.
 * Server-assigned fields (vtag, last_mod, deleted, and ringkv's expires_at_ms) are ignored, as
 * Riak does: a write's expiry comes from RpbPutReq.ttl_ms alone.
 */
export function newContentOf(content: RpbContent): Result<NewContent> {
  if (content.links !== undefined && content.links.length > 0) return fail('invalid_request', 'links are not supported');
  if (content.indexes !== undefined && content.indexes.length > 0) return fail('invalid_request', 'secondary indexes are not supported');
  if (content.charset !== undefined && content.charset.length > 0) return fail('invalid_request', 'charset is not stored; give it in content_type (e.g. "text/plain; charset=utf-8")');
  if (content.content_encoding !== undefined && content.content_encoding.length > 0) return fail('invalid_request', 'content_encoding is not supported');
  let contentType = defaultContentType;
  if (content.content_type !== undefined && content.content_type.length > 0) {
    const text = textOf('content_type', content.content_type);
    if (!text.ok) return text;
    contentType = text.value;
  }
  const userMeta = userMetaOf(content.usermeta ?? []);
  if (!userMeta.ok) return userMeta;
  return ok({ value: content.value, contentType, userMeta: userMeta.value });
}

function userMetaOf(pairs: readonly RpbPair[]): Result<UserMeta[]> {
  const out: UserMeta[] = [];
  for (const pair of pairs) {
    const key = textOf('usermeta key', pair.key);
    if (!key.ok) return key;
    const value = pair.value === undefined ? ok('') : textOf(`usermeta value of ${key.value}`, pair.value);
    if (!value.ok) return value;
    out.push({ key: key.value, value: value.value });
  }
  return ok(out);
}

/**
 * One sibling as RpbContent; `withValue: false` (head, return_head) sends metadata only. With
 * `withExpiry` (the request's include_expiry), a sibling that expires carries expires_at_ms;
 * without it the fields are exactly Riak's, since some Riak clients refuse a field they do not know.
 */
export function rpbContentOf(content: Content, withValue: boolean, withExpiry: boolean): object {
  const lastModUs = Math.max(0, Math.round(content.lastModifiedMs * 1000));
  return {
    value: withValue ? content.value : new Uint8Array(0),
    content_type: bytesOf(content.contentType),
    vtag: bytesOf(content.vtag),
    last_mod: Math.floor(lastModUs / 1_000_000),
    last_mod_usecs: lastModUs % 1_000_000,
    usermeta: content.userMeta.map((m) => ({ key: bytesOf(m.key), value: bytesOf(m.value) })),
    ...(withExpiry && content.expiresAtMs !== undefined ? { expires_at_ms: content.expiresAtMs } : {}),
  };
}

/**
 * A bucket type's properties as RpbBucketProps. `rw` is reported as `w`: a ringkv delete is a
 * tombstone write, and an RpbDelReq's rw stands in for its w.
 */
export function rpbBucketPropsOf(props: BucketProps): RpbBucketProps {
  return {
    n_val: props.nVal,
    allow_mult: props.allowMult,
    last_write_wins: props.lastWriteWins,
    r: quorumToWire(props.r),
    w: quorumToWire(props.w),
    dw: quorumToWire(props.dw),
    pr: quorumToWire(props.pr),
    pw: quorumToWire(props.pw),
    rw: quorumToWire(props.w),
    basic_quorum: props.basicQuorum,
    notfound_ok: props.notfoundOk,
    ...(props.datatype === undefined ? {} : { datatype: new TextEncoder().encode(props.datatype) }),
  };
}

/** Properties a client may send with the value ringkv always has; sending them changes nothing. */
const inertProps: Readonly<Record<string, unknown>> = { has_precommit: false, has_postcommit: false, search: false, consistent: false, write_once: false, repl: 0 };

/**
 * Whether setting `wanted` would leave `current` as it is: every field sent equals the current
 * value (quorums compared as they go on the wire), and nothing sent is a property ringkv lacks.
 * The names of the fields that differ are returned, for the error message.
 */
export function differingProps(current: BucketProps, wanted: RpbBucketProps): string[] {
  const have = rpbBucketPropsOf(current) as Readonly<Record<string, unknown>>;
  const differing: string[] = [];
  for (const [name, value] of Object.entries(wanted)) {
    if (value === undefined) continue;
    if (Array.isArray(value) && value.length === 0) continue;
    const expected = name in have ? have[name] : inertProps[name];
    const same = value instanceof Uint8Array && expected instanceof Uint8Array ? Buffer.from(value).equals(expected) : value === expected;
    if (!same) differing.push(name);
  }
  return differing;
}

/** The RpbBucketProps fields a bucket type change may carry, by their ringkv property name. */
const changeableProps: Readonly<Record<string, string>> = {
  n_val: 'nVal',
  allow_mult: 'allowMult',
  last_write_wins: 'lastWriteWins',
  r: 'r',
  w: 'w',
  dw: 'dw',
  pr: 'pr',
  pw: 'pw',
  basic_quorum: 'basicQuorum',
  notfound_ok: 'notfoundOk',
  datatype: 'datatype',
};

/**
 * An RpbSetBucketTypeReq's properties as a bucket type change. Quorums go from the wire form to
 * numbers or words (`default` leaves the property as it is), `rw` is ignored (a delete's w is the
 * type's w), properties ringkv always has at their inert value are accepted, and anything else
 * ringkv does not have is refused by name.
 */
export function bucketTypeChangeOf(wanted: RpbBucketProps): Result<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  const unsupported: string[] = [];
  for (const [name, value] of Object.entries(wanted)) {
    if (value === undefined || (Array.isArray(value) && value.length === 0) || name === 'rw') continue;
    const prop = changeableProps[name];
    if (prop === undefined) {
      if (inertProps[name] !== value) unsupported.push(name);
      continue;
    }
    if (['r', 'w', 'dw', 'pr', 'pw'].includes(name)) {
      const quorum = quorumFromWire(value as number);
      if (quorum !== 'default') out[prop] = quorum;
    } else if (name === 'datatype') {
      out[prop] = new TextDecoder().decode(value as Uint8Array);
    } else {
      out[prop] = value;
    }
  }
  return unsupported.length === 0 ? ok(out) : fail('invalid_request', `ringkv bucket types have no ${unsupported.join(', ')}`);
}
