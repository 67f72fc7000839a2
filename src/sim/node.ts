// One simulated cluster node: its copy of the cluster state, spread by gossip; the vnode actors
// of the partitions it holds, on its simulated storage; a coordinator actor whose router sends
// each vnode request over the simulated network to the node owning the partition (its own
// requests included); the handoff of partitions it gives up; and the key-value operations a
// client calls on it, placed and resolved as the runtime's key-value service does.
//
// It runs the same core functions and actors as production. What it leaves out is what the
// simulator does not test yet: failure detection and fallbacks, hinted handoff, anti-entropy.

import { ensureActorId, VnodeActor } from '../../actors/vnode.js';
import { CoordinatorActor } from '../../actors/coordinator.js';
import type { VnodeRouter } from '../../actors/ports.js';
import { type BucketProps, type RequestLimits, resolveRead, resolveWrite } from '../core/bucket.js';
import {
  type ClusterState,
  type NewMember,
  activeMembers,
  claimantOf,
  commitPlan,
  compatible,
  covers,
  decodeClusterState,
  encodeClusterState,
  memberOf,
  mergeClusterStates,
  sameState,
  singletonCluster,
  stageJoin,
  stageLeave,
} from '../core/cluster.js';
import { decodeContext, encodeStorageKey } from '../core/codec.js';
import { type Result, assertNever, fail } from '../core/errors.js';
import type { GetReply, NewContent, ObjectKey, PutReply } from '../core/kv.js';
import type { VnodeRequest } from '../core/messages.js';
import { partitionOf, preferencePartitions } from '../core/ring.js';
import { Handoff, type HandoffOptions } from './handoff.js';
import type { NodeMessage } from './messages.js';
import type { SimNetwork } from './network.js';
import { SimStorage, type StorageOptions } from './storage.js';
import type { SimWorld } from './world.js';

export interface SimNodeOptions {
  readonly clusterName: string;
  /** Q. */
  readonly partitions: number;
  /** The n_val claim plans for. */
  readonly nVal: number;
  readonly gossipIntervalMs: number;
  readonly requestTimeoutMs: number;
  readonly bucketProps: BucketProps;
  readonly handoff: HandoffOptions;
  readonly storage: StorageOptions;
  /** Pass every state sent through the wire codec (encode, then decode), as production does. */
  readonly wireCodec: boolean;
}

export type CommitOutcome = { readonly ok: boolean; readonly message: string; readonly state: ClusterState | undefined };

const emptyValue = new Uint8Array(0);

export class SimNode {
  private current: ClusterState | undefined;
  readonly storage: SimStorage;
  private readonly vnodes = new Map<number, VnodeActor>();
  readonly coordinators: CoordinatorActor;
  readonly handoff: Handoff;
  private readonly limits: RequestLimits;
  private nextCallId = 1;
  private readonly commitCalls = new Map<number, (outcome: CommitOutcome) => void>();
  private joinCall: ((outcome: Result<void>) => void) | undefined;
  private ticking = false;
  readonly counts = { gossipSent: 0, gossipMerged: 0, refused: 0 };

  constructor(
    readonly name: string,
    readonly world: SimWorld,
    private readonly network: SimNetwork<NodeMessage>,
    private readonly options: SimNodeOptions,
  ) {
    this.storage = new SimStorage(world, name, options.storage);
    this.limits = { defaultTimeoutMs: options.requestTimeoutMs, maxTimeoutMs: options.requestTimeoutMs * 10, maxSiblings: 100, partitions: options.partitions };
    const router: VnodeRouter = {
      send: (request) => this.route(request),
      // One host per partition: no two replicas are ever written in one local group commit.
      hostOf: (partition) => partition,
    };
    this.coordinators = new CoordinatorActor(router, world, 100_000);
    this.handoff = new Handoff(
      {
        name,
        world,
        storage: this.storage,
        state: () => this.current,
        send: (to, message) => this.send(to, message),
        vnode: (p) => this.vnode(p),
        dropVnode: (p) => this.vnodes.delete(p),
        updateLocal: (next) => this.updateLocal(next),
      },
      options.handoff,
    );
    network.attach(name, (from, message) => this.receive(from, message));
  }

