// What a vnode does to its partition's data, as pure functions over stored bytes. The vnode actor
// reads the current bytes from storage, calls one of these, and persists what comes back; the
// conditional-write checks live here so they are decided where the write is applied.

import { type Result, fail, ok } from './errors.js';
import { decodeObject, decodeStorageKey, encodeObject } from './codec.js';
import { type DatatypeOp, applyDatatypeOp } from './datatype.js';
import type { WriteWarning } from './kv.js';
import type { VnodePut } from './messages.js';
import { type KvObject, applyWrite, emptyObject, keepNewestSibling, liveSiblings, mergeObjects, sameVersion, withoutExpired } from './object.js';
import { type ActorId, vvCoversDot, vvEqual, vvGet, vvWith } from './version-vector.js';

export interface Applied {
  readonly object: KvObject;
  readonly bytes: Uint8Array;
}

/**
 * Applies a client write at the replica whose identity is `actor`. `counterFloor` is the highest
 * counter this actor put into any object the vnode has since removed (a reaped tombstone or
 * expired object): the dot a write mints is always above it, so it can never be a dot that a
 * stale context or copy elsewhere has already seen (see removedKeyFloor in actors/vnode.ts). That
 * holds whether or not the vnode holds the key again: other replicas may have written it since
 * (the simulator found a write reusing this actor's dot from before a reap, seed 7), and their
 * vectors do not carry this actor's removed counters.
 */
export function applyPut(current: Uint8Array | undefined, put: VnodePut, actor: ActorId, counterFloor = 0): Result<Applied> {
  const stored = current !== undefined ? decodeObject(current) : emptyObject;
  // A data-type update drops expired siblings itself (applyDatatypeOp), as below.
  if (put.op !== undefined) return applyDatatypePut(aboveFloor(stored, actor, counterFloor), put, put.op, actor);
  // Expired siblings are dropped from what is written (the vector keeps their dots, so no merge
  // brings them back); an expired value is therefore absent for if_none_match as well.
  const before = withoutExpired(stored, put.nowMs);
  if (current !== undefined && !put.lastWriteWins && holdsThisWrite(before, put, actor)) return ok({ object: before, bytes: current });
  if (put.ifNoneMatch && liveSiblings(before).length > 0) {
    return fail('precondition_failed', 'the key already holds a value (if_none_match)');
  }
  if (put.ifPresent === true && liveSiblings(before).length === 0) {
    return fail('precondition_failed', 'the key holds no value (if_present)');
  }
  if (put.ifNotModified && !vvEqual(before.vv, put.context)) {
    return fail('precondition_failed', 'the stored object changed since the given context (if_not_modified)');
  }
  const context = put.lastWriteWins ? before.vv : put.context;
  const expiry = put.expiresAtMs === undefined || put.deleted ? {} : { expiresAtMs: put.expiresAtMs };
  // The floor is applied after the conditions: it must not make if_not_modified see a change.
  const written = applyWrite(aboveFloor(before, actor, counterFloor), { context, content: put.content, deleted: put.deleted, ...expiry }, actor, put.nowMs);
  const after = put.allowMult ? written : keepNewestSibling(written);
  if (after.siblings.length > put.maxSiblings) {
    return fail(
      'too_many_siblings',
      `the write would leave ${after.siblings.length} siblings, more than the limit of ${put.maxSiblings}; read the key and write back with its context to resolve them`,
    );
  }
  return encodedWithin(after, put);
}

/** The object with `actor`'s counter raised to at least `floor`, so the next dot it mints is above it. */
function aboveFloor(object: KvObject, actor: ActorId, floor: number): KvObject {
  return vvGet(object.vv, actor) >= floor ? object : { siblings: object.siblings, vv: vvWith(object.vv, actor, floor) };
}

/**
 * Whether this vnode already applied this very write: a sibling it minted, not seen by the write's
 * context, with the write's content, timestamp and expiry. A message delivered twice (which TCP
 * never does, but the simulator does) must not make one write two siblings; and two writes that
 * match in all of this — same coordinator clock reading, same context, same content — are
 * indistinguishable to any reader, so keeping one of them loses nothing.
 */
