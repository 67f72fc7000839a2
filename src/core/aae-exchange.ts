// One anti-entropy exchange between two replicas' trees of the same preference list, as a state
// machine: it asks each side for node hashes level by level, descends only into branches whose
// hashes differ, fetches the key lists of differing segments, and ends with the keys whose
// versions differ. It performs no I/O and repairs nothing: either side may be local or remote,
// the caller carries requests and answers and owns the timer, and repairs go through the merge.

import { assert, assertNever } from './errors.js';
import { type KeyHash, type MerkleTree, type ObjectHash, type TreeShape, childIndexes, nodesAt, sameShape, treeDepth } from './merkle.js';
import { preferencePartitions } from './ring.js';

/** The two replicas of an exchange; 'a' is conventionally the vnode that started it. */
export type ExchangeSide = 'a' | 'b';

/** "The hashes of these nodes at this depth of your tree, please." */
export interface TreeHashesRequest {
  readonly type: 'TreeHashesRequest';
  readonly exchangeId: number;
  /** Echoed in the answer; answers of other rounds are stale and ignored. */
  readonly round: number;
  readonly side: ExchangeSide;
  readonly shape: TreeShape;
  readonly depth: number;
  readonly indexes: readonly number[];
}

/** "The keys and version hashes of these segments, please." */
export interface SegmentKeysRequest {
  readonly type: 'SegmentKeysRequest';
  readonly exchangeId: number;
  readonly round: number;
  readonly side: ExchangeSide;
  readonly shape: TreeShape;
  readonly segments: readonly number[];
}

export type ExchangeRequest = TreeHashesRequest | SegmentKeysRequest;

export interface TreeHashesAnswer {
  readonly type: 'TreeHashesAnswer';
  readonly exchangeId: number;
  readonly round: number;
  readonly side: ExchangeSide;
  /** Two words per requested index, in request order (see MerkleTree.nodeHashes). */
  readonly hashes: Uint32Array;
}

export interface SegmentKeysAnswer {
  readonly type: 'SegmentKeysAnswer';
  readonly exchangeId: number;
  readonly round: number;
  readonly side: ExchangeSide;
  /** One list per requested segment, in request order. */
  readonly segments: readonly (readonly KeyHash[])[];
}

export type ExchangeFailureReason =
  | 'unavailable' // the side's vnode or node cannot be reached
  | 'tree_not_ready' // the side's tree is being (re)built
  | 'shape_mismatch' // the two trees have different shapes
  | 'malformed' // a request or answer that does not fit its counterpart
  | 'timeout'; // the caller's deadline for the exchange passed

export interface ExchangeSideFailed {
  readonly type: 'ExchangeSideFailed';
  readonly exchangeId: number;
  readonly round: number;
  readonly side: ExchangeSide;
  readonly reason: ExchangeFailureReason;
  readonly message: string;
}

export type ExchangeAnswer = TreeHashesAnswer | SegmentKeysAnswer | ExchangeSideFailed;

export interface ExchangeLimits {
  /** Differing keys reported (and so repaired) per exchange; the rest wait for the next one. */
  readonly maxKeysPerExchange: number;
  /** Differing segments whose keys are fetched; also the differing branches followed per level. */
  readonly maxSegmentsPerExchange: number;
  /** Segments per key-list request, which bounds the size of one answer. */
  readonly maxSegmentsPerRequest: number;
}

export const defaultExchangeLimits: ExchangeLimits = {
  maxKeysPerExchange: 1000,
  maxSegmentsPerExchange: 256,
  maxSegmentsPerRequest: 32,
};

/** A key whose versions differ; undefined where a side does not hold the key. */
export interface DifferingKey {
  readonly key: Uint8Array;
  readonly segment: number;
  readonly a: ObjectHash | undefined;
  readonly b: ObjectHash | undefined;
}

export interface ExchangeCounts {
  /** Levels whose hashes were compared, the root's included. */
  readonly levelsCompared: number;
  readonly nodesCompared: number;
  /** Inner nodes and segments whose hashes differed. */
  readonly nodesDiffering: number;
  readonly segmentsDiffering: number;
  readonly segmentsFetched: number;
  readonly keysCompared: number;
  /** Differing keys found in the fetched segments (reported ones plus any over the key limit). */
  readonly keysDiffering: number;
  /** Requests sent, both sides together. */
  readonly requests: number;
  /** True when a limit left differing branches, segments or keys for a later exchange. */
  readonly truncated: boolean;
}

type MutableCounts = { -readonly [K in keyof ExchangeCounts]: ExchangeCounts[K] };

