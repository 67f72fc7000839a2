import test from 'ava';
import fc from 'fast-check';
import {
  AaeExchange,
  type ExchangeAnswer,
  type ExchangeLimits,
  type ExchangeOutcome,
  type ExchangeRequest,
  answerFromTree,
  defaultExchangeLimits,
  exchangesOfVnode,
  treesOfVnode,
} from '../../src/core/aae-exchange.js';
import { encodeStorageKey } from '../../src/core/codec.js';
import { type TreeShape, MerkleTree, buildTree, defaultTreeShape, hashObjectVersion } from '../../src/core/merkle.js';
import { type KvObject, applyWrite, emptyObject, mergeObjects, sameVersion } from '../../src/core/object.js';
import { preferencePartitions } from '../../src/core/ring.js';
import { content } from './arbitraries.js';

const smallShape: TreeShape = { segments: 64, width: 4 };
const keyOf = (n: number): Uint8Array => new TextEncoder().encode(`k${n}`);
const name = (key: Uint8Array): string => new TextDecoder().decode(key);

interface Run {
  readonly outcome: ExchangeOutcome;
  readonly requests: ExchangeRequest[];
}

/**
 * Drives an exchange between two trees, as the runtime would with both sides local; `deliver`
 * may reorder or duplicate each round's answers, as a network between remote sides can.
 */
function runExchange(
  a: MerkleTree,
  b: MerkleTree,
  limits: ExchangeLimits = defaultExchangeLimits,
  startOffset = 0,
  deliver: (answers: ExchangeAnswer[]) => ExchangeAnswer[] = (x) => x,
): Run {
  const exchange = new AaeExchange(7, a.shape, limits, startOffset);
  const requests: ExchangeRequest[] = [];
  let effects = exchange.start();
  for (let rounds = 0; rounds < 1000; rounds++) {
    const answers: ExchangeAnswer[] = [];
    for (const effect of effects) {
      if (effect.type === 'finished') return { outcome: effect.outcome, requests };
      requests.push(effect.request);
      answers.push(answerFromTree(effect.request.side === 'a' ? a : b, effect.request));
    }
    effects = deliver(answers).flatMap((answer) => exchange.onAnswer(answer));
  }
  throw new Error('exchange did not finish');
}

function completed(outcome: ExchangeOutcome): Extract<ExchangeOutcome, { type: 'ExchangeCompleted' }> {
  if (outcome.type !== 'ExchangeCompleted') throw new Error(`exchange failed: ${outcome.reason} ${outcome.message}`);
  return outcome;
}

type Divergence = 'same' | 'onlyA' | 'onlyB' | 'changed';
const arbDivergence = fc.constantFrom<Divergence>('same', 'same', 'same', 'onlyA', 'onlyB', 'changed');

test('after random divergence the exchange finds exactly the differing keys, with both sides versions', (t) => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(arbDivergence, fc.nat({ max: 1000 })), { maxLength: 300 }),
      fc.constantFrom(smallShape, defaultTreeShape, { segments: 16, width: 16 }),
      fc.nat(),
      (plan, shape, offset) => {
        const a = new MerkleTree(shape);
        const b = new MerkleTree(shape);
        const expected = new Map<string, [number | undefined, number | undefined]>();
        plan.forEach(([divergence, hash], i) => {
          const key = keyOf(i);
          const inA = divergence === 'onlyB' ? undefined : hash;
          const inB = divergence === 'onlyA' ? undefined : divergence === 'changed' ? hash + 1 : hash;
          if (inA !== undefined) a.update(key, inA);
          if (inB !== undefined) b.update(key, inB);
          if (divergence !== 'same') expected.set(name(key), [inA, inB]);
        });
        const { differingKeys, counts } = completed(runExchange(a, b, defaultExchangeLimits, offset).outcome);
        const byName = (x: [string, unknown], y: [string, unknown]): number => (x[0] < y[0] ? -1 : 1);
        t.deepEqual(differingKeys.map((d): [string, unknown] => [name(d.key), [d.a, d.b]]).sort(byName), [...expected].sort(byName));
        t.is(counts.keysDiffering, expected.size);
        t.false(counts.truncated);
        for (const d of differingKeys) t.is(a.segmentOf(d.key), d.segment);
      },
    ),
    { numRuns: 150 },
  );
});

