// The shared TCP machinery of the binary front ends (Riak protocol buffers, Redis protocol): a
// listener with a total connection cap, and per connection a frame parser fed from the socket,
// requests answered strictly in the order they arrived (pipelining), and the limits every
// binary front end must have: requests in flight, reply bytes the client has not read, an idle
// timeout, and an absolute deadline for completing a frame once its first byte arrived.
// It knows nothing of any protocol: the parser and the handler come in as arguments.

import { type Server, type Socket, createServer } from 'node:net';
import type { Logger } from 'pino';

export interface TcpFrontEndLimits {
  readonly maxConnections: number;
  /** Requests parsed but not yet answered; past it the connection stops being read. */
  readonly maxInflightPerConnection: number;
  /**
   * Reply bytes queued in the socket; past it reading pauses, past twice it (one huge reply) the
   * connection closes. A client that never reads is thus held to bounded memory, and once nothing
   * moves any more the idle timeout closes it.
   */
  readonly maxUnsentBytes: number;
  readonly idleTimeoutMs: number;
  /** A frame whose first byte arrived must be complete within this, or the connection closes. */
  readonly frameTimeoutMs: number;
}

/** What a parser says about the bytes buffered so far. */
export type ParseResult<Request> =
  /**
   * Not a whole frame yet; the parser has checked that what is announced is within its limit.
   * `needBytes`, when the parser knows it, is how many bytes the frame takes in all: the
   * connection then waits for them without parsing (or copying) again on every chunk.
   */
  | { readonly kind: 'incomplete'; readonly needBytes?: number }
  | { readonly kind: 'frame'; readonly request: Request; readonly bytes: number }
  /**
   * A bad frame. With `bytes` the frame boundary is intact: that many bytes are dropped, `reply`
   * is sent in the frame's place, and the connection goes on. Without it the stream cannot be
   * resynchronized: `reply` is sent and the connection closed.
   */
  | { readonly kind: 'error'; readonly reply: Uint8Array; readonly bytes?: number };

export interface ProtocolHandler<Request> {
  readonly name: string;
  /** Cuts the next frame off the front of `buffer`; must reject a too-long frame from its header. */
  parse(buffer: Buffer): ParseResult<Request>;
  /**
   * Answers one request with the bytes to send (several frames may be concatenated, e.g. a
   * streamed listing). `close: true` closes the connection after the reply (QUIT).
   */
  handle(request: Request, connection: ConnectionInfo): Promise<{ reply: Uint8Array; close?: boolean }>;
  /** The reply for a handler that threw: an internal error in the protocol's own form. */
  internalError(message: string): Uint8Array;
}

export interface ConnectionInfo {
  readonly id: number;
  readonly remote: string;
  /** Per-connection state a protocol may keep (e.g. a client name). */
  readonly state: Map<string, unknown>;
}

export interface TcpFrontEnd {
  readonly address: string;
  readonly connections: number;
  close(): Promise<void>;
}

interface Pending {
  done: boolean;
  reply: Uint8Array | undefined;
  close: boolean;
}

class Connection {
  private buffer: Buffer = Buffer.alloc(0);
  /** Chunks received after `buffer` while waiting for `needBytes` in all. */
  private later: Buffer[] = [];
  private laterBytes = 0;
  private needBytes = 0;
  private readonly queue: Pending[] = [];
  private frameTimer: NodeJS.Timeout | undefined;
  private readPaused = false;
  private closed = false;
  /** A final reply is queued; nothing more is parsed. */
  private closing = false;
  readonly info: ConnectionInfo;

