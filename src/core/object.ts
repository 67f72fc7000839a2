// The stored object: a set of siblings, each stamped with the dot of the write that made it, plus
// the version vector of every event the object has absorbed. This is the dotted-version-vector
// set of Preguiça et al. (as in Riak 2.x's dvvset): siblings stay bounded by the number of truly
// concurrent writers, because a sibling is dropped exactly when a write's context has seen its dot.
// Pure functions only; time and actor identity come in as arguments.

import type { Content, NewContent } from './kv.js';
import {
  type ActorId,
  type Dot,
  type VersionVector,
  vvCoversDot,
  vvGet,
  vvMerge,
  vvWith,
  emptyVv,
} from './version-vector.js';

export interface Sibling {
  readonly dot: Dot;
  readonly value: Uint8Array;
  readonly contentType: string;
  readonly userMeta: Content['userMeta'];
  readonly lastModifiedMs: number;
  /** A tombstone: the sibling records a delete. */
  readonly deleted: boolean;
  /**
   * When the sibling expires (absolute, ms since the epoch, fixed once by the key-value service
   * of the node that coordinated the write, by its clock); absent: never. Expired siblings are hidden from reads and dropped by later
   * writes; an object whose siblings have all expired reads as not found (docs/ttl.md).
   */
  readonly expiresAtMs?: number;
}

export interface KvObject {
  /** Sorted by (actor, counter); no two siblings share a dot. */
  readonly siblings: readonly Sibling[];
  /** Covers every sibling's dot, and every context ever written into the object. */
  readonly vv: VersionVector;
}

export const emptyObject: KvObject = { siblings: [], vv: emptyVv };

export interface WriteInput {
  /** The version vector the writer saw; empty for a blind write. */
  readonly context: VersionVector;
  readonly content: NewContent;
  readonly deleted: boolean;
  /** When the written sibling expires; absent: never. */
  readonly expiresAtMs?: number;
}

function compareDots(a: Dot, b: Dot): number {
  if (a.actor !== b.actor) return a.actor < b.actor ? -1 : 1;
  return a.counter - b.counter;
}

function sameDot(a: Dot, b: Dot): boolean {
  return a.actor === b.actor && a.counter === b.counter;
}

/**
 * Applies a client write at the replica whose identity is `actor`: every sibling the writer's
 * context has seen is superseded; the rest stay as concurrent siblings beside the new value.
 * Only the coordinating replica calls this; the others receive the result through `mergeObjects`,
 * so the causal context advances exactly once per write.
 */
export function applyWrite(current: KvObject, input: WriteInput, actor: ActorId, nowMs: number): KvObject {
  const counter = Math.max(vvGet(current.vv, actor), vvGet(input.context, actor)) + 1;
  const dot: Dot = { actor, counter };
  const survivors = current.siblings.filter((s) => !vvCoversDot(input.context, s.dot));
  const written: Sibling = {
    dot,
    value: input.content.value,
    contentType: input.content.contentType,
    userMeta: input.content.userMeta,
    lastModifiedMs: nowMs,
    deleted: input.deleted,
    ...(input.expiresAtMs === undefined ? {} : { expiresAtMs: input.expiresAtMs }),
  };
  const siblings = [...survivors, written].sort((a, b) => compareDots(a.dot, b.dot));
  return { siblings, vv: vvWith(vvMerge(current.vv, input.context), actor, counter) };
}

/**
 * Merges two replicas' objects (read repair, replication, handoff, anti-entropy). A sibling
 * survives when the other side holds it too, or has not seen its dot; a sibling the other side
 * has seen and dropped was superseded. Commutative, associative and idempotent.
 */
export function mergeObjects(a: KvObject, b: KvObject): KvObject {
  const kept: Sibling[] = [];
  for (const s of a.siblings) {
    if (b.siblings.some((t) => sameDot(s.dot, t.dot)) || !vvCoversDot(b.vv, s.dot)) kept.push(s);
  }
  for (const t of b.siblings) {
    if (!a.siblings.some((s) => sameDot(s.dot, t.dot)) && !vvCoversDot(a.vv, t.dot)) kept.push(t);
  }
  kept.sort((x, y) => compareDots(x.dot, y.dot));
  return { siblings: kept, vv: vvMerge(a.vv, b.vv) };
}

/** True when both objects hold the same events (same vector, same sibling dots). */
export function sameVersion(a: KvObject, b: KvObject): boolean {
  if (a.siblings.length !== b.siblings.length || a.vv.length !== b.vv.length) return false;
  for (let i = 0; i < a.vv.length; i++) {
    if (a.vv[i]!.actor !== b.vv[i]!.actor || a.vv[i]!.counter !== b.vv[i]!.counter) return false;
  }
  return a.siblings.every((s, i) => sameDot(s.dot, b.siblings[i]!.dot));
}

/** True when `a` holds every event of `b`: merging `b` into `a` changes nothing. */
export function objectDescends(a: KvObject, b: KvObject): boolean {
  return sameVersion(mergeObjects(a, b), a);
}

/** The newest sibling by timestamp, ties broken by dot order; deterministic on every replica. */
export function newestSibling(siblings: readonly Sibling[]): Sibling | undefined {
  let newest: Sibling | undefined;
  for (const s of siblings) {
    if (newest === undefined || s.lastModifiedMs > newest.lastModifiedMs || (s.lastModifiedMs === newest.lastModifiedMs && compareDots(s.dot, newest.dot) > 0)) newest = s;
  }
  return newest;
}

/**
 * For buckets that do not keep siblings (allow_mult=false): keeps only the newest sibling. The
 * vector still covers every event, so the dropped siblings can never come back through a merge.
 */
export function keepNewestSibling(object: KvObject): KvObject {
  if (object.siblings.length <= 1) return object;
  return { siblings: [newestSibling(object.siblings)!], vv: object.vv };
}

export function liveSiblings(object: KvObject): readonly Sibling[] {
  return object.siblings.filter((s) => !s.deleted);
}

/** An object with no live sibling reads as not found; its context still supersedes the tombstones. */
export function isDeleted(object: KvObject): boolean {
  return object.siblings.length > 0 && object.siblings.every((s) => s.deleted);
}

/** True when the sibling carries an expiry that `nowMs` has reached. */
export function isExpired(sibling: Sibling, nowMs: number): boolean {
  return sibling.expiresAtMs !== undefined && sibling.expiresAtMs <= nowMs;
}

/**
 * The object as a reader at `nowMs` sees it: expired siblings gone, the vector kept. Keeping the
 * vector is what makes dropping them safe: a merge with a replica still holding an expired
 * sibling sees that this side has seen its dot, so the sibling stays dropped.
 */
export function withoutExpired(object: KvObject, nowMs: number): KvObject {
  if (!object.siblings.some((s) => isExpired(s, nowMs))) return object;
  return { siblings: object.siblings.filter((s) => !isExpired(s, nowMs)), vv: object.vv };
}

/** A stable, compact sibling identifier derived from its dot (no randomness needed). */
export function vtagOf(dot: Dot): string {
  return `${dot.actor}.${dot.counter.toString(36)}`;
}

export function toContent(sibling: Sibling): Content {
  return {
    value: sibling.value,
    contentType: sibling.contentType,
    userMeta: sibling.userMeta,
    lastModifiedMs: sibling.lastModifiedMs,
    vtag: vtagOf(sibling.dot),
    deleted: sibling.deleted,
    ...(sibling.expiresAtMs === undefined ? {} : { expiresAtMs: sibling.expiresAtMs }),
  };
}
