// The coordinator actor's timers around a read asking only the replicas it needs: the
// speculation timer asks the others when the first ones stay silent, and is cleared with the
// request.

import test from 'ava';
import { CoordinatorActor } from '../../actors/coordinator.js';
import { encodeObject } from '../../src/core/codec.js';
import type { ResolvedRead } from '../../src/core/bucket.js';
import type { VnodeRequest } from '../../src/core/messages.js';
import { applyWrite, emptyObject } from '../../src/core/object.js';
import { content } from '../core/arbitraries.js';
import { ManualClock } from './manual-clock.js';

const read: ResolvedRead = { n: 3, r: 2, pr: 0, notfoundOk: true, basicQuorum: false, timeoutMs: 1000, allowMult: true, sloppyQuorum: true };
const object = encodeObject(applyWrite(emptyObject, { context: [], content: content(1), deleted: false }, 'a', 1));

function setup(first: 'quorum' | 'all') {
  const clock = new ManualClock();
  const sent: VnodeRequest[] = [];
  // Partition 0 is on another node (negative host); 1 and 2 on this node's workers.
  const actor = new CoordinatorActor({ send: (request) => sent.push(request), hostOf: (p) => (p === 0 ? -1 : p) }, clock, 100, { first, speculateMs: 20 });
  return { clock, sent, actor };
}

test('a read whose first replicas stay silent asks the others after speculateMs, and answers from them', async (t) => {
  const { clock, sent, actor } = setup('quorum');
  const answer = actor.get([0, 1, 2], Uint8Array.of(7), read);
  t.deepEqual(sent.map((r) => r.partition), [1, 2], 'the local replicas first');
  actor.onReply({ type: 'VnodeGetReply', requestId: sent[0]!.requestId, partition: 1, object });
  await clock.advance(19);
  t.is(sent.length, 2, 'not before speculateMs');
  await clock.advance(1);
  t.deepEqual(sent.map((r) => r.partition), [1, 2, 0], 'partition 2 is silent: the remote replica is asked');
  actor.onReply({ type: 'VnodeGetReply', requestId: sent[0]!.requestId, partition: 0, object });
  const result = await answer;
  t.true(result.ok && result.value.found);
  t.is(actor.inflight, 1, 'still listening for the silent replica (read repair)');
  await clock.advance(1000);
  t.is(actor.inflight, 0);
  t.is(clock.pendingTimers, 0, 'every timer is gone with the request');
});

test('a read answered by its first replicas clears its speculation timer; fanout all asks every replica at once', async (t) => {
  const quorum = setup('quorum');
  const answer = quorum.actor.get([0, 1, 2], Uint8Array.of(7), read);
  for (const partition of [1, 2]) quorum.actor.onReply({ type: 'VnodeGetReply', requestId: quorum.sent[0]!.requestId, partition, object });
  t.true((await answer).ok);
  t.is(quorum.actor.inflight, 0);
  t.is(quorum.clock.pendingTimers, 0);
  await quorum.clock.advance(100);
  t.is(quorum.sent.length, 2, 'the remote replica was never asked');

  const all = setup('all');
  void all.actor.get([0, 1, 2], Uint8Array.of(7), read);
  t.deepEqual(all.sent.map((r) => r.partition), [0, 1, 2]);
  t.is(all.clock.pendingTimers, 1, 'only the deadline');
});
