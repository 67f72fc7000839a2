// The reaper's decisions with a fake ring, fake vnodes and a fake worker scan: what it skips, what
// it confirms, and that a replica which changed in between keeps its key.

import test from 'ava';
import type { Clock } from '../../actors/ports.js';
import { encodeObject, encodeStorageKey } from '../../src/core/codec.js';
import type { VnodeReply } from '../../src/core/messages.js';
import { applyWrite, emptyObject } from '../../src/core/object.js';
import { partitionOf } from '../../src/core/ring.js';
import { Reaper, type UnnumberedRequest } from '../../actors/reaper.js';

const Q = 8;
const text = new TextEncoder();
const content = (v: string) => ({ value: text.encode(v), contentType: 'text/plain', userMeta: [] });
const live = applyWrite(emptyObject, { context: [], content: content('v'), deleted: false }, 'A', 100);
const tombstone = encodeObject(applyWrite(live, { context: live.vv, content: content(''), deleted: true }, 'A', 200));

function keyIn(partition: number): Uint8Array {
  for (let i = 0; ; i++) {
    const storageKey = encodeStorageKey({ type: 'default', bucket: text.encode('b'), key: text.encode(`k${i}`) });
    if (partitionOf(storageKey, Q) === partition) return storageKey;
  }
}

const noTimers: Clock = { nowMs: () => 0, setTimer: () => ({ id: 0 }), clearTimer: () => {} };

interface Setup {
  readonly ring?: { owner: string; next?: string }[];
  readonly down?: readonly string[];
  /** What each (node, partition) answers to a read, default the tombstone. */
  readonly stored?: (node: string, partition: number) => Uint8Array | undefined | 'fail';
  /** Whether a reap removes, default true. */
  readonly removes?: (node: string, partition: number) => boolean;
  /** What the members say about copies they hold, default none. */
  readonly foreign?: ReadonlySet<number> | string;
  readonly trackedMax?: number;
}

async function run(setup: Setup) {
  const ring = setup.ring ?? Array.from({ length: Q }, (_, p) => ({ owner: ['a', 'b', 'c'][p % 3]! }));
  const key = keyIn(0);
  const sent: { node: string; request: UnnumberedRequest }[] = [];
  const reaper = new Reaper({
    self: 'a',
    partitionCount: Q,
    ring: () => ring,
    isUp: (node) => !(setup.down ?? []).includes(node),
    nValOf: (type) => (type === 'default' ? 3 : undefined),
    foreignPartitions: async () => setup.foreign ?? new Set<number>(),
    host: { reapScan: async (partition) => ({ candidates: partition === 0 ? [{ key, value: tombstone }] : [], young: 0, done: true, resumeAfterHex: undefined }) },
    vnodeRequest: (node, request, onReply) => {
      sent.push({ node, request });
      const base = { requestId: 1, partition: request.partition };
      let reply: VnodeReply;
      if (request.type === 'VnodeGet') {
        const stored = setup.stored === undefined ? tombstone : setup.stored(node, request.partition);
        reply = stored === 'fail' ? { ...base, type: 'VnodeFailed', error: { code: 'timeout', message: 'no answer' } } : { ...base, type: 'VnodeGetReply', object: stored };
      } else if (request.type === 'VnodeReap') {
        reply = { ...base, type: 'VnodeReapReply', removed: setup.removes?.(node, request.partition) ?? true };
      } else throw new Error(`unexpected ${request.type}`);
      queueMicrotask(() => onReply(reply));
    },
    clock: noTimers,
    nowMs: () => 10_000,
    monotonicMs: () => monotonic,
    intervalMs: 1000,
    delayMs: 1000,
    batchKeys: 100,
    inFlightMax: 4,
    trackedMax: setup.trackedMax ?? 1000,
    requestTimeoutMs: 1000,
    log: { info: () => {}, warn: () => {}, debug: () => {} },
  });
  let monotonic = 0;
  // The first pass confirms the tombstone on every replica; the reap waits for a second
  // confirmation, delayMs later.
  await reaper.pass();
  const afterFirst = sent.filter((s) => s.request.type === 'VnodeReap').length;
  monotonic += 1000;
  await reaper.pass();
  return { status: reaper.status(), sent, afterFirst };
}

