// Epidemic dissemination: push-pull gossip reaches every node in O(log n) rounds (measured over
// many seeds for 8, 64 and 512 nodes, with the bound stated), push alone is slower, message loss
// costs a few rounds, and target choice is uniform over the other members and reproducible.

import test from 'ava';
import { type GossipMode, defaultSpreadOptions, pickGossipTarget, simulateSpread } from '../../src/core/gossip.js';
import { seededRandom } from '../../src/core/random.js';

const seeds = 300;

interface Measured {
  readonly n: number;
  readonly mean: number;
  readonly max: number;
}

function measure(n: number, mode: GossipMode, lossRate: number): Measured {
  let sum = 0;
  let max = 0;
  for (let seed = 1; seed <= seeds; seed++) {
    const { rounds } = simulateSpread({ ...defaultSpreadOptions, nodes: n, mode, lossRate }, seededRandom(seed));
    if (rounds === undefined) throw new Error(`n ${n} ${mode} loss ${lossRate} seed ${seed}: did not converge`);
    sum += rounds;
    max = Math.max(max, rounds);
  }
  return { n, mean: sum / seeds, max };
}

const row = (m: Measured): string => `n ${m.n}: mean ${m.mean.toFixed(2)}, max ${m.max}, log2 n ${Math.log2(m.n)}`;

test('push-pull gossip reaches every node within log2(n) + 3 rounds', (t) => {
  const results = [8, 64, 512].map((n) => measure(n, 'push-pull', 0));
  for (const m of results) t.true(m.max <= Math.log2(m.n) + 3, row(m));
  // O(log n): multiplying n by 8 adds about the same number of rounds each time.
  const [small, medium, large] = results as [Measured, Measured, Measured];
  t.true(large.mean - medium.mean <= medium.mean - small.mean + 0.5, 'growth per ×8 does not increase');
  t.log(`push-pull, no loss, seeds 1..${seeds}: ${results.map(row).join('; ')}`);
});

test('with 10% of messages lost, push-pull still converges within 1.5·log2(n) + 3 rounds', (t) => {
  const results = [8, 64, 512].map((n) => measure(n, 'push-pull', 0.1));
  for (const m of results) t.true(m.max <= 1.5 * Math.log2(m.n) + 3, row(m));
  t.log(`push-pull, 10% loss, seeds 1..${seeds}: ${results.map(row).join('; ')}`);
});

test('push alone is slower than push-pull (about log2 n + ln n rounds)', (t) => {
  const results = [8, 64, 512].map((n) => measure(n, 'push', 0));
  const pushPull = [8, 64, 512].map((n) => measure(n, 'push-pull', 0));
  results.forEach((m, i) => {
    t.true(m.mean > pushPull[i]!.mean, row(m));
    t.true(m.max <= 2.5 * Math.log2(m.n) + 4, row(m));
  });
  t.log(`push only, no loss, seeds 1..${seeds}: ${results.map(row).join('; ')}`);
});

test('the spread is counted round by round and never shrinks', (t) => {
  const { rounds, informedAfterRound } = simulateSpread({ ...defaultSpreadOptions, nodes: 64 }, seededRandom(3));
  t.is(informedAfterRound[0], 1);
  t.is(informedAfterRound.length, rounds! + 1);
  t.is(informedAfterRound.at(-1), 64);
  for (let i = 1; i < informedAfterRound.length; i++) t.true(informedAfterRound[i]! >= informedAfterRound[i - 1]!);
  const capped = simulateSpread({ ...defaultSpreadOptions, nodes: 512, maxRounds: 2 }, seededRandom(3));
  t.is(capped.rounds, undefined, 'gives up after maxRounds');
  t.is(capped.informedAfterRound.length, 3);
});

test('the same seed gives the same spread', (t) => {
  const run = (seed: number) => simulateSpread({ ...defaultSpreadOptions, nodes: 512, lossRate: 0.1 }, seededRandom(seed)).informedAfterRound;
  t.deepEqual(run(11), run(11));
  t.notDeepEqual(run(11), run(12));
});

test('pickGossipTarget chooses uniformly among the others, never itself', (t) => {
  const members = ['n1', 'n2', 'n3', 'n4', 'n5'];
  const random = seededRandom(42);
  const counts = new Map<string, number>();
  const draws = 40_000;
  for (let i = 0; i < draws; i++) {
    const target = pickGossipTarget(members, 'n3', random)!;
    counts.set(target, (counts.get(target) ?? 0) + 1);
  }
  t.false(counts.has('n3'));
  t.deepEqual([...counts.keys()].sort(), ['n1', 'n2', 'n4', 'n5']);
  for (const [name, count] of counts) t.true(Math.abs(count - draws / 4) < draws * 0.02, `${name}: ${count}`);
  t.is(pickGossipTarget(['n1'], 'n1', random), undefined);
  t.is(pickGossipTarget([], 'n1', random), undefined);
  t.is(pickGossipTarget(['n1', 'n2'], 'n1', () => 0.999999), 'n2');
  t.throws(() => pickGossipTarget(['n1', 'n2'], 'n1', () => 1));
});
