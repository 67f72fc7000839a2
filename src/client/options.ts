// The client's limits and defaults, in one place with units in their names, and the check of
// their relations when a client is made. Nothing here opens a connection.

export interface ClientOptions {
  /** Node addresses as 'host:port'. */
  readonly nodes: readonly string[];
  /** Connections per node, opened lazily as load needs them. */
  readonly poolSize?: number | undefined;
  /** Per-request deadline, from the call to the reply. */
  readonly timeoutMs?: number | undefined;
  /** Requests written to one connection before its reply arrives (pipelining). */
  readonly maxInflightPerConnection?: number | undefined;
  /** Requests waiting per node when every connection is full; past this they fail with `overload`. */
  readonly maxQueuedPerNode?: number | undefined;
  /** The largest reply frame accepted (code byte plus body); a longer one is a protocol_error. */
  readonly maxReplyFrameBytes?: number | undefined;
}

export interface ClientLimits {
  readonly poolSize: number;
  readonly timeoutMs: number;
  readonly maxInflightPerConnection: number;
  readonly maxQueuedPerNode: number;
  readonly maxReplyFrameBytes: number;
}

export const defaultClientLimits: ClientLimits = {
  poolSize: 4,
  timeoutMs: 5000,
  maxInflightPerConnection: 64,
  maxQueuedPerNode: 4096,
  maxReplyFrameBytes: 64 * 1024 * 1024,
};

/** The limits with defaults filled in; throws a TypeError naming every bad value. */
export function clientLimitsOf(options: ClientOptions): ClientLimits {
  const limits: ClientLimits = {
    poolSize: options.poolSize ?? defaultClientLimits.poolSize,
    timeoutMs: options.timeoutMs ?? defaultClientLimits.timeoutMs,
    maxInflightPerConnection: options.maxInflightPerConnection ?? defaultClientLimits.maxInflightPerConnection,
    maxQueuedPerNode: options.maxQueuedPerNode ?? defaultClientLimits.maxQueuedPerNode,
    maxReplyFrameBytes: options.maxReplyFrameBytes ?? defaultClientLimits.maxReplyFrameBytes,
  };
  const problems: string[] = [];
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isInteger(value) || value < (name === 'maxQueuedPerNode' ? 0 : 1)) problems.push(`${name} must be a positive integer (got ${value})`);
  }
  if (options.nodes.length === 0) problems.push('nodes must name at least one host:port');
  for (const node of options.nodes) {
    if (parseAddress(node) === undefined) problems.push(`node ${JSON.stringify(node)} is not host:port`);
  }
  if (problems.length > 0) throw new TypeError(`ringkv client: ${problems.join('; ')}`);
  return limits;
}

export function parseAddress(address: string): { host: string; port: number } | undefined {
  const at = address.lastIndexOf(':');
  if (at <= 0) return undefined;
  const port = Number(address.slice(at + 1));
  if (!Number.isInteger(port) || port < 1 || port > 65535) return undefined;
  return { host: address.slice(0, at).replace(/^\[|\]$/g, ''), port };
}
