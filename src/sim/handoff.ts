// Ownership handoff between simulated nodes, as the production design does it. For each pending
// transfer this node is the old owner of, it streams the partition's objects to the new owner in
// bounded batches, one batch in flight at a time; the receiver merges each object into its vnode
// (VnodeReplicate) and acknowledges once the batch is durable. From the moment a transfer starts,
// every write this node applies to the partition is forwarded to the new owner as well, so writes
// that land behind the stream's cursor are not missed. When the last batch and every forward are
// acknowledged, the old owner records the transfer complete in the cluster state and gossips it;
// it keeps serving (and forwarding) for a grace period, for coordinators that have not heard yet,
// then drops its copy.
//
// A transfer whose target changed (a newer plan) is abandoned and the new one started; a
// transfer that makes no progress for `stallTimeoutMs` starts over from the first batch (merging
// is idempotent, and restarting re-reads what forwards may have lost). At most `concurrency`
// transfers leave one node at a time.
//
// Hints and stray copies: a node that holds objects of a partition it neither owns nor receives —
// hints a fallback kept for a down owner, or a copy an abandoned transfer left — hands them to the
// owner once it is believed up, the same way (batches, forwarding, a grace period), then drops
// its copy; production does exactly that (src/runtime/cluster/handoff.ts, scanForStrayCopies).
// Such a transfer changes no ownership, so it records nothing in the cluster state.

import { type ClusterState, completeTransfer, pendingTransfers, sameState } from '../core/cluster.js';
import { assert } from '../core/errors.js';
import type { VnodeActor } from '../../actors/vnode.js';
import type { SimEvent } from './event-queue.js';
import type { HandoffItem, NodeMessage } from './messages.js';
import type { SimTime } from './process.js';
import type { SimStorage } from './storage.js';

export interface HandoffOptions {
  /** Objects per batch. */
  readonly batchItems: number;
  /** Transfers leaving one node at once. */
  readonly concurrency: number;
  /** How long the old owner keeps serving a partition after its transfer completed. */
  readonly graceMs: number;
  /** A transfer with no acknowledgement for this long starts over. */
  readonly stallTimeoutMs: number;
  /** Pause between an acknowledgement and the next batch: the bandwidth a transfer may take. */
  readonly batchPauseMs: number;
}

/** What the handoff needs of the node it runs on. */
export interface HandoffHost {
  readonly name: string;
  /** The node's time: its events pass through its process (paused, crashed). */
  readonly time: SimTime;
  readonly storage: SimStorage;
  state(): ClusterState | undefined;
  send(to: string, message: NodeMessage): void;
  vnode(partition: number): VnodeActor;
  dropVnode(partition: number): void;
  /** Adopts a state changed here and spreads it. */
  updateLocal(next: ClusterState): void;
  /** Whether this node has (or can open) a connection to `node`; a forward to one it has not fails at once. */
  reachable(node: string): boolean;
}

interface Outbound {
  readonly id: string;
  readonly partition: number;
  readonly to: string;
  /** True when this node owns the partition and ownership flips at the end; false for hints or a stray copy. */
  readonly flip: boolean;
  readonly keys: readonly Uint8Array[];
  nextIndex: number;
  nextSeq: number;
  /** The batch waiting for its acknowledgement. */
  awaitingSeq: number | undefined;
  lastSent: boolean;
  allAcked: boolean;
  lastProgressUs: number;
}

export interface HandoffCounts {
  started: number;
  completed: number;
  superseded: number;
  aborted: number;
  restarted: number;
  batches: number;
  items: number;
  forwards: number;
  dropped: number;
  /** Transfers of hints or stray copies to their owner started, and completed. */
  hintTransfers: number;
  hintsDelivered: number;
  /** Scans that found hints whose owner is believed down (kept for later). */
  hintsWaiting: number;
}

export function emptyHandoffCounts(): HandoffCounts {
  return { started: 0, completed: 0, superseded: 0, aborted: 0, restarted: 0, batches: 0, items: 0, forwards: 0, dropped: 0, hintTransfers: 0, hintsDelivered: 0, hintsWaiting: 0 };
}

