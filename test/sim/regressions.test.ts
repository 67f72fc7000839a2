// Regressions the simulator found in the core, kept as tests.
//
// The race (fixed): a partition's ownership was one last-writer-wins register, ordered by (epoch,
// writer), written by two kinds of node: the old owner when its transfer completed (owner := next)
// and the claimant when a new plan changed where the partition was heading (next := new target).
// When both happened before either heard of the other, the merge kept one and dropped the other:
//   - the claimant's entry won: the completed transfer was undone, and writes the new owner had
//     taken were left on a node that neither owned nor received the partition;
//   - the old owner's entry won: the plan's move was lost, ownership ended unbalanced, and a
//     leaving node could own a partition nobody moved.
// Now the owner and the target are separate registers, each with one kind of writer, and the two
// changes combine: "owned by the new owner, heading to the plan's target".

import test from 'ava';
import {
  type ClusterState,
  claimantOf,
  commitPlan,
  completeTransfer,
  mergeClusterStates,
  pendingTransfers,
  singletonCluster,
  stageJoin,
  stageLeave,
} from '../../src/core/cluster.js';
import { runMembershipScenario, slowLinksScenario } from '../../src/sim/scenario.js';

const nVal = 3;
const member = (name: string) => ({ name, peerAddress: `${name}:8087`, zone: undefined, httpAddress: '', pbAddress: '' });

function must<T>(result: { ok: true; value: T } | { ok: false; error: { message: string } }): T {
  if (!result.ok) throw new Error(result.error.message);
  return result.value;
}

function completeAll(state: ClusterState): ClusterState {
  let next = state;
  for (const t of pendingTransfers(state)) next = completeTransfer(next, t.partition, t.from, t.to, t.from);
  return next;
}

/** n1 founds a cluster of 16 partitions and n2.. join one by one, each plan carried out. */
function cluster(names: readonly string[]): ClusterState {
  let state = singletonCluster('c', 16, member('n1'));
  for (const name of names) {
    state = must(stageJoin(state, member(name), 'n1'));
    state = completeAll(must(commitPlan(state, nVal, claimantOf(state)!)).state);
  }
  return state;
}

test('core: a transfer completed by the old owner stays completed when a concurrent plan moves the partition on', (t) => {
  // n1 leaves; n1 (still the claimant while its leave is staged) commits, so n1 hands partitions to others.
  let state = cluster(['n2', 'n3', 'n4']);
  state = must(commitPlan(must(stageLeave(state, 'n1', 'n1')), nVal, 'n1')).state;
  t.is(claimantOf(state), 'n2');
  const target = pendingTransfers(state)[0]!.to;
  const handed = pendingTransfers(state).filter((x) => x.to === target);
  // At n1: its transfers to `target` complete.
  let atOldOwner = state;
  for (const x of handed) atOldOwner = completeTransfer(atOldOwner, x.partition, 'n1', target, 'n1');
  // Meanwhile at the claimant n2, not yet told: `target` is asked to leave, and n2 commits.
  const atClaimant = must(commitPlan(must(stageLeave(state, target, 'n2')), nVal, 'n2')).state;
  const merged = mergeClusterStates(atOldOwner, atClaimant);
  for (const x of handed) {
    t.not(merged.ring[x.partition]!.owner, 'n1', `p${x.partition}: n1 completed its hand-off to ${target} and must not own it again`);
  }
});

test('core: a plan that moves a partition away from a leaving node survives a concurrent transfer completion', (t) => {
  // n4 joins; n2 and n3 hand partitions to it. Meanwhile n4 is told to leave at the claimant n1.
  let state = cluster(['n2', 'n3']);
  state = must(commitPlan(must(stageJoin(state, member('n4'), 'n1')), nVal, 'n1')).state;
  const toN4 = pendingTransfers(state).filter((x) => x.from === 'n3');
  t.true(toN4.length > 0);
  let atOldOwner = state;
  for (const x of toN4) atOldOwner = completeTransfer(atOldOwner, x.partition, 'n3', 'n4', 'n3');
  const atClaimant = must(commitPlan(must(stageLeave(state, 'n4', 'n1')), nVal, 'n1')).state;
  const merged = mergeClusterStates(atOldOwner, atClaimant);
  // Here the claimant, seeing n4 own and receive nothing, even marked it as left.
  const valid = new Set(merged.members.filter((m) => m.status === 'valid').map((m) => m.name));
  const stuck = merged.ring.map((e, p) => ({ ...e, p })).filter((e) => !valid.has(e.owner) && e.next === undefined);
  t.deepEqual(stuck.map((e) => `p${e.p}@${e.owner}`), [], 'a partition whose owner is leaving (or has left) is on its way to a valid member');
});

// The same race in whole-cluster runs, over links of very different latencies.
test('slow links: no run ends with ownership the plan did not intend (seeds 1..40)', async (t) => {
  const found: string[] = [];
  for (let seed = 1; seed <= 40; seed++) {
    const report = await runMembershipScenario(slowLinksScenario(seed));
    for (const f of report.failures) found.push(`seed ${seed}: ${f}`);
  }
  // A seed found here is rerun with: SIM_SEED=<seed> npx ava dist/test/sim/slow-links.test.js
  t.log(found.join('\n'));
  t.deepEqual(found, []);
});
