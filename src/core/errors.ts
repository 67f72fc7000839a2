// Expected failures as values with stable codes. Every front end maps these codes to its own
// wire form (HTTP status, RpbErrorResp, RESP -ERR); none of them invents codes of its own.
// A failed assertion is not one of these: it is a bug and crashes the actor that hit it.

export type KvErrorCode =
  | 'invalid_request'      // the request itself is malformed or out of range
  | 'unknown_bucket_type'  // the bucket type is not defined
  | 'key_too_large'
  | 'value_too_large'
  | 'too_many_siblings'    // the write would leave more siblings than the bucket allows
  | 'object_too_large'     // the write would leave a stored object (all siblings) over the bucket's maxObjectBytes
  | 'precondition_failed'  // if_none_match / if_not_modified did not hold
  | 'overload'             // a bounded queue is full; retry later
  | 'timeout'              // the request deadline passed before enough replicas answered
  | 'insufficient_vnodes'  // fewer replicas reachable than the quorum asks for
  | 'worker_unavailable'   // the vnode host serving the partition died or is restarting
  | 'storage_failed'       // the storage layer failed (an fsync error); the node no longer acknowledges writes
  | 'shutting_down';

/**
 * Every KvErrorCode, in a fixed order (the thread batches send a code as its index here). The
 * Record makes the compiler insist on every member of the union, so a new code cannot be left out.
 */
export const kvErrorCodes = Object.keys({
  invalid_request: true,
  unknown_bucket_type: true,
  key_too_large: true,
  value_too_large: true,
  too_many_siblings: true,
  object_too_large: true,
  precondition_failed: true,
  overload: true,
  timeout: true,
  insufficient_vnodes: true,
  worker_unavailable: true,
  storage_failed: true,
  shutting_down: true,
} satisfies Record<KvErrorCode, true>) as readonly KvErrorCode[];

const knownCodes: ReadonlySet<string> = new Set(kvErrorCodes);

/** Whether a string from outside (a peer, a decoded message) is one of the codes. */
export function isKvErrorCode(code: unknown): code is KvErrorCode {
  return typeof code === 'string' && knownCodes.has(code);
}

export interface KvError {
  readonly code: KvErrorCode;
  readonly message: string;
}

export type Result<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: KvError };

export function ok<T>(value: T): Result<T> {
  return { ok: true, value };
}

export function fail<T = never>(code: KvErrorCode, message: string): Result<T> {
  return { ok: false, error: { code, message } };
}

export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(`assertion failed: ${message}`);
}

export function assertNever(value: never): never {
  throw new Error(`unexpected value: ${JSON.stringify(value)}`);
}
