import test from 'ava';
import fc from 'fast-check';
import {
  type ClusterState,
  type NewMember,
  ClusterStateError,
  claimantOf,
  commitPlan,
  compatible,
  completeTransfer,
  covers,
  decodeClusterState,
  encodeClusterState,
  mergeClusterStates,
  partitionsOwnedBy,
  pendingTransfers,
  planChanges,
  preferenceList,
  ringVersion,
  sameState,
  setBucketType,
  singletonCluster,
  stageJoin,
  stageLeave,
  updateMemberInfo,
} from '../../src/core/cluster.js';
import { riakDefaultProps } from '../../src/core/bucket.js';
import type { Result } from '../../src/core/errors.js';

function member(name: string, zone?: string): NewMember {
  return { name, peerAddress: `${name}:1`, zone, httpAddress: '', pbAddress: '' };
}

function value<T>(result: Result<T>): T {
  if (!result.ok) throw new Error(`${result.error.code}: ${result.error.message}`);
  return result.value;
}

/** A cluster of `names` after joins, a commit and every transfer completed. */
function settledCluster(names: readonly string[], partitions = 64): ClusterState {
  let state = singletonCluster('c', partitions, member(names[0]!));
  for (const name of names.slice(1)) state = value(stageJoin(state, member(name), names[0]!));
  if (names.length > 1) state = value(commitPlan(state, 3, names[0]!)).state;
  return completeAll(state);
}

function completeAll(state: ClusterState): ClusterState {
  for (const t of pendingTransfers(state)) state = completeTransfer(state, t.partition, t.from, t.to, t.from);
  return state;
}

test('a singleton owns every partition and is the claimant', (t) => {
  const state = singletonCluster('c', 16, member('a'));
  t.deepEqual(partitionsOwnedBy(state, 'a').length, 16);
  t.is(claimantOf(state), 'a');
  t.deepEqual(planChanges(state, 3).moves, []);
});

test('join, plan, commit, transfer: partitions move to the joiner and ownership flips once each transfer completes', (t) => {
  let state = singletonCluster('c', 64, member('a'));
  state = value(stageJoin(state, member('b'), 'a'));
  state = value(stageJoin(state, member('c'), 'a'));
  const plan = planChanges(state, 3);
  t.deepEqual(plan.joining, ['b', 'c']);
  t.true(plan.moves.length >= 40 && plan.moves.length <= 44, `moved ${plan.moves.length}`);
  // Planning changes nothing.
  t.is(partitionsOwnedBy(state, 'a').length, 64);
  const committed = value(commitPlan(state, 3, 'a'));
  state = committed.state;
  t.is(state.members.find((m) => m.name === 'b')!.status, 'valid');
  t.is(pendingTransfers(state).length, plan.moves.length);
  // Until transfers complete, the old owner still owns.
  t.is(partitionsOwnedBy(state, 'a').length, 64);
  state = completeAll(state);
  t.deepEqual(pendingTransfers(state), []);
  for (const name of ['a', 'b', 'c']) {
    const owned = partitionsOwnedBy(state, name).length;
    t.true(owned >= 21 && owned <= 22, `${name} owns ${owned}`);
  }
});

test('commit with nothing staged is refused with the reason', (t) => {
  const result = commitPlan(singletonCluster('c', 8, member('a')), 3, 'a');
  t.false(result.ok);
  if (!result.ok) t.regex(result.error.message, /nothing is staged/);
});

test('a leave hands every partition of the leaver to the others, and the leaver ends as left', (t) => {
  let state = settledCluster(['a', 'b', 'c', 'd']);
  state = value(stageLeave(state, 'c', 'a'));
  const owned = partitionsOwnedBy(state, 'c');
  const plan = planChanges(state, 3);
  t.deepEqual(plan.leaving, ['c']);
  // Everything c owned moves; claim may move a few more to keep windows distinct.
  for (const p of owned) t.true(plan.moves.some((m) => m.partition === p));
  state = value(commitPlan(state, 3, 'a')).state;
  t.is(state.members.find((m) => m.name === 'c')!.status, 'leaving');
  state = completeAll(state);
  t.is(state.members.find((m) => m.name === 'c')!.status, 'left');
  t.deepEqual(partitionsOwnedBy(state, 'c'), []);
});

