import test from 'ava';
import { decodeContext, decodeObject, encodeObject } from '../../src/core/codec.js';
import { GetCoordinator, PutCoordinator, type CoordinatorEffect, type ReadFanout } from '../../src/core/coordinator.js';
import type { ResolvedRead, ResolvedWrite } from '../../src/core/bucket.js';
import type { VnodePut, VnodeRequest } from '../../src/core/messages.js';
import { applyWrite, emptyObject } from '../../src/core/object.js';
import { content } from './arbitraries.js';

const key = Uint8Array.of(1);
const write: ResolvedWrite = { n: 3, w: 2, dw: 2, pw: 0, timeoutMs: 100, maxSiblings: 10, warnSiblings: 10, warnObjectBytes: 1 << 20, maxObjectBytes: 1 << 22, ttlMs: 0, datatype: undefined, lastWriteWins: false, allowMult: true, sloppyQuorum: true };
const read: ResolvedRead = { n: 3, r: 2, pr: 0, notfoundOk: true, basicQuorum: false, timeoutMs: 100, allowMult: true, sloppyQuorum: true };
const put: Omit<VnodePut, 'type' | 'requestId' | 'partition' | 'localReplicas'> = {
  storageKey: key, context: [], content: content(1), deleted: false, nowMs: 5, ifNoneMatch: false, ifNotModified: false, maxSiblings: 10, lastWriteWins: false, allowMult: true,
};

/** Every partition on a host of its own: no replica is written beside another. */
const ownHost = (p: number): number => p;

const sends = <T>(effects: CoordinatorEffect<T>[]): VnodeRequest[] => effects.flatMap((e) => (e.type === 'send' ? [e.request] : []));
const replies = <T>(effects: CoordinatorEffect<T>[]) => effects.flatMap((e) => (e.type === 'reply' ? [e.result] : []));

const stored = (value: number, actor = 'x') => encodeObject(applyWrite(emptyObject, { context: [], content: content(value), deleted: false }, actor, value));

test('put: the first replica applies the write, the others merge its result, w durable acks answer', (t) => {
  const c = new PutCoordinator(7, [4, 5, 6], put, write, false, ownHost);
  const first = sends(c.start());
  t.deepEqual(first.map((r) => [r.type, r.partition]), [['VnodePut', 4]]);
  const object = stored(1);
  const next = c.onReply({ type: 'VnodePutApplied', requestId: 7, partition: 4, object });
  t.deepEqual(sends(next).map((r) => [r.type, r.partition]), [['VnodeReplicate', 5], ['VnodeReplicate', 6]], 'replication starts before the first replica is durable');
  t.is(replies(next).length, 0, 'applied is not yet an acknowledgement');
  t.is(replies(c.onReply({ type: 'VnodeReplicateReply', requestId: 7, partition: 5 })).length, 0, 'one durable ack is not w=2');
  const answered = replies(c.onReply({ type: 'VnodePutReply', requestId: 7, partition: 4 }));
  t.is(answered.length, 1);
  t.true(answered[0]!.ok);
  t.false(c.finished, 'still listening for the third replica');
  c.onReply({ type: 'VnodeReplicateReply', requestId: 7, partition: 6 });
  t.true(c.finished);
});

test('put: a coordinating replica that fails after applying counts as a failed replica', (t) => {
  const c = new PutCoordinator(8, [4, 5, 6], put, { ...write, w: 3 }, false, ownHost);
  c.start();
  c.onReply({ type: 'VnodePutApplied', requestId: 8, partition: 4, object: stored(1) });
  c.onReply({ type: 'VnodeReplicateReply', requestId: 8, partition: 5 });
  const r = replies(c.onReply({ type: 'VnodeFailed', requestId: 8, partition: 4, error: { code: 'storage_failed', message: 'EIO' } }))[0]!;
  t.false(r.ok);
  if (!r.ok) t.is(r.error.code, 'insufficient_vnodes');
});

test('put: an unavailable coordinating replica hands the write to the next one', (t) => {
  const c = new PutCoordinator(1, [0, 1, 2], put, write, true, ownHost);
  c.start();
  const retry = sends(c.onReply({ type: 'VnodeFailed', requestId: 1, partition: 0, error: { code: 'worker_unavailable', message: 'dead' } }));
  t.deepEqual(retry.map((r) => [r.type, r.partition]), [['VnodePut', 1]]);
  const object = stored(3);
  const after = c.onReply({ type: 'VnodePutApplied', requestId: 1, partition: 1, object });
  t.deepEqual(sends(after).map((r) => r.partition), [2], 'the replica that already failed is not asked again');
  t.is(replies(c.onReply({ type: 'VnodePutReply', requestId: 1, partition: 1 })).length, 0);
  const result = replies(c.onReply({ type: 'VnodeReplicateReply', requestId: 1, partition: 2 }))[0]!;
  t.true(result.ok);
  if (result.ok) {
    t.is(result.value.contents?.length, 1);
    t.deepEqual(decodeContext(result.value.context), decodeObject(object).vv);
  }
  t.true(c.finished);
});

