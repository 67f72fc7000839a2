// Tombstone reaping, the decisions: which stored objects are dead (tombstones, or expired by their
// TTL) for long enough to reap, and whether what the replicas answered confirms that every one of
// them holds that same version.
// A delete leaves a tombstone so that a replica which missed the delete cannot bring the value
// back; removing it is only safe once no replica (and no hint) still holds anything the tombstone
// does not supersede. The runtime (src/runtime/cluster/reaper.ts) asks, the vnodes remove
// (VnodeReap, removing only the exact bytes confirmed). Pure functions: time comes in as arguments.

import { decodeObject } from './codec.js';
import { type KvObject, isExpired, sameVersion } from './object.js';
import { partitionOf } from './ring.js';

export type StoredJudgement =
  /** A live object, or one another partition's vnode looks after. */
  | 'skip'
  /** Dead (deleted or expired), looked after here, but not for `delayMs` yet. */
  | 'young'
  /** Dead for at least `delayMs`: reaped once every replica is confirmed to hold it. */
  | 'candidate';

/**
 * When the object died: every sibling is a tombstone (dead since it was written) or has expired
 * at `nowMs` (dead since its expiry); undefined while any sibling is alive. An expired object is
 * reaped exactly like a tombstone: removing it on some replicas only, while another still held
 * the value its write superseded, would let anti-entropy spread that value back.
 */
export function deadSinceMs(object: KvObject, nowMs: number): number | undefined {
  if (object.siblings.length === 0) return undefined;
  let since = -Infinity;
  for (const s of object.siblings) {
    if (s.deleted) since = Math.max(since, s.lastModifiedMs);
    else if (isExpired(s, nowMs)) since = Math.max(since, s.expiresAtMs!);
    else return undefined;
  }
  return since;
}

/**
 * Judges one stored entry of `partition`'s vnode. Each key's tombstone is looked after by one
 * vnode only, that of the key's first partition (the head of its preference list), so the N
 * replicas do not all run the same confirmation.
 */
export function judgeStored(storageKey: Uint8Array, stored: Uint8Array, partition: number, partitionCount: number, nowMs: number, delayMs: number): StoredJudgement {
  if (storageKey.length === 0 || storageKey[0] === 0) return 'skip';
  if (partitionOf(storageKey, partitionCount) !== partition) return 'skip';
  const since = deadSinceMs(decodeObject(stored), nowMs);
  if (since === undefined) return 'skip';
  return since + delayMs < nowMs ? 'candidate' : 'young';
}

export type Confirmation = { readonly confirmed: true } | { readonly confirmed: false; readonly reason: string };

/**
 * Whether the replicas' answers confirm the dead object: every replica answered, holds an object,
 * and that object is exactly the same version. A replica holding nothing is not taken as
 * agreement — it may be a replica that lost its data and is being refilled — and a replica holding
 * anything newer or older keeps the key until anti-entropy or read repair makes them equal.
 */
export function confirmTombstone(tombstone: Uint8Array, answers: readonly (Uint8Array | undefined)[], nowMs: number): Confirmation {
  const mine = decodeObject(tombstone);
  if (deadSinceMs(mine, nowMs) === undefined) return { confirmed: false, reason: 'no longer a tombstone or expired' };
  for (const [i, answer] of answers.entries()) {
    if (answer === undefined) return { confirmed: false, reason: `replica ${i + 1} of ${answers.length} holds nothing for the key` };
    if (!sameVersion(decodeObject(answer), mine)) return { confirmed: false, reason: `replica ${i + 1} of ${answers.length} holds another version` };
  }
  return { confirmed: true };
}
