// Data types on top of the stored object. A data-type object is an ordinary KvObject whose
// siblings hold encoded CRDT states (marked by their content type); concurrent updates become
// siblings through the ordinary object merge, and a reader merges the live siblings' states. An
// update is applied by the coordinating replica to the merge of every sibling it holds and is
// written as one sibling that supersedes them all. Pure functions; the actor comes in as argument.

import type { Datatype } from './bucket.js';
import { DecodeError } from './codec.js';
import {
  type OrSet,
  type PnCounter,
  counterIncrement,
  counterMerge,
  counterValue,
  decodeCounter,
  decodeSet,
  decodeSetContext,
  emptyCounter,
  emptySet,
  encodeCounter,
  encodeSet,
  encodeSetContext,
  setAddAll,
  setHas,
  setMembers,
  setMerge,
  setRemoveAll,
  setRemoveSeen,
} from './crdt.js';
import { type Result, fail, ok } from './errors.js';
import type { DatatypeUpdate } from './kv.js';
import { type KvObject, applyWrite, isExpired, liveSiblings, withoutExpired } from './object.js';
import { type ActorId, vvGet } from './version-vector.js';

export const counterContentType = 'application/vnd.ringkv.counter';
export const setContentType = 'application/vnd.ringkv.set';

/** Elements one update may add and remove together. */
export const setOpElementsMax = 1000;

/**
 * One data-type update, as VnodePut carries it to the coordinating replica. Flat, so that it
 * crosses the peer protocol as one record; `checkDatatypeOp` holds the rules across its fields.
 */
export interface DatatypeOp {
  readonly datatype: Datatype;
  /** Counter: the amount to add, negative to subtract. Always 0 for a set. */
  readonly increment: number;
  /** Set: elements to add. Removes are applied first, so an element in both ends up present. */
  readonly adds: readonly Uint8Array[];
  readonly removes: readonly Uint8Array[];
  /** Set: the context of the read the removes are based on (see `DatatypeValue`). */
  readonly context: Uint8Array | undefined;
}

export type DatatypeState = { readonly type: 'counter'; readonly counter: PnCounter } | { readonly type: 'set'; readonly set: OrSet };

/** What an application sees. A set's context is opaque: pass it back to remove what was read. */
export type DatatypeValue =
  | { readonly type: 'counter'; readonly value: number }
  | { readonly type: 'set'; readonly value: readonly Uint8Array[]; readonly context: Uint8Array };

export function contentTypeOf(datatype: Datatype): string {
  return datatype === 'counter' ? counterContentType : setContentType;
}

export function emptyState(datatype: Datatype): DatatypeState {
  return datatype === 'counter' ? { type: 'counter', counter: emptyCounter } : { type: 'set', set: emptySet };
}

/**
 * The data type a request on bucket type `typeName` works on: the one the type declares, or a
 * counter for a legacy (Riak 1.4) counter request on a type that declares none.
 */
export function datatypeOfType(typeName: string, declared: Datatype | undefined, legacyCounter: boolean): Result<Datatype> {
  if (declared !== undefined) return ok(declared);
  if (legacyCounter) return ok('counter');
  return fail('invalid_request', `bucket type "${typeName}" holds no data type; counters and sets live in a bucket type created with datatype counter or set`);
}

/** The operation a client's update becomes, checked against the type's data type. */
export function opOfUpdate(typeName: string, datatype: Datatype, update: DatatypeUpdate): Result<DatatypeOp> {
  if (update.type !== datatype) return fail('invalid_request', `bucket type "${typeName}" holds ${datatype}s; a ${update.type} update does not apply to it`);
  const op: DatatypeOp =
    update.type === 'counter'
      ? { datatype, increment: update.increment, adds: [], removes: [], context: undefined }
      : { datatype, increment: 0, adds: update.adds, removes: update.removes, context: update.context === undefined || update.context.length === 0 ? undefined : update.context };
  return checkDatatypeOp(op);
}

