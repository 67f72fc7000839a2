// The vnode actor: owns one partition's data on its host. A request comes in, the core decides,
// the write goes to storage, and the reply goes out with the LSN that must be durable before the
// host may send it. It never sends a reply for a write that is not durable, and never shows a
// reader a value that is not durable yet (a dirty read could be lost in a crash).

import { applyPut, applyReplicateDecoded, listedItem } from '../src/core/vnode.js';
import { assertNever } from '../src/core/errors.js';
import type { VnodeReply, VnodeRequest } from '../src/core/messages.js';
import { decodeObject } from '../src/core/codec.js';
import { type ActorId, vvGet } from '../src/core/version-vector.js';
import type { VnodeStoragePort } from './ports.js';

/** The storage key under which a vnode keeps its causal identity; no object key starts with 0. */
export const actorIdKey = Uint8Array.of(0, 0x61, 0x63, 0x74, 0x6f, 0x72);

/**
 * The storage key under which a vnode keeps its removed-key floor: the highest counter its actor
 * had put into any object it has since removed (a reaped tombstone or expired object).
 * Without it, a write to a removed key would start counting again from 1 and could mint a dot a
 * stale copy elsewhere has already seen, and that copy would then drop the new value on merge.
 */
export const removedKeyFloorKey = Uint8Array.of(0, 0x66, 0x6c, 0x6f, 0x6f, 0x72);

/** Items per listing chunk, so one partition's listing never becomes one giant message. */
export const listChunkItems = 1000;

export interface VnodeOutcome {
  /** Sent at once, before durability: the applied result of a client write, listing chunks. */
  readonly early: readonly VnodeReply[];
  readonly reply: VnodeReply;
  /** Send the reply once this LSN is durable (0: at once). */
  readonly durableLsn: number;
}

/**
 * Returns the vnode's actor id, making a fresh one when the partition has none, or when the host
 * did not shut down cleanly (`renew`). A vnode hands the object of a write to the other replicas
 * before its own copy is durable, so after a crash it may have minted dots it no longer
 * remembers; under its old identity it could mint the same dot again for a different value. A
 * partition that lost its data must likewise never reuse the identity it wrote under before.
 */
export function ensureActorId(partition: number, storage: VnodeStoragePort, freshId: () => ActorId, renew: boolean): { actorId: ActorId; lsn: number } {
  const stored = storage.get(partition, actorIdKey);
  if (stored !== undefined && !renew) return { actorId: new TextDecoder().decode(stored), lsn: storage.pendingLsnOf(partition, actorIdKey) };
  const actorId = freshId();
  return { actorId, lsn: storage.put(partition, actorIdKey, new TextEncoder().encode(actorId)) };
}

export class VnodeActor {
  private removedKeyFloor: number;

  constructor(
    readonly partition: number,
    readonly actorId: ActorId,
    private readonly storage: VnodeStoragePort,
    /**
     * The host's clock, against which expiry is judged when merging replicas and listing (see
     * docs/ttl.md). The default, time 0, sees nothing as expired: for hosts that predate TTL.
     */
    private readonly nowMs: () => number = () => 0,
  ) {
    const stored = storage.get(partition, removedKeyFloorKey);
    this.removedKeyFloor = stored === undefined ? 0 : Number(new TextDecoder().decode(stored));
  }

  /**
   * Removes a key, but only when it still holds exactly `expected` (the bytes that were judged
   * removable: a tombstone every replica holds, an expired object). The floor is raised first, in
   * the same log, so a later write to the key never reuses a dot of the removed object.
   */
  removeIfUnchanged(storageKey: Uint8Array, expected: Uint8Array): { readonly removed: boolean; readonly lsn: number } {
    const stored = this.storage.get(this.partition, storageKey);
    if (stored === undefined || !sameBytes(stored, expected)) return { removed: false, lsn: this.storage.pendingLsnOf(this.partition, storageKey) };
    const counter = vvGet(decodeObject(stored).vv, this.actorId);
    if (counter > this.removedKeyFloor) {
      this.removedKeyFloor = counter;
      this.storage.put(this.partition, removedKeyFloorKey, new TextEncoder().encode(String(counter)));
    }
    return { removed: true, lsn: this.storage.remove(this.partition, storageKey) };
  }

