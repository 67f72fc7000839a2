import test from 'ava';
import { MapStorage } from './map-storage.js';
import { VnodeActor, removedKeyFloorKey } from '../../actors/vnode.js';
import { decodeObject, encodeContext } from '../../src/core/codec.js';
import type { VnodePut } from '../../src/core/messages.js';
import { mergeObjects } from '../../src/core/object.js';

const key = Uint8Array.of(1, 2, 3);
let requestId = 0;

function write(vnode: VnodeActor, value: string, context: Uint8Array | undefined, deleted = false): Uint8Array {
  const put: VnodePut = {
    type: 'VnodePut', requestId: ++requestId, partition: 0, storageKey: key,
    context: context === undefined ? [] : decodeObject(context).vv,
    content: { value: new TextEncoder().encode(value), contentType: 'text/plain', userMeta: [] },
    deleted, nowMs: requestId, ifNoneMatch: false, ifNotModified: false, maxSiblings: 100, lastWriteWins: false, allowMult: true, localReplicas: [],
  };
  const outcome = vnode.handle(put);
  if (outcome.early[0]?.type !== 'VnodePutApplied') throw new Error(`write failed: ${JSON.stringify(outcome.reply)}`);
  return outcome.early[0].object;
}

test('a key is removed only while it still holds the bytes judged removable', (t) => {
  const storage = new MapStorage();
  const vnode = new VnodeActor(0, 'A', storage);
  const live = write(vnode, 'v1', undefined);
  const tombstone = write(vnode, '', live, true);
  t.false(vnode.removeIfUnchanged(key, live).removed, 'the object changed since: nothing removed');
  t.truthy(storage.get(0, key));
  t.true(vnode.removeIfUnchanged(key, tombstone).removed);
  t.is(storage.get(0, key), undefined);
  t.false(vnode.removeIfUnchanged(key, tombstone).removed, 'already gone');
});

test('after a removal, a new write never reuses a dot a stale copy has seen, and the stale copy keeps the new value', (t) => {
  const storage = new MapStorage();
  const vnode = new VnodeActor(0, 'A', storage);
  const v1 = write(vnode, 'v1', undefined);
  const v2 = write(vnode, 'v2', v1);
  const tombstone = write(vnode, '', v2, true);
  // Another replica still holds the tombstone (its removal failed, or has not run yet).
  const staleCopy = decodeObject(tombstone);
  t.true(vnode.removeIfUnchanged(key, tombstone).removed);

  const fresh = decodeObject(write(vnode, 'after', undefined));
  const dot = fresh.siblings[0]!.dot;
  t.true(dot.counter > 3, `the new dot (${dot.actor}, ${dot.counter}) is above every counter of the removed object`);
  const merged = mergeObjects(staleCopy, fresh);
  t.deepEqual(
    merged.siblings.filter((s) => !s.deleted).map((s) => new TextDecoder().decode(s.value)),
    ['after'],
    'the stale tombstone does not swallow the new write',
  );
});

test('after a removal, the floor holds even once another replica wrote the key here again (simulator seed 7)', (t) => {
  const storage = new MapStorage();
  const a = new VnodeActor(0, 'A', storage);
  const b = new VnodeActor(0, 'B', new MapStorage());
  // A coordinated a write of the key; a client context saw it; the key was deleted and reaped here.
  const v1 = write(a, 'v1', undefined);
  const sawV1 = decodeObject(v1).vv;
  const tombstone = write(a, '', v1, true);
  t.true(a.removeIfUnchanged(key, tombstone).removed);
  // B coordinates a new write, which A receives by replication: A holds the key again, and its
  // vector says nothing of A's counters from before the removal.
  const fromB = write(b, 'via-b', undefined);
  a.handle({ type: 'VnodeReplicate', requestId: ++requestId, partition: 0, storageKey: key, object: fromB });
  t.is(decodeObject(storage.get(0, key)!).vv.find((d) => d.actor === 'A'), undefined);

  const next = decodeObject(write(a, 'via-a', storage.get(0, key)));
  const dot = next.siblings.find((s) => s.dot.actor === 'A')!.dot;
  t.true(dot.counter > 2, `A mints (A, ${dot.counter}), above the counters of the removed object`);
  t.false(sawV1.some((d) => d.actor === dot.actor && d.counter >= dot.counter), 'a context from before the delete has not seen the new write');
});

test('the floor survives a restart of the vnode (it is stored, not kept in memory only)', (t) => {
  const storage = new MapStorage();
  const first = new VnodeActor(0, 'A', storage);
  let context: Uint8Array | undefined;
  for (let i = 0; i < 5; i++) context = write(first, `v${i}`, context);
  const tombstone = write(first, '', context, true);
  t.true(first.removeIfUnchanged(key, tombstone).removed);
  t.truthy(storage.get(0, removedKeyFloorKey));

  const restarted = new VnodeActor(0, 'A', storage);
  const fresh = decodeObject(write(restarted, 'again', undefined));
  t.true(fresh.siblings[0]!.dot.counter > 6);
  t.not(encodeContext(fresh.vv).length, 0);
});