/** The bytes of the elements an update names, for the value size limit. */
export function opBytes(op: DatatypeOp): number {
  let total = 0;
  for (const e of op.adds) total += e.length;
  for (const e of op.removes) total += e.length;
  return total;
}

/** Checks an update on its own, before it is sent anywhere. */
export function checkDatatypeOp(op: DatatypeOp): Result<DatatypeOp> {
  if (op.datatype === 'counter') {
    if (!Number.isSafeInteger(op.increment)) return fail('invalid_request', `a counter increment must be a safe integer, got ${op.increment}`);
    if (op.adds.length > 0 || op.removes.length > 0 || op.context !== undefined) return fail('invalid_request', 'a counter update takes only an increment');
    return ok(op);
  }
  if (op.increment !== 0) return fail('invalid_request', 'a set update takes adds and removes, not an increment');
  if (op.adds.length + op.removes.length === 0) return fail('invalid_request', 'a set update needs at least one element to add or remove');
  if (op.adds.length + op.removes.length > setOpElementsMax) return fail('invalid_request', `a set update may name at most ${setOpElementsMax} elements`);
  if (op.context !== undefined && op.context.length > 0) {
    const context = decodeOrFail(() => decodeSetContext(op.context!), 'the set context');
    if (!context.ok) return context;
  }
  return ok(op);
}

/** The merge of the object's live siblings as `datatype`; an object with none is the empty value. */
export function mergedState(object: KvObject, datatype: Datatype): Result<DatatypeState> {
  return mergedContents(liveSiblings(object), datatype);
}

/** The merge of live siblings (as stored, or as a read returns them) as `datatype`. */
export function mergedContents(siblings: readonly { readonly value: Uint8Array; readonly contentType: string }[], datatype: Datatype): Result<DatatypeState> {
  let state = emptyState(datatype);
  const wanted = contentTypeOf(datatype);
  for (const sibling of siblings) {
    if (sibling.contentType !== wanted) {
      return fail('invalid_request', `the key holds a value of content type "${sibling.contentType}", not a ${datatype}; it was not written as a ${datatype}`);
    }
    const decoded = decodeOrFail(() => decodeState(datatype, sibling.value), `the stored ${datatype}`);
    if (!decoded.ok) return decoded;
    state = mergeStates(state, decoded.value);
  }
  return ok(state);
}

export function mergeStates(a: DatatypeState, b: DatatypeState): DatatypeState {
  if (a.type === 'counter' && b.type === 'counter') return { type: 'counter', counter: counterMerge(a.counter, b.counter) };
  if (a.type === 'set' && b.type === 'set') return { type: 'set', set: setMerge(a.set, b.set) };
  throw new Error('assertion failed: merging states of different data types');
}

/**
 * Applies `op` at the coordinating replica whose identity is `actor`: merges every live sibling,
 * applies the operation, and writes the result as one sibling whose context is the whole stored
 * vector, so it supersedes every sibling it merged. Expired siblings are dropped first (their
 * dots stay in the vector), so an expired value is not revived by the next update.
 *
 * The update's CRDT identities derive from the counter of the object dot the write gets, which
 * strictly increases per actor and key (the stored vector keeps the dots of deleted and expired
 * siblings, and a reaped key's vector starts above the vnode's removed-key floor): a set's adds
 * take it as their dot, and a counter starts a new epoch with it. So after a delete, an expiry or
 * a reap has emptied the merged state, an update never reuses an identity that a stale concurrent
 * copy has seen, and merging that copy cannot hide it.
 */
