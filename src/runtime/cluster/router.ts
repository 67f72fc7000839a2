// Routes vnode requests across the cluster. A request for a partition this node owns goes to the
// local vnode host; one for a partition another node owns goes over the node-to-node transport,
// and that node's router hands it to its own vnode host and sends the replies back. Replies are
// told apart by request id: positive ids belong to this node's coordinators, negative ids to the
// router itself (requests proxied for a peer, writes forwarded during a transfer, handoff).
//
// While a partition is being handed to a new owner (and for a grace period after), every write
// this node applies to it is also forwarded to the new owner, so that nothing written during the
// transfer is missed: the transfer streams what was there, the forwarding covers what comes after.

import type { VnodeRouter } from '../../../actors/ports.js';
import type { KvError } from '../../core/errors.js';
import { type VnodeReply, type VnodeRequest, isFinalReply } from '../../core/messages.js';
import type { PeerMessage } from '../peer/messages.js';

export interface LocalHost {
  send(request: VnodeRequest): void;
  hostOf(partition: number): number;
}

export interface PeerSender {
  send(to: string, message: PeerMessage): 'queued' | 'overload' | 'unreachable';
  /** A connection to the peer is being opened (dial or handshake under way). */
  isConnecting?(name: string): boolean;
}

/** How long a request waits for a connection that is being opened before it fails. */
const connectWaitMs = 2000;
const connectRetryMs = 20;
/** Requests waiting for connections, at most; beyond it they fail at once. */
const waitingMax = 10_000;

export interface RouterView {
  readonly self: string;
  /** The node owning the partition. */
  ownerOf(partition: number): string;
  /** Whether this node serves requests for the partition (it owns it, receives it, or still holds it). */
  serves(partition: number): boolean;
  /** Whether this node may take more hints as a fallback (its hint bound). */
  acceptsHints?(): boolean;
}

/** A vnode request before the router gives it an id. */
export type UnnumberedRequest = VnodeRequest extends infer T ? (T extends VnodeRequest ? Omit<T, 'requestId'> : never) : never;

type InternalEntry =
  | { readonly kind: 'proxy'; readonly peer: string; readonly originalId: number }
  | { readonly kind: 'callback'; readonly onReply: (reply: VnodeReply) => void };

export interface ForwardListener {
  /** A forwarded write reached the new owner durably, or failed. */
  forwarded(partition: number, ok: boolean): void;
}

export class ClusterRouter implements VnodeRouter {
  private nextInternalId = -1;
  private readonly internal = new Map<number, InternalEntry>();
  /** Partition → node its writes are forwarded to while a transfer is under way or in grace. */
  private readonly forwarding = new Map<number, string>();
  /** Puts whose applied result must be forwarded, by `requestId:partition`, with the partitions to forward to. */
  private readonly forwardOnApplied = new Map<string, { readonly partitions: number[]; readonly storageKey: Uint8Array }>();
  private forwardListener: ForwardListener | undefined;
  /** Replicated objects to forward once their merge reports a change, by `requestId:partition`. */
  private readonly forwardOnMerged = new Map<string, { readonly storageKey: Uint8Array; readonly object: Uint8Array }>();
  private readonly inFlightForwards = new Map<number, number>();
  /** Counters for stats. */
  readonly counts = { proxiedIn: 0, sentRemote: 0, refusedRemote: 0, forwarded: 0, forwardFailures: 0 };

  constructor(
    private readonly local: LocalHost,
    private readonly peers: PeerSender,
    private readonly view: RouterView,
    private readonly toCoordinators: (reply: VnodeReply) => void,
  ) {}

  setForwardListener(listener: ForwardListener): void {
    this.forwardListener = listener;
  }

  /** From now on, writes applied here to `partition` are also sent to `target`. */
  startForwarding(partition: number, target: string): void {
    this.forwarding.set(partition, target);
  }

  stopForwarding(partition: number): void {
    this.forwarding.delete(partition);
  }

  forwardingTarget(partition: number): string | undefined {
    return this.forwarding.get(partition);
  }

