// One TCP connection to a node, with many requests in flight. The protocol has no request ids,
// so replies are matched to the FIFO of requests written; anything that breaks that order (a
// timeout, a reset, a reply that does not fit) destroys the connection and fails every request
// still in flight on it. It does not choose nodes, queue, or retry: the pool and client do.

import { type Socket, createConnection } from 'node:net';
import { MessageCode, decodeMessage } from '../runtime/pb/schema.js';
import type { Call } from './call.js';
import { RingkvError, errorFromServer, errorFromSocket } from './errors.js';

const frameHeaderBytes = 4;

interface RpbErrorResp {
  readonly errmsg: Uint8Array;
  readonly errcode: number;
}

export interface ConnectionEvents {
  /** A request finished, so the connection has room for another. */
  readonly onSlotFree: (connection: Connection) => void;
  /** The connection is gone; every request it carried has been failed. */
  readonly onClosed: (connection: Connection) => void;
}

export class Connection {
  private readonly socket: Socket;
  /** Written requests awaiting replies, oldest first; bounded by the pool's maxInflightPerConnection. */
  private readonly inflight: Call[] = [];
  private buffer: Buffer = Buffer.alloc(0);
  private closed = false;

  constructor(
    readonly address: string,
    host: string,
    port: number,
    private readonly maxReplyFrameBytes: number,
    private readonly events: ConnectionEvents,
  ) {
    this.socket = createConnection({ host, port, noDelay: true });
    this.socket.on('data', (chunk: Buffer) => this.receive(chunk));
    this.socket.on('error', (error) => this.destroy(errorFromSocket(address, error)));
    this.socket.on('close', () => this.destroy(new RingkvError('unreachable', `${address} closed the connection`)));
  }

  get inflightCount(): number {
    return this.inflight.length;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Whether `call` is waiting on this connection (so its timeout must break the connection). */
  carries(call: Call): boolean {
    return this.inflight.includes(call);
  }

  send(call: Call): void {
    if (this.closed) throw new Error('assertion failed: send on a closed connection');
    this.inflight.push(call);
    this.socket.write(call.frame);
  }

  /** Fails every request in flight with `error` and closes the socket; idempotent. */
  destroy(error: RingkvError): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.destroy();
    const failed = this.inflight.splice(0);
    for (const call of failed) call.reject(error);
    this.events.onClosed(this);
  }

  private receive(chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    let offset = 0;
    while (!this.closed && this.buffer.length - offset >= frameHeaderBytes) {
      const length = this.buffer.readUInt32BE(offset);
      if (length === 0 || length > this.maxReplyFrameBytes) {
        this.destroy(new RingkvError('protocol_error', `${this.address} sent a reply frame of ${length} bytes (limit maxReplyFrameBytes = ${this.maxReplyFrameBytes})`));
        return;
      }
      const end = offset + frameHeaderBytes + length;
      if (this.buffer.length < end) break;
      const code = this.buffer[offset + frameHeaderBytes]!;
      // A copy, so a decoded value never pins the whole receive buffer.
      const body = Buffer.from(this.buffer.subarray(offset + frameHeaderBytes + 1, end));
      offset = end;
      this.deliver(code, body);
    }
    this.buffer = offset === 0 ? this.buffer : this.buffer.subarray(offset);
  }

  /** Hands one reply frame to the oldest request in flight. */
  private deliver(code: number, body: Buffer): void {
    const call = this.inflight[0];
    if (call === undefined) {
      this.destroy(new RingkvError('protocol_error', `${this.address} sent a reply (code ${code}) with no request in flight`));
      return;
    }
    try {
      if (code === MessageCode.ErrorResp) {
        const message = decodeMessage<RpbErrorResp>('RpbErrorResp', body);
        this.complete(() => call.reject(errorFromServer(Buffer.from(message.errmsg).toString('utf8'))));
        return;
      }
      const decoded = call.decode(code, body);
      if (decoded.done) this.complete(() => call.resolve(decoded.value));
    } catch (error) {
      const why = error instanceof RingkvError ? error : new RingkvError('protocol_error', `${this.address}: cannot decode reply code ${code}: ${(error as Error).message}`);
      this.destroy(why);
    }
  }

  private complete(settle: () => void): void {
    this.inflight.shift();
    settle();
    this.events.onSlotFree(this);
  }
}
