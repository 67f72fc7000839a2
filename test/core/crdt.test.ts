import test from 'ava';
import fc from 'fast-check';
import {
  type OrSet,
  type PnCounter,
  counterIncrement,
  counterMerge,
  counterValue,
  decodeCounter,
  decodeSet,
  emptyCounter,
  emptySet,
  encodeCounter,
  encodeSet,
  compareBytes,
  setAdd,
  setAddAll,
  setHas,
  setMembers,
  setMerge,
  setRemove,
  setRemoveAll,
  setRemoveSeen,
} from '../../src/core/crdt.js';
import type { Dot, VersionVector } from '../../src/core/version-vector.js';

const replicaActors = ['a', 'b', 'c'] as const;
const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
const text = (b: Uint8Array): string => new TextDecoder().decode(b);
const members = (set: OrSet): string[] => setMembers(set).map(text);

// ---------------------------------------------------------------------------------------------
// Counters: histories of increments and syncs over three replicas

type CounterStep = { kind: 'inc'; at: number; amount: number; newEpoch: boolean } | { kind: 'sync'; from: number; to: number };

const arbReplica = fc.integer({ min: 0, max: replicaActors.length - 1 });
const arbCounterHistory = fc.array(
  fc.oneof(
    // Now and then a replica starts a new epoch, as it does after a delete or an expiry.
    fc.record({ kind: fc.constant('inc' as const), at: arbReplica, amount: fc.integer({ min: -50, max: 50 }), newEpoch: fc.integer({ min: 0, max: 4 }).map((n) => n === 0) }),
    fc.record({ kind: fc.constant('sync' as const), from: arbReplica, to: arbReplica }),
  ),
  { maxLength: 30 },
);

function replayCounter(steps: readonly CounterStep[]): { replicas: PnCounter[]; total: number } {
  const replicas = replicaActors.map(() => emptyCounter);
  const dots = replicaActors.map(() => 0); // each replica's object dot counter: only grows
  let total = 0;
  for (const step of steps) {
    if (step.kind === 'inc') {
      replicas[step.at] = counterIncrement(replicas[step.at]!, replicaActors[step.at]!, step.amount, ++dots[step.at]!, step.newEpoch);
      total += step.amount;
    } else replicas[step.to] = counterMerge(replicas[step.to]!, replicas[step.from]!);
  }
  return { replicas, total };
}

test('counter merge is commutative, associative and idempotent', (t) => {
  fc.assert(
    fc.property(arbCounterHistory, (steps) => {
      const [x, y, z] = replayCounter(steps).replicas as [PnCounter, PnCounter, PnCounter];
      t.deepEqual(counterMerge(x, y), counterMerge(y, x));
      t.deepEqual(counterMerge(counterMerge(x, y), z), counterMerge(x, counterMerge(y, z)));
      t.deepEqual(counterMerge(x, x), x);
    }),
    { numRuns: 200 },
  );
});

test('after convergence a counter is exactly the sum of every increment', (t) => {
  fc.assert(
    fc.property(arbCounterHistory, (steps) => {
      const { replicas, total } = replayCounter(steps);
      const converged = replicas.reduce(counterMerge, emptyCounter);
      t.is(counterValue(converged), total);
      for (const r of replicas) t.is(counterValue(counterMerge(r, converged)), total);
    }),
    { numRuns: 200 },
  );
});

test('a counter survives its encoding', (t) => {
  fc.assert(
    fc.property(arbCounterHistory, (steps) => {
      for (const c of replayCounter(steps).replicas) t.deepEqual(decodeCounter(encodeCounter(c)), c);
    }),
    { numRuns: 100 },
  );
});

test('decrements count apart from increments, and a re-delivered state counts once', (t) => {
  let a = counterIncrement(emptyCounter, 'a', 5, 1);
  a = counterIncrement(a, 'a', -2, 2);
  const b = counterIncrement(emptyCounter, 'b', 10, 1);
  t.deepEqual(a.entries, [{ actor: 'a@1', p: 5, n: 2 }], 'the entry continues in the epoch it started in');
  const merged = counterMerge(counterMerge(a, b), a);
  t.is(counterValue(merged), 13);
});

