// The checkers on small hand-made histories: each one must flag the violation it exists for (a
// checker that cannot fail proves nothing) and accept the legitimate look-alike — a write replaced
// by a later write that saw it, a sloppy read that misses a write, siblings from concurrent writers.

import test from 'ava';
import type { Dot, VersionVector } from '../../../src/core/version-vector.js';
import { checkFinalReadsAgree, checkNoLostWrites, checkNoPhantoms, checkNoResurrection, checkSiblings, checkStrictReadsFresh, concurrencyWidth, countStaleReads, learnDots } from './checkers.js';
import { History, type Mode, type ReadOp, type WriteOp } from './history.js';

const dot = (counter: number, actor = 'A'): Dot => ({ actor, counter });
const vv = (...dots: Dot[]): VersionVector =>
  [...new Map(dots.map((d) => [d.actor, d])).values()].sort((a, b) => (a.actor < b.actor ? -1 : 1)).map((d) => ({ actor: d.actor, counter: d.counter }));

function write(h: History, o: { key?: string; value: string; context?: VersionVector; dot?: Dot; at: number; mode?: Mode; outcome?: 'ok' | 'unknown' | 'failed'; client?: number }): WriteOp {
  const op = h.invokeWrite({ client: o.client ?? 0, node: 'n1', key: o.key ?? 'k', mode: o.mode ?? 'strict', invokeMs: o.at, value: o.value, context: o.context ?? [] });
  op.completeMs = o.at + 1;
  op.outcome = o.outcome ?? 'ok';
  if (op.outcome === 'ok' && o.dot !== undefined) {
    op.dot = o.dot;
    op.resultContext = vv(...(o.context ?? []).map((e) => dot(e.counter, e.actor)), o.dot);
    op.siblings = [{ value: o.value, dot: o.dot }];
  }
  return op;
}

function read(h: History, o: { key?: string; siblings: [string, Dot][]; context: VersionVector; at: number; mode?: Mode; final?: boolean; node?: string }): ReadOp {
  const op = h.invokeRead({ client: o.final === true ? -1 : 1, node: o.node ?? 'n1', key: o.key ?? 'k', mode: o.mode ?? 'strict', invokeMs: o.at, final: o.final ?? false });
  op.completeMs = o.at + 1;
  op.outcome = 'ok';
  op.siblings = o.siblings.map(([value, d]) => ({ value, dot: d }));
  op.context = o.context;
  return op;
}

test('a lost acknowledged write is flagged; one replaced by a write that saw it is not', (t) => {
  const h = new History();
  write(h, { value: 'v1', dot: dot(1), at: 0 });
  write(h, { value: 'v2', context: vv(dot(1)), dot: dot(2), at: 10 });
  write(h, { value: 'v3', dot: dot(1, 'B'), at: 20 }); // blind, concurrent: must survive
  read(h, { siblings: [['v2', dot(2)]], context: vv(dot(2), dot(1, 'B')), at: 100, final: true });
  learnDots(h);
  const lost = checkNoLostWrites(h);
  t.is(lost.length, 1);
  t.regex(lost[0]!, /v3/);
});

test('a write covered only by an unknown write is not counted lost (it may have landed)', (t) => {
  const h = new History();
  write(h, { value: 'v1', dot: dot(1), at: 0 });
  write(h, { value: 'v2', context: vv(dot(1)), at: 10, outcome: 'unknown' });
  read(h, { siblings: [], context: vv(dot(2)), at: 100, final: true });
  t.deepEqual(checkNoLostWrites(h), []);
});

test('a strict read that misses an earlier strict write is stale; a sloppy one is only counted', (t) => {
  const h = new History();
  write(h, { value: 'v1', dot: dot(1), at: 0 });
  read(h, { siblings: [], context: [], at: 50 });
  read(h, { siblings: [], context: [], at: 60, mode: 'sloppy' });
  read(h, { siblings: [['v1', dot(1)]], context: vv(dot(1)), at: 70 });
  read(h, { siblings: [], context: [], at: 0.5 }); // concurrent with the write: not stale
  t.is(checkStrictReadsFresh(h).length, 1);
  t.deepEqual(countStaleReads(h), { reads: 4, stale: 2, strictAfterSloppy: 1 });
});

test('a strict read that misses an earlier strict delete is stale', (t) => {
  const h = new History();
  write(h, { value: 'v1', dot: dot(1), at: 0 });
  const del = h.invokeDelete({ client: 0, node: 'n1', key: 'k', mode: 'strict', invokeMs: 10, context: vv(dot(1)) });
  del.completeMs = 11;
  del.outcome = 'ok';
  del.resultContext = vv(dot(2));
  read(h, { siblings: [['v1', dot(1)]], context: vv(dot(1)), at: 20 });
  t.is(checkStrictReadsFresh(h).length, 1);
});