export class Handoff {
  private readonly outbound = new Map<number, Outbound>();
  /** Partition → node that writes applied here are forwarded to (during a transfer and its grace). */
  private readonly forwarding = new Map<number, string>();
  /** Forwards not yet acknowledged, per partition. */
  private readonly outstanding = new Map<number, Map<number, number>>();
  /** Partitions with a forward that failed (its receiver's connection was reset, or was down): sent again before the drop. */
  private readonly forwardFailed = new Set<number>();
  /** Partitions handed off and still held, with the event that ends their grace. */
  private readonly grace = new Map<number, SimEvent>();
  /** Partitions whose hints or stray copy wait for a transfer slot, with their owner. */
  private readonly strays = new Map<number, string>();
  private nextForwardId = 1;
  private nextTransfer = 1;
  readonly counts: HandoffCounts = emptyHandoffCounts();

  constructor(
    private readonly host: HandoffHost,
    private readonly options: HandoffOptions,
  ) {
    assert(options.batchItems >= 1 && options.concurrency >= 1 && options.graceMs >= 0 && options.stallTimeoutMs > 0 && options.batchPauseMs >= 0, 'handoff limits are positive');
  }

  /** Still serving a partition it does not own: handing it off, or in the grace period after. */
  holding(partition: number): boolean {
    return this.grace.has(partition) || this.outbound.has(partition);
  }

  /** Transfers under way or waiting, or handed-off partitions still held. */
  get busy(): boolean {
    return this.outbound.size > 0 || this.grace.size > 0 || this.strays.size > 0;
  }

  /**
   * Partitions holding objects the owner may not have: hints or stray copies not yet handed off,
   * and partitions in their grace period with a forward unanswered or failed.
   */
  undelivered(): number[] {
    const state = this.host.state();
    if (state === undefined) return [];
    return this.host.storage.objectPartitions().filter((p) => {
      const entry = state.ring[p]!;
      if (entry.owner === this.host.name || entry.next === this.host.name) return false;
      return !this.grace.has(p) || this.forwardFailed.has(p) || (this.outstanding.get(p)?.size ?? 0) > 0;
    });
  }

  /** The connection to `peer` was reset: forwards it had not answered are lost. */
  peerReset(peer: string): void {
    for (const [partition, to] of this.forwarding) {
      if (to === peer && (this.outstanding.get(partition)?.size ?? 0) > 0) this.forwardFailed.add(partition);
    }
  }

  get activeTransfers(): number {
    return this.outbound.size;
  }

  /** Abandons transfers the cluster no longer wants and starts the ones it does, up to the limit. */
  review(): void {
    const state = this.host.state();
    if (state === undefined) return;
    for (const t of [...this.outbound.values()]) {
      const entry = state.ring[t.partition]!;
      const wanted = t.flip ? entry.owner === this.host.name && entry.next === t.to : this.wantedStray(state, t.partition, t.to);
      if (!wanted) this.abandon(t, 'aborted');
    }
    for (const { partition, from, to } of pendingTransfers(state)) {
      if (this.outbound.size >= this.options.concurrency) break;
      if (from !== this.host.name || this.outbound.has(partition)) continue;
      this.start(partition, to, true);
    }
    for (const [partition, owner] of [...this.strays]) {
      if (this.outbound.size >= this.options.concurrency) break;
      this.strays.delete(partition);
      if (this.outbound.has(partition) || this.grace.has(partition) || !this.wantedStray(state, partition, owner)) continue;
      this.counts.hintTransfers++;
      this.start(partition, owner, false);
    }
  }

  /** A copy here of `partition` should go to `owner`: it owns it, and this node neither owns nor receives it. */
  private wantedStray(state: ClusterState, partition: number, owner: string): boolean {
    const entry = state.ring[partition]!;
    return entry.owner === owner && owner !== this.host.name && entry.next !== this.host.name;
  }

  /**
   * Looks for objects of partitions this node neither owns nor receives (hints, stray copies) and
   * queues them for their owner, if it is believed up; otherwise they wait for a later scan.
   */
  scanForStrays(isUp: (node: string) => boolean): void {
    const state = this.host.state();
    if (state === undefined) return;
    for (const partition of this.host.storage.objectPartitions()) {
      const entry = state.ring[partition]!;
      if (entry.owner === this.host.name || entry.next === this.host.name) continue;
      if (this.outbound.has(partition) || this.grace.has(partition) || this.strays.has(partition)) continue;
      if (!isUp(entry.owner)) {
        this.counts.hintsWaiting++;
        continue;
      }
      this.strays.set(partition, entry.owner);
    }
    this.review();
  }

