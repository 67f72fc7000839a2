// The node-to-node transport: one listener, at most one authenticated connection per peer pair,
// and every message sent to a peer during one event-loop turn written as one frame (or a few, at
// the frame limit) in one socket write. It owns reconnecting with backoff, refusing duplicate
// connections when two nodes dial each other at once, and the per-peer send limit. It never
// interprets a message: PeerMessages go in, are encoded (codec.ts), and come out at the other end.
//
// Which connection survives when two nodes dial each other at once (A < B by name):
//   - A node dials a peer only when it has no connection to it in any stage (live, dialling, or an
//     inbound one past its Hello).
//   - A, receiving B's Hello while its own dial to B is in progress, refuses it as a duplicate:
//     the connection dialled by the smaller name wins.
//   - B, receiving A's Hello, goes on, and gives its own dial to A up before proving itself.
//   - Only the acceptor's Accept makes a connection live, and a new live connection from a peer
//     replaces an older one (the peer dialled, so it has lost the old one: it restarted).
// So no message is ever queued on a connection that is later closed as a duplicate: messages are
// queued per peer, never per connection, and only once a connection is live.
// dial(address) serves joining through a seed whose name is not known yet: its connection learns
// the name from the handshake and then follows the same rules.

import { type Server, type Socket, createServer } from 'node:net';
import type { Logger } from 'pino';
import { encodePeerMessage } from './codec.js';
import { type CloseInfo, type ConnectionOwner, type ConnectionSettings, PeerConnection, type Refusal } from './connection.js';
import { buildFrames, frameBytesCeiling, frameHeaderBytes } from './framing.js';
import { nameProblem } from './handshake.js';
import type { PeerMessage } from './messages.js';
import { PeerRecord, parseAddress, reconnectDelayMs } from './peer-record.js';

export interface PeerTransportOptions {
  readonly nodeName: string;
  readonly clusterName: string;
  /** Shared by every node of the cluster; proves membership in the handshake and never travels. */
  readonly secret: string;
  /** Listen address; port 0 takes an ephemeral port. */
  readonly host: string;
  readonly port: number;
  /** Largest frame body in either direction; a longer length header closes the connection before buffering. */
  readonly maxFrameBytes: number;
  /** Per peer: bytes queued but not yet flushed to the kernel; a send beyond it is 'overload'. */
  readonly sendQueueBytesMax: number;
  readonly connectTimeoutMs: number;
  readonly handshakeTimeoutMs: number;
  readonly reconnectMinMs: number;
  readonly reconnectMaxMs: number;
  /**
   * Inbound connections still in their handshake; more are closed at once. Unauthenticated
   * strangers can hold no more than this many sockets, each for at most handshakeTimeoutMs.
   * Default 64.
   */
  readonly pendingHandshakesMax?: number;
  readonly log: Logger;
  /** Each message, in the order the peer sent it. Must not throw: a throw is a bug and propagates. */
  readonly onMessage: (from: string, message: PeerMessage) => void;
  readonly onPeerUp?: (name: string) => void;
  readonly onPeerDown?: (name: string, reason: string) => void;
}

export type SendResult = 'queued' | 'overload' | 'unreachable';

export interface PeerStatus {
  readonly name: string;
  readonly address: string | undefined;
  readonly connected: boolean;
  /** Queued this turn plus written but not yet taken by the kernel. */
  readonly queuedBytes: number;
  readonly messagesSent: number;
  readonly messagesReceived: number;
  readonly framesSent: number;
  /** Dials after the first one. */
  readonly reconnects: number;
  readonly lastError: string | undefined;
}

export const defaultPendingHandshakesMax = 64;

/** A dial(address) waiting for the node there to be connected; settles once. */
class PendingDial {
  private settled = false;
  timer: NodeJS.Timeout | undefined;

  constructor(
    readonly address: string,
    private readonly resolveName: (name: string) => void,
    private readonly rejectError: (error: Error) => void,
  ) {}

  resolve(name: string): void {
    if (this.settled) return;
    this.settled = true;
    clearTimeout(this.timer);
    this.resolveName(name);
  }

