// The worker's anti-entropy trees (src/runtime/vnode-host/vnode-trees.ts) over an in-memory
// store: a rebuild equals the incremental trees even with writes between its chunks, keys land in
// the tree of their preference list (hints, metadata and unknown types in none), tombstones are
// objects like any other, and an exchange request is answered only from a ready tree.

import test from 'ava';
import { type ExchangeRequest, treesOfVnode } from '../../../src/core/aae-exchange.js';
import { decodeObject, decodeStorageKey, encodeObject, encodeStorageKey } from '../../../src/core/codec.js';
import { buildTree, defaultTreeShape, hashObjectVersion } from '../../../src/core/merkle.js';
import { applyWrite, emptyObject } from '../../../src/core/object.js';
import { partitionOf, preferencePartitions } from '../../../src/core/ring.js';
import type { TreesConfig } from '../../../src/runtime/vnode-host/protocol.js';
import { type FoldSource, VnodeTrees } from '../../../src/runtime/vnode-host/vnode-trees.js';

const Q = 8;
const config: TreesConfig = { partitionCount: Q, typeNVals: { default: 3, pairs: 2 }, shape: { segments: 64, width: 8 }, rebuildChunkKeys: 7 };

/** One vnode host's objects, in key order per partition, like WorkerStore.foldBatch. */
class MemoryStore implements FoldSource {
  readonly partitions = new Map<number, Map<string, { key: Uint8Array; value: Uint8Array }>>();
  folds = 0;

  put(partition: number, key: Uint8Array, value: Uint8Array | undefined): void {
    let items = this.partitions.get(partition);
    if (items === undefined) this.partitions.set(partition, (items = new Map()));
    const hex = Buffer.from(key).toString('hex');
    if (value === undefined) items.delete(hex);
    else items.set(hex, { key, value });
  }

  foldBatch(partition: number, afterKey: Uint8Array | undefined, maxItems: number): ReturnType<FoldSource['foldBatch']> {
    this.folds++;
    const after = afterKey === undefined ? undefined : Buffer.from(afterKey);
    const all = [...(this.partitions.get(partition)?.values() ?? [])].sort((a, b) => Buffer.compare(a.key, b.key));
    const rest = all.filter((i) => after === undefined || Buffer.compare(i.key, after) > 0);
    const items = rest.slice(0, maxItems);
    const done = rest.length <= maxItems;
    return { items, done, resumeAfter: done ? undefined : items[items.length - 1]!.key };
  }
}

function storageKey(type: string, key: string): Uint8Array {
  return encodeStorageKey({ type, bucket: new TextEncoder().encode('b'), key: new TextEncoder().encode(key) });
}

function object(value: string, actor = 'w', deleted = false): Uint8Array {
  return encodeObject(applyWrite(emptyObject, { context: [], content: { value: new TextEncoder().encode(value), contentType: 'text/plain', userMeta: [] }, deleted }, actor, 1000));
}

/** A key of `type` whose preference list includes `partition`, at position `position`. */
function keyAt(type: string, partition: number, position: number, seed: number): Uint8Array {
  for (let i = 0; ; i++) {
    const key = storageKey(type, `k${seed}-${i}`);
    if (partitionOf(key, Q) === (partition - position + Q) % Q) return key;
  }
}

function setup(): { store: MemoryStore; trees: VnodeTrees; logs: string[] } {
  const store = new MemoryStore();
  const logs: string[] = [];
  const trees = new VnodeTrees({ source: store, yieldTurn: () => new Promise((r) => setImmediate(r)), nowMs: () => 5000, log: (_level, msg) => logs.push(msg) });
  return { store, trees, logs };
}

const rootsOf = (trees: VnodeTrees, partition: number): Record<string, string> =>
  Object.fromEntries(trees.stats().partitions.find((p) => p.partition === partition)!.trees.map((t) => [`${t.primaryPartition}/${t.nVal}`, t.root]));

