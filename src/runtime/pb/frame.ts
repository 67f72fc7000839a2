// The Riak protocol-buffers framing: a 4-byte big-endian length (code byte plus body), a 1-byte
// message code, a protobuf body. It cuts requests off a connection's buffer and decodes them into
// the `PbRequest` union, and encodes replies; it never looks at what a request asks for.
// A too-long frame is refused from its header, before any of its body is buffered.

import type { ParseResult } from '../wire/tcp-front-end.js';
import {
  MessageCode,
  type MessageName,
  type DtFetchReq,
  type DtUpdateReq,
  type RpbCounterGetReq,
  type RpbCounterUpdateReq,
  type RpbDelReq,
  type RpbGetBucketKeyPreflistReq,
  type RpbGetBucketReq,
  type RpbGetBucketTypeReq,
  type RpbGetReq,
  type RpbListBucketsReq,
  type RpbListKeysReq,
  type RpbPutReq,
  type RpbResetBucketReq,
  type RpbSetBucketReq,
  type RpbSetBucketTypeReq,
  decodeMessage,
  encodeMessage,
} from './schema.js';

export const frameHeaderBytes = 4;
/** Riak sends errcode 1 for every error; clients match on errmsg. */
export const defaultErrcode = 1;

/** A decoded request, named for what it asks. */
export type PbRequest =
  | { readonly kind: 'ping' }
  | { readonly kind: 'server_info' }
  | { readonly kind: 'get'; readonly message: RpbGetReq }
  | { readonly kind: 'put'; readonly message: RpbPutReq }
  | { readonly kind: 'delete'; readonly message: RpbDelReq }
  | { readonly kind: 'list_buckets'; readonly message: RpbListBucketsReq }
  | { readonly kind: 'list_keys'; readonly message: RpbListKeysReq }
  | { readonly kind: 'get_bucket'; readonly message: RpbGetBucketReq }
  | { readonly kind: 'set_bucket'; readonly message: RpbSetBucketReq }
  | { readonly kind: 'reset_bucket'; readonly message: RpbResetBucketReq }
  | { readonly kind: 'get_bucket_type'; readonly message: RpbGetBucketTypeReq }
  | { readonly kind: 'set_bucket_type'; readonly message: RpbSetBucketTypeReq }
  | { readonly kind: 'get_preflist'; readonly message: RpbGetBucketKeyPreflistReq }
  | { readonly kind: 'dt_fetch'; readonly message: DtFetchReq }
  | { readonly kind: 'dt_update'; readonly message: DtUpdateReq }
  | { readonly kind: 'counter_update'; readonly message: RpbCounterUpdateReq }
  | { readonly kind: 'counter_get'; readonly message: RpbCounterGetReq }
  /** A known Riak request that ringkv does not serve yet; answered with `errmsg`. */
  | { readonly kind: 'not_available'; readonly code: number; readonly errmsg: string };

type DecodedKind = Exclude<PbRequest['kind'], 'ping' | 'server_info' | 'not_available'>;

/** The request codes with a body, the message each carries, and the request kind it becomes. */
const decodedRequests: ReadonlyMap<number, { readonly name: MessageName; readonly kind: DecodedKind }> = new Map([
  [MessageCode.GetReq, { name: 'RpbGetReq', kind: 'get' }],
  [MessageCode.PutReq, { name: 'RpbPutReq', kind: 'put' }],
  [MessageCode.DelReq, { name: 'RpbDelReq', kind: 'delete' }],
  [MessageCode.ListBucketsReq, { name: 'RpbListBucketsReq', kind: 'list_buckets' }],
  [MessageCode.ListKeysReq, { name: 'RpbListKeysReq', kind: 'list_keys' }],
  [MessageCode.GetBucketReq, { name: 'RpbGetBucketReq', kind: 'get_bucket' }],
  [MessageCode.SetBucketReq, { name: 'RpbSetBucketReq', kind: 'set_bucket' }],
  [MessageCode.ResetBucketReq, { name: 'RpbResetBucketReq', kind: 'reset_bucket' }],
  [MessageCode.GetBucketTypeReq, { name: 'RpbGetBucketTypeReq', kind: 'get_bucket_type' }],
  [MessageCode.SetBucketTypeReq, { name: 'RpbSetBucketTypeReq', kind: 'set_bucket_type' }],
  [MessageCode.GetBucketKeyPreflistReq, { name: 'RpbGetBucketKeyPreflistReq', kind: 'get_preflist' }],
  [MessageCode.DtFetchReq, { name: 'DtFetchReq', kind: 'dt_fetch' }],
  [MessageCode.DtUpdateReq, { name: 'DtUpdateReq', kind: 'dt_update' }],
  [MessageCode.CounterUpdateReq, { name: 'RpbCounterUpdateReq', kind: 'counter_update' }],
  [MessageCode.CounterGetReq, { name: 'RpbCounterGetReq', kind: 'counter_get' }],
]);

