import test from 'ava';
import fc from 'fast-check';
import { murmur3 } from '../../src/core/hash.js';
import { type KeyHash, type TreeShape, MerkleTree, buildTree, defaultTreeShape, hashObjectVersion, mix4, nodesAt, treeDepth } from '../../src/core/merkle.js';
import { mergeObjects, sameVersion } from '../../src/core/object.js';
import { seededRandom } from '../../src/core/random.js';
import { partitionOf } from '../../src/core/ring.js';
import { arbObject } from './arbitraries.js';

const smallShape: TreeShape = { segments: 64, width: 4 };

const arbKey = fc.uint8Array({ minLength: 0, maxLength: 10 });
const arbHash = fc.nat({ max: Number.MAX_SAFE_INTEGER });
const arbEntries: fc.Arbitrary<KeyHash[]> = fc
  .uniqueArray(fc.tuple(arbKey, arbHash), { selector: ([key]) => key.join(','), maxLength: 60 })
  .map((pairs) => pairs.map(([key, hash]) => ({ key, hash })));

/** Every node hash at every level, for comparing whole trees. */
function allLevels(tree: MerkleTree): number[][] {
  return Array.from({ length: tree.depth + 1 }, (_, d) => [...tree.nodeHashes(d, Array.from({ length: nodesAt(tree.shape, d) }, (_, i) => i))]);
}

function allSegments(tree: MerkleTree): KeyHash[][] {
  return Array.from({ length: tree.shape.segments }, (_, s) => tree.segmentKeys(s));
}

const keyOf = (n: number): Uint8Array => new TextEncoder().encode(`bucket/key-${n}`);

test('shapes: depth from segments and width; invalid shapes are refused', (t) => {
  t.is(treeDepth(defaultTreeShape), 2);
  t.is(treeDepth({ segments: 1024, width: 32 }), 2);
  t.is(treeDepth({ segments: 4096, width: 16 }), 3);
  t.is(treeDepth(smallShape), 3);
  t.throws(() => treeDepth({ segments: 1000, width: 10 }));
  t.throws(() => treeDepth({ segments: 2048, width: 64 }), { message: /power of width/ });
  t.throws(() => treeDepth({ segments: 64, width: 1 }));
});

test('mix4 is murmur3 of the four words as 16 little-endian bytes', (t) => {
  fc.assert(
    fc.property(fc.nat(), fc.nat(), fc.nat(), fc.nat(), fc.nat(), (seed, a, b, c, d) => {
      const bytes = new Uint8Array(new Uint32Array([a, b, c, d]).buffer);
      t.is(mix4(seed, a, b, c, d), murmur3(bytes, seed));
    }),
  );
});

test('trees built from the same entries in any order have equal hashes at every level', (t) => {
  fc.assert(
    fc.property(arbEntries, fc.integer(), fc.constantFrom(smallShape, defaultTreeShape), (entries, seed, shape) => {
      const random = seededRandom(seed);
      const shuffled = [...entries].sort(() => random() - 0.5);
      const a = buildTree(entries, shape);
      const b = buildTree(shuffled, shape);
      t.is(a.rootHex(), b.rootHex());
      t.deepEqual(allLevels(a), allLevels(b));
      t.is(a.size, entries.length);
    }),
    { numRuns: 100 },
  );
});

test('any sequence of updates and removals equals a rebuild from the final contents', (t) => {
  const arbOp = fc.tuple(fc.integer({ min: 0, max: 30 }), fc.option(fc.nat({ max: 5 }), { nil: undefined }));
  fc.assert(
    fc.property(fc.array(arbOp, { maxLength: 200 }), (ops) => {
      const tree = new MerkleTree(smallShape);
      const model = new Map<number, number>();
      for (const [k, hash] of ops) {
        tree.update(keyOf(k), hash);
        if (hash === undefined) model.delete(k);
        else model.set(k, hash);
      }
      const rebuilt = buildTree([...model].map(([k, hash]) => ({ key: keyOf(k), hash })), smallShape);
      t.deepEqual(allLevels(tree), allLevels(rebuilt));
      t.deepEqual(allSegments(tree), allSegments(rebuilt));
      t.is(tree.size, model.size);
      for (const [k, hash] of model) t.is(tree.hashOf(keyOf(k)), hash);
      // Kept as keys come and go, not counted when asked: it must match a count of the segments.
      t.is(tree.stats().nonEmptySegments, new Set([...model.keys()].map((k) => tree.segmentOf(keyOf(k)))).size);
      tree.clear();
      t.is(tree.stats().nonEmptySegments, 0);
    }),
    { numRuns: 200 },
  );
});

test('an empty tree, and a tree emptied again, has the zero root', (t) => {
  const tree = new MerkleTree();
  t.is(tree.rootHex(), '0000000000000000');
  for (let i = 0; i < 100; i++) tree.update(keyOf(i), i);
  t.not(tree.rootHex(), '0000000000000000');
  for (let i = 0; i < 100; i++) tree.update(keyOf(i), undefined);
  t.is(tree.rootHex(), '0000000000000000');
  t.is(tree.stats().nonEmptySegments, 0);
});

test('entries do not cancel: equal hashes under two keys, and swapped hashes, change the root', (t) => {
  const empty = new MerkleTree();
  const same = buildTree([{ key: keyOf(1), hash: 7 }, { key: keyOf(2), hash: 7 }]);
  t.not(same.rootHex(), empty.rootHex(), 'an XOR of hash(value) alone would cancel here');
  const swapped = buildTree([{ key: keyOf(1), hash: 8 }, { key: keyOf(2), hash: 7 }]);
  const original = buildTree([{ key: keyOf(1), hash: 7 }, { key: keyOf(2), hash: 8 }]);
  t.not(swapped.rootHex(), original.rootHex(), 'the key is mixed into each entry, so swapping versions shows');
});

