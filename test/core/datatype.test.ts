import test from 'ava';
import { decodeObject } from '../../src/core/codec.js';
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
