// The convergent data types (CRDTs) a bucket type may hold: a PN-counter and an observed-remove
// set without tombstones (ORSWOT, add-wins), with their merges and binary encodings. States are
// plain values and every function is pure: operations take the replica's actor id as an argument,
// and nothing here knows about objects, siblings or the network (see datatype.ts for that).

import { DecodeError, Reader, Writer } from './codec.js';
import { type ActorId, type Dot, type VersionVector, type VvEntry, emptyVv, vvCoversDot, vvDescends, vvGet, vvIsWellFormed, vvMerge, vvWith } from './version-vector.js';

// ---------------------------------------------------------------------------------------------
// PN-counter

/**
 * What one actor added (`p`) and subtracted (`n`) in total within one epoch; both only grow. The
 * id is `actor@epoch` (or, as states written before epochs were introduced hold it, the bare actor,
 * which counts as epoch 0).
 */
export interface CounterEntry {
  readonly actor: string;
  readonly p: number;
  readonly n: number;
}

/** Entries sorted by id, no duplicates, so equal counters have one representation. */
export interface PnCounter {
  readonly entries: readonly CounterEntry[];
}

export const emptyCounter: PnCounter = { entries: [] };

export function counterValue(counter: PnCounter): number {
  let total = 0;
  for (const e of counter.entries) total += e.p - e.n;
  return total;
}

/** The epoch of entry id `id` when it belongs to `actor` (a bare actor id is epoch 0). */
function epochOf(id: string, actor: ActorId): number | undefined {
  if (id === actor) return 0;
  if (!id.startsWith(`${actor}@`)) return undefined;
  const rest = id.slice(actor.length + 1);
  return /^[0-9]+$/.test(rest) ? Number(rest) : undefined;
}

/**
 * Adds `amount` (negative to subtract) as `actor`. The caller checks the amount is a safe integer.
 *
 * `epoch` is the counter of the object dot the write gets, which strictly increases per actor and
 * key. The amount goes to this actor's entry with the highest epoch the state holds; when it holds
 * none (a first update, or one after a delete, expiry or reap left nothing), or when `newEpoch` is
 * set (the caller cannot vouch that the state holds the actor's latest totals), a fresh entry
 * `actor@epoch` starts at 0. A fresh entry is never one a stale copy holds, so max-merge cannot
 * hide what is added to it.
 */
export function counterIncrement(counter: PnCounter, actor: ActorId, amount: number, epoch: number, newEpoch = false): PnCounter {
  const fresh = `${actor}@${epoch}`;
  let own: CounterEntry | undefined;
  let ownEpoch = -1;
  for (const e of counter.entries) {
    const at = newEpoch ? (e.actor === fresh ? epoch : undefined) : epochOf(e.actor, actor);
    if (at !== undefined && at > ownEpoch) {
      own = e;
      ownEpoch = at;
    }
  }
  const base = own ?? { actor: fresh, p: 0, n: 0 };
  const next: CounterEntry = amount >= 0 ? { actor: base.actor, p: base.p + amount, n: base.n } : { actor: base.actor, p: base.p, n: base.n - amount };
  const entries = [...counter.entries.filter((e) => e.actor !== base.actor), next].sort((a, b) => compareActors(a.actor, b.actor));
  return { entries };
}

/** Pointwise maximum of each actor's p and n. Commutative, associative, idempotent. */
export function counterMerge(a: PnCounter, b: PnCounter): PnCounter {
  const byActor = new Map<ActorId, CounterEntry>();
  for (const e of [...a.entries, ...b.entries]) {
    const seen = byActor.get(e.actor);
    byActor.set(e.actor, seen === undefined ? e : { actor: e.actor, p: Math.max(seen.p, e.p), n: Math.max(seen.n, e.n) });
  }
  return { entries: [...byActor.values()].sort((x, y) => compareActors(x.actor, y.actor)) };
}

// ---------------------------------------------------------------------------------------------
// ORSWOT

/** A member and the dots of the adds that put it there and that no remove has seen. */
export interface SetEntry {
  readonly element: Uint8Array;
  /** Sorted by (actor, counter); never empty. */
  readonly dots: readonly Dot[];
}

/**
 * A remove whose context had seen adds this replica has not: kept until the replica's clock
 * catches up with the context, so the adds it removed cannot arrive later and resurrect it.
 */