export type ExchangeOutcome =
  | { readonly type: 'ExchangeCompleted'; readonly differingKeys: readonly DifferingKey[]; readonly counts: ExchangeCounts }
  | {
      readonly type: 'ExchangeFailed';
      readonly side: ExchangeSide;
      readonly reason: ExchangeFailureReason;
      readonly message: string;
      readonly counts: ExchangeCounts;
    };

export type ExchangeEffect = { readonly type: 'send'; readonly request: ExchangeRequest } | { readonly type: 'finished'; readonly outcome: ExchangeOutcome };

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

/** Sorted by key, or undefined when a key appears twice (a malformed answer). */
function sortedEntries(entries: readonly KeyHash[]): KeyHash[] | undefined {
  const sorted = [...entries].sort((x, y) => compareBytes(x.key, y.key));
  for (let i = 1; i < sorted.length; i++) if (compareBytes(sorted[i - 1]!.key, sorted[i]!.key) === 0) return undefined;
  return sorted;
}

/** The keys present on one side only, or with different hashes, in key order. */
export function diffSegment(segment: number, a: readonly KeyHash[], b: readonly KeyHash[]): DifferingKey[] {
  const out: DifferingKey[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    const order = i >= a.length ? 1 : j >= b.length ? -1 : compareBytes(a[i]!.key, b[j]!.key);
    if (order < 0) out.push({ key: a[i]!.key, segment, a: a[i++]!.hash, b: undefined });
    else if (order > 0) out.push({ key: b[j]!.key, segment, a: undefined, b: b[j++]!.hash });
    else {
      if (a[i]!.hash !== b[j]!.hash) out.push({ key: a[i]!.key, segment, a: a[i]!.hash, b: b[j]!.hash });
      i++;
      j++;
    }
  }
  return out;
}

/**
 * An exchange. States are named for what they wait on: `awaitingTreeHashes` (one request per
 * side for the same nodes, from the root down) and `awaitingSegmentKeys` (differing segments, in
 * batches); `done` once the outcome is out. Trees keep taking writes meanwhile, so a branch that
 * differed may match one level down; that simply ends the descent there.
 */
export class AaeExchange {
  private state: 'idle' | 'awaitingTreeHashes' | 'awaitingSegmentKeys' | 'done' = 'idle';
  private round = 0;
  private depth = 0;
  /** The nodes (or segments) asked for in this round. */
  private asked: readonly number[] = [];
  private readonly answers: { a: ExchangeAnswer | undefined; b: ExchangeAnswer | undefined } = { a: undefined, b: undefined };
  /** Differing segments not yet fetched. */
  private pendingSegments: number[] = [];
  private readonly differing: DifferingKey[] = [];
  private readonly counts: MutableCounts = {
    levelsCompared: 0,
    nodesCompared: 0,
    nodesDiffering: 0,
    segmentsDiffering: 0,
    segmentsFetched: 0,
    keysCompared: 0,
    keysDiffering: 0,
    requests: 0,
    truncated: false,
  };
  private readonly treeDepth: number;

  constructor(
    readonly exchangeId: number,
    readonly shape: TreeShape,
    private readonly limits: ExchangeLimits = defaultExchangeLimits,
    /**
     * Where to start choosing among differing branches when a limit applies, e.g. a random
     * number from the caller; exchanges that start elsewhere reach the branches this one left.
     */
    private readonly startOffset = 0,
  ) {
    this.treeDepth = treeDepth(shape);
    assert(limits.maxKeysPerExchange >= 1, 'maxKeysPerExchange ≥ 1');
    assert(limits.maxSegmentsPerExchange >= 1, 'maxSegmentsPerExchange ≥ 1');
    assert(limits.maxSegmentsPerRequest >= 1, 'maxSegmentsPerRequest ≥ 1');
    assert(Number.isSafeInteger(startOffset) && startOffset >= 0, 'startOffset is a non-negative integer');
  }

  get finished(): boolean {
    return this.state === 'done';
  }

  /** Asks both sides for their roots. */
  start(): ExchangeEffect[] {
    assert(this.state === 'idle', 'an exchange starts once');
    return this.askTreeHashes(0, [0]);
  }

  onAnswer(answer: ExchangeAnswer): ExchangeEffect[] {
    if (this.state === 'done' || this.state === 'idle') return [];
    if (answer.exchangeId !== this.exchangeId || answer.round !== this.round) return [];
    if (answer.type === 'ExchangeSideFailed') return this.fail(answer.side, answer.reason, answer.message);
    if (this.answers[answer.side] !== undefined) return [];
    this.answers[answer.side] = answer;
    const { a, b } = this.answers;
    if (a === undefined || b === undefined) return [];
    switch (this.state) {
      case 'awaitingTreeHashes':
        return this.onTreeHashes(a, b);
      case 'awaitingSegmentKeys':
        return this.onSegmentKeys(a, b);
      default:
        return assertNever(this.state);
    }
  }