  // ---- VnodeRouter: requests from this node's coordinators

  send(request: VnodeRequest, node?: string): void {
    const target = node ?? this.view.ownerOf(request.partition);
    if (target === this.view.self) {
      this.deliverLocal(request);
      return;
    }
    this.sendRemote(target, request, Date.now() + connectWaitMs);
  }

  private waiting = 0;
  /** Partitions this node took fallback writes for since the handoff scan last looked at them. */
  readonly hintedPartitions = new Set<number>();
  /** Requests sent to each peer and not yet finally answered, so a dropped link fails them at once. */
  private readonly pendingByPeer = new Map<string, Map<string, { requestId: number; partition: number }>>();

  private track(peer: string, requestId: number, partition: number): void {
    let pending = this.pendingByPeer.get(peer);
    if (pending === undefined) {
      pending = new Map();
      this.pendingByPeer.set(peer, pending);
    }
    pending.set(`${requestId}:${partition}`, { requestId, partition });
  }

  /** The link to a peer went down: whatever it had not answered will not be answered. */
  onPeerDown(peer: string, reason: string): void {
    const pending = this.pendingByPeer.get(peer);
    if (pending === undefined) return;
    this.pendingByPeer.delete(peer);
    for (const { requestId, partition } of pending.values()) {
      // 'timeout', not 'worker_unavailable': the request may have been applied before the link
      // dropped, so a put must not be handed to another replica (it would be applied twice).
      this.onPeerReply(peer, { type: 'VnodeFailed', requestId, partition, error: { code: 'timeout', message: `the connection to ${peer} dropped before it answered (${reason}); the request may or may not have been applied` } });
    }
  }

  private sendRemote(owner: string, request: VnodeRequest, waitUntilMs: number): void {
    const outcome = this.peers.send(owner, { kind: 'vnodeRequest', request });
    if (outcome === 'queued') {
      this.counts.sentRemote++;
      this.track(owner, request.requestId, request.partition);
      return;
    }
    // A link being opened (a new member, a reconnect) is worth a short wait; a dead one is not.
    if (outcome === 'unreachable' && this.peers.isConnecting?.(owner) === true && Date.now() < waitUntilMs && this.waiting < waitingMax) {
      this.waiting++;
      setTimeout(() => {
        this.waiting--;
        this.sendRemote(owner, request, waitUntilMs);
      }, connectRetryMs);
      return;
    }
    const error: KvError =
      outcome === 'overload'
        ? { code: 'overload', message: `the send queue to ${owner} is full; retry later` }
        : { code: 'worker_unavailable', message: `node ${owner}, owner of partition ${request.partition}, is unreachable` };
    // Answer on a later turn, as a real reply would come: the coordinator is still starting.
    queueMicrotask(() => this.toCoordinators({ type: 'VnodeFailed', requestId: request.requestId, partition: request.partition, error }));
  }

  hostOf(partition: number): number {
    // Replicas on another node never share a host with anything here: a unique negative number.
    return this.view.ownerOf(partition) === this.view.self ? this.local.hostOf(partition) : -1 - partition;
  }

  /** Sends a request to the local vnode host and hands its replies to `onReply`. */
  sendInternal(request: UnnumberedRequest, onReply: (reply: VnodeReply) => void): void {
    const id = this.nextInternalId--;
    this.internal.set(id, { kind: 'callback', onReply });
    this.deliverLocal({ ...request, requestId: id } as VnodeRequest);
  }

  /** A request for `to`'s vnode, from this node's internals; replies come back to `onReply`. */
  sendToPeerInternal(to: string, request: UnnumberedRequest, onReply: (reply: VnodeReply) => void): void {
    const id = this.nextInternalId--;
    const full = { ...request, requestId: id } as VnodeRequest;
    if (to === this.view.self) {
      this.internal.set(id, { kind: 'callback', onReply });
      this.deliverLocal(full);
      return;
    }
    const outcome = this.peers.send(to, { kind: 'vnodeRequest', request: full });
    if (outcome !== 'queued') {
      queueMicrotask(() => onReply({ type: 'VnodeFailed', requestId: id, partition: request.partition, error: { code: 'worker_unavailable', message: `node ${to} is ${outcome}` } }));
      return;
    }
    this.internal.set(id, { kind: 'callback', onReply });
    this.remoteDeadlines.set(id, { deadlineMs: Date.now() + this.internalTimeoutMs, partition: request.partition, to });
    this.track(to, id, request.partition);
  }