test('put: a replica that failed as the coordinating candidate is counted once, not again as a replica', (t) => {
  // A dead node answers at once: had the write been replicated to it again, its second failure
  // would arrive before the live replicas' acknowledgements and fail a write that w=2 allows.
  const c = new PutCoordinator(1, [0, 1, 2], put, write, false, ownHost);
  c.start();
  c.onReply({ type: 'VnodeFailed', requestId: 1, partition: 0, error: { code: 'worker_unavailable', message: 'dead' } });
  c.onReply({ type: 'VnodePutApplied', requestId: 1, partition: 1, object: stored(3) });
  t.deepEqual(replies(c.onReply({ type: 'VnodeFailed', requestId: 1, partition: 0, error: { code: 'worker_unavailable', message: 'dead' } })), []);
  t.deepEqual(replies(c.onReply({ type: 'VnodePutReply', requestId: 1, partition: 1 })), []);
  const result = replies(c.onReply({ type: 'VnodeReplicateReply', requestId: 1, partition: 2 }))[0]!;
  t.true(result.ok);
  t.true(c.finished);
});

test('put: replicas on the coordinating replica\'s host are written there, in the same commit', (t) => {
  const onTwoHosts = (p: number): number => p % 2;
  const c = new PutCoordinator(9, [4, 5, 6], put, write, false, onTwoHosts);
  const first = sends(c.start());
  t.deepEqual(first.map((r) => [r.type, r.partition, r.type === 'VnodePut' ? r.localReplicas : []]), [['VnodePut', 4, [6]]]);
  const next = sends(c.onReply({ type: 'VnodePutApplied', requestId: 9, partition: 4, object: stored(1) }));
  t.deepEqual(next.map((r) => [r.type, r.partition]), [['VnodeReplicate', 5]], 'only the replica on the other host gets a message');
  t.is(replies(c.onReply({ type: 'VnodeReplicateReply', requestId: 9, partition: 6 })).length, 0);
  const answered = replies(c.onReply({ type: 'VnodePutReply', requestId: 9, partition: 4 }));
  t.true(answered.length === 1 && answered[0]!.ok, 'two durable acks from one host answer w=2');
  c.onReply({ type: 'VnodeReplicateReply', requestId: 9, partition: 5 });
  t.true(c.finished);
});

test('put: a failed condition is the answer, not a reason to try elsewhere', (t) => {
  const c = new PutCoordinator(1, [0, 1, 2], put, write, false, ownHost);
  c.start();
  const effects = c.onReply({ type: 'VnodeFailed', requestId: 1, partition: 0, error: { code: 'precondition_failed', message: 'exists' } });
  t.is(sends(effects).length, 0);
  const result = replies(effects)[0]!;
  t.false(result.ok);
  if (!result.ok) t.is(result.error.code, 'precondition_failed');
  t.true(c.finished);
});

test('put: too many failed replicas gives insufficient_vnodes, a deadline gives timeout', (t) => {
  const c = new PutCoordinator(1, [0, 1, 2], put, { ...write, w: 3 }, false, ownHost);
  c.start();
  c.onReply({ type: 'VnodePutApplied', requestId: 1, partition: 0, object: stored(1) });
  const r = replies(c.onReply({ type: 'VnodeFailed', requestId: 1, partition: 1, error: { code: 'worker_unavailable', message: 'x' } }))[0]!;
  t.false(r.ok);
  if (!r.ok) t.is(r.error.code, 'insufficient_vnodes');

  const d = new PutCoordinator(2, [0, 1, 2], put, write, false, ownHost);
  d.start();
  const timedOut = replies(d.onTimeout())[0]!;
  t.false(timedOut.ok);
  if (!timedOut.ok) t.regex(timedOut.error.message, /0 of 2/);
  t.true(d.finished);
});