export const securityNotAvailable = 'ringkv: security (authentication and TLS) is not available yet';

/** Riak requests that are recognised and refused with a message saying why, not as unknown codes. */
const notAvailable: ReadonlyMap<number, string> = new Map([
  [MessageCode.AuthReq, securityNotAvailable],
  [MessageCode.StartTls, securityNotAvailable],
]);

/** One frame: header, code, body. */
export function encodeFrame(code: number, body: Uint8Array = new Uint8Array(0)): Buffer {
  const frame = Buffer.allocUnsafe(frameHeaderBytes + 1 + body.length);
  frame.writeUInt32BE(1 + body.length, 0);
  frame[frameHeaderBytes] = code;
  frame.set(body, frameHeaderBytes + 1);
  return frame;
}

export function encodeMessageFrame(code: number, name: MessageName, message: object): Buffer {
  return encodeFrame(code, encodeMessage(name, message));
}

export function errorFrame(errmsg: string, errcode: number = defaultErrcode): Buffer {
  return encodeMessageFrame(MessageCode.ErrorResp, 'RpbErrorResp', { errmsg: Buffer.from(errmsg, 'utf8'), errcode });
}

/**
 * Cuts the next request off the front of `buffer`. A frame longer than `maxFrameBytes` (code
 * byte plus body) or of length 0 cannot be skipped safely, so it is answered and the connection
 * closed; an unknown code or an undecodable body is answered and the connection goes on.
 */
export function parseFrame(buffer: Buffer, maxFrameBytes: number): ParseResult<PbRequest> {
  if (buffer.length < frameHeaderBytes) return { kind: 'incomplete' };
  const length = buffer.readUInt32BE(0);
  if (length === 0) {
    return { kind: 'error', reply: errorFrame('ringkv: a frame of length 0 has no message code; closing the connection') };
  }
  if (length > maxFrameBytes) {
    return { kind: 'error', reply: errorFrame(`ringkv: a frame of ${length} bytes is over the limit of ${maxFrameBytes} bytes (maxRequestBodyBytes); closing the connection`) };
  }
  const frameBytes = frameHeaderBytes + length;
  if (buffer.length < frameBytes) return { kind: 'incomplete', needBytes: frameBytes };
  const code = buffer[frameHeaderBytes]!;
  const body = buffer.subarray(frameHeaderBytes + 1, frameBytes);
  const request = requestOf(code, body);
  if (typeof request === 'string') return { kind: 'error', reply: errorFrame(request), bytes: frameBytes };
  return { kind: 'frame', request, bytes: frameBytes };
}

/** The request a frame carries, or the errmsg saying why it cannot be read. */
function requestOf(code: number, body: Buffer): PbRequest | string {
  if (code === MessageCode.PingReq) return { kind: 'ping' };
  if (code === MessageCode.GetServerInfoReq) return { kind: 'server_info' };
  const refusal = notAvailable.get(code);
  if (refusal !== undefined) return { kind: 'not_available', code, errmsg: refusal };
  const decoded = decodedRequests.get(code);
  if (decoded === undefined) return `ringkv: unknown or unsupported message code ${code}`;
  try {
    return { kind: decoded.kind, message: decodeMessage(decoded.name, body) } as PbRequest;
  } catch (error) {
    return `ringkv: cannot decode ${decoded.name} (message code ${code}): ${(error as Error).message}`;
  }
}