// ---------------------------------------------------------------------------------------------
// Sets: histories of adds, removes (observed, or with another replica's context) and syncs

const elements = ['x', 'y', 'z'] as const;
const arbElement = fc.constantFrom(...elements);

type SetStep =
  | { kind: 'add'; at: number; element: string }
  | { kind: 'addAll'; at: number; elements: string[]; minCounter: number }
  | { kind: 'remove'; at: number; element: string }
  | { kind: 'removeWithContext'; at: number; element: string; contextFrom: number }
  | { kind: 'sync'; from: number; to: number };

const arbSetHistory = fc.array(
  fc.oneof(
    fc.record({ kind: fc.constant('add' as const), at: arbReplica, element: arbElement }),
    // Several elements under one dot, at least a given counter (as an update after a delete does).
    fc.record({ kind: fc.constant('addAll' as const), at: arbReplica, elements: fc.array(arbElement, { minLength: 1, maxLength: 4 }), minCounter: fc.integer({ min: 1, max: 12 }) }),
    fc.record({ kind: fc.constant('remove' as const), at: arbReplica, element: arbElement }),
    fc.record({ kind: fc.constant('removeWithContext' as const), at: arbReplica, element: arbElement, contextFrom: arbReplica }),
    fc.record({ kind: fc.constant('sync' as const), from: arbReplica, to: arbReplica }),
  ),
  { maxLength: 30 },
);

const dotKey = (element: string, d: Dot): string => `${element}/${d.actor}.${d.counter}`;

function dotsOf(set: OrSet, element: string): readonly Dot[] {
  return set.entries.find((e) => text(e.element) === element)?.dots ?? [];
}

/**
 * Replays a history and keeps a model beside it: every add dot ever made, and every dot some
 * operation superseded (a remove, or a later add at a replica that held it). After convergence
 * an element must be present exactly when one of its add dots was never superseded.
 */
function replaySet(steps: readonly SetStep[]): { replicas: OrSet[]; added: Set<string>; superseded: Set<string> } {
  const replicas = replicaActors.map(() => emptySet);
  const added = new Set<string>();
  const superseded = new Set<string>();
  const allDots = (element: string): string[] => [...added].filter((k) => k.startsWith(`${element}/`));
  for (const step of steps) {
    if (step.kind === 'sync') {
      replicas[step.to] = setMerge(replicas[step.to]!, replicas[step.from]!);
      continue;
    }
    const at = replicas[step.at]!;
    if (step.kind === 'add') {
      for (const d of dotsOf(at, step.element)) superseded.add(dotKey(step.element, d));
      const next = setAdd(at, replicaActors[step.at]!, bytes(step.element));
      for (const d of dotsOf(next, step.element)) added.add(dotKey(step.element, d));
      replicas[step.at] = next;
    } else if (step.kind === 'addAll') {
      for (const element of step.elements) for (const d of dotsOf(at, element)) superseded.add(dotKey(element, d));
      const next = setAddAll(at, replicaActors[step.at]!, step.elements.map(bytes), step.minCounter);
      for (const element of step.elements) for (const d of dotsOf(next, element)) added.add(dotKey(element, d));
      replicas[step.at] = next;
    } else if (step.kind === 'remove') {
      if (!setHas(at, bytes(step.element))) continue;
      for (const d of dotsOf(at, step.element)) superseded.add(dotKey(step.element, d));
      replicas[step.at] = setRemove(at, bytes(step.element));
    } else {
      const context: VersionVector = replicas[step.contextFrom]!.clock;
      // The context saw exactly the dots it covers; those held by the reader are the ones removed.
      for (const key of allDots(step.element)) {
        const [actor, counter] = key.slice(step.element.length + 1).split('.') as [string, string];
        const seenByReader = dotsOf(replicas[step.contextFrom]!, step.element).some((d) => d.actor === actor && d.counter === Number(counter));
        if (seenByReader) superseded.add(key);
      }
      replicas[step.at] = setRemoveSeen(at, [bytes(step.element)], context);
    }
  }
  return { replicas, added, superseded };
}

