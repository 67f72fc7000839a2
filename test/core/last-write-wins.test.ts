// last_write_wins types resolve by timestamp, and timestamps come from the clock of the node that
// coordinated each write. These tests show what that costs under clock skew: a write stamped by a
// node whose clock is behind loses to an earlier write stamped by a node whose clock is ahead, and
// nothing tells either client.

import test from 'ava';
import { decodeObject } from '../../src/core/codec.js';
import { visibleContents } from '../../src/core/coordinator.js';
import type { VnodePut } from '../../src/core/messages.js';
import { applyPut, applyReplicate } from '../../src/core/vnode.js';
import type { VersionVector } from '../../src/core/version-vector.js';
import { content } from './arbitraries.js';

const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);

function put(value: number, nowMs: number, options: { lastWriteWins: boolean; allowMult: boolean; context?: VersionVector }): VnodePut {
  return {
    type: 'VnodePut', requestId: 1, partition: 0, storageKey: Uint8Array.of(1), context: options.context ?? [], content: content(value), deleted: false,
    nowMs, ifNoneMatch: false, ifNotModified: false, maxSiblings: 100, lastWriteWins: options.lastWriteWins, allowMult: options.allowMult, localReplicas: [],
  };
}

function applied(current: Uint8Array | undefined, request: VnodePut, actor: string): Uint8Array {
  const result = applyPut(current, request, actor);
  if (!result.ok) throw new Error(result.error.message);
  return result.value.bytes;
}

const lww = { lastWriteWins: true, allowMult: false };
/** Node n1's clock runs 5 s ahead of real time, node n2's 5 s behind. */
const realMs = 1_000_000;
const n1Ms = (real: number): number => real + 5000;
const n2Ms = (real: number): number => real - 5000;

test('through one coordinating replica, the write applied last wins whatever its timestamp', (t) => {
  const first = applied(undefined, put(1, n1Ms(realMs), lww), 'a');
  const second = applied(first, put(2, n2Ms(realMs + 1000), lww), 'a');
  const object = decodeObject(second);
  t.deepEqual(object.siblings.map((s) => text(s.value)), ['2'], 'the stored value is simply replaced');
});

test('when two replicas each coordinate a write (a partition, a fallback), the later write stamped by the slow clock is lost', (t) => {
  // Real time: n1 writes 1 at t, n2 writes 2 one second later, on the other side of a partition.
  const onA = applied(undefined, put(1, n1Ms(realMs), lww), 'a');
  const onB = applied(undefined, put(2, n2Ms(realMs + 1000), lww), 'b');
  // The partition heals; read repair or anti-entropy merges the replicas.
  const merged = decodeObject(applyReplicate(onA, onB)!);
  const shown = visibleContents(merged, false);
  t.deepEqual(shown.map((c) => text(c.value)), ['1'], 'the earlier write wins: its node clock was ahead');
  // The next write through the coordinating replica keeps only itself; write 2 is gone for good.
  const next = decodeObject(applied(applyReplicate(onA, onB), put(3, n1Ms(realMs + 2000), lww), 'a'));
  t.deepEqual(next.siblings.map((s) => text(s.value)), ['3']);
  t.false(next.siblings.some((s) => text(s.value) === '2'));
});

test('a blind write to an allow_mult=false type is dropped at once when the stored value has a newer timestamp', (t) => {
  const opts = { lastWriteWins: false, allowMult: false };
  const first = applied(undefined, put(1, n1Ms(realMs), opts), 'a');
  // One second later in real time, through n2, without a context: acknowledged, then dropped.
  const result = applyPut(first, put(2, n2Ms(realMs + 1000), opts), 'a');
  t.true(result.ok, 'the write is acknowledged');
  if (!result.ok) return;
  t.deepEqual(result.value.object.siblings.map((s) => text(s.value)), ['1']);
  // With the context of a read, the same write replaces the value: the context says what it saw.
  const withContext = applyPut(first, put(2, n2Ms(realMs + 1000), { ...opts, context: decodeObject(first).vv }), 'a');
  t.true(withContext.ok);
  if (withContext.ok) t.deepEqual(withContext.value.object.siblings.map((s) => text(s.value)), ['2']);
});