/** The roots a tree built from scratch over the store would have. */
function expectedRoots(store: MemoryStore, partition: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (const id of treesOfVnode(partition, Q, Object.values(config.typeNVals))) {
    const entries = [...(store.partitions.get(partition)?.values() ?? [])]
      .filter((i) => i.key[0] !== 0 && partitionOf(i.key, Q) === id.primaryPartition && config.typeNVals[decodeStorageKey(i.key).type] === id.nVal)
      .map((i) => ({ key: i.key, hash: hashObjectVersion(decodeObject(i.value)) }));
    out[`${id.primaryPartition}/${id.nVal}`] = buildTree(entries, config.shape).rootHex();
  }
  return out;
}

test('a vnode keeps one tree per preference list it is in, for each n_val in use', (t) => {
  const { trees } = setup();
  trees.track(config, [3]);
  const ids = trees.stats().partitions[0]!.trees.map((tree) => `${tree.primaryPartition}/${tree.nVal}`).sort();
  t.deepEqual(ids, ['1/3', '2/2', '2/3', '3/2', '3/3']);
  t.is(trees.stats().partitions[0]!.state, 'pending');
});

test('a rebuild reads the partition in chunks and equals the trees built from scratch, writes between chunks included', async (t) => {
  const { store, trees } = setup();
  const partition = 3;
  for (let i = 0; i < 60; i++) store.put(partition, keyAt(i % 2 === 0 ? 'default' : 'pairs', partition, i % 2 === 0 ? i % 3 : i % 2, i), object(`v${i}`));
  // The vnode's own record and a hint (a key whose list does not include this vnode) are not in any tree.
  store.put(partition, Uint8Array.of(0, 0x61, 0x63), new Uint8Array([1]));
  const hint = keyAt('default', partition, 4, 999);
  store.put(partition, hint, object('hint'));
  // A key of a bucket type this node does not know.
  store.put(partition, keyAt('unknown', partition, 0, 5), object('?'));
  trees.track(config, [partition]);
  const rebuilding = trees.rebuild(partition);
  t.is(trees.stats().partitions[0]!.state, 'rebuilding');
  // Writes and removals while the rebuild runs, applied as the worker applies them: store, then trees.
  const changes: [Uint8Array, Uint8Array | undefined][] = [];
  for (let i = 0; i < 10; i++) changes.push([keyAt('default', partition, 1, 100 + i), object(`new${i}`)]);
  changes.push([[...store.partitions.get(partition)!.values()][5]!.key, undefined]);
  changes.push([[...store.partitions.get(partition)!.values()][40]!.key, object('changed', 'other')]);
  for (const [key, value] of changes) {
    await new Promise((r) => setImmediate(r));
    store.put(partition, key, value);
    trees.onWrite(partition, key, value);
  }
  await rebuilding;
  const stats = trees.stats().partitions[0]!;
  t.is(stats.state, 'ready');
  t.true(stats.rebuildChunks! > 5, `${stats.rebuildChunks} chunks of ${config.rebuildChunkKeys} keys`);
  t.is(stats.keysOutsideTrees, 2, 'the hint and the unknown type');
  t.is(stats.keys, 60 + 10 - 1);
  t.deepEqual(rootsOf(trees, partition), expectedRoots(store, partition));
});

test('writes after the rebuild keep the trees equal to a fresh build; a tombstone is a version like any other', async (t) => {
  const { store, trees } = setup();
  const partition = 0;
  trees.track(config, [partition]);
  await trees.rebuild(partition);
  const key = keyAt('default', partition, 2, 7);
  for (const value of [object('a'), object('b', 'x'), object('gone', 'y', true)]) {
    store.put(partition, key, value);
    trees.onWrite(partition, key, value);
    t.deepEqual(rootsOf(trees, partition), expectedRoots(store, partition));
  }
  t.is(trees.stats().partitions[0]!.keys, 1, 'the tombstone is still a key of the tree');
  store.put(partition, key, undefined);
  trees.onWrite(partition, key, undefined);
  t.is(trees.stats().partitions[0]!.keys, 0);
});