export function applyDatatypeOp(stored: KvObject, op: DatatypeOp, actor: ActorId, nowMs: number): Result<KvObject> {
  const checked = checkDatatypeOp(op);
  if (!checked.ok) return checked;
  const before = withoutExpired(stored, nowMs);
  const merged = mergedState(before, op.datatype);
  if (!merged.ok) return merged;
  // The dot applyWrite mints below, its context being the whole stored vector.
  const dotCounter = vvGet(before.vv, actor) + 1;
  // A tombstone or an expired sibling means a removal the merged state may straddle: the actor's
  // own entries in it can come from a copy older than the actor's latest totals, so a counter
  // continues in a new epoch rather than in an entry a fresher copy elsewhere may hide.
  const afterRemoval = stored.siblings.some((s) => s.deleted || isExpired(s, nowMs));
  const updated =
    merged.value.type === 'counter' ? updateCounter(merged.value.counter, op.increment, actor, dotCounter, afterRemoval) : updateSet(merged.value.set, op, actor, dotCounter);
  if (!updated.ok) return updated;
  const content = { value: encodeState(updated.value), contentType: contentTypeOf(op.datatype), userMeta: [] };
  return ok(applyWrite(before, { context: before.vv, content, deleted: false }, actor, nowMs));
}

function updateCounter(counter: PnCounter, increment: number, actor: ActorId, epoch: number, newEpoch: boolean): Result<DatatypeState> {
  const next = counterIncrement(counter, actor, increment, epoch, newEpoch);
  if (!next.entries.every((e) => Number.isSafeInteger(e.p) && Number.isSafeInteger(e.n)) || !Number.isSafeInteger(counterValue(next))) {
    return fail('invalid_request', `the increment ${increment} would take the counter beyond ±${Number.MAX_SAFE_INTEGER}`);
  }
  return ok({ type: 'counter', counter: next });
}

/** Removes first, then adds; each in one pass over the set, whatever the number of elements. */
function updateSet(set: OrSet, op: DatatypeOp, actor: ActorId, dotCounter: number): Result<DatatypeState> {
  let next = set;
  if (op.removes.length > 0 && op.context !== undefined && op.context.length > 0) {
    next = setRemoveSeen(next, op.removes, decodeSetContext(op.context));
  } else if (op.removes.length > 0) {
    // Riak's answer: without a context, only an element this replica holds can be removed.
    const missing = op.removes.find((element) => !setHas(next, element));
    if (missing !== undefined) return fail('precondition_failed', `cannot remove an element the set does not hold (${describe(missing)}); fetch the set and remove with its context`);
    next = setRemoveAll(next, op.removes);
  }
  if (op.adds.length > 0) next = setAddAll(next, actor, op.adds, dotCounter);
  return ok({ type: 'set', set: next });
}

export function datatypeValue(state: DatatypeState): DatatypeValue {
  if (state.type === 'counter') return { type: 'counter', value: counterValue(state.counter) };
  return { type: 'set', value: setMembers(state.set), context: encodeSetContext(state.set.clock) };
}

/** The value a read's live siblings hold, or undefined when there are none (not found). */
export function contentsValue(siblings: readonly { readonly value: Uint8Array; readonly contentType: string }[], datatype: Datatype): Result<DatatypeValue | undefined> {
  if (siblings.length === 0) return ok(undefined);
  const merged = mergedContents(siblings, datatype);
  return merged.ok ? ok(datatypeValue(merged.value)) : merged;
}

/** The value of a stored object, or undefined when it holds no live sibling. */
export function objectValue(object: KvObject, datatype: Datatype): Result<DatatypeValue | undefined> {
  if (liveSiblings(object).length === 0) return ok(undefined);
  const merged = mergedState(object, datatype);
  return merged.ok ? ok(datatypeValue(merged.value)) : merged;
}

export function encodeState(state: DatatypeState): Uint8Array {
  return state.type === 'counter' ? encodeCounter(state.counter) : encodeSet(state.set);
}

export function decodeState(datatype: Datatype, bytes: Uint8Array): DatatypeState {
  return datatype === 'counter' ? { type: 'counter', counter: decodeCounter(bytes) } : { type: 'set', set: decodeSet(bytes) };
}

function decodeOrFail<T>(decode: () => T, what: string): Result<T> {
  try {
    return ok(decode());
  } catch (error) {
    if (error instanceof DecodeError) return fail('invalid_request', `${what} is malformed (${error.message})`);
    throw error;
  }
}

function describe(element: Uint8Array): string {
  const text = new TextDecoder('utf-8', { fatal: false }).decode(element.subarray(0, 64));
  return JSON.stringify(text);
}