test('phantoms and values seen under two dots are flagged', (t) => {
  const h = new History();
  write(h, { value: 'v1', dot: dot(1), at: 0 });
  read(h, { siblings: [['v1', dot(1)], ['ghost', dot(2)]], context: vv(dot(2)), at: 10 });
  read(h, { siblings: [['v1', dot(3)]], context: vv(dot(3)), at: 20 });
  t.is(checkNoPhantoms(h).length, 1);
  t.is(learnDots(h).length, 1);
});

test('a write whose answer was lost gets its dot from the first read that sees it', (t) => {
  const h = new History();
  const w = write(h, { value: 'v1', at: 0, outcome: 'unknown' });
  read(h, { siblings: [['v1', dot(4)]], context: vv(dot(4)), at: 10 });
  read(h, { siblings: [['v1', dot(4)]], context: vv(dot(4)), at: 20 });
  t.deepEqual(learnDots(h), []);
  t.deepEqual(w.dot, dot(4));
});

test('a value shown twice is a sibling violation unless it is one write applied under two dots', (t) => {
  const h = new History();
  write(h, { value: 'v1', dot: dot(1), at: 0 });
  read(h, { siblings: [['v1', dot(1)], ['v1', dot(1, 'B')]], context: vv(dot(1), dot(1, 'B')), at: 10 });
  t.is(learnDots(h).length, 1, 'reported as applied twice');
  t.deepEqual(checkSiblings(h).violations, [], 'not also as a sibling violation');
  t.is(checkSiblings(h).maxSiblings, 0, 'one distinct value');
});

test('siblings: concurrent writers are fine, a dominated sibling or a repeated value is not', (t) => {
  const h = new History();
  write(h, { value: 'a', dot: dot(1), at: 0, client: 0 });
  write(h, { value: 'b', dot: dot(1, 'B'), at: 0, client: 1 });
  write(h, { value: 'c', context: vv(dot(1)), dot: dot(2), at: 10, client: 0 });
  read(h, { siblings: [['a', dot(1)], ['b', dot(1, 'B')]], context: vv(dot(1), dot(1, 'B')), at: 5 });
  t.deepEqual(checkSiblings(h).violations, []);
  read(h, { siblings: [['a', dot(1)], ['c', dot(2)]], context: vv(dot(2)), at: 20 });
  read(h, { siblings: [['b', dot(1, 'B')], ['b', dot(1, 'B')]], context: vv(dot(1, 'B')), at: 30 });
  const report = checkSiblings(h);
  t.is(report.violations.length, 2);
  t.is(report.maxSiblings, 2);
});

test('the concurrency width of a key is its largest set of mutually concurrent writes', (t) => {
  const h = new History();
  const w = [
    write(h, { value: 'a', dot: dot(1), at: 0 }),
    write(h, { value: 'b', dot: dot(1, 'B'), at: 0 }),
    write(h, { value: 'c', dot: dot(1, 'C'), at: 0 }),
    write(h, { value: 'd', context: vv(dot(1), dot(1, 'B'), dot(1, 'C')), dot: dot(2), at: 10 }),
  ];
  t.is(concurrencyWidth(w), 3);
  t.is(concurrencyWidth(w.slice(3)), 1);
});

test('a value covered by an acknowledged delete that is back in the final read is a resurrection', (t) => {
  const h = new History();
  write(h, { value: 'v1', dot: dot(1), at: 0 });
  const del = h.invokeDelete({ client: 0, node: 'n1', key: 'k', mode: 'sloppy', invokeMs: 10, context: vv(dot(1)) });
  del.completeMs = 11;
  del.outcome = 'ok';
  del.resultContext = vv(dot(2));
  read(h, { siblings: [['v1', dot(1)]], context: vv(dot(1)), at: 100, final: true });
  t.is(checkNoResurrection(h).violations.length, 1);
});

test('final reads through different nodes must agree', (t) => {
  const h = new History();
  write(h, { value: 'v1', dot: dot(1), at: 0 });
  read(h, { siblings: [['v1', dot(1)]], context: vv(dot(1)), at: 100, final: true, node: 'n1' });
  read(h, { siblings: [['v1', dot(1)]], context: vv(dot(1)), at: 100, final: true, node: 'n2' });
  t.deepEqual(checkFinalReadsAgree(h), []);
  read(h, { siblings: [], context: vv(dot(1)), at: 100, final: true, node: 'n3' });
  t.is(checkFinalReadsAgree(h).length, 1);
});
