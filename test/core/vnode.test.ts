// The limits on a client write, decided by the replica that applies it: a hard bound on the stored
// object's size (all siblings, encoded) refuses the write with object_too_large; soft bounds only
// produce warnings; and merges (replication, read repair, handoff, anti-entropy) are never refused,
// whatever the object they produce.

import test from 'ava';
import { decodeObject, encodeObject } from '../../src/core/codec.js';
import { PutCoordinator } from '../../src/core/coordinator.js';
import type { ResolvedWrite } from '../../src/core/bucket.js';
import type { VnodePut } from '../../src/core/messages.js';
import { type KvObject, applyWrite, emptyObject, mergeObjects } from '../../src/core/object.js';
import { applyPut, applyReplicate, writeWarnings } from '../../src/core/vnode.js';

const kib = (n: number, fill: number): Uint8Array => new Uint8Array(n * 1024).fill(fill);

function blindPut(value: Uint8Array, bounds: { maxSiblings?: number; maxObjectBytes?: number; context?: VnodePut['context'] } = {}): VnodePut {
  return {
    type: 'VnodePut', requestId: 1, partition: 0, storageKey: Uint8Array.of(1), context: bounds.context ?? [],
    content: { value, contentType: 'application/octet-stream', userMeta: [] }, deleted: false, nowMs: 1,
    ifNoneMatch: false, ifNotModified: false, maxSiblings: bounds.maxSiblings ?? 100, lastWriteWins: false, allowMult: true, localReplicas: [],
    ...(bounds.maxObjectBytes === undefined ? {} : { maxObjectBytes: bounds.maxObjectBytes }),
  };
}

/** An object of `count` concurrent siblings of `bytes` KiB each, written blind by distinct actors. */
function concurrentSiblings(count: number, kibEach: number): KvObject {
  let object: KvObject = emptyObject;
  for (let i = 0; i < count; i++) object = mergeObjects(object, applyWrite(emptyObject, { context: [], content: { value: kib(kibEach, i), contentType: 'x', userMeta: [] }, deleted: false }, `actor${String(i).padStart(3, '0')}`, i));
  return object;
}

test('a client write that would leave the stored object over maxObjectBytes is refused with object_too_large', (t) => {
  let stored: Uint8Array | undefined;
  const limit = 10 * 1024;
  for (let i = 0; i < 3; i++) {
    const result = applyPut(stored, blindPut(kib(3, i), { maxObjectBytes: limit }), 'a');
    t.true(result.ok, `sibling ${i + 1} fits`);
    if (result.ok) stored = result.value.bytes;
  }
  const refused = applyPut(stored, blindPut(kib(3, 9), { maxObjectBytes: limit }), 'a');
  t.false(refused.ok);
  if (!refused.ok) {
    t.is(refused.error.code, 'object_too_large');
    t.regex(refused.error.message, /4 siblings\), more than the limit of 10240/);
  }
  // Writing back with the context resolves the siblings, and the result fits again.
  const resolved = applyPut(stored, blindPut(kib(3, 9), { maxObjectBytes: limit, context: decodeObject(stored!).vv }), 'a');
  t.true(resolved.ok);
  if (resolved.ok) t.is(resolved.value.object.siblings.length, 1);
  // Without a bound (a peer that predates it) the same write is applied.
  t.true(applyPut(stored, blindPut(kib(3, 9)), 'a').ok);
});

