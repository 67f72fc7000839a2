// This node's view of the cluster and the operations that change it. The state itself and its
// merge are in the core (src/core/cluster.ts); this class keeps the node's copy, saves it, spreads
// it by gossip (a random member every gossipIntervalMs, plus a push to every member after a change
// made here, and a reply to a peer whose copy lacks what this one has), and answers the admin
// requests: join, leave, plan, commit. Commits go to the claimant so only one node decides plans.

import type { Logger } from 'pino';
import {
  type ClusterState,
  type NewMember,
  type Plan,
  activeMembers,
  claimantOf,
  clearStaged,
  commitPlan,
  compatible,
  covers,
  decodeClusterState,
  encodeClusterState,
  memberOf,
  mergeClusterStates,
  planChanges,
  sameState,
  stageJoin,
  stageLeave,
} from '../../core/cluster.js';
import { type Result, fail, ok } from '../../core/errors.js';
import type { PeerMessage } from '../peer/messages.js';
import type { ClusterStateFile } from './state-file.js';

export interface MembershipTransport {
  send(to: string, message: PeerMessage): 'queued' | 'overload' | 'unreachable';
  setPeerAddress(name: string, address: string): void;
  /** Keeps a connection to the peer open from now on (reconnecting after failures). */
  connect(name: string): void;
  removePeer(name: string): void;
  /** Connects to an address whose node name is not known yet; resolves with that name. */
  dial(address: string): Promise<string>;
}

export interface MembershipOptions {
  readonly self: NewMember;
  readonly initial: ClusterState;
  /** The n_val claim plans for (the largest n_val of the bucket types). */
  readonly nVal: number;
  readonly gossipIntervalMs: number;
  readonly controlTimeoutMs: number;
  readonly file: ClusterStateFile;
  readonly transport: MembershipTransport;
  readonly log: Logger;
  readonly random: () => number;
  /** Whether this node holds no objects (only an empty node may join another cluster). */
  readonly holdsNoData: () => Promise<boolean>;
}

type ControlRequest =
  | { readonly op: 'join'; readonly member: NewMember; readonly partitions: number }
  /** `state`: the requester's copy, merged first, so what it staged is committed even before gossip brings it. */
  | { readonly op: 'commit'; readonly state?: string }
  | { readonly op: 'plan' }
  /** Tombstone reaping asks: which partitions do you hold data of without owning them? */
  | { readonly op: 'foreignPartitions' };

type ControlReply =
  | { readonly ok: true; readonly state?: string; readonly plan?: Plan; readonly partitions?: readonly number[] }
  | { readonly ok: false; readonly code: string; readonly message: string };

/** How long links to a member that left stay up (it may still be serving its clients). */
const leftMemberLingerMs = 60_000;

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder();

export class Membership {
  private current: ClusterState;
  private readonly listeners: ((state: ClusterState, previous: ClusterState) => void)[] = [];
  private timer: NodeJS.Timeout | undefined;
  private nextControlId = 1;
  private readonly calls = new Map<number, { resolve: (reply: ControlReply) => void; timer: NodeJS.Timeout }>();
  private incompatibleLogged = new Set<string>();
  readonly counts = { gossipSent: 0, gossipReceived: 0, gossipMerged: 0 };

  constructor(private readonly options: MembershipOptions) {
    this.current = options.initial;
  }

  get state(): ClusterState {
    return this.current;
  }

  get self(): string {
    return this.options.self.name;
  }

  onChange(listener: (state: ClusterState, previous: ClusterState) => void): void {
    this.listeners.push(listener);
  }

  start(): void {
    this.applyAddresses(this.current);
    this.timer = setInterval(() => this.gossipRound(), this.options.gossipIntervalMs);
    this.timer.unref();
    this.pushToAll();
  }

  /** Stops gossip and answers pending calls; resolves once the last save of the state is on disk. */
  stop(): Promise<void> {
    this.stopTimers();
    return this.options.file.flush();
  }

  private stopTimers(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    for (const timer of this.forgetTimers.values()) clearTimeout(timer);
    for (const call of this.calls.values()) {
      clearTimeout(call.timer);
      call.resolve({ ok: false, code: 'shutting_down', message: 'the node is stopping' });
    }
    this.calls.clear();
  }