test('equal trees settle on the roots: one request per side', (t) => {
  const entries = Array.from({ length: 1000 }, (_, i) => ({ key: keyOf(i), hash: i }));
  const run = runExchange(buildTree(entries), buildTree(entries.reverse()));
  const { differingKeys, counts } = completed(run.outcome);
  t.deepEqual(differingKeys, []);
  t.is(counts.levelsCompared, 1);
  t.is(counts.requests, 2);
  t.is(run.requests.length, 2);
});

test('one differing key among 20k: 4 rounds of 2 requests, one segment fetched', (t) => {
  const a = new MerkleTree();
  const b = new MerkleTree();
  for (let i = 0; i < 20_000; i++) {
    a.update(keyOf(i), i);
    b.update(keyOf(i), i);
  }
  b.update(keyOf(4242), 1);
  const run = runExchange(a, b);
  const { differingKeys, counts } = completed(run.outcome);
  t.deepEqual(differingKeys.map((d) => [name(d.key), d.a, d.b]), [['k4242', 4242, 1]]);
  t.like(counts, { levelsCompared: 3, nodesCompared: 1 + 64 + 64, nodesDiffering: 3, segmentsDiffering: 1, segmentsFetched: 1, requests: 8, truncated: false });
  t.true(counts.keysCompared < 40, `keys compared ${counts.keysCompared}`);
  t.deepEqual(
    run.requests.filter((r) => r.side === 'a').map((r) => (r.type === 'TreeHashesRequest' ? `depth ${r.depth} × ${r.indexes.length}` : `segments × ${r.segments.length}`)),
    ['depth 0 × 1', 'depth 1 × 64', 'depth 2 × 64', 'segments × 1'],
  );
});

test('message counts for typical divergences between 100k-key trees (printed with --verbose)', (t) => {
  const keys = Array.from({ length: 100_000 }, (_, i) => encodeStorageKey({ type: 'default', bucket: new TextEncoder().encode('carts'), key: new TextEncoder().encode(`user-${i}-session`) }));
  const a = buildTree(keys.map((key, i) => ({ key, hash: i })));
  const b = buildTree(keys.map((key, i) => ({ key, hash: i })));
  const answerBytes = (run: Run): number =>
    run.requests.reduce((sum, request) => {
      const answer = answerFromTree(request.side === 'a' ? a : b, request);
      if (answer.type === 'TreeHashesAnswer') return sum + answer.hashes.byteLength;
      if (answer.type === 'SegmentKeysAnswer') return sum + answer.segments.flat().reduce((n, e) => n + e.key.length + 8, 0);
      return sum;
    }, 0);
  const rows: string[] = [];
  for (const d of [0, 1, 10, 100, 1000, 100_000]) {
    const changed = Array.from({ length: d }, (_, j) => (j * 7919) % keys.length);
    for (const [j, i] of changed.entries()) b.update(keys[i]!, d === keys.length ? undefined : keys.length + j);
    const run = runExchange(a, b);
    const { counts, differingKeys } = completed(run.outcome);
    rows.push(`| ${d} | ${run.requests.length / 2} | ${counts.requests} | ${counts.nodesCompared} | ${counts.segmentsFetched} of ${counts.segmentsDiffering} | ${counts.keysCompared} | ${answerBytes(run)} | ${differingKeys.length}${counts.truncated ? ' (truncated)' : ''} |`);
    t.is(differingKeys.length, Math.min(d, defaultExchangeLimits.maxKeysPerExchange, counts.keysDiffering));
    if (d <= 100) t.is(counts.keysDiffering, d);
    for (const i of changed) b.update(keys[i]!, i);
  }
  t.is(a.rootHex(), b.rootHex());
  t.log(['| differing keys | rounds | requests | node hashes compared | segments fetched | keys listed | answer bytes | reported |', ...rows].join('\n'));
});