test('set merge is commutative, associative and idempotent', (t) => {
  fc.assert(
    fc.property(arbSetHistory, (steps) => {
      const [x, y, z] = replaySet(steps).replicas as [OrSet, OrSet, OrSet];
      t.deepEqual(setMerge(x, y), setMerge(y, x));
      t.deepEqual(setMerge(setMerge(x, y), z), setMerge(x, setMerge(y, z)));
      t.deepEqual(setMerge(x, x), x);
    }),
    { numRuns: 300 },
  );
});

test('after convergence an element is present exactly when some add of it was never superseded (add wins)', (t) => {
  fc.assert(
    fc.property(arbSetHistory, (steps) => {
      const { replicas, added, superseded } = replaySet(steps);
      const converged = replicas.reduce(setMerge, emptySet);
      for (const r of replicas) t.deepEqual(setMerge(r, converged), converged, 'every replica converges to the same state');
      for (const element of elements) {
        const alive = [...added].some((k) => k.startsWith(`${element}/`) && !superseded.has(k));
        t.is(setHas(converged, bytes(element)), alive, `element ${element}`);
      }
    }),
    { numRuns: 300 },
  );
});

test('a set survives its encoding', (t) => {
  fc.assert(
    fc.property(arbSetHistory, (steps) => {
      for (const s of replaySet(steps).replicas) t.deepEqual(decodeSet(encodeSet(s)), s);
    }),
    { numRuns: 100 },
  );
});

test('a concurrent add wins over a remove', (t) => {
  const a1 = setAdd(emptySet, 'a', bytes('x'));
  const b1 = setMerge(emptySet, a1);
  const a2 = setAdd(a1, 'a', bytes('x')); // re-added at a, concurrently with the remove at b
  const b2 = setRemove(b1, bytes('x'));
  t.deepEqual(members(b2), []);
  t.deepEqual(members(setMerge(a2, b2)), ['x']);
  t.deepEqual(members(setMerge(a1, b2)), [], 'without the concurrent add, the remove holds');
});

test('a remove with a context removes only the adds that context saw', (t) => {
  const a1 = setAdd(emptySet, 'a', bytes('x'));
  const context = a1.clock;
  const b1 = setAdd(emptySet, 'b', bytes('x')); // an add the reader never saw
  const merged = setMerge(a1, b1);
  const removed = setRemoveSeen(merged, [bytes('x')], context);
  t.deepEqual(members(removed), ['x'], "b's add survives");
  t.deepEqual(removed.entries[0]!.dots, [{ actor: 'b', counter: 1 }]);
});

test('a remove whose context is ahead of the replica is deferred until the adds arrive', (t) => {
  const a1 = setAdd(emptySet, 'a', bytes('x'));
  // The client read x from replica a and removes it through replica c, which has not seen the add.
  const c1 = setRemoveSeen(emptySet, [bytes('x')], a1.clock);
  t.is(c1.deferred.length, 1);
  const healed = setMerge(c1, a1);
  t.deepEqual(members(healed), []);
  t.is(healed.deferred.length, 0, 'forgotten once the clock covers the context');
  t.deepEqual(members(setMerge(healed, a1)), [], 'the old add cannot come back');
});

