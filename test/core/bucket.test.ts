import test from 'ava';
import { resolveRead, resolveWrite, riakDefaultProps } from '../../src/core/bucket.js';
import { decideRestart } from '../../src/core/supervision.js';
import { partitionOf, preferencePartitions } from '../../src/core/ring.js';

const limits = { defaultTimeoutMs: 5000, maxTimeoutMs: 60000, maxSiblings: 100, warnSiblings: 25, maxObjectBytes: 50 << 20, warnObjectBytes: 1 << 20, partitions: 64 };

test('symbolic quorums resolve against n_val', (t) => {
  const r = resolveRead(riakDefaultProps, { r: 'all' }, limits);
  t.true(r.ok && r.value.r === 3 && r.value.n === 3);
  const w = resolveWrite(riakDefaultProps, { nVal: 1 }, limits);
  t.true(w.ok && w.value.w === 1 && w.value.dw === 1, 'quorum of 1 is 1');
  const one = resolveWrite(riakDefaultProps, { w: 'one', dw: 'default' }, limits);
  t.true(one.ok && one.value.w === 1 && one.value.dw === 2);
});

test('out-of-range options are refused with a message naming them', (t) => {
  for (const [options, pattern] of [
    [{ r: 4 }, /^r must be/],
    [{ r: 0 }, /^r must be/],
    [{ nVal: 5 }, /^n_val must be/],
    [{ timeoutMs: 0 }, /^timeout_ms must be/],
    [{ timeoutMs: 60001 }, /^timeout_ms must be/],
  ] as const) {
    const result = resolveRead(riakDefaultProps, options, limits);
    t.false(result.ok);
    if (!result.ok) {
      t.is(result.error.code, 'invalid_request');
      t.regex(result.error.message, pattern);
    }
  }
  const w = resolveWrite(riakDefaultProps, { w: 2.5 }, limits);
  t.false(w.ok);
});

test('keys spread evenly over partitions; preference lists wrap around', (t) => {
  const counts = new Array<number>(64).fill(0);
  for (let i = 0; i < 64_000; i++) counts[partitionOf(new TextEncoder().encode(`key-${i}`), 64)]!++;
  t.true(Math.min(...counts) > 800 && Math.max(...counts) < 1200, `counts ${Math.min(...counts)}..${Math.max(...counts)}`);
  t.deepEqual(preferencePartitions(63, 3, 64), [63, 0, 1]);
  t.is(partitionOf(Uint8Array.of(1, 2, 3), 1), 0);
});

test('restart intensity: K restarts in P ms, then escalate; old restarts age out', (t) => {
  let history: readonly number[] = [];
  for (let i = 0; i < 3; i++) {
    const d = decideRestart(history, 1000 + i, { maxRestarts: 3, periodMs: 100 });
    t.is(d.action, 'restart');
    history = d.history;
  }
  t.is(decideRestart(history, 1050, { maxRestarts: 3, periodMs: 100 }).action, 'escalate');
  t.is(decideRestart(history, 1200, { maxRestarts: 3, periodMs: 100 }).action, 'restart');
});

test('the seeded generator repeats its sequence for a seed and stays in [0, 1)', async (t) => {
  const { seededRandom } = await import('../../src/core/random.js');
  const a = seededRandom(42);
  const b = seededRandom(42);
  const xs = Array.from({ length: 1000 }, () => a());
  t.deepEqual(xs, Array.from({ length: 1000 }, () => b()));
  t.true(xs.every((x) => x >= 0 && x < 1));
  t.notDeepEqual(xs.slice(0, 5), Array.from({ length: 5 }, seededRandom(43)));
});

test('a type without its own soft and size bounds takes the node limits; its own values win', (t) => {
  const inherited = resolveWrite(riakDefaultProps, {}, limits);
  t.true(inherited.ok);
  if (!inherited.ok) return;
  t.is(inherited.value.warnSiblings, 25);
  t.is(inherited.value.maxObjectBytes, 50 << 20);
  t.is(inherited.value.warnObjectBytes, 1 << 20);
  t.is(inherited.value.ttlMs, 0, 'no default time to live');
  t.is(inherited.value.datatype, undefined);
  const own = resolveWrite({ ...riakDefaultProps, warnSiblings: 3, maxObjectBytes: 1000, warnObjectBytes: 500, ttlMs: 60_000, datatype: 'counter' }, {}, limits);
  t.true(own.ok);
  if (!own.ok) return;
  t.deepEqual(
    [own.value.warnSiblings, own.value.maxObjectBytes, own.value.warnObjectBytes, own.value.ttlMs, own.value.datatype],
    [3, 1000, 500, 60_000, 'counter'],
  );
});