  /** The caller's deadline passed; the side that has not answered is named. */
  onTimeout(): ExchangeEffect[] {
    if (this.state === 'done') return [];
    const side: ExchangeSide = this.answers.a === undefined ? 'a' : 'b';
    return this.fail(side, 'timeout', `no answer from side ${side} in round ${this.round}`);
  }

  private nextRound(): void {
    this.round++;
    this.answers.a = undefined;
    this.answers.b = undefined;
  }

  private askTreeHashes(depth: number, indexes: readonly number[]): ExchangeEffect[] {
    this.nextRound();
    this.state = 'awaitingTreeHashes';
    this.depth = depth;
    this.asked = indexes;
    this.counts.requests += 2;
    const request = (side: ExchangeSide): ExchangeEffect => ({
      type: 'send',
      request: { type: 'TreeHashesRequest', exchangeId: this.exchangeId, round: this.round, side, shape: this.shape, depth, indexes },
    });
    return [request('a'), request('b')];
  }

  private askSegmentKeys(): ExchangeEffect[] {
    this.nextRound();
    this.state = 'awaitingSegmentKeys';
    const segments = this.pendingSegments.splice(0, this.limits.maxSegmentsPerRequest);
    this.asked = segments;
    this.counts.requests += 2;
    const request = (side: ExchangeSide): ExchangeEffect => ({
      type: 'send',
      request: { type: 'SegmentKeysRequest', exchangeId: this.exchangeId, round: this.round, side, shape: this.shape, segments },
    });
    return [request('a'), request('b')];
  }

  private onTreeHashes(a: ExchangeAnswer, b: ExchangeAnswer): ExchangeEffect[] {
    if (a.type !== 'TreeHashesAnswer' || a.hashes.length !== 2 * this.asked.length) return this.fail('a', 'malformed', 'tree hashes do not match the request');
    if (b.type !== 'TreeHashesAnswer' || b.hashes.length !== 2 * this.asked.length) return this.fail('b', 'malformed', 'tree hashes do not match the request');
    this.counts.levelsCompared++;
    this.counts.nodesCompared += this.asked.length;
    const differing = this.asked.filter((_, i) => a.hashes[2 * i] !== b.hashes[2 * i] || a.hashes[2 * i + 1] !== b.hashes[2 * i + 1]);
    this.counts.nodesDiffering += differing.length;
    if (differing.length === 0) return this.complete();
    const chosen = this.choose(differing, nodesAt(this.shape, this.depth));
    if (this.depth < this.treeDepth) return this.askTreeHashes(this.depth + 1, chosen.flatMap((index) => childIndexes(this.shape, index)));
    this.counts.segmentsDiffering = differing.length;
    this.pendingSegments = chosen;
    return this.askSegmentKeys();
  }

  /**
   * At most maxSegmentsPerExchange of the differing nodes, starting from the start offset and
   * wrapping around. Each differing node leads to at least one differing segment, so this many
   * branches are enough to fill the segment limit.
   */
  private choose(differing: readonly number[], levelNodes: number): number[] {
    const max = this.limits.maxSegmentsPerExchange;
    if (differing.length <= max) return [...differing];
    this.counts.truncated = true;
    const start = this.startOffset % levelNodes;
    const rotated = [...differing].sort((x, y) => ((x - start + levelNodes) % levelNodes) - ((y - start + levelNodes) % levelNodes));
    return rotated.slice(0, max).sort((x, y) => x - y);
  }

  private onSegmentKeys(a: ExchangeAnswer, b: ExchangeAnswer): ExchangeEffect[] {
    if (a.type !== 'SegmentKeysAnswer' || a.segments.length !== this.asked.length) return this.fail('a', 'malformed', 'segment keys do not match the request');
    if (b.type !== 'SegmentKeysAnswer' || b.segments.length !== this.asked.length) return this.fail('b', 'malformed', 'segment keys do not match the request');
    for (let i = 0; i < this.asked.length; i++) {
      const ours = sortedEntries(a.segments[i]!);
      if (ours === undefined) return this.fail('a', 'malformed', `segment ${this.asked[i]} lists a key twice`);
      const theirs = sortedEntries(b.segments[i]!);
      if (theirs === undefined) return this.fail('b', 'malformed', `segment ${this.asked[i]} lists a key twice`);
      this.counts.segmentsFetched++;
      this.counts.keysCompared += ours.length + theirs.length;
      for (const key of diffSegment(this.asked[i]!, ours, theirs)) {
        this.counts.keysDiffering++;
        if (this.differing.length < this.limits.maxKeysPerExchange) this.differing.push(key);
        else this.counts.truncated = true;
      }
    }
    if (this.pendingSegments.length > 0 && this.differing.length < this.limits.maxKeysPerExchange) return this.askSegmentKeys();
    if (this.pendingSegments.length > 0) this.counts.truncated = true;
    return this.complete();
  }