  constructor(
    id: number,
    private readonly socket: Socket,
    private readonly protocol: ProtocolHandler<unknown>,
    private readonly limits: TcpFrontEndLimits,
    private readonly log: Logger,
    private readonly onClosed: () => void,
  ) {
    this.info = { id, remote: `${socket.remoteAddress}:${socket.remotePort}`, state: new Map() };
    socket.setNoDelay(true);
    socket.setTimeout(limits.idleTimeoutMs, () => this.destroy('idle timeout'));
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => this.maybeResume());
    socket.on('error', (error) => this.log.debug({ err: error, connection: this.info.id }, `${protocol.name} connection error`));
    socket.on('close', () => {
      this.closed = true;
      clearTimeout(this.frameTimer);
      this.onClosed();
    });
  }

  private onData(chunk: Buffer): void {
    if (this.closed || this.closing) return; // closing after a final reply: nothing more is read or kept
    this.later.push(chunk);
    this.laterBytes += chunk.length;
    // A large frame arrives in many chunks: gather them without copying until it is complete.
    if (this.buffer.length + this.laterBytes < this.needBytes) return;
    this.buffer = this.buffer.length === 0 && this.later.length === 1 ? chunk : Buffer.concat([this.buffer, ...this.later]);
    this.later = [];
    this.laterBytes = 0;
    this.parseAll();
  }

  private parseAll(): void {
    while (!this.closed && !this.closing && this.buffer.length > 0) {
      if (this.queue.length >= this.limits.maxInflightPerConnection) {
        this.pauseReading();
        break;
      }
      const result = this.protocol.parse(this.buffer);
      if (result.kind === 'incomplete') {
        this.needBytes = result.needBytes ?? 0;
        break;
      }
      this.needBytes = 0;
      if (result.kind === 'error') {
        if (result.bytes === undefined) {
          // Nothing after a broken frame is read again: drop it before the reply is queued.
          this.buffer = Buffer.alloc(0);
          this.closing = true;
          this.enqueueDone(result.reply, true);
          break;
        }
        this.buffer = this.buffer.subarray(result.bytes);
        this.enqueueDone(result.reply, false);
        continue;
      }
      this.buffer = this.buffer.subarray(result.bytes);
      this.dispatch(result.request);
    }
    this.armFrameTimer();
  }

  /** A deadline runs while a partial frame is buffered; a client dribbling bytes cannot hold it open. */
  private armFrameTimer(): void {
    if (this.buffer.length === 0 || this.readPaused) {
      clearTimeout(this.frameTimer);
      this.frameTimer = undefined;
    } else if (this.frameTimer === undefined) {
      this.frameTimer = setTimeout(() => this.destroy(`frame not completed within ${this.limits.frameTimeoutMs} ms`), this.limits.frameTimeoutMs);
    }
  }

  private dispatch(request: unknown): void {
    const pending: Pending = { done: false, reply: undefined, close: false };
    this.queue.push(pending);
    this.protocol.handle(request, this.info).then(
      (answer) => {
        pending.reply = answer.reply;
        pending.close = answer.close ?? false;
        pending.done = true;
        this.flush();
      },
      (error: unknown) => {
        this.log.error({ err: error, connection: this.info.id }, `${this.protocol.name} request failed`);
        pending.reply = this.protocol.internalError(error instanceof Error ? error.message : String(error));
        pending.done = true;
        this.flush();
      },
    );
  }

  private enqueueDone(reply: Uint8Array, close: boolean): void {
    this.queue.push({ done: true, reply, close });
    this.flush();
  }

  /** Writes finished replies in request order; a reply waits for every earlier one. */
  private flush(): void {
    while (this.queue.length > 0 && this.queue[0]!.done) {
      const pending = this.queue.shift()!;
      if (this.closed) return;
      if (pending.reply !== undefined && pending.reply.length > 0) this.socket.write(pending.reply);
      if (pending.close) {
        this.closeAfterReplies();
        return;
      }
    }
    if (this.socket.writableLength > 2 * this.limits.maxUnsentBytes) {
      this.destroy(`client does not read its replies (${this.socket.writableLength} bytes unsent)`);
      return;
    }
    this.maybeResume();
  }

  /** Stops reading, sends what is queued, then closes; a peer that never reads is destroyed. */
  private closeAfterReplies(): void {
    this.closed = true;
    this.buffer = Buffer.alloc(0);
    clearTimeout(this.frameTimer);
    this.socket.pause();
    this.socket.end(() => this.socket.destroy());
    setTimeout(() => this.socket.destroy(), this.limits.frameTimeoutMs).unref();
  }

  private pauseReading(): void {
    if (this.readPaused) return;
    this.readPaused = true;
    this.socket.pause();
  }

  private maybeResume(): void {
    if (this.closed) return;
    if (this.socket.writableLength > this.limits.maxUnsentBytes) {
      this.pauseReading();
      return;
    }
    if (this.queue.length >= this.limits.maxInflightPerConnection) return;
    if (this.readPaused) {
      this.readPaused = false;
      this.socket.resume();
    }
    // Frames that arrived while paused are still buffered.
    if (this.buffer.length > 0) this.parseAll();
  }

  destroy(reason: string): void {
    if (this.closed) return;
    this.log.debug({ connection: this.info.id, reason }, `${this.protocol.name} connection closed`);
    this.closed = true;
    clearTimeout(this.frameTimer);
    this.socket.destroy();
  }
}

export function startTcpFrontEnd<Request>(
  options: { readonly host: string; readonly port: number; readonly limits: TcpFrontEndLimits; readonly log: Logger },
  protocol: ProtocolHandler<Request>,
): Promise<TcpFrontEnd> {
  const connections = new Set<Connection>();
  let nextConnectionId = 1;
  const server: Server = createServer((socket) => {
    if (connections.size >= options.limits.maxConnections) {
      options.log.warn({ limit: options.limits.maxConnections }, `${protocol.name}: connection refused, too many open`);
      socket.destroy();
      return;
    }
    const connection: Connection = new Connection(nextConnectionId++, socket, protocol as ProtocolHandler<unknown>, options.limits, options.log, () => connections.delete(connection));
    connections.add(connection);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      const address = server.address() as { address: string; port: number };
      const host = address.address.includes(':') ? `[${address.address}]` : address.address;
      resolve({
        address: `${host}:${address.port}`,
        get connections() {
          return connections.size;
        },
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            for (const connection of connections) connection.destroy('node stopping');
          }),
      });
    });
  });
}
