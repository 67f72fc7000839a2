// A seed fixes a run: the same seed gives the same event trace (its digest), a different seed a
// different one — for the membership scenarios and for the fault scenarios alike. Passing every
// cluster state through the wire codec must change nothing at all.

import test from 'ava';
import { defaultFaultWeights, faultScenario, planFaults, runFaultScenario } from '../../src/sim/fault-scenario.js';
import { SimRandom } from '../../src/sim/random.js';
import { membershipScenario, runMembershipScenario } from '../../src/sim/scenario.js';

test('the same seed gives an identical trace; another seed a different one', async (t) => {
  const first = await runMembershipScenario(membershipScenario(11));
  const again = await runMembershipScenario(membershipScenario(11));
  const other = await runMembershipScenario(membershipScenario(12));
  t.is(again.digest, first.digest, 'seed 11 twice');
  t.is(again.events, first.events);
  t.deepEqual(again.operations, first.operations);
  t.deepEqual(again.timeline, first.timeline);
  t.not(other.digest, first.digest, 'seeds 11 and 12');
  t.log(`seed 11: ${first.digest} (${first.events} events); seed 12: ${other.digest}`);
});

test('sending cluster states through the wire codec leaves the run unchanged', async (t) => {
  const plain = await runMembershipScenario(membershipScenario(14));
  const coded = await runMembershipScenario(membershipScenario(14, { wireCodec: true }));
  t.deepEqual(coded.failures, []);
  t.is(coded.digest, plain.digest);
});

test('fault scenarios: the same seed gives an identical trace and history; another seed a different one', async (t) => {
  // Seeds 22 and 38 between them: duplication, reordering, delay, symmetric and one-way
  // partitions, a wiped disk, a power loss, a crash and a clock step.
  for (const seed of [22, 38]) {
    const first = await runFaultScenario(faultScenario(seed));
    const again = await runFaultScenario(faultScenario(seed));
    t.is(again.digest, first.digest, `seed ${seed} twice`);
    t.is(again.events, first.events);
    t.deepEqual(again.operations, first.operations);
    t.deepEqual(again.timeline, first.timeline);
    t.deepEqual(again.figures, first.figures);
    t.deepEqual(
      again.history.ops.map((op) => `${op.kind} ${op.key} ${op.outcome} ${op.completeUs}`),
      first.history.ops.map((op) => `${op.kind} ${op.key} ${op.outcome} ${op.completeUs}`),
    );
    t.log(`seed ${seed}: ${first.digest} (${first.events} events; ${first.plan.map((e) => e.fault.kind).join(', ')})`);
  }
  const other = await runFaultScenario(faultScenario(23));
  t.not(other.digest, (await runFaultScenario(faultScenario(22))).digest);
});

test('fault scenarios: seeds 1..200 draw every kind of fault', (t) => {
  const names = ['n1', 'n2', 'n3', 'n4', 'n5'];
  const drawn = new Map<string, number>();
  for (let seed = 1; seed <= 200; seed++) {
    for (const e of planFaults(new SimRandom(seed), names, faultScenario(seed))) drawn.set(e.fault.kind, (drawn.get(e.fault.kind) ?? 0) + 1);
  }
  t.deepEqual([...drawn.keys()].sort(), Object.keys(defaultFaultWeights).sort());
  t.log([...drawn].map(([k, n]) => `${k} ${n}`).join(', '));
});
