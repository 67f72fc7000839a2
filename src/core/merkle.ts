// The hash tree one vnode keeps over one preference list's keys, for active anti-entropy: a fixed
// shape (segments chosen by hashing the key, a branching factor, so a depth of two or three) whose
// node hashes are sums of per-key entry hashes, so a write updates it in O(depth) integer additions
// and two trees holding the same (key, version) pairs have equal hashes whatever the order of
// their updates. It holds no object data and does no I/O; the vnode feeds it on every write.

import { assert } from './errors.js';
import { murmur3 } from './hash.js';
import type { KvObject } from './object.js';
import { isPowerOfTwo } from './ring.js';

/** The shape both sides of an exchange must share. `segments` = `width` ** depth, both powers of two. */
export interface TreeShape {
  /** Leaf buckets; a key's segment is chosen by hashing the key. */
  readonly segments: number;
  /** Children per inner node. */
  readonly width: number;
}

/** 4096 segments of 64-way nodes: depth 2, about 25 keys per segment at 100k keys. */
export const defaultTreeShape: TreeShape = { segments: 4096, width: 64 };

const segmentsMax = 1 << 20;

/**
 * A replica's version of one object, as a non-negative safe integer (53 bits), from
 * `hashObjectVersion`. Tests may use any safe integer. Undefined in `update` means "no object".
 */
export type ObjectHash = number;

/** One key of a segment with the hash of the version stored under it. */
export interface KeyHash {
  readonly key: Uint8Array;
  readonly hash: ObjectHash;
}

export interface MerkleTreeStats {
  readonly keys: number;
  readonly segments: number;
  readonly width: number;
  readonly depth: number;
  readonly nonEmptySegments: number;
  /** 16 hex digits; equal roots mean equal contents (see docs/anti-entropy.md for the odds). */
  readonly root: string;
  readonly updates: number;
  /** Node hash words rewritten by updates: (depth + 1) * 2 per entry added or removed. */
  readonly nodeWrites: number;
}

// Seeds for the key hashes. Never 0: the ring places a key by the top bits of murmur3(key, 0), so
// every key of one partition shares them and they would crowd a few segments.
const keySeedLow = 0x5bd1e995;
const keySeedHigh = 0x1b873593;
// Seeds of the two 32-bit lanes of an entry hash.
const laneSeedLow = 0x3c6ef372;
const laneSeedHigh = 0xa54ff53a;
const objectSeedLow = 0x9e3779b9;
const objectSeedHigh = 0x85ebca6b;

/** The depth of a shape (levels below the root), or an assertion failure for an invalid shape. */
export function treeDepth(shape: TreeShape): number {
  assert(isPowerOfTwo(shape.segments) && shape.segments <= segmentsMax, `segments ${shape.segments} is a power of two ≤ ${segmentsMax}`);
  assert(isPowerOfTwo(shape.width) && shape.width >= 2, `width ${shape.width} is a power of two ≥ 2`);
  const depth = Math.round(Math.log2(shape.segments) / Math.log2(shape.width));
  assert(shape.width ** depth === shape.segments, `segments ${shape.segments} is a power of width ${shape.width}`);
  return depth;
}

export function sameShape(a: TreeShape, b: TreeShape): boolean {
  return a.segments === b.segments && a.width === b.width;
}

/** Nodes at `depth`: 1 at the root, `segments` at the leaves. */
export function nodesAt(shape: TreeShape, depth: number): number {
  return shape.width ** depth;
}

/** The indexes, one level down, of the children of node `index`. */
export function childIndexes(shape: TreeShape, index: number): number[] {
  return Array.from({ length: shape.width }, (_, i) => index * shape.width + i);
}

