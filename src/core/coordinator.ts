// Get and put coordinators: small state machines, named for what they wait on, around pure
// tallies. They take replies and timeouts as events and return effects as data (vnode requests
// to send, the one client reply); the coordinator actor performs them and owns the timer.
// A put goes first to one replica, which applies the write and advances the causal context; the
// other replicas receive that replica's resulting object and merge it.

import { decodeObject, encodeContext, encodeObject } from './codec.js';
import { type KvError, type Result, fail, ok } from './errors.js';
import type { Content, GetReply, PutReply } from './kv.js';
import type { VnodePut, VnodeReply, VnodeRequest } from './messages.js';
import { type KvObject, liveSiblings, mergeObjects, newestSibling, sameVersion, toContent, withoutExpired } from './object.js';
import type { ResolvedRead, ResolvedWrite } from './bucket.js';
import { writeWarnings } from './vnode.js';

const noFallbacks: ReadonlySet<number> = new Set();

export type CoordinatorEffect<T> =
  | { readonly type: 'send'; readonly request: VnodeRequest }
  | { readonly type: 'reply'; readonly result: Result<T> };

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Failures worth trying another replica for; the others are answers about the write itself. */
function isReplicaUnavailable(error: KvError): boolean {
  return error.code === 'worker_unavailable' || error.code === 'overload' || error.code === 'shutting_down';
}

/**
 * The siblings a client is shown at `nowMs`: all live, unexpired ones, or only the newest of them
 * where the bucket disallows siblings.
 */
export function visibleContents(object: KvObject, allowMult: boolean, nowMs = 0): Content[] {
  const live = liveSiblings(withoutExpired(object, nowMs));
  if (allowMult || live.length <= 1) return live.map(toContent);
  return [toContent(newestSibling(live)!)];
}

export class PutCoordinator {
  private state: 'awaitingCoordinatingReplica' | 'awaitingReplicas' | 'done' = 'awaitingCoordinatingReplica';
  /** Index in the preference list of the replica applying the write. */
  private candidate = 0;
  private acks = 0;
  private failures = 0;
  /** Acknowledgements and failures of primaries (not fallbacks), for pw. */
  private primaryAcks = 0;
  private primaryFailures = 0;
  private readonly primaries: number;
  /** Replicas whose final answer (durable ack or failure) is in. */
  private answered = 0;
  private replied = false;
  private result: KvObject | undefined;
  /** The encoded size of `result`, as the coordinating replica stored it. */
  private resultBytes = 0;
  private readonly needed: number;

  /** Replicas whose durable acknowledgement or failure has been counted. */
  private readonly finalAnswers = new Set<number>();
  /** Partitions the current coordinating replica's host writes itself (see VnodePut.localReplicas). */
  private localReplicas: readonly number[] = [];
  private readonly failed = new Set<number>();

  /** The replicas in the order they are tried as the coordinating replica. */
  private readonly candidates: readonly number[];

  constructor(
    private readonly requestId: number,
    private readonly preferenceList: readonly number[],
    private readonly put: Omit<VnodePut, 'type' | 'requestId' | 'partition' | 'localReplicas'>,
    private readonly quorum: ResolvedWrite,
    private readonly returnBody: boolean,
    /**
     * Which host holds each partition: a worker of this node (>= 0) or another node (< 0).
     * Replicas on the coordinating replica's host are written there.
     */
    private readonly hostOf: (partition: number) => number,
    /** Partitions of the list served by a fallback standing in for a down primary. */
    private readonly fallbacks: ReadonlySet<number> = noFallbacks,
  ) {
    this.needed = Math.max(quorum.w, quorum.dw, 1);
    this.primaries = preferenceList.filter((p) => !fallbacks.has(p)).length;
    this.candidates = isConditional(put) ? preferenceList : localPrimariesFirst(preferenceList, fallbacks, hostOf);
  }

  private countFailure(partition: number): void {
    this.failures++;
    if (!this.fallbacks.has(partition)) this.primaryFailures++;
  }

  /** The quorum can no longer be met by the replicas still to answer. */
  private get unreachable(): boolean {
    return this.preferenceList.length - this.failures < this.needed || this.primaries - this.primaryFailures < this.quorum.pw;
  }

  get finished(): boolean {
    return this.state === 'done';
  }