test('get: answers after r replies with the merge, then repairs stale replicas', (t) => {
  const c = new GetCoordinator(3, [0, 1, 2], key, read);
  t.is(sends(c.start()).length, 3);
  const fresh = applyWrite(decodeObject(stored(1)), { context: decodeObject(stored(1)).vv, content: content(2), deleted: false }, 'x', 2);
  t.is(replies(c.onReply({ type: 'VnodeGetReply', requestId: 3, partition: 0, object: encodeObject(fresh) })).length, 0);
  const answer = c.onReply({ type: 'VnodeGetReply', requestId: 3, partition: 1, object: stored(1) });
  const result = replies(answer)[0]!;
  t.true(result.ok && result.value.found && result.value.contents.length === 1);
  const repair = sends(c.onReply({ type: 'VnodeGetReply', requestId: 3, partition: 2, object: undefined }));
  t.deepEqual(repair.map((r) => [r.type, r.partition]).sort(), [['VnodeReplicate', 1], ['VnodeReplicate', 2]]);
  t.true(c.finished);
});

test('get: notfound_ok=false does not count notfounds; all notfound is notfound', (t) => {
  const c = new GetCoordinator(4, [0, 1, 2], key, { ...read, notfoundOk: false });
  c.start();
  t.is(replies(c.onReply({ type: 'VnodeGetReply', requestId: 4, partition: 0, object: undefined })).length, 0);
  t.is(replies(c.onReply({ type: 'VnodeGetReply', requestId: 4, partition: 1, object: stored(9) })).length, 0);
  const result = replies(c.onReply({ type: 'VnodeGetReply', requestId: 4, partition: 2, object: stored(9) }))[0]!;
  t.true(result.ok && result.value.found);

  const d = new GetCoordinator(5, [0, 1, 2], key, read);
  d.start();
  d.onReply({ type: 'VnodeGetReply', requestId: 5, partition: 0, object: undefined });
  const nf = replies(d.onReply({ type: 'VnodeGetReply', requestId: 5, partition: 1, object: undefined }))[0]!;
  t.deepEqual(nf, { ok: true, value: { found: false, context: undefined } });
});

test('get: errors beyond n - r give insufficient_vnodes with the count', (t) => {
  const c = new GetCoordinator(6, [0, 1, 2], key, read);
  c.start();
  c.onReply({ type: 'VnodeFailed', requestId: 6, partition: 0, error: { code: 'worker_unavailable', message: 'down' } });
  const r = replies(c.onReply({ type: 'VnodeFailed', requestId: 6, partition: 1, error: { code: 'worker_unavailable', message: 'down' } }))[0]!;
  t.false(r.ok);
  if (!r.ok) t.is(r.error.code, 'insufficient_vnodes');
});

test('list: each item once across replicas; a partition that fails makes the listing fail', async (t) => {
  const { ListCoordinator } = await import('../../src/core/coordinator.js');
  const c = new ListCoordinator(3, [0, 1, 2], 'default', Uint8Array.of(1));
  t.is(c.start().length, 3);
  const item = (n: number) => Uint8Array.of(n);
  const first = c.onReply({ type: 'VnodeListChunk', requestId: 3, partition: 0, items: [item(1), item(2)], done: false });
  t.deepEqual(first, [{ type: 'items', items: [item(1), item(2)] }]);
  const second = c.onReply({ type: 'VnodeListChunk', requestId: 3, partition: 1, items: [item(2), item(3)], done: true });
  t.deepEqual(second, [{ type: 'items', items: [item(3)] }], 'a key another replica already gave is not repeated');
  c.onReply({ type: 'VnodeListChunk', requestId: 3, partition: 0, items: [], done: true });
  const last = c.onReply({ type: 'VnodeListChunk', requestId: 3, partition: 2, items: [item(1)], done: true });
  t.deepEqual(last, [{ type: 'reply', result: { ok: true, value: undefined } }]);
  t.true(c.finished);

  const d = new ListCoordinator(4, [0, 1], 'default', undefined);
  d.start();
  const failed = d.onReply({ type: 'VnodeFailed', requestId: 4, partition: 1, error: { code: 'worker_unavailable', message: 'down' } });
  t.is(failed.length, 1);
  t.like(failed[0], { type: 'reply', result: { ok: false, error: { code: 'insufficient_vnodes' } } });
  const e = new ListCoordinator(5, [0, 1], 'default', undefined);
  e.start();
  t.like(e.onTimeout()[0], { type: 'reply', result: { ok: false, error: { code: 'timeout' } } });
});