test('the last member cannot leave; a staged join that leaves was never a member', (t) => {
  const single = singletonCluster('c', 8, member('a'));
  t.false(stageLeave(single, 'a', 'a').ok);
  const staged = value(stageJoin(single, member('b'), 'a'));
  const gone = value(stageLeave(staged, 'b', 'a'));
  t.is(gone.members.find((m) => m.name === 'b')!.status, 'left');
  t.false(commitPlan(gone, 3, 'a').ok);
});

test('a second node with the same name at another address is refused; a retried join is accepted', (t) => {
  const state = value(stageJoin(singletonCluster('c', 8, member('a')), member('b'), 'a'));
  t.true(sameState(value(stageJoin(state, member('b'), 'a')), state));
  const other = stageJoin(state, { ...member('b'), peerAddress: 'elsewhere:2' }, 'a');
  t.false(other.ok);
});

test('copies with another cluster name or partition count are incompatible', (t) => {
  const a = singletonCluster('c', 8, member('a'));
  t.false(compatible(a, singletonCluster('d', 8, member('a'))).ok);
  t.false(compatible(a, singletonCluster('c', 16, member('a'))).ok);
});

test('preference lists: the owners of the N partitions from the key on, fallbacks beyond for nodes that are down', (t) => {
  const state = settledCluster(['a', 'b', 'c', 'd', 'e']);
  for (let first = 0; first < 64; first++) {
    const list = preferenceList(state, first, 3);
    t.deepEqual(list.map((e) => e.partition), [first, (first + 1) % 64, (first + 2) % 64]);
    t.true(list.every((e) => e.primary));
    t.is(new Set(list.map((e) => e.node)).size, 3);
    const down = list[1]!.node;
    const sloppy = preferenceList(state, first, 3, (n) => n !== down);
    t.is(sloppy.length, 3);
    t.false(sloppy.some((e) => e.node === down));
    const fallback = sloppy.find((e) => !e.primary)!;
    t.is(fallback.partition, list[1]!.partition);
    t.is(new Set(sloppy.map((e) => e.node)).size, 3);
  }
});

test('member addresses are updated with a new version, so the change wins on merge', (t) => {
  const state = settledCluster(['a', 'b']);
  const moved = updateMemberInfo(state, { ...member('b'), peerAddress: 'b:2' }, 'b');
  t.is(moved.members.find((m) => m.name === 'b')!.peerAddress, 'b:2');
  t.is(mergeClusterStates(state, moved).members.find((m) => m.name === 'b')!.peerAddress, 'b:2');
  t.true(sameState(updateMemberInfo(moved, { ...member('b'), peerAddress: 'b:2' }, 'b'), moved));
});

// ---- Merge laws: copies produced by any interleaving of operations converge.

type Op =
  | { kind: 'join'; name: string; at: number }
  | { kind: 'leave'; name: string; at: number }
  | { kind: 'commit'; at: number }
  | { kind: 'complete'; at: number; index: number }
  | { kind: 'type'; name: string; nVal: number; at: number };

const names = ['a', 'b', 'c', 'd', 'e'];

function apply(state: ClusterState, op: Op, writer: string): ClusterState {
  switch (op.kind) {
    case 'join': {
      const r = stageJoin(state, member(op.name), writer);
      return r.ok ? r.value : state;
    }
    case 'leave': {
      const r = stageLeave(state, op.name, writer);
      return r.ok ? r.value : state;
    }
    case 'commit': {
      const r = commitPlan(state, 3, writer);
      return r.ok ? r.value.state : state;
    }
    case 'type':
      return setBucketType(state, op.name, op.nVal % 2 === 0 ? { ...riakDefaultProps, nVal: op.nVal, datatype: 'set', ttlMs: op.nVal * 1000, warnSiblings: 2, maxObjectBytes: 4096, warnObjectBytes: 512 } : { ...riakDefaultProps, nVal: op.nVal }, writer);
    case 'complete': {
      const ts = pendingTransfers(state);
      if (ts.length === 0) return state;
      const tr = ts[op.index % ts.length]!;
      return completeTransfer(state, tr.partition, tr.from, tr.to, tr.from);
    }
  }
}

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('join' as const), name: fc.constantFrom(...names.slice(1)), at: fc.nat(2) }),
  fc.record({ kind: fc.constant('leave' as const), name: fc.constantFrom(...names), at: fc.nat(2) }),
  fc.record({ kind: fc.constant('commit' as const), at: fc.nat(2) }),
  fc.record({ kind: fc.constant('complete' as const), at: fc.nat(2), index: fc.nat(63) }),
  fc.record({ kind: fc.constant('type' as const), name: fc.constantFrom('t1', 't2'), nVal: fc.integer({ min: 1, max: 5 }), at: fc.nat(2) }),
);

