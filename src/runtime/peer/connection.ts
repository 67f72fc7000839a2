// One TCP connection between two nodes: the handshake that authenticates it, then the frames that
// carry messages. It checks everything it reads, logs why it refuses or fails, and reports to its
// owner (the transport) through a few synchronous callbacks. Whether a connection is wanted at all
// (duplicates, stale connections, reconnecting) is the owner's decision, not this file's.
//
// The handshake, dialer D and acceptor A (docs/peer-protocol.md has the reasoning):
//   D → A  Hello     { version, cluster, D's name, D's nonce }
//   A → D  Challenge { version, cluster, A's name, A's nonce, A's proof }   (or Reject)
//   D → A  Proof     { D's proof }                                         (or Reject)
//   A → D  Accept    {}                                                    (or Reject)
// after which both sides send PeerFrames. Only the acceptor's Accept makes a connection live, so
// the acceptor alone decides whether this connection is the one kept between the two nodes.

import { randomBytes } from 'node:crypto';
import { type Socket, connect as netConnect } from 'node:net';
import type { Logger } from 'pino';
import { PeerCodecError, decodePeerFrame } from './codec.js';
import { FrameReader, FrameTooLargeError } from './framing.js';
import {
  type HandshakeStep,
  type RejectCode,
  type Transcript,
  decodeHandshake,
  encodeHandshake,
  handshakeFrameBytesMax,
  handshakeProof,
  nonceBytes,
  proofMatches,
  reasonCharsMax,
} from './handshake.js';
import type { PeerMessage } from './messages.js';
import { peerProtocolVersion } from './schema.js';

/** The reason the dialer and the acceptor both give when a proof does not check out. */
export const authenticationFailed = 'authentication failed';

export interface ConnectionSettings {
  readonly nodeName: string;
  readonly clusterName: string;
  readonly secret: Buffer;
  readonly maxFrameBytes: number;
  readonly connectTimeoutMs: number;
  readonly handshakeTimeoutMs: number;
  readonly log: Logger;
}

export interface Refusal {
  readonly reason: string;
  readonly code: RejectCode;
}

/** How a connection ended, for its owner. */
export interface CloseInfo {
  readonly reason: string;
  /** False when nothing went wrong: a duplicate gave way, or the owner closed it on purpose. */
  readonly failure: boolean;
  readonly wasLive: boolean;
}

/** The owner's side of a connection. Every call is synchronous, from a socket event. */
export interface ConnectionOwner {
  /** Acceptor: a Hello from `connection.peerName` passed the protocol checks. A refusal ends it. */
  helloReceived(connection: PeerConnection): Refusal | undefined;
  /** Dialer: the acceptor proved itself. False gives this connection up: another one is kept. */
  mayProve(connection: PeerConnection): boolean;
  /** The handshake is done; frames may be written. */
  live(connection: PeerConnection): void;
  /** The messages of one frame, in order. */
  messages(connection: PeerConnection, messages: PeerMessage[]): void;
  /** Called exactly once, when the connection ends for any reason. */
  closed(connection: PeerConnection, info: CloseInfo): void;
}

type State =
  | 'connecting' // dialer: TCP connect in progress
  | 'awaitingHello' // acceptor
  | 'awaitingChallenge' // dialer
  | 'awaitingProof' // acceptor
  | 'awaitingAccept' // dialer
  | 'live'
  | 'closed';

export type ConnectionRole = 'dialer' | 'acceptor';

export class PeerConnection {
  private state: State;
  private readonly reader = new FrameReader(handshakeFrameBytesMax);
  private readonly ownNonce = randomBytes(nonceBytes);
  private peerNonce: Uint8Array | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** Resolves once the socket is fully closed; close() of the transport waits for it. */
  readonly socketClosed: Promise<void>;

