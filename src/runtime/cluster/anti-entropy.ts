// Active anti-entropy on the main thread: which vnodes keep trees (the partitions this node owns or
// is receiving), when their trees are rebuilt (at most `rebuildConcurrency` at once), and the
// schedule of exchanges. Every `intervalMs` each tree of each owned partition is compared with
// the next replica of its preference list (`exchangesOfVnode`), on this node or another, through
// the core's AaeExchange; the keys found differing are repaired like read repair: both replicas
// are read and the merge goes back to each side that lacks part of it. It also answers peers'
// exchange requests for this node's vnodes. The trees themselves live in the workers
// (vnode-trees.ts); this class holds none, and it never writes except through VnodeReplicate.

import type { Logger } from 'pino';
import type { Clock, TimerHandle } from '../../../actors/ports.js';
import {
  AaeExchange,
  type DifferingKey,
  type ExchangeAnswer,
  type ExchangeEffect,
  type ExchangeFailureReason,
  type ExchangeOutcome,
  type ExchangeRequest,
  type TreeId,
  defaultExchangeLimits,
  exchangesOfVnode,
} from '../../core/aae-exchange.js';
import { DecodeError, decodeObject, encodeObject } from '../../core/codec.js';
import { assert } from '../../core/errors.js';
import { type TreeShape, defaultTreeShape } from '../../core/merkle.js';
import type { VnodeReply } from '../../core/messages.js';
import { mergeObjects, sameVersion } from '../../core/object.js';
import type { NodeConfig } from '../config.js';
import type { PeerMessage } from '../peer/messages.js';
import type { TreesConfig, TreesState, VnodeTreesStats } from '../vnode-host/protocol.js';
import { treesConfigDigest } from '../vnode-host/vnode-trees.js';
import type { UnnumberedRequest } from './router.js';

/** The vnode hosts' side of anti-entropy (the Supervisor). Calls reject when a worker is not running. */
export interface TreeHost {
  readonly workerCount: number;
  partitionsOf(worker: number): readonly number[];
  workerIsReady(worker: number): boolean;
  aaeTrack(worker: number, config: TreesConfig, partitions: readonly number[]): Promise<void>;
  /** Resolves when the rebuild is done; may never settle if the worker dies meanwhile. */
  aaeRebuild(partition: number): Promise<void>;
  aaeAnswer(partition: number, tree: TreeId, request: ExchangeRequest): Promise<ExchangeAnswer>;
  aaeStats(worker: number): Promise<{ configDigest: string; partitions: VnodeTreesStats[] }>;
}

export interface AntiEntropyOptions {
  readonly self: string;
  readonly partitionCount: number;
  /** Bucket type → n_val, as the node knows them now (a change re-tracks and rebuilds every tree). */
  readonly typeNVals: () => Readonly<Record<string, number>>;
  readonly shape?: TreeShape;
  /** Each partition's owner and, while it moves, its next owner. */
  readonly ring: () => readonly { readonly owner: string; readonly next?: string | undefined }[];
  readonly isUp: (node: string) => boolean;
  readonly host: TreeHost;
  readonly send: (to: string, message: PeerMessage) => 'queued' | 'overload' | 'unreachable';
  /** A vnode request to `node`'s vnode (this node's included); final replies go to `onReply`. */
  readonly vnodeRequest: (node: string, request: UnnumberedRequest, onReply: (reply: VnodeReply) => void) => void;
  readonly intervalMs: number;
  readonly concurrency: number;
  readonly timeoutMs: number;
  readonly maxKeysPerExchange: number;
  readonly repairsInFlightMax: number;
  readonly rebuildConcurrency: number;
  readonly rebuildChunkKeys: number;
  readonly random: () => number;
  readonly clock: Clock;
  readonly log: Logger;
}

/** How often the trees' state is read from the workers (and tracking corrected). */
const treesRefreshMs = 1000;
/** A control call to a worker that takes longer than this is treated as failed. */
const controlTimeoutMs = 5000;
/** Exchange requests from peers answered at once; beyond it they are refused as unavailable. */
const servingMax = 256;

/** One exchange this node starts: its vnode `partition` with `peerPartition`, over `tree`. */
interface Slot {
  readonly key: string;
  readonly partition: number;
  readonly peerPartition: number;
  readonly tree: TreeId;
  dueAtMs: number;
  running: boolean;
  exchanges: number;
  lastCompletedAtMs: number | null;
  lastResult: string | null;
}