/** One block of MurmurHash3's body. */
function mixWord(h: number, word: number): number {
  let k = Math.imul(word, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, 0x1b873593);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

/** MurmurHash3's finalizer, after the body has absorbed `bytes` bytes. */
function finish(h: number, bytes: number): number {
  h ^= bytes;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * MurmurHash3 over four 32-bit words: exactly murmur3 of their 16-byte little-endian encoding,
 * without building the bytes. Well mixed, so sums of it behave as random.
 */
export function mix4(seed: number, a: number, b: number, c: number, d: number): number {
  return finish(mixWord(mixWord(mixWord(mixWord(seed >>> 0, a), b), c), d), 16);
}

// The version hash absorbs its words as it goes (two running murmur3 states and a count) rather
// than collecting them in an array first: it runs on every write a vnode stores.
let absorbedHigh = 0;
let absorbedLow = 0;
let absorbedWords = 0;

function absorb(word: number): void {
  absorbedHigh = mixWord(absorbedHigh, word);
  absorbedLow = mixWord(absorbedLow, word);
  absorbedWords++;
}

/** An actor and a counter as words: the actor's length, its UTF-16 code units two per word, the counter's two halves. */
function absorbEvent(actor: string, counter: number): void {
  absorb(actor.length);
  for (let i = 0; i < actor.length; i += 2) absorb(actor.charCodeAt(i) | (i + 1 < actor.length ? actor.charCodeAt(i + 1) << 16 : 0));
  absorb(counter >>> 0);
  absorb(Math.floor(counter / 0x100000000));
}

/**
 * The hash of an object's *version*: its version vector and its siblings' dots, not its bytes.
 * Equal versions hold equal siblings (a dot names one write), so this differs exactly when a
 * merge would change one side — what repair can fix. Hashing the bytes would also flag copies
 * that differ only in encoding (a format upgrade) or by corruption, which no merge repairs, and
 * every exchange would find them again. Two 32-bit murmur3 hashes with different seeds of one
 * length-prefixed word sequence (their little-endian bytes), kept to 53 bits so the result is a
 * plain number. Nodes compare these: the word sequence and seeds must never change.
 */
export function hashObjectVersion(object: KvObject): ObjectHash {
  absorbedHigh = objectSeedHigh;
  absorbedLow = objectSeedLow;
  absorbedWords = 0;
  absorb(object.vv.length);
  for (const e of object.vv) absorbEvent(e.actor, e.counter);
  absorb(object.siblings.length);
  for (const s of object.siblings) absorbEvent(s.dot.actor, s.dot.counter);
  return (finish(absorbedHigh, 4 * absorbedWords) & 0x1fffff) * 0x100000000 + finish(absorbedLow, 4 * absorbedWords);
}

/** Key bytes as a one-byte string, to key a Map; byte order equals string order. */
function keyString(key: Uint8Array): string {
  if (key.length <= 4096) return String.fromCharCode.apply(null, key as unknown as number[]);
  let out = '';
  for (let i = 0; i < key.length; i += 4096) out += String.fromCharCode.apply(null, key.subarray(i, i + 4096) as unknown as number[]);
  return out;
}

function keyBytes(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
  return out;
}

function assertObjectHash(hash: ObjectHash): void {
  // Number.isSafeInteger, spelled out: this runs on every write and the call showed in profiles.
  if (!(hash >= 0 && hash <= Number.MAX_SAFE_INTEGER && hash % 1 === 0)) assert(false, `object hash ${hash} is a non-negative safe integer`);
}

function hex32(n: number): string {
  return n.toString(16).padStart(8, '0');
}

/**
 * One tree. `levels[d]` holds the hashes of the `width ** d` nodes at depth d, two 32-bit lanes
 * per node (low lane at 2i, high lane at 2i + 1); `levels[depth]` are the segments. A node's hash
 * is the lane-wise sum mod 2^32 of the entry hashes below it, so an update adds a difference to
 * one node per level, eagerly: no dirty flags, no recomputation on read, no periodic rebuild.
 *
 * Per segment, a Map from the key (as a one-byte string) to a slot in `slotHashes`, where the
 * object hash lives unboxed: a 53-bit number kept directly in a Map would be a heap object per
 * key, allocated again on every change.
 */
export class MerkleTree {
  readonly shape: TreeShape;
  readonly depth: number;
  private readonly levels: Uint32Array[];
  /** Created on a segment's first key, dropped with its last. */
  private readonly segmentMaps: (Map<string, number> | undefined)[];
  private slotHashes = new Float64Array(1024);
  private freeSlots: number[] = [];
  private slotsUsedMax = 0;
  private keys = 0;
  /** Segments holding a key (kept as it changes: stats are read every second, 4096 segments a tree). */
  private nonEmpty = 0;
  private updates = 0;
  private nodeWrites = 0;
  private readonly shift: number;

  constructor(shape: TreeShape = defaultTreeShape) {
    this.depth = treeDepth(shape);
    this.shape = { segments: shape.segments, width: shape.width };
    this.shift = Math.log2(shape.width);
    this.levels = Array.from({ length: this.depth + 1 }, (_, d) => new Uint32Array(2 * nodesAt(shape, d)));
    this.segmentMaps = new Array<Map<string, number> | undefined>(shape.segments).fill(undefined);
  }

  /** Keys held. */
  get size(): number {
    return this.keys;
  }

  /** The segment a key falls in; the same on every replica for the same shape. */
  segmentOf(key: Uint8Array): number {
    return murmur3(key, keySeedLow) & (this.shape.segments - 1);
  }

  /**
   * Records that `key` now holds the version `hash`, or (undefined) that it holds nothing.
   * O(depth): two key hashes, two entry mixes per entry removed or added, 2 × (depth + 1)
   * additions each, and one Map lookup.
   */
  update(key: Uint8Array, hash: ObjectHash | undefined): void {
    if (hash !== undefined) assertObjectHash(hash);
    this.updates++;
    const k1 = murmur3(key, keySeedLow);
    const segment = k1 & (this.shape.segments - 1);
    const name = keyString(key);
    const map = this.segmentMaps[segment];
    const slot = map?.get(name);
    const old = slot === undefined ? undefined : this.slotHashes[slot]!;
    if (old === hash) return;
    const k2 = murmur3(key, keySeedHigh);
    if (old !== undefined) this.add(segment, k1, k2, old, -1);
    if (hash !== undefined) this.add(segment, k1, k2, hash, 1);
    if (slot !== undefined && hash !== undefined) this.slotHashes[slot] = hash;
    else if (slot !== undefined) this.remove(segment, map!, name, slot);
    else if (hash !== undefined) this.insert(segment, map, name, hash);
  }

  private insert(segment: number, map: Map<string, number> | undefined, name: string, hash: ObjectHash): void {
    let slot = this.freeSlots.pop();
    if (slot === undefined) {
      slot = this.slotsUsedMax++;
      if (slot === this.slotHashes.length) {
        const grown = new Float64Array(2 * this.slotHashes.length);
        grown.set(this.slotHashes);
        this.slotHashes = grown;
      }
    }
    this.slotHashes[slot] = hash;
    if (map === undefined) {
      this.segmentMaps[segment] = new Map([[name, slot]]);
      this.nonEmpty++;
    } else {
      map.set(name, slot);
    }
    this.keys++;
  }

  private remove(segment: number, map: Map<string, number>, name: string, slot: number): void {
    map.delete(name);
    if (map.size === 0) {
      this.segmentMaps[segment] = undefined;
      this.nonEmpty--;
    }
    this.freeSlots.push(slot);
    this.keys--;
  }

  /** Adds (sign 1) or subtracts (sign -1) one entry's hash along the path from its segment to the root. */
  private add(segment: number, k1: number, k2: number, hash: ObjectHash, sign: 1 | -1): void {
    const lo = hash >>> 0;
    const hi = Math.floor(hash / 0x100000000);
    const e0 = sign * mix4(laneSeedLow, k1, k2, lo, hi);
    const e1 = sign * mix4(laneSeedHigh, k1, k2, lo, hi);
    let index = segment;
    for (let d = this.depth; d >= 0; d--) {
      const level = this.levels[d]!;
      // Uint32Array stores the sum modulo 2^32, negative differences included.
      level[2 * index] = level[2 * index]! + e0;
      level[2 * index + 1] = level[2 * index + 1]! + e1;
      index >>>= this.shift;
    }
    this.nodeWrites += 2 * (this.depth + 1);
  }

  /** The stored version hash of `key`, if the tree holds it. */
  hashOf(key: Uint8Array): ObjectHash | undefined {
    const slot = this.segmentMaps[this.segmentOf(key)]?.get(keyString(key));
    return slot === undefined ? undefined : this.slotHashes[slot];
  }

  /** The hashes of the nodes at `depth` named by `indexes`, two words each, in the same order. */
  nodeHashes(depth: number, indexes: readonly number[]): Uint32Array {
    assert(Number.isInteger(depth) && depth >= 0 && depth <= this.depth, `depth ${depth} within 0..${this.depth}`);
    const level = this.levels[depth]!;
    const out = new Uint32Array(2 * indexes.length);
    indexes.forEach((index, i) => {
      assert(Number.isInteger(index) && index >= 0 && 2 * index < level.length, `node ${index} exists at depth ${depth}`);
      out[2 * i] = level[2 * index]!;
      out[2 * i + 1] = level[2 * index + 1]!;
    });
    return out;
  }

  /** The root hash as 16 hex digits (high lane first). */
  rootHex(): string {
    const root = this.levels[0]!;
    return hex32(root[1]!) + hex32(root[0]!);
  }

  /** The keys of one segment with their version hashes, sorted by key bytes. */
  segmentKeys(segment: number): KeyHash[] {
    assert(Number.isInteger(segment) && segment >= 0 && segment < this.shape.segments, `segment ${segment} exists`);
    const map = this.segmentMaps[segment];
    if (map === undefined) return [];
    return [...map.keys()].sort().map((name) => ({ key: keyBytes(name), hash: this.slotHashes[map.get(name)!]! }));
  }

  /** Forgets everything (a dropped partition, or before a rebuild). */
  clear(): void {
    for (const level of this.levels) level.fill(0);
    this.segmentMaps.fill(undefined);
    this.slotHashes = new Float64Array(1024);
    this.freeSlots = [];
    this.slotsUsedMax = 0;
    this.keys = 0;
    this.nonEmpty = 0;
  }

  stats(): MerkleTreeStats {
    return {
      keys: this.keys,
      segments: this.shape.segments,
      width: this.shape.width,
      depth: this.depth,
      nonEmptySegments: this.nonEmpty,
      root: this.rootHex(),
      updates: this.updates,
      nodeWrites: this.nodeWrites,
    };
  }
}

/** A tree built from scratch over `entries` (a rebuild; also the reference the tests compare with). */
export function buildTree(entries: Iterable<KeyHash>, shape: TreeShape = defaultTreeShape): MerkleTree {
  const tree = new MerkleTree(shape);
  for (const { key, hash } of entries) tree.update(key, hash);
  return tree;
}
