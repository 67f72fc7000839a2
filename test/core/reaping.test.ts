import test from 'ava';
import { encodeObject, encodeStorageKey } from '../../src/core/codec.js';
import { type KvObject, applyWrite, emptyObject, mergeObjects } from '../../src/core/object.js';
import { confirmTombstone, judgeStored } from '../../src/core/reaping.js';
import { partitionOf } from '../../src/core/ring.js';

const Q = 16;
const text = new TextEncoder();
const content = (v: string) => ({ value: text.encode(v), contentType: 'text/plain', userMeta: [] });

function keyIn(partition: number): Uint8Array {
  for (let i = 0; ; i++) {
    const storageKey = encodeStorageKey({ type: 'default', bucket: text.encode('b'), key: text.encode(`k${i}`) });
    if (partitionOf(storageKey, Q) === partition) return storageKey;
  }
}

const live = applyWrite(emptyObject, { context: [], content: content('v'), deleted: false }, 'A', 100);
const tombstone = applyWrite(live, { context: live.vv, content: content(''), deleted: true }, 'A', 200);

test('only the first partition of a key looks after its tombstone, once it is old enough', (t) => {
  const key = keyIn(3);
  t.is(judgeStored(key, encodeObject(tombstone), 3, Q, 201), 'candidate');
  t.is(judgeStored(key, encodeObject(tombstone), 3, Q, 200), 'young', 'written at 200: not before 200');
  t.is(judgeStored(key, encodeObject(tombstone), 4, Q, 1000), 'skip', 'a replica further down the preference list');
  t.is(judgeStored(key, encodeObject(live), 3, Q, 1000), 'skip', 'a live value is never reaped');
  t.is(judgeStored(Uint8Array.of(0, 1), encodeObject(tombstone), 3, Q, 1000), 'skip', "a vnode's own records");
  const concurrent = applyWrite(tombstone, { context: live.vv, content: content('w'), deleted: false }, 'B', 300);
  t.is(judgeStored(key, encodeObject(concurrent), 3, Q, 1000), 'skip', 'a tombstone beside a live sibling is not a deleted object');
});

test('a tombstone is confirmed only when every replica holds exactly its version', (t) => {
  const bytes = encodeObject(tombstone);
  t.true(confirmTombstone(bytes, [bytes, bytes, bytes]).confirmed);
  const missing = confirmTombstone(bytes, [bytes, undefined, bytes]);
  t.false(missing.confirmed);
  t.regex(missing.confirmed ? '' : missing.reason, /replica 2 of 3 holds nothing/);
  t.false(confirmTombstone(bytes, [bytes, encodeObject(live), bytes]).confirmed, 'a replica that missed the delete');
  const newer: KvObject = applyWrite(tombstone, { context: tombstone.vv, content: content('again'), deleted: false }, 'A', 300);
  t.false(confirmTombstone(bytes, [bytes, bytes, encodeObject(newer)]).confirmed, 'a replica that took a write since');
  const other = applyWrite(live, { context: live.vv, content: content(''), deleted: true }, 'B', 250);
  t.false(confirmTombstone(bytes, [bytes, encodeObject(mergeObjects(tombstone, other)), bytes]).confirmed, 'a replica holding another delete as well');
});
