// One simulated cluster node: its copy of the cluster state, spread by gossip; the vnode actors
// of the partitions it holds, on its simulated storage; a coordinator actor whose router sends
// each vnode request over the simulated network to the node owning the partition (its own
// requests included); the handoff of partitions it gives up; and the key-value operations a
// client calls on it, placed and resolved as the runtime's key-value service does.
//
// It runs the same core functions and actors as production. With `liveness` set it also runs
// failure detection as src/runtime/cluster/cluster-node.ts does: heartbeats to every member, a
// phi-accrual detector per peer (src/core/failure-detector.ts) fed by every message received
// (on the node's monotonic clock),
// sloppy quorum (a primary on a node believed down is replaced by a fallback, `preferenceList`),
// and a periodic scan that hands hints and stray copies to their owners. Everything the node does
// passes through its process (process.ts), so it can be paused, crashed and restarted: a crash
// loses what was not fsynced and every in-memory part (coordinators, transfers, detectors); the
// restarted node reloads its durable storage and its cluster state (cluster.json), and its vnodes
// take fresh actor ids, as the production worker does after an unclean stop. What it leaves out
// is what the runtime does not have yet: anti-entropy.

import type { DatatypeOp } from '../core/datatype.js';
import { ensureActorId, VnodeActor } from '../../actors/vnode.js';
import { type ReapScan, Reaper } from '../../actors/reaper.js';
import { judgeStored } from '../core/reaping.js';
import { CoordinatorActor, type Placement } from '../../actors/coordinator.js';
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
  preferenceList,
  sameState,
  singletonCluster,
  stageJoin,
  stageLeave,
} from '../core/cluster.js';
import { decodeContext, encodeStorageKey } from '../core/codec.js';
import { type Result, assertNever, fail } from '../core/errors.js';
import { type FailureDetectorOptions, FailureDetectors } from '../core/failure-detector.js';
import type { GetReply, NewContent, ObjectKey, PutReply, ReadOptions, WriteOptions } from '../core/kv.js';
import type { VnodeReply, VnodeRequest } from '../core/messages.js';
import { partitionOf, preferencePartitions } from '../core/ring.js';
import { Handoff, type HandoffCounts, type HandoffOptions, emptyHandoffCounts } from './handoff.js';
import type { NodeMessage } from './messages.js';
import type { SimNetwork } from './network.js';
import { NodeProcess } from './process.js';
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
  /** Failure detection, sloppy quorum and hinted handoff; undefined: every node is believed up, always. */
  readonly liveness: LivenessOptions | undefined;
  /** A bug planted on purpose, to check that the checkers find it (never set outside those tests). */
  readonly plantedBug?: PlantedBug;
  /** Tombstone reaping with the production Reaper actor; undefined: tombstones are kept. */
  readonly reaping?: ReapingOptions;
}

export interface ReapingOptions {
  readonly intervalMs: number;
  readonly delayMs: number;
  /** Planted bug: reap without asking the members which partitions they hold copies of. */
  readonly ignoreForeignCopies?: boolean;
}

/**
 * Bugs a test can plant to see the checkers catch them: vnodes keep their actor ids after a crash
 * (so a dot lost in the crash is minted again for another value); replies go out before the write
 * is fsynced (so a crash loses acknowledged writes); hints are dropped instead of handed off.
 */
export type PlantedBug = 'keep-actor-ids' | 'reply-before-fsync' | 'drop-hints';

export interface LivenessOptions {
  /** How often a heartbeat goes to every member (production: heartbeatIntervalMs, 1 s). */
  readonly heartbeatIntervalMs: number;
  readonly detector: FailureDetectorOptions;
  /** How often a node looks for hints and stray copies to hand to their owners (production: handoffScanIntervalMs, 10 s). */
  readonly hintScanIntervalMs: number;
}

/** Counters that survive restarts, for reports. */
export interface NodeCounts {
  gossipSent: number;
  gossipMerged: number;
  refused: number;
  /** Requests served as a fallback for a partition this node does not own. */
  servedAsFallback: number;
  /** Peers that went from believed up to suspected, as seen at heartbeat ticks. */
  suspicions: number;
  /** Requests failed because the connection to their node was reset or refused. */
  connectionFailures: number;
  crashes: number;
  restarts: number;
}