export interface DeferredRemove {
  readonly context: VersionVector;
  /** Sorted, distinct. */
  readonly elements: readonly Uint8Array[];
}

export interface OrSet {
  /** Every add this state has seen, kept or since removed. */
  readonly clock: VersionVector;
  /** Sorted by element bytes, no duplicates. */
  readonly entries: readonly SetEntry[];
  /** Sorted by encoded context, one entry per context. */
  readonly deferred: readonly DeferredRemove[];
}

export const emptySet: OrSet = { clock: emptyVv, entries: [], deferred: [] };

export function setMembers(set: OrSet): Uint8Array[] {
  return set.entries.map((e) => e.element);
}

export function setHas(set: OrSet, element: Uint8Array): boolean {
  let lo = 0;
  let hi = set.entries.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const order = compareBytes(set.entries[mid]!.element, element);
    if (order === 0) return true;
    if (order < 0) lo = mid + 1;
    else hi = mid - 1;
  }
  return false;
}

/**
 * Adds every one of `elements` as `actor`, all under one new dot (entries are per element, so
 * they may share it): for each, the new dot replaces every dot this replica has seen for it. The
 * dot's counter is the next of the set's clock for `actor`, or `minCounter` if higher; the caller
 * passes the counter of the object dot the write gets, so that a state rebuilt after a delete, an
 * expiry or a reap never reuses a dot that a stale copy has seen. One pass over the set.
 */
export function setAddAll(set: OrSet, actor: ActorId, elements: readonly Uint8Array[], minCounter = 1): OrSet {
  const adding = sortedDistinct(elements);
  if (adding.length === 0) return set;
  const counter = Math.max(vvGet(set.clock, actor) + 1, minCounter);
  const dots: readonly Dot[] = [{ actor, counter }];
  const entries: SetEntry[] = [];
  let i = 0;
  let j = 0;
  while (i < set.entries.length || j < adding.length) {
    const x = set.entries[i];
    const y = adding[j];
    const order = x === undefined ? 1 : y === undefined ? -1 : compareBytes(x.element, y);
    if (order < 0) {
      entries.push(x!);
      i++;
      continue;
    }
    entries.push({ element: y!, dots });
    j++;
    if (order === 0) i++;
  }
  return { clock: vvWith(set.clock, actor, counter), entries, deferred: set.deferred };
}

/** Adds `element` as `actor` (see setAddAll). */
export function setAdd(set: OrSet, actor: ActorId, element: Uint8Array, minCounter = 1): OrSet {
  return setAddAll(set, actor, [element], minCounter);
}

/** Removes every add of each of `elements` this replica has seen; the caller checks they are members. */
export function setRemoveAll(set: OrSet, elements: readonly Uint8Array[]): OrSet {
  return { ...set, entries: rewriteEntries(set.entries, sortedDistinct(elements), () => undefined) };
}

/** Removes every add of `element` this replica has seen; the caller checks it is a member. */
export function setRemove(set: OrSet, element: Uint8Array): OrSet {
  return setRemoveAll(set, [element]);
}

/**
 * Removes the adds of `elements` that `context` (the clock of the state a client read) had seen;
 * an add the context had not seen is concurrent with the remove and wins. When the context has
 * seen adds this replica has not, the remove is also kept as deferred for them.
 */
export function setRemoveSeen(set: OrSet, elements: readonly Uint8Array[], context: VersionVector): OrSet {
  const removing = sortedDistinct(elements);
  const entries = removeSeenDots(set.entries, removing, context);
  if (vvDescends(set.clock, context)) return { ...set, entries };
  return { clock: set.clock, entries, deferred: addDeferred(set.deferred, { context, elements: removing }) };
}

/** Merges two replicas' sets. Commutative, associative and idempotent. */
export function setMerge(a: OrSet, b: OrSet): OrSet {
  const entries: SetEntry[] = [];
  let i = 0;
  let j = 0;
  while (i < a.entries.length || j < b.entries.length) {
    const x = a.entries[i];
    const y = b.entries[j];
    const order = x === undefined ? 1 : y === undefined ? -1 : compareBytes(x.element, y.element);
    const dots = order < 0 ? unseenDots(x!.dots, b.clock) : order > 0 ? unseenDots(y!.dots, a.clock) : mergeDots(x!, y!, a.clock, b.clock);
    if (order <= 0) i++;
    if (order >= 0) j++;
    if (dots.length > 0) entries.push({ element: (x !== undefined && order <= 0 ? x : y!).element, dots });
  }
  let deferred = a.deferred;
  for (const d of b.deferred) deferred = addDeferred(deferred, d);
  return applyDeferred({ clock: vvMerge(a.clock, b.clock), entries, deferred });
}

