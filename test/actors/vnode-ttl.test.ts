// The vnode actor and the worker's background purge with per-object TTL: repair into a vnode
// never stores an expired object, drops a superseded one through removeIfUnchanged, and the
// purge removes only objects still expired and unchanged when it gets to them (docs/ttl.md).

import test from 'ava';
import type { VnodeStoragePort } from '../../actors/ports.js';
import { VnodeActor, removedKeyFloorKey } from '../../actors/vnode.js';
import { decodeObject } from '../../src/core/codec.js';
import type { VnodePut } from '../../src/core/messages.js';
import { TtlPurger } from '../../src/runtime/vnode-host/ttl-purge.js';

/** A storage port kept in a sorted map, every append durable at once. */
class MapStorage implements VnodeStoragePort {
  readonly data = new Map<string, { key: Uint8Array; value: Uint8Array }>();
  private lsn = 0;
  private id(partition: number, key: Uint8Array): string {
    return `${partition}:${Buffer.from(key).toString('hex')}`;
  }
  get(partition: number, key: Uint8Array): Uint8Array | undefined {
    return this.data.get(this.id(partition, key))?.value;
  }
  pendingLsnOf(): number {
    return 0;
  }
  put(partition: number, key: Uint8Array, value: Uint8Array): number {
    this.data.set(this.id(partition, key), { key, value });
    return ++this.lsn;
  }
  remove(partition: number, key: Uint8Array): number {
    this.data.delete(this.id(partition, key));
    return ++this.lsn;
  }
  forEach(partition: number, fn: (key: Uint8Array, value: Uint8Array) => void): void {
    for (const [id, entry] of [...this.data].sort(([a], [b]) => (a < b ? -1 : 1))) if (id.startsWith(`${partition}:`)) fn(entry.key, entry.value);
  }
  /** The fold the purge reads, `maxItems` at a time. */
  foldBatch(partition: number, afterKey: Uint8Array | undefined, maxItems: number) {
    const all: { key: Uint8Array; value: Uint8Array }[] = [];
    this.forEach(partition, (key, value) => all.push({ key, value }));
    const after = afterKey === undefined ? '' : Buffer.from(afterKey).toString('hex');
    const rest = all.filter((e) => Buffer.from(e.key).toString('hex') > after);
    const items = rest.slice(0, maxItems);
    return { items, done: rest.length <= maxItems, resumeAfter: items.at(-1)?.key };
  }
}

let requestId = 0;
const keyOf = (n: number) => Uint8Array.of(1, n);

/** A write with the context of what the vnode holds, so it supersedes it. */
function write(vnode: VnodeActor, key: Uint8Array, nowMs: number, expiresAtMs?: number, held?: Uint8Array): Uint8Array {
  const put: VnodePut = {
    type: 'VnodePut', requestId: ++requestId, partition: 0, storageKey: key, context: held === undefined ? [] : decodeObject(held).vv,
    content: { value: new TextEncoder().encode('v'), contentType: 'text/plain', userMeta: [] },
    deleted: false, nowMs, ifNoneMatch: false, ifNotModified: false, maxSiblings: 100, lastWriteWins: false, allowMult: true, localReplicas: [],
    ...(expiresAtMs === undefined ? {} : { expiresAtMs }),
  };
  const outcome = vnode.handle(put);
  if (outcome.early[0]?.type !== 'VnodePutApplied') throw new Error(`write failed: ${JSON.stringify(outcome.reply)}`);
  return outcome.early[0].object;
}

function replicate(vnode: VnodeActor, key: Uint8Array, object: Uint8Array): boolean | undefined {
  const outcome = vnode.handle({ type: 'VnodeReplicate', requestId: ++requestId, partition: 0, storageKey: key, object });
  return outcome.reply.type === 'VnodeReplicateReply' ? outcome.reply.changed : undefined;
}

test('repair into a vnode: an expired object is not stored where the key is absent, and drops the value it superseded', (t) => {
  const clock = { nowMs: 1000 };
  const source = new VnodeActor(0, 'A', new MapStorage(), () => clock.nowMs);
  const older = write(source, keyOf(1), 1000);
  const storage = new MapStorage();
  const replica = new VnodeActor(0, 'B', storage, () => clock.nowMs);
  t.true(replicate(replica, keyOf(1), older));
  const expiring = write(source, keyOf(1), 1100, 2000, older);
  clock.nowMs = 2000;
  t.false(replicate(replica, keyOf(2), expiring), 'absent key: nothing stored');
  t.is(storage.get(0, keyOf(2)), undefined);
  t.true(replicate(replica, keyOf(1), expiring), 'the superseded value is dropped');
  t.is(storage.get(0, keyOf(1)), undefined);
  const listed = replica.handle({ type: 'VnodeList', requestId: ++requestId, partition: 0, bucketType: 'default', bucket: undefined });
  t.like(listed.reply, { items: [] });
});

test('the purge removes entirely expired objects through removeIfUnchanged, in chunks, and counts them', async (t) => {
  const clock = { nowMs: 1000 };
  const storage = new MapStorage();
  const vnode = new VnodeActor(0, 'A', storage, () => clock.nowMs);
  for (let i = 0; i < 7; i++) write(vnode, keyOf(i), 1000, i < 5 ? 2000 : undefined);
  let turns = 0;
  let rewritten = false;
  const purger = new TtlPurger({
    source: storage,
    partitions: () => [0],
    purge: (_partition, key, value) => {
      // A write lands on key 4 between the scan and its removal: it must be kept.
      if (!rewritten && key[1] === 4) {
        rewritten = true;
        write(vnode, keyOf(4), clock.nowMs, clock.nowMs + 60_000);
      }
      return vnode.removeIfUnchanged(key, value).removed;
    },
    yieldTurn: async () => {
      turns++;
    },
    nowMs: () => clock.nowMs,
    chunkKeys: 2,
  });
  await purger.sweep();
  t.is(purger.stats().ttlPurged, 0, 'nothing expired yet');
  clock.nowMs = 2000;
  await purger.sweep();
  t.deepEqual(purger.stats(), { ttlPurged: 4, ttlPurgeSweeps: 2 });
  t.true(turns >= 6, 'yields between chunks');
  const left = [...storage.data.values()].filter((e) => e.key[0] !== 0).map((e) => e.key[1]);
  t.deepEqual(left.sort(), [4, 5, 6]);
  t.true(Number(new TextDecoder().decode(storage.get(0, removedKeyFloorKey))) >= 1, 'the removed-key floor was raised');
  t.false(decodeObject(storage.get(0, keyOf(4))!).siblings.some((s) => s.expiresAtMs === 2000));
});