test('a repair merge producing an object over both hard bounds is still stored', (t) => {
  const maxSiblings = 10;
  const maxObjectBytes = 16 * 1024;
  // Two replicas each hold 8 concurrent siblings of 2 KiB: each fits, their merge fits neither bound.
  const left = concurrentSiblings(8, 2);
  const right = mergeObjects(emptyObject, concurrentSiblings(16, 2));
  const rightOnly: KvObject = { siblings: right.siblings.slice(8), vv: right.vv.slice(8) };
  const merged = applyReplicate(encodeObject(left), encodeObject(rightOnly));
  t.not(merged, undefined, 'the merge is written');
  const object = decodeObject(merged!);
  t.is(object.siblings.length, 16);
  t.true(object.siblings.length > maxSiblings);
  t.true(merged!.length > maxObjectBytes, `${merged!.length} bytes`);
  // Into an empty replica (handoff, a fallback's hint) it is stored as it is.
  t.is(applyReplicate(undefined, merged!), merged);
  // A client write adding a sibling to it is refused; one resolving it is not.
  const adding = applyPut(merged, blindPut(kib(1, 1), { maxSiblings, maxObjectBytes }), 'a');
  t.false(adding.ok);
  if (!adding.ok) t.is(adding.error.code, 'too_many_siblings');
  const resolving = applyPut(merged, blindPut(kib(1, 1), { maxSiblings, maxObjectBytes, context: object.vv }), 'a');
  t.true(resolving.ok);
});

test('soft bounds produce warnings, not refusals', (t) => {
  const object = concurrentSiblings(4, 1);
  const bytes = encodeObject(object).length;
  t.deepEqual(writeWarnings(object, bytes, { warnSiblings: 4, warnObjectBytes: bytes }), []);
  t.deepEqual(writeWarnings(object, bytes, { warnSiblings: 3, warnObjectBytes: bytes - 1 }), [
    { kind: 'siblings', siblings: 4, warnSiblings: 3 },
    { kind: 'object_size', bytes, warnObjectBytes: bytes - 1 },
  ]);
});

test('the put coordinator hands the warnings of the applied object to the client reply', (t) => {
  const quorum: ResolvedWrite = {
    n: 1, w: 1, dw: 1, pw: 0, timeoutMs: 100, maxSiblings: 100, warnSiblings: 2, warnObjectBytes: 1 << 20, maxObjectBytes: 1 << 22,
    ttlMs: 0, datatype: undefined, lastWriteWins: false, allowMult: true, sloppyQuorum: true,
  };
  const { type: _type, requestId: _id, partition: _p, localReplicas: _l, ...put } = blindPut(kib(1, 0));
  const replyOf = (object: KvObject) => {
    const c = new PutCoordinator(1, [0], put, quorum, false, (p) => p);
    c.start();
    c.onReply({ type: 'VnodePutApplied', requestId: 1, partition: 0, object: encodeObject(object) });
    const effect = c.onReply({ type: 'VnodePutReply', requestId: 1, partition: 0 })[0];
    return effect?.type === 'reply' && effect.result.ok ? effect.result.value : undefined;
  };
  t.is(replyOf(concurrentSiblings(2, 1))?.warnings, undefined);
  t.deepEqual(replyOf(concurrentSiblings(3, 1))?.warnings, [{ kind: 'siblings', siblings: 3, warnSiblings: 2 }]);
});

test('a write delivered twice to the vnode that applies it is applied once; a different write with the same content is not taken for it', (t) => {
  const put = blindPut(Uint8Array.of(7));
  const first = applyPut(undefined, put, 'a');
  if (!first.ok) return t.fail();
  const again = applyPut(first.value.bytes, put, 'a');
  if (!again.ok) return t.fail();
  t.is(again.value.object.siblings.length, 1, 'the duplicate adds no sibling');
  t.deepEqual(again.value.bytes, first.value.bytes);
  const later = applyPut(first.value.bytes, { ...put, nowMs: 2 }, 'a');
  t.is(later.ok && later.value.object.siblings.length, 2, 'the same value written blind a millisecond later is a sibling');
  const elsewhere = applyPut(first.value.bytes, put, 'b');
  t.is(elsewhere.ok && elsewhere.value.object.siblings.length, 2, 'applied by another vnode, it is another write');
  const seen = applyPut(first.value.bytes, { ...put, context: decodeObject(first.value.bytes).vv }, 'a');
  t.is(seen.ok && seen.value.object.siblings.length, 1, 'a write whose context saw the sibling replaces it');
  t.not(seen.ok && seen.value.object.siblings[0]!.dot.counter, 1);
});