test('exchange requests: unavailable when not tracked, tree_not_ready until rebuilt, then answered from the tree', async (t) => {
  const { store, trees } = setup();
  const request: ExchangeRequest = { type: 'TreeHashesRequest', exchangeId: 1, round: 1, side: 'b', shape: config.shape, depth: 0, indexes: [0] };
  t.like(trees.answer(2, { primaryPartition: 2, nVal: 3 }, request), { type: 'ExchangeSideFailed', reason: 'unavailable' });
  store.put(2, keyAt('default', 2, 0, 1), object('x'));
  trees.track(config, [2]);
  t.like(trees.answer(2, { primaryPartition: 2, nVal: 3 }, request), { type: 'ExchangeSideFailed', reason: 'tree_not_ready', exchangeId: 1, round: 1, side: 'b' });
  await trees.rebuild(2);
  const answer = trees.answer(2, { primaryPartition: 2, nVal: 3 }, request);
  t.is(answer.type, 'TreeHashesAnswer');
  t.like(trees.answer(2, { primaryPartition: 6, nVal: 3 }, request), { reason: 'unavailable' }, 'a list vnode 2 is not in');
  t.like(trees.answer(2, { primaryPartition: 2, nVal: 3 }, { ...request, shape: defaultTreeShape }), { reason: 'shape_mismatch' });
});

test('tracking follows ownership: untracked vnodes drop their trees, a changed config rebuilds all', async (t) => {
  const { store, trees } = setup();
  for (let p = 0; p < 3; p++) store.put(p, keyAt('default', p, 0, p), object('x'));
  trees.track(config, [0, 1, 2]);
  await Promise.all([0, 1, 2].map((p) => trees.rebuild(p)));
  trees.track(config, [1, 2]);
  t.deepEqual(trees.stats().partitions.map((p) => p.partition), [1, 2]);
  t.deepEqual(trees.stats().partitions.map((p) => p.state), ['ready', 'ready']);
  // Writes to an untracked vnode are ignored (it may hold hints).
  trees.onWrite(0, keyAt('default', 0, 0, 50), object('y'));
  trees.track({ ...config, typeNVals: { default: 3 } }, [1, 2]);
  t.deepEqual(trees.stats().partitions.map((p) => p.state), ['pending', 'pending']);
  t.is(trees.stats().partitions[0]!.trees.length, 3);
});

test('a new bucket type rebuilds only the vnodes that already hold keys of it; its new n_val gets empty trees elsewhere', async (t) => {
  const { store, trees } = setup();
  store.put(1, keyAt('default', 1, 0, 1), object('x'));
  trees.track(config, [1, 2]);
  await Promise.all([trees.rebuild(1), trees.rebuild(2)]);
  // A replica of a type this node has not heard of yet (gossip is slower than replication).
  const early = keyAt('late', 1, 0, 2);
  store.put(1, early, object('early'));
  trees.onWrite(1, early, object('early'));
  trees.track({ ...config, typeNVals: { ...config.typeNVals, late: 1 } }, [1, 2]);
  t.deepEqual(trees.stats().partitions.map((p) => p.state), ['pending', 'ready']);
  t.true(trees.stats().partitions[1]!.trees.some((tree) => tree.nVal === 1), 'vnode 2 has its n_val 1 tree');
  await trees.rebuild(1);
  t.true(trees.stats().partitions[0]!.trees.some((tree) => tree.nVal === 1 && tree.keys === 1), 'the early key is in vnode 1\'s new tree');
});

test('a rebuild cancelled by untracking stops at its next chunk', async (t) => {
  const { store, trees } = setup();
  for (let i = 0; i < 50; i++) store.put(4, keyAt('default', 4, 0, i), object('x'));
  trees.track(config, [4]);
  const rebuilding = trees.rebuild(4);
  trees.track(config, []);
  await rebuilding;
  t.true(store.folds <= 2, `${store.folds} chunks read`);
  t.deepEqual(trees.stats().partitions, []);
});

test('the preference lists of the test keys are what the trees expect', (t) => {
  // keyAt finds keys by position; check it against the ring once.
  const key = keyAt('default', 5, 2, 3);
  t.true(preferencePartitions(partitionOf(key, Q), 3, Q).includes(5));
  t.is(preferencePartitions(partitionOf(key, Q), 3, Q).indexOf(5), 2);
});