test("an increment continues the actor's latest epoch, or starts one when asked or when the state holds none", (t) => {
  // A state written before epochs: the bare actor id counts as epoch 0 and is continued.
  const legacy: PnCounter = { entries: [{ actor: 'a', p: 5, n: 0 }, { actor: 'ab', p: 1, n: 0 }] };
  t.deepEqual(counterIncrement(legacy, 'a', 2, 7).entries, [
    { actor: 'a', p: 7, n: 0 },
    { actor: 'ab', p: 1, n: 0 },
  ]);
  const epochs: PnCounter = { entries: [{ actor: 'a', p: 5, n: 0 }, { actor: 'a@3', p: 1, n: 0 }, { actor: 'a@12', p: 2, n: 1 }, { actor: 'b@20', p: 4, n: 0 }] };
  t.deepEqual(counterIncrement(epochs, 'a', 3, 30).entries.find((e) => e.actor === 'a@12'), { actor: 'a@12', p: 5, n: 1 }, 'the highest epoch, compared as a number');
  const fresh = counterIncrement(epochs, 'a', 3, 30, true);
  t.deepEqual(fresh.entries.find((e) => e.actor === 'a@30'), { actor: 'a@30', p: 3, n: 0 }, 'a new epoch when asked');
  t.is(counterValue(fresh), counterValue(epochs) + 3);
  t.deepEqual(counterIncrement(emptyCounter, 'a', -4, 9).entries, [{ actor: 'a@9', p: 0, n: 4 }]);
  t.deepEqual(decodeCounter(encodeCounter(fresh)), fresh);
});

test('all adds of one update share one dot, at least the minimum counter given', (t) => {
  const s1 = setAddAll(emptySet, 'a', [bytes('y'), bytes('x'), bytes('y')], 5);
  t.deepEqual(members(s1), ['x', 'y']);
  t.deepEqual(s1.clock, [{ actor: 'a', counter: 5 }]);
  t.true(s1.entries.every((e) => e.dots.length === 1 && e.dots[0]!.actor === 'a' && e.dots[0]!.counter === 5));
  const s2 = setAddAll(s1, 'a', [bytes('x')], 2);
  t.deepEqual(dotsOf(s2, 'x'), [{ actor: 'a', counter: 6 }], 'never below the clock');
  t.deepEqual(decodeSet(encodeSet(s2)), s2);
  // A remove with the context of s1 takes x and y; the add at counter 6 survives it.
  t.deepEqual(members(setRemoveSeen(s2, [bytes('x'), bytes('y')], s1.clock)), ['x']);
});

test('a large set takes an update of many adds and removes in one pass, and stays canonical', (t) => {
  const n = 20_000;
  const name = (i: number): Uint8Array => bytes(`m${String(i).padStart(6, '0')}`);
  const start = Array.from({ length: n }, (_, i) => name(i * 2));
  const big = setAddAll(emptySet, 'a', start);
  t.is(big.entries.length, n);
  // 500 removes of members and 500 adds: half new (odd), half already present (re-added).
  const removes = Array.from({ length: 500 }, (_, i) => name(i * 8));
  const adds = [...Array.from({ length: 250 }, (_, i) => name(i * 16 + 1)), ...Array.from({ length: 250 }, (_, i) => name(i * 8 + 4))];
  for (const r of removes) t.true(setHas(big, r));
  const removed = setRemoveAll(big, [...removes, ...removes]);
  const next = setAddAll(removed, 'b', adds, 3);
  t.is(next.entries.length, n - 500 + 250);
  t.true(next.entries.every((e, i) => i === 0 || compareBytes(next.entries[i - 1]!.element, e.element) < 0), 'sorted, distinct');
  for (const r of removes) t.false(setHas(next, r));
  for (const a of adds) t.true(setHas(next, a));
  t.deepEqual(dotsOf(next, text(adds[300]!)), [{ actor: 'b', counter: 3 }], 'a re-added member holds only the new dot');
  t.deepEqual(dotsOf(next, text(name(2))), [{ actor: 'a', counter: 1 }]);
  t.deepEqual(decodeSet(encodeSet(next)), next);
  // With a context, the same removes: the adds the context saw go, the concurrent ones stay.
  const untouched = Array.from({ length: 250 }, (_, i) => name(i * 8 + 2));
  const withContext = setRemoveSeen(next, [...adds, ...untouched, ...removes], big.clock);
  t.is(withContext.entries.length, next.entries.length - 250, 'the members the context saw go; the re-added and new ones keep their new dot');
  for (const u of untouched) t.false(setHas(withContext, u));
  for (const a of adds) t.true(setHas(withContext, a));
  t.deepEqual(setMerge(next, withContext), withContext);
});
