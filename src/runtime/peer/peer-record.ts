// What the transport knows about one peer: where it listens, its connections in each stage, the
// messages queued for it this turn, its reconnect backoff and its counters. Plain bookkeeping with
// no I/O of its own; transport.ts makes every decision and keeps these fields consistent.

import type { PeerConnection } from './connection.js';

/** Encoded messages waiting for this turn's flush; bounded by the transport's overload check. */
export class SendQueue {
  private parts: Uint8Array[] = [];
  private queuedBytes = 0;

  get bytes(): number {
    return this.queuedBytes;
  }

  get length(): number {
    return this.parts.length;
  }

  push(part: Uint8Array): void {
    this.parts.push(part);
    this.queuedBytes += part.length;
  }

  /** Empties the queue and returns what it held, in order. */
  take(): Uint8Array[] {
    const parts = this.parts;
    this.parts = [];
    this.queuedBytes = 0;
    return parts;
  }
}

export class PeerRecord {
  address: string | undefined = undefined;
  /** Someone asked to reach this peer (connect or send): keep reconnecting until removed. */
  wanted = false;
  removed = false;
  /** The authenticated connection messages go out on; at most one. */
  live: PeerConnection | undefined = undefined;
  /** Our dial in progress (TCP connect or handshake); at most one. */
  outbound: PeerConnection | undefined = undefined;
  /** Connections from a node claiming this name, past its Hello but not yet authenticated. */
  readonly inbound = new Set<PeerConnection>();
  readonly queue = new SendQueue();
  /** Failed dials since the last success; sets the backoff. */
  failures = 0;
  reconnectTimer: NodeJS.Timeout | undefined = undefined;
  dials = 0;
  messagesSent = 0;
  messagesReceived = 0;
  framesSent = 0;
  lastError: string | undefined = undefined;

  constructor(readonly name: string) {}

  /** True when `connection` is one of this peer's, in any stage. */
  owns(connection: PeerConnection): boolean {
    return this.live === connection || this.outbound === connection || this.inbound.has(connection);
  }

  /** A connection exists or is being made, in either direction. */
  get busy(): boolean {
    return this.live !== undefined || this.outbound !== undefined || this.inbound.size > 0;
  }

  connections(): PeerConnection[] {
    return [...(this.live === undefined ? [] : [this.live]), ...(this.outbound === undefined ? [] : [this.outbound]), ...this.inbound];
  }
}

/**
 * The wait before the next dial after `failures` failed ones: exponential, with jitter so that
 * nodes that lost each other at the same moment do not redial in lockstep, and always within
 * [minMs, maxMs]. `random` is in [0, 1).
 */
export function reconnectDelayMs(failures: number, minMs: number, maxMs: number, random: number): number {
  const ceilingMs = Math.min(maxMs, minMs * 2 ** Math.min(failures + 1, 30));
  return Math.round(minMs + random * (ceilingMs - minMs));
}

/** Splits "host:port" (IPv6 hosts in brackets: "[::1]:7000"); throws on anything else. */
export function parseAddress(address: string): { host: string; port: number } {
  const colon = address.lastIndexOf(':');
  const rawHost = colon < 0 ? '' : address.slice(0, colon);
  const port = Number(address.slice(colon + 1));
  const host = rawHost.startsWith('[') && rawHost.endsWith(']') ? rawHost.slice(1, -1) : rawHost;
  if (host.length === 0 || !Number.isInteger(port) || port < 1 || port > 65535 || address.slice(colon + 1).trim() === '') {
    throw new Error(`invalid peer address ${JSON.stringify(address)}: expected "host:port" with a port in 1-65535`);
  }
  return { host, port };
}
