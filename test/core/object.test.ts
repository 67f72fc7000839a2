import test from 'ava';
import fc from 'fast-check';
import { applyWrite, emptyObject, isDeleted, liveSiblings, mergeObjects, objectDescends, sameVersion } from '../../src/core/object.js';
import { vvCoversDot, vvDescends } from '../../src/core/version-vector.js';
import { arbHistory, arbObject, content, dots, replay } from './arbitraries.js';

const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);

test('a write with the current context replaces the value', (t) => {
  const v1 = applyWrite(emptyObject, { context: [], content: content(1), deleted: false }, 'a', 10);
  const v2 = applyWrite(v1, { context: v1.vv, content: content(2), deleted: false }, 'a', 20);
  t.is(v2.siblings.length, 1);
  t.is(text(v2.siblings[0]!.value), '2');
  t.is(v2.siblings[0]!.lastModifiedMs, 20);
});

test('a blind or stale write beside an existing value makes a sibling', (t) => {
  const v1 = applyWrite(emptyObject, { context: [], content: content(1), deleted: false }, 'a', 1);
  const blind = applyWrite(v1, { context: [], content: content(2), deleted: false }, 'a', 2);
  t.deepEqual(blind.siblings.map((s) => text(s.value)), ['1', '2']);
  const stale = applyWrite(blind, { context: v1.vv, content: content(3), deleted: false }, 'a', 3);
  t.deepEqual(stale.siblings.map((s) => text(s.value)), ['2', '3'], 'the stale context covered only value 1');
  const resolved = applyWrite(stale, { context: stale.vv, content: content(4), deleted: false }, 'a', 4);
  t.deepEqual(resolved.siblings.map((s) => text(s.value)), ['4']);
});

test('a delete is a tombstone that reads as deleted and supersedes what its context saw', (t) => {
  const v1 = applyWrite(emptyObject, { context: [], content: content(1), deleted: false }, 'a', 1);
  const gone = applyWrite(v1, { context: v1.vv, content: content(0), deleted: true }, 'a', 2);
  t.true(isDeleted(gone));
  t.is(liveSiblings(gone).length, 0);
  const concurrent = applyWrite(v1, { context: [], content: content(5), deleted: false }, 'b', 2);
  const merged = mergeObjects(gone, concurrent);
  t.false(isDeleted(merged), 'a concurrent write survives the delete');
  t.deepEqual(liveSiblings(merged).map((s) => text(s.value)), ['5']);
});

test('merge is commutative, associative and idempotent over replicated histories', (t) => {
  fc.assert(
    fc.property(arbObject(), arbObject(), arbObject(), (a, b, c) => {
      t.true(sameVersion(mergeObjects(a, b), mergeObjects(b, a)));
      t.true(sameVersion(mergeObjects(mergeObjects(a, b), c), mergeObjects(a, mergeObjects(b, c))));
      t.true(sameVersion(mergeObjects(a, a), a));
    }),
    { numRuns: 300 },
  );
});

test('every sibling dot is covered by the object vector and no acknowledged concurrent write is lost', (t) => {
  fc.assert(
    fc.property(arbHistory(3, 30), (history) => {
      const replicas = replay(history, 3);
      let all = replicas[0]!;
      for (const r of replicas) all = mergeObjects(all, r);
      for (const r of [...replicas, all]) {
        for (const s of r.siblings) t.true(vvCoversDot(r.vv, s.dot));
        t.true(vvDescends(all.vv, r.vv));
        t.true(objectDescends(all, r));
      }
      // A sibling of any replica disappears from the full merge only if some merged context covered it.
      for (const r of replicas) {
        for (const s of r.siblings) {
          if (!all.siblings.some((x) => x.dot.actor === s.dot.actor && x.dot.counter === s.dot.counter)) {
            t.true(vvCoversDot(all.vv, s.dot));
          }
        }
      }
    }),
    { numRuns: 300 },
  );
});

test('siblings stay bounded by the number of concurrent writers', (t) => {
  // Two clients interleave writes, each always writing with the context of its own last read:
  // with dotted version vectors the object never holds more than two siblings.
  let object = emptyObject;
  let ctxA = object.vv;
  let ctxB = object.vv;
  let maxSiblings = 0;
  for (let i = 0; i < 200; i++) {
    object = applyWrite(object, { context: ctxA, content: content(i), deleted: false }, 'replica', i);
    ctxA = object.vv;
    object = applyWrite(object, { context: ctxB, content: content(-i), deleted: false }, 'replica', i);
    ctxB = object.vv;
    maxSiblings = Math.max(maxSiblings, object.siblings.length);
  }
  t.is(maxSiblings, 2);
  t.deepEqual(dots(object).length, 2);
});

test('allow_mult=false keeps only the newest sibling at write time, so blind writes never pile up', async (t) => {
  const { applyPut } = await import('../../src/core/vnode.js');
  const { decodeObject } = await import('../../src/core/codec.js');
  let stored: Uint8Array | undefined;
  for (let i = 0; i < 200; i++) {
    const result = applyPut(stored, {
      type: 'VnodePut', requestId: 1, partition: 0, storageKey: Uint8Array.of(1), context: [], content: content(i), deleted: false,
      nowMs: 1000 + i, ifNoneMatch: false, ifNotModified: false, maxSiblings: 100, lastWriteWins: false, allowMult: false, localReplicas: [],
    }, 'a');
    t.true(result.ok);
    if (result.ok) stored = result.value.bytes;
  }
  const object = decodeObject(stored!);
  t.is(object.siblings.length, 1);
  t.is(text(object.siblings[0]!.value), '199');
});