  handle(request: VnodeRequest): VnodeOutcome {
    if (request.type === 'VnodeList') return this.list(request.requestId, request.partition, request.bucketType, request.bucket);
    const { requestId, partition, storageKey } = request;
    switch (request.type) {
      case 'VnodeGet': {
        const object = this.storage.get(partition, storageKey);
        return { early: [], reply: { type: 'VnodeGetReply', requestId, partition, object }, durableLsn: this.storage.pendingLsnOf(partition, storageKey) };
      }
      case 'VnodePut': {
        const current = this.storage.get(partition, storageKey);
        const applied = applyPut(current, request, this.actorId, this.removedKeyFloor);
        if (!applied.ok) return { early: [], reply: { type: 'VnodeFailed', requestId, partition, error: applied.error }, durableLsn: 0 };
        // Bytes other than the stored ones were encoded from applied.value.object; the stored ones
        // come back when this vnode already holds the write, with expired siblings left out of the object.
        const exact = applied.value.bytes === current ? undefined : applied.value.object;
        const lsn = this.storage.put(partition, storageKey, applied.value.bytes, exact);
        return {
          early: [{ type: 'VnodePutApplied', requestId, partition, object: applied.value.bytes }],
          reply: { type: 'VnodePutReply', requestId, partition },
          durableLsn: lsn,
        };
      }
      case 'VnodeReplicate':
        return this.replicate(requestId, partition, storageKey, request.object);
      case 'VnodeReap': {
        const { removed, lsn } = this.removeIfUnchanged(storageKey, request.object);
        return { early: [], reply: { type: 'VnodeReapReply', requestId, partition, removed }, durableLsn: lsn };
      }
      default:
        return assertNever(request);
    }
  }

  /**
   * Merges a replica in. Expired siblings merge like any others: expiry travels with the object,
   * and an expired object leaves storage only through reaping, once every replica holds it
   * (src/core/reaping.ts). Dropping it here could leave a replica that missed the expiring write
   * as the only holder of the value that write superseded, and anti-entropy would spread it back.
   */
  private replicate(requestId: number, partition: number, storageKey: Uint8Array, object: Uint8Array): VnodeOutcome {
    const merged = applyReplicateDecoded(this.storage.get(partition, storageKey), object);
    const lsn = merged === undefined ? this.storage.pendingLsnOf(partition, storageKey) : this.storage.put(partition, storageKey, merged.bytes, merged.object);
    return { early: [], reply: { type: 'VnodeReplicateReply', requestId, partition, changed: merged !== undefined }, durableLsn: lsn };
  }

  /** Lists in chunks; each bucket name appears once per vnode (keys are sorted by bucket). */
  private list(requestId: number, partition: number, bucketType: string, bucket: Uint8Array | undefined): VnodeOutcome {
    const chunks: VnodeReply[] = [];
    let items: Uint8Array[] = [];
    let previous: Uint8Array | undefined;
    const nowMs = this.nowMs();
    this.storage.forEach(partition, (key, value) => {
      const item = listedItem(key, value, bucketType, bucket, nowMs);
      if (item === undefined) return;
      if (bucket === undefined && previous !== undefined && sameBytes(previous, item)) return;
      previous = item;
      items.push(item);
      if (items.length >= listChunkItems) {
        chunks.push({ type: 'VnodeListChunk', requestId, partition, items, done: false });
        items = [];
      }
    });
    return { early: chunks, reply: { type: 'VnodeListChunk', requestId, partition, items, done: true }, durableLsn: 0 };
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
