import test from 'ava';
import fc from 'fast-check';
import { vvDescends, vvEqual, vvIsWellFormed, vvMerge, vvGet, vvWith } from '../../src/core/version-vector.js';
import { arbVv } from './arbitraries.js';

test('merge is commutative, associative and idempotent', (t) => {
  fc.assert(
    fc.property(arbVv, arbVv, arbVv, (a, b, c) => {
      t.true(vvEqual(vvMerge(a, b), vvMerge(b, a)));
      t.true(vvEqual(vvMerge(vvMerge(a, b), c), vvMerge(a, vvMerge(b, c))));
      t.true(vvEqual(vvMerge(a, a), a));
      t.true(vvIsWellFormed(vvMerge(a, b)));
    }),
  );
});

test('descends is a partial order and merge is the least upper bound', (t) => {
  fc.assert(
    fc.property(arbVv, arbVv, arbVv, (a, b, c) => {
      t.true(vvDescends(a, a));
      if (vvDescends(a, b) && vvDescends(b, a)) t.true(vvEqual(a, b));
      if (vvDescends(a, b) && vvDescends(b, c)) t.true(vvDescends(a, c));
      const m = vvMerge(a, b);
      t.true(vvDescends(m, a) && vvDescends(m, b));
      if (vvDescends(c, a) && vvDescends(c, b)) t.true(vvDescends(c, m));
    }),
  );
});

test('vvWith raises one actor and keeps the vector well formed', (t) => {
  const vv = vvWith(vvWith([], 'b', 2), 'a', 1);
  t.deepEqual(vv, [
    { actor: 'a', counter: 1 },
    { actor: 'b', counter: 2 },
  ]);
  t.is(vvGet(vvWith(vv, 'b', 1), 'b'), 2, 'never lowers a counter');
  t.false(vvIsWellFormed([{ actor: 'b', counter: 1 }, { actor: 'a', counter: 1 }]));
  t.false(vvIsWellFormed([{ actor: 'a', counter: 0 }]));
});
