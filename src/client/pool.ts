// The connections to one node: opened lazily up to poolSize, each carrying up to
// maxInflightPerConnection requests, with a bounded wait queue in front for when all are full.
// It arms each request's deadline; a request that times out in flight takes its connection
// (and that connection's other requests) down with it, because reply order is then lost.

import { Call, type ReplyDecoder } from './call.js';
import { Connection } from './connection.js';
import { RingkvError } from './errors.js';
import type { ClientLimits } from './options.js';

export class NodePool {
  private readonly connections: Connection[] = [];
  /** Requests waiting for room on a connection, oldest first; at most maxQueuedPerNode. */
  private readonly queue: Call[] = [];
  private closedWith: RingkvError | undefined;

  constructor(
    readonly address: string,
    private readonly host: string,
    private readonly port: number,
    private readonly limits: ClientLimits,
  ) {}

  request<T>(frame: Buffer, decode: ReplyDecoder<T>, timeoutMs: number): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const call = new Call<T>(frame, decode, resolve, reject);
      if (this.closedWith !== undefined) return call.reject(this.closedWith);
      call.arm(timeoutMs, (expired) => this.expire(expired as Call, timeoutMs));
      const connection = this.connectionWithRoom();
      if (connection !== undefined) return connection.send(call as Call);
      if (this.queue.length >= this.limits.maxQueuedPerNode) {
        return call.reject(new RingkvError('overload', `${this.address}: ${this.queue.length} requests already wait for a connection (maxQueuedPerNode)`));
      }
      this.queue.push(call as Call);
    });
  }

  /** Fails queued and in-flight requests with `closed` and closes every connection. */
  close(): void {
    this.closedWith ??= new RingkvError('closed', 'the client was closed');
    for (const call of this.queue.splice(0)) call.reject(this.closedWith);
    for (const connection of [...this.connections]) connection.destroy(this.closedWith);
  }

  /**
   * The least-loaded open connection with room. A new connection is opened when the pool is
   * not full and every open one is already busy, so light load keeps using one connection.
   */
  private connectionWithRoom(): Connection | undefined {
    let best: Connection | undefined;
    for (const connection of this.connections) {
      if (best === undefined || connection.inflightCount < best.inflightCount) best = connection;
    }
    if ((best === undefined || best.inflightCount > 0) && this.connections.length < this.limits.poolSize) return this.open();
    return best !== undefined && best.inflightCount < this.limits.maxInflightPerConnection ? best : undefined;
  }

  private open(): Connection {
    const connection = new Connection(this.address, this.host, this.port, this.limits.maxReplyFrameBytes, {
      onSlotFree: () => this.drain(),
      onClosed: (closed) => {
        this.connections.splice(this.connections.indexOf(closed), 1);
        // Deferred so that a node that refuses every connection fails queued requests one
        // connection attempt at a time instead of recursing.
        if (this.queue.length > 0) setImmediate(() => this.drain());
      },
    });
    this.connections.push(connection);
    return connection;
  }

  private drain(): void {
    while (this.queue.length > 0 && this.closedWith === undefined) {
      const connection = this.connectionWithRoom();
      if (connection === undefined) return;
      const call = this.queue.shift()!;
      if (!call.isSettled) connection.send(call);
    }
  }

  private expire(call: Call, timeoutMs: number): void {
    const error = new RingkvError('timeout', `${this.address}: no reply within ${timeoutMs} ms`);
    const at = this.queue.indexOf(call);
    if (at >= 0) {
      this.queue.splice(at, 1);
      call.reject(error);
      return;
    }
    const carrier = this.connections.find((connection) => connection.carries(call));
    if (carrier === undefined) return call.reject(error);
    // The rest of this connection's replies can no longer be matched to their requests.
    call.reject(error);
    carrier.destroy(new RingkvError('timeout', `${this.address}: an earlier request on the same connection timed out after ${timeoutMs} ms`));
  }
}
