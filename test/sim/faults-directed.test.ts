// Directed tests of the fault machinery, one behaviour each, on a five-node cluster with failure
// detection, sloppy quorum and hinted handoff: a crash loses what was not fsynced and the
// restarted vnodes take fresh actor ids; fallbacks keep hints and hand them back; strict
// operations never use fallbacks; a paused node's work waits; connections to a dead process stay
// dead; the network fault model and the node clocks do what they say.

import test from 'ava';
import { encodeStorageKey } from '../../src/core/codec.js';
import { defaultFailureDetectorOptions } from '../../src/core/failure-detector.js';
import { partitionOf, preferencePartitions } from '../../src/core/ring.js';
import { SimCluster, errorOf, simDefaults } from '../../src/sim/cluster.js';
import { NetworkFaults } from '../../src/sim/faults.js';
import { readAll, strictWrite } from '../../src/sim/fault-workload.js';
import { SimNetwork } from '../../src/sim/network.js';
import { NodeProcess } from '../../src/sim/process.js';
import { dotOfVtag, objectKey } from '../../src/sim/workload.js';
import { SimWorld } from '../../src/sim/world.js';

const names = ['n1', 'n2', 'n3', 'n4', 'n5'];

function cluster(seed: number, overrides: Partial<ConstructorParameters<typeof SimCluster>[0]> = {}): SimCluster {
  const c = new SimCluster({
    ...simDefaults,
    seed,
    nodes: names,
    partitions: 16,
    liveness: { heartbeatIntervalMs: 1_000, detector: defaultFailureDetectorOptions, hintScanIntervalMs: 10_000 },
    ...overrides,
  });
  c.bootstrap();
  return c;
}

/** The nodes holding a key's primary replicas, in preference order, and its partitions. */
function primaries(c: SimCluster, key: string): { nodes: string[]; partitions: number[] } {
  const state = c.node('n1').state!;
  const partitions = preferencePartitions(partitionOf(encodeStorageKey(objectKey(key)), 16), 3, 16);
  return { nodes: partitions.map((p) => state.ring[p]!.owner), partitions };
}

const decode = (b: Uint8Array | undefined): string => (b === undefined ? '' : new TextDecoder().decode(b));

test('a crash loses what was not fsynced; the restarted vnodes take fresh actor ids; acknowledged writes survive', async (t) => {
  const c = cluster(1);
  const key = 'cart';
  const [owner] = primaries(c, key).nodes;
  const first = await c.until(c.put('n1', key, 'apple', undefined));
  if (!first.ok) return t.fail(errorOf(first));
  const before = dotOfVtag(first.value.contents![0]!.vtag);
  t.true(before.actor.startsWith(`${owner}-`), 'the first primary applied the write');
  // An unsynced write, then the crash: the storage keeps only what an fsync covered.
  const storage = c.node(owner!).storage;
  const lsn = storage.put(0, new TextEncoder().encode('x'), new TextEncoder().encode('unsynced'));
  t.true(lsn > storage.durableLsn);
  c.crash(owner!);
  t.is(storage.get(0, new TextEncoder().encode('x')), undefined, 'the unsynced record is gone');
  await c.runFor(2_000);
  c.restart(owner!);
  await c.runFor(2_000);
  const read = await c.until(c.get('n2', key));
  t.deepEqual(read.ok && SimCluster.values(read.value), ['apple'], 'the acknowledged write survived');
  const second = await c.until(c.put('n1', key, 'pear', undefined));
  if (!second.ok) return t.fail(errorOf(second));
  const mine = second.value.contents!.find((x) => decode(x.value) === 'pear')!;
  const after = dotOfVtag(mine.vtag);
  t.true(after.actor.startsWith(`${owner}-`), 'the same vnode applied it');
  t.not(after.actor, before.actor, 'under a fresh identity');
  t.is(c.node(owner!).counts.crashes, 1);
});

