// The one table from error codes to HTTP statuses, and the writer of JSON error answers. Every
// failure the HTTP front end reports goes through `sendError`, so a code always gets the same
// status. KvService codes are mapped, never reinterpreted; the few codes listed as HTTP-only
// name conditions that never reach the service (no such route, wrong method, a bug).

import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { KvErrorCode } from '../../core/errors.js';

/** Conditions only the HTTP layer sees. `malformed_json` is reserved for endpoints with JSON bodies. */
export type HttpOnlyErrorCode = 'not_found' | 'method_not_allowed' | 'malformed_json' | 'internal_error';
export type HttpErrorCode = KvErrorCode | HttpOnlyErrorCode;

/**
 * code                  status  why
 * invalid_request        400    malformed or out-of-range request (query, headers, path, context)
 * key_too_large          400    not 414: the URL is fine, the key in it is over the node's limit
 * malformed_json         400    a JSON request body does not parse
 * not_found              404    no such key (a tombstone still sends its context), or no such route
 * unknown_bucket_type    404    the {type} in the path is not defined
 * method_not_allowed     405    with Allow listing the route's methods
 * too_many_siblings      409    a conflict the client resolves by reading and writing with the context
 * precondition_failed    412    If-None-Match / If-Match (if_none_match, if_not_modified) did not hold
 * value_too_large        413    body over maxRequestBodyBytes here, or over maxValueBytes in the service
 * object_too_large       413    the stored object (all siblings) would pass the type's maxObjectBytes
 * internal_error         500    a bug: the service threw instead of answering
 * overload               503    with Retry-After: 1; a bounded queue is full
 * insufficient_vnodes    503    too few replicas reachable for the quorum
 * worker_unavailable     503    the vnode host for the partition is restarting
 * storage_failed         503    the node no longer acknowledges writes
 * shutting_down          503    the node is stopping
 * timeout                504    the deadline passed before enough replicas answered
 */
export const statusOfCode: Readonly<Record<HttpErrorCode, number>> = {
  invalid_request: 400,
  key_too_large: 400,
  malformed_json: 400,
  not_found: 404,
  unknown_bucket_type: 404,
  method_not_allowed: 405,
  too_many_siblings: 409,
  precondition_failed: 412,
  value_too_large: 413,
  object_too_large: 413,
  internal_error: 500,
  overload: 503,
  insufficient_vnodes: 503,
  worker_unavailable: 503,
  storage_failed: 503,
  shutting_down: 503,
  timeout: 504,
};

/** Seconds a client should wait before retrying, for the codes that invite a retry. */
const retryAfterSecondsOfCode: Partial<Record<HttpErrorCode, number>> = { overload: 1 };

/** Answers `{"error":{"code","message"}}` with the code's status; `headers` adds Allow, a context, etc. */
export function sendError(res: ServerResponse, code: HttpErrorCode, message: string, headers?: OutgoingHttpHeaders): void {
  if (res.writableEnded) return;
  if (res.headersSent) {
    // The answer is already on its way; the only honest signal left is to cut the connection.
    res.destroy();
    return;
  }
  const body = JSON.stringify({ error: { code, message } });
  const out: OutgoingHttpHeaders = { ...headers, 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) };
  const retryAfter = retryAfterSecondsOfCode[code];
  if (retryAfter !== undefined) out['Retry-After'] = retryAfter;
  res.writeHead(statusOfCode[code], out);
  res.end(body);
}