  private constructor(
    /** Names the connection in logs; unique within one transport. */
    readonly id: number,
    readonly role: ConnectionRole,
    private readonly socket: Socket,
    /** The dialer knows whom it dials; the acceptor learns it from the Hello. */
    public peerName: string | undefined,
    readonly remote: string,
    private readonly settings: ConnectionSettings,
    private readonly owner: ConnectionOwner,
  ) {
    this.state = role === 'dialer' ? 'connecting' : 'awaitingHello';
    this.socketClosed = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.setNoDelay(true); // frames are batched per turn already; Nagle would only add delay
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (error) => this.close(`socket error: ${error.message}`));
    socket.on('close', () => this.close(this.state === 'live' ? 'connection closed by peer' : 'connection closed during the handshake'));
  }

  /**
   * Dials `peerName` at host:port; the connection reports through `owner`. With `peerName`
   * undefined, whichever node answers there is accepted, and its name is learnt from its Challenge.
   */
  static dial(id: number, peerName: string | undefined, host: string, port: number, settings: ConnectionSettings, owner: ConnectionOwner): PeerConnection {
    const socket = netConnect({ host, port });
    const connection = new PeerConnection(id, 'dialer', socket, peerName, `${host}:${port}`, settings, owner);
    connection.arm(settings.connectTimeoutMs, `connect to ${host}:${port} timed out after ${settings.connectTimeoutMs} ms`);
    socket.once('connect', () => connection.onConnected());
    return connection;
  }

  /** Takes over a socket the listener accepted. */
  static accept(id: number, socket: Socket, settings: ConnectionSettings, owner: ConnectionOwner): PeerConnection {
    const connection = new PeerConnection(id, 'acceptor', socket, undefined, `${socket.remoteAddress}:${socket.remotePort}`, settings, owner);
    connection.arm(settings.handshakeTimeoutMs, `handshake not completed within ${settings.handshakeTimeoutMs} ms`);
    return connection;
  }

  get isLive(): boolean {
    return this.state === 'live';
  }

  get isClosed(): boolean {
    return this.state === 'closed';
  }

  /** Bytes written but not yet handed to the kernel. */
  get writableLength(): number {
    return this.socket.writableLength;
  }

  /** Writes whole frames; only on a live connection. */
  write(bytes: Uint8Array): void {
    if (this.state !== 'live') throw new Error(`peer connection ${this.id} is not live (${this.state})`);
    this.socket.write(bytes);
  }

  /** Ends the connection now; what was not yet written is lost. Idempotent. */
  close(reason: string, failure = true): void {
    if (this.state === 'closed') return;
    const wasLive = this.state === 'live';
    this.state = 'closed';
    clearTimeout(this.timer);
    this.reader.clear();
    this.socket.destroy();
    this.owner.closed(this, { reason, failure, wasLive });
  }

  // ---- handshake -------------------------------------------------------------------------------

  private onConnected(): void {
    if (this.state !== 'connecting') return;
    this.state = 'awaitingChallenge';
    this.arm(this.settings.handshakeTimeoutMs, `handshake not completed within ${this.settings.handshakeTimeoutMs} ms`);
    this.send({ step: 'hello', protocolVersion: peerProtocolVersion, clusterName: this.settings.clusterName, nodeName: this.settings.nodeName, nonce: this.ownNonce });
  }

  private onHandshake(step: HandshakeStep): void {
    if (step.step === 'reject') return this.onRejected(step.reason, step.code);
    if (this.state === 'awaitingHello' && step.step === 'hello') return this.onHello(step);
    if (this.state === 'awaitingChallenge' && step.step === 'challenge') return this.onChallenge(step);
    if (this.state === 'awaitingProof' && step.step === 'proof') return this.onProof(step.proof);
    if (this.state === 'awaitingAccept' && step.step === 'accept') return this.becomeLive();
    this.refuse(`protocol violation: handshake step "${step.step}" while ${this.state}`);
  }

  /** Acceptor: the dialer introduces itself. */
  private onHello(hello: Extract<HandshakeStep, { step: 'hello' }>): void {
    this.peerName = hello.nodeName;
    this.peerNonce = hello.nonce;
    const mismatch = this.mismatch(hello.protocolVersion, hello.clusterName);
    if (mismatch !== undefined) return this.refuse(mismatch);
    if (hello.nodeName === this.settings.nodeName) return this.refuse(`a node cannot connect to itself (both ends are named ${JSON.stringify(hello.nodeName)})`);
    const refusal = this.owner.helloReceived(this);
    if (refusal !== undefined) return this.refuse(refusal.reason, refusal.code);
    this.state = 'awaitingProof';
    const proof = handshakeProof(this.settings.secret, 'acceptor', this.transcript());
    this.send({ step: 'challenge', protocolVersion: peerProtocolVersion, clusterName: this.settings.clusterName, nodeName: this.settings.nodeName, nonce: this.ownNonce, proof });
  }

  /** Dialer: the acceptor introduces itself and proves it knows the secret. */
  private onChallenge(challenge: Extract<HandshakeStep, { step: 'challenge' }>): void {
    const mismatch = this.mismatch(challenge.protocolVersion, challenge.clusterName);
    if (mismatch !== undefined) return this.refuse(mismatch);
    if (this.peerName !== undefined && challenge.nodeName !== this.peerName) {
      return this.refuse(`dialled node ${JSON.stringify(this.peerName)} at ${this.remote} but node ${JSON.stringify(challenge.nodeName)} answered`);
    }
    this.peerName = challenge.nodeName;
    this.peerNonce = challenge.nonce;
    if (!proofMatches(handshakeProof(this.settings.secret, 'acceptor', this.transcript()), challenge.proof)) return this.refuse(authenticationFailed);
    // Said with a duplicate Reject rather than a bare close, so the acceptor knows nothing failed.
    if (!this.owner.mayProve(this)) return this.refuse('another connection between these nodes is kept', 'duplicate');
    this.state = 'awaitingAccept';
    this.send({ step: 'proof', proof: handshakeProof(this.settings.secret, 'dialer', this.transcript()) });
  }

  /** Acceptor: the dialer proves it knows the secret; the connection goes live. */
  private onProof(proof: Uint8Array): void {
    if (!proofMatches(handshakeProof(this.settings.secret, 'dialer', this.transcript()), proof)) return this.refuse(authenticationFailed);
    this.send({ step: 'accept' });
    this.becomeLive();
  }

  private onRejected(reason: string, code: RejectCode): void {
    const level = code === 'duplicate' ? 'debug' : 'warn';
    this.settings.log[level]({ peer: this.peerName, remote: this.remote, reason, connection: this.id }, 'peer refused the connection');
    this.close(`refused by ${this.peerName ?? this.remote}: ${reason}`, code !== 'duplicate');
  }

  private becomeLive(): void {
    this.state = 'live';
    clearTimeout(this.timer);
    this.timer = undefined;
    this.reader.limitBytes = this.settings.maxFrameBytes;
    this.owner.live(this);
  }

  /** A version or cluster mismatch, in words that name both values; undefined when they match. */
  private mismatch(protocolVersion: number, clusterName: string): string | undefined {
    if (protocolVersion !== peerProtocolVersion) return `protocol version mismatch: expected ${peerProtocolVersion}, got ${protocolVersion}`;
    if (clusterName !== this.settings.clusterName) return `cluster name mismatch: expected ${JSON.stringify(this.settings.clusterName)}, got ${JSON.stringify(clusterName)}`;
    return undefined;
  }

  private transcript(): Transcript {
    const peerName = this.peerName!;
    const dialer = this.role === 'dialer';
    return {
      protocolVersion: peerProtocolVersion,
      clusterName: this.settings.clusterName,
      dialerName: dialer ? this.settings.nodeName : peerName,
      acceptorName: dialer ? peerName : this.settings.nodeName,
      dialerNonce: dialer ? this.ownNonce : this.peerNonce!,
      acceptorNonce: dialer ? this.peerNonce! : this.ownNonce,
    };
  }

  /**
   * Refuses the handshake: tells the peer why (so both sides log the same reason), then closes.
   * The Reject goes out with end(), before the FIN; a peer that never reads is cut off by the timer.
   */
  private refuse(reason: string, code: RejectCode = 'refused'): void {
    if (this.state === 'closed') return;
    const level = code === 'duplicate' ? 'debug' : 'warn';
    this.settings.log[level]({ peer: this.peerName, remote: this.remote, reason, connection: this.id }, 'peer connection refused');
    this.state = 'closed';
    this.reader.clear();
    clearTimeout(this.timer);
    this.socket.end(encodeHandshake({ step: 'reject', reason: reason.slice(0, reasonCharsMax), code }));
    this.timer = setTimeout(() => this.socket.destroy(), this.settings.handshakeTimeoutMs);
    this.timer.unref();
    void this.socketClosed.then(() => clearTimeout(this.timer));
    this.owner.closed(this, { reason, failure: code !== 'duplicate', wasLive: false });
  }

  private send(step: HandshakeStep): void {
    this.socket.write(encodeHandshake(step));
  }

  private arm(ms: number, reason: string): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.close(reason), ms);
  }

  // ---- reading -------------------------------------------------------------------------------

  private onData(chunk: Buffer): void {
    if (this.state === 'closed') return;
    this.reader.push(chunk);
    for (;;) {
      if (this.isClosed) return;
      let body: Buffer | undefined;
      try {
        body = this.reader.next();
      } catch (error) {
        if (!(error instanceof FrameTooLargeError)) throw error;
        this.settings.log.warn({ peer: this.peerName, remote: this.remote, connection: this.id }, `peer connection closed: ${error.message}`);
        return this.close(error.message);
      }
      if (body === undefined) return;
      if (this.state === 'live') this.onFrame(body);
      else this.onHandshakeFrame(body);
    }
  }

  private onHandshakeFrame(body: Buffer): void {
    let step: HandshakeStep;
    try {
      step = decodeHandshake(body);
    } catch (error) {
      if (!(error instanceof PeerCodecError)) throw error;
      return this.refuse(`bad handshake frame: ${error.message}`);
    }
    this.onHandshake(step);
  }

  private onFrame(body: Buffer): void {
    let messages: PeerMessage[];
    try {
      messages = decodePeerFrame(body);
    } catch (error) {
      if (!(error instanceof PeerCodecError)) throw error;
      this.settings.log.warn({ peer: this.peerName, remote: this.remote, connection: this.id, err: error }, 'peer connection closed: bad frame');
      return this.close(error.message);
    }
    this.owner.messages(this, messages);
  }
}