  reject(error: Error): void {
    if (this.settled) return;
    this.settled = true;
    clearTimeout(this.timer);
    this.rejectError(error);
  }
}
const frameBytesMin = 1024;

/** Every problem with `options`, in words; empty when they are usable. */
export function peerTransportOptionProblems(options: PeerTransportOptions): string[] {
  const problems: string[] = [];
  const positiveInteger = (name: keyof PeerTransportOptions, value: number, min = 1): void => {
    if (!Number.isSafeInteger(value) || value < min) problems.push(`${name} must be an integer >= ${min}, got ${value}`);
  };
  const nodeProblem = nameProblem(options.nodeName);
  if (nodeProblem !== undefined) problems.push(`nodeName ${nodeProblem}`);
  const clusterProblem = nameProblem(options.clusterName);
  if (clusterProblem !== undefined) problems.push(`clusterName ${clusterProblem}`);
  if (options.secret.length === 0) problems.push('secret is empty');
  if (!Number.isInteger(options.port) || options.port < 0 || options.port > 65535) problems.push(`port must be in 0-65535, got ${options.port}`);
  positiveInteger('maxFrameBytes', options.maxFrameBytes, frameBytesMin);
  if (options.maxFrameBytes > frameBytesCeiling) problems.push(`maxFrameBytes must be at most ${frameBytesCeiling}`);
  positiveInteger('sendQueueBytesMax', options.sendQueueBytesMax);
  // Any message small enough to send must fit in an idle peer's queue, or it could never go.
  if (options.sendQueueBytesMax < options.maxFrameBytes + frameHeaderBytes) problems.push('sendQueueBytesMax must be at least maxFrameBytes + 4');
  positiveInteger('connectTimeoutMs', options.connectTimeoutMs);
  positiveInteger('handshakeTimeoutMs', options.handshakeTimeoutMs);
  positiveInteger('reconnectMinMs', options.reconnectMinMs);
  positiveInteger('reconnectMaxMs', options.reconnectMaxMs);
  if (options.reconnectMaxMs < options.reconnectMinMs) problems.push('reconnectMaxMs must be at least reconnectMinMs');
  positiveInteger('pendingHandshakesMax', options.pendingHandshakesMax ?? defaultPendingHandshakesMax);
  return problems;
}

export class PeerTransport {
  private readonly peerRecords = new Map<string, PeerRecord>();
  /** Every connection not yet closed, in any stage. */
  private readonly connections = new Set<PeerConnection>();
  /** Inbound connections not yet live. */
  private readonly handshaking = new Set<PeerConnection>();
  /** dial(address) connections whose node is not known yet. */
  private readonly discovering = new Map<PeerConnection, PendingDial>();
  /** dial(address) calls waiting for the named peer to be connected. */
  private readonly awaitingPeer = new Map<string, Set<PendingDial>>();
  /** Peers with messages queued this turn. */
  private readonly dirty = new Set<PeerRecord>();
  private flushHandle: NodeJS.Immediate | undefined;
  private nextConnectionId = 1;
  private closing: Promise<void> | undefined;
  private readonly settings: ConnectionSettings;
  private readonly log: Logger;
  private readonly owner: ConnectionOwner = {
    helloReceived: (connection) => this.onHello(connection),
    mayProve: (connection) => this.mayProve(connection),
    live: (connection) => this.onLive(connection),
    messages: (connection, messages) => this.onMessages(connection, messages),
    closed: (connection, info) => this.onClosed(connection, info),
  };
  private boundAddress = '';

  private constructor(
    private readonly options: PeerTransportOptions,
    private readonly server: Server,
  ) {
    this.log = options.log;
    this.settings = {
      nodeName: options.nodeName,
      clusterName: options.clusterName,
      secret: Buffer.from(options.secret, 'utf8'),
      maxFrameBytes: options.maxFrameBytes,
      connectTimeoutMs: options.connectTimeoutMs,
      handshakeTimeoutMs: options.handshakeTimeoutMs,
      log: options.log,
    };
  }

