// What a vnode does to its partition's data, as pure functions over stored bytes. The vnode actor
// reads the current bytes from storage, calls one of these, and persists what comes back; the
// conditional-write checks live here so they are decided where the write is applied.

import { type Result, fail, ok } from './errors.js';
import { decodeObject, decodeStorageKey, encodeObject } from './codec.js';
import type { VnodePut } from './messages.js';
import { type KvObject, applyWrite, emptyObject, isDeleted, keepNewestSibling, liveSiblings, mergeObjects, sameVersion } from './object.js';
import { type ActorId, vvEqual } from './version-vector.js';

export interface Applied {
  readonly object: KvObject;
  readonly bytes: Uint8Array;
}

export function applyPut(current: Uint8Array | undefined, put: VnodePut, actor: ActorId): Result<Applied> {
  const before = current === undefined ? emptyObject : decodeObject(current);
  if (put.ifNoneMatch && liveSiblings(before).length > 0) {
    return fail('precondition_failed', 'the key already holds a value (if_none_match)');
  }
  if (put.ifNotModified && !vvEqual(before.vv, put.context)) {
    return fail('precondition_failed', 'the stored object changed since the given context (if_not_modified)');
  }
  const context = put.lastWriteWins ? before.vv : put.context;
  const written = applyWrite(before, { context, content: put.content, deleted: put.deleted }, actor, put.nowMs);
  const after = put.allowMult ? written : keepNewestSibling(written);
  if (after.siblings.length > put.maxSiblings) {
    return fail(
      'too_many_siblings',
      `the write would leave ${after.siblings.length} siblings, more than the limit of ${put.maxSiblings}; read the key and write back with its context to resolve them`,
    );
  }
  return ok({ object: after, bytes: encodeObject(after) });
}

/**
 * Merges an incoming replica into the stored one. Returns undefined when the stored object
 * already holds every event of the incoming one, so nothing needs writing. Never refused for
 * size or siblings: repair must not be blocked by client-facing limits.
 */
export function applyReplicate(current: Uint8Array | undefined, incoming: Uint8Array): Uint8Array | undefined {
  const theirs = decodeObject(incoming);
  if (current === undefined) return incoming;
  const mine = decodeObject(current);
  const merged = mergeObjects(mine, theirs);
  if (sameVersion(merged, mine)) return undefined;
  if (sameVersion(merged, theirs)) return incoming;
  return encodeObject(merged);
}

/**
 * What a stored entry contributes to a listing: its key when listing a bucket, its bucket when
 * listing buckets (bucket undefined), or nothing — another type or bucket, a vnode's own metadata
 * (keys starting with byte 0), or an object whose siblings are all tombstones.
 */
export function listedItem(storageKey: Uint8Array, stored: Uint8Array, bucketType: string, bucket: Uint8Array | undefined): Uint8Array | undefined {
  if (storageKey.length === 0 || storageKey[0] === 0) return undefined;
  const key = decodeStorageKey(storageKey);
  if (key.type !== bucketType) return undefined;
  if (bucket !== undefined && !bytesEqual(key.bucket, bucket)) return undefined;
  if (isDeleted(decodeObject(stored))) return undefined;
  return bucket === undefined ? key.bucket : key.key;
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
