// The checkers are checked: with a bug planted on purpose, the fault scenarios (drawing the
// faults that can expose it), or a directed run, must report it. Each planted bug is one that the production design guards against:
//   - drop-hints: a fallback drops its hints instead of handing them to the owner;
//   - reply-before-fsync: a vnode acknowledges a write before it is durable;
//   - keep-actor-ids: a vnode keeps its actor id after a crash that lost some of its writes.
// And the history checkers on histories written by hand: a stale strict read, a read excused by a
// wiped disk, siblings that are not concurrent, one write shown twice, a resurrected delete.

import test from 'ava';
import { encodeStorageKey } from '../../src/core/codec.js';
import { defaultFailureDetectorOptions } from '../../src/core/failure-detector.js';
import { partitionOf, preferencePartitions } from '../../src/core/ring.js';
import { SimCluster, errorOf, simDefaults } from '../../src/sim/cluster.js';
import { checkResurrections, checkSiblings, checkStrictReads } from '../../src/sim/fault-checkers.js';
import { type FaultKind, faultScenario, runFaultScenario } from '../../src/sim/fault-scenario.js';
import { readAll } from '../../src/sim/fault-workload.js';
import { History } from '../../src/sim/history.js';
import type { PlantedBug } from '../../src/sim/node.js';
import { objectKey } from '../../src/sim/workload.js';

/** The first seed whose fault scenario, drawing only the faults given, reports the planted bug. */
async function firstCaught(bug: PlantedBug, faultWeights: Partial<Record<FaultKind, number>>, maxSeed: number): Promise<{ seed: number; failures: readonly string[] } | undefined> {
  for (let seed = 1; seed <= maxSeed; seed++) {
    const report = await runFaultScenario(faultScenario(seed, { plantedBug: bug, faultWeights }));
    if (report.failures.length > 0) return { seed, failures: report.failures };
  }
  return undefined;
}

test('planted: hints dropped instead of handed off are found (acknowledged writes lost or deletes undone)', async (t) => {
  // Hints come from primaries that are down or cut off.
  const caught = await firstCaught('drop-hints', { crash: 2, partition: 2, 'one-way': 1, 'power-loss': 1 }, 40);
  t.truthy(caught, 'no seed of 1..40 found it');
  t.log(`seed ${caught?.seed}: ${caught?.failures.slice(0, 3).join('\n')}`);
  t.true(caught!.failures.some((f) => f.startsWith('acked-writes:') || f.startsWith('resurrected:')));
});

test('planted: replies sent before the fsync are found once a power loss takes every copy', async (t) => {
  // Only losing every copy of an acknowledged write shows it: power losses.
  const caught = await firstCaught('reply-before-fsync', { 'power-loss': 3, crash: 1 }, 40);
  t.truthy(caught, 'no seed of 1..40 found it');
  t.log(`seed ${caught?.seed}: ${caught?.failures.slice(0, 3).join('\n')}`);
});

/**
 * A vnode applies a write, hands it to the other replicas, and crashes before its fsync; the
 * write is acknowledged by the other two. Restarted, the vnode applies the next write. Under its
 * old identity it mints the dot it lost again, for another value, and the replicas' merge keeps
 * only one of the two; under a fresh identity both survive as siblings.
 */
async function dotReuse(bug: PlantedBug | undefined): Promise<string[]> {
  const c = new SimCluster({
    ...simDefaults,
    seed: 9,
    nodes: ['n1', 'n2', 'n3', 'n4', 'n5'],
    partitions: 16,
    storage: { fsyncMinUs: 5_000, fsyncMaxUs: 5_000 },
    liveness: { heartbeatIntervalMs: 1_000, detector: defaultFailureDetectorOptions, hintScanIntervalMs: 10_000 },
    ...(bug === undefined ? {} : { plantedBug: bug }),
  });
  c.bootstrap();
  const key = 'dots';
  const state = c.node('n1').state!;
  const owners = preferencePartitions(partitionOf(encodeStorageKey(objectKey(key)), 16), 3, 16).map((p) => state.ring[p]!.owner);
  const x = owners[0];
  // Writes through a node holding no replica are coordinated by the first one, x.
  const y = ['n1', 'n2', 'n3', 'n4', 'n5'].find((n) => !owners.includes(n));
  const a = await c.until(c.put(x!, key, 'a', undefined));
  if (!a.ok) throw new Error(errorOf(a));
  await c.runFor(100);
  const storage = c.node(x!).storage;
  storage.onAppend = () => {
    storage.onAppend = undefined;
    c.world.schedule(0, 'planted crash', () => c.crash(x!));
  };
  const b = await c.until(c.put(y!, key, 'b', undefined));
  if (!b.ok) throw new Error(`b: ${errorOf(b)}`);
  await c.runFor(100);
  c.restart(x!);
  await c.runFor(2_000); // the peers connect to the new process (a heartbeat) and believe it up
  const cc = await c.until(c.put(y!, key, 'c', undefined));
  if (!cc.ok) throw new Error(`c: ${errorOf(cc)}`);
  await c.runFor(100);
  const read = await c.until(c.get(y!, key, readAll));
  return read.ok ? SimCluster.values(read.value) : [];
}

