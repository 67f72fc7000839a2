// The anti-entropy trees of one vnode-host worker: for each tracked partition, one MerkleTree per
// preference list its vnode belongs to, kept current on every write the worker applies and rebuilt
// from storage in the background after a start or a change of ownership. It answers exchange
// requests from those trees. It runs on the worker thread that owns the store (node-lmdb
// environments are opened by one thread only), never sends anything, and decides nothing about
// which trees to compare: the main thread's AntiEntropy does that.

import { type ExchangeAnswer, type ExchangeFailureReason, type ExchangeRequest, type TreeId, answerFromTree, treesOfVnode } from '../../core/aae-exchange.js';
import { DecodeError, decodeObject, decodeStorageKey } from '../../core/codec.js';
import { MerkleTree, hashObjectVersion } from '../../core/merkle.js';
import { partitionOf } from '../../core/ring.js';
import type { KvObject } from '../../core/object.js';
import type { TreesConfig, TreesState, VnodeTreesStats } from './protocol.js';

/** What a rebuild reads: a partition's stored objects in key order, pending writes included. */
export interface FoldSource {
  foldBatch(partition: number, afterKey: Uint8Array | undefined, maxItems: number, maxBytes: number): { items: { key: Uint8Array; value: Uint8Array }[]; done: boolean; resumeAfter: Uint8Array | undefined };
}

export interface VnodeTreesOptions {
  readonly source: FoldSource;
  /** Resolves on a later event-loop turn, after the mailboxes had their turn (setImmediate). */
  readonly yieldTurn: () => Promise<void>;
  readonly nowMs: () => number;
  readonly log: (level: 'debug' | 'info' | 'warn' | 'error', msg: string, fields: object) => void;
}

/** One rebuild step reads at most this many bytes, whatever the key count. */
const rebuildChunkBytesMax = 4 << 20;

interface TrackedVnode {
  state: TreesState;
  readonly trees: Map<string, MerkleTree>;
  /** Set when the vnode stops being tracked, so a rebuild under way notices and stops. */
  cancelled: boolean;
  keysOutsideTrees: number;
  undecodable: number;
  /** A key of a bucket type not (yet) configured here was seen: such a type's arrival rebuilds. */
  unknownTypes: boolean;
  rebuilds: number;
  rebuiltAtMs: number | null;
  rebuildMs: number | null;
  rebuildChunks: number | null;
}

function treeKey(primaryPartition: number, nVal: number): string {
  return `${primaryPartition}/${nVal}`;
}

/** Identifies a config: trees built under another digest are dropped and rebuilt. */
export function treesConfigDigest(config: TreesConfig): string {
  const types = Object.keys(config.typeNVals).sort().map((type) => `${type}=${config.typeNVals[type]}`);
  return `q=${config.partitionCount} shape=${config.shape.segments}x${config.shape.width} chunk=${config.rebuildChunkKeys} ${types.join(',')}`;
}

function sideFailed(request: ExchangeRequest, reason: ExchangeFailureReason, message: string): ExchangeAnswer {
  return { type: 'ExchangeSideFailed', exchangeId: request.exchangeId, round: request.round, side: request.side, reason, message };
}

export class VnodeTrees {
  private config: TreesConfig | undefined;
  private digest = '';
  private readonly tracked = new Map<number, TrackedVnode>();
  private stopped = false;

  constructor(private readonly options: VnodeTreesOptions) {}

  /** Tracks exactly `partitions` (see WorkerControl.aaeTrack). */
  track(config: TreesConfig, partitions: readonly number[]): void {
    const digest = treesConfigDigest(config);
    if (digest !== this.digest) this.reconfigure(config, digest);
    const wanted = new Set(partitions);
    for (const [partition, vnode] of this.tracked) {
      if (wanted.has(partition)) continue;
      vnode.cancelled = true;
      this.tracked.delete(partition);
    }
    for (const partition of wanted) if (!this.tracked.has(partition)) this.startTracking(partition);
  }