  /** Internal requests sent to peers, which may never answer if the peer goes away. */
  private readonly remoteDeadlines = new Map<number, { deadlineMs: number; partition: number; to: string }>();
  internalTimeoutMs = 30_000;

  /** Fails internal requests to peers that passed their deadline; call it periodically. */
  sweep(nowMs: number): void {
    for (const [id, { deadlineMs, partition, to }] of this.remoteDeadlines) {
      if (deadlineMs > nowMs) continue;
      this.remoteDeadlines.delete(id);
      this.onInternalReply({ type: 'VnodeFailed', requestId: id, partition, error: { code: 'timeout', message: `no answer from ${to} within ${this.internalTimeoutMs} ms` } });
    }
  }

  /** Drops the callback of an internal request that will not be waited for any more. */
  forget(requestId: number): void {
    this.internal.delete(requestId);
  }

  // ---- From the network

  /** A vnode request from a peer's coordinator (or its internals). */
  onPeerRequest(from: string, request: VnodeRequest): void {
    this.counts.proxiedIn++;
    // A fallback stores what it is sent for a partition it does not own, as hints for the owner.
    const asFallback = request.type !== 'VnodeList' && request.type !== 'VnodeReap' && request.fallback === true;
    if (asFallback && request.type !== 'VnodeGet' && this.view.acceptsHints?.() === false && !this.view.serves(request.partition)) {
      this.counts.refusedRemote++;
      this.peers.send(from, {
        kind: 'vnodeReply',
        reply: { type: 'VnodeFailed', requestId: request.requestId, partition: request.partition, error: { code: 'overload', message: `node ${this.view.self} holds as many hints as hintMaxObjects allows; it takes no more` } },
      });
      return;
    }
    if (!asFallback && !this.view.serves(request.partition)) {
      this.counts.refusedRemote++;
      this.peers.send(from, {
        kind: 'vnodeReply',
        reply: {
          type: 'VnodeFailed',
          requestId: request.requestId,
          partition: request.partition,
          error: { code: 'worker_unavailable', message: `node ${this.view.self} does not hold partition ${request.partition} (its owner is ${this.view.ownerOf(request.partition)}); the ring is changing` },
        },
      });
      return;
    }
    const id = this.nextInternalId--;
    this.internal.set(id, { kind: 'proxy', peer: from, originalId: request.requestId });
    this.deliverLocal({ ...request, requestId: id });
  }

  /** A vnode reply from a peer, to one of this node's requests. */
  onPeerReply(from: string, reply: VnodeReply): void {
    if (isFinalReply(reply)) {
      const pending = this.pendingByPeer.get(from);
      if (pending !== undefined && pending.delete(`${reply.requestId}:${reply.partition}`) && pending.size === 0) this.pendingByPeer.delete(from);
    }
    if (reply.requestId > 0) this.toCoordinators(reply);
    else this.onInternalReply(reply);
  }

  // ---- From the local vnode host

  onLocalReply(reply: VnodeReply): void {
    if (this.forwardOnApplied.size > 0) {
      if (reply.type === 'VnodePutApplied') this.forwardApplied(reply);
      else if (reply.type === 'VnodeFailed') this.forwardOnApplied.delete(`${reply.requestId}:${reply.partition}`);
    }
    if (this.forwardOnMerged.size > 0 && (reply.type === 'VnodeReplicateReply' || reply.type === 'VnodeFailed')) {
      const key = `${reply.requestId}:${reply.partition}`;
      const pending = this.forwardOnMerged.get(key);
      if (pending !== undefined) {
        this.forwardOnMerged.delete(key);
        if (reply.type === 'VnodeReplicateReply' && reply.changed !== false) this.forward(reply.partition, pending.storageKey, pending.object);
      }
    }
    if (reply.requestId > 0) this.toCoordinators(reply);
    else this.onInternalReply(reply);
  }