  /** Checks the options, listens, and resolves once the listener is bound. */
  static start(options: PeerTransportOptions): Promise<PeerTransport> {
    const problems = peerTransportOptionProblems(options);
    if (problems.length > 0) return Promise.reject(new Error(`invalid peer transport options:\n${problems.map((p) => `  - ${p}`).join('\n')}`));
    const server = createServer();
    const transport = new PeerTransport(options, server);
    server.on('connection', (socket) => transport.onAccepted(socket));
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port, options.host, () => {
        server.off('error', reject);
        server.on('error', (error) => options.log.error({ err: error }, 'peer listener error'));
        const bound = server.address() as { address: string; port: number };
        transport.boundAddress = `${bound.address.includes(':') ? `[${bound.address}]` : bound.address}:${bound.port}`;
        options.log.info({ address: transport.boundAddress, node: options.nodeName }, 'peer transport listening');
        resolve(transport);
      });
    });
  }

  /** The "host:port" actually bound. */
  get address(): string {
    return this.boundAddress;
  }

  /** Where peer `name` listens. A change drops a dial in progress to the old address. */
  setPeerAddress(name: string, address: string): void {
    const problem = nameProblem(name);
    if (problem !== undefined) throw new Error(`peer name ${JSON.stringify(name)} ${problem}`);
    if (name === this.options.nodeName) throw new Error(`cannot add this node (${JSON.stringify(name)}) as its own peer`);
    parseAddress(address);
    const peer = this.record(name);
    if (peer.address === address) return;
    peer.address = address;
    peer.failures = 0;
    clearTimeout(peer.reconnectTimer);
    peer.reconnectTimer = undefined;
    peer.outbound?.close(`peer address changed to ${address}`, false);
    this.ensureConnecting(peer);
  }

  /** Forgets `name`: closes its connections and stops reconnecting. It may still dial this node. */
  removePeer(name: string): void {
    const peer = this.peerRecords.get(name);
    if (peer === undefined) return;
    peer.removed = true;
    peer.wanted = false;
    clearTimeout(peer.reconnectTimer);
    peer.queue.take();
    for (const connection of peer.connections()) connection.close('peer removed', false);
    for (const dial of this.awaitingPeer.get(name) ?? []) dial.reject(new Error(`${name} was removed`));
    this.awaitingPeer.delete(name);
    this.peerRecords.delete(name);
  }

  /**
   * Connects to whichever node listens at `address` and resolves with its name once that node is
   * connected (by this dial or another one already under way); records `address` as its address
   * when none is known. Rejects with the reason when the handshake fails, or after
   * connectTimeoutMs + handshakeTimeoutMs. For joining a cluster through a seed's address.
   */
  dial(address: string): Promise<string> {
    if (this.closing !== undefined) return Promise.reject(new Error('the peer transport is closed'));
    let target: { host: string; port: number };
    try {
      target = parseAddress(address);
    } catch (error) {
      return Promise.reject(error as Error);
    }
    const limit = this.options.pendingHandshakesMax ?? defaultPendingHandshakesMax;
    const pending = this.discovering.size + [...this.awaitingPeer.values()].reduce((sum, set) => sum + set.size, 0);
    if (pending >= limit) return Promise.reject(new Error(`too many dials in progress (${pending}, limit ${limit})`));
    return new Promise((resolve, reject) => {
      const dial = new PendingDial(address, resolve, reject);
      const deadlineMs = this.options.connectTimeoutMs + this.options.handshakeTimeoutMs;
      dial.timer = setTimeout(() => this.failDial(dial, `no connection to the node at ${address} within ${deadlineMs} ms`), deadlineMs);
      const connection = PeerConnection.dial(this.nextConnectionId++, undefined, target.host, target.port, this.settings, this.owner);
      this.connections.add(connection);
      this.discovering.set(connection, dial);
    });
  }

  /**
   * Starts connecting to `name` now, unless a connection exists or is under way, or a backoff wait
   * is running (which this does not cut short). From then on the transport keeps it connected.
   */
  connect(name: string): void {
    const peer = this.peerRecords.get(name);
    if (peer === undefined || this.closing !== undefined) return;
    peer.wanted = true;
    this.ensureConnecting(peer);
  }

  /**
   * Queues `message` for this turn's frame to `to`. 'unreachable' when no authenticated connection
   * exists (and a dial starts); 'overload' when the peer's unflushed bytes would pass
   * sendQueueBytesMax (nothing is queued). Throws on a malformed message or one larger than
   * maxFrameBytes: both are bugs of the sender.
   */
  send(to: string, message: PeerMessage): SendResult {
    const peer = this.peerRecords.get(to);
    if (peer === undefined || this.closing !== undefined) return 'unreachable';
    const live = peer.live;
    if (live === undefined) {
      peer.wanted = true;
      this.ensureConnecting(peer);
      return 'unreachable';
    }
    const part = encodePeerMessage(message);
    if (part.length > this.options.maxFrameBytes) {
      throw new RangeError(`peer message (${message.kind}) of ${part.length} bytes exceeds maxFrameBytes ${this.options.maxFrameBytes}`);
    }
    if (peer.queue.bytes + live.writableLength + part.length > this.options.sendQueueBytesMax) return 'overload';
    peer.queue.push(part);
    this.dirty.add(peer);
    this.flushHandle ??= setImmediate(() => this.flush());
    return 'queued';
  }

  /**
   * Sends what is queued now instead of in the setImmediate the first send scheduled. For a caller
   * that has just finished a batch inside a setImmediate callback itself (the vnode host's drain):
   * Node runs immediates queued during that phase only in the next loop iteration, after every
   * I/O callback due meanwhile, so its messages would wait a whole iteration (measured: +4–7 %
   * cluster writes once drains flushed, docs/peer-protocol.md). A no-op when nothing is queued.
   */
  flushNow(): void {
    if (this.flushHandle === undefined) return;
    clearImmediate(this.flushHandle);
    this.flush();
  }

  isConnected(name: string): boolean {
    return this.peerRecords.get(name)?.live !== undefined;
  }

  /** No live connection yet, but one is being opened: our dial, or the peer's, is under way. */
  isConnecting(name: string): boolean {
    const peer = this.peerRecords.get(name);
    return peer !== undefined && peer.live === undefined && (peer.outbound !== undefined || peer.inbound.size > 0);
  }

  peers(): PeerStatus[] {
    return [...this.peerRecords.values()]
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
      .map((peer) => ({
        name: peer.name,
        address: peer.address,
        connected: peer.live !== undefined,
        queuedBytes: peer.queue.bytes + (peer.live?.writableLength ?? 0),
        messagesSent: peer.messagesSent,
        messagesReceived: peer.messagesReceived,
        framesSent: peer.framesSent,
        reconnects: Math.max(0, peer.dials - 1),
        lastError: peer.lastError,
      }));
  }

  /** Sockets open in any stage; for tests and diagnostics. */
  get openConnections(): number {
    return this.connections.size;
  }

  /** Closes the listener and every connection and cancels every timer; idempotent. */
  close(): Promise<void> {
    this.closing ??= this.shutDown();
    return this.closing;
  }

  private async shutDown(): Promise<void> {
    if (this.flushHandle !== undefined) clearImmediate(this.flushHandle);
    this.flushHandle = undefined;
    this.dirty.clear();
    const listenerClosed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    const socketsClosed: Promise<void>[] = [];
    for (const peer of this.peerRecords.values()) {
      peer.wanted = false;
      clearTimeout(peer.reconnectTimer);
      peer.reconnectTimer = undefined;
    }
    for (const connection of [...this.connections]) {
      socketsClosed.push(connection.socketClosed);
      connection.close('transport closing', false);
    }
    for (const dial of [...this.discovering.values(), ...[...this.awaitingPeer.values()].flatMap((set) => [...set])]) dial.reject(new Error('the peer transport is closing'));
    this.discovering.clear();
    this.awaitingPeer.clear();
    await Promise.all([listenerClosed, ...socketsClosed]);
    this.log.info({ node: this.options.nodeName }, 'peer transport closed');
  }

  // ---- sending -------------------------------------------------------------------------------

  /** Once per turn: each dirty peer's queue goes out as one write of as few frames as fit. */
  private flush(): void {
    this.flushHandle = undefined;
    for (const peer of this.dirty) {
      const parts = peer.queue.take();
      if (parts.length === 0) continue;
      if (peer.live === undefined) {
        // The connection closed during the turn; these messages are lost like any in flight.
        this.log.debug({ peer: peer.name, messages: parts.length }, 'peer queue dropped: connection closed');
        continue;
      }
      const { bytes, frames } = buildFrames(parts, this.options.maxFrameBytes);
      peer.live.write(bytes);
      peer.framesSent += frames;
      peer.messagesSent += parts.length;
    }
    this.dirty.clear();
  }

  // ---- connecting ------------------------------------------------------------------------------

  /** Dials now if the peer is wanted and nothing is under way or waiting. */
  private ensureConnecting(peer: PeerRecord): void {
    if (!this.mayDial(peer) || peer.reconnectTimer !== undefined) return;
    this.dialPeer(peer);
  }

  /** After a failure or a drop: dials again after the backoff wait, never at once. */
  private scheduleReconnect(peer: PeerRecord): void {
    if (!this.mayDial(peer) || peer.reconnectTimer !== undefined) return;
    const delayMs = reconnectDelayMs(peer.failures, this.options.reconnectMinMs, this.options.reconnectMaxMs, Math.random());
    peer.reconnectTimer = setTimeout(() => {
      peer.reconnectTimer = undefined;
      if (this.mayDial(peer)) this.dialPeer(peer);
    }, delayMs);
  }

  private mayDial(peer: PeerRecord): boolean {
    return this.closing === undefined && !peer.removed && peer.wanted && peer.address !== undefined && !peer.busy;
  }

  private dialPeer(peer: PeerRecord): void {
    const { host, port } = parseAddress(peer.address!);
    peer.dials++;
    this.log.debug({ peer: peer.name, address: peer.address, failures: peer.failures }, 'dialling peer');
    const connection = PeerConnection.dial(this.nextConnectionId++, peer.name, host, port, this.settings, this.owner);
    peer.outbound = connection;
    this.connections.add(connection);
  }

  private onAccepted(socket: Socket): void {
    const limit = this.options.pendingHandshakesMax ?? defaultPendingHandshakesMax;
    if (this.closing !== undefined || this.handshaking.size >= limit) {
      this.log.warn({ remote: `${socket.remoteAddress}:${socket.remotePort}`, limit }, 'peer connection refused: too many handshakes in progress');
      socket.destroy();
      return;
    }
    const connection = PeerConnection.accept(this.nextConnectionId++, socket, this.settings, this.owner);
    this.connections.add(connection);
    this.handshaking.add(connection);
  }

  // ---- the connection callbacks ------------------------------------------------------------------

  private onHello(connection: PeerConnection): Refusal | undefined {
    const name = connection.peerName!;
    const existing = this.peerRecords.get(name);
    if (existing?.outbound !== undefined && this.options.nodeName < name) {
      return { reason: `simultaneous connection: keeping the one dialled by ${this.options.nodeName}`, code: 'duplicate' };
    }
    this.record(name).inbound.add(connection);
    return undefined;
  }

  private mayProve(connection: PeerConnection): boolean {
    const dial = this.discovering.get(connection);
    if (dial !== undefined) return this.adoptDiscovered(connection, dial);
    const peer = this.peerRecords.get(connection.peerName!);
    if (peer === undefined || peer.outbound !== connection) return false;
    // The peer (smaller name) is dialling this node too: its connection is the one to keep.
    return peer.live === undefined && !(this.options.nodeName > peer.name && peer.inbound.size > 0);
  }

  /**
   * A dial(address) learnt whom it reached. It becomes that peer's dial unless the peer is
   * connected or being connected already, in which case it gives way and waits for that one.
   */
  private adoptDiscovered(connection: PeerConnection, dial: PendingDial): boolean {
    this.discovering.delete(connection);
    const peer = this.record(connection.peerName!);
    peer.address ??= dial.address;
    peer.wanted = true;
    if (peer.live !== undefined) {
      dial.resolve(peer.name);
      return false;
    }
    let waiting = this.awaitingPeer.get(peer.name);
    if (waiting === undefined) this.awaitingPeer.set(peer.name, (waiting = new Set()));
    waiting.add(dial);
    if (peer.busy) return false;
    clearTimeout(peer.reconnectTimer);
    peer.reconnectTimer = undefined;
    peer.outbound = connection;
    peer.dials++;
    return true;
  }

  private failDial(dial: PendingDial, reason: string): void {
    for (const [connection, pending] of this.discovering) {
      if (pending === dial) {
        this.discovering.delete(connection);
        connection.close(reason);
      }
    }
    for (const set of this.awaitingPeer.values()) set.delete(dial);
    dial.reject(new Error(reason));
  }

  private onLive(connection: PeerConnection): void {
    this.handshaking.delete(connection);
    const peer = this.record(connection.peerName!);
    const previous = peer.live;
    // Closed while `connection` is still counted as under way, so no reconnect is scheduled.
    if (previous !== undefined) previous.close(`replaced by a new connection from ${peer.name}`, false);
    if (peer.outbound !== undefined && peer.outbound !== connection) peer.outbound.close(`superseded by the connection ${peer.name} dialled`, false);
    peer.inbound.delete(connection);
    if (peer.outbound === connection) peer.outbound = undefined;
    peer.live = connection;
    peer.failures = 0;
    clearTimeout(peer.reconnectTimer);
    peer.reconnectTimer = undefined;
    this.log.info({ peer: peer.name, remote: connection.remote, dialledBy: connection.role === 'dialer' ? this.options.nodeName : peer.name }, 'peer connected');
    this.options.onPeerUp?.(peer.name);
    for (const dial of this.awaitingPeer.get(peer.name) ?? []) dial.resolve(peer.name);
    this.awaitingPeer.delete(peer.name);
    if (peer.queue.length > 0 && peer.live === connection) {
      this.dirty.add(peer);
      this.flushHandle ??= setImmediate(() => this.flush());
    }
  }

  private onMessages(connection: PeerConnection, messages: PeerMessage[]): void {
    const peer = this.peerRecords.get(connection.peerName!);
    for (const message of messages) {
      // The handler may close this connection or the transport; nothing after that is delivered.
      if (peer === undefined || peer.live !== connection) return;
      peer.messagesReceived++;
      this.options.onMessage(peer.name, message);
    }
  }

  private onClosed(connection: PeerConnection, info: CloseInfo): void {
    this.connections.delete(connection);
    this.handshaking.delete(connection);
    const dial = this.discovering.get(connection);
    if (dial !== undefined) {
      this.discovering.delete(connection);
      dial.reject(new Error(`cannot connect to the node at ${dial.address}: ${info.reason}`));
    }
    if (!info.wasLive && info.failure) {
      this.log.debug({ peer: connection.peerName, remote: connection.remote, role: connection.role, reason: info.reason, connection: connection.id }, 'peer handshake ended');
    }
    const name = connection.peerName;
    const peer = name === undefined ? undefined : this.peerRecords.get(name);
    if (peer === undefined || !peer.owns(connection)) return;
    peer.inbound.delete(connection);
    if (info.failure) peer.lastError = info.reason;
    if (peer.outbound === connection) {
      peer.outbound = undefined;
      if (info.failure) {
        peer.failures++;
        this.log.debug({ peer: peer.name, reason: info.reason, failures: peer.failures }, 'peer dial failed');
      }
    }
    if (peer.live === connection) {
      peer.live = undefined;
      this.log.info({ peer: peer.name, reason: info.reason }, 'peer disconnected');
      this.options.onPeerDown?.(peer.name, info.reason);
    }
    if (!peer.busy && info.failure) {
      // Nothing more is under way: whoever waits for this peer learns why it is not coming.
      for (const waiting of this.awaitingPeer.get(peer.name) ?? []) waiting.reject(new Error(`cannot connect to ${peer.name}: ${info.reason}`));
      this.awaitingPeer.delete(peer.name);
    }
    if (peer.address === undefined && !peer.busy) {
      this.peerRecords.delete(peer.name); // learnt from an inbound Hello only: nothing to keep
      return;
    }
    this.scheduleReconnect(peer);
  }

  private record(name: string): PeerRecord {
    let peer = this.peerRecords.get(name);
    if (peer === undefined) {
      peer = new PeerRecord(name);
      this.peerRecords.set(name, peer);
    }
    return peer;
  }
}