test('overloaded replicas answer overload (retry later), not insufficient_vnodes', (t) => {
  const c = new PutCoordinator(11, [0], put, { ...write, n: 1, w: 1, dw: 1 }, false, ownHost);
  c.start();
  const r = replies(c.onReply({ type: 'VnodeFailed', requestId: 11, partition: 0, error: { code: 'overload', message: 'mailbox full' } }))[0]!;
  t.like(r, { ok: false, error: { code: 'overload' } });
  const g = new GetCoordinator(12, [0, 1, 2], key, read);
  g.start();
  g.onReply({ type: 'VnodeFailed', requestId: 12, partition: 0, error: { code: 'overload', message: 'full' } });
  const gr = replies(g.onReply({ type: 'VnodeFailed', requestId: 12, partition: 1, error: { code: 'overload', message: 'full' } }))[0]!;
  t.like(gr, { ok: false, error: { code: 'overload' } });
});

test('put: pw counts primaries only; fallbacks count towards w', (t) => {
  const fallbacks = new Set([6]);
  // Only two primaries are reachable: pw = 3 fails before anything is written.
  const strict = new PutCoordinator(3, [4, 5, 6], put, { ...write, w: 3, pw: 3 }, false, ownHost, fallbacks);
  const strictStart = strict.start();
  t.deepEqual(sends(strictStart), [], 'nothing is sent');
  const refused = replies(strictStart);
  t.is(refused.length, 1);
  t.false(refused[0]!.ok);
  if (!refused[0]!.ok) t.regex(refused[0]!.error.message, /pw is 3 but only 2 of 3 replicas are primaries/);
  t.true(strict.finished);

  const sloppy = new PutCoordinator(4, [4, 5, 6], put, { ...write, w: 3, pw: 2 }, false, ownHost, fallbacks);
  sloppy.start();
  sloppy.onReply({ type: 'VnodePutApplied', requestId: 4, partition: 4, object: stored(1) });
  sloppy.onReply({ type: 'VnodePutReply', requestId: 4, partition: 4 });
  t.deepEqual(replies(sloppy.onReply({ type: 'VnodeReplicateReply', requestId: 4, partition: 6 })), [], 'w = 3 needs the third');
  const accepted = replies(sloppy.onReply({ type: 'VnodeReplicateReply', requestId: 4, partition: 5 }))[0]!;
  t.true(accepted.ok);
});

test('get: pr counts primaries only; a fallback answer counts towards r', (t) => {
  const fallbacks = new Set([2]);
  const c = new GetCoordinator(5, [0, 1, 2], key, { ...read, r: 2, pr: 2 }, fallbacks);
  c.start();
  t.deepEqual(replies(c.onReply({ type: 'VnodeGetReply', requestId: 5, partition: 2, object: stored(1) })), []);
  t.deepEqual(replies(c.onReply({ type: 'VnodeGetReply', requestId: 5, partition: 0, object: stored(1) })), [], 'r is met, pr is not');
  const r = replies(c.onReply({ type: 'VnodeGetReply', requestId: 5, partition: 1, object: stored(1) }))[0]!;
  t.true(r.ok);

  const none = new GetCoordinator(7, [0, 1, 2], key, { ...read, r: 1, pr: 3 }, fallbacks);
  const noneStart = none.start();
  t.deepEqual(sends(noneStart), [], 'nothing is sent');
  const early = replies(noneStart);
  t.is(early.length, 1);
  t.false(early[0]!.ok);

  const d = new GetCoordinator(6, [0, 1, 2], key, { ...read, r: 1, pr: 2 }, fallbacks);
  d.start();
  d.onReply({ type: 'VnodeGetReply', requestId: 6, partition: 2, object: stored(1) });
  const failed = replies(d.onReply({ type: 'VnodeFailed', requestId: 6, partition: 1, error: { code: 'worker_unavailable', message: 'down' } }))[0]!;
  t.false(failed.ok);
  if (!failed.ok) {
    t.is(failed.error.code, 'insufficient_vnodes');
    t.regex(failed.error.message, /0 primaries of 2, 2 needed/);
  }
});

