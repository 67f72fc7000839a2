// Maps a request path to the route it names, with its path segments percent-decoded: buckets and
// keys to raw bytes, bucket types to UTF-8 text. The structure is matched on the raw segments
// first, so an encoded slash (%2F) belongs to the key. It knows nothing of methods' meaning.

import { type Result, fail, ok } from '../../core/errors.js';
import type { ObjectKey } from '../../core/kv.js';

export const defaultBucketType = 'default';

export type Route =
  /** /v1/[types/{type}/]buckets/{bucket}/keys/{key} */
  | { readonly kind: 'key'; readonly key: ObjectKey }
  /** /v1/[types/{type}/]buckets/{bucket}/keys — POST stores under a generated key. */
  | { readonly kind: 'keys'; readonly type: string; readonly bucket: Uint8Array; readonly locationPrefix: string }
  /** /v1/[types/{type}/]buckets/{bucket}/datatypes/{key}: a counter or set (docs/data-types.md). */
  | { readonly kind: 'datatype'; readonly key: ObjectKey }
  | { readonly kind: 'ping' }
  | { readonly kind: 'stats' }
  /** /v1/types: every bucket type; /v1/types/{type}: one, to read or create/change. */
  | { readonly kind: 'bucketTypes' }
  | { readonly kind: 'bucketType'; readonly type: string }
  /** /metrics: the stats in Prometheus text format. */
  | { readonly kind: 'metrics' }
  /** /v1/cluster/{action}: membership administration. */
  | { readonly kind: 'clusterRead'; readonly action: ClusterReadAction }
  | { readonly kind: 'clusterChange'; readonly action: ClusterChangeAction }
  | { readonly kind: 'none' };

export type ClusterReadAction = 'status' | 'ring' | 'plan';
export type ClusterChangeAction = 'join' | 'leave' | 'commit' | 'clear';
const clusterReadActions: readonly string[] = ['status', 'ring', 'plan'];
const clusterChangeActions: readonly string[] = ['join', 'leave', 'commit', 'clear'];

export type RouteKind = Route['kind'];

/** The methods each route answers; anything else is 405 with this list as Allow. */
export const allowedMethods: Readonly<Record<Exclude<RouteKind, 'none'>, readonly string[]>> = {
  key: ['GET', 'HEAD', 'PUT', 'DELETE'],
  keys: ['POST'],
  datatype: ['GET', 'POST'],
  ping: ['GET', 'HEAD'],
  stats: ['GET', 'HEAD'],
  metrics: ['GET'],
  bucketTypes: ['GET'],
  bucketType: ['GET', 'PUT'],
  clusterRead: ['GET'],
  clusterChange: ['POST'],
};

const noRoute: Route = { kind: 'none' };
const pingRoute: Route = { kind: 'ping' };
const statsRoute: Route = { kind: 'stats' };
const metricsRoute: Route = { kind: 'metrics' };
const utf8Strict = new TextDecoder('utf-8', { fatal: true });
const utf8Encoder = new TextEncoder();

function hexValue(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30;
  if (code >= 0x41 && code <= 0x46) return code - 0x41 + 10;
  if (code >= 0x61 && code <= 0x66) return code - 0x61 + 10;
  return -1;
}

/**
 * The bytes a path segment stands for. Plain ASCII (the common case) is copied byte for byte;
 * percent escapes become their byte. Node hands raw non-ASCII URL bytes over as latin1
 * characters, so those are bytes too; a character above 0xff can only come from a caller that
 * did not go through Node's parser, and becomes its UTF-8 bytes.
 */
export function decodeSegment(name: string, segment: string): Result<Uint8Array> {
  let plain = true;
  for (let i = 0; i < segment.length; i++) {
    const c = segment.charCodeAt(i);
    if (c === 0x25 || c > 0x7f) {
      plain = false;
      break;
    }
  }
  if (plain) {
    const out = new Uint8Array(segment.length);
    for (let i = 0; i < segment.length; i++) out[i] = segment.charCodeAt(i);
    return ok(out);
  }
  const out: number[] = [];
  for (let i = 0; i < segment.length; i++) {
    const c = segment.charCodeAt(i);
    if (c === 0x25) {
      const high = hexValue(segment.charCodeAt(i + 1));
      const low = hexValue(segment.charCodeAt(i + 2));
      if (high < 0 || low < 0) return fail('invalid_request', `the ${name} in the path has a malformed percent escape at "${segment.slice(i, i + 3)}"`);
      out.push(high * 16 + low);
      i += 2;
    } else if (c <= 0xff) {
      out.push(c);
    } else {
      const end = c >= 0xd800 && c <= 0xdbff ? i + 2 : i + 1;
      for (const b of utf8Encoder.encode(segment.slice(i, end))) out.push(b);
      i = end - 1;
    }
  }
  return ok(Uint8Array.from(out));
}

