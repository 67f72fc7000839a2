// A seed fixes a run: the same seed gives the same event trace (its digest), a different seed a
// different one. Passing every cluster state through the wire codec must change nothing at all.

import test from 'ava';
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