  /** Merges `next` into this node's copy; saves, notifies and (for local changes) spreads it. */
  update(next: ClusterState, spread: boolean): void {
    const previous = this.current;
    const merged = mergeClusterStates(previous, next);
    if (sameState(merged, previous)) return;
    this.adopt(merged, previous, spread);
  }

  private adopt(state: ClusterState, previous: ClusterState, spread: boolean): void {
    this.current = state;
    this.options.file.save(state).catch((err: Error) => this.options.log.error({ err }, 'saving the cluster state failed'));
    this.applyAddresses(state);
    for (const listener of this.listeners) listener(state, previous);
    if (spread) this.pushToAll();
  }

  private applyAddresses(state: ClusterState): void {
    for (const m of state.members) {
      if (m.name === this.self) continue;
      if (m.status === 'left') this.forgetLater(m.name);
      else {
        // Connected eagerly: a request routed to a member must not find the link still closed.
        this.options.transport.setPeerAddress(m.name, m.peerAddress);
        this.options.transport.connect(m.name);
      }
    }
  }

  /**
   * A member that left may still be running and coordinating requests for its clients until its
   * operator stops it; its links stay up for a while, then it is forgotten.
   */
  private forgetLater(name: string): void {
    if (this.forgetTimers.has(name)) return;
    const timer = setTimeout(() => {
      this.forgetTimers.delete(name);
      // A member marked left while a crossing transfer still gave it partitions keeps its links.
      if (memberOf(this.current, name)?.status === 'left' && !this.current.ring.some((e) => e.owner === name || e.target === name)) {
        this.options.transport.removePeer(name);
      }
    }, leftMemberLingerMs);
    timer.unref();
    this.forgetTimers.set(name, timer);
  }

  private readonly forgetTimers = new Map<string, NodeJS.Timeout>();

  private others(): string[] {
    return activeMembers(this.current)
      .map((m) => m.name)
      .filter((n) => n !== this.self);
  }

  private pushToAll(): void {
    const bytes = encodeClusterState(this.current);
    for (const name of this.others()) this.sendGossip(name, bytes);
  }

  private gossipRound(): void {
    const others = this.others();
    if (others.length === 0) return;
    const to = others[Math.floor(this.options.random() * others.length)]!;
    this.sendGossip(to, encodeClusterState(this.current));
  }

  private sendGossip(to: string, bytes: Uint8Array): void {
    if (this.options.transport.send(to, { kind: 'gossip', state: bytes }) === 'queued') this.counts.gossipSent++;
  }

  onGossip(from: string, bytes: Uint8Array): void {
    this.counts.gossipReceived++;
    let received: ClusterState;
    try {
      received = decodeClusterState(bytes);
    } catch (error) {
      this.options.log.warn({ from, err: error }, 'ignoring undecodable gossip');
      return;
    }
    const fit = compatible(this.current, received);
    if (!fit.ok) {
      if (!this.incompatibleLogged.has(from)) this.options.log.warn({ from, reason: fit.error.message }, 'ignoring gossip from another cluster');
      this.incompatibleLogged.add(from);
      return;
    }
    // A node that has not joined yet knows only itself; its singleton ring is not ours to merge.
    if (memberOf(received, this.self) === undefined) return;
    if (this.joinInProgress) return;
    if (this.isAlone() && activeMembers(received).length > 1) {
      // A cluster counts this node as a member, but this node's copy is still its own singleton
      // (a join whose answer was lost, or a wiped data directory): take the cluster's copy as it
      // is. Merging would let the singleton's ring compete with the cluster's.
      this.options.log.warn({ from, members: activeMembers(received).length }, 'adopting the cluster state of a cluster that counts this node as a member');
      this.adopt(received, this.current, false);
      return;
    }
    const merged = mergeClusterStates(this.current, received);
    if (!sameState(merged, this.current)) {
      this.counts.gossipMerged++;
      this.adopt(merged, this.current, false);
    }
    if (!covers(received, this.current)) this.sendGossip(from, encodeClusterState(this.current));
  }

  private isAlone(): boolean {
    const active = activeMembers(this.current);
    return active.length === 1 && active[0]!.name === this.self;
  }