  private onInternalReply(reply: VnodeReply): void {
    const entry = this.internal.get(reply.requestId);
    if (entry === undefined) return;
    if (isFinalReply(reply)) {
      this.internal.delete(reply.requestId);
      this.remoteDeadlines.delete(reply.requestId);
    }
    if (entry.kind === 'callback') entry.onReply(reply);
    else this.peers.send(entry.peer, { kind: 'vnodeReply', reply: { ...reply, requestId: entry.originalId } });
  }

  private deliverLocal(request: VnodeRequest): void {
    // A write kept here as a hint for a partition this node does not serve: noted at once, so
    // tombstone reaping elsewhere learns of it before the next handoff scan (Handoff.foreignPartitions).
    if (request.type !== 'VnodeList' && request.type !== 'VnodeGet' && request.type !== 'VnodeReap' && request.fallback === true && !this.view.serves(request.partition)) {
      this.hintedPartitions.add(request.partition);
    }
    if (this.forwarding.size > 0) this.noteForwarding(request);
    this.local.send(request);
  }

  private noteForwarding(request: VnodeRequest): void {
    if (request.type === 'VnodeReplicate') {
      // Forwarded once the merge is known to have changed something: a partition moving A → B →
      // A within a grace period would otherwise bounce the same object between A and B forever.
      if (this.forwarding.has(request.partition)) {
        this.forwardOnMerged.set(`${request.requestId}:${request.partition}`, { storageKey: request.storageKey, object: request.object });
      }
      return;
    }
    if (request.type !== 'VnodePut') return;
    const partitions = [request.partition, ...request.localReplicas].filter((p) => this.forwarding.has(p));
    if (partitions.length > 0) this.forwardOnApplied.set(`${request.requestId}:${request.partition}`, { partitions, storageKey: request.storageKey });
  }

  private forwardApplied(reply: Extract<VnodeReply, { type: 'VnodePutApplied' }>): void {
    const key = `${reply.requestId}:${reply.partition}`;
    const pending = this.forwardOnApplied.get(key);
    if (pending === undefined) return;
    this.forwardOnApplied.delete(key);
    for (const p of pending.partitions) this.forward(p, pending.storageKey, reply.object);
  }

  private forward(partition: number, storageKey: Uint8Array, object: Uint8Array): void {
    const target = this.forwarding.get(partition);
    if (target === undefined) return;
    this.counts.forwarded++;
    this.inFlightForwards.set(partition, (this.inFlightForwards.get(partition) ?? 0) + 1);
    this.sendToPeerInternal(target, { type: 'VnodeReplicate', partition, storageKey, object }, (reply) => {
      const left = (this.inFlightForwards.get(partition) ?? 1) - 1;
      if (left === 0) this.inFlightForwards.delete(partition);
      else this.inFlightForwards.set(partition, left);
      const ok = reply.type === 'VnodeReplicateReply';
      if (!ok) this.counts.forwardFailures++;
      this.forwardListener?.forwarded(partition, ok);
    });
  }

  /** Forwarded writes for the partition not yet acknowledged by the target. */
  forwardsInFlight(partition: number): number {
    // Writes applied here but not yet forwarded (waiting for their local reply) count too.
    let waiting = 0;
    const suffix = `:${partition}`;
    for (const key of this.forwardOnMerged.keys()) if (key.endsWith(suffix)) waiting++;
    for (const [key, pending] of this.forwardOnApplied) if (key.endsWith(suffix) || pending.partitions.includes(partition)) waiting++;
    return (this.inFlightForwards.get(partition) ?? 0) + waiting;
  }

  /** Internal requests still waiting for replies (for stats and tests). */
  get internalPending(): number {
    return this.internal.size;
  }
}
