// The simulated world's parts on their own: events fire in (time, sequence) order, the network
// keeps each link FIFO and lets a policy drop or duplicate, storage acknowledges only what an
// fsync covered and loses the rest in a crash, and one seed gives one sequence.

import test from 'ava';
import { EventQueue, type SimEvent } from '../../src/sim/event-queue.js';
import { SimNetwork } from '../../src/sim/network.js';
import { SimRandom } from '../../src/sim/random.js';
import { SimStorage } from '../../src/sim/storage.js';
import { SimWorld } from '../../src/sim/world.js';

const key = (s: string): Uint8Array => new TextEncoder().encode(s);
const text = (b: Uint8Array | undefined): string | undefined => (b === undefined ? undefined : new TextDecoder().decode(b));

test('the event queue orders by time, then by scheduling order', (t) => {
  const q = new EventQueue();
  const fired: number[] = [];
  const times = [5, 1, 5, 3, 1, 9, 0, 5];
  times.forEach((atUs, seq) => q.push({ atUs, seq, label: '', fire: () => fired.push(seq), cancelled: false } satisfies SimEvent));
  for (let e = q.pop(); e !== undefined; e = q.pop()) e.fire();
  t.deepEqual(fired, [6, 1, 4, 3, 0, 2, 7, 5]);
});

test('timers fire at their time and a cleared timer never fires', async (t) => {
  const world = new SimWorld({ seed: 1 });
  const seen: string[] = [];
  world.setTimer(2, () => seen.push(`a@${world.nowMs()}`));
  const b = world.setTimer(1, () => seen.push('b'));
  world.setTimer(1, () => seen.push(`c@${world.nowMs()}`));
  world.clearTimer(b);
  await world.runUntil(10_000);
  t.deepEqual(seen, ['c@1', 'a@2']);
  t.is(world.nowUs, 10_000);
});

test('one seed, one sequence', (t) => {
  const a = new SimRandom(42);
  const b = new SimRandom(42);
  const c = new SimRandom(43);
  const draw = (r: SimRandom) => Array.from({ length: 8 }, () => r.int(0, 1000));
  const first = draw(a);
  t.deepEqual(first, draw(b));
  t.notDeepEqual(first, draw(c));
});

test('a link delivers in order even when a later message draws a shorter delay', async (t) => {
  const world = new SimWorld({ seed: 7 });
  const net = new SimNetwork<number>(world, { minDelayUs: 10, maxDelayUs: 5_000, localDelayUs: 1 }, String);
  const got: number[] = [];
  net.attach('b', (_from, m) => got.push(m));
  for (let i = 0; i < 50; i++) net.send('a', 'b', i);
  await world.runUntil(1_000_000);
  t.deepEqual(got, Array.from({ length: 50 }, (_, i) => i));
});

test('a link policy can drop and duplicate; removing it restores the link', async (t) => {
  const world = new SimWorld({ seed: 7 });
  const net = new SimNetwork<string>(world, { minDelayUs: 10, maxDelayUs: 20, localDelayUs: 1 }, String);
  const got: string[] = [];
  net.attach('b', (_from, m) => got.push(m));
  const heal = net.addPolicy((link, m) => {
    if (link.to !== 'b') return undefined;
    if (m === 'drop me') return { delaysUs: [], fifo: true };
    if (m === 'twice') return { delaysUs: [10, 30], fifo: true };
    return undefined;
  });
  net.send('a', 'b', 'drop me');
  net.send('a', 'b', 'twice');
  await world.runUntil(1_000);
  heal();
  net.send('a', 'b', 'drop me');
  await world.runUntil(2_000);
  t.deepEqual(got, ['twice', 'twice', 'drop me']);
  t.like(net.counts, { sent: 3, dropped: 1, duplicated: 1, delivered: 3 });
});

test('storage: a put is readable at once, acknowledged only after an fsync covers it', async (t) => {
  const world = new SimWorld({ seed: 3 });
  const storage = new SimStorage(world, 'n1', { fsyncMinUs: 100, fsyncMaxUs: 100 });
  const lsn = storage.put(4, key('k'), key('v1'));
  t.is(text(storage.get(4, key('k'))), 'v1');
  t.is(storage.pendingLsnOf(4, key('k')), lsn);
  let durableAt: number | undefined;
  storage.whenDurable(lsn, () => (durableAt = world.nowUs));
  await world.runUntil(50);
  // Appended while the first fsync runs: it waits for the next one.
  const second = storage.put(4, key('k2'), key('v2'));
  let secondAt: number | undefined;
  storage.whenDurable(second, () => (secondAt = world.nowUs));
  await world.runUntil(1_000);
  t.is(durableAt, 100);
  t.is(secondAt, 200);
  t.is(storage.pendingLsnOf(4, key('k')), 0);
});

test('storage: a crash loses exactly the records no fsync covered', async (t) => {
  const world = new SimWorld({ seed: 3 });
  const storage = new SimStorage(world, 'n1', { fsyncMinUs: 100, fsyncMaxUs: 100 });
  storage.put(1, key('a'), key('1'));
  await world.runUntil(150);
  storage.put(1, key('a'), key('2'));
  storage.put(1, key('b'), key('3'));
  let answered = false;
  storage.whenDurable(3, () => (answered = true));
  storage.loseUnsynced();
  await world.runUntil(1_000);
  t.is(text(storage.get(1, key('a'))), '1');
  t.is(storage.get(1, key('b')), undefined);
  t.false(answered, 'nobody is told a lost write is durable');
});

test('storage: forEach visits a partition in key order; dropPartition forgets it', (t) => {
  const world = new SimWorld({ seed: 3 });
  const storage = new SimStorage(world, 'n1', { fsyncMinUs: 1, fsyncMaxUs: 1 });
  for (const k of ['b', 'a', 'ab', 'c']) storage.put(2, key(k), key(k));
  storage.put(3, key('z'), key('z'));
  const seen: string[] = [];
  storage.forEach(2, (k) => seen.push(text(k)!));
  t.deepEqual(seen, ['a', 'ab', 'b', 'c']);
  storage.dropPartition(2);
  t.deepEqual(storage.partitions(), [3]);
});
