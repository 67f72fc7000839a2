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
  t.is(judgeStored(key, encodeObject(tombstone), 3, Q, 1201, 1000), 'candidate');
  t.is(judgeStored(key, encodeObject(tombstone), 3, Q, 1200, 1000), 'young', 'written at 200: not dead for more than 1000 ms at 1200');
  t.is(judgeStored(key, encodeObject(tombstone), 4, Q, 2000, 1000), 'skip', 'a replica further down the preference list');
  t.is(judgeStored(key, encodeObject(live), 3, Q, 2000, 1000), 'skip', 'a live value is never reaped');
  t.is(judgeStored(Uint8Array.of(0, 1), encodeObject(tombstone), 3, Q, 2000, 1000), 'skip', "a vnode's own records");
  const concurrent = applyWrite(tombstone, { context: live.vv, content: content('w'), deleted: false }, 'B', 300);
  t.is(judgeStored(key, encodeObject(concurrent), 3, Q, 2000, 1000), 'skip', 'a tombstone beside a live sibling is not a deleted object');
});

test('a tombstone is confirmed only when every replica holds exactly its version', (t) => {
  const bytes = encodeObject(tombstone);
  t.true(confirmTombstone(bytes, [bytes, bytes, bytes], 10_000).confirmed);
  const missing = confirmTombstone(bytes, [bytes, undefined, bytes], 10_000);
  t.false(missing.confirmed);
  t.regex(missing.confirmed ? '' : missing.reason, /replica 2 of 3 holds nothing/);
  t.false(confirmTombstone(bytes, [bytes, encodeObject(live), bytes], 10_000).confirmed, 'a replica that missed the delete');
  const newer: KvObject = applyWrite(tombstone, { context: tombstone.vv, content: content('again'), deleted: false }, 'A', 300);
  t.false(confirmTombstone(bytes, [bytes, bytes, encodeObject(newer)], 10_000).confirmed, 'a replica that took a write since');
  const other = applyWrite(live, { context: live.vv, content: content(''), deleted: true }, 'B', 250);
  t.false(confirmTombstone(bytes, [bytes, encodeObject(mergeObjects(tombstone, other)), bytes], 10_000).confirmed, 'a replica holding another delete as well');
});

test('an object whose siblings have all expired is reaped like a tombstone, counted from its expiry', (t) => {
  const key = keyIn(5);
  const expiring = applyWrite(live, { context: live.vv, content: content('session'), deleted: false, expiresAtMs: 5_000 }, 'A', 300);
  const bytes = encodeObject(expiring);
  t.is(judgeStored(key, bytes, 5, Q, 4_999, 1000), 'skip', 'not expired yet: alive');
  t.is(judgeStored(key, bytes, 5, Q, 5_500, 1000), 'young', 'expired at 5000, not 1000 ms ago');
  t.is(judgeStored(key, bytes, 5, Q, 6_001, 1000), 'candidate');
  const beside = applyWrite(expiring, { context: [], content: content('forever'), deleted: false }, 'B', 400);
  t.is(judgeStored(key, encodeObject(beside), 5, Q, 100_000, 1000), 'skip', 'a sibling without expiry keeps the object alive');
  t.true(confirmTombstone(bytes, [bytes, bytes, bytes], 6_001).confirmed);
  t.false(confirmTombstone(bytes, [bytes, encodeObject(live), bytes], 6_001).confirmed, 'a replica that missed the expiring write still holds the value it superseded');
  t.false(confirmTombstone(bytes, [bytes, bytes, bytes], 4_000).confirmed, 'not dead at this time');
});
