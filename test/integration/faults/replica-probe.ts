// Looks at each replica of a key on its own, from outside the nodes: the probe is a peer-protocol
// client (it knows the test cluster's secret) that dials every node's real peer port, bypassing
// the fault proxy, and asks one vnode at a time for its copy of a key (VnodeGet). A client read
// cannot do this, because a coordinator answers with the merge of the replicas. The probe only
// reads; it never writes or repairs anything.
//
// `compare` says, for a set of keys, whether the N primaries hold the same version (same version
// vector, same sibling dots) and whether any other node still holds a copy as a fallback (a hint
// not yet handed to its owner).

import { pino } from 'pino';
import { decodeObject, encodeStorageKey } from '../../../src/core/codec.js';
import { sameVersion } from '../../../src/core/object.js';
import { partitionOf, preferencePartitions } from '../../../src/core/ring.js';
import type { PeerMessage } from '../../../src/runtime/peer/messages.js';
import { PeerTransport } from '../../../src/runtime/peer/transport.js';
import { bucket } from './http-ops.js';

const probeName = 'replica-probe@127.0.0.1';
const requestTimeoutMs = 10_000;
const attemptsMax = 5;
/** Vnode requests in flight at once, well under a vnode's mailbox capacity. */
const inflightMax = 128;

interface Pending {
  readonly resolve: (object: Uint8Array | undefined) => void;
  readonly reject: (error: Error) => void;
  readonly timer: NodeJS.Timeout;
}

export interface ProbeNode {
  readonly name: string;
  readonly peerAddress: string;
}

export interface Comparison {
  readonly keys: number;
  /** Keys whose primaries differ, with how. */
  readonly disagreements: string[];
  /** Copies held by nodes other than the owner (hints not yet handed off). */
  readonly hints: string[];
}

const encoder = new TextEncoder();

export function storageKeyOf(key: string): Uint8Array {
  return encodeStorageKey({ type: 'default', bucket: encoder.encode(bucket), key: encoder.encode(key) });
}

export class ReplicaProbe {
  private nextRequestId = 1;
  private readonly pending = new Map<number, Pending>();

  private constructor(private transport: PeerTransport | undefined) {}

  static async start(clusterName: string, secret: string): Promise<ReplicaProbe> {
    const probe = new ReplicaProbe(undefined);
    probe.transport = await PeerTransport.start({
      nodeName: probeName,
      clusterName,
      secret,
      host: '127.0.0.1',
      port: 0,
      maxFrameBytes: 16 * 1024 * 1024,
      sendQueueBytesMax: 64 * 1024 * 1024,
      connectTimeoutMs: 3000,
      handshakeTimeoutMs: 3000,
      reconnectMinMs: 100,
      reconnectMaxMs: 1000,
      log: pino({ level: 'silent' }),
      onMessage: (_from, message) => probe.onMessage(message),
    });
    return probe;
  }

  private onMessage(message: PeerMessage): void {
    if (message.kind !== 'vnodeReply') return;
    const reply = message.reply;
    const pending = this.pending.get(reply.requestId);
    if (pending === undefined) return;
    this.pending.delete(reply.requestId);
    clearTimeout(pending.timer);
    if (reply.type === 'VnodeGetReply') pending.resolve(reply.object === undefined ? undefined : new Uint8Array(reply.object));
    else if (reply.type === 'VnodeFailed') pending.reject(new Error(`${reply.error.code}: ${reply.error.message}`));
    else pending.reject(new Error(`unexpected reply ${reply.type}`));
  }

  /** Makes sure there is a live connection to each node (dialled directly, not through the proxy). */
  async connect(nodes: readonly ProbeNode[]): Promise<void> {
    await Promise.all(nodes.map(async (n) => {
      if (this.transport!.isConnected(n.name)) return;
      const name = await this.transport!.dial(n.peerAddress);
      if (name !== n.name) throw new Error(`dialled ${n.peerAddress} expecting ${n.name}, reached ${name}`);
    }));
  }

  private getOnce(node: string, partition: number, storageKey: Uint8Array, fallback: boolean): Promise<Uint8Array | undefined> {
    const requestId = this.nextRequestId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(requestId);
        reject(new Error(`no answer from ${node} for partition ${partition} within ${requestTimeoutMs} ms`));
      }, requestTimeoutMs);
      this.pending.set(requestId, { resolve, reject, timer });
      const request = { type: 'VnodeGet' as const, requestId, partition, storageKey, ...(fallback ? { fallback: true } : {}) };
      const sent = this.transport!.send(node, { kind: 'vnodeRequest', request });
      if (sent !== 'queued') {
        this.pending.delete(requestId);
        clearTimeout(timer);
        reject(new Error(`cannot send to ${node}: ${sent}`));
      }
    });
  }

  /** One vnode's copy of a key; retried a few times on overload or a worker restarting. */
  async get(node: string, partition: number, storageKey: Uint8Array, fallback: boolean): Promise<Uint8Array | undefined> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.getOnce(node, partition, storageKey, fallback);
      } catch (error) {
        if (attempt >= attemptsMax) throw error;
        await new Promise((r) => setTimeout(r, 200 * attempt));
      }
    }
  }

  /** Compares the replicas of every key. `owners[p]` is the owner of partition p. */
  async compare(keys: readonly string[], owners: readonly string[], nodes: readonly string[], nVal: number): Promise<Comparison> {
    const disagreements: string[] = [];
    const hints: string[] = [];
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < keys.length) {
        const key = keys[next++]!;
        const storageKey = storageKeyOf(key);
        const partitions = preferencePartitions(partitionOf(storageKey, owners.length), nVal, owners.length);
        const copies = await Promise.all(partitions.map(async (p) => ({ where: `p${p}@${owners[p]}`, bytes: await this.get(owners[p]!, p, storageKey, false) })));
        const problem = this.primariesDiffer(copies);
        if (problem !== undefined) disagreements.push(`${key}: ${problem}`);
        const elsewhere = partitions.flatMap((p) => nodes.filter((node) => node !== owners[p]).map((node) => ({ p, node })));
        const held = await Promise.all(elsewhere.map(async ({ p, node }) => ((await this.get(node, p, storageKey, true)) === undefined ? undefined : `${key}: p${p} (owner ${owners[p]}) still held by ${node}`)));
        for (const h of held) if (h !== undefined) hints.push(h);
      }
    };
    // Each worker has at most 3 + 3 × (nodes − 1) requests in flight, one key at a time.
    await Promise.all(Array.from({ length: Math.max(1, Math.floor(inflightMax / (nVal * nodes.length))) }, worker));
    return { keys: keys.length, disagreements, hints };
  }

  private primariesDiffer(copies: readonly { where: string; bytes: Uint8Array | undefined }[]): string | undefined {
    const present = copies.filter((c) => c.bytes !== undefined);
    if (present.length === 0) return undefined;
    if (present.length < copies.length) return `held by ${present.map((c) => c.where).join(', ')} but missing from ${copies.filter((c) => c.bytes === undefined).map((c) => c.where).join(', ')}`;
    const [first, ...rest] = present.map((c) => ({ where: c.where, object: decodeObject(c.bytes!) }));
    const differing = rest.filter((c) => !sameVersion(first!.object, c.object));
    return differing.length === 0 ? undefined : `${first!.where} and ${differing.map((c) => c.where).join(', ')} hold different versions`;
  }

  async close(): Promise<void> {
    for (const pending of this.pending.values()) clearTimeout(pending.timer);
    this.pending.clear();
    await this.transport?.close();
  }
}
