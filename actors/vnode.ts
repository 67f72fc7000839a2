// The vnode actor: owns one partition's data on its host. A request comes in, the core decides,
// the write goes to storage, and the reply goes out with the LSN that must be durable before the
// host may send it. It never sends a reply for a write that is not durable, and never shows a
// reader a value that is not durable yet (a dirty read could be lost in a crash).

import { applyPut, applyReplicate, listedItem } from '../src/core/vnode.js';
import { assertNever } from '../src/core/errors.js';
import type { VnodeReply, VnodeRequest } from '../src/core/messages.js';
import type { ActorId } from '../src/core/version-vector.js';
import type { VnodeStoragePort } from './ports.js';

/** The storage key under which a vnode keeps its causal identity; no object key starts with 0. */
export const actorIdKey = Uint8Array.of(0, 0x61, 0x63, 0x74, 0x6f, 0x72);

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
  constructor(
    readonly partition: number,
    readonly actorId: ActorId,
    private readonly storage: VnodeStoragePort,
  ) {}

  handle(request: VnodeRequest): VnodeOutcome {
    if (request.type === 'VnodeList') return this.list(request.requestId, request.partition, request.bucketType, request.bucket);
    const { requestId, partition, storageKey } = request;
    switch (request.type) {
      case 'VnodeGet': {
        const object = this.storage.get(partition, storageKey);
        return { early: [], reply: { type: 'VnodeGetReply', requestId, partition, object }, durableLsn: this.storage.pendingLsnOf(partition, storageKey) };
      }
      case 'VnodePut': {
        const applied = applyPut(this.storage.get(partition, storageKey), request, this.actorId);
        if (!applied.ok) return { early: [], reply: { type: 'VnodeFailed', requestId, partition, error: applied.error }, durableLsn: 0 };
        const lsn = this.storage.put(partition, storageKey, applied.value.bytes);
        return {
          early: [{ type: 'VnodePutApplied', requestId, partition, object: applied.value.bytes }],
          reply: { type: 'VnodePutReply', requestId, partition },
          durableLsn: lsn,
        };
      }
      case 'VnodeReplicate': {
        const merged = applyReplicate(this.storage.get(partition, storageKey), request.object);
        const lsn = merged === undefined ? this.storage.pendingLsnOf(partition, storageKey) : this.storage.put(partition, storageKey, merged);
        return { early: [], reply: { type: 'VnodeReplicateReply', requestId, partition, changed: merged !== undefined }, durableLsn: lsn };
      }
      default:
        return assertNever(request);
    }
  }

  /** Lists in chunks; each bucket name appears once per vnode (keys are sorted by bucket). */
  private list(requestId: number, partition: number, bucketType: string, bucket: Uint8Array | undefined): VnodeOutcome {
    const chunks: VnodeReply[] = [];
    let items: Uint8Array[] = [];
    let previous: Uint8Array | undefined;
    this.storage.forEach(partition, (key, value) => {
      const item = listedItem(key, value, bucketType, bucket);
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