test('sloppy quorum: a fallback keeps the hint of a down primary and hands it over when the owner is back, then drops it', async (t) => {
  const c = cluster(2);
  const key = 'basket';
  const { nodes, partitions } = primaries(c, key);
  const owner = nodes[0]!;
  const storageKey = encodeStorageKey(objectKey(key));
  c.crash(owner);
  await c.runFor(8_000); // the detectors suspect it
  const via = names.find((n) => !nodes.includes(n))!;
  t.false(c.node(via).isUp(owner), `${via} suspects ${owner}`);
  const put = await c.until(c.put(via, key, 'plum', undefined));
  t.true(put.ok, errorOf(put));
  const hinted = names.filter((n) => n !== owner && c.node(n).storage.get(partitions[0]!, storageKey) !== undefined);
  t.is(hinted.length, 1, 'one fallback holds the write for the down primary');
  const fallback = hinted[0]!;
  t.false(nodes.includes(fallback), 'and it is not a primary of the key');
  c.restart(owner);
  // The fallback's next scan finds the owner up and hands the hint over; the grace period ends.
  await c.runFor(30_000);
  t.is(decode(c.node(owner).storage.get(partitions[0]!, storageKey)).length > 0, true, 'the owner holds the write, without any read');
  t.is(c.node(fallback).storage.get(partitions[0]!, storageKey), undefined, 'the fallback dropped its copy');
  t.true(c.node(fallback).handoffCounts.hintsDelivered >= 1);
});

test('strict operations never use fallbacks: with two primaries down a strict write fails and a sloppy one succeeds', async (t) => {
  const c = cluster(3);
  const key = 'ledger';
  const { nodes } = primaries(c, key);
  c.crash(nodes[0]!);
  c.crash(nodes[1]!);
  await c.runFor(8_000);
  const via = nodes[2]!;
  const strict = await c.until(c.put(via, key, 'strict', undefined, strictWrite));
  t.false(strict.ok);
  t.is(!strict.ok && strict.error.code, 'insufficient_vnodes');
  const sloppy = await c.until(c.put(via, key, 'sloppy', undefined));
  t.true(sloppy.ok, errorOf(sloppy));
});

test('a paused node: its work waits, its peers suspect it, and when it resumes it answers and is believed up again', async (t) => {
  const c = cluster(4);
  c.pause('n3');
  let answered = false;
  const pending = c.get('n3', 'k').then((r) => {
    answered = true;
    return r;
  });
  await c.runFor(8_000);
  t.false(answered, 'a request to a paused node waits');
  t.false(c.node('n1').isUp('n3'), 'n1 suspects n3');
  c.resume('n3');
  const read = await c.until(pending);
  t.true(read.ok, errorOf(read));
  await c.runFor(2_000);
  t.true(c.node('n1').isUp('n3'), 'n3 is believed up again');
  t.true(c.node('n1').counts.suspicions >= 1);
});

test('a message sent into a connection to a process that died never reaches the process that replaced it', async (t) => {
  const world = new SimWorld({ seed: 5 });
  const net = new SimNetwork<string>(world, { minDelayUs: 1_000, maxDelayUs: 1_000, localDelayUs: 1 }, String);
  const incarnation = new Map([['b', 0]]);
  let connection: number | undefined;
  net.incarnations = {
    current: (name) => incarnation.get(name) ?? 0,
    connection: (_from, to) => (connection ??= incarnation.get(to) ?? 0),
  };
  const got: string[] = [];
  const refused: string[] = [];
  net.onUndeliverable = (_from, _to, m) => refused.push(m);
  net.attach('b', (_from, m) => got.push(m));
  net.send('a', 'b', 'before');
  await world.runUntil(2_000);
  net.send('a', 'b', 'in flight while b restarts');
  incarnation.set('b', 2); // b crashed and restarted; a has not noticed
  await world.runUntil(4_000);
  connection = undefined; // a's connection was reset; the next send opens a new one
  net.send('a', 'b', 'after');
  await world.runUntil(6_000);
  t.deepEqual(got, ['before', 'after']);
  t.deepEqual(refused, ['in flight while b restarts']);
});