  start(): CoordinatorEffect<PutReply>[] {
    if (this.primaries < this.quorum.pw) {
      return this.finish([{ type: 'reply', result: fail('insufficient_vnodes', `pw is ${this.quorum.pw} but only ${this.primaries} of ${this.preferenceList.length} replicas are primaries on reachable nodes; nothing was written`) }]);
    }
    return [this.sendPut()];
  }

  private get coordinating(): number {
    return this.candidates[this.candidate]!;
  }

  private sendPut(): CoordinatorEffect<PutReply> {
    const host = this.hostOf(this.coordinating);
    this.localReplicas = this.preferenceList.filter((p) => p !== this.coordinating && !this.failed.has(p) && this.hostOf(p) === host);
    return {
      type: 'send',
      request: { type: 'VnodePut', requestId: this.requestId, partition: this.coordinating, ...this.put, localReplicas: this.localReplicas },
    };
  }

  onReply(reply: VnodeReply): CoordinatorEffect<PutReply>[] {
    if (this.state === 'awaitingCoordinatingReplica') return this.onCoordinatingReply(reply);
    if (this.state === 'awaitingReplicas') return this.onReplicaReply(reply);
    return [];
  }

  private onCoordinatingReply(reply: VnodeReply): CoordinatorEffect<PutReply>[] {
    if (reply.partition !== this.coordinating) return [];
    if (reply.type === 'VnodeFailed') return this.onCoordinatingFailed(reply.error);
    if (reply.type !== 'VnodePutApplied') return [];
    // Replicas tried before this one failed; they have answered.
    this.answered = this.failed.size;
    this.result = decodeObject(reply.object);
    this.resultBytes = reply.object.length;
    this.state = 'awaitingReplicas';
    const effects: CoordinatorEffect<PutReply>[] = [];
    this.preferenceList.forEach((partition) => {
      // Replicas that already failed as coordinating candidates were counted; not asked again.
      if (partition === this.coordinating || this.localReplicas.includes(partition) || this.failed.has(partition)) return;
      effects.push({ type: 'send', request: { type: 'VnodeReplicate', requestId: this.requestId, partition, storageKey: this.put.storageKey, object: reply.object } });
    });
    return effects;
  }

  private onCoordinatingFailed(error: KvError): CoordinatorEffect<PutReply>[] {
    this.countFailure(this.coordinating);
    this.failed.add(this.coordinating);
    const left = this.preferenceList.length - this.failures;
    if (isReplicaUnavailable(error) && !this.conditionStaysPut(error) && this.candidate + 1 < this.preferenceList.length && !this.unreachable) {
      this.candidate++;
      return [this.sendPut()];
    }
    // A full queue is a designed answer (retry later), so it stays `overload` for the client.
    const answer: KvError =
      isReplicaUnavailable(error) && error.code !== 'overload'
        ? { code: 'insufficient_vnodes', message: `only ${left} of ${this.preferenceList.length} replicas reachable (${this.primaries - this.primaryFailures} primaries), ${this.needed} needed${this.quorum.pw > 0 ? `, ${this.quorum.pw} of them primaries` : ''} (${error.message})` }
        : error;
    return this.finish([{ type: 'reply', result: { ok: false, error: answer } }]);
  }

  /**
   * A conditional write is decided by the first replica so that racers through any node meet at
   * the same vnode. A busy first replica is no reason to let another replica, which may not have
   * the winning write yet, decide instead: the racer is told to retry (`overload`).
   */
  private conditionStaysPut(error: KvError): boolean {
    return error.code === 'overload' && isConditional(this.put);
  }

  private onReplicaReply(reply: VnodeReply): CoordinatorEffect<PutReply>[] {
    // A replica that failed as a coordinating candidate has been counted already, and a replica's
    // final answer counts once: a message delivered twice must not count as two replicas.
    if (this.failed.has(reply.partition) || this.finalAnswers.has(reply.partition)) return [];
    const fromCoordinating = reply.partition === this.coordinating;
    if (reply.type === 'VnodeReplicateReply' || (reply.type === 'VnodePutReply' && fromCoordinating)) {
      this.finalAnswers.add(reply.partition);
      this.acks++;
      if (!this.fallbacks.has(reply.partition)) this.primaryAcks++;
    } else if (reply.type === 'VnodeFailed') {
      this.finalAnswers.add(reply.partition);
      this.countFailure(reply.partition);
    } else return [];
    this.answered++;
    return this.tally();
  }