function holdsThisWrite(object: KvObject, put: VnodePut, actor: ActorId): boolean {
  return object.siblings.some(
    (s) =>
      s.dot.actor === actor &&
      !vvCoversDot(put.context, s.dot) &&
      s.lastModifiedMs === put.nowMs &&
      s.deleted === put.deleted &&
      s.expiresAtMs === (put.deleted ? undefined : put.expiresAtMs) &&
      s.contentType === put.content.contentType &&
      bytesEqual(s.value, put.content.value) &&
      s.userMeta.length === put.content.userMeta.length &&
      s.userMeta.every((m, i) => m.key === put.content.userMeta[i]!.key && m.value === put.content.userMeta[i]!.value),
  );
}

/** Encodes a client write's result, refused when the stored object would outgrow its bound. */
function encodedWithin(object: KvObject, put: VnodePut): Result<Applied> {
  const bytes = encodeObject(object);
  if (put.maxObjectBytes !== undefined && bytes.length > put.maxObjectBytes) {
    return fail(
      'object_too_large',
      `the write would leave a stored object of ${bytes.length} bytes (${object.siblings.length} siblings), more than the limit of ${put.maxObjectBytes}; resolve siblings by writing back with a read's context, or store less under this key`,
    );
  }
  return ok({ object, bytes });
}

/** A data-type update: the new state supersedes every sibling it merged, so it never adds one. */
function applyDatatypePut(before: KvObject, put: VnodePut, op: DatatypeOp, actor: ActorId): Result<Applied> {
  const after = applyDatatypeOp(before, op, actor, put.nowMs);
  return after.ok ? encodedWithin(after.value, put) : after;
}

/**
 * The soft bounds a client write's result passed: the write stands, but the node logs and counts
 * it, so an operator sees a key heading for the hard bounds (maxSiblings, maxObjectBytes) before
 * its writers are refused.
 */
export function writeWarnings(object: KvObject, bytes: number, bounds: { readonly warnSiblings: number; readonly warnObjectBytes: number }): WriteWarning[] {
  const warnings: WriteWarning[] = [];
  if (object.siblings.length > bounds.warnSiblings) warnings.push({ kind: 'siblings', siblings: object.siblings.length, warnSiblings: bounds.warnSiblings });
  if (bytes > bounds.warnObjectBytes) warnings.push({ kind: 'object_size', bytes, warnObjectBytes: bounds.warnObjectBytes });
  return warnings;
}

/**
 * Merges an incoming replica into the stored one. Returns undefined when the stored object
 * already holds every event of the incoming one, so nothing needs writing. Never refused for
 * size or siblings: repair must not be blocked by client-facing limits.
 */
export function applyReplicate(current: Uint8Array | undefined, incoming: Uint8Array): Uint8Array | undefined {
  return applyReplicateDecoded(current, incoming)?.bytes;
}

/** applyReplicate, with the object the returned bytes encode (exactly: `bytes` decode to `object`). */
export function applyReplicateDecoded(current: Uint8Array | undefined, incoming: Uint8Array): Applied | undefined {
  const theirs = decodeObject(incoming);
  if (current === undefined) return { object: theirs, bytes: incoming };
  const mine = decodeObject(current);
  const merged = mergeObjects(mine, theirs);
  if (sameVersion(merged, mine)) return undefined;
  if (sameVersion(merged, theirs)) return { object: theirs, bytes: incoming };
  return { object: merged, bytes: encodeObject(merged) };
}

/**
 * What a stored entry contributes to a listing: its key when listing a bucket, its bucket when
 * listing buckets (bucket undefined), or nothing — another type or bucket, a vnode's own metadata
 * (keys starting with byte 0), or an object whose siblings are all tombstones or expired at
 * `nowMs` (an expired object stays on disk, listed-out, until reaping removes it once every
 * replica holds it: docs/ttl.md).
 */
export function listedItem(storageKey: Uint8Array, stored: Uint8Array, bucketType: string, bucket: Uint8Array | undefined, nowMs = 0): Uint8Array | undefined {
  if (storageKey.length === 0 || storageKey[0] === 0) return undefined;
  const key = decodeStorageKey(storageKey);
  if (key.type !== bucketType) return undefined;
  if (bucket !== undefined && !bytesEqual(key.bucket, bucket)) return undefined;
  const object = decodeObject(stored);
  if (object.siblings.length > 0 && liveSiblings(withoutExpired(object, nowMs)).length === 0) return undefined;
  return bucket === undefined ? key.bucket : key.key;
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