test('put: an unconditional write is coordinated by a primary on this node; a conditional one by the first replica', (t) => {
  // Partition 5 is on this node; 4 and 6 on others.
  const onlyFiveHere = (p: number): number => (p === 5 ? 0 : -1 - p);
  const c = new PutCoordinator(30, [4, 5, 6], put, write, false, onlyFiveHere);
  t.deepEqual(sends(c.start()).map((r) => [r.type, r.partition]), [['VnodePut', 5]]);
  const next = c.onReply({ type: 'VnodePutApplied', requestId: 30, partition: 5, object: stored(1) });
  t.deepEqual(sends(next).map((r) => [r.type, r.partition]), [['VnodeReplicate', 4], ['VnodeReplicate', 6]]);
  c.onReply({ type: 'VnodePutReply', requestId: 30, partition: 5 });
  t.true(replies(c.onReply({ type: 'VnodeReplicateReply', requestId: 30, partition: 6 }))[0]!.ok);

  for (const condition of [{ ifNoneMatch: true }, { ifNotModified: true }, { ifPresent: true }]) {
    const conditional = new PutCoordinator(31, [4, 5, 6], { ...put, ...condition }, write, false, onlyFiveHere);
    t.deepEqual(sends(conditional.start()).map((r) => r.partition), [4], 'racers through any node meet at the first replica');
  }
  const fallbackHere = new PutCoordinator(32, [4, 5, 6], put, write, false, onlyFiveHere, new Set([5]));
  t.deepEqual(sends(fallbackHere.start()).map((r) => r.partition), [4], 'a fallback on this node is not preferred');
  // The local candidate fails: the others are tried in preference order.
  const failing = new PutCoordinator(33, [4, 5, 6], put, write, false, onlyFiveHere);
  failing.start();
  const retried = failing.onReply({ type: 'VnodeFailed', requestId: 33, partition: 5, error: { code: 'worker_unavailable', message: 'restarting' } });
  t.deepEqual(sends(retried).map((r) => [r.type, r.partition]), [['VnodePut', 4]]);
});

/** Reads asking only what they need: partitions 1 and 2 are on this node, 0 is remote. */
const quorumFirst: ReadFanout = { first: 'quorum', isLocal: (p) => p !== 0, speculateMs: 20 };
const asked = <T>(effects: CoordinatorEffect<T>[]): number[] => sends(effects).filter((r) => r.type === 'VnodeGet').map((r) => r.partition);
const replicated = <T>(effects: CoordinatorEffect<T>[]): number[] => sends(effects).filter((r) => r.type === 'VnodeReplicate').map((r) => r.partition).sort();

test('get, quorum fanout: asks r replicas, local ones first; replicas that agree answer and end it', (t) => {
  const c = new GetCoordinator(20, [0, 1, 2], key, read, undefined, 0, quorumFirst);
  t.deepEqual(asked(c.start()), [1, 2], 'the two local replicas, not the remote one');
  t.is(c.unasked, 1);
  t.deepEqual(c.onReply({ type: 'VnodeGetReply', requestId: 20, partition: 1, object: stored(1) }), []);
  const answer = c.onReply({ type: 'VnodeGetReply', requestId: 20, partition: 2, object: stored(1) });
  t.deepEqual(asked(answer), [], 'they agree: the third replica is never asked');
  t.true(replies(answer)[0]!.ok);
  t.true(c.finished);
  t.deepEqual(c.onSpeculate(), []);
  t.deepEqual(c.onReply({ type: 'VnodeGetReply', requestId: 20, partition: 0, object: stored(1) }), [], 'a reply from a replica never asked is ignored');
});

test('get, quorum fanout: a failure or an uncounted notfound asks one more replica', (t) => {
  const c = new GetCoordinator(21, [0, 1, 2], key, read, undefined, 0, quorumFirst);
  c.start();
  const more = c.onReply({ type: 'VnodeFailed', requestId: 21, partition: 1, error: { code: 'worker_unavailable', message: 'down' } });
  t.deepEqual(asked(more), [0]);
  t.deepEqual(replies(c.onReply({ type: 'VnodeGetReply', requestId: 21, partition: 2, object: stored(3) })), []);
  const answer = replies(c.onReply({ type: 'VnodeGetReply', requestId: 21, partition: 0, object: stored(3) }))[0]!;
  t.true(answer.ok && answer.value.found);
  t.true(c.finished);

  const strict = new GetCoordinator(22, [0, 1, 2], key, { ...read, notfoundOk: false }, undefined, 0, quorumFirst);
  strict.start();
  t.deepEqual(asked(strict.onReply({ type: 'VnodeGetReply', requestId: 22, partition: 1, object: undefined })), [0], 'notfound_ok=false: a notfound does not count, ask another');
  strict.onReply({ type: 'VnodeGetReply', requestId: 22, partition: 2, object: stored(4) });
  const found = replies(strict.onReply({ type: 'VnodeGetReply', requestId: 22, partition: 0, object: stored(4) }))[0]!;
  t.true(found.ok && found.value.found);
  t.deepEqual(replicated(strict.onTimeout()), [], 'repairs were sent when the last asked replica answered');
});