  get state(): ClusterState | undefined {
    return this.current;
  }

  get member(): NewMember {
    return { name: this.name, peerAddress: `${this.name}:8087`, zone: undefined, httpAddress: '', pbAddress: '' };
  }

  /** Partitions this node holds a copy of. */
  heldPartitions(): number[] {
    return this.storage.partitions();
  }

  // ---- Membership

  /** Starts as the only member of a new cluster. */
  found(): void {
    this.adopt(singletonCluster(this.options.clusterName, this.options.partitions, this.member), false);
    this.startTicking();
  }

  /** Asks `seed`, a member, to stage this node's join; on success adopts the cluster's state. */
  join(seed: string, done: (outcome: Result<void>) => void): void {
    this.joinCall = done;
    this.send(seed, { type: 'JoinRequest', member: this.member });
  }

  /** Stages the leave of `name` on this node's copy and spreads it. */
  stageLeave(name: string): Result<void> {
    if (this.current === undefined) return fail('invalid_request', `${this.name} is not in a cluster`);
    const next = stageLeave(this.current, name, this.name);
    if (!next.ok) return next;
    this.updateLocal(next.value);
    return { ok: true, value: undefined };
  }

  /** Asks the claimant (as this node sees it) to commit the staged changes. */
  commit(done: (outcome: CommitOutcome) => void): void {
    const claimant = this.current === undefined ? undefined : claimantOf(this.current);
    if (claimant === undefined) {
      done({ ok: false, message: 'no claimant', state: this.current });
      return;
    }
    const callId = this.nextCallId++;
    this.commitCalls.set(callId, done);
    this.send(claimant, { type: 'CommitRequest', callId });
  }

  /** Merges a state changed here, adopts it and pushes it to every member. */
  updateLocal(next: ClusterState): void {
    const merged = this.current === undefined ? next : mergeClusterStates(this.current, next);
    if (this.current !== undefined && sameState(merged, this.current)) return;
    this.adopt(merged, true);
  }

  private adopt(state: ClusterState, spread: boolean): void {
    this.current = state;
    if (spread) this.pushToAll();
    this.handoff.review();
  }

  private others(): string[] {
    if (this.current === undefined) return [];
    return activeMembers(this.current)
      .map((m) => m.name)
      .filter((n) => n !== this.name);
  }

  private pushToAll(): void {
    for (const to of this.others()) this.sendGossip(to);
  }

  private sendGossip(to: string): void {
    this.counts.gossipSent++;
    this.send(to, { type: 'Gossip', state: this.wire(this.current!) });
  }

  /** A state as the receiver will see it. */
  private wire(state: ClusterState): ClusterState {
    return this.options.wireCodec ? decodeClusterState(encodeClusterState(state)) : state;
  }

  private startTicking(): void {
    if (this.ticking) return;
    this.ticking = true;
    this.scheduleTick();
  }

  /** Gossip to one random member, and look after the transfers, about once per interval. */
  private scheduleTick(): void {
    const intervalUs = this.options.gossipIntervalMs * 1000;
    const delayUs = this.world.random.int(Math.round(intervalUs * 0.9), Math.round(intervalUs * 1.1));
    this.world.schedule(delayUs, `tick ${this.name}`, () => {
      const others = this.others();
      if (others.length > 0) this.sendGossip(this.world.random.pick(others));
      this.handoff.checkStalls();
      this.handoff.review();
      this.scheduleTick();
    });
  }

  private onGossip(from: string, received: ClusterState): void {
    if (this.current === undefined) return; // not joined yet: nothing to merge into
    if (!compatible(this.current, received).ok) return;
    if (memberOf(received, this.name) === undefined) return;
    const merged = mergeClusterStates(this.current, received);
    if (!sameState(merged, this.current)) {
      this.counts.gossipMerged++;
      this.adopt(merged, false);
    }
    if (!covers(received, this.current)) this.sendGossip(from);
  }

