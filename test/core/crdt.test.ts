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
  setAdd,
  setHas,
  setMembers,
  setMerge,
  setRemove,
  setRemoveSeen,
} from '../../src/core/crdt.js';
import type { Dot, VersionVector } from '../../src/core/version-vector.js';

const replicaActors = ['a', 'b', 'c'] as const;
const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
const text = (b: Uint8Array): string => new TextDecoder().decode(b);
const members = (set: OrSet): string[] => setMembers(set).map(text);

// ---------------------------------------------------------------------------------------------
// Counters: histories of increments and syncs over three replicas

type CounterStep = { kind: 'inc'; at: number; amount: number } | { kind: 'sync'; from: number; to: number };

const arbReplica = fc.integer({ min: 0, max: replicaActors.length - 1 });
const arbCounterHistory = fc.array(
  fc.oneof(
    fc.record({ kind: fc.constant('inc' as const), at: arbReplica, amount: fc.integer({ min: -50, max: 50 }) }),
    fc.record({ kind: fc.constant('sync' as const), from: arbReplica, to: arbReplica }),
  ),
  { maxLength: 30 },
);

function replayCounter(steps: readonly CounterStep[]): { replicas: PnCounter[]; total: number } {
  const replicas = replicaActors.map(() => emptyCounter);
  let total = 0;
  for (const step of steps) {
    if (step.kind === 'inc') {
      replicas[step.at] = counterIncrement(replicas[step.at]!, replicaActors[step.at]!, step.amount);
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
  let a = counterIncrement(emptyCounter, 'a', 5);
  a = counterIncrement(a, 'a', -2);
  const b = counterIncrement(emptyCounter, 'b', 10);
  t.deepEqual(a.entries, [{ actor: 'a', p: 5, n: 2 }]);
  const merged = counterMerge(counterMerge(a, b), a);
  t.is(counterValue(merged), 13);
});

// ---------------------------------------------------------------------------------------------
// Sets: histories of adds, removes (observed, or with another replica's context) and syncs

const elements = ['x', 'y', 'z'] as const;
const arbElement = fc.constantFrom(...elements);

type SetStep =
  | { kind: 'add'; at: number; element: string }
  | { kind: 'remove'; at: number; element: string }
  | { kind: 'removeWithContext'; at: number; element: string; contextFrom: number }
  | { kind: 'sync'; from: number; to: number };

const arbSetHistory = fc.array(
  fc.oneof(
    fc.record({ kind: fc.constant('add' as const), at: arbReplica, element: arbElement }),
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