test('an update costs the same few node writes whatever the size of the tree', (t) => {
  for (const size of [0, 1_000, 20_000]) {
    const tree = new MerkleTree();
    for (let i = 0; i < size; i++) tree.update(keyOf(i), i + 1);
    const perLevel = 2 * (tree.depth + 1);
    let before = tree.stats().nodeWrites;
    tree.update(keyOf(size + 1), 42);
    t.is(tree.stats().nodeWrites - before, perLevel, `insert into ${size} keys`);
    before = tree.stats().nodeWrites;
    tree.update(keyOf(size + 1), 43);
    t.is(tree.stats().nodeWrites - before, 2 * perLevel, `change in ${size} keys: remove old entry, add new`);
    before = tree.stats().nodeWrites;
    tree.update(keyOf(size + 1), 43);
    t.is(tree.stats().nodeWrites - before, 0, 'the same version again changes nothing');
    tree.update(keyOf(size + 1), undefined);
    tree.update(keyOf(size + 2), undefined);
    t.is(tree.stats().nodeWrites - before, perLevel, 'removing a key undoes its entry; removing an absent key is free');
  }
});

test('object hashes must be non-negative safe integers', (t) => {
  const tree = new MerkleTree();
  t.throws(() => tree.update(keyOf(1), -1));
  t.throws(() => tree.update(keyOf(1), 1.5));
  t.throws(() => tree.update(keyOf(1), 2 ** 53));
  tree.update(keyOf(1), Number.MAX_SAFE_INTEGER);
  t.is(tree.hashOf(keyOf(1)), Number.MAX_SAFE_INTEGER);
});

test('segment key lists are sorted by key bytes and round-trip the keys', (t) => {
  const keys = [Uint8Array.of(), Uint8Array.of(0), Uint8Array.of(255, 0), Uint8Array.of(1, 2, 3), new Uint8Array(5000).fill(200)];
  const tree = buildTree(keys.map((key, i) => ({ key, hash: i })), { segments: 4, width: 2 });
  const listed = allSegments(tree).flat();
  t.is(listed.length, keys.length);
  for (const { key, hash } of listed) t.deepEqual(key, keys[hash]);
  for (const segment of allSegments(tree)) {
    const names = segment.map((e) => Buffer.from(e.key).toString('hex'));
    t.deepEqual(names, [...names].sort());
  }
});

test('the version hash is equal for equal versions and differs for different ones', (t) => {
  fc.assert(
    fc.property(arbObject(), arbObject(), (x, y) => {
      t.is(hashObjectVersion(mergeObjects(x, y)), hashObjectVersion(mergeObjects(y, x)));
      t.is(sameVersion(x, y), hashObjectVersion(x) === hashObjectVersion(y));
      t.true(Number.isSafeInteger(hashObjectVersion(x)) && hashObjectVersion(x) >= 0);
    }),
    { numRuns: 300 },
  );
});

test('the version hash ignores what equal versions cannot differ in: values, encodings', (t) => {
  fc.assert(
    fc.property(arbObject(), (x) => {
      const altered = { ...x, siblings: x.siblings.map((s) => ({ ...s, value: Uint8Array.of(...s.value, 1), lastModifiedMs: s.lastModifiedMs + 1 })) };
      t.is(hashObjectVersion(altered), hashObjectVersion(x));
    }),
  );
});

test('keys of one partition spread over all segments (the segment hash is not the ring hash)', (t) => {
  const shape: TreeShape = { segments: 256, width: 16 };
  const tree = new MerkleTree(shape);
  for (let i = 0; tree.size < 5_000; i++) if (partitionOf(keyOf(i), 64) === 5) tree.update(keyOf(i), i);
  const sizes = allSegments(tree).map((s) => s.length);
  t.is(tree.stats().nonEmptySegments, 256);
  t.true(Math.max(...sizes) < 3 * (5_000 / 256), `largest segment ${Math.max(...sizes)}`);
});

test('a 100k-key tree builds, reports its stats, and keeps its segments balanced', (t) => {
  const tree = new MerkleTree();
  for (let i = 0; i < 100_000; i++) tree.update(keyOf(i), i * 7919);
  const stats = tree.stats();
  t.is(stats.keys, 100_000);
  t.is(stats.nonEmptySegments, 4096);
  t.is(stats.depth, 2);
  t.is(stats.nodeWrites, 100_000 * 2 * 3);
  const sizes = allSegments(tree).map((s) => s.length);
  t.true(Math.max(...sizes) < 2.5 * (100_000 / 4096), `largest segment ${Math.max(...sizes)}`);
  const again = buildTree(Array.from({ length: 100_000 }, (_, j) => 99_999 - j).map((i) => ({ key: keyOf(i), hash: i * 7919 })));
  t.is(again.rootHex(), tree.rootHex());
});

test('the version hash is pinned: nodes of different builds compare it, so its words and seeds never change', (t) => {
  const objects = [
    { vv: [], siblings: [] },
    { vv: [{ actor: 'A', counter: 1 }], siblings: [{ dot: { actor: 'A', counter: 1 } }] },
    {
      vv: [{ actor: 'abcdefghijkl', counter: 2 ** 40 + 7 }, { actor: 'xyz', counter: 3 }],
      siblings: [{ dot: { actor: 'xyz', counter: 3 } }, { dot: { actor: 'abcdefghijkl', counter: 2 ** 40 + 7 } }],
    },
  ];
  // Only the fields the hash reads; the values were computed by the first implementation.
  t.deepEqual(
    objects.map((o) => hashObjectVersion(o as unknown as Parameters<typeof hashObjectVersion>[0])),
    [7625937804223410, 3054671581023404, 8704331605427765],
  );
});