function decodeTypeSegment(segment: string): Result<string> {
  if (/^[\x00-\x24\x26-\x7f]*$/.test(segment)) return ok(segment);
  const bytes = decodeSegment('bucket type', segment);
  if (!bytes.ok) return bytes;
  try {
    return ok(utf8Strict.decode(bytes.value));
  } catch {
    return fail('invalid_request', 'the bucket type in the path is not valid UTF-8');
  }
}

function bucketRoute(type: string, typeSegment: string | undefined, rest: readonly string[], at: number): Result<Route> {
  // rest[at] is 'buckets'; what follows is {bucket}/keys[/{key}] or {bucket}/datatypes/{key}.
  const count = rest.length - at;
  if (rest[at] === 'buckets' && rest[at + 2] === 'datatypes' && count === 4) return datatypeRoute(type, rest[at + 1]!, rest[at + 3]!);
  if (rest[at] !== 'buckets' || rest[at + 2] !== 'keys' || (count !== 3 && count !== 4)) return ok(noRoute);
  const bucketSegment = rest[at + 1]!;
  const bucket = decodeSegment('bucket', bucketSegment);
  if (!bucket.ok) return bucket;
  if (count === 3) {
    const prefix = typeSegment === undefined ? '/v1' : `/v1/types/${typeSegment}`;
    return ok({ kind: 'keys', type, bucket: bucket.value, locationPrefix: `${prefix}/buckets/${bucketSegment}/keys/` });
  }
  const key = decodeSegment('key', rest[at + 3]!);
  if (!key.ok) return key;
  return ok({ kind: 'key', key: { type, bucket: bucket.value, key: key.value } });
}

function datatypeRoute(type: string, bucketSegment: string, keySegment: string): Result<Route> {
  const bucket = decodeSegment('bucket', bucketSegment);
  if (!bucket.ok) return bucket;
  const key = decodeSegment('key', keySegment);
  return key.ok ? ok({ kind: 'datatype', key: { type, bucket: bucket.value, key: key.value } }) : key;
}

/** The route of a path (without its query); `none` when nothing matches, a failure for bad escapes. */
export function matchRoute(path: string): Result<Route> {
  if (path === '/metrics') return ok(metricsRoute);
  if (!path.startsWith('/v1/')) return ok(noRoute);
  const segments = path.split('/');
  // segments[0] is '' (before the leading slash) and segments[1] is 'v1'.
  switch (segments[2]) {
    case 'ping':
      return ok(segments.length === 3 ? pingRoute : noRoute);
    case 'stats':
      return ok(segments.length === 3 ? statsRoute : noRoute);
    case 'cluster': {
      const action = segments[3] ?? '';
      if (segments.length !== 4) return ok(noRoute);
      if (clusterReadActions.includes(action)) return ok({ kind: 'clusterRead', action: action as ClusterReadAction });
      if (clusterChangeActions.includes(action)) return ok({ kind: 'clusterChange', action: action as ClusterChangeAction });
      return ok(noRoute);
    }
    case 'buckets':
      return bucketRoute(defaultBucketType, undefined, segments, 2);
    case 'types': {
      if (segments.length === 3) return ok({ kind: 'bucketTypes' });
      if (segments.length === 4) {
        const named = decodeTypeSegment(segments[3]!);
        return named.ok ? ok({ kind: 'bucketType', type: named.value }) : named;
      }
      if (segments.length < 5) return ok(noRoute);
      const typeSegment = segments[3]!;
      const type = decodeTypeSegment(typeSegment);
      if (!type.ok) return type;
      return bucketRoute(type.value, typeSegment, segments, 4);
    }
    default:
      return ok(noRoute);
  }
}
