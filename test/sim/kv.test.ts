// Directed scenarios on a small simulated cluster, written as an operator and a client would act:
// found, join, commit, put, get, delete, leave, settle. Each checks one behaviour end to end
// through the real coordinator and vnode actors over the simulated network and storage.

import test from 'ava';
import { encodeStorageKey } from '../../src/core/codec.js';
import { partitionOf, preferencePartitions } from '../../src/core/ring.js';
import { checkReplicasAgree } from '../../src/sim/checkers.js';
import { objectKey } from '../../src/sim/workload.js';
import { SimCluster, errorOf, simDefaults } from '../../src/sim/cluster.js';

const small = (seed: number, nodes: string[]) => new SimCluster({ ...simDefaults, seed, nodes, partitions: 16 });

async function threeNodes(seed: number): Promise<SimCluster> {
  const c = small(seed, ['n1', 'n2', 'n3', 'n4']);
  c.found('n1');
  for (const name of ['n2', 'n3']) {
    const joined = await c.until(c.join(name, 'n1'));
    if (!joined.ok) throw new Error(errorOf(joined));
    await c.runFor(100); // the claimant hears of the join
    const committed = await c.until(c.commit('n1'));
    if (!committed.ok) throw new Error(committed.message);
  }
  const unsettled = await c.settle();
  if (unsettled.length > 0) throw new Error(unsettled.join('; '));
  return c;
}

test('a write through one node is read through the others; contexts supersede, blind writes become siblings, deletes hide', async (t) => {
  const c = await threeNodes(1);
  const first = await c.until(c.put('n1', 'cart', 'apple', undefined));
  t.true(first.ok, errorOf(first));
  for (const via of ['n1', 'n2', 'n3']) {
    const read = await c.until(c.get(via, 'cart'));
    t.deepEqual(read.ok && SimCluster.values(read.value), ['apple'], `read via ${via}`);
  }
  const read = await c.until(c.get('n2', 'cart'));
  if (!read.ok) return t.fail(errorOf(read));
  t.true((await c.until(c.put('n3', 'cart', 'apple+pear', read.value.context))).ok);
  t.true((await c.until(c.put('n2', 'cart', 'plum', undefined))).ok, 'a blind write');
  const both = await c.until(c.get('n1', 'cart'));
  if (!both.ok) return t.fail(errorOf(both));
  t.deepEqual(SimCluster.values(both.value), ['apple+pear', 'plum'], 'the context superseded apple; the blind write is a sibling');
  t.true((await c.until(c.delete('n3', 'cart', both.value.context))).ok);
  const gone = await c.until(c.get('n2', 'cart'));
  t.like(gone, { ok: true, value: { found: false } });
  t.deepEqual(await c.settle(), []);
  t.deepEqual(checkReplicasAgree(c.nodes, c.node('n1').state!, ['cart'], 3), []);
});

test('an overwrite supersedes what its coordinating replica holds, and nothing it has not seen', async (t) => {
  const c = await threeNodes(5);
  const state = c.node('n1').state!;
  const [x, y] = preferencePartitions(partitionOf(encodeStorageKey(objectKey('session')), state.partitions), 3, state.partitions).map((p) => state.ring[p]!.owner);
  // y misses the first write: what x sends y is lost for a while.
  const heal = c.network.addPolicy((link) => (link.from === x && link.to === y ? { delaysUs: [], fifo: true } : undefined));
  const first = await c.until(c.put(x!, 'session', 'A', undefined));
  t.true(first.ok, errorOf(first));
  // Coordinated by y (a replica on the node reached), which holds nothing yet: B supersedes nothing.
  const second = await c.until(c.put(y!, 'session', 'B', undefined, { overwrite: true }));
  t.true(second.ok, errorOf(second));
  heal();
  const both = await c.until(c.get(x!, 'session', { r: 'all' }));
  if (!both.ok) return t.fail(errorOf(both));
  t.deepEqual(SimCluster.values(both.value), ['A', 'B'], 'the acknowledged A is kept beside B, not lost');
  // Once the replicas are level, an overwrite through any node leaves one value.
  await c.runFor(1_000);
  const third = await c.until(c.put(x!, 'session', 'C', undefined, { overwrite: true }));
  t.true(third.ok, errorOf(third));
  const one = await c.until(c.get(y!, 'session', { r: 'all' }));
  t.deepEqual(one.ok && SimCluster.values(one.value), ['C']);
});