  /** Starts (or starts over) a vnode's trees: empty, pending a rebuild. */
  private startTracking(partition: number): void {
    const previous = this.tracked.get(partition);
    if (previous !== undefined) previous.cancelled = true;
    const trees = new Map<string, MerkleTree>();
    this.addMissingTrees(partition, trees);
    this.tracked.set(partition, {
      state: 'pending',
      trees,
      cancelled: false,
      keysOutsideTrees: 0,
      undecodable: 0,
      unknownTypes: false,
      rebuilds: previous?.rebuilds ?? 0,
      rebuiltAtMs: previous?.rebuiltAtMs ?? null,
      rebuildMs: previous?.rebuildMs ?? null,
      rebuildChunks: previous?.rebuildChunks ?? null,
    });
  }

  /**
   * A new bucket type rebuilds only the vnodes that hold keys of types they did not know (a
   * replica can arrive before the gossip that creates its type); elsewhere no key of it is stored
   * yet, and its trees (for a new n_val) start empty and correct. Any other change — a type's
   * n_val, a type gone, the ring size, the shape — moves keys between trees: every tree is
   * dropped and rebuilt.
   */
  private reconfigure(config: TreesConfig, digest: string): void {
    const old = this.config;
    const onlyAdded =
      old !== undefined &&
      old.partitionCount === config.partitionCount &&
      old.shape.segments === config.shape.segments &&
      old.shape.width === config.shape.width &&
      Object.entries(old.typeNVals).every(([type, nVal]) => config.typeNVals[type] === nVal);
    this.config = config;
    this.digest = digest;
    if (onlyAdded) {
      for (const [partition, vnode] of this.tracked) {
        if (vnode.unknownTypes) this.startTracking(partition);
        else this.addMissingTrees(partition, vnode.trees);
      }
      return;
    }
    for (const vnode of this.tracked.values()) vnode.cancelled = true;
    this.tracked.clear();
  }

  private addMissingTrees(partition: number, trees: Map<string, MerkleTree>): void {
    const config = this.config!;
    for (const id of treesOfVnode(partition, config.partitionCount, Object.values(config.typeNVals))) {
      const key = treeKey(id.primaryPartition, id.nVal);
      if (!trees.has(key)) trees.set(key, new MerkleTree(config.shape));
    }
  }

  /** The worker is closing: rebuilds under way stop at their next step. */
  stop(): void {
    this.stopped = true;
    for (const vnode of this.tracked.values()) vnode.cancelled = true;
  }

  /**
   * Records what the vnode now stores under `key` (undefined: nothing). Called after every
   * write and removal the worker applies. A pending vnode is skipped: its rebuild reads it all.
   * `decoded`, when given, is exactly what `value` decodes to, and is hashed instead of decoding it.
   */
  onWrite(partition: number, key: Uint8Array, value: Uint8Array | undefined, decoded?: KvObject): void {
    const vnode = this.tracked.get(partition);
    if (vnode === undefined || vnode.state === 'pending' || key.length === 0 || key[0] === 0) return;
    const tree = this.treeOf(vnode, partition, key);
    if (tree === undefined) return;
    const hash = value === undefined ? undefined : decoded !== undefined ? hashObjectVersion(decoded) : this.hashOf(vnode, value);
    tree.update(key, hash);
  }

  /** The version hash of stored bytes, or undefined (not in the tree) when they do not decode. */
  private hashOf(vnode: TrackedVnode, value: Uint8Array): number | undefined {
    try {
      return hashObjectVersion(decodeObject(value));
    } catch (error) {
      if (!(error instanceof DecodeError)) throw error;
      vnode.undecodable++;
      return undefined;
    }
  }

  /** The tree a key of this vnode belongs to, or undefined (a hint, a stray copy, an unknown type). */
  private treeOf(vnode: TrackedVnode, partition: number, key: Uint8Array): MerkleTree | undefined {
    const config = this.config!;
    let type: string;
    try {
      type = decodeStorageKey(key).type;
    } catch (error) {
      if (!(error instanceof DecodeError)) throw error;
      return undefined;
    }
    if (!Object.hasOwn(config.typeNVals, type)) {
      vnode.unknownTypes = true;
      return undefined;
    }
    const nVal = config.typeNVals[type]!;
    const primary = partitionOf(key, config.partitionCount);
    if ((partition - primary + config.partitionCount) % config.partitionCount >= nVal) return undefined;
    return vnode.trees.get(treeKey(primary, nVal));
  }