/** Runs every deferred remove again, and forgets those whose context the clock now covers. */
function applyDeferred(set: OrSet): OrSet {
  if (set.deferred.length === 0) return set;
  let entries = set.entries;
  const still: DeferredRemove[] = [];
  for (const d of set.deferred) {
    entries = removeSeenDots(entries, d.elements, d.context);
    if (!vvDescends(set.clock, d.context)) still.push(d);
  }
  return { clock: set.clock, entries, deferred: still };
}

function removeSeenDots(entries: readonly SetEntry[], elements: readonly Uint8Array[], context: VersionVector): SetEntry[] {
  return rewriteEntries(entries, sortedDistinct(elements), (entry) => {
    const dots = unseenDots(entry.dots, context);
    return dots.length > 0 ? { element: entry.element, dots } : undefined;
  });
}

/**
 * `entries` with each entry whose element is in `elements` (sorted, distinct) replaced by what
 * `rewrite` makes of it (undefined: dropped). One pass over both.
 */
function rewriteEntries(entries: readonly SetEntry[], elements: readonly Uint8Array[], rewrite: (entry: SetEntry) => SetEntry | undefined): SetEntry[] {
  const out: SetEntry[] = [];
  let j = 0;
  for (const entry of entries) {
    while (j < elements.length && compareBytes(elements[j]!, entry.element) < 0) j++;
    if (j < elements.length && compareBytes(elements[j]!, entry.element) === 0) {
      const next = rewrite(entry);
      if (next !== undefined) out.push(next);
    } else out.push(entry);
  }
  return out;
}

function unseenDots(dots: readonly Dot[], clock: VersionVector): Dot[] {
  return dots.filter((d) => !vvCoversDot(clock, d));
}

/** A dot survives when both sides hold it, or the side without it has not seen it. */
function mergeDots(x: SetEntry, y: SetEntry, aClock: VersionVector, bClock: VersionVector): Dot[] {
  const both = x.dots.filter((d) => y.dots.some((e) => sameDot(d, e)));
  const onlyX = x.dots.filter((d) => !y.dots.some((e) => sameDot(d, e)) && !vvCoversDot(bClock, d));
  const onlyY = y.dots.filter((d) => !x.dots.some((e) => sameDot(d, e)) && !vvCoversDot(aClock, d));
  return [...both, ...onlyX, ...onlyY].sort(compareDots);
}

function addDeferred(deferred: readonly DeferredRemove[], next: DeferredRemove): DeferredRemove[] {
  const key = encodeVv(next.context);
  const out: DeferredRemove[] = [];
  let merged = false;
  for (const d of deferred) {
    if (compareBytes(encodeVv(d.context), key) === 0) {
      out.push({ context: d.context, elements: sortedDistinct([...d.elements, ...next.elements]) });
      merged = true;
    } else out.push(d);
  }
  if (!merged) out.push(next);
  return out.sort((x, y) => compareBytes(encodeVv(x.context), encodeVv(y.context)));
}

// ---------------------------------------------------------------------------------------------
// Orders

function compareActors(a: ActorId, b: ActorId): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function compareDots(a: Dot, b: Dot): number {
  return a.actor !== b.actor ? compareActors(a.actor, b.actor) : a.counter - b.counter;
}

function sameDot(a: Dot, b: Dot): boolean {
  return a.actor === b.actor && a.counter === b.counter;
}