  /** Restarts transfers that stopped making progress (a lost batch or forward). */
  checkStalls(): void {
    const nowUs = this.host.time.nowUs;
    for (const t of [...this.outbound.values()]) {
      if (nowUs - t.lastProgressUs < this.options.stallTimeoutMs * 1000) continue;
      this.abandon(t, 'restarted');
      this.start(t.partition, t.to, t.flip);
    }
  }

  private start(partition: number, to: string, flip: boolean): void {
    const graceEnd = this.grace.get(partition);
    if (graceEnd !== undefined) {
      // The partition came back to this node before its grace ran out: it keeps its copy.
      graceEnd.cancelled = true;
      this.grace.delete(partition);
    }
    const keys: Uint8Array[] = [];
    this.host.storage.forEach(partition, (key) => {
      if (key.length > 0 && key[0] !== 0) keys.push(key); // byte 0 starts the vnode's own metadata
    });
    const t: Outbound = {
      id: `${this.host.name}:${this.nextTransfer++}`,
      partition,
      to,
      flip,
      keys,
      nextIndex: 0,
      nextSeq: 0,
      awaitingSeq: undefined,
      lastSent: false,
      allAcked: false,
      lastProgressUs: this.host.time.nowUs,
    };
    this.outbound.set(partition, t);
    this.forwarding.set(partition, to);
    this.outstanding.set(partition, new Map());
    this.forwardFailed.delete(partition);
    this.counts.started++;
    this.sendNextBatch(t);
  }

  private sendNextBatch(t: Outbound): void {
    const items: HandoffItem[] = [];
    const end = Math.min(t.keys.length, t.nextIndex + this.options.batchItems);
    for (let i = t.nextIndex; i < end; i++) {
      const key = t.keys[i]!;
      const value = this.host.storage.get(t.partition, key);
      if (value !== undefined) items.push({ key, value });
    }
    t.nextIndex = end;
    t.lastSent = end >= t.keys.length;
    t.awaitingSeq = t.nextSeq++;
    this.counts.batches++;
    this.counts.items += items.length;
    this.host.send(t.to, { type: 'HandoffBatch', transferId: t.id, partition: t.partition, seq: t.awaitingSeq, items, last: t.lastSent });
  }

  private abandon(t: Outbound, why: 'aborted' | 'restarted' | 'superseded'): void {
    this.outbound.delete(t.partition);
    if (this.forwarding.get(t.partition) === t.to) this.forwarding.delete(t.partition);
    this.outstanding.delete(t.partition);
    this.counts[why]++;
  }

  onAck(message: Extract<NodeMessage, { type: 'HandoffAck' }>): void {
    const t = this.outbound.get(message.partition);
    if (t === undefined || t.id !== message.transferId || t.awaitingSeq !== message.seq) return;
    t.awaitingSeq = undefined;
    t.lastProgressUs = this.host.time.nowUs;
    if (t.lastSent) {
      t.allAcked = true;
      this.maybeComplete(t);
      return;
    }
    this.host.time.schedule(this.options.batchPauseMs * 1000, `handoff ${t.id} resumes`, () => {
      if (this.outbound.get(t.partition) === t) this.sendNextBatch(t);
    });
  }

  onForwardAck(message: Extract<NodeMessage, { type: 'HandoffForwardAck' }>): void {
    const pending = this.outstanding.get(message.partition);
    if (pending === undefined || !pending.delete(message.forwardId)) return;
    const t = this.outbound.get(message.partition);
    if (t !== undefined) {
      t.lastProgressUs = this.host.time.nowUs;
      this.maybeComplete(t);
    }
  }

  private maybeComplete(t: Outbound): void {
    if (!t.allAcked || (this.outstanding.get(t.partition)?.size ?? 0) > 0) return;
    if (this.forwardFailed.has(t.partition)) {
      // A write forwarded during the transfer did not reach the target: production fails the
      // transfer and runs it again; so here.
      this.abandon(t, 'restarted');
      this.start(t.partition, t.to, t.flip);
      return;
    }
    if (!t.flip) {
      // Hints or a stray copy, now held by the owner too: kept through the grace period, then dropped.
      this.outbound.delete(t.partition);
      this.counts.hintsDelivered++;
      this.grace.set(t.partition, this.host.time.schedule(this.options.graceMs * 1000, `grace-end ${this.host.name} p${t.partition}`, () => this.endGrace(t.partition)));
      this.review();
      return;
    }
    const state = this.host.state()!;
    const next = completeTransfer(state, t.partition, this.host.name, t.to, this.host.name);
    if (sameState(next, state)) {
      this.abandon(t, 'superseded');
      this.review();
      return;
    }
    this.outbound.delete(t.partition);
    this.counts.completed++;
    // Forwarding continues through the grace period, for writes from coordinators not yet told.
    this.grace.set(t.partition, this.host.time.schedule(this.options.graceMs * 1000, `grace-end ${this.host.name} p${t.partition}`, () => this.endGrace(t.partition)));
    this.host.updateLocal(next);
    this.review();
  }