export type CommitOutcome = { readonly ok: boolean; readonly message: string; readonly state: ClusterState | undefined };

const emptyValue = new Uint8Array(0);

/** Replies after which a vnode request is no longer waited for. */
function isFinalReply(reply: VnodeReply): boolean {
  return reply.type !== 'VnodePutApplied' && (reply.type !== 'VnodeListChunk' || reply.done);
}

export class SimNode {
  private current: ClusterState | undefined;
  readonly storage: SimStorage;
  /** Whether the node runs, is paused or is down; its clock; the gate of its events. */
  readonly process: NodeProcess;
  private readonly vnodes = new Map<number, VnodeActor>();
  coordinators: CoordinatorActor;
  handoff: Handoff;
  private detectors: FailureDetectors | undefined;
  /** Believed-up status of each peer at the last heartbeat tick (to count suspicions). */
  private lastUp = new Map<string, boolean>();
  /** Vnode requests sent to each node and not yet finally answered ("requestId:partition"). */
  private pendingTo = new Map<string, Map<string, { readonly requestId: number; readonly partition: number }>>();
  /**
   * The incarnation of each peer this node's connection leads to. Set when a connection opens (a
   * send to a peer that is up) or a newer incarnation of the peer connects to this node; cleared
   * when the connection is reset.
   */
  private connections = new Map<string, number>();
  /** Peers whose connection was reset and not opened again: believed down whatever their phi (production's `linked`). */
  private unlinked = new Set<string>();
  /** After an unclean restart every vnode takes a fresh actor id; those renewed since. */
  private uncleanRestart = false;
  private readonly renewed = new Set<number>();
  private readonly limits: RequestLimits;
  private nextCallId = 1;
  private readonly commitCalls = new Map<number, (outcome: CommitOutcome) => void>();
  private joinCall: ((outcome: Result<void>) => void) | undefined;
  private ticking = false;
  /** The tombstone reaper (with options.reaping), recreated with the process. */
  reaper: Reaper | undefined;
  /** Objects the reapers of this node's earlier lives (before crashes) reaped. */
  reapedBefore = 0;
  /** Callbacks of the reaper's vnode requests, by their (negative) request ids. */
  private internal = new Map<number, (reply: VnodeReply) => void>();
  private nextInternalId = -1;
  private readonly foreignCalls = new Map<number, (partitions: readonly number[]) => void>();
  readonly counts: NodeCounts = { gossipSent: 0, gossipMerged: 0, refused: 0, servedAsFallback: 0, suspicions: 0, connectionFailures: 0, crashes: 0, restarts: 0 };
  /** Handoff counts of the node's earlier lives (before crashes). */
  private readonly pastHandoff: HandoffCounts = emptyHandoffCounts();

  constructor(
    readonly name: string,
    readonly world: SimWorld,
    private readonly network: SimNetwork<NodeMessage>,
    private readonly options: SimNodeOptions,
  ) {
    this.process = new NodeProcess(world, name);
    this.storage = new SimStorage(world, name, options.storage);
    this.storage.deliver = (fn) => this.process.enter(this.process.generation, fn);
    this.limits = { defaultTimeoutMs: options.requestTimeoutMs, maxTimeoutMs: options.requestTimeoutMs * 10, maxSiblings: 100, warnSiblings: 25, maxObjectBytes: 50 * 1024 * 1024, warnObjectBytes: 1024 * 1024, partitions: options.partitions };
    this.coordinators = this.newCoordinators();
    this.handoff = this.newHandoff();
    this.detectors = options.liveness === undefined ? undefined : new FailureDetectors(options.liveness.detector);
    this.attach();
  }

  private newCoordinators(): CoordinatorActor {
    const router: VnodeRouter = {
      send: (request, node) => this.route(request, node),
      // One host per partition: no two replicas are ever written in one local group commit. As
      // in production, partitions this node does not own have a negative host (another node).
      hostOf: (partition) => ((this.current?.ring[partition]?.owner ?? this.name) === this.name ? partition : -1 - partition),
    };
    return new CoordinatorActor(router, this.process, 100_000);
  }

