// The vnode actor with per-object TTL: repair into a vnode spreads an expired object like any
// other (reaping removes it once every replica holds it, docs/ttl.md), and it supersedes the
// value it replaced. Listing leaves expired keys out (test/core/ttl.test.ts).

import test from 'ava';
import { MapStorage } from './map-storage.js';
import { VnodeActor, removedKeyFloorKey } from '../../actors/vnode.js';
import { decodeObject } from '../../src/core/codec.js';
import type { VnodePut } from '../../src/core/messages.js';

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

test('repair into a vnode: an expired object is stored like any other, supersedes the value it replaced', (t) => {
  const clock = { nowMs: 1000 };
  const source = new VnodeActor(0, 'A', new MapStorage(), () => clock.nowMs);
  const older = write(source, keyOf(1), 1000);
  const storage = new MapStorage();
  const replica = new VnodeActor(0, 'B', storage, () => clock.nowMs);
  t.true(replicate(replica, keyOf(1), older));
  const expiring = write(source, keyOf(1), 1100, 2000, older);
  clock.nowMs = 2000;
  t.true(replicate(replica, keyOf(2), expiring), 'absent key: the expired object is stored, so reaping can confirm it');
  t.true(replicate(replica, keyOf(1), expiring));
  t.false(decodeObject(storage.get(0, keyOf(1))!).siblings.some((s) => s.expiresAtMs === undefined), 'the value it superseded is gone');
  t.false(replicate(replica, keyOf(1), expiring), 'a second delivery changes nothing');
});

test('an expired object is removed through removeIfUnchanged (as reaping does), which raises the removed-key floor', (t) => {
  const clock = { nowMs: 1000 };
  const storage = new MapStorage();
  const vnode = new VnodeActor(0, 'A', storage, () => clock.nowMs);
  const expiring = write(vnode, keyOf(3), 1000, 2000);
  clock.nowMs = 3000;
  t.true(vnode.removeIfUnchanged(keyOf(3), expiring).removed);
  t.true(Number(new TextDecoder().decode(storage.get(0, removedKeyFloorKey))) >= 1, 'the removed-key floor was raised');
});