  private joinInProgress = false;

  // ---- Admin operations

  /** Joins the cluster of the member at `seedAddress` (host:port of its peer listener); stages the join. */
  async join(seedAddress: string): Promise<Result<ClusterState>> {
    const members = activeMembers(this.current);
    if (members.length > 1 || members[0]?.name !== this.self) {
      return fail('invalid_request', `this node is already a member of a cluster of ${members.length} nodes; only a single, empty node can join another cluster (leave first)`);
    }
    if (!(await this.options.holdsNoData())) {
      return fail('invalid_request', 'this node holds data; only an empty node can join a cluster (its data would be shadowed by the cluster\'s owners)');
    }
    if (seedAddress === this.currentSelf().peerAddress) return fail('invalid_request', `${seedAddress} is this node's own peer listener; give the address of a member of the cluster to join`);
    if (this.joinInProgress) return fail('overload', 'a join is already in progress; try again when it has finished');
    this.joinInProgress = true;
    let reply: ControlReply;
    let seed: string;
    try {
      try {
        seed = await this.options.transport.dial(seedAddress);
      } catch (error) {
        return fail('insufficient_vnodes', `cannot reach ${seedAddress}: ${(error as Error).message}`);
      }
      if (seed === this.self) return fail('invalid_request', `${seedAddress} is this node`);
      reply = await this.call(seed, { op: 'join', member: this.currentSelf(), partitions: this.current.partitions });
    } finally {
      this.joinInProgress = false;
    }
    if (!reply.ok) {
      // No answer (a timeout, an unreachable seed) is worth retrying; a refusal is not.
      if (reply.code === 'timeout' || reply.code === 'unreachable' || reply.code === 'shutting_down') return fail('insufficient_vnodes', `${seed} did not answer the join: ${reply.message}`);
      return fail('invalid_request', `${seed} refused the join: ${reply.message}`);
    }
    const state = decodeClusterState(Buffer.from(reply.state!, 'base64'));
    this.options.log.info({ seed, members: state.members.length }, 'joined the cluster (staged; commit a plan to take partitions)');
    // Replaced, not merged: this node's singleton ring is dropped for the cluster's.
    this.adopt(state, this.current, true);
    return ok(state);
  }

  /** This node's own record as it stands (addresses may have been updated since start). */
  private currentSelf(): NewMember {
    const me = memberOf(this.current, this.self);
    return me === undefined ? this.options.self : { name: me.name, peerAddress: me.peerAddress, zone: me.zone, httpAddress: me.httpAddress, pbAddress: me.pbAddress };
  }

  /** Stages the leave of `name` (this node by default). */
  leave(name: string = this.self): Result<ClusterState> {
    const next = stageLeave(this.current, name, this.self);
    if (!next.ok) return next;
    this.update(next.value, true);
    return ok(this.current);
  }

  /** Withdraws every staged change. */
  clear(): ClusterState {
    this.update(clearStaged(this.current, this.self), true);
    return this.current;
  }

  plan(): Plan {
    return planChanges(this.current, this.options.nVal);
  }

  /** Commits the staged changes, at the claimant. */
  async commit(): Promise<Result<Plan>> {
    const claimant = claimantOf(this.current);
    if (claimant === undefined) return fail('invalid_request', 'the cluster has no valid member to commit a plan');
    if (claimant === this.self) return this.commitHere();
    const reply = await this.call(claimant, { op: 'commit', state: Buffer.from(encodeClusterState(this.current)).toString('base64') });
    if (!reply.ok) return fail(reply.code === 'invalid_request' ? 'invalid_request' : 'insufficient_vnodes', `the claimant ${claimant} could not commit: ${reply.message}`);
    if (reply.state !== undefined) this.update(decodeClusterState(Buffer.from(reply.state, 'base64')), false);
    return ok(reply.plan!);
  }

  private commitHere(): Result<Plan> {
    const committed = commitPlan(this.current, this.options.nVal, this.self);
    if (!committed.ok) return committed;
    this.options.log.info({ joining: committed.value.plan.joining, leaving: committed.value.plan.leaving, moves: committed.value.plan.moves.length }, 'committed a cluster plan');
    this.update(committed.value.state, true);
    return ok(committed.value.plan);
  }