test('checker: a replica missing a value disagrees; one missing a tombstone the others hold agrees (reaped there)', async (t) => {
  const c = await threeNodes(3);
  for (const key of ['kept', 'deleted']) t.true((await c.until(c.put('n1', key, 'v', undefined))).ok);
  const read = await c.until(c.get('n2', 'deleted'));
  if (!read.ok) return t.fail(errorOf(read));
  t.true((await c.until(c.delete('n2', 'deleted', read.value.context))).ok);
  t.deepEqual(await c.settle(), []);
  const state = c.node('n1').state!;
  const dropOneCopy = (key: string): void => {
    const storageKey = encodeStorageKey(objectKey(key));
    const partition = partitionOf(storageKey, state.partitions);
    c.node(state.ring[partition]!.owner).storage.remove(partition, storageKey);
  };
  dropOneCopy('kept');
  dropOneCopy('deleted');
  const found = checkReplicasAgree(c.nodes, state, ['kept', 'deleted'], 3);
  t.is(found.length, 1);
  t.regex(found[0]!, /^kept: held by .* but missing from p\d+@n\d/);
});

test('writes made while partitions are handed to a joining node all reach it', async (t) => {
  const c = await threeNodes(2);
  const keys = Array.from({ length: 40 }, (_, i) => `k${i}`);
  for (const key of keys) t.true((await c.until(c.put('n1', key, `${key}-before`, undefined))).ok);
  t.true((await c.until(c.join('n4', 'n2'))).ok);
  await c.runFor(100);
  t.true((await c.until(c.commit('n3'))).ok);
  // The transfers are under way: write every key again, with the context just read.
  t.true(c.all.some((n) => n.handoff.activeTransfers > 0), 'transfers are running');
  for (const key of keys) {
    const read = await c.until(c.get('n4', key));
    if (!read.ok) return t.fail(errorOf(read));
    t.true((await c.until(c.put('n2', key, `${key}-during`, read.value.context))).ok);
  }
  t.deepEqual(await c.settle(), []);
  t.true(c.all.reduce((sum, n) => sum + n.handoff.counts.forwards, 0) > 0, 'some writes were forwarded to a new owner');
  const state = c.node('n1').state!;
  t.true(state.ring.some((e) => e.owner === 'n4'), 'n4 owns partitions');
  t.deepEqual(checkReplicasAgree(c.nodes, state, keys, 3), [], 'every owner holds every write');
  for (const key of keys) {
    const read = await c.until(c.get('n1', key));
    t.deepEqual(read.ok && SimCluster.values(read.value), [`${key}-during`]);
  }
});

test('a node that leaves hands everything off, ends with no data, and nothing is lost', async (t) => {
  const c = await threeNodes(3);
  t.true((await c.until(c.join('n4', 'n1'))).ok);
  await c.runFor(100);
  t.true((await c.until(c.commit('n1'))).ok);
  t.deepEqual(await c.settle(), []);
  const keys = Array.from({ length: 30 }, (_, i) => `k${i}`);
  for (const key of keys) t.true((await c.until(c.put('n2', key, key, undefined))).ok);
  t.true(c.stageLeave('n1').ok, 'the claimant itself leaves');
  t.true((await c.until(c.commit('n2'))).ok);
  t.deepEqual(await c.settle(), []);
  const state = c.node('n2').state!;
  t.is(state.members.find((m) => m.name === 'n1')?.status, 'left');
  t.deepEqual(c.node('n1').heldPartitions(), [], 'its copies are dropped after the grace period');
  t.deepEqual(checkReplicasAgree(c.nodes, state, keys, 3), []);
  for (const key of keys) {
    const read = await c.until(c.get('n3', key));
    t.deepEqual(read.ok && SimCluster.values(read.value), [key]);
  }
});

test('a transfer whose acknowledgements are lost starts over after its stall timeout and completes', async (t) => {
  const c = await threeNodes(4);
  const keys = Array.from({ length: 20 }, (_, i) => `k${i}`);
  for (const key of keys) t.true((await c.until(c.put('n1', key, key, undefined))).ok);
  // A fault: every handoff acknowledgement is lost until it is healed.
  const heal = c.network.addPolicy((_link, message) => (message.type === 'HandoffAck' ? { delaysUs: [], fifo: true } : undefined));
  const completed = (): number => c.all.reduce((sum, n) => sum + n.handoff.counts.completed, 0);
  const before = completed();
  t.true((await c.until(c.join('n4', 'n1'))).ok);
  await c.runFor(100);
  t.true((await c.until(c.commit('n1'))).ok);
  await c.runFor(5_000);
  t.is(completed(), before, 'nothing completes while acknowledgements are lost');
  heal();
  t.deepEqual(await c.settle(), []);
  t.true(c.all.reduce((sum, n) => sum + n.handoff.counts.restarted, 0) > 0, 'stalled transfers started over');
  t.deepEqual(checkReplicasAgree(c.nodes, c.node('n1').state!, keys, 3), []);
});
