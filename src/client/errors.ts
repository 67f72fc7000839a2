// The client's expected failures: one error class with a stable code, and the mapping from a
// server's RpbErrorResp text to those codes. Callers match on `code`, never on message text;
// the server's own errmsg is kept on the error for logs.

/** Stable codes of every failure the client reports. */
export type RingkvErrorCode =
  | 'timeout'             // no reply within timeoutMs, or the server answered `timeout`
  | 'unreachable'         // the connection could not be made or was reset
  | 'precondition_failed' // ifNoneMatch (`match_found`) or ifNotModified (`modified`) did not hold
  | 'overload'            // the server, or this client's own wait queue, is full; retry later
  | 'server_error'        // any other RpbErrorResp; the message is kept
  | 'protocol_error'      // a reply that is not what the request expects
  | 'closed';             // the client was closed before the request was answered

export class RingkvError extends Error {
  override readonly name = 'RingkvError';

  constructor(
    readonly code: RingkvErrorCode,
    message: string,
    /** The server's errmsg, when the failure came from an RpbErrorResp. */
    readonly errmsg?: string,
  ) {
    super(message);
  }
}

/**
 * Names an RpbErrorResp. ringkv sends Riak's exact strings for preconditions, timeouts and
 * overload, and "<code>: <message>" for everything else, so both forms are matched.
 */
export function errorFromServer(errmsg: string): RingkvError {
  const code = errmsg.split(':', 1)[0]!.trim();
  switch (code) {
    case 'match_found':
    case 'modified':
    case 'precondition_failed':
      return new RingkvError('precondition_failed', `precondition failed: ${errmsg}`, errmsg);
    case 'overload':
      return new RingkvError('overload', `server overloaded: ${errmsg}`, errmsg);
    case 'timeout':
      return new RingkvError('timeout', `server timed out: ${errmsg}`, errmsg);
    default:
      return new RingkvError('server_error', errmsg, errmsg);
  }
}

/** Socket error codes that mean the node cannot be reached (so a read may go elsewhere). */
const unreachableSocketCodes = new Set(['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN']);

export function errorFromSocket(address: string, error: Error & { code?: string }): RingkvError {
  const why = error.code ?? error.message;
  if (error.code !== undefined && unreachableSocketCodes.has(error.code)) {
    return new RingkvError('unreachable', `${address} is unreachable (${why})`);
  }
  return new RingkvError('unreachable', `${address}: connection failed (${why})`);
}