  private tally(): CoordinatorEffect<PutReply>[] {
    const effects: CoordinatorEffect<PutReply>[] = [];
    if (!this.replied && this.acks >= this.needed && this.primaryAcks >= this.quorum.pw) {
      this.replied = true;
      const contents = this.returnBody ? visibleContents(this.result!, this.quorum.allowMult) : undefined;
      const warnings = writeWarnings(this.result!, this.resultBytes, this.quorum);
      effects.push({ type: 'reply', result: ok({ context: encodeContext(this.result!.vv), contents, ...(warnings.length > 0 ? { warnings } : {}) }) });
    } else if (!this.replied && this.unreachable) {
      this.replied = true;
      const primaries = this.quorum.pw > 0 ? ` (${this.primaryAcks} primaries, ${this.quorum.pw} needed)` : '';
      effects.push({ type: 'reply', result: fail('insufficient_vnodes', `the write reached ${this.acks} of ${this.preferenceList.length} replicas${primaries}, ${this.needed} needed; it may still be visible on those it reached`) });
    }
    if (this.answered >= this.preferenceList.length) this.state = 'done';
    return effects;
  }

  onTimeout(): CoordinatorEffect<PutReply>[] {
    if (this.state === 'done') return [];
    const effects: CoordinatorEffect<PutReply>[] = this.replied
      ? []
      : [{ type: 'reply', result: fail('timeout', `timed out with ${this.acks} of ${this.needed} needed acknowledgements from ${this.preferenceList.length} replicas; the write may or may not have been applied`) }];
    return this.finish(effects);
  }

  private finish(effects: CoordinatorEffect<PutReply>[]): CoordinatorEffect<PutReply>[] {
    this.state = 'done';
    this.replied = true;
    return effects;
  }
}

/** A write decided by a condition at the replica applying it (if_none_match, if_not_modified, if_present). */
function isConditional(put: Pick<VnodePut, 'ifNoneMatch' | 'ifNotModified' | 'ifPresent'>): boolean {
  return put.ifNoneMatch || put.ifNotModified || put.ifPresent === true;
}

/**
 * The coordinating replica of an unconditional write: a primary on this node when there is one,
 * which saves the round trip to another node before replication starts (Riak's coordinator does
 * the same). Conditional writes keep the preference-list order, so that racers through any node
 * are decided by the same vnode.
 */
function localPrimariesFirst(preferenceList: readonly number[], fallbacks: ReadonlySet<number>, hostOf: (partition: number) => number): readonly number[] {
  const local = preferenceList.filter((p) => !fallbacks.has(p) && hostOf(p) >= 0);
  if (local.length === 0 || local[0] === preferenceList[0]) return preferenceList;
  return [...local, ...preferenceList.filter((p) => !local.includes(p))];
}

/**
 * A read's asking order: primaries before fallbacks, and among each, replicas on this node before
 * remote ones, otherwise in preference-list order.
 */
function askingOrder(preferenceList: readonly number[], fallbacks: ReadonlySet<number>, isLocal: (partition: number) => boolean): number[] {
  // A stable sort by rank, done as one pass per rank: on every read, and lists are n_val long.
  const ranks = preferenceList.map((p) => (fallbacks.has(p) ? 2 : 0) + (isLocal(p) ? 0 : 1));
  const order: number[] = [];
  for (let rank = 0; rank < 4; rank++) {
    for (let i = 0; i < preferenceList.length; i++) if (ranks[i] === rank) order.push(preferenceList[i]!);
  }
  return order;
}

/**
 * Which replicas a read asks at first. `all`: every replica of the preference list at once (what
 * Riak does). `quorum`: only as many as the read needs (max(r, pr)), primaries first and replicas
 * on this node before remote ones; another replica is asked for each one that fails or answers a
 * notfound that does not count, all the rest when the replicas asked disagree (so read repair sees
 * them all) or when `speculateMs` pass without an answer (a replica that is slow or silently gone).
 * docs/decisions.md has why `quorum` is the default.
 */
