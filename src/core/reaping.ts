// Tombstone reaping, the decisions: which stored objects are tombstones old enough to reap, and
// whether what the replicas answered confirms that every one of them holds that same tombstone.
// A delete leaves a tombstone so that a replica which missed the delete cannot bring the value
// back; removing it is only safe once no replica (and no hint) still holds anything the tombstone
// does not supersede. The runtime (src/runtime/cluster/reaper.ts) asks, the vnodes remove
// (VnodeReap, removing only the exact bytes confirmed). Pure functions: time comes in as arguments.

import { decodeObject } from './codec.js';
import { isDeleted, sameVersion } from './object.js';
import { partitionOf } from './ring.js';

export type StoredJudgement =
  /** A live object, or a tombstone another partition's vnode looks after. */
  | 'skip'
  /** A tombstone this partition looks after, younger than the reap delay. */
  | 'young'
  /** A tombstone this partition looks after, old enough to reap once confirmed. */
  | 'candidate';

/**
 * Judges one stored entry of `partition`'s vnode. Each key's tombstone is looked after by one
 * vnode only, that of the key's first partition (the head of its preference list), so the N
 * replicas do not all run the same confirmation. `reapBeforeMs`: a tombstone whose newest sibling
 * was written before it is old enough.
 */
export function judgeStored(storageKey: Uint8Array, stored: Uint8Array, partition: number, partitionCount: number, reapBeforeMs: number): StoredJudgement {
  if (storageKey.length === 0 || storageKey[0] === 0) return 'skip';
  if (partitionOf(storageKey, partitionCount) !== partition) return 'skip';
  const object = decodeObject(stored);
  if (!isDeleted(object)) return 'skip';
  const newest = Math.max(...object.siblings.map((s) => s.lastModifiedMs));
  return newest < reapBeforeMs ? 'candidate' : 'young';
}

export type Confirmation = { readonly confirmed: true } | { readonly confirmed: false; readonly reason: string };

/**
 * Whether the replicas' answers confirm the tombstone: every replica answered, holds an object,
 * and that object is exactly the tombstone's version. A replica holding nothing is not taken as
 * agreement — it may be a replica that lost its data and is being refilled — and a replica holding
 * anything newer or older keeps the tombstone until anti-entropy or read repair makes them equal.
 */
export function confirmTombstone(tombstone: Uint8Array, answers: readonly (Uint8Array | undefined)[]): Confirmation {
  const mine = decodeObject(tombstone);
  if (!isDeleted(mine)) return { confirmed: false, reason: 'no longer a tombstone' };
  for (const [i, answer] of answers.entries()) {
    if (answer === undefined) return { confirmed: false, reason: `replica ${i + 1} of ${answers.length} holds nothing for the key` };
    if (!sameVersion(decodeObject(answer), mine)) return { confirmed: false, reason: `replica ${i + 1} of ${answers.length} holds another version` };
  }
  return { confirmed: true };
}