test('the key limit bounds each exchange; repeated exchanges with repair converge', (t) => {
  const a = new MerkleTree(smallShape);
  const b = new MerkleTree(smallShape);
  for (let i = 0; i < 2000; i++) a.update(keyOf(i), i);
  for (let i = 0; i < 2000; i += 4) b.update(keyOf(i), i);
  const limits: ExchangeLimits = { maxKeysPerExchange: 200, maxSegmentsPerExchange: 64, maxSegmentsPerRequest: 4 };
  let exchanges = 0;
  for (;;) {
    const { differingKeys, counts } = completed(runExchange(a, b, limits, exchanges * 17).outcome);
    if (differingKeys.length === 0) break;
    exchanges++;
    t.true(differingKeys.length <= 200);
    t.is(counts.truncated, counts.keysDiffering > 200 || counts.segmentsFetched < counts.segmentsDiffering);
    // The repair: the side without the key gets it (the merge of a version with nothing is that version).
    for (const d of differingKeys) b.update(d.key, d.a);
    t.true(exchanges < 20);
  }
  t.is(exchanges, Math.ceil(1500 / 200));
  t.is(a.rootHex(), b.rootHex());
});

test('the segment limit bounds the branches followed and the segments fetched', (t) => {
  const a = new MerkleTree(defaultTreeShape);
  const b = new MerkleTree(defaultTreeShape);
  for (let i = 0; i < 20_000; i++) a.update(keyOf(i), i);
  const limits: ExchangeLimits = { maxKeysPerExchange: 100_000, maxSegmentsPerExchange: 10, maxSegmentsPerRequest: 3 };
  const run = runExchange(a, b, limits, 123);
  const { differingKeys, counts } = completed(run.outcome);
  t.is(counts.segmentsFetched, 10);
  t.true(counts.truncated);
  t.is(new Set(differingKeys.map((d) => d.segment)).size, 10);
  t.is(run.requests.filter((r) => r.type === 'SegmentKeysRequest').length, 2 * 4, '10 segments in requests of 3');
  const depth2 = run.requests.find((r) => r.type === 'TreeHashesRequest' && r.depth === 2);
  t.is(depth2?.type === 'TreeHashesRequest' ? depth2.indexes.length : 0, 10 * 64, 'ten branches followed at depth 1');
  const other = completed(runExchange(a, b, limits, 2000).outcome);
  t.notDeepEqual(new Set(other.differingKeys.map((d) => d.segment)), new Set(differingKeys.map((d) => d.segment)), 'another start offset reaches other segments');
});

test('answers may arrive in any order, twice, or from an older round: the result is the same', (t) => {
  const a = new MerkleTree(smallShape);
  const b = new MerkleTree(smallShape);
  for (let i = 0; i < 500; i++) {
    a.update(keyOf(i), i);
    if (i % 7 !== 0) b.update(keyOf(i), i % 11 === 0 ? i + 1 : i);
  }
  const straight = completed(runExchange(a, b).outcome);
  let previous: ExchangeAnswer[] = [];
  const messy = completed(
    runExchange(a, b, defaultExchangeLimits, 0, (answers) => {
      const out = [...previous, ...[...answers].reverse(), ...answers];
      previous = answers;
      return out;
    }).outcome,
  );
  t.deepEqual(messy.differingKeys, straight.differingKeys);
  t.deepEqual(messy.counts, straight.counts);
});

