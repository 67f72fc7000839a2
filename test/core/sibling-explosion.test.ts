// The classic "sibling explosion" workload (Riak before 2.0): two clients interleave writes to one
// key through the same coordinating vnode, each passing back the context its own previous write
// returned. With per-node vector clocks and no dots, the vnode cannot tell which siblings a stale
// context has seen, so it keeps them all and siblings grow with every write; with dotted version
// vectors each write drops exactly the siblings its context saw, and the count stays at two.

import test from 'ava';
import { type KvObject, applyWrite, emptyObject, mergeObjects } from '../../src/core/object.js';
import { type VersionVector, emptyVv, vvDescends, vvGet, vvMerge, vvWith } from '../../src/core/version-vector.js';
import { content } from './arbitraries.js';

/**
 * Riak 1.x's object model with vnode vector clocks: one clock for the whole object, none per
 * sibling. A write whose context descends the stored clock replaces everything; any other write
 * is added beside every stored value, because nothing says which of them the writer had seen.
 */
interface ClockObject {
  readonly values: readonly number[];
  readonly clock: VersionVector;
}

function clockWrite(current: ClockObject, context: VersionVector, value: number, vnode: string): ClockObject {
  const merged = vvMerge(current.clock, context);
  const clock = vvWith(merged, vnode, vvGet(merged, vnode) + 1);
  const values = vvDescends(context, current.clock) ? [value] : [...current.values, value];
  return { values, clock };
}

interface Row {
  readonly writes: number;
  readonly dvvSiblings: number;
  readonly clockSiblings: number;
}

/** Runs `writes` writes alternating between clients X and Y, all coordinated by vnode `a`. */
function explosionWorkload(writes: number, checkpoints: ReadonlySet<number>): { rows: Row[]; replicas: KvObject[] } {
  let coordinating: KvObject = emptyObject;
  // The other two replicas receive each applied write as a merge, as they do in the cluster.
  const others: KvObject[] = [emptyObject, emptyObject];
  let clockObject: ClockObject = { values: [], clock: emptyVv };
  const dvvContexts: VersionVector[] = [emptyVv, emptyVv];
  const clockContexts: VersionVector[] = [emptyVv, emptyVv];
  const rows: Row[] = [];
  for (let i = 0; i < writes; i++) {
    const client = i % 2;
    coordinating = applyWrite(coordinating, { context: dvvContexts[client]!, content: content(i), deleted: false }, 'a', i);
    for (let r = 0; r < others.length; r++) others[r] = mergeObjects(others[r]!, coordinating);
    dvvContexts[client] = coordinating.vv;
    clockObject = clockWrite(clockObject, clockContexts[client]!, i, 'a');
    clockContexts[client] = clockObject.clock;
    if (checkpoints.has(i + 1)) rows.push({ writes: i + 1, dvvSiblings: coordinating.siblings.length, clockSiblings: clockObject.values.length });
  }
  return { rows, replicas: [coordinating, ...others] };
}

function table(rows: readonly Row[]): string {
  const lines = ['| writes | siblings, dotted version vectors | siblings, per-node vector clocks |', '|---:|---:|---:|'];
  for (const row of rows) lines.push(`| ${row.writes} | ${row.dvvSiblings} | ${row.clockSiblings} |`);
  return lines.join('\n');
}

test('two clients writing with stale contexts through one vnode: DVV keeps two siblings, vector clocks one per write', (t) => {
  const { rows, replicas } = explosionWorkload(1000, new Set([1, 2, 3, 4, 10, 100, 1000]));
  t.log(`\n${table(rows)}`);
  for (const row of rows) {
    t.true(row.dvvSiblings <= 2, `after ${row.writes} writes DVV holds ${row.dvvSiblings} siblings`);
    t.is(row.clockSiblings, row.writes, 'without dots, every write stays as a sibling');
  }
  t.deepEqual(
    rows.map((r) => [r.writes, r.dvvSiblings, r.clockSiblings]),
    [[1, 1, 1], [2, 2, 2], [3, 2, 3], [4, 2, 4], [10, 2, 10], [100, 2, 100], [1000, 2, 1000]],
    'the table in docs/versions.md',
  );
  // The survivors are the two clients' latest writes, on every replica, and the context is one entry.
  for (const replica of replicas) {
    t.deepEqual(replica.siblings.map((s) => s.lastModifiedMs), [998, 999]);
    t.is(replica.vv.length, 1);
  }
});

test('the same workload with the clients on different coordinating vnodes stays at two siblings', (t) => {
  let a: KvObject = emptyObject;
  let b: KvObject = emptyObject;
  const contexts: VersionVector[] = [emptyVv, emptyVv];
  for (let i = 0; i < 500; i++) {
    const client = i % 2;
    if (client === 0) {
      a = applyWrite(mergeObjects(a, b), { context: contexts[0]!, content: content(i), deleted: false }, 'a', i);
      contexts[0] = a.vv;
    } else {
      b = applyWrite(mergeObjects(b, a), { context: contexts[1]!, content: content(i), deleted: false }, 'b', i);
      contexts[1] = b.vv;
    }
    t.true(Math.max(a.siblings.length, b.siblings.length) <= 2, `write ${i}`);
  }
  t.is(mergeObjects(a, b).siblings.length, 2);
});

test('siblings stay bounded by the number of concurrent writers, not by the number of writes', (t) => {
  // Five clients, each always writing with the context its previous write returned.
  const writers = 5;
  let object: KvObject = emptyObject;
  const contexts: VersionVector[] = Array.from({ length: writers }, () => emptyVv);
  let most = 0;
  for (let i = 0; i < 2000; i++) {
    const client = i % writers;
    object = applyWrite(object, { context: contexts[client]!, content: content(i), deleted: false }, 'a', i);
    contexts[client] = object.vv;
    most = Math.max(most, object.siblings.length);
  }
  t.is(most, writers);
});
