// Counters through partitions, in the deterministic simulator: many clients increment a few
// counters through every node while the network splits and heals. After healing and settling,
// every node reads the same value for each counter, and that value is exactly the sum of the
// acknowledged increments when no outcome was unknown, and otherwise lies between the sum of
// the acknowledged increments and the sum of every attempted one. Each run prints its seed.

import test from 'ava';
import { SimCluster, errorOf, simDefaults } from '../../src/sim/cluster.js';
import { partitionBetween } from '../../src/sim/faults.js';
import type { NodeMessage } from '../../src/sim/messages.js';
import { SimRandom } from '../../src/sim/random.js';

const nodes = ['n1', 'n2', 'n3', 'n4', 'n5'];
const keys = ['likes', 'views', 'stock'];

interface Tally {
  acknowledged: number;
  attempted: number;
  unknown: number;
}

async function runClients(c: SimCluster, random: SimRandom, tallies: Map<string, Tally>, perClient: number): Promise<void> {
  const client = async (via: string): Promise<void> => {
    for (let i = 0; i < perClient; i++) {
      const key = keys[random.int(0, keys.length - 1)]!;
      const amount = random.int(1, 5);
      const tally = tallies.get(key)!;
      tally.attempted += amount;
      const result = await c.increment(via, key, amount);
      // Any failure may or may not have been applied somewhere (a timeout, too few replicas).
      if (result.ok) tally.acknowledged += amount;
      else tally.unknown++;
    }
  };
  await c.until(Promise.all(nodes.map(client)), 600_000);
}

async function scenario(seed: number): Promise<{ tallies: Map<string, Tally>; reads: Map<string, number[]> }> {
  const c = new SimCluster({ ...simDefaults, seed, nodes, partitions: 16 });
  c.bootstrap();
  const random = new SimRandom(seed);
  const tallies = new Map(keys.map((k) => [k, { acknowledged: 0, attempted: 0, unknown: 0 }]));
  await runClients(c, random, tallies, 6);
  const heal = c.network.addPolicy(partitionBetween<NodeMessage>(['n1', 'n2'], ['n3', 'n4', 'n5']));
  await runClients(c, random, tallies, 6);
  heal();
  await runClients(c, random, tallies, 4);
  const unsettled = await c.settle();
  if (unsettled.length > 0) throw new Error(`seed ${seed}: not settled: ${unsettled.join('; ')}`);
  const reads = new Map<string, number[]>();
  for (const key of keys) {
    const values: number[] = [];
    for (const via of nodes) {
      const read = await c.until(c.get(via, key, { r: 'all' }));
      if (!read.ok) throw new Error(`seed ${seed}: read of ${key} via ${via} failed: ${errorOf(read)}`);
      values.push(SimCluster.counterOf(read.value));
    }
    reads.set(key, values);
  }
  return { tallies, reads };
}

for (const seed of [1, 2, 3]) {
  test(`seed ${seed}: counters incremented through a partition converge to the acknowledged sum, or within [acknowledged, attempted]`, async (t) => {
    t.log(`seed ${seed}`);
    const { tallies, reads } = await scenario(seed);
    for (const key of keys) {
      const tally = tallies.get(key)!;
      const values = reads.get(key)!;
      t.log(`${key}: read ${values[0]}, acknowledged ${tally.acknowledged}, attempted ${tally.attempted}, unknown outcomes ${tally.unknown}`);
      t.true(values.every((v) => v === values[0]), `${key}: every node reads the same value (${values.join(', ')})`);
      const value = values[0]!;
      if (tally.unknown === 0) t.is(value, tally.acknowledged, `${key}: exactly the acknowledged increments`);
      else t.true(value >= tally.acknowledged && value <= tally.attempted, `${key}: ${value} within [${tally.acknowledged}, ${tally.attempted}]`);
    }
  });
}