/** Three replicas of the state, each applying the ops addressed to it and occasionally merging. */
function replicas(ops: readonly Op[]): ClusterState[] {
  const base = singletonCluster('c', 16, member('a'));
  const copies = [base, base, base];
  ops.forEach((op, i) => {
    copies[op.at] = apply(copies[op.at]!, op, names[op.at]!);
    if (i % 3 === 2) copies[(op.at + 1) % 3] = mergeClusterStates(copies[(op.at + 1) % 3]!, copies[op.at]!);
  });
  return copies;
}

test('merge is commutative, associative and idempotent over states built by any operations', (t) => {
  fc.assert(
    fc.property(fc.array(opArb, { maxLength: 25 }), (ops) => {
      const [x, y, z] = replicas(ops) as [ClusterState, ClusterState, ClusterState];
      t.true(sameState(mergeClusterStates(x, y), mergeClusterStates(y, x)));
      t.true(sameState(mergeClusterStates(mergeClusterStates(x, y), z), mergeClusterStates(x, mergeClusterStates(y, z))));
      t.true(sameState(mergeClusterStates(x, x), x));
      t.true(covers(mergeClusterStates(x, y), y));
      t.true(ringVersion(mergeClusterStates(x, y)) >= Math.max(ringVersion(x), ringVersion(y)));
    }),
    { numRuns: 200 },
  );
});

test('encoding round-trips any state and rejects malformed input with a clear error', (t) => {
  fc.assert(
    fc.property(fc.array(opArb, { maxLength: 20 }), (ops) => {
      for (const state of replicas(ops)) t.true(sameState(decodeClusterState(encodeClusterState(state)), state));
    }),
    { numRuns: 100 },
  );
  const good = JSON.parse(new TextDecoder().decode(encodeClusterState(settledCluster(['a', 'b'], 8)))) as Record<string, unknown>;
  const bad = (doc: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(doc));
  t.throws(() => decodeClusterState(new Uint8Array([0xff, 0x00])), { instanceOf: ClusterStateError });
  t.throws(() => decodeClusterState(bad({ ...good, format: 1 })), { instanceOf: ClusterStateError, message: /format must be 2/ });
  t.throws(() => decodeClusterState(bad({ ...good, ring: (good['ring'] as unknown[]).slice(1) })), { instanceOf: ClusterStateError, message: /one entry per partition/ });
  const ring = (good['ring'] as Record<string, unknown>[]).map((e, i) => (i === 0 ? { ...e, owner: 'stranger' } : e));
  t.throws(() => decodeClusterState(bad({ ...good, ring })), { instanceOf: ClusterStateError, message: /must be a member/ });
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
      try {
        decodeClusterState(bytes);
      } catch (error) {
        t.true(error instanceof ClusterStateError);
      }
    }),
  );
});

test('a transfer completion and a plan that cross in gossip combine: owned by the new owner, heading to the plan\'s target', (t) => {
  let state = settledCluster(['a', 'b', 'c']);
  state = value(commitPlan(value(stageJoin(state, member('d'), 'a')), 3, 'a')).state;
  const move = pendingTransfers(state).find((tr) => tr.to === 'd')!;
  // The old owner completes its transfer to d ...
  const atOldOwner = completeTransfer(state, move.partition, move.from, 'd', move.from);
  // ... while the claimant, not yet told, commits d's leave, which sends the partition elsewhere.
  const atClaimant = value(commitPlan(value(stageLeave(state, 'd', 'a')), 3, 'a')).state;
  const target = atClaimant.ring[move.partition]!.target;
  t.not(target, 'd');
  for (const merged of [mergeClusterStates(atOldOwner, atClaimant), mergeClusterStates(atClaimant, atOldOwner)]) {
    const entry = merged.ring[move.partition]!;
    t.is(entry.owner, 'd', 'the completed transfer stays completed');
    t.is(entry.next, target, 'the plan\'s move survives: d now hands the partition on');
    t.true(pendingTransfers(merged).some((tr) => tr.partition === move.partition && tr.from === 'd' && tr.to === target));
  }
});