test('a tombstone every primary holds is reaped on all three, each with the bytes it answered', async (t) => {
  const { status, sent } = await run({});
  t.is(status.reaped, 1);
  const reaps = sent.filter((s) => s.request.type === 'VnodeReap');
  t.deepEqual(reaps.map((s) => [s.node, s.request.partition]), [['a', 0], ['b', 1], ['c', 2]]);
  t.is(status.partitions.find((p) => p.partition === 0)?.waiting, 0);
});

test('nothing is read or reaped while a replica is down or its partition is moving', async (t) => {
  const down = await run({ down: ['c'] });
  t.is(down.status.reaped, 0);
  t.is(down.status.blocked.replica_down, 2, 'once in each of the two passes');
  t.is(down.sent.length, 0);
  t.is(down.status.awaiting, 1, 'the tombstone is reported as awaiting reaping');

  const ring = Array.from({ length: Q }, (_, p) => ({ owner: ['a', 'b', 'c'][p % 3]!, ...(p === 1 ? { next: 'd' } : {}) }));
  const moving = await run({ ring });
  t.is(moving.status.blocked.transfer, 2);
  t.is(moving.sent.length, 0);
});

test('a replica that answers nothing, holds nothing or holds another version keeps the tombstone everywhere', async (t) => {
  for (const [stored, reason] of [
    [() => 'fail' as const, 'read_failed'],
    [(node: string) => (node === 'b' ? undefined : tombstone), 'not_confirmed'],
    [(node: string) => (node === 'c' ? encodeObject(live) : tombstone), 'not_confirmed'],
  ] as const) {
    const { status, sent } = await run({ stored });
    t.is(status.reaped, 0);
    t.is(status.blocked[reason], 2, reason);
    t.false(sent.some((s) => s.request.type === 'VnodeReap'), `no reap sent (${reason})`);
  }
});

test('a replica that took a write between the confirmation and the reap keeps the key; it is not counted as reaped', async (t) => {
  const { status } = await run({ removes: (node) => node !== 'b' });
  t.is(status.reaped, 0);
  t.is(status.blocked.kept, 1);
});

test('nothing is reaped while a member holds a hint or stray copy of one of the partitions, or cannot be asked', async (t) => {
  const hinted = await run({ foreign: new Set([2]) });
  t.is(hinted.status.reaped, 0);
  t.is(hinted.status.blocked.foreign_copies, 2);
  t.false(hinted.sent.some((s) => s.request.type === 'VnodeReap'));
  const elsewhere = await run({ foreign: new Set([5]) });
  t.is(elsewhere.status.reaped, 1, 'a copy of an unrelated partition does not hold it back');
  const unknown = await run({ foreign: 'c did not answer' });
  t.is(unknown.status.reaped, 0);
  t.is(unknown.status.blocked.copies_unknown, 2);
});

test('a tombstone is reaped at a second confirmation, delayMs after the first by this node\'s clock, whatever its timestamp says', async (t) => {
  const { status, afterFirst, sent } = await run({});
  t.is(afterFirst, 0, 'nothing reaped at the first confirmation, though the timestamp is old enough');
  t.is(sent.filter((s) => s.request.type === 'VnodeGet').length, 6, 'two confirmations of three replicas');
  t.is(status.reaped, 1);
});

test('before its first pass the reaper says it has not counted the dead objects yet', (t) => {
  const reaper = new Reaper({
    self: 'a', partitionCount: Q, ring: () => [], isUp: () => true, nValOf: () => 3,
    host: { reapScan: async () => ({ candidates: [], young: 0, done: true, resumeAfterHex: undefined }) },
    foreignPartitions: async () => new Set<number>(), vnodeRequest: () => {}, clock: noTimers, nowMs: () => 0, monotonicMs: () => 0,
    intervalMs: 1000, delayMs: 1000, batchKeys: 10, inFlightMax: 1, trackedMax: 10, requestTimeoutMs: 1000, log: { info: () => {}, warn: () => {}, debug: () => {} },
  });
  t.is(reaper.status().awaiting, null);
});

test('past trackedMax first confirmations, a dead object waits for a later pass instead of being remembered', async (t) => {
  const { status } = await run({ trackedMax: 0 });
  t.is(status.reaped, 0, 'never remembered, so never due');
  t.is(status.awaiting, 1, 'still counted as awaiting reaping');
});
