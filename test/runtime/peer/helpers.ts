// Shared pieces of the peer-transport tests: transports on loopback with small limits, a log
// capture, a sample of every message kind, polling with a deadline, and a hand-made peer that
// speaks the handshake byte by byte (to misbehave after it: never read, send garbage).

import { randomBytes } from 'node:crypto';
import { type Socket, connect } from 'node:net';
import { pino } from 'pino';
import type { Logger } from 'pino';
import { FrameReader, frame } from '../../../src/runtime/peer/framing.js';
import { type HandshakeStep, decodeHandshake, encodeHandshake, handshakeProof } from '../../../src/runtime/peer/handshake.js';
import type { PeerMessage } from '../../../src/runtime/peer/messages.js';
import { peerProtocolVersion } from '../../../src/runtime/peer/schema.js';
import { PeerTransport, type PeerTransportOptions } from '../../../src/runtime/peer/transport.js';

export const clusterName = 'test-cluster';
export const secret = 'test-secret-0123456789';

/** Log lines as parsed objects; set PEER_DEBUG=1 to also see them on stderr. */
export interface LogCapture {
  readonly log: Logger;
  readonly lines: Record<string, unknown>[];
  text(): string;
}

export function captureLog(name: string): LogCapture {
  const lines: Record<string, unknown>[] = [];
  const log = pino(
    { level: 'debug', name },
    {
      write(line: string) {
        lines.push(JSON.parse(line) as Record<string, unknown>);
        if (process.env['PEER_DEBUG']) process.stderr.write(line);
      },
    },
  );
  return { log, lines, text: () => lines.map((line) => JSON.stringify(line)).join('\n') };
}

export interface TestNode {
  readonly name: string;
  readonly transport: PeerTransport;
  readonly received: { from: string; message: PeerMessage }[];
  readonly ups: string[];
  readonly downs: { name: string; reason: string; atMs: number }[];
  readonly logs: LogCapture;
}

export async function startNode(name: string, overrides: Partial<PeerTransportOptions> = {}): Promise<TestNode> {
  const logs = captureLog(name);
  const received: { from: string; message: PeerMessage }[] = [];
  const ups: string[] = [];
  const downs: { name: string; reason: string; atMs: number }[] = [];
  const transport = await PeerTransport.start({
    nodeName: name,
    clusterName,
    secret,
    host: '127.0.0.1',
    port: 0,
    maxFrameBytes: 1024 * 1024,
    sendQueueBytesMax: 4 * 1024 * 1024,
    connectTimeoutMs: 1000,
    handshakeTimeoutMs: 1000,
    reconnectMinMs: 20,
    reconnectMaxMs: 200,
    log: logs.log,
    onMessage: (from, message) => received.push({ from, message }),
    onPeerUp: (peer) => ups.push(peer),
    onPeerDown: (peer, reason) => downs.push({ name: peer, reason, atMs: Date.now() }),
    ...overrides,
  });
  return { name, transport, received, ups, downs, logs };
}

/** Tells every node where every other listens. */
export function introduce(nodes: readonly TestNode[]): void {
  for (const node of nodes) {
    for (const other of nodes) if (other !== node) node.transport.setPeerAddress(other.name, other.transport.address);
  }
}

export async function waitFor(predicate: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);