  private newHandoff(): Handoff {
    return new Handoff(
      {
        name: this.name,
        time: this.process,
        storage: this.storage,
        state: () => this.current,
        send: (to, message) => this.send(to, message),
        vnode: (p) => this.vnode(p),
        dropVnode: (p) => this.vnodes.delete(p),
        updateLocal: (next) => this.updateLocal(next),
        reachable: (node) => node === this.name || !this.unlinked.has(node),
      },
      this.options.handoff,
    );
  }

  private attach(): void {
    this.network.attach(this.name, (from, message, fromIncarnation) =>
      this.process.enter(this.process.generation, () => {
        // What the connection itself reports does not come from the peer's process.
        if (message.type !== 'ConnectionReset' && message.type !== 'Unreachable') this.noteIncarnation(from, fromIncarnation);
        this.receive(from, message);
      }),
    );
  }

  /** The incarnation of `peer` that this node's messages go to: its connection's, or, opening one, the peer's own if it is up. */
  connectionTo(peer: string, peerIncarnation: number, peerUp: boolean): number {
    const open = this.connections.get(peer);
    if (open !== undefined) return open;
    if (peerUp) {
      this.connections.set(peer, peerIncarnation);
      this.unlinked.delete(peer);
    }
    return peerIncarnation;
  }

  /**
   * A message from a newer incarnation of a peer means the peer restarted and connected anew: the
   * old connection is replaced (as the production transport keeps one connection per pair), and
   * whatever was sent on it is failed.
   */
  private noteIncarnation(peer: string, incarnation: number): void {
    if (peer === this.name) return;
    const known = this.connections.get(peer);
    if (known !== undefined && incarnation <= known) return;
    if (known !== undefined) this.onConnectionReset(peer);
    this.connections.set(peer, incarnation);
    this.unlinked.delete(peer);
  }

  /** Handoff counts over every life of the node. */
  get handoffCounts(): HandoffCounts {
    const out = { ...this.pastHandoff };
    for (const k of Object.keys(out) as (keyof HandoffCounts)[]) out[k] += this.handoff.counts[k];
    return out;
  }

  // ---- Faults: crash, restart, wipe, pause

  /** The process dies: unsynced writes are lost, and every in-memory part with it. */
  crash(): void {
    if (this.process.state === 'down') return;
    this.counts.crashes++;
    this.process.crash();
    this.network.detach(this.name);
    this.storage.loseUnsynced();
    for (const k of Object.keys(this.pastHandoff) as (keyof HandoffCounts)[]) this.pastHandoff[k] += this.handoff.counts[k];
    this.vnodes.clear();
    this.coordinators = this.newCoordinators();
    this.handoff = this.newHandoff();
    this.detectors = this.options.liveness === undefined ? undefined : new FailureDetectors(this.options.liveness.detector);
    this.lastUp = new Map();
    this.pendingTo = new Map();
    this.connections = new Map();
    this.unlinked = new Set();
    this.commitCalls.clear();
    this.joinCall = undefined;
    this.ticking = false;
    this.reapedBefore += this.reaper?.counts.reaped ?? 0;
    this.reaper?.stop();
    this.reaper = undefined;
    this.internal = new Map();
    this.foreignCalls.clear();
  }

  /** The disk is lost as well: the node comes back with no data at all (its cluster state kept). */
  wipe(): void {
    this.crash();
    this.storage.wipe();
  }

  /**
   * A new process on the durable state: storage as the crash left it, the cluster state from its
   * file; the vnodes take fresh actor ids (no clean-shutdown marker), transfers start over.
   */
  restart(): void {
    if (this.process.state !== 'down') return;
    this.counts.restarts++;
    this.process.restart();
    this.uncleanRestart = true;
    this.renewed.clear();
    this.attach();
    if (this.current === undefined) return;
    this.watchMembers();
    this.startTicking();
    this.handoff.review();
  }

  // ---- Liveness

  /**
   * Whether a node is believed reachable (always, without liveness): as cluster-node.ts decides,
   * its connection is up (not reset, or opened again since) and its detector does not suspect it.
   */
  isUp(node: string): boolean {
    if (this.detectors === undefined || node === this.name) return true;
    if (this.unlinked.has(node)) return false;
    const status = this.detectors.status(node, this.process.monotonicMs());
    return status === undefined || status === 'up';
  }