  private answerJoin(from: string, member: NewMember): void {
    if (this.current === undefined) {
      this.send(from, { type: 'JoinReply', ok: false, state: undefined, message: `${this.name} is not in a cluster` });
      return;
    }
    const next = stageJoin(this.current, member, this.name);
    if (!next.ok) {
      this.send(from, { type: 'JoinReply', ok: false, state: undefined, message: next.error.message });
      return;
    }
    this.updateLocal(next.value);
    this.send(from, { type: 'JoinReply', ok: true, state: this.wire(this.current!), message: 'staged' });
  }

  private onJoinReply(message: Extract<NodeMessage, { type: 'JoinReply' }>): void {
    const done = this.joinCall;
    this.joinCall = undefined;
    if (message.ok && message.state !== undefined) {
      // Replaced, not merged: a joining node has no state of its own worth keeping.
      this.current = undefined;
      this.adopt(message.state, true);
      this.startTicking();
      done?.({ ok: true, value: undefined });
    } else {
      done?.(fail('invalid_request', message.message));
    }
  }

  private answerCommit(from: string, callId: number): void {
    const reply = (ok: boolean, text: string): void =>
      this.send(from, { type: 'CommitReply', callId, ok, state: this.current === undefined ? undefined : this.wire(this.current), message: text });
    if (this.current === undefined) {
      reply(false, 'not in a cluster');
      return;
    }
    if (claimantOf(this.current) !== this.name) {
      reply(false, `${this.name} is not the claimant`);
      return;
    }
    const committed = commitPlan(this.current, this.options.nVal, this.name);
    if (!committed.ok) {
      reply(false, committed.error.message);
      return;
    }
    this.updateLocal(committed.value.state);
    reply(true, `committed: ${committed.value.plan.moves.length} moves`);
  }

  private onCommitReply(message: Extract<NodeMessage, { type: 'CommitReply' }>): void {
    const done = this.commitCalls.get(message.callId);
    this.commitCalls.delete(message.callId);
    const state = message.state;
    if (state !== undefined) {
      if (this.current !== undefined && compatible(this.current, state).ok) {
        const merged = mergeClusterStates(this.current, state);
        if (!sameState(merged, this.current)) this.adopt(merged, false);
      }
    }
    done?.({ ok: message.ok, message: message.message, state });
  }

  // ---- Vnodes

  /** Whether this node answers requests for a partition: it owns it, receives it, or still holds it. */
  serves(partition: number): boolean {
    const entry = this.current?.ring[partition];
    if (entry === undefined) return false;
    return entry.owner === this.name || entry.next === this.name || this.handoff.holding(partition);
  }

  private vnode(partition: number): VnodeActor {
    let vnode = this.vnodes.get(partition);
    if (vnode === undefined) {
      const fresh = (): string => `${this.name}-${partition}-${this.world.random.hex(8)}`;
      const { actorId } = ensureActorId(partition, this.storage, fresh, false);
      vnode = new VnodeActor(partition, actorId, this.storage);
      this.vnodes.set(partition, vnode);
    }
    return vnode;
  }

  /** The coordinator's router: every request goes to the partition's owner, this node included. */
  private route(request: VnodeRequest): void {
    // A node not yet in a cluster knows no owner: it sends the request to itself, which refuses it.
    const owner = this.current?.ring[request.partition]?.owner ?? this.name;
    this.send(owner, { type: 'VnodeRequestMsg', request });
  }