  private endGrace(partition: number): void {
    const pending = this.outstanding.get(partition);
    const waiting = pending !== undefined && pending.size > 0;
    const stalled = waiting && this.host.time.nowUs - Math.min(...pending.values()) >= this.options.stallTimeoutMs * 1000;
    if (this.forwardFailed.has(partition) || stalled) {
      const to = this.forwarding.get(partition);
      const state = this.host.state();
      if (to !== undefined && state !== undefined && this.wantedStray(state, partition, to)) {
        // A forward failed (its receiver crashed, or was unreachable) or went unanswered: as
        // production does when a forward failed, the partition is sent again in full (merging is
        // idempotent) before the copy is dropped.
        this.grace.delete(partition);
        this.forwarding.delete(partition);
        this.outstanding.delete(partition);
        this.forwardFailed.delete(partition);
        this.counts.restarted++;
        this.start(partition, to, false);
        return;
      }
    }
    if (waiting) {
      // A forward is still on its way; the copy goes once it is acknowledged.
      this.grace.set(partition, this.host.time.schedule(100_000, `grace-end ${this.host.name} p${partition}`, () => this.endGrace(partition)));
      return;
    }
    this.grace.delete(partition);
    if (this.outbound.has(partition)) return;
    this.forwarding.delete(partition);
    this.outstanding.delete(partition);
    this.forwardFailed.delete(partition);
    const entry = this.host.state()?.ring[partition];
    if (entry !== undefined && (entry.owner === this.host.name || entry.next === this.host.name)) return; // it came back
    this.host.storage.dropPartition(partition);
    this.host.dropVnode(partition);
    this.counts.dropped++;
  }

  /** A write was applied here to `partition`: forward the object if the partition is being handed off. */
  noteWrite(partition: number, key: Uint8Array): void {
    const to = this.forwarding.get(partition);
    if (to === undefined) return;
    const value = this.host.storage.get(partition, key);
    if (value === undefined) return;
    const forwardId = this.nextForwardId++;
    this.outstanding.get(partition)?.set(forwardId, this.host.time.nowUs);
    this.counts.forwards++;
    this.host.send(to, { type: 'HandoffForward', forwardId, partition, item: { key, value } });
  }

  // ---- Receiving side

  onBatch(from: string, message: Extract<NodeMessage, { type: 'HandoffBatch' }>): void {
    const lsn = this.merge(message.partition, message.items);
    this.host.storage.whenDurable(lsn, () => this.host.send(from, { type: 'HandoffAck', transferId: message.transferId, partition: message.partition, seq: message.seq }));
  }

  onForward(from: string, message: Extract<NodeMessage, { type: 'HandoffForward' }>): void {
    const lsn = this.merge(message.partition, [message.item]);
    this.host.storage.whenDurable(lsn, () => this.host.send(from, { type: 'HandoffForwardAck', forwardId: message.forwardId, partition: message.partition }));
  }

  /** Merges objects into the local vnode; returns the LSN that must be durable before acknowledging. */
  private merge(partition: number, items: readonly HandoffItem[]): number {
    const vnode = this.host.vnode(partition);
    let lsn = 0;
    for (const item of items) {
      const writesBefore = this.host.storage.counts.puts;
      const outcome = vnode.handle({ type: 'VnodeReplicate', requestId: 0, partition, storageKey: item.key, object: item.value });
      assert(outcome.reply.type === 'VnodeReplicateReply', 'a replica merge is never refused');
      lsn = Math.max(lsn, outcome.durableLsn);
      // This node may itself be handing the partition on: what changed here goes on too. Only
      // what changed: two nodes forwarding one partition to each other (it moved back while the
      // first still held it) would otherwise pass the same object back and forth for ever.
      if (this.host.storage.counts.puts !== writesBefore) this.noteWrite(partition, item.key);
    }
    return lsn;
  }
}