test('network faults: partitions, one-way partitions, loss, duplication, delay and reordering', async (t) => {
  const world = new SimWorld({ seed: 6 });
  const net = new SimNetwork<number>(world, { minDelayUs: 100, maxDelayUs: 100, localDelayUs: 1 }, String);
  const faults = new NetworkFaults<number>(() => 100, (m) => m % 2 === 0);
  net.addPolicy(faults.policy);
  const got = new Map<string, number[]>();
  for (const n of ['a', 'b', 'c']) net.attach(n, (from, m) => got.set(`${from}>${n}`, [...(got.get(`${from}>${n}`) ?? []), m]));
  const heal = faults.add({ kind: 'partition', sideA: ['a'], sideB: ['b', 'c'] });
  const healOneWay = faults.add({ kind: 'one-way', from: ['b'], to: ['c'] });
  net.send('a', 'b', 1);
  net.send('b', 'a', 2);
  net.send('b', 'c', 3);
  net.send('c', 'b', 4);
  net.send('a', 'a', 5); // a node's messages to itself never cross the network
  await world.runUntil(10_000);
  t.deepEqual(Object.fromEntries(got), { 'c>b': [4], 'a>a': [5] });
  heal();
  healOneWay();
  got.clear();
  const healLoss = faults.add({ kind: 'loss', scope: { kind: 'from', node: 'a' }, probability: 0.5 });
  for (let i = 0; i < 400; i++) net.send('a', 'b', i);
  await world.runUntil(20_000);
  const delivered = got.get('a>b')!.length;
  t.true(delivered > 140 && delivered < 260, `about half of 400 delivered: ${delivered}`);
  healLoss();
  got.clear();
  const healDup = faults.add({ kind: 'duplicate', scope: { kind: 'all' }, probability: 1, spreadUs: 0 });
  for (let i = 0; i < 10; i++) net.send('b', 'c', i);
  await world.runUntil(30_000);
  t.deepEqual(got.get('b>c'), [0, 0, 1, 2, 2, 3, 4, 4, 5, 6, 6, 7, 8, 8, 9], 'every duplicable message twice, the others once');
  healDup();
  got.clear();
  const healDelay = faults.add({ kind: 'delay', scope: { kind: 'between', a: 'a', b: 'c' }, extraMinUs: 50_000, extraMaxUs: 50_000 });
  const healReorder = faults.add({ kind: 'reorder', scope: { kind: 'to', node: 'b' }, probability: 0.5, windowUs: 5_000 });
  const sentAt = world.nowUs;
  net.send('a', 'c', 1);
  for (let i = 0; i < 50; i++) net.send('c', 'b', i);
  let arrivedAt = 0;
  net.attach('c', () => (arrivedAt = world.nowUs));
  await world.runUntil(200_000);
  t.is(arrivedAt - sentAt, 50_100, 'a delayed link adds its delay');
  const order = got.get('c>b')!;
  t.is(order.length, 50);
  t.notDeepEqual(order, [...order].sort((x, y) => x - y), 'some messages overtook others');
  healDelay();
  healReorder();
  t.like(faults.counts, { blocked: 3, duplicated: 5 });
  t.true(faults.counts.lost > 0 && faults.counts.reordered > 0 && faults.counts.delayed === 1);
});

test('a node process: its clock is skewed and steps, its timers do not; paused events wait, a crash drops them', async (t) => {
  const world = new SimWorld({ seed: 7 });
  const p = new NodeProcess(world, 'n1');
  p.skew(30_000, 1.01);
  await world.runUntil(1_000_000);
  t.is(Math.round(p.nowMs()), 31_010, 'one second of world time is 1.01 s on this clock, 30 s ahead');
  p.step(-60_000);
  t.is(Math.round(p.nowMs()), -28_990);
  const fired: string[] = [];
  p.setTimer(1_010, () => fired.push(`timer at ${world.nowUs}`));
  p.pause();
  p.schedule(500_000, 'held', () => fired.push(`held ran at ${world.nowUs}`));
  await world.runUntil(3_000_000);
  t.deepEqual(fired, [], 'nothing runs while paused');
  p.resume();
  await world.runUntil(3_000_001);
  t.deepEqual(fired, ['held ran at 3000000', 'timer at 3000000'], 'what waited runs at the resume, in the order it came due');
  p.setTimer(100, () => fired.push('lost'));
  p.crash();
  p.restart();
  await world.runUntil(5_000_000);
  t.is(fired.length, 2, 'a crash drops the timers of the process that died');
});

test('the heal phase read: r = all on the primaries repairs a replica that missed a write', async (t) => {
  const c = cluster(8);
  const key = 'late';
  const { nodes, partitions } = primaries(c, key);
  const storageKey = encodeStorageKey(objectKey(key));
  // The third primary misses the write: every message to it is lost while the write is made.
  const heal = c.network.addPolicy((link) => (link.to === nodes[2] && link.from !== link.to ? { delaysUs: [], fifo: true } : undefined));
  const put = await c.until(c.put(nodes[0]!, key, 'v', undefined, strictWrite));
  t.true(put.ok, errorOf(put));
  await c.runFor(6_000);
  heal();
  await c.runFor(3_000);
  t.is(c.node(nodes[2]!).storage.get(partitions[2]!, storageKey), undefined, 'without anti-entropy the replica stays behind');
  const read = await c.until(c.get(nodes[1]!, key, readAll));
  t.deepEqual(read.ok && SimCluster.values(read.value), ['v']);
  await c.runFor(100);
  t.not(c.node(nodes[2]!).storage.get(partitions[2]!, storageKey), undefined, 'read repair brought it level');
});