test('a failed side, a timeout, a shape mismatch or a malformed answer ends the exchange with the reason', (t) => {
  const tree = buildTree([{ key: keyOf(1), hash: 1 }], smallShape);
  const other = buildTree([{ key: keyOf(1), hash: 2 }], smallShape);

  const failing = new AaeExchange(1, smallShape);
  const [askA] = failing.start();
  t.is(askA?.type, 'send');
  const request = askA!.type === 'send' ? askA!.request : undefined!;
  t.deepEqual(failing.onAnswer({ type: 'ExchangeSideFailed', exchangeId: 2, round: request.round, side: 'b', reason: 'unavailable', message: 'other exchange' }), []);
  const [end] = failing.onAnswer({ type: 'ExchangeSideFailed', exchangeId: 1, round: request.round, side: 'b', reason: 'tree_not_ready', message: 'rebuilding' });
  t.like(end, { type: 'finished', outcome: { type: 'ExchangeFailed', side: 'b', reason: 'tree_not_ready' } });
  t.true(failing.finished);
  t.deepEqual(failing.onTimeout(), []);

  const slow = new AaeExchange(1, smallShape);
  const asks = slow.start();
  slow.onAnswer(answerFromTree(tree, asks[0]!.type === 'send' ? asks[0]!.request : undefined!));
  t.like(slow.onTimeout()[0], { type: 'finished', outcome: { type: 'ExchangeFailed', side: 'b', reason: 'timeout' } });

  const mismatch = answerFromTree(buildTree([], defaultTreeShape), request);
  t.like(mismatch, { type: 'ExchangeSideFailed', reason: 'shape_mismatch', side: 'a' });
  t.like(answerFromTree(tree, { ...request, type: 'TreeHashesRequest', depth: 9, indexes: [0] }), { reason: 'malformed' });
  t.like(answerFromTree(tree, { ...request, type: 'TreeHashesRequest', depth: 1, indexes: [4] }), { reason: 'malformed' });
  t.like(answerFromTree(tree, { type: 'SegmentKeysRequest', exchangeId: 1, round: 1, side: 'a', shape: smallShape, segments: [64] }), { reason: 'malformed' });

  const short = runExchange(tree, other, defaultExchangeLimits, 0, (answers) =>
    answers.map((x) => (x.type === 'TreeHashesAnswer' && x.side === 'b' ? { ...x, hashes: x.hashes.subarray(2) } : x)),
  );
  t.like(short.outcome, { type: 'ExchangeFailed', side: 'b', reason: 'malformed' });
  const twice = runExchange(tree, other, defaultExchangeLimits, 0, (answers) =>
    answers.map((x) => (x.type === 'SegmentKeysAnswer' && x.side === 'a' ? { ...x, segments: x.segments.map((s) => [...s, ...s]) } : x)),
  );
  t.like(twice.outcome, { type: 'ExchangeFailed', side: 'a', reason: 'malformed' });
});

test('a branch that differed but whose children match (writes between rounds) ends the descent quietly', (t) => {
  const a = buildTree([{ key: keyOf(1), hash: 1 }], smallShape);
  const b = buildTree([], smallShape);
  const exchange = new AaeExchange(3, smallShape);
  let effects = exchange.start();
  const ask = (side: 'a' | 'b') => {
    const effect = effects.find((e) => e.type === 'send' && e.request.side === side)!;
    return answerFromTree(side === 'a' ? a : b, effect.type === 'send' ? effect.request : undefined!);
  };
  effects = [...exchange.onAnswer(ask('a')), ...exchange.onAnswer(ask('b'))];
  b.update(keyOf(1), 1); // the write reaches b while the exchange runs
  effects = [...exchange.onAnswer(ask('a')), ...exchange.onAnswer(ask('b'))];
  t.like(effects[0], { type: 'finished', outcome: { type: 'ExchangeCompleted', differingKeys: [], counts: { levelsCompared: 2 } } });
});

