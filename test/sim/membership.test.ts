// Clusters of 3 to 7 nodes grow one join at a time, with some leaves, under a running workload of
// reads and context-carrying writes; then the workload stops, transfers finish, and the run is
// checked: every acknowledged write is readable, every replica of every key agrees, nothing is
// pending, ownership is balanced as claim promises, no value read was never written.
// Q = 64 (and 32 for a few seeds), N = 3, R = W = 2. Each seed is one test; see seeds.ts.

import test from 'ava';
import { membershipScenario, runMembershipScenario } from '../../src/sim/scenario.js';
import { explain, keepTrace, seedsToRun } from './seeds.js';

const file = 'dist/test/sim/membership.test.js';

for (const seed of seedsToRun(30)) {
  test.serial(`membership changes under load, Q=64, seed ${seed}`, async (t) => {
    const report = await runMembershipScenario(membershipScenario(seed, { keepTrace: keepTrace() }));
    if (report.failures.length > 0 || process.env.SIM_SEED !== undefined) t.log(explain(report, file));
    t.deepEqual(report.failures, [], `seed ${seed} failed; rerun: SIM_SEED=${seed} npx ava ${file}`);
    t.true(report.operations['put ok']! > 100, 'the workload wrote');
    t.is(report.handoff.completed > 0, report.finalState!.members.length > 1, 'partitions moved');
  });
}

for (const seed of seedsToRun(6)) {
  test.serial(`membership changes under load, Q=32, seed ${seed}`, async (t) => {
    const report = await runMembershipScenario(membershipScenario(seed, { partitions: 32, keepTrace: keepTrace() }));
    if (report.failures.length > 0 || process.env.SIM_SEED !== undefined) t.log(explain(report, file));
    t.deepEqual(report.failures, [], `seed ${seed} (Q=32) failed; rerun: SIM_SEED=${seed} npx ava ${file}`);
  });
}