test('get, quorum fanout: replicas that disagree make it ask the rest, and read repair covers every replica', (t) => {
  const c = new GetCoordinator(23, [0, 1, 2], key, read, undefined, 0, quorumFirst);
  c.start();
  c.onReply({ type: 'VnodeGetReply', requestId: 23, partition: 1, object: stored(1) });
  const answer = c.onReply({ type: 'VnodeGetReply', requestId: 23, partition: 2, object: undefined });
  t.true(replies(answer)[0]!.ok, 'answered with the merge of the two');
  t.deepEqual(asked(answer), [0], 'and the third is asked for repair');
  t.false(c.finished);
  const repairs = c.onReply({ type: 'VnodeGetReply', requestId: 23, partition: 0, object: undefined });
  t.deepEqual(replicated(repairs), [0, 2]);
  t.true(c.finished);
});

test('get, quorum fanout: no answer within speculateMs asks the rest; pr asks primaries first', (t) => {
  const c = new GetCoordinator(24, [0, 1, 2], key, read, undefined, 0, quorumFirst);
  c.start();
  c.onReply({ type: 'VnodeGetReply', requestId: 24, partition: 1, object: stored(1) });
  t.deepEqual(asked(c.onSpeculate()), [0], 'partition 2 is silent: ask the remote one too');
  t.is(c.unasked, 0);
  const answer = replies(c.onReply({ type: 'VnodeGetReply', requestId: 24, partition: 0, object: stored(1) }))[0]!;
  t.true(answer.ok);
  t.false(c.finished, 'still waiting for the silent replica, to repair it');
  t.deepEqual(c.onTimeout(), [], 'the two that answered agree: nothing to repair');
  t.true(c.finished);

  const withFallback = new GetCoordinator(25, [0, 1, 2], key, { ...read, r: 1, pr: 2 }, new Set([1]), 0, quorumFirst);
  t.deepEqual(asked(withFallback.start()), [2, 0], 'pr=2: two primaries (local first), not the local fallback');
  const timedOut = new GetCoordinator(26, [0, 1, 2], key, read, undefined, 0, quorumFirst);
  timedOut.start();
  const r = replies(timedOut.onTimeout())[0]!;
  t.false(r.ok);
  if (!r.ok) t.regex(r.error.message, /0 of 2 needed replies from 2 of 3 replicas asked/);
});

test('put: an acknowledgement delivered twice counts once (the simulator found it counting twice)', (t) => {
  const c = new PutCoordinator(11, [4, 5, 6], put, { ...write, w: 2, dw: 2 }, false, ownHost);
  c.start();
  c.onReply({ type: 'VnodePutApplied', requestId: 11, partition: 4, object: stored(1) });
  t.deepEqual(replies(c.onReply({ type: 'VnodePutReply', requestId: 11, partition: 4 })), []);
  t.deepEqual(replies(c.onReply({ type: 'VnodePutReply', requestId: 11, partition: 4 })), [], 'the same replica again is not a second acknowledgement');
  t.deepEqual(replies(c.onReply({ type: 'VnodeFailed', requestId: 11, partition: 4, error: { code: 'timeout', message: 'late' } })), [], 'nor is a late failure from it');
  const answered = replies(c.onReply({ type: 'VnodeReplicateReply', requestId: 11, partition: 5 }))[0]!;
  t.true(answered.ok);
});

test('put: a conditional write refused by a busy first replica answers overload instead of letting the next replica decide', (t) => {
  const conditional = new PutCoordinator(21, [0, 1, 2], { ...put, ifNoneMatch: true }, write, false, ownHost);
  conditional.start();
  const effects = conditional.onReply({ type: 'VnodeFailed', requestId: 21, partition: 0, error: { code: 'overload', message: 'mailbox full' } });
  t.deepEqual(sends(effects), [], 'replica 1 may not have the winning write yet; it must not decide');
  t.like(replies(effects)[0], { ok: false, error: { code: 'overload' } });
  // An unconditional write moves on to the next replica as before.
  const plain = new PutCoordinator(22, [0, 1, 2], put, write, false, ownHost);
  plain.start();
  const moved = sends(plain.onReply({ type: 'VnodeFailed', requestId: 22, partition: 0, error: { code: 'overload', message: 'mailbox full' } }));
  t.deepEqual(moved.map((r) => [r.type, r.partition]), [['VnodePut', 1]]);
});