  private watchMembers(): void {
    if (this.detectors === undefined || this.current === undefined) return;
    const now = this.process.monotonicMs();
    for (const m of this.current.members) {
      if (m.name === this.name) continue;
      if (m.status === 'left') this.detectors.remove(m.name);
      else this.detectors.watch(m.name, now);
    }
  }

  /**
   * The replicas of a key whose partition is `first`, as cluster-node.ts `replicas()` places them:
   * with sloppy quorum, a primary on a node believed down is replaced by the next healthy node
   * round the ring (a fallback, which keeps the write as a hint for the owner).
   */
  replicas(first: number, nVal: number, sloppyQuorum: boolean): { partitions: readonly number[]; placement?: Placement } {
    const plain = { partitions: preferencePartitions(first, nVal, this.options.partitions) };
    const state = this.current;
    if (state === undefined || this.detectors === undefined || !sloppyQuorum) return plain;
    if (!activeMembers(state).some((m) => m.name !== this.name && !this.isUp(m.name))) return plain;
    const entries = preferenceList(state, first, nVal, (node) => this.isUp(node));
    const fallbacks = new Map<number, string>();
    for (const e of entries) if (!e.primary) fallbacks.set(e.partition, e.node);
    return fallbacks.size === 0 ? { partitions: entries.map((e) => e.partition) } : { partitions: entries.map((e) => e.partition), placement: { fallbacks } };
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

  /** Starts as a member of a cluster whose state was built beforehand (every node gets the same). */
  bootstrap(state: ClusterState): void {
    this.adopt(state, false);
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
    this.watchMembers();
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
    if (this.options.reaping !== undefined) {
      this.reaper = this.newReaper(this.options.reaping);
      this.reaper.start();
    }
    if (this.options.liveness !== undefined) {
      this.scheduleHeartbeat(this.options.liveness.heartbeatIntervalMs);
      this.scheduleHintScan(this.options.liveness.hintScanIntervalMs);
    }
  }

  /** A heartbeat to every member, each interval; and the suspicions since the last one, counted. */
  private scheduleHeartbeat(intervalMs: number): void {
    this.process.schedule(intervalMs * 1000, `heartbeat ${this.name}`, () => {
      for (const to of this.others()) this.send(to, { type: 'Heartbeat' });
      for (const to of this.others()) {
        const up = this.isUp(to);
        if (!up && this.lastUp.get(to) !== false) this.counts.suspicions++;
        this.lastUp.set(to, up);
      }
      this.scheduleHeartbeat(intervalMs);
    });
  }

  private scheduleHintScan(intervalMs: number): void {
    this.process.schedule(intervalMs * 1000, `hint-scan ${this.name}`, () => {
      if (this.options.plantedBug === 'drop-hints') {
        for (const p of this.handoff.undelivered()) {
          this.storage.dropPartition(p);
          this.vnodes.delete(p);
        }
      }
      this.handoff.scanForStrays((node) => this.isUp(node));
      this.scheduleHintScan(intervalMs);
    });
  }

  /** Gossip to one random member, and look after the transfers, about once per interval. */
  private scheduleTick(): void {
    const intervalUs = this.options.gossipIntervalMs * 1000;
    const delayUs = this.world.random.int(Math.round(intervalUs * 0.9), Math.round(intervalUs * 1.1));
    this.process.schedule(delayUs, `tick ${this.name}`, () => {
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
      // As the production worker: no clean-shutdown marker, so every vnode renews its identity (once).
      const renew = this.uncleanRestart && !this.renewed.has(partition) && this.options.plantedBug !== 'keep-actor-ids';
      this.renewed.add(partition);
      const { actorId } = ensureActorId(partition, this.storage, fresh, renew);
      vnode = new VnodeActor(partition, actorId, this.storage, () => this.process.nowMs());
      this.vnodes.set(partition, vnode);
    }
    return vnode;
  }

  /** The coordinator's router: every request goes to the partition's owner (this node included), or to the fallback named. */
  private route(request: VnodeRequest, node: string | undefined): void {
    // A node not yet in a cluster knows no owner: it sends the request to itself, which refuses it.
    const to = node ?? this.current?.ring[request.partition]?.owner ?? this.name;
    if (to !== this.name && this.options.liveness !== undefined) {
      let pending = this.pendingTo.get(to);
      if (pending === undefined) this.pendingTo.set(to, (pending = new Map()));
      pending.set(`${request.requestId}:${request.partition}`, { requestId: request.requestId, partition: request.partition });
    }
    this.send(to, { type: 'VnodeRequestMsg', request });
  }

  private onVnodeReply(from: string, reply: VnodeReply): void {
    if (isFinalReply(reply)) {
      const pending = this.pendingTo.get(from);
      if (pending !== undefined && pending.delete(`${reply.requestId}:${reply.partition}`) && pending.size === 0) this.pendingTo.delete(from);
    }
    this.deliverReply(reply);
  }

  /** A reply to the coordinators, or (negative ids) to the reaper's request that asked for it. */
  private deliverReply(reply: VnodeReply): void {
    if (reply.requestId >= 0) {
      this.coordinators.onReply(reply);
      return;
    }
    const onReply = this.internal.get(reply.requestId);
    if (onReply === undefined || !isFinalReply(reply)) return;
    this.internal.delete(reply.requestId);
    onReply(reply);
  }

  /** A request of ours was refused by a dead host; failed once, unless the reset failed it already. */
  private onUnreachable(from: string, reply: VnodeReply): void {
    const pending = this.pendingTo.get(from);
    if (pending === undefined || !pending.has(`${reply.requestId}:${reply.partition}`)) return;
    this.counts.connectionFailures++;
    this.onVnodeReply(from, reply);
  }

  /** The connection to `peer` was reset (its process died): what was sent to it will not be answered. */
  private onConnectionReset(peer: string): void {
    this.connections.delete(peer);
    this.unlinked.add(peer);
    this.handoff.peerReset(peer);
    const pending = this.pendingTo.get(peer);
    if (pending === undefined) return;
    this.pendingTo.delete(peer);
    for (const { requestId, partition } of pending.values()) {
      this.counts.connectionFailures++;
      // 'timeout', as router.onPeerDown says it: the request may have been applied before the
      // connection dropped, so a put must not be handed to another replica.
      this.deliverReply({ type: 'VnodeFailed', requestId, partition, error: { code: 'timeout', message: `the connection to ${peer} dropped before it answered; the request may or may not have been applied` } });
    }
  }

  private onVnodeRequest(from: string, request: VnodeRequest): void {
    const { partition } = request;
    // A fallback stores what it is sent for a partition it does not own, as hints for the owner.
    const asFallback = request.type !== 'VnodeList' && request.type !== 'VnodeReap' && request.fallback === true;
    if (asFallback && !this.serves(partition)) this.counts.servedAsFallback++;
    if (!asFallback && !this.serves(partition)) {
      this.counts.refused++;
      const owner = this.current?.ring[partition]?.owner ?? 'unknown';
      const message = `node ${this.name} does not hold partition ${partition} (its owner is ${owner}); the ring is changing`;
      this.send(from, { type: 'VnodeReplyMsg', reply: { type: 'VnodeFailed', requestId: request.requestId, partition, error: { code: 'worker_unavailable', message } } });
      return;
    }
    const writesBefore = this.storage.counts.puts;
    const outcome = this.vnode(partition).handle(request);
    for (const reply of outcome.early) this.send(from, { type: 'VnodeReplyMsg', reply });
    if (this.options.plantedBug === 'reply-before-fsync') this.send(from, { type: 'VnodeReplyMsg', reply: outcome.reply });
    else this.storage.whenDurable(outcome.durableLsn, () => this.send(from, { type: 'VnodeReplyMsg', reply: outcome.reply }));
    // A write that changed the partition goes on to its new owner while it is being handed off.
    if (request.type !== 'VnodeGet' && request.type !== 'VnodeList' && this.storage.counts.puts !== writesBefore) this.handoff.noteWrite(partition, request.storageKey);
  }

  // ---- Messages

  send(to: string, message: NodeMessage): void {
    this.network.send(this.name, to, message);
  }

  private receive(from: string, message: NodeMessage): void {
    // Any message is a sign of life; heartbeats are also the samples of the interval.
    if (this.detectors !== undefined && from !== this.name && message.type !== 'ConnectionReset' && message.type !== 'Unreachable') {
      if (message.type === 'Heartbeat') this.detectors.heartbeat(from, this.process.monotonicMs());
      else this.detectors.signOfLife(from, this.process.monotonicMs());
    }
    switch (message.type) {
      case 'VnodeRequestMsg':
        return this.onVnodeRequest(from, message.request);
      case 'VnodeReplyMsg':
        return this.onVnodeReply(from, message.reply);
      case 'Unreachable':
        return this.onUnreachable(from, message.reply);
      case 'ConnectionReset':
        return this.onConnectionReset(from);
      case 'Heartbeat':
        return;
      case 'ForeignQuery':
        return this.send(from, { type: 'ForeignAnswer', callId: message.callId, partitions: this.foreignPartitions() });
      case 'ForeignAnswer': {
        const call = this.foreignCalls.get(message.callId);
        this.foreignCalls.delete(message.callId);
        return call?.(message.partitions);
      }
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

  // ---- Tombstone reaping, with the production actor

  private newReaper(options: ReapingOptions): Reaper {
    return new Reaper({
      self: this.name,
      partitionCount: this.options.partitions,
      ring: () => this.current?.ring ?? [],
      isUp: (node) => this.isUp(node),
      nValOf: () => this.options.bucketProps.nVal,
      host: { reapScan: (partition, partitionCount, _after, _max, nowMs, delayMs) => Promise.resolve(this.reapScan(partition, partitionCount, nowMs, delayMs)) },
      foreignPartitions: () => (options.ignoreForeignCopies === true ? Promise.resolve(new Set<number>()) : this.askForeignPartitions()),
      vnodeRequest: (node, request, onReply) => {
        const requestId = this.nextInternalId--;
        this.internal.set(requestId, onReply);
        this.route({ ...request, requestId } as VnodeRequest, node);
      },
      clock: this.process,
      nowMs: () => this.process.nowMs(),
      monotonicMs: () => this.process.monotonicMs(),
      intervalMs: options.intervalMs,
      delayMs: options.delayMs,
      batchKeys: 1000,
      inFlightMax: 8,
      trackedMax: 100_000,
      requestTimeoutMs: this.options.requestTimeoutMs,
      log: { info: () => {}, warn: () => {}, debug: () => {} },
    });
  }

  /** What a worker's reapScan answers, over the simulated storage, in one batch. */
  private reapScan(partition: number, partitionCount: number, nowMs: number, delayMs: number): ReapScan {
    const candidates: { key: Uint8Array; value: Uint8Array }[] = [];
    let young = 0;
    this.storage.forEach(partition, (key, value) => {
      const judged = judgeStored(key, value, partition, partitionCount, nowMs, delayMs);
      if (judged === 'young') young++;
      else if (judged === 'candidate') candidates.push({ key, value });
    });
    return { candidates, young, done: true, resumeAfterHex: undefined };
  }

  /** Partitions this node holds objects of without owning or receiving them (hints, strays, handed-off copies). */
  foreignPartitions(): number[] {
    const ring = this.current?.ring;
    if (ring === undefined) return this.storage.objectPartitions();
    return this.storage.objectPartitions().filter((p) => ring[p]?.owner !== this.name && ring[p]?.next !== this.name);
  }

  /** Asks every other member; a member believed down, or not answering in time, makes it unknown. */
  private askForeignPartitions(): Promise<ReadonlySet<number> | string> {
    const others = (this.current?.members ?? []).filter((m) => m.name !== this.name && m.status !== 'left').map((m) => m.name);
    const down = others.find((node) => !this.isUp(node));
    if (down !== undefined) return Promise.resolve(`${down} is down`);
    return new Promise((resolve) => {
      const union = new Set(this.foreignPartitions());
      let waiting = others.length;
      let done = false;
      if (waiting === 0) return resolve(union);
      const generation = this.process.generation;
      const callIds: number[] = [];
      this.process.schedule(this.options.requestTimeoutMs * 1000, `foreign-query timeout ${this.name}`, () => {
        if (done || generation !== this.process.generation) return;
        done = true;
        for (const id of callIds) this.foreignCalls.delete(id);
        resolve('a member did not answer in time');
      });
      for (const node of others) {
        const callId = this.nextCallId++;
        callIds.push(callId);
        this.foreignCalls.set(callId, (partitions) => {
          if (done) return;
          for (const p of partitions) union.add(p);
          if (--waiting === 0) {
            done = true;
            resolve(union);
          }
        });
        this.send(node, { type: 'ForeignQuery', callId });
      }
    });
  }

  // ---- Key-value operations, as the runtime's key-value service places and resolves them

  /**
   * A client's call reaching the node: handled at once while it runs; held while it is paused (the
   * request waits in the socket); never answered if it is down or crashes first (the client's own
   * deadline then decides).
   */
  private call<T>(run: () => Promise<T>): Promise<T> {
    if (this.process.state === 'running') return run();
    return new Promise((resolve) => this.process.enter(this.process.generation, () => void run().then(resolve)));
  }

  get(key: ObjectKey, options: ReadOptions = {}): Promise<Result<GetReply>> {
    return this.call(() => {
      const placed = this.place(key);
      const quorum = resolveRead(this.options.bucketProps, options, this.limits);
      if (!quorum.ok) return Promise.resolve(quorum);
      const replicas = this.replicas(placed.partition, quorum.value.n, quorum.value.sloppyQuorum);
      return this.coordinators.get(replicas.partitions, placed.storageKey, quorum.value, replicas.placement);
    });
  }

  /** A put; `overwrite` as in core/kv.ts's PutRequest (superseding what the coordinating replica holds). */
  put(key: ObjectKey, content: NewContent, context: Uint8Array | undefined, returnBody: boolean, options: WriteOptions & { readonly overwrite?: boolean } = {}): Promise<Result<PutReply>> {
    return this.call(() => this.write(key, content, context, false, returnBody, options));
  }

  /** A delete with the context the caller read: a tombstone that supersedes what that read saw. */
  delete(key: ObjectKey, context: Uint8Array | undefined, options: WriteOptions = {}): Promise<Result<PutReply>> {
    return this.call(() => this.write(key, { value: emptyValue, contentType: 'application/octet-stream', userMeta: [] }, context, true, false, options));
  }

  /** A counter or set update (core/datatype.ts): applied by the coordinating replica to its merged state. */
  updateDatatype(key: ObjectKey, op: DatatypeOp, options: WriteOptions = {}): Promise<Result<PutReply>> {
    return this.call(() => this.write(key, { value: emptyValue, contentType: 'application/octet-stream', userMeta: [] }, undefined, false, true, options, op));
  }

  private write(key: ObjectKey, content: NewContent, context: Uint8Array | undefined, deleted: boolean, returnBody: boolean, options: WriteOptions & { readonly overwrite?: boolean }, op?: DatatypeOp): Promise<Result<PutReply>> {
    const placed = this.place(key);
    const quorum = resolveWrite(this.options.bucketProps, options, this.limits);
    if (!quorum.ok) return Promise.resolve(quorum);
    const q = quorum.value;
    const replicas = this.replicas(placed.partition, q.n, q.sloppyQuorum);
    return this.coordinators.put(
      replicas.partitions,
      {
        storageKey: placed.storageKey,
        context: context === undefined || context.length === 0 ? [] : decodeContext(context),
        content,
        deleted,
        nowMs: this.process.nowMs(),
        ifNoneMatch: false,
        ifNotModified: false,
        maxSiblings: q.maxSiblings,
        maxObjectBytes: q.maxObjectBytes,
        lastWriteWins: q.lastWriteWins || options.overwrite === true,
        allowMult: q.allowMult,
        ...(op === undefined ? {} : { op }),
      },
      q,
      returnBody,
      replicas.placement,
    );
  }

  private place(key: ObjectKey): { storageKey: Uint8Array; partition: number } {
    const storageKey = encodeStorageKey(key);
    return { storageKey, partition: partitionOf(storageKey, this.options.partitions) };
  }
}

