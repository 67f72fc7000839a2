import test from 'ava';
import { decodeObject, encodeObject } from '../../src/core/codec.js';
import { type DatatypeOp, counterContentType, objectValue, setContentType } from '../../src/core/datatype.js';
import type { VnodePut } from '../../src/core/messages.js';
import { type KvObject, liveSiblings, mergeObjects } from '../../src/core/object.js';
import { applyPut, applyReplicate } from '../../src/core/vnode.js';

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
const text = (b: Uint8Array): string => new TextDecoder().decode(b);

function put(op: DatatypeOp, overrides: Partial<VnodePut> = {}): VnodePut {
  return {
    type: 'VnodePut',
    requestId: 1,
    partition: 0,
    storageKey: bytes('k'),
    context: [],
    content: { value: new Uint8Array(0), contentType: 'application/octet-stream', userMeta: [] },
    deleted: false,
    nowMs: 1000,
    ifNoneMatch: false,
    ifNotModified: false,
    maxSiblings: 100,
    lastWriteWins: false,
    allowMult: true,
    localReplicas: [],
    op,
    ...overrides,
  } as VnodePut;
}

const increment = (amount: number): DatatypeOp => ({ datatype: 'counter', increment: amount, adds: [], removes: [], context: undefined });
const setOp = (adds: string[], removes: string[] = [], context?: Uint8Array): DatatypeOp => ({
  datatype: 'set',
  increment: 0,
  adds: adds.map(bytes),
  removes: removes.map(bytes),
  context,
});

function apply(current: Uint8Array | undefined, op: DatatypeOp, actor: string, overrides: Partial<VnodePut> = {}): Uint8Array {
  const applied = applyPut(current, put(op, overrides), actor);
  if (!applied.ok) throw new Error(applied.error.message);
  return applied.value.bytes;
}

function counterOf(object: KvObject): number {
  const value = objectValue(object, 'counter');
  if (!value.ok || value.value?.type !== 'counter') throw new Error('not a counter');
  return value.value.value;
}

test('a counter update at a replica merges the siblings it holds and leaves one', (t) => {
  // Two replicas take updates while apart; their objects become siblings when merged.
  const a = apply(apply(undefined, increment(5), 'a'), increment(2), 'a');
  const b = apply(undefined, increment(-3), 'b');
  const both = applyReplicate(a, b)!;
  t.is(liveSiblings(decodeObject(both)).length, 2);
  t.is(counterOf(decodeObject(both)), 4, 'a reader merges the siblings');
  const next = decodeObject(apply(both, increment(1), 'b'));
  t.is(next.siblings.length, 1, 'the update supersedes every sibling it merged');
  t.is(next.siblings[0]!.contentType, counterContentType);
  t.is(counterOf(next), 5);
  t.is(counterOf(mergeObjects(next, decodeObject(a))), 5, 'merging an older replica changes nothing');
});

test('an update ignores the plain-write settings: conditions, allow_mult and last-write-wins', (t) => {
  const once = apply(undefined, increment(1), 'a', { ifNoneMatch: true, allowMult: false, lastWriteWins: true });
  const twice = apply(once, increment(1), 'a', { ifNoneMatch: true, allowMult: false, lastWriteWins: true });
  t.is(counterOf(decodeObject(twice)), 2);
});

test('set updates add, remove what the replica holds, and remove by context', (t) => {
  const s1 = apply(undefined, setOp(['x', 'y']), 'a');
  const read = objectValue(decodeObject(s1), 'set');
  t.true(read.ok && read.value?.type === 'set');
  const context = read.ok && read.value?.type === 'set' ? read.value.context : undefined;
  const s2 = apply(s1, setOp(['z'], ['x']), 'a');
  const value = objectValue(decodeObject(s2), 'set');
  t.deepEqual(value.ok && value.value?.type === 'set' ? value.value.value.map(text) : [], ['y', 'z']);
  // Concurrently, at replica b, y is added again; a remove of y with the old context spares it.
  const b = apply(undefined, setOp(['y']), 'b');
  const merged = applyReplicate(s2, b)!;
  const s3 = apply(merged, setOp([], ['y'], context), 'a');
  const after = objectValue(decodeObject(s3), 'set');
  t.deepEqual(after.ok && after.value?.type === 'set' ? after.value.value.map(text) : [], ['y', 'z']);
});

test('removing an element the set does not hold, without a context, is a precondition failure', (t) => {
  const s1 = apply(undefined, setOp(['x']), 'a');
  const result = applyPut(s1, put(setOp([], ['nope'])), 'a');
  t.false(result.ok);
  t.is(!result.ok ? result.error.code : undefined, 'precondition_failed');
});

test('an update on a key holding another kind of value is refused, and so is a malformed op', (t) => {
  const counter = apply(undefined, increment(1), 'a');
  const asSet = applyPut(counter, put(setOp(['x'])), 'a');
  t.is(!asSet.ok ? asSet.error.code : undefined, 'invalid_request');
  t.regex(!asSet.ok ? asSet.error.message : '', /not a set/);
  const bad = applyPut(undefined, put({ ...increment(1), adds: [bytes('x')] }), 'a');
  t.is(!bad.ok ? bad.error.code : undefined, 'invalid_request');
  const unsafe = applyPut(counter, put(increment(Number.MAX_SAFE_INTEGER)), 'a');
  t.is(!unsafe.ok ? unsafe.error.code : undefined, 'invalid_request');
  t.is(decodeObject(apply(undefined, setOp(['x']), 'a')).siblings[0]!.contentType, setContentType);
});