test('directed: a vnode takes a fresh actor id after a crash, so both writes survive', async (t) => {
  t.deepEqual(await dotReuse(undefined), ['a', 'b', 'c'], 'three blind writes, three siblings');
});

test('planted: a vnode that keeps its actor id after a crash loses an acknowledged write', async (t) => {
  const values = await dotReuse('keep-actor-ids');
  t.false(values.includes('b') && values.includes('c'), `one of b and c is gone: ${values.join(', ')}`);
});

// ---- The history checkers on histories written by hand

const put = (h: History, key: string, value: string, at: [number, number], extra: { context?: { actor: string; counter: number }[]; result?: { actor: string; counter: number }[]; mode?: 'strict' | 'sloppy'; deleted?: boolean; dot?: { actor: string; counter: number } }) => {
  const op = h.invokePut({ client: 0, node: 'n1', key, invokeUs: at[0], value, context: extra.context ?? [], mode: extra.mode ?? 'strict', deleted: extra.deleted ?? false });
  op.completeUs = at[1];
  op.outcome = 'ok';
  op.dot = extra.dot;
  if (extra.result !== undefined) op.resultContext = extra.result;
  return op;
};
const get = (h: History, key: string, at: [number, number], values: string[], dots: { actor: string; counter: number }[], context: { actor: string; counter: number }[], final = false, mode: 'strict' | 'sloppy' | 'all' = 'strict') => {
  const op = h.invokeGet({ client: 1, node: 'n2', key, invokeUs: at[0], final, mode });
  op.completeUs = at[1];
  op.outcome = 'ok';
  op.values = values;
  op.dots = dots;
  op.context = context;
  return op;
};

test('checkers: a strict read that missed an acknowledged strict write is stale, unless a replica was wiped meanwhile', (t) => {
  const h = new History();
  put(h, 'k', 'v1', [0, 10], { result: [{ actor: 'A', counter: 1 }], dot: { actor: 'A', counter: 1 } });
  get(h, 'k', [20, 30], [], [], []);
  get(h, 'k', [5, 30], [], [], []); // concurrent with the write: not judged
  get(h, 'k', [40, 50], ['v1'], [{ actor: 'A', counter: 1 }], [{ actor: 'A', counter: 1 }]);
  const owners = () => ['n1', 'n2', 'n3'];
  const found = checkStrictReads(h, [], owners);
  t.is(found.violations.length, 1);
  t.regex(found.violations[0]!, /has not seen the write of v1/);
  const excused = checkStrictReads(h, [{ node: 'n2', atUs: 15 }], owners);
  t.deepEqual([excused.violations.length, excused.excused], [0, 1]);
});

test('checkers: siblings that are not concurrent, and one write shown twice, are found', (t) => {
  const h = new History();
  put(h, 'k', 'a', [0, 1], { dot: { actor: 'A', counter: 1 } });
  put(h, 'k', 'b', [2, 3], { context: [{ actor: 'A', counter: 1 }], dot: { actor: 'A', counter: 2 } });
  get(h, 'k', [4, 5], ['a', 'b'], [{ actor: 'A', counter: 1 }, { actor: 'A', counter: 2 }], []);
  get(h, 'k', [6, 7], ['b', 'b'], [{ actor: 'A', counter: 2 }, { actor: 'B', counter: 1 }], []);
  get(h, 'k', [8, 9], ['b', 'b'], [{ actor: 'A', counter: 2 }, { actor: 'A', counter: 3 }], []);
  const found = checkSiblings(h);
  t.is(found.violations.length, 3, found.violations.join('\n'));
  t.regex(found.violations[0]!, /b was written with a context that had seen a/);
  t.regex(found.violations[1]!, /one write as several siblings/);
  t.regex(found.violations[2]!, /one write as several siblings/);
  t.is(found.maxSiblings, 2);
});

test('checkers: a value an acknowledged delete covered must not come back, and the final read must have seen the delete', (t) => {
  const h = new History();
  put(h, 'k', 'a', [0, 1], { dot: { actor: 'A', counter: 1 } });
  put(h, 'k', 'del', [2, 3], { context: [{ actor: 'A', counter: 1 }], result: [{ actor: 'A', counter: 2 }], deleted: true });
  get(h, 'k', [4, 5], ['a'], [{ actor: 'A', counter: 1 }], [{ actor: 'A', counter: 1 }], true, 'all');
  const found = checkResurrections(h, [], () => ['n1', 'n2', 'n3']);
  t.is(found.length, 2, found.join('\n'));
  t.regex(found[0]!, /had seen and deleted/);
  t.regex(found[1]!, /has not seen the delete/);
});