/** One message of every kind, each with a distinct `tag` in some field so order can be checked. */
export function everyKind(tag: number): PeerMessage[] {
  return [
    { kind: 'vnodeRequest', request: { type: 'VnodeGet', requestId: tag, partition: 3, storageKey: bytes(`k${tag}`) } },
    {
      kind: 'vnodeRequest',
      request: {
        type: 'VnodePut',
        requestId: -tag - 1,
        partition: 4,
        storageKey: bytes('key'),
        context: [
          { actor: 'a', counter: 1 },
          { actor: 'b', counter: 2 ** 40 },
        ],
        content: { value: bytes('v'), contentType: 'text/plain', userMeta: [{ key: 'x', value: 'y' }] },
        deleted: false,
        nowMs: 1_700_000_000_000 + tag,
        ifNoneMatch: true,
        ifNotModified: false,
        maxSiblings: 100,
        lastWriteWins: false,
        allowMult: true,
        localReplicas: [5, 6],
      },
    },
    { kind: 'vnodeRequest', request: { type: 'VnodeReplicate', requestId: tag, partition: 0, storageKey: bytes('k'), object: bytes('obj') } },
    { kind: 'vnodeRequest', request: { type: 'VnodeList', requestId: tag, partition: 7, bucketType: 'default', bucket: undefined } },
    { kind: 'vnodeRequest', request: { type: 'VnodeList', requestId: tag, partition: 7, bucketType: 'default', bucket: new Uint8Array(0) } },
    { kind: 'vnodeReply', reply: { type: 'VnodeGetReply', requestId: tag, partition: 1, object: undefined } },
    { kind: 'vnodeReply', reply: { type: 'VnodeGetReply', requestId: tag, partition: 1, object: bytes('found') } },
    { kind: 'vnodeReply', reply: { type: 'VnodePutApplied', requestId: tag, partition: 1, object: bytes('applied') } },
    { kind: 'vnodeReply', reply: { type: 'VnodePutReply', requestId: tag, partition: 1 } },
    { kind: 'vnodeReply', reply: { type: 'VnodeReplicateReply', requestId: tag, partition: 1 } },
    { kind: 'vnodeReply', reply: { type: 'VnodeListChunk', requestId: tag, partition: 1, items: [bytes('a'), new Uint8Array(0)], done: true } },
    { kind: 'vnodeReply', reply: { type: 'VnodeFailed', requestId: tag, partition: 1, error: { code: 'overload', message: 'mailbox full' } } },
    { kind: 'gossip', state: bytes(`ring ${tag}`) },
    { kind: 'handoffBatch', transferId: `t${tag}`, partition: 9, seq: tag, items: [{ key: bytes('k1'), value: bytes('v1') }], last: false },
    { kind: 'handoffAck', transferId: `t${tag}`, partition: 9, seq: tag },
    { kind: 'handoffAck', transferId: `t${tag}`, partition: 9, seq: tag, error: 'disk full' },
    { kind: 'control', requestId: tag, body: bytes('{"op":"plan"}') },
    { kind: 'controlReply', requestId: tag, body: bytes('{"ok":true}') },
  ];
}

/** Buffers become plain Uint8Arrays, so decoded messages compare deep-equal to what was sent. */
export function normalize<T>(value: T): T {
  if (value instanceof Uint8Array) return new Uint8Array(value) as T;
  if (Array.isArray(value)) return value.map(normalize) as T;
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, normalize(inner)])) as T;
  }
  return value;
}

/** Reads length-prefixed frames off a raw socket. */
export class RawFrames {
  private readonly reader = new FrameReader(64 * 1024 * 1024);
  private waiter: (() => void) | undefined;
  closed = false;

  constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.reader.push(chunk);
      this.waiter?.();
    });
    socket.on('close', () => {
      this.closed = true;
      this.waiter?.();
    });
    socket.on('error', () => undefined);
  }

  /** The next frame body, or 'closed' when the socket closed first. */
  async next(timeoutMs = 2000): Promise<Buffer | 'closed'> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const body = this.reader.next();
      if (body !== undefined) return body;
      if (this.closed) return 'closed';
      if (Date.now() > deadline) throw new Error('timed out waiting for a frame');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.waiter = undefined;
    }
  }

  async nextStep(timeoutMs?: number): Promise<HandshakeStep | 'closed'> {
    const body = await this.next(timeoutMs);
    return body === 'closed' ? 'closed' : decodeHandshake(body);
  }

  /** Resolves once the socket is closed. */
  async untilClosed(timeoutMs = 2000): Promise<void> {
    await waitFor(() => this.closed, 'the socket to close', timeoutMs);
  }
}

export function openSocket(address: string): Promise<Socket> {
  const colon = address.lastIndexOf(':');
  return new Promise((resolve, reject) => {
    const socket = connect(Number(address.slice(colon + 1)), address.slice(0, colon), () => resolve(socket));
    socket.once('error', reject);
  });
}

/**
 * A hand-made peer named `name` dials `address` and runs the handshake as a dialer would (with a
 * wrong proof when asked). Returns the socket and its frame reader, positioned after the last step.
 */
export async function rawDialer(
  address: string,
  options: { name: string; secret?: string; badProof?: boolean },
): Promise<{ socket: Socket; frames: RawFrames; outcome: HandshakeStep | 'closed' }> {
  const socket = await openSocket(address);
  const frames = new RawFrames(socket);
  const nonce = randomBytes(32);
  socket.write(encodeHandshake({ step: 'hello', protocolVersion: peerProtocolVersion, clusterName, nodeName: options.name, nonce }));
  const challenge = await frames.nextStep();
  if (challenge === 'closed' || challenge.step !== 'challenge') return { socket, frames, outcome: challenge };
  const proof = options.badProof
    ? randomBytes(32)
    : handshakeProof(Buffer.from(options.secret ?? secret), 'dialer', {
        protocolVersion: peerProtocolVersion,
        clusterName,
        dialerName: options.name,
        acceptorName: challenge.nodeName,
        dialerNonce: nonce,
        acceptorNonce: challenge.nonce,
      });
  socket.write(encodeHandshake({ step: 'proof', proof }));
  return { socket, frames, outcome: await frames.nextStep() };
}

/** A frame whose body is `body`, header included. */
export const rawFrame = (body: Uint8Array): Buffer => frame(body);