function membersOf(object: KvObject): string[] {
  const value = objectValue(object, 'set');
  if (!value.ok || value.value?.type !== 'set') throw new Error('not a set');
  return value.value.value.map(text);
}

/** A delete at `actor` with the context of what it holds (a tombstone, as a client delete writes). */
function remove(current: Uint8Array, actor: string): Uint8Array {
  const { op: _op, ...plain } = put(increment(0), { context: decodeObject(current).vv, deleted: true });
  const applied = applyPut(current, plain, actor);
  if (!applied.ok) throw new Error(applied.error.message);
  return applied.value.bytes;
}

test('a set add after a delete survives merging a concurrent sibling that saw the deleted adds', (t) => {
  let a = apply(undefined, setOp(['x']), 'A');
  let b = applyReplicate(undefined, a)!;
  b = apply(b, setOp(['z']), 'B'); // concurrent with what follows at A
  a = remove(a, 'A'); // a delete with A's context
  a = apply(a, setOp(['y']), 'A');
  t.deepEqual(membersOf(decodeObject(a)), ['y']);
  const merged = decodeObject(applyReplicate(a, b) ?? a);
  t.deepEqual(membersOf(merged), ['y', 'z'], 'y is kept; x, which the delete saw, is gone; z was concurrent');
  t.deepEqual(membersOf(decodeObject(applyReplicate(b, a) ?? b)), ['y', 'z']);
});

test('a set add after the tombstone was reaped starts above the removed-key floor and survives a stale copy', (t) => {
  const a1 = apply(undefined, setOp(['x']), 'A');
  const b = apply(applyReplicate(undefined, a1)!, setOp(['z']), 'B');
  const deleted = remove(a1, 'A');
  // The vnode reaps the tombstone, remembering A's highest counter in it as its floor.
  const floor = decodeObject(deleted).vv.find((e) => e.actor === 'A')!.counter;
  const applied = applyPut(undefined, put(setOp(['y'])), 'A', floor);
  if (!applied.ok) throw new Error(applied.error.message);
  t.deepEqual(membersOf(decodeObject(applyReplicate(applied.value.bytes, b)!)), ['y', 'z']);
});

test('a counter increment after a delete is not hidden by a concurrent sibling', (t) => {
  let a = apply(undefined, increment(5), 'A');
  let b = applyReplicate(undefined, a)!;
  b = apply(b, increment(1), 'B');
  a = remove(a, 'A');
  a = apply(a, increment(2), 'A');
  t.is(counterOf(decodeObject(a)), 2);
  // The delete saw A's 5 but not B's sibling, which carries it: B's view stays, and the 2 counts.
  t.is(counterOf(decodeObject(applyReplicate(a, b) ?? a)), 8);
  t.is(counterOf(decodeObject(applyReplicate(b, a) ?? b)), 8);
});

test("a counter increment after a delete starts a new epoch even when a stale copy of the actor's entry came back", (t) => {
  const a1 = apply(undefined, increment(5), 'A');
  let b = applyReplicate(undefined, a1)!;
  const a2 = apply(a1, increment(3), 'A'); // A's entry now at 8
  const c = apply(applyReplicate(undefined, a2)!, increment(1), 'C'); // C's sibling carries A's 8
  let a = remove(a2, 'A');
  b = apply(b, increment(1), 'B'); // B's sibling carries A's stale 5
  a = applyReplicate(a, b)!; // arrives beside A's tombstone
  a = apply(a, increment(2), 'A');
  // Had the 2 gone to A's old entry (5 + 2 = 7), C's 8 for that entry would hide it on merge.
  const merged = decodeObject(applyReplicate(a, c)!);
  t.is(counterOf(merged), 8 + 1 + 1 + 2);
});

test('an update drops expired siblings first, so an expired value is not revived', (t) => {
  const expiring = (bytesOf: Uint8Array): Uint8Array => {
    const object = decodeObject(bytesOf);
    return encodeObject({ ...object, siblings: object.siblings.map((s) => ({ ...s, expiresAtMs: 1500 })) });
  };
  const counter = expiring(apply(undefined, increment(5), 'A'));
  t.is(counterOf(decodeObject(apply(counter, increment(2), 'A', { nowMs: 2000 }))), 2);
  t.is(counterOf(decodeObject(apply(counter, increment(2), 'A', { nowMs: 1200 }))), 7, 'not yet expired');
  const set = expiring(apply(undefined, setOp(['x']), 'A'));
  t.deepEqual(membersOf(decodeObject(apply(set, setOp(['y']), 'A', { nowMs: 2000 }))), ['y']);
});

test('an element named twice among the removes, without a context, is removed once', (t) => {
  const s1 = apply(undefined, setOp(['x', 'y']), 'a');
  t.deepEqual(membersOf(decodeObject(apply(s1, setOp([], ['x', 'x']), 'a'))), ['y']);
  t.deepEqual(membersOf(decodeObject(apply(s1, setOp(['x'], ['y', 'x', 'y']), 'a'))), ['x']);
});