/** Bytewise, shorter first on a common prefix. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

export function sortedDistinct(elements: readonly Uint8Array[]): Uint8Array[] {
  const sorted = [...elements].sort(compareBytes);
  return sorted.filter((e, i) => i === 0 || compareBytes(sorted[i - 1]!, e) !== 0);
}

// ---------------------------------------------------------------------------------------------
// Encodings. A leading format byte; a new format gets a new byte, never a reinterpretation.

const counterFormatV1 = 1;
const setFormatV1 = 1;
const setContextFormatV1 = 1;

function writeVv(w: Writer, vv: VersionVector): void {
  w.varint(vv.length);
  for (const e of vv) {
    w.string(e.actor);
    w.varint(e.counter);
  }
}

function readVv(r: Reader): VersionVector {
  const n = r.count();
  const vv: VvEntry[] = [];
  for (let i = 0; i < n; i++) vv.push({ actor: r.string(), counter: r.varint() });
  if (!vvIsWellFormed(vv)) throw new DecodeError('malformed clock');
  return vv;
}

function writeDots(w: Writer, dots: readonly Dot[]): void {
  w.varint(dots.length);
  for (const d of dots) {
    w.string(d.actor);
    w.varint(d.counter);
  }
}

function readDots(r: Reader): Dot[] {
  const n = r.count();
  const dots: Dot[] = [];
  for (let i = 0; i < n; i++) {
    const dot = { actor: r.string(), counter: r.varint() };
    const previous = dots[dots.length - 1];
    if (dot.counter < 1 || (previous !== undefined && compareDots(previous, dot) >= 0)) throw new DecodeError('set dots out of order, duplicated or zero');
    dots.push(dot);
  }
  return dots;
}

function encodeVv(vv: VersionVector): Uint8Array {
  const w = new Writer();
  writeVv(w, vv);
  return w.finish();
}

export function encodeCounter(counter: PnCounter): Uint8Array {
  const w = new Writer();
  w.byte(counterFormatV1);
  w.varint(counter.entries.length);
  for (const e of counter.entries) {
    w.string(e.actor);
    w.varint(e.p);
    w.varint(e.n);
  }
  return w.finish();
}

export function decodeCounter(input: Uint8Array): PnCounter {
  const r = new Reader(input);
  if (r.byte() !== counterFormatV1) throw new DecodeError('unknown counter format');
  const n = r.count();
  const entries: CounterEntry[] = [];
  for (let i = 0; i < n; i++) {
    const entry = { actor: r.string(), p: r.varint(), n: r.varint() };
    const previous = entries[entries.length - 1];
    if (previous !== undefined && previous.actor >= entry.actor) throw new DecodeError('counter entries out of order or duplicated');
    entries.push(entry);
  }
  r.end();
  return { entries };
}

export function encodeSet(set: OrSet): Uint8Array {
  const w = new Writer();
  w.byte(setFormatV1);
  writeVv(w, set.clock);
  w.varint(set.entries.length);
  for (const e of set.entries) {
    w.bytes(e.element);
    writeDots(w, e.dots);
  }
  w.varint(set.deferred.length);
  for (const d of set.deferred) {
    writeVv(w, d.context);
    w.varint(d.elements.length);
    for (const element of d.elements) w.bytes(element);
  }
  return w.finish();
}

export function decodeSet(input: Uint8Array): OrSet {
  const r = new Reader(input);
  if (r.byte() !== setFormatV1) throw new DecodeError('unknown set format');
  const clock = readVv(r);
  const entries: SetEntry[] = [];
  const count = r.count();
  for (let i = 0; i < count; i++) {
    const entry = { element: r.bytes(), dots: readDots(r) };
    if (entry.dots.length === 0 || !entry.dots.every((d) => vvCoversDot(clock, d))) throw new DecodeError('set entry dots missing or not covered by the clock');
    const previous = entries[entries.length - 1];
    if (previous !== undefined && compareBytes(previous.element, entry.element) >= 0) throw new DecodeError('set entries out of order or duplicated');
    entries.push(entry);
  }
  const deferred: DeferredRemove[] = [];
  const deferredCount = r.count();
  for (let i = 0; i < deferredCount; i++) {
    const context = readVv(r);
    const n = r.count();
    const elements: Uint8Array[] = [];
    for (let j = 0; j < n; j++) elements.push(r.bytes());
    deferred.push({ context, elements });
  }
  r.end();
  return { clock, entries, deferred };
}

/** The context a client passes back to remove what it read: the set's clock, as opaque bytes. */
export function encodeSetContext(clock: VersionVector): Uint8Array {
  const w = new Writer();
  w.byte(setContextFormatV1);
  writeVv(w, clock);
  return w.finish();
}

export function decodeSetContext(input: Uint8Array): VersionVector {
  const r = new Reader(input);
  if (r.byte() !== setContextFormatV1) throw new DecodeError('unknown set context format');
  const clock = readVv(r);
  r.end();
  return clock;
}