  /**
   * Rebuilds a pending vnode's trees from storage, one chunk per event-loop turn. Each chunk is
   * read and inserted in the same turn, and writes update the trees as they are applied, so a
   * key's entry always reflects the later of its last read and its last write: no key written
   * during the rebuild can be overwritten by an older read.
   */
  async rebuild(partition: number): Promise<void> {
    const vnode = this.tracked.get(partition);
    if (vnode === undefined || vnode.state !== 'pending' || this.stopped) return;
    const config = this.config!;
    vnode.state = 'rebuilding';
    for (const tree of vnode.trees.values()) tree.clear();
    const startedMs = this.options.nowMs();
    let after: Uint8Array | undefined;
    let chunks = 0;
    let outside = 0;
    try {
      for (;;) {
        const batch = this.options.source.foldBatch(partition, after, config.rebuildChunkKeys, rebuildChunkBytesMax);
        chunks++;
        for (const item of batch.items) {
          if (item.key.length === 0 || item.key[0] === 0) continue;
          const tree = this.treeOf(vnode, partition, item.key);
          if (tree === undefined) outside++;
          else tree.update(item.key, this.hashOf(vnode, item.value));
        }
        if (batch.done) break;
        after = batch.resumeAfter;
        await this.options.yieldTurn();
        if (vnode.cancelled) return;
      }
    } catch (error) {
      if (vnode.cancelled) return;
      vnode.state = 'pending';
      this.options.log('error', 'rebuilding the anti-entropy trees of a vnode failed; it will be retried', { partition, err: (error as Error).message });
      return;
    }
    vnode.state = 'ready';
    vnode.keysOutsideTrees = outside;
    vnode.rebuilds++;
    vnode.rebuiltAtMs = this.options.nowMs();
    vnode.rebuildMs = vnode.rebuiltAtMs - startedMs;
    vnode.rebuildChunks = chunks;
    let keys = 0;
    for (const tree of vnode.trees.values()) keys += tree.size;
    this.options.log('debug', 'anti-entropy trees rebuilt', { partition, keys, ms: vnode.rebuildMs, chunks });
  }

  /** Answers an exchange request from the vnode's tree, or says why it cannot. */
  answer(partition: number, tree: TreeId, request: ExchangeRequest): ExchangeAnswer {
    const vnode = this.tracked.get(partition);
    if (vnode === undefined) return sideFailed(request, 'unavailable', `vnode ${partition} keeps no anti-entropy trees here (not owned, or anti-entropy is off)`);
    if (vnode.state !== 'ready') return sideFailed(request, 'tree_not_ready', `the trees of vnode ${partition} are ${vnode.state}`);
    const found = vnode.trees.get(treeKey(tree.primaryPartition, tree.nVal));
    if (found === undefined) {
      return sideFailed(request, 'unavailable', `vnode ${partition} keeps no tree for the list ${tree.primaryPartition}/n${tree.nVal} (are the bucket types' n_val the same on every node?)`);
    }
    return answerFromTree(found, request);
  }

  stats(): { configDigest: string; partitions: VnodeTreesStats[] } {
    const partitions: VnodeTreesStats[] = [];
    for (const [partition, vnode] of [...this.tracked].sort((a, b) => a[0] - b[0])) {
      const trees = [...vnode.trees].map(([id, tree]) => {
        const [primaryPartition, nVal] = id.split('/').map(Number) as [number, number];
        const s = tree.stats();
        return { primaryPartition, nVal, keys: s.keys, nonEmptySegments: s.nonEmptySegments, root: s.root, updates: s.updates };
      });
      partitions.push({
        partition,
        state: vnode.state,
        keys: trees.reduce((sum, t) => sum + t.keys, 0),
        trees,
        keysOutsideTrees: vnode.keysOutsideTrees,
        undecodable: vnode.undecodable,
        rebuilds: vnode.rebuilds,
        rebuiltAtMs: vnode.rebuiltAtMs,
        rebuildMs: vnode.rebuildMs,
        rebuildChunks: vnode.rebuildChunks,
      });
    }
    return { configDigest: this.digest, partitions };
  }
}