export interface ReadFanout {
  readonly first: 'all' | 'quorum';
  /** Whether a partition's vnode is on this node (cheaper to ask than a remote one). */
  readonly isLocal: (partition: number) => boolean;
  readonly speculateMs: number;
}

export const askAll: ReadFanout = { first: 'all', isLocal: () => true, speculateMs: 0 };

export class GetCoordinator {
  private state: 'awaitingReplicas' | 'awaitingReadRepair' | 'done' = 'awaitingReplicas';
  /** Each replica's answer (undefined: notfound); replicas that failed are in failedReplicas. */
  private readonly replies = new Map<number, Uint8Array | undefined>();
  private readonly failedReplicas = new Set<number>();
  private found = 0;
  private notFound = 0;
  private errors = 0;
  private lastError: KvError | undefined;
  /** Replies from primaries (not fallbacks) that count towards r, and primaries that failed to. */
  private primaryOk = 0;
  private primaryFailed = 0;
  private readonly primaries: number;
  /** The preference list in the order replicas are asked, and how many of it were asked so far. */
  private readonly askOrder: readonly number[];
  private askedCount = 0;

  constructor(
    private readonly requestId: number,
    private readonly preferenceList: readonly number[],
    private readonly storageKey: Uint8Array,
    private readonly quorum: ResolvedRead,
    /** Partitions of the list served by a fallback standing in for a down primary. */
    private readonly fallbacks: ReadonlySet<number> = noFallbacks,
    /** The coordinating node's clock at the read, against which expiry is judged (docs/ttl.md). */
    private readonly nowMs = 0,
    private readonly fanout: ReadFanout = askAll,
  ) {
    this.primaries = fallbacks.size === 0 ? preferenceList.length : preferenceList.filter((p) => !fallbacks.has(p)).length;
    this.askOrder = fanout.first === 'all' ? preferenceList : askingOrder(preferenceList, fallbacks, fanout.isLocal);
  }

  get finished(): boolean {
    return this.state === 'done';
  }

  /** Replicas not asked yet: the actor arms a speculation timer (fanout.speculateMs) while any are left. */
  get unasked(): number {
    return this.askOrder.length - this.askedCount;
  }

  start(): CoordinatorEffect<GetReply>[] {
    if (this.primaries < this.quorum.pr) {
      this.state = 'done';
      return [{ type: 'reply', result: fail('insufficient_vnodes', `pr is ${this.quorum.pr} but only ${this.primaries} of ${this.preferenceList.length} replicas are primaries on reachable nodes`) }];
    }
    return this.ask(this.fanout.first === 'all' ? this.askOrder.length : Math.max(this.quorum.r, this.quorum.pr, 1));
  }

  /** Asks the next `count` replicas not asked yet. */
  private ask(count: number): CoordinatorEffect<GetReply>[] {
    const effects: CoordinatorEffect<GetReply>[] = [];
    while (effects.length < count && this.askedCount < this.askOrder.length) {
      const partition = this.askOrder[this.askedCount++]!;
      effects.push({ type: 'send', request: { type: 'VnodeGet', requestId: this.requestId, partition, storageKey: this.storageKey } });
    }
    return effects;
  }

  private asked(partition: number): boolean {
    const at = this.askOrder.indexOf(partition);
    return at >= 0 && at < this.askedCount;
  }

  /** The speculation delay passed: still unanswered, so ask every replica left. */
  onSpeculate(): CoordinatorEffect<GetReply>[] {
    return this.state === 'awaitingReplicas' ? this.ask(this.unasked) : [];
  }

  onReply(reply: VnodeReply): CoordinatorEffect<GetReply>[] {
    if (this.state === 'done' || !this.asked(reply.partition) || this.answeredBy(reply.partition)) return [];
    const primary = !this.fallbacks.has(reply.partition);
    let counts: boolean;
    if (reply.type === 'VnodeGetReply') {
      this.replies.set(reply.partition, reply.object);
      if (reply.object === undefined) this.notFound++;
      else this.found++;
      counts = reply.object !== undefined || this.quorum.notfoundOk;
      if (primary && counts) this.primaryOk++;
      else if (primary) this.primaryFailed++;
    } else if (reply.type === 'VnodeFailed') {
      this.failedReplicas.add(reply.partition);
      this.errors++;
      this.lastError = reply.error;
      if (primary) this.primaryFailed++;
      counts = false;
    } else {
      return [];
    }
    // A reply that does not count towards r is replaced by asking one more replica.
    const more = !counts && this.state === 'awaitingReplicas' ? this.ask(1) : [];
    if (this.state === 'awaitingReplicas') return [...more, ...this.decide(), ...this.maybeRepair()];
    return [...more, ...this.maybeRepair()];
  }

