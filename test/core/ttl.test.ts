// Per-object TTL in the core: what an expired sibling looks like to readers, to writers, to
// merges and to repair, and how the expiry is stored (docs/ttl.md).

import test from 'ava';
import fc from 'fast-check';
import type { ResolvedRead } from '../../src/core/bucket.js';
import { decodeContext, decodeObject, encodeObject, objectFormatV2 } from '../../src/core/codec.js';
import { GetCoordinator, visibleContents } from '../../src/core/coordinator.js';
import type { VnodePut } from '../../src/core/messages.js';
import { type KvObject, applyWrite, emptyObject, isExpired, mergeObjects, sameVersion, withoutExpired } from '../../src/core/object.js';
import { applyPut, applyReplicate, listedItem } from '../../src/core/vnode.js';
import { encodeStorageKey } from '../../src/core/codec.js';

const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);
const content = (value: string) => ({ value: new TextEncoder().encode(value), contentType: 'text/plain', userMeta: [] });
const storageKey = encodeStorageKey({ type: 'default', bucket: new TextEncoder().encode('b'), key: new TextEncoder().encode('k') });

function put(value: string, nowMs: number, extra: Partial<VnodePut> = {}): VnodePut {
  return {
    type: 'VnodePut', requestId: 1, partition: 0, storageKey, context: [], content: content(value), deleted: false, nowMs,
    ifNoneMatch: false, ifNotModified: false, maxSiblings: 100, lastWriteWins: false, allowMult: true, localReplicas: [], ...extra,
  };
}

function applied(current: Uint8Array | undefined, request: VnodePut, actor = 'a'): Uint8Array {
  const result = applyPut(current, request, actor);
  if (!result.ok) throw new Error(result.error.message);
  return result.value.bytes;
}

test('an object without expiry keeps format 1, byte for byte; one with expiry round-trips in format 2', (t) => {
  // Bytes of a stored object written before TTL existed (format 1): they must still decode.
  const v1 = applyWrite(emptyObject, { context: [], content: content('old'), deleted: false }, 'a', 1000);
  const v1Bytes = encodeObject(v1);
  t.is(v1Bytes[0], 1);
  t.deepEqual(decodeObject(v1Bytes), v1);
  t.false('expiresAtMs' in decodeObject(v1Bytes).siblings[0]!);
  const expiring = applyWrite(v1, { context: [], content: content('new'), deleted: false, expiresAtMs: 5000 }, 'b', 2000);
  const v2Bytes = encodeObject(expiring);
  t.is(v2Bytes[0], objectFormatV2);
  const decoded = decodeObject(v2Bytes);
  t.deepEqual(decoded, expiring);
  t.deepEqual(decoded.siblings.map((s) => s.expiresAtMs), [undefined, 5000]);
});

test('reads hide expired siblings; an object whose siblings all expired reads as not found, with a context that supersedes them', (t) => {
  const both = decodeObject(applied(applied(undefined, put('forever', 1000)), put('brief', 1000, { expiresAtMs: 2000 }), 'b'));
  t.deepEqual(visibleContents(both, true, 1999).map((c) => text(c.value)).sort(), ['brief', 'forever']);
  t.deepEqual(visibleContents(both, true, 2000).map((c) => text(c.value)), ['forever'], 'each sibling expires at its own time');
  t.is(visibleContents(both, true, 1999).find((c) => text(c.value) === 'brief')!.expiresAtMs, 2000);

  const gone = applied(undefined, put('v', 1000, { expiresAtMs: 1500 }));
  const read: ResolvedRead = { n: 1, r: 1, pr: 0, notfoundOk: true, basicQuorum: false, timeoutMs: 100, allowMult: true, sloppyQuorum: true };
  const before = new GetCoordinator(1, [0], storageKey, read, undefined, 1499);
  before.start();
  const found = before.onReply({ type: 'VnodeGetReply', requestId: 1, partition: 0, object: gone });
  t.like(found[0], { type: 'reply', result: { ok: true, value: { found: true } } });
  const after = new GetCoordinator(2, [0], storageKey, read, undefined, 1500);
  after.start();
  const [reply] = after.onReply({ type: 'VnodeGetReply', requestId: 2, partition: 0, object: gone });
  if (reply?.type !== 'reply' || !reply.result.ok || reply.result.value.found) return t.fail('expected not found');
  const context = reply.result.value.context!;
  t.deepEqual(decodeContext(context), decodeObject(gone).vv);
  // A write with that context supersedes the expired sibling; a blind one does too (it is dropped).
  const next = decodeObject(applied(gone, put('w', 1600, { context: decodeContext(context) })));
  t.deepEqual(next.siblings.map((s) => text(s.value)), ['w']);
});