/** Replicas as maps from key to object, with their trees kept by version hash on every write. */
class Replica {
  readonly objects = new Map<string, KvObject>();
  readonly tree = new MerkleTree(smallShape);
  constructor(readonly actor: string) {}
  write(key: Uint8Array, value: number, context: 'current' | 'blind', nowMs: number): void {
    const current = this.objects.get(name(key)) ?? emptyObject;
    this.store(key, applyWrite(current, { context: context === 'current' ? current.vv : [], content: content(value), deleted: value < 0 }, this.actor, nowMs));
  }
  merge(key: Uint8Array, incoming: KvObject): void {
    this.store(key, mergeObjects(this.objects.get(name(key)) ?? emptyObject, incoming));
  }
  private store(key: Uint8Array, object: KvObject): void {
    this.objects.set(name(key), object);
    this.tree.update(key, hashObjectVersion(object));
  }
}

test('repairing the differing keys through the merge converges the replicas and keeps every newer write', (t) => {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.nat({ max: 40 }), fc.constantFrom('a', 'b', 'both'), fc.integer({ min: -3, max: 50 }), fc.boolean()), { maxLength: 120 }), (writes) => {
      const a = new Replica('actor-a');
      const b = new Replica('actor-b');
      writes.forEach(([k, where, value, blind], nowMs) => {
        const key = encodeStorageKey({ type: 'default', bucket: Uint8Array.of(1), key: keyOf(k) });
        if (where !== 'b') a.write(key, value, blind ? 'blind' : 'current', nowMs);
        if (where === 'b') b.write(key, value, blind ? 'blind' : 'current', nowMs);
        if (where === 'both') b.merge(key, a.objects.get(name(key))!);
      });
      const before = new Map([...a.objects, ...b.objects].map(([k]) => [k, [a.objects.get(k), b.objects.get(k)]] as const));
      const { differingKeys } = completed(runExchange(a.tree, b.tree).outcome);
      for (const d of differingKeys) {
        const fromA = a.objects.get(name(d.key));
        const fromB = b.objects.get(name(d.key));
        if (fromB !== undefined) a.merge(d.key, fromB);
        if (fromA !== undefined) b.merge(d.key, fromA);
      }
      t.is(a.tree.rootHex(), b.tree.rootHex());
      t.is(completed(runExchange(a.tree, b.tree).outcome).differingKeys.length, 0);
      for (const [k, [oldA, oldB]] of before) {
        const merged = a.objects.get(k)!;
        t.true(sameVersion(merged, b.objects.get(k)!));
        t.true(sameVersion(merged, mergeObjects(oldA ?? emptyObject, oldB ?? emptyObject)), 'the repair is exactly the merge of both sides');
      }
    }),
    { numRuns: 100 },
  );
});

test('each vnode keeps one tree per preference list it is in, and exchanges with its successor in it', (t) => {
  const partitionCount = 8;
  const nVals = [1, 2, 3];
  t.deepEqual(treesOfVnode(0, partitionCount, [3]), [
    { primaryPartition: 0, nVal: 3 },
    { primaryPartition: 7, nVal: 3 },
    { primaryPartition: 6, nVal: 3 },
  ]);
  const pairs = new Map<string, Set<string>>();
  for (let p = 0; p < partitionCount; p++) {
    for (const { tree, peer } of exchangesOfVnode(p, partitionCount, nVals)) {
      const replicas = preferencePartitions(tree.primaryPartition, tree.nVal, partitionCount);
      t.true(replicas.includes(p) && replicas.includes(peer) && peer !== p, 'both ends hold the tree');
      const id = `${tree.primaryPartition}/${tree.nVal}`;
      const set = pairs.get(id) ?? new Set<string>();
      set.add([p, peer].sort().join('-'));
      pairs.set(id, set);
    }
  }
  for (let q = 0; q < partitionCount; q++) {
    t.false(pairs.has(`${q}/1`), 'n_val 1 has no other replica');
    t.is(pairs.get(`${q}/2`)?.size, 1, 'n_val 2: one exchange, not two');
    t.is(pairs.get(`${q}/3`)?.size, 3, 'n_val 3: a cycle through the three replicas');
  }
  t.throws(() => treesOfVnode(0, 8, [9]));
});