  private answeredBy(partition: number): boolean {
    return this.replies.has(partition) || this.failedReplicas.has(partition);
  }

  private decide(): CoordinatorEffect<GetReply>[] {
    const n = this.preferenceList.length;
    const okCount = this.found + (this.quorum.notfoundOk ? this.notFound : 0);
    const failCount = this.errors + (this.quorum.notfoundOk ? 0 : this.notFound);
    if (okCount >= this.quorum.r && this.primaryOk >= this.quorum.pr) return this.reply(this.answer());
    const quorumOfN = Math.floor(n / 2) + 1;
    if (this.quorum.basicQuorum && !this.quorum.notfoundOk && this.notFound >= quorumOfN) return this.reply(this.answer());
    if (failCount > n - this.quorum.r || this.primaryFailed > this.primaries - this.quorum.pr) {
      if (this.errors === 0) return this.reply(this.answer());
      if (this.lastError?.code === 'overload') return this.reply(fail('overload', `replicas are overloaded: ${this.lastError.message}; retry later`));
      const primaries = this.quorum.pr > 0 ? ` (${this.primaryOk} primaries of ${this.primaries}, ${this.quorum.pr} needed)` : '';
      return this.reply(fail('insufficient_vnodes', `${okCount} of ${n} replicas answered${primaries}, ${this.quorum.r} needed (${this.lastError?.message ?? 'unavailable'})`));
    }
    return [];
  }

  /**
   * The merge of every object received, and its bytes. Replicas usually agree byte for byte, so
   * that case decodes one object and merges nothing.
   */
  private merged(): { object: KvObject; bytes: Uint8Array } | undefined {
    let first: Uint8Array | undefined;
    let allSame = true;
    for (const bytes of this.replies.values()) {
      if (bytes === undefined) continue;
      if (first === undefined) first = bytes;
      else if (allSame && !bytesEqual(first, bytes)) allSame = false;
    }
    if (first === undefined) return undefined;
    if (allSame) return { object: decodeObject(first), bytes: first };
    let merged: KvObject | undefined;
    for (const bytes of this.replies.values()) {
      if (bytes === undefined) continue;
      const object = decodeObject(bytes);
      merged = merged === undefined ? object : mergeObjects(merged, object);
    }
    return { object: merged!, bytes: encodeObject(merged!) };
  }

  private answer(): Result<GetReply> {
    const merged = this.merged()?.object;
    if (merged === undefined) return ok({ found: false, context: undefined });
    const context = encodeContext(merged.vv);
    // An object whose siblings all expired reads as not found, like a tombstone; its context
    // covers the expired dots, so a write with it supersedes them.
    const contents = visibleContents(merged, this.quorum.allowMult, this.nowMs);
    if (contents.length === 0) return ok({ found: false, context });
    return ok({ found: true, contents, context });
  }

  private reply(result: Result<GetReply>): CoordinatorEffect<GetReply>[] {
    this.state = 'awaitingReadRepair';
    // Replicas that disagree mean some replica is behind: ask the ones left too, so that read
    // repair brings every replica up to the merge, as a read asking all of them would.
    const rest = this.unasked > 0 && !this.repliesAgree() ? this.ask(this.unasked) : [];
    return [{ type: 'reply', result }, ...rest];
  }

  /** Every replica that answered holds the same bytes (or every one answered notfound). */
  private repliesAgree(): boolean {
    let first: Uint8Array | undefined | null = null;
    for (const bytes of this.replies.values()) {
      if (first === null) first = bytes;
      else if (first === undefined || bytes === undefined ? first !== bytes : !bytesEqual(first, bytes)) return false;
    }
    return true;
  }

  /** Once every replica asked answered, send the merged object to those that answered with less. */
  private maybeRepair(): CoordinatorEffect<GetReply>[] {
    if (this.state !== 'awaitingReadRepair' || this.found + this.notFound + this.errors < this.askedCount) return [];
    this.state = 'done';
    return this.repairs();
  }

