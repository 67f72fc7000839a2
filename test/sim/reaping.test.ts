// Tombstone reaping in the simulator, with the production Reaper actor on every node. The case
// that makes reaping dangerous: a fallback holds a hint of a value written while a primary was
// cut off; the primary comes back and the key is deleted on all three primaries before the hint
// is handed over. Reaping the tombstone then would let the late hint bring the deleted value back
// (the planted variant, which skips asking the members about copies they hold, shows it does).
// The reaper waits until no member holds a copy of the key's partitions, then reaps.

import test from 'ava';
import { encodeStorageKey } from '../../src/core/codec.js';
import { defaultFailureDetectorOptions } from '../../src/core/failure-detector.js';
import { partitionOf, preferencePartitions } from '../../src/core/ring.js';
import { SimCluster, errorOf, simDefaults } from '../../src/sim/cluster.js';
import { partitionBetween } from '../../src/sim/faults.js';
import { readAll } from '../../src/sim/fault-workload.js';
import { objectKey } from '../../src/sim/workload.js';

const names = ['n1', 'n2', 'n3', 'n4', 'n5'];
const Q = 16;

function cluster(seed: number, ignoreForeignCopies: boolean): SimCluster {
  const c = new SimCluster({
    ...simDefaults,
    seed,
    nodes: names,
    partitions: Q,
    // Hints are handed over only every 20 s: long after the tombstone is old enough to reap.
    liveness: { heartbeatIntervalMs: 1_000, detector: defaultFailureDetectorOptions, hintScanIntervalMs: 20_000 },
    reaping: { intervalMs: 1_000, delayMs: 3_000, ignoreForeignCopies },
  });
  c.bootstrap();
  return c;
}

interface Outcome {
  /** What a read of every replica returned at the end. */
  readonly values: readonly string[];
  /** Whether any node still stores the key. */
  readonly stored: boolean;
  readonly blockedForeign: number;
  readonly hintHeld: boolean;
}

async function deleteWhileAHintIsHeld(seed: number, ignoreForeignCopies: boolean): Promise<Outcome> {
  const c = cluster(seed, ignoreForeignCopies);
  const key = 'doomed';
  const storageKey = encodeStorageKey(objectKey(key));
  const partitions = preferencePartitions(partitionOf(storageKey, Q), 3, Q);
  const state = c.node('n1').state!;
  const primaries = partitions.map((p) => state.ring[p]!.owner);
  const cutOff = primaries[2]!;
  const via = names.find((n) => !primaries.includes(n))!;

  const first = await c.until(c.put(via, key, 'v1', undefined));
  if (!first.ok) throw new Error(errorOf(first));
  // The third primary is cut off; the next write goes to a fallback, which keeps it as a hint.
  const heal = c.network.addPolicy(partitionBetween([cutOff], names.filter((n) => n !== cutOff)));
  await c.runFor(8_000);
  const second = await c.until(c.put(via, key, 'v2', first.value.context));
  if (!second.ok) throw new Error(errorOf(second));
  const hintHeld = names.some((n) => !primaries.includes(n) && c.node(n).foreignPartitions().includes(partitions[2]!));
  heal();
  await c.runFor(4_000);
  // Deleted on all three primaries, with a context that has seen v2; the hint is still out there.
  const read = await c.until(c.get(via, key, readAll));
  if (!read.ok) throw new Error(errorOf(read));
  const deleted = await c.until(c.delete(via, key, read.value.context, { w: 'all', sloppyQuorum: false }));
  if (!deleted.ok) throw new Error(errorOf(deleted));

  await c.runFor(60_000);
  const final = await c.until(c.get(via, key, readAll));
  if (!final.ok) throw new Error(errorOf(final));
  const stored = names.some((n) => partitions.some((p) => c.node(n).storage.get(p, storageKey) !== undefined));
  const blockedForeign = names.reduce((sum, n) => sum + (c.node(n).reaper?.counts.blocked.foreign_copies ?? 0), 0);
  return { values: final.value.found ? SimCluster.values(final.value) : [], stored, blockedForeign, hintHeld };
}

test('a tombstone is not reaped while a fallback holds a hint of the value it deleted; once the hint is home, it is', async (t) => {
  for (const seed of [1, 2, 3]) {
    const outcome = await deleteWhileAHintIsHeld(seed, false);
    t.true(outcome.hintHeld, `seed ${seed}: a fallback held the hint`);
    t.deepEqual(outcome.values, [], `seed ${seed}: the deleted value did not come back`);
    t.true(outcome.blockedForeign > 0, `seed ${seed}: reaping waited for the hint`);
    t.false(outcome.stored, `seed ${seed}: and then reaped the tombstone everywhere`);
  }
});

test('planted: a reaper that does not ask about copies the members hold lets the late hint resurrect the value', async (t) => {
  const outcome = await deleteWhileAHintIsHeld(1, true);
  t.true(outcome.hintHeld);
  t.deepEqual(outcome.values, ['v2'], 'the hint handed over after the reap brought v2 back');
});