  private complete(): ExchangeEffect[] {
    this.state = 'done';
    return [{ type: 'finished', outcome: { type: 'ExchangeCompleted', differingKeys: this.differing, counts: { ...this.counts } } }];
  }

  private fail(side: ExchangeSide, reason: ExchangeFailureReason, message: string): ExchangeEffect[] {
    this.state = 'done';
    return [{ type: 'finished', outcome: { type: 'ExchangeFailed', side, reason, message, counts: { ...this.counts } } }];
  }
}

function failed(request: ExchangeRequest, reason: ExchangeFailureReason, message: string): ExchangeSideFailed {
  return { type: 'ExchangeSideFailed', exchangeId: request.exchangeId, round: request.round, side: request.side, reason, message };
}

/**
 * Answers a request from a tree: what the vnode holding the tree does, locally or for a peer.
 * A request that does not fit the tree is answered with a failure, never an exception, since
 * it may come from another node.
 */
export function answerFromTree(tree: MerkleTree, request: ExchangeRequest): ExchangeAnswer {
  if (!sameShape(tree.shape, request.shape)) {
    return failed(request, 'shape_mismatch', `tree ${tree.shape.segments}/${tree.shape.width}, asked ${request.shape.segments}/${request.shape.width}`);
  }
  const { exchangeId, round, side } = request;
  switch (request.type) {
    case 'TreeHashesRequest': {
      const valid = Number.isInteger(request.depth) && request.depth >= 0 && request.depth <= tree.depth;
      const count = valid ? nodesAt(tree.shape, request.depth) : 0;
      // No request needs more nodes than a level holds; a longer list is not ours.
      if (!valid || request.indexes.length > count || !request.indexes.every((i) => Number.isInteger(i) && i >= 0 && i < count)) {
        return failed(request, 'malformed', 'no such nodes');
      }
      return { type: 'TreeHashesAnswer', exchangeId, round, side, hashes: tree.nodeHashes(request.depth, request.indexes) };
    }
    case 'SegmentKeysRequest': {
      const { segments } = tree.shape;
      if (request.segments.length > segments || !request.segments.every((s) => Number.isInteger(s) && s >= 0 && s < segments)) {
        return failed(request, 'malformed', 'no such segments');
      }
      return { type: 'SegmentKeysAnswer', exchangeId, round, side, segments: request.segments.map((s) => tree.segmentKeys(s)) };
    }
    default:
      return assertNever(request);
  }
}

/** One preference list's tree: the keys whose first partition is `primaryPartition`, stored `nVal` times. */
export interface TreeId {
  readonly primaryPartition: number;
  readonly nVal: number;
}

/**
 * The trees a vnode keeps: one per preference list it belongs to, for each n_val in use (Riak's
 * per-"index_n" trees). A single tree per partition would not do: vnode p holds keys of the lists
 * starting at p − n + 1 … p, and its neighbour p + 1 does not hold those starting at p − n + 1,
 * so their trees would always differ.
 */
export function treesOfVnode(partition: number, partitionCount: number, nVals: readonly number[]): TreeId[] {
  const out: TreeId[] = [];
  for (const nVal of [...new Set(nVals)].sort((x, y) => x - y)) {
    assert(Number.isInteger(nVal) && nVal >= 1 && nVal <= partitionCount, `n_val ${nVal} between 1 and ${partitionCount}`);
    for (let i = 0; i < nVal; i++) out.push({ primaryPartition: (partition - i + partitionCount) % partitionCount, nVal });
  }
  return out;
}

/**
 * The exchanges a vnode starts: for each of its trees, with the next replica of that preference
 * list, wrapping around. Every replica starts one, so the replicas of a list form a cycle of
 * exchanges (a single exchange for n_val 2, none for n_val 1).
 */
export function exchangesOfVnode(partition: number, partitionCount: number, nVals: readonly number[]): { tree: TreeId; peer: number }[] {
  const out: { tree: TreeId; peer: number }[] = [];
  for (const tree of treesOfVnode(partition, partitionCount, nVals)) {
    const replicas = preferencePartitions(tree.primaryPartition, tree.nVal, partitionCount);
    const position = replicas.indexOf(partition);
    if (tree.nVal === 1 || (tree.nVal === 2 && position === 1)) continue;
    out.push({ tree, peer: replicas[(position + 1) % tree.nVal]! });
  }
  return out;
}