  private repairs(): CoordinatorEffect<GetReply>[] {
    // The usual case: every replica that answered holds the same bytes, and nobody needs repair.
    if (this.repliesAgree()) return [];
    const merged = this.merged();
    if (merged === undefined) return [];
    const effects: CoordinatorEffect<GetReply>[] = [];
    // An expired object is repaired like any other: its expiry spreads with it, and reaping removes
    // it once every replica holds it (src/core/reaping.ts).
    for (const [partition, object] of this.replies) {
      if (object !== undefined && (bytesEqual(object, merged.bytes) || sameVersion(decodeObject(object), merged.object))) continue;
      effects.push({ type: 'send', request: { type: 'VnodeReplicate', requestId: this.requestId, partition, storageKey: this.storageKey, object: merged.bytes } });
    }
    return effects;
  }

  /** At the deadline: answer if not yet answered, and repair the replicas that did answer. */
  onTimeout(): CoordinatorEffect<GetReply>[] {
    if (this.state === 'done') return [];
    const effects: CoordinatorEffect<GetReply>[] = [];
    if (this.state === 'awaitingReplicas') {
      effects.push({ type: 'reply', result: fail('timeout', `timed out with ${this.found + this.notFound} of ${this.quorum.r} needed replies from ${this.askedCount} of ${this.preferenceList.length} replicas asked`) });
    } else {
      effects.push(...this.repairs());
    }
    this.state = 'done';
    return effects;
  }
}

export type ListEffect =
  | { readonly type: 'send'; readonly request: VnodeRequest }
  | { readonly type: 'items'; readonly items: readonly Uint8Array[] }
  | { readonly type: 'reply'; readonly result: Result<void> };

/**
 * A coverage listing: asks every partition for its live keys (or buckets) and passes each item
 * on once, however many replicas hold it. Every partition must answer: a listing with a
 * partition missing would silently leave keys out, so that is an error, not a short answer.
 */
export class ListCoordinator {
  private state: 'awaitingPartitions' | 'done' = 'awaitingPartitions';
  private readonly seen = new Set<string>();
  private readonly pending: Set<number>;

  constructor(
    private readonly requestId: number,
    private readonly partitions: readonly number[],
    private readonly bucketType: string,
    private readonly bucket: Uint8Array | undefined,
  ) {
    this.pending = new Set(partitions);
  }

  get finished(): boolean {
    return this.state === 'done';
  }

  start(): ListEffect[] {
    return this.partitions.map((partition) => ({
      type: 'send' as const,
      request: { type: 'VnodeList' as const, requestId: this.requestId, partition, bucketType: this.bucketType, bucket: this.bucket },
    }));
  }

  onReply(reply: VnodeReply): ListEffect[] {
    if (this.state === 'done' || !this.pending.has(reply.partition)) return [];
    if (reply.type === 'VnodeFailed') {
      this.state = 'done';
      return [{ type: 'reply', result: fail(reply.error.code === 'overload' ? 'overload' : 'insufficient_vnodes', `partition ${reply.partition} could not be listed: ${reply.error.message}`) }];
    }
    if (reply.type !== 'VnodeListChunk') return [];
    const fresh: Uint8Array[] = [];
    for (const item of reply.items) {
      const id = hexOf(item);
      if (this.seen.has(id)) continue;
      this.seen.add(id);
      fresh.push(item);
    }
    const effects: ListEffect[] = fresh.length > 0 ? [{ type: 'items', items: fresh }] : [];
    if (reply.done) this.pending.delete(reply.partition);
    if (this.pending.size === 0) {
      this.state = 'done';
      effects.push({ type: 'reply', result: ok(undefined) });
    }
    return effects;
  }

  onTimeout(): ListEffect[] {
    if (this.state === 'done') return [];
    this.state = 'done';
    return [{ type: 'reply', result: fail('timeout', `timed out with ${this.pending.size} of ${this.partitions.length} partitions not yet listed`) }];
  }
}

function hexOf(bytes: Uint8Array): string {
  let out = '';
  for (const b of bytes) out += (b < 16 ? '0' : '') + b.toString(16);
  return out;
}
