// The hint age bound of Handoff (src/runtime/cluster/handoff.ts) against fakes of its
// collaborators: hints are dropped once their owner has been down for hintMaxAgeMs while they
// were held, including when a transfer of them is waiting to retry; an owner seen up restarts the
// count, so hints held for long beside a live owner are not dropped at its first brief suspicion.

import test from 'ava';
import type { ClusterRouter } from '../../../src/runtime/cluster/router.js';
import type { Membership } from '../../../src/runtime/cluster/membership.js';
import { Handoff } from '../../../src/runtime/cluster/handoff.js';
import { createLogger } from '../../../src/runtime/log.js';

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** This node (a) holds 3 objects of partition 0, which d owns; d's reachability is `up`. */
function setup(hintMaxAgeMs: number) {
  const reachable = { d: true };
  const dropped: number[] = [];
  const membership = { self: 'a', state: { ring: [{ owner: 'd' }, { owner: 'a' }] } } as unknown as Membership;
  const router = {
    hintedPartitions: new Set<number>(),
    setForwardListener: () => undefined,
    startForwarding: () => undefined,
    stopForwarding: () => undefined,
    forwardsInFlight: () => 0,
  } as unknown as ClusterRouter;
  const handoff = new Handoff({
    membership,
    router,
    // Every transfer to d fails at once: it waits to retry.
    send: () => 'unreachable',
    host: {
      countKeys: async (p) => (p === 0 && dropped.length === 0 ? 3 : 0),
      dropPartition: async (p) => {
        dropped.push(p);
        return { removed: 3 };
      },
      foldBatch: async () => ({ items: [{ key: Uint8Array.of(1), value: Uint8Array.of(2) }], done: true, resumeAfterHex: undefined }),
    },
    concurrency: 2,
    batchItems: 10,
    batchBytes: 1 << 20,
    graceMs: 10,
    retryMs: 30,
    ackTimeoutMs: 1000,
    scanIntervalMs: 20,
    isUp: (node) => node !== 'd' || reachable.d,
    hintMaxAgeMs,
    hintMaxObjects: 1000,
    log: createLogger({ level: 'silent', name: 'test', format: 'json' }),
  });
  return { handoff, reachable, dropped };
}

/** Polls until `check` holds; the time it took, or undefined after `timeoutMs`. */
async function within(timeoutMs: number, check: () => boolean): Promise<number | undefined> {
  const started = Date.now();
  while (!check()) {
    if (Date.now() - started > timeoutMs) return undefined;
    await sleep(10);
  }
  return Date.now() - started;
}

test('hints whose transfer keeps failing are dropped once their owner has been down for hintMaxAgeMs', async (t) => {
  const { handoff, reachable, dropped } = setup(1000);
  handoff.start();
  try {
    await sleep(100); // a transfer to d was started while d looked up, and now waits to retry
    reachable.d = false;
    const tookMs = await within(10_000, () => dropped.length > 0);
    t.not(tookMs, undefined, 'dropped, the waiting transfer cancelled');
    t.true(tookMs! >= 900, `not before the owner has been down for hintMaxAgeMs (after ${tookMs} ms)`);
    t.deepEqual(dropped, [0]);
  } finally {
    handoff.stop();
  }
});

test('hints held for long beside a live owner are not dropped at its first brief suspicion', async (t) => {
  const { handoff, reachable, dropped } = setup(1000);
  handoff.start();
  try {
    await sleep(1500); // held longer than hintMaxAgeMs while d is up (its transfers failing)
    reachable.d = false;
    await sleep(100);
    reachable.d = true;
    await sleep(200);
    t.deepEqual(dropped, [], 'the age counts from when the owner went down, not from when the hints arrived');
  } finally {
    handoff.stop();
  }
});