  private onVnodeRequest(from: string, request: VnodeRequest): void {
    const { partition } = request;
    if (!this.serves(partition)) {
      this.counts.refused++;
      const owner = this.current?.ring[partition]?.owner ?? 'unknown';
      const message = `node ${this.name} does not hold partition ${partition} (its owner is ${owner}); the ring is changing`;
      this.send(from, { type: 'VnodeReplyMsg', reply: { type: 'VnodeFailed', requestId: request.requestId, partition, error: { code: 'worker_unavailable', message } } });
      return;
    }
    const writesBefore = this.storage.counts.puts;
    const outcome = this.vnode(partition).handle(request);
    for (const reply of outcome.early) this.send(from, { type: 'VnodeReplyMsg', reply });
    this.storage.whenDurable(outcome.durableLsn, () => this.send(from, { type: 'VnodeReplyMsg', reply: outcome.reply }));
    // A write that changed the partition goes on to its new owner while it is being handed off.
    if (request.type !== 'VnodeGet' && request.type !== 'VnodeList' && this.storage.counts.puts !== writesBefore) this.handoff.noteWrite(partition, request.storageKey);
  }

  // ---- Messages

  send(to: string, message: NodeMessage): void {
    this.network.send(this.name, to, message);
  }

  private receive(from: string, message: NodeMessage): void {
    switch (message.type) {
      case 'VnodeRequestMsg':
        return this.onVnodeRequest(from, message.request);
      case 'VnodeReplyMsg':
        return this.coordinators.onReply(message.reply);
      case 'Gossip':
        return this.onGossip(from, message.state);
      case 'JoinRequest':
        return this.answerJoin(from, message.member);
      case 'JoinReply':
        return this.onJoinReply(message);
      case 'CommitRequest':
        return this.answerCommit(from, message.callId);
      case 'CommitReply':
        return this.onCommitReply(message);
      case 'HandoffBatch':
        return this.handoff.onBatch(from, message);
      case 'HandoffAck':
        return this.handoff.onAck(message);
      case 'HandoffForward':
        return this.handoff.onForward(from, message);
      case 'HandoffForwardAck':
        return this.handoff.onForwardAck(message);
      default:
        return assertNever(message);
    }
  }

  // ---- Key-value operations, as the runtime's key-value service places and resolves them

  get(key: ObjectKey): Promise<Result<GetReply>> {
    const placed = this.place(key);
    const quorum = resolveRead(this.options.bucketProps, {}, this.limits);
    if (!quorum.ok) return Promise.resolve(quorum);
    return this.coordinators.get(preferencePartitions(placed.partition, quorum.value.n, this.options.partitions), placed.storageKey, quorum.value);
  }

  put(key: ObjectKey, content: NewContent, context: Uint8Array | undefined, returnBody: boolean): Promise<Result<PutReply>> {
    return this.write(key, content, context, false, returnBody);
  }

  /** A delete with the context the caller read: a tombstone that supersedes what that read saw. */
  delete(key: ObjectKey, context: Uint8Array | undefined): Promise<Result<PutReply>> {
    return this.write(key, { value: emptyValue, contentType: 'application/octet-stream', userMeta: [] }, context, true, false);
  }

  private write(key: ObjectKey, content: NewContent, context: Uint8Array | undefined, deleted: boolean, returnBody: boolean): Promise<Result<PutReply>> {
    const placed = this.place(key);
    const quorum = resolveWrite(this.options.bucketProps, {}, this.limits);
    if (!quorum.ok) return Promise.resolve(quorum);
    const q = quorum.value;
    return this.coordinators.put(
      preferencePartitions(placed.partition, q.n, this.options.partitions),
      {
        storageKey: placed.storageKey,
        context: context === undefined || context.length === 0 ? [] : decodeContext(context),
        content,
        deleted,
        nowMs: this.world.nowMs(),
        ifNoneMatch: false,
        ifNotModified: false,
        maxSiblings: q.maxSiblings,
        lastWriteWins: q.lastWriteWins,
        allowMult: q.allowMult,
      },
      q,
      returnBody,
    );
  }

  private place(key: ObjectKey): { storageKey: Uint8Array; partition: number } {
    const storageKey = encodeStorageKey(key);
    return { storageKey, partition: partitionOf(storageKey, this.options.partitions) };
  }
}