interface Run {
  readonly id: number;
  readonly slot: Slot;
  readonly peer: string;
  readonly exchange: AaeExchange;
  readonly startedAtMs: number;
  readonly remoteRequestIds: number[];
  timer: TimerHandle | undefined;
  finished: boolean;
  repairsLeft: number;
  repairsFailed: number;
  truncated: boolean;
}

interface RepairSide {
  readonly node: string;
  readonly partition: number;
}

function failedAnswer(request: ExchangeRequest, reason: ExchangeFailureReason, message: string): ExchangeAnswer {
  return { type: 'ExchangeSideFailed', exchangeId: request.exchangeId, round: request.round, side: request.side, reason, message };
}

function withTimeout<T>(promise: Promise<T>, ms: number, clock: Clock, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = clock.setTimer(ms, () => reject(new Error(`${what}: no answer within ${ms} ms`)));
    promise.then(
      (value) => {
        clock.clearTimer(timer);
        resolve(value);
      },
      (error: unknown) => {
        clock.clearTimer(timer);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}

function answerBytes(answer: ExchangeAnswer): number {
  if (answer.type === 'TreeHashesAnswer') return answer.hashes.byteLength;
  if (answer.type === 'SegmentKeysAnswer') return answer.segments.reduce((sum, keys) => sum + keys.reduce((s, k) => s + k.key.length + 8, 0), 0);
  return 0;
}

export class AntiEntropy {
  private readonly shape: TreeShape;
  private readonly slots = new Map<string, Slot>();
  /** The ring and n_vals the slots were derived from. */
  private slotsFrom: { ring: unknown; nVals: string } = { ring: undefined, nVals: '' };
  private readonly running = new Map<number, Run>();
  private readonly remote = new Map<number, { run: Run; node: string }>();
  private readonly repairQueue: { run: Run; key: DifferingKey }[] = [];
  private repairsInFlight = 0;
  private nextExchangeId = 1;
  private nextRequestId = 1;
  private serving = 0;
  private tickTimer: TimerHandle | undefined;
  private stopped = false;
  private refreshing = false;
  private lastRefreshMs = -Infinity;
  /** The workers' trees as last read, by partition. */
  private trees = new Map<number, VnodeTreesStats>();
  private treesAsOfMs: number | null = null;
  private allReadyLogged = false;
  /** Partitions whose rebuild this node started and has not seen finish. */
  private readonly rebuilding = new Set<number>();
  /** Exchanges completed per second over the last minute: [second, count] by second mod 60. */
  private readonly completionsBySecond: [number, number][] = Array.from({ length: 60 }, () => [-1, 0]);
  readonly counts = {
    exchangesStarted: 0,
    exchangesCompleted: 0,
    exchangesFailed: {} as Record<string, number>,
    exchangesTruncated: 0,
    exchangesSkippedPeerDown: 0,
    exchangesSkippedNotReady: 0,
    exchangeMsTotal: 0,
    exchangeMsMax: 0,
    requests: 0,
    nodesCompared: 0,
    segmentsFetched: 0,
    keysCompared: 0,
    answerBytes: 0,
    keysDiffering: 0,
    keysRepaired: 0,
    keysAlreadyInSync: 0,
    repairFailures: 0,
    rebuildsStarted: 0,
    peerRequestsServed: 0,
    peerRequestsRefused: 0,
    lastExchangeAtMs: null as number | null,
  };

  constructor(private readonly options: AntiEntropyOptions) {
    this.shape = options.shape ?? defaultTreeShape;
    assert(options.intervalMs >= 1 && options.concurrency >= 1 && options.timeoutMs >= 1, 'anti-entropy interval, concurrency and timeout are positive');
    assert(options.maxKeysPerExchange >= 1 && options.repairsInFlightMax >= 1, 'anti-entropy key and repair limits are positive');
    assert(options.rebuildConcurrency >= 1 && options.rebuildChunkKeys >= 1, 'anti-entropy rebuild limits are positive');
  }

  /** Between exchanges skipped or failed and their retry: the interval, at most 5 s. */
  private get retryMs(): number {
    return Math.min(this.options.intervalMs, 5000);
  }

  private get tickMs(): number {
    return Math.max(20, Math.min(1000, Math.floor(this.options.intervalMs / 4)));
  }

  start(): void {
    this.tick();
  }

  stop(): void {
    this.stopped = true;
    if (this.tickTimer !== undefined) this.options.clock.clearTimer(this.tickTimer);
    for (const run of this.running.values()) if (run.timer !== undefined) this.options.clock.clearTimer(run.timer);
    this.running.clear();
    this.remote.clear();
    this.repairQueue.length = 0;
  }

  /** One scheduling step: refresh the slots and (every second) the trees, start what is due. */
  tick(): void {
    if (this.stopped) return;
    const now = this.options.clock.nowMs();
    this.refreshSlots(now);
    if (!this.refreshing && now - this.lastRefreshMs >= treesRefreshMs) {
      this.lastRefreshMs = now;
      void this.refreshTrees();
    }
    this.startDue(now);
    this.tickTimer = this.options.clock.setTimer(this.tickMs, () => this.tick());
  }

  // ---- Which trees the workers keep

  private treesConfig(): TreesConfig {
    return { partitionCount: this.options.partitionCount, typeNVals: this.options.typeNVals(), shape: this.shape, rebuildChunkKeys: this.options.rebuildChunkKeys };
  }

  /** Partitions whose trees this node keeps: owned, or being received. */
  private wanted(partition: number): boolean {
    const entry = this.options.ring()[partition];
    return entry !== undefined && (entry.owner === this.options.self || entry.next === this.options.self);
  }

  /** Reads every worker's trees, corrects what they track, and starts the rebuilds there is room for. */
  async refreshTrees(): Promise<void> {
    this.refreshing = true;
    try {
      const config = this.treesConfig();
      const digest = treesConfigDigest(config);
      const trees = new Map<number, VnodeTreesStats>();
      for (let worker = 0; worker < this.options.host.workerCount; worker++) {
        if (!this.options.host.workerIsReady(worker)) continue;
        try {
          for (const vnode of await this.workerTrees(worker, config, digest)) trees.set(vnode.partition, vnode);
        } catch (error) {
          this.options.log.debug({ worker, err: (error as Error).message }, 'anti-entropy: cannot read the trees of a worker; trying again later');
        }
      }
      if (this.stopped) return;
      this.trees = trees;
      this.treesAsOfMs = this.options.clock.nowMs();
      const summary = this.treesSummary();
      const allReady = summary.partitions > 0 && summary.ready === summary.partitions;
      if (allReady && !this.allReadyLogged) this.options.log.info({ partitions: summary.partitions, keys: summary.keys }, 'anti-entropy trees ready on every vnode of this node');
      this.allReadyLogged = allReady;
      this.startRebuilds();
    } finally {
      this.refreshing = false;
    }
  }

  private async workerTrees(worker: number, config: TreesConfig, digest: string): Promise<VnodeTreesStats[]> {
    const { host, clock } = this.options;
    const wanted = host.partitionsOf(worker).filter((p) => this.wanted(p));
    let stats = await withTimeout(host.aaeStats(worker), controlTimeoutMs, clock, 'aaeStats');
    const tracked = stats.partitions.map((v) => v.partition);
    if (stats.configDigest !== digest || tracked.length !== wanted.length || tracked.some((p) => !wanted.includes(p))) {
      await withTimeout(host.aaeTrack(worker, config, wanted), controlTimeoutMs, clock, 'aaeTrack');
      stats = await withTimeout(host.aaeStats(worker), controlTimeoutMs, clock, 'aaeStats');
    }
    return stats.partitions;
  }

  /**
   * Starts rebuilds of pending trees while fewer than rebuildConcurrency run. A rebuild whose
   * worker died never reports back; the next refresh, which finds the partition no longer
   * rebuilding, frees its place.
   */
  private startRebuilds(): void {
    for (const partition of this.rebuilding) if (this.trees.get(partition)?.state !== 'rebuilding') this.rebuilding.delete(partition);
    for (const vnode of this.trees.values()) {
      if (this.rebuilding.size >= this.options.rebuildConcurrency || this.stopped) return;
      if (vnode.state !== 'pending') continue;
      const partition = vnode.partition;
      this.rebuilding.add(partition);
      this.counts.rebuildsStarted++;
      this.trees.set(partition, { ...vnode, state: 'rebuilding' });
      const finished = (): void => {
        if (!this.rebuilding.delete(partition)) return;
        const now = this.trees.get(partition);
        // Ready as far as this node knows; the next refresh brings the details.
        if (now?.state === 'rebuilding') this.trees.set(partition, { ...now, state: 'ready' });
        this.startRebuilds();
      };
      this.options.host.aaeRebuild(partition).then(finished, (error: Error) => {
        this.options.log.debug({ partition, err: error.message }, 'anti-entropy: a rebuild failed');
        this.rebuilding.delete(partition);
      });
    }
  }

  private treeState(partition: number): TreesState | undefined {
    return this.trees.get(partition)?.state;
  }

  // ---- The schedule

  private refreshSlots(now: number): void {
    const ring = this.options.ring();
    const nVals = [...new Set(Object.values(this.options.typeNVals()))].sort((x, y) => x - y);
    if (ring === this.slotsFrom.ring && nVals.join() === this.slotsFrom.nVals) return;
    this.slotsFrom = { ring, nVals: nVals.join() };
    const present = new Set<string>();
    ring.forEach((entry, partition) => {
      if (entry.owner !== this.options.self) return;
      for (const { tree, peer } of exchangesOfVnode(partition, this.options.partitionCount, nVals)) {
        const key = `${partition}:${tree.primaryPartition}/${tree.nVal}`;
        present.add(key);
        if (this.slots.has(key)) continue;
        // Spread first exchanges over one interval, so a start does not run them all at once.
        const dueAtMs = now + Math.floor(this.options.random() * this.options.intervalMs);
        this.slots.set(key, { key, partition, peerPartition: peer, tree, dueAtMs, running: false, exchanges: 0, lastCompletedAtMs: null, lastResult: null });
      }
    });
    for (const key of this.slots.keys()) if (!present.has(key)) this.slots.delete(key);
  }

  private startDue(now: number): void {
    if (this.running.size >= this.options.concurrency) return;
    const due = [...this.slots.values()].filter((s) => !s.running && s.dueAtMs <= now).sort((a, b) => a.dueAtMs - b.dueAtMs);
    const ring = this.options.ring();
    for (const slot of due) {
      if (this.running.size >= this.options.concurrency) return;
      const peer = ring[slot.peerPartition]!.owner;
      if (peer !== this.options.self && !this.options.isUp(peer)) {
        this.counts.exchangesSkippedPeerDown++;
        slot.dueAtMs = now + this.retryMs;
        slot.lastResult = `skipped: ${peer} is down`;
      } else if (this.treeState(slot.partition) !== 'ready' || (peer === this.options.self && this.treeState(slot.peerPartition) !== 'ready')) {
        this.counts.exchangesSkippedNotReady++;
        slot.dueAtMs = now + this.retryMs;
      } else {
        this.startExchange(slot, peer, now);
      }
    }
  }

  private startExchange(slot: Slot, peer: string, now: number): void {
    const limits = { ...defaultExchangeLimits, maxKeysPerExchange: this.options.maxKeysPerExchange };
    const startOffset = Math.floor(this.options.random() * 0x7fff_ffff);
    const id = this.nextExchangeId++;
    const run: Run = {
      id,
      slot,
      peer,
      exchange: new AaeExchange(id, this.shape, limits, startOffset),
      startedAtMs: now,
      remoteRequestIds: [],
      timer: undefined,
      finished: false,
      repairsLeft: 0,
      repairsFailed: 0,
      truncated: false,
    };
    slot.running = true;
    this.running.set(id, run);
    this.counts.exchangesStarted++;
    run.timer = this.options.clock.setTimer(this.options.timeoutMs, () => {
      run.timer = undefined;
      this.apply(run, run.exchange.onTimeout());
    });
    this.apply(run, run.exchange.start());
  }

  private apply(run: Run, effects: readonly ExchangeEffect[]): void {
    for (const effect of effects) {
      if (effect.type === 'send') this.sendSide(run, effect.request);
      else this.onOutcome(run, effect.outcome);
    }
  }

  /** Side a is this node's vnode; side b the peer replica, here or on its owner. */
  private sendSide(run: Run, request: ExchangeRequest): void {
    const { slot } = run;
    const [node, partition] = request.side === 'a' ? [this.options.self, slot.partition] : [run.peer, slot.peerPartition];
    if (node === this.options.self) {
      this.options.host.aaeAnswer(partition, slot.tree, request).then(
        (answer) => this.onAnswer(run, answer),
        (error: Error) => this.onAnswer(run, failedAnswer(request, 'unavailable', `vnode ${partition}: ${error.message}`)),
      );
      return;
    }
    const requestId = this.nextRequestId++;
    const sent = this.options.send(node, { kind: 'aaeRequest', requestId, partition, tree: slot.tree, request });
    if (sent !== 'queued') {
      queueMicrotask(() => this.onAnswer(run, failedAnswer(request, 'unavailable', `node ${node} is ${sent}`)));
      return;
    }
    this.remote.set(requestId, { run, node });
    run.remoteRequestIds.push(requestId);
  }

  private onAnswer(run: Run, answer: ExchangeAnswer): void {
    if (run.finished || this.stopped) return;
    this.counts.answerBytes += answerBytes(answer);
    this.apply(run, run.exchange.onAnswer(answer));
  }

  private onOutcome(run: Run, outcome: ExchangeOutcome): void {
    run.finished = true;
    if (run.timer !== undefined) this.options.clock.clearTimer(run.timer);
    for (const id of run.remoteRequestIds) this.remote.delete(id);
    const c = outcome.counts;
    this.counts.requests += c.requests;
    this.counts.nodesCompared += c.nodesCompared;
    this.counts.segmentsFetched += c.segmentsFetched;
    this.counts.keysCompared += c.keysCompared;
    if (outcome.type === 'ExchangeFailed') {
      this.counts.exchangesFailed[outcome.reason] = (this.counts.exchangesFailed[outcome.reason] ?? 0) + 1;
      run.slot.lastResult = `failed: ${outcome.reason} (side ${outcome.side}: ${outcome.message})`;
      this.options.log.debug({ partition: run.slot.partition, peer: run.peer, peerPartition: run.slot.peerPartition, reason: outcome.reason, message: outcome.message }, 'anti-entropy exchange failed');
      this.release(run, this.options.clock.nowMs() + this.retryMs);
      return;
    }
    run.truncated = c.truncated;
    if (c.truncated) this.counts.exchangesTruncated++;
    this.counts.keysDiffering += outcome.differingKeys.length;
    run.repairsLeft = outcome.differingKeys.length;
    if (run.repairsLeft === 0) {
      this.completed(run);
      return;
    }
    for (const key of outcome.differingKeys) this.repairQueue.push({ run, key });
    this.pumpRepairs();
  }

  /** An exchange and its repairs are done; the next one of its slot is due after an interval. */
  private completed(run: Run): void {
    const now = this.options.clock.nowMs();
    const ms = now - run.startedAtMs;
    this.counts.exchangesCompleted++;
    this.counts.exchangeMsTotal += ms;
    this.counts.exchangeMsMax = Math.max(this.counts.exchangeMsMax, ms);
    this.counts.lastExchangeAtMs = now;
    const second = Math.floor(now / 1000);
    const bucket = this.completionsBySecond[second % 60]!;
    if (bucket[0] !== second) [bucket[0], bucket[1]] = [second, 0];
    bucket[1]++;
    const { slot } = run;
    slot.exchanges++;
    slot.lastCompletedAtMs = now;
    const failed = run.repairsFailed > 0 ? `; ${run.repairsFailed} repairs failed` : '';
    slot.lastResult = `${run.truncated ? 'truncated' : 'completed'}${failed}`;
    // A truncated exchange left differences for the next one: it follows at once. Failed repairs
    // are found again by the next exchange, a retry period from now.
    const jitter = 0.9 + 0.2 * this.options.random();
    const next = run.truncated ? now : run.repairsFailed > 0 ? now + this.retryMs : now + Math.round(this.options.intervalMs * jitter);
    this.release(run, next);
  }

  private release(run: Run, dueAtMs: number): void {
    this.running.delete(run.id);
    run.slot.running = false;
    run.slot.dueAtMs = dueAtMs;
    if (!this.stopped) this.startDue(this.options.clock.nowMs());
  }

  // ---- Repairs: read both replicas, write the merge back where it adds something

  private pumpRepairs(): void {
    while (this.repairsInFlight < this.options.repairsInFlightMax && this.repairQueue.length > 0 && !this.stopped) {
      const { run, key } = this.repairQueue.shift()!;
      this.repairsInFlight++;
      const sides: [RepairSide, RepairSide] = [
        { node: this.options.self, partition: run.slot.partition },
        { node: run.peer, partition: run.slot.peerPartition },
      ];
      this.repairKey(sides, key.key, (ok) => {
        this.repairsInFlight--;
        if (!ok) run.repairsFailed++;
        if (--run.repairsLeft === 0 && !this.stopped) this.completed(run);
        this.pumpRepairs();
      });
    }
  }

  private repairKey(sides: [RepairSide, RepairSide], storageKey: Uint8Array, done: (ok: boolean) => void): void {
    const objects: (Uint8Array | undefined)[] = [undefined, undefined];
    let answered = 0;
    let failure: string | undefined;
    sides.forEach((side, i) => {
      this.options.vnodeRequest(side.node, { type: 'VnodeGet', partition: side.partition, storageKey }, (reply) => {
        if (reply.type === 'VnodeGetReply') objects[i] = reply.object;
        else failure ??= reply.type === 'VnodeFailed' ? `${reply.error.code}: ${reply.error.message}` : `unexpected ${reply.type}`;
        if (++answered < 2) return;
        if (failure !== undefined) {
          this.counts.repairFailures++;
          this.options.log.debug({ partition: sides[0].partition, reason: failure }, 'anti-entropy: reading a replica to repair failed');
          done(false);
          return;
        }
        this.writeBack(sides, storageKey, objects[0], objects[1], done);
      });
    });
  }

  /** Sends the merge of the two objects to each side whose version it would change. */
  private writeBack(sides: [RepairSide, RepairSide], storageKey: Uint8Array, a: Uint8Array | undefined, b: Uint8Array | undefined, done: (ok: boolean) => void): void {
    let merged: Uint8Array;
    let targets: RepairSide[];
    try {
      if (a === undefined && b === undefined) targets = [];
      else if (a === undefined) [merged, targets] = [b!, [sides[0]]];
      else if (b === undefined) [merged, targets] = [a, [sides[1]]];
      else {
        // Expired objects merge and spread like any others; reaping removes them once every
        // replica holds them (src/core/reaping.ts), so the trees agree and stay quiet.
        const [mine, theirs] = [decodeObject(a), decodeObject(b)];
        const both = mergeObjects(mine, theirs);
        const [needA, needB] = [!sameVersion(both, mine), !sameVersion(both, theirs)];
        merged = !needA ? a : !needB ? b : encodeObject(both);
        targets = sides.filter((_, i) => (i === 0 ? needA : needB));
      }
    } catch (error) {
      if (!(error instanceof DecodeError)) throw error;
      this.counts.repairFailures++;
      this.options.log.warn({ partition: sides[0].partition, err: error.message }, 'anti-entropy: a replica holds an undecodable object; not repaired');
      done(false);
      return;
    }
    if (targets.length === 0) {
      // A write or a read repair got there first.
      this.counts.keysAlreadyInSync++;
      done(true);
      return;
    }
    let waiting = targets.length;
    let ok = true;
    for (const side of targets) {
      this.options.vnodeRequest(side.node, { type: 'VnodeReplicate', partition: side.partition, storageKey, object: merged! }, (reply) => {
        if (reply.type !== 'VnodeReplicateReply') ok = false;
        if (--waiting > 0) return;
        if (ok) this.counts.keysRepaired++;
        else this.counts.repairFailures++;
        done(ok);
      });
    }
  }

  // ---- Peers

  onPeerMessage(from: string, message: Extract<PeerMessage, { kind: 'aaeRequest' | 'aaeAnswer' }>): void {
    if (message.kind === 'aaeAnswer') {
      const pending = this.remote.get(message.requestId);
      if (pending === undefined || pending.node !== from) return;
      this.remote.delete(message.requestId);
      this.onAnswer(pending.run, message.answer);
      return;
    }
    this.serve(from, message);
  }

  /** Answers a peer's request from this node's vnode, which must be the partition's owner. */
  private serve(from: string, message: Extract<PeerMessage, { kind: 'aaeRequest' }>): void {
    const { requestId, partition, tree, request } = message;
    const reply = (answer: ExchangeAnswer): void => void this.options.send(from, { kind: 'aaeAnswer', requestId, answer });
    const owner = this.options.ring()[partition]?.owner;
    if (owner !== this.options.self || this.serving >= servingMax || this.stopped) {
      this.counts.peerRequestsRefused++;
      const why = owner !== this.options.self ? `${this.options.self} does not own partition ${partition} (its owner is ${owner ?? 'nobody'})` : `${this.options.self} is busy`;
      reply(failedAnswer(request, 'unavailable', why));
      return;
    }
    this.serving++;
    this.counts.peerRequestsServed++;
    withTimeout(this.options.host.aaeAnswer(partition, tree, request), controlTimeoutMs, this.options.clock, 'aaeAnswer')
      .then(reply, (error: Error) => reply(failedAnswer(request, 'unavailable', `vnode ${partition} on ${this.options.self}: ${error.message}`)))
      .finally(() => this.serving--);
  }

  /** What a node with anti-entropy off answers to a peer's request. */
  static refuse(self: string, message: Extract<PeerMessage, { kind: 'aaeRequest' }>): PeerMessage {
    return { kind: 'aaeAnswer', requestId: message.requestId, answer: failedAnswer(message.request, 'unavailable', `anti-entropy is off on ${self}`) };
  }

  // ---- Stats

  private exchangesLastMinute(now: number): number {
    const second = Math.floor(now / 1000);
    return this.completionsBySecond.reduce((sum, [at, count]) => (at > second - 60 ? sum + count : sum), 0);
  }

  /** Per node: what was compared and repaired; per partition: its trees and their exchanges. */
  stats(): unknown {
    const now = this.options.clock.nowMs();
    const c = this.counts;
    const completed = Math.max(1, c.exchangesCompleted);
    const partitions = [...this.trees.values()].map((vnode) => ({
      partition: vnode.partition,
      state: vnode.state,
      keys: vnode.keys,
      rebuilds: vnode.rebuilds,
      rebuiltAtMs: vnode.rebuiltAtMs,
      rebuildMs: vnode.rebuildMs,
      keysOutsideTrees: vnode.keysOutsideTrees,
      trees: vnode.trees.map((t) => {
        const slot = this.slots.get(`${vnode.partition}:${t.primaryPartition}/${t.nVal}`);
        return {
          ...t,
          exchangesWith: slot?.peerPartition ?? null,
          exchanges: slot?.exchanges ?? 0,
          lastExchangeAtMs: slot?.lastCompletedAtMs ?? null,
          lastResult: slot?.lastResult ?? null,
        };
      }),
    }));
    return {
      enabled: true,
      intervalMs: this.options.intervalMs,
      concurrency: this.options.concurrency,
      trees: { ...this.treesSummary(), asOfMs: this.treesAsOfMs },
      exchanges: {
        started: c.exchangesStarted,
        completed: c.exchangesCompleted,
        failed: c.exchangesFailed,
        truncated: c.exchangesTruncated,
        inFlight: this.running.size,
        lastMinute: this.exchangesLastMinute(now),
        lastAtMs: c.lastExchangeAtMs,
        skippedPeerDown: c.exchangesSkippedPeerDown,
        skippedNotReady: c.exchangesSkippedNotReady,
        msAvg: Math.round(c.exchangeMsTotal / completed),
        msMax: c.exchangeMsMax,
        requestsAvg: Math.round((10 * c.requests) / completed) / 10,
        nodesCompared: c.nodesCompared,
        segmentsFetched: c.segmentsFetched,
        keysCompared: c.keysCompared,
        answerBytes: c.answerBytes,
      },
      keys: { differing: c.keysDiffering, repaired: c.keysRepaired, alreadyInSync: c.keysAlreadyInSync, repairFailures: c.repairFailures, repairsInFlight: this.repairsInFlight, repairsQueued: this.repairQueue.length },
      schedule: this.scheduleSummary(now),
      rebuildsStarted: c.rebuildsStarted,
      peerRequests: { served: c.peerRequestsServed, refused: c.peerRequestsRefused },
      partitions,
    };
  }

  private treesSummary(): { partitions: number; ready: number; rebuilding: number; pending: number; keys: number } {
    const out = { partitions: 0, ready: 0, rebuilding: 0, pending: 0, keys: 0 };
    for (const vnode of this.trees.values()) {
      out.partitions++;
      out[vnode.state]++;
      out.keys += vnode.keys;
    }
    return out;
  }

  /** `oldestExchangeAgeMs`: every tree of this node completed an exchange within this long (null: one never has). */
  private scheduleSummary(now: number): { exchangesPerInterval: number; neverExchanged: number; oldestExchangeAgeMs: number | null } {
    let never = 0;
    let oldest = 0;
    for (const slot of this.slots.values()) {
      if (slot.lastCompletedAtMs === null) never++;
      else oldest = Math.max(oldest, now - slot.lastCompletedAtMs);
    }
    return { exchangesPerInterval: this.slots.size, neverExchanged: never, oldestExchangeAgeMs: never > 0 ? null : oldest };
  }

  /** The short form for `cluster status`. */
  status(): unknown {
    const now = this.options.clock.nowMs();
    const trees = this.treesSummary();
    const schedule = this.scheduleSummary(now);
    const failed = Object.values(this.counts.exchangesFailed).reduce((sum, n) => sum + n, 0);
    return {
      enabled: true,
      treesReady: trees.ready,
      treesRebuilding: trees.rebuilding + trees.pending,
      keys: trees.keys,
      exchangesCompleted: this.counts.exchangesCompleted,
      exchangesFailed: failed,
      exchangesLastMinute: this.exchangesLastMinute(now),
      keysRepaired: this.counts.keysRepaired,
      lastExchangeAtMs: this.counts.lastExchangeAtMs,
      oldestExchangeAgeMs: schedule.oldestExchangeAgeMs,
      partitions: this.partitionProgress(now),
    };
  }

  /**
   * Per partition this node keeps trees for: the trees' state, keys, and how its exchanges went —
   * the age of its least recently exchanged tree (null: one never has) and the last result.
   */
  private partitionProgress(now: number): { partition: number; state: string; keys: number; exchanges: number; oldestExchangeAgeMs: number | null; lastResult: string | null }[] {
    return [...this.trees.values()]
      .sort((a, b) => a.partition - b.partition)
      .map((vnode) => {
        const slots = vnode.trees.map((t) => this.slots.get(`${vnode.partition}:${t.primaryPartition}/${t.nVal}`));
        const ages = slots.map((slot) => (slot?.lastCompletedAtMs == null ? null : now - slot.lastCompletedAtMs));
        const latest = slots.reduce<Slot | undefined>((best, slot) => (slot?.lastCompletedAtMs != null && (best === undefined || slot.lastCompletedAtMs > best.lastCompletedAtMs!) ? slot : best), undefined);
        return {
          partition: vnode.partition,
          state: vnode.state,
          keys: vnode.keys,
          exchanges: slots.reduce((sum, slot) => sum + (slot?.exchanges ?? 0), 0),
          oldestExchangeAgeMs: ages.length === 0 || ages.includes(null) ? null : Math.max(...(ages as number[])),
          lastResult: latest?.lastResult ?? null,
        };
      });
  }
}

/** Real time; its timers do not keep the process alive. */
export const unrefClock: Clock = {
  nowMs: () => Date.now(),
  setTimer: (delayMs, fire) => ({ id: setTimeout(fire, delayMs).unref() }),
  clearTimer: (handle) => clearTimeout(handle.id as NodeJS.Timeout),
};

/** The node's AntiEntropy as its configuration asks for it, or undefined when it is off. */
export function antiEntropyFromConfig(
  config: NodeConfig,
  parts: Pick<AntiEntropyOptions, 'host' | 'ring' | 'typeNVals' | 'isUp' | 'send' | 'vnodeRequest' | 'log'>,
): AntiEntropy | undefined {
  if (!config.aaeEnabled) return undefined;
  return new AntiEntropy({
    ...parts,
    self: config.nodeName,
    partitionCount: config.partitions,
    intervalMs: config.aaeExchangeIntervalMs,
    concurrency: config.aaeExchangeConcurrency,
    timeoutMs: config.aaeExchangeTimeoutMs,
    maxKeysPerExchange: config.aaeMaxKeysPerExchange,
    repairsInFlightMax: config.aaeRepairsInFlightMax,
    rebuildConcurrency: config.aaeRebuildConcurrency,
    rebuildChunkKeys: config.aaeRebuildChunkKeys,
    random: Math.random,
    clock: unrefClock,
  });
}