  // ---- Control requests between nodes

  /** This node's answer to 'foreignPartitions' (Handoff.foreignPartitions, set once it exists). */
  foreignPartitions: () => readonly number[] | undefined = () => undefined;

  /** The partitions `node` holds data of without owning them, or why that is not known. */
  async foreignPartitionsOf(node: string): Promise<readonly number[] | string> {
    const reply = await this.call(node, { op: 'foreignPartitions' });
    if (!reply.ok) return `${node} did not answer (${reply.code}: ${reply.message})`;
    return reply.partitions ?? `${node} has not yet scanned for copies it holds`;
  }

  private call(to: string, request: ControlRequest): Promise<ControlReply> {
    const requestId = this.nextControlId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.calls.delete(requestId);
        resolve({ ok: false, code: 'timeout', message: `no answer from ${to} within ${this.options.controlTimeoutMs} ms` });
      }, this.options.controlTimeoutMs);
      this.calls.set(requestId, { resolve, timer });
      const sent = this.options.transport.send(to, { kind: 'control', requestId, body: textEncoder.encode(JSON.stringify(request)) });
      if (sent !== 'queued') {
        clearTimeout(timer);
        this.calls.delete(requestId);
        resolve({ ok: false, code: 'unreachable', message: `${to} is ${sent}` });
      }
    });
  }

  onControlReply(requestId: number, body: Uint8Array): void {
    const call = this.calls.get(requestId);
    if (call === undefined) return;
    this.calls.delete(requestId);
    clearTimeout(call.timer);
    try {
      call.resolve(JSON.parse(textDecoder.decode(body)) as ControlReply);
    } catch (error) {
      call.resolve({ ok: false, code: 'invalid_reply', message: (error as Error).message });
    }
  }

  onControl(from: string, requestId: number, body: Uint8Array): void {
    let reply: ControlReply;
    try {
      reply = this.answerControl(from, JSON.parse(textDecoder.decode(body)) as ControlRequest);
    } catch (error) {
      reply = { ok: false, code: 'invalid_request', message: `bad control request: ${(error as Error).message}` };
    }
    this.options.transport.send(from, { kind: 'controlReply', requestId, body: textEncoder.encode(JSON.stringify(reply)) });
  }

  private answerControl(from: string, request: ControlRequest): ControlReply {
    switch (request.op) {
      case 'join': {
        if (request.partitions !== this.current.partitions) {
          return { ok: false, code: 'invalid_request', message: `partition count mismatch: the cluster has ${this.current.partitions} partitions, ${from} has ${request.partitions}; Q is fixed when a cluster is created` };
        }
        if (request.member.name !== from) return { ok: false, code: 'invalid_request', message: `the joiner calls itself ${request.member.name} but authenticated as ${from}` };
        const next = stageJoin(this.current, request.member, this.self);
        if (!next.ok) return { ok: false, code: next.error.code, message: next.error.message };
        this.options.log.info({ joiner: from, address: request.member.peerAddress }, 'a node asked to join; staged');
        this.update(next.value, true);
        return { ok: true, state: Buffer.from(encodeClusterState(this.current)).toString('base64') };
      }
      case 'commit': {
        if (request.state !== undefined) {
          const theirs = decodeClusterState(Buffer.from(request.state, 'base64'));
          if (compatible(this.current, theirs).ok && memberOf(theirs, this.self) !== undefined) this.update(theirs, false);
        }
        if (claimantOf(this.current) !== this.self) return { ok: false, code: 'not_claimant', message: `${this.self} is not the claimant (${claimantOf(this.current) ?? 'none'} is)` };
        const result = this.commitHere();
        if (!result.ok) return { ok: false, code: result.error.code, message: result.error.message };
        return { ok: true, plan: result.value, state: Buffer.from(encodeClusterState(this.current)).toString('base64') };
      }
      case 'plan':
        return { ok: true, plan: this.plan() };
      case 'foreignPartitions': {
        const partitions = this.foreignPartitions();
        return partitions === undefined ? { ok: true } : { ok: true, partitions };
      }
      default:
        return { ok: false, code: 'invalid_request', message: `unknown control operation ${String((request as { op: unknown }).op)}` };
    }
  }
}