test('writes drop expired siblings and keep the vector; if_none_match treats an expired value as absent', (t) => {
  const first = applied(undefined, put('old', 1000, { expiresAtMs: 2000 }));
  const blind = decodeObject(applied(first, put('new', 3000), 'b'));
  t.deepEqual(blind.siblings.map((s) => text(s.value)), ['new'], 'no sibling beside an expired value');
  t.true(blind.vv.some((e) => e.actor === 'a' && e.counter === 1), 'the vector still covers the dropped dot');
  t.true(applyPut(first, put('nx', 3000, { ifNoneMatch: true }), 'a').ok);
  t.false(applyPut(first, put('nx', 1500, { ifNoneMatch: true }), 'a').ok);
  t.is(decodeObject(applied(undefined, put('gone', 1000, { deleted: true, expiresAtMs: 2000 }))).siblings[0]!.expiresAtMs, undefined, 'a tombstone never expires');
});

test('property: merging with a replica that still holds an expired sibling never brings it back', (t) => {
  fc.assert(
    fc.property(fc.array(fc.record({ actor: fc.constantFrom('a', 'b', 'c'), ttl: fc.option(fc.integer({ min: 1, max: 50 }), { nil: undefined }), blind: fc.boolean() }), { minLength: 1, maxLength: 8 }), fc.integer({ min: 0, max: 80 }), (writes, nowMs) => {
      let object: KvObject = emptyObject;
      writes.forEach((w, i) => {
        const expiry = w.ttl === undefined ? {} : { expiresAtMs: i + w.ttl };
        object = applyWrite(object, { context: w.blind ? [] : object.vv, content: content(String(i)), deleted: false, ...expiry }, w.actor, i);
      });
      const dropped = withoutExpired(object, nowMs);
      const merged = mergeObjects(dropped, object);
      return sameVersion(merged, dropped) && sameVersion(mergeObjects(object, dropped), dropped) && !merged.siblings.some((s) => s.expiresAtMs !== undefined && s.expiresAtMs <= nowMs);
    }),
  );
  t.pass();
});

test('replication merges expired objects like any others: the expiry spreads, and the value it superseded is gone', (t) => {
  const older = applied(undefined, put('v1', 1000));
  const expiring = applied(older, put('v2', 1100, { context: decodeObject(older).vv, expiresAtMs: 2000 }));
  t.is(applyReplicate(undefined, expiring), expiring, 'a replica without the key takes the expired object (reaping removes it everywhere later)');
  const merged = applyReplicate(older, expiring);
  t.truthy(merged);
  t.true(sameVersion(decodeObject(merged!), decodeObject(expiring)), 'the older value is superseded, not kept');
  t.deepEqual(visibleContents(decodeObject(merged!), true, 2000), [], 'and reads as not found');
  const concurrent = applied(undefined, put('other', 1200), 'c');
  const mixed = decodeObject(applyReplicate(concurrent, expiring)!);
  t.true(mixed.siblings.some((s) => !isExpired(s, 2000)), 'a concurrent live value is kept');
  t.deepEqual(visibleContents(mixed, true, 2000).map((c) => text(c.value)), ['other']);
});

test('listing: expired keys are not listed', (t) => {
  const expiring = applied(undefined, put('v', 1000, { expiresAtMs: 2000 }));
  t.deepEqual(listedItem(storageKey, expiring, 'default', new TextEncoder().encode('b'), 1999), new TextEncoder().encode('k'));
  t.is(listedItem(storageKey, expiring, 'default', new TextEncoder().encode('b'), 2000), undefined);
  t.is(listedItem(storageKey, expiring, 'default', undefined, 2000), undefined, 'nor its bucket');
});

test('read repair sends an expired object to every replica without its version, so reaping can later confirm it everywhere', (t) => {
  const older = applied(undefined, put('v1', 1000));
  const expiring = applied(older, put('v2', 1100, { context: decodeObject(older).vv, expiresAtMs: 2000 }));
  const read: ResolvedRead = { n: 3, r: 3, pr: 0, notfoundOk: true, basicQuorum: false, timeoutMs: 100, allowMult: true, sloppyQuorum: true };
  const c = new GetCoordinator(9, [0, 1, 2], storageKey, read, undefined, 2500);
  c.start();
  c.onReply({ type: 'VnodeGetReply', requestId: 9, partition: 0, object: expiring });
  c.onReply({ type: 'VnodeGetReply', requestId: 9, partition: 1, object: undefined });
  const effects = c.onReply({ type: 'VnodeGetReply', requestId: 9, partition: 2, object: older });
  t.like(effects[0], { type: 'reply', result: { ok: true, value: { found: false } } });
  const repaired = effects.flatMap((e) => (e.type === 'send' ? [e.request.partition] : []));
  t.deepEqual(repaired, [1, 2], 'partition 1 (absent) gets the expired object, partition 2 the object that supersedes its value');
});
