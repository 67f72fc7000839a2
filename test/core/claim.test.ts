// The partition claim against its documented guarantees (docs/ring-and-claim.md): balance within
// one partition, distinct nodes in every window of n_val partitions whenever that is possible at
// all, the exact shape of the impossible cases, zone spread, movement on joins and leaves, and
// determinism. Brute force on tiny rings shows the impossible cases really are impossible.

import test, { type ExecutionContext } from 'ava';
import fc from 'fast-check';
import { claim, claimViolations, movedPartitions, stripe, windowsSatisfiable, type ClaimMember } from '../../src/core/claim.js';

const nodes = (k: number, zones = 0): ClaimMember[] =>
  Array.from({ length: k }, (_, i) => ({ name: `node-${String(i).padStart(2, '0')}`, ...(zones > 0 ? { zone: `zone-${i % zones}` } : {}) }));
const unowned = (q: number): (string | undefined)[] => new Array<string | undefined>(q).fill(undefined);
const range = (from: number, to: number): number[] => Array.from({ length: Math.max(0, to - from) }, (_, i) => from + i);
/** Windows (by first partition) that contain both partition Q − 1 and partition 0. */
const straddling = (q: number, nVal: number): number[] => range(q - nVal + 1, q);

/** Everything claim promises about one result; returns a description of the first broken promise. */
function broken(owners: readonly string[], members: readonly ClaimMember[], nVal: number): string | undefined {
  const q = owners.length;
  const m = members.length;
  const v = claimViolations(owners, members, nVal);
  if (owners.some((o) => !members.some((member) => member.name === o))) return 'an owner is not a member';
  if (v.maxOwned - v.minOwned > 1) return `unbalanced ${v.minOwned}..${v.maxOwned}`;
  if (windowsSatisfiable(q, m, nVal)) return v.repeatedWindows.length === 0 ? undefined : `windows ${v.repeatedWindows.join(',')} repeat a node`;
  if (m === nVal) {
    // The minimum (N − 1, see the brute-force test), all straddling the wrap.
    const expected = q % nVal === 0 ? [] : straddling(q, nVal);
    return v.repeatedWindows.join() === expected.join() ? undefined : `m = n_val: windows ${v.repeatedWindows.join(',')}`;
  }
  if (m < nVal) return v.repeatedWindows.length === q ? undefined : 'fewer nodes than n_val, yet some window has none repeated';
  return undefined; // m > n_val on a ring smaller than n_val·(n_val + 1): best effort, balance only
}

function check(t: ExecutionContext, owners: readonly string[], members: readonly ClaimMember[], nVal: number, what: string): void {
  const problem = broken(owners, members, nVal);
  t.is(problem, undefined, `${what}: ${problem}`);
}

test('fresh claims for 1..64 nodes on 64 partitions, n_val 3: balanced, windows distinct except with 3 nodes', (t) => {
  for (let m = 1; m <= 64; m++) {
    const members = nodes(m);
    const owners = claim(unowned(64), members, 3);
    check(t, owners, members, 3, `${m} nodes`);
    t.is(windowsSatisfiable(64, m, 3), m >= 4, `${m} nodes`);
  }
  const three = claimViolations(claim(unowned(64), nodes(3), 3), nodes(3), 3);
  t.deepEqual(three.repeatedWindows, [62, 63], 'with exactly 3 nodes only the two windows across the wrap repeat a node');
  t.deepEqual(claim(unowned(8), nodes(1), 3), new Array(8).fill('node-00'), 'a single member owns everything');
});

test('fresh claims keep their promises for Q 8..1024, n_val 1..5, any number of nodes', (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 3, max: 10 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 80 }), (bits, nVal, m) => {
      const q = 2 ** bits;
      const members = nodes(m);
      const problem = broken(claim(unowned(q), members, nVal), members, nVal);
      t.is(problem, undefined, `Q ${q}, n_val ${nVal}, ${m} nodes: ${problem}`);
    }),
    { numRuns: 150 },
  );
});

/** Balanced cyclic layouts of m symbols on q positions: the fewest windows with a repeat (exhaustive). */
function fewestRepeatedWindows(q: number, m: number, nVal: number): number {
  const share = range(0, m).map((i) => Math.floor(q / m) + (i < q % m ? 1 : 0));
  const used = new Array<number>(m).fill(0);
  const seq: number[] = [];
  let best = Infinity;
  const repeats = (s: number) => new Set(range(0, nVal).map((i) => seq[(s + i) % q])).size < nVal;
  const place = (p: number, partial: number): void => {
    if (partial >= best) return;
    if (p === q) {
      best = Math.min(best, range(0, q).filter(repeats).length);
      return;
    }
    for (let c = 0; c < m; c++) {
      if (used[c]! >= share[c]!) continue;
      // Unused symbols with the same share are interchangeable: try the first of them only.
      if (used[c] === 0 && range(c < q % m ? 0 : q % m, c).some((d) => used[d] === 0)) continue;
      seq.push(c);
      used[c]!++;
      place(p + 1, partial + (p >= nVal - 1 && repeats(p - nVal + 1) ? 1 : 0));
      seq.pop();
      used[c]!--;
    }
  };
  place(0, 0);
  return best;
}

test('the impossible cases are impossible and the m = n_val layout is the best there is (exhaustive, Q ≤ 10)', (t) => {
  for (let q = 2; q <= 10; q++) {
    for (let nVal = 2; nVal <= Math.min(5, q); nVal++) {
      for (let m = nVal; m <= q; m++) {
        const fewest = fewestRepeatedWindows(q, m, nVal);
        t.is(fewest === 0, windowsSatisfiable(q, m, nVal), `Q ${q}, n_val ${nVal}, ${m} nodes`);
        if (m === nVal && q % nVal !== 0) t.is(fewest, nVal - 1, `Q ${q}, n_val ${nVal}: N − 1 repeated windows at least`);
      }
    }
  }
  // The only impossible cases with more nodes than n_val in the tested range: Q = 8, n_val 5.
  for (const [m, fewest, ours] of [[6, 3, 4], [7, 2, 2]] as const) {
    t.is(fewestRepeatedWindows(8, m, 5), fewest);
    t.is(claimViolations(claim(unowned(8), nodes(m), 5), nodes(m), 5).repeatedWindows.length, ours, `Q 8, n_val 5, ${m} nodes`);
  }
});

test('the striped layout is balanced with distinct windows whenever that is possible (Q ≤ 64, n_val ≤ 6)', (t) => {
  let checked = 0;
  for (let q = 1; q <= 64; q++) {
    for (let nVal = 1; nVal <= Math.min(6, q); nVal++) {
      for (let m = 1; m <= q + 1; m++) {
        if (!windowsSatisfiable(q, m, nVal)) continue;
        const layout = stripe(q, m, nVal);
        const counts = range(0, m).map((slot) => layout.filter((x) => x === slot).length);
        const repeated = range(0, q).filter((s) => new Set(range(0, nVal).map((i) => layout[(s + i) % q])).size < nVal);
        if (layout.length !== q || Math.max(...counts) - Math.min(...counts) > 1 || repeated.length > 0) t.fail(`Q ${q}, n_val ${nVal}, ${m} slots`);
        checked++;
      }
    }
  }
  t.true(checked > 10_000);
  t.true(range(1, 400).every((q) => range(1, 8).every((n) => q < n * (n + 1) || range(n + 1, q + 2).every((m) => windowsSatisfiable(q, m, n)))),
    'with more nodes than n_val, only rings smaller than n_val·(n_val + 1) can be impossible');
});

/** A random history of joins and leaves, one node at a time. */
const arbHistory = fc.record({
  bits: fc.integer({ min: 3, max: 7 }),
  nVal: fc.integer({ min: 1, max: 5 }),
  steps: fc.array(fc.record({ join: fc.boolean(), pick: fc.nat() }), { minLength: 1, maxLength: 24 }),
});

test('joins and leaves keep every claim balanced and valid, and move at most about twice the ideal', (t) => {
  fc.assert(
    fc.property(arbHistory, ({ bits, nVal, steps }) => {
      const q = 2 ** bits;
      let members: ClaimMember[] = [];
      let ring = unowned(q);
      let serial = 0;
      for (const { join, pick } of steps) {
        const k = members.length;
        let leaver: string | undefined;
        if (k === 0 || (join && k < q + 2)) members = [...members, { name: `n-${(pick * 7919) % 1000}-${serial++}` }];
        else if (k > 1) members = members.filter((member) => member.name !== (leaver = members[pick % k]!.name));
        else continue;
        const next = claim(ring, members, nVal);
        const problem = broken(next, members, nVal);
        t.is(problem, undefined, `Q ${q}, n_val ${nVal}, ${k} → ${members.length} nodes: ${problem}`);
        const m = members.length;
        const moved = movedPartitions(ring, next);
        if (k > 0 && windowsSatisfiable(q, k, nVal) && windowsSatisfiable(q, m, nVal)) {
          // The bounds of docs/ring-and-claim.md, twice the ideal plus two: a join moves at most
          // twice the newcomer's fair share Q/m (measured: exactly ⌊Q/m⌋), a leave to at least
          // 2·n_val − 1 nodes at most twice the leaver's partitions (measured: at most twice,
          // mostly exactly those).
          if (leaver === undefined) t.true(moved <= (2 * q) / m + 2, `join ${k} → ${m} (Q ${q}, n_val ${nVal}) moved ${moved}`);
          else if (m >= 2 * nVal - 1) {
            const held = ring.filter((o) => o === leaver).length;
            t.true(moved <= 2 * held + 2, `leave ${k} → ${m} (Q ${q}, n_val ${nVal}) moved ${moved} of the leaver's ${held}`);
          }
        }
        ring = next;
      }
    }),
    { numRuns: 60 },
  );
});

test('several nodes joining and leaving at once, and rings from elsewhere, still give valid claims', (t) => {
  fc.assert(
    fc.property(
      fc.integer({ min: 3, max: 8 }),
      fc.integer({ min: 1, max: 4 }),
      fc.uniqueArray(fc.integer({ min: 0, max: 99 }), { minLength: 1, maxLength: 40 }),
      fc.array(fc.integer({ min: 0, max: 120 }), { minLength: 256, maxLength: 256 }),
      (bits, nVal, ids, previous) => {
        const q = 2 ** bits;
        const members = ids.map((id) => ({ name: `n-${id}` }));
        // Any previous ring: owners that are members, departed nodes, or unassigned partitions.
        const current = previous.slice(0, q).map((id) => (id >= 100 ? undefined : `n-${id}`));
        const problem = broken(claim(current, members, nVal), members, nVal);
        t.is(problem, undefined, `Q ${q}, n_val ${nVal}, ${members.length} nodes: ${problem}`);
      },
    ),
    { numRuns: 80 },
  );
});

test('movement for joins 1 → 64 and leaves 64 → 1 on 64 partitions, n_val 3', (t) => {
  const q = 64;
  const nVal = 3;
  let ring = unowned(q);
  const joins: string[] = [];
  for (let m = 1; m <= 64; m++) {
    const next = claim(ring, nodes(m), nVal);
    const moved = movedPartitions(ring, next);
    joins.push(`${m}:${moved}`);
    // Into 4 or more nodes a join moves exactly the newcomer's share ⌊Q/m⌋, the least possible.
    if (m >= 4) t.is(moved, Math.floor(q / m), `join ${m - 1} → ${m}`);
    ring = next;
  }
  const leaves: string[] = [];
  for (let m = 63; m >= 1; m--) {
    const held = ring.filter((o) => o === nodes(m + 1)[m]!.name).length;
    const next = claim(ring, nodes(m), nVal);
    const moved = movedPartitions(ring, next);
    leaves.push(`${m}:${moved}/${held}`);
    // Down to 2·n_val − 1 = 5 nodes a leave moves exactly the leaver's partitions.
    if (m >= 5) t.is(moved, held, `leave ${m + 1} → ${m}`);
    else t.true(moved <= q);
    check(t, next, nodes(m), nVal, `leave to ${m}`);
    ring = next;
  }
  t.log(`joins (nodes after:moved) ${joins.join(' ')}`);
  t.log(`leaves (nodes after:moved/leaver's) ${leaves.join(' ')}`);
});

test('zones: equal zones are spread over every window whenever the zones allow it', (t) => {
  for (const q of [16, 64, 256]) {
    for (let nVal = 2; nVal <= 4; nVal++) {
      for (let zones = 2; zones <= 5; zones++) {
        for (let perZone = 1; perZone <= 6 && zones * perZone <= q; perZone++) {
          const members = nodes(zones * perZone, zones);
          const owners = claim(unowned(q), members, nVal);
          check(t, owners, members, nVal, `Q ${q}, n_val ${nVal}, ${zones} × ${perZone}`);
          // Windows can hold min(n_val, zones) zones; with exactly n_val zones not dividing Q the
          // zone sequence has the m = n_val problem, and n_val − 1 windows at the wrap are short.
          const reach = Math.min(nVal, zones);
          const expected = windowsSatisfiable(q, zones, reach) ? 0 : reach - 1;
          const short = claimViolations(owners, members, nVal).zoneRepeatedWindows;
          t.true(short.length <= expected, `Q ${q}, n_val ${nVal}, ${zones} zones × ${perZone}: ${short.length} windows short of zones`);
        }
      }
    }
  }
  const members = nodes(12, 3);
  const owners = claim(unowned(64), members, 3);
  t.deepEqual(claimViolations(owners, members, 3).zoneRepeatedWindows, [62, 63], 'three zones on 64 partitions: only the wrap repeats a zone');
  t.deepEqual(claimViolations(claim(unowned(64), nodes(12, 4), 3), nodes(12, 4), 3).zoneRepeatedWindows, []);
});

test('zones: a zoned cluster grown one node per zone in turn stays zone-spread at every full round', (t) => {
  let ring = unowned(64);
  const log: string[] = [];
  for (let m = 1; m <= 24; m++) {
    const members = nodes(m, 4);
    const next = claim(ring, members, 3);
    check(t, next, members, 3, `${m} nodes in 4 zones`);
    const short = claimViolations(next, members, 3).zoneRepeatedWindows.length;
    log.push(`${m}:${short}/${movedPartitions(ring, next)}`);
    if (m % 4 === 0) t.is(short, 0, `${m} nodes, 4 zones`);
    ring = next;
  }
  t.log(`nodes:short windows/moved ${log.join(' ')}`);
});

test('determinism: the same inputs give the same claim, whatever the order of the members', (t) => {
  fc.assert(
    fc.property(arbHistory, fc.integer({ min: 0, max: 3 }), fc.array(fc.nat(), { minLength: 25, maxLength: 25 }), ({ bits, nVal, steps }, zones, keys) => {
      const q = 2 ** bits;
      const members = nodes(Math.min(q, 1 + steps.length), zones);
      const previous = claim(unowned(q), members.slice(0, Math.max(1, members.length - 2)), nVal);
      const shuffled = members.map((member, i) => ({ member, key: keys[i]! })).sort((a, b) => a.key - b.key).map(({ member }) => member);
      const once = claim(previous, members, nVal);
      t.deepEqual(claim(previous, members, nVal), once);
      t.deepEqual(claim(previous, shuffled, nVal), once);
    }),
    { numRuns: 60 },
  );
});

test('departed owners are replaced; zero members, repeated names or n_val beyond Q are refused', (t) => {
  const ring = claim(unowned(16), nodes(4), 3);
  const gone = ring.map((o) => (o === 'node-01' ? 'old-node' : o));
  const next = claim(gone, nodes(4), 3);
  t.false(next.includes('old-node'));
  t.is(movedPartitions(gone, next), 4, 'only the partitions of the unknown owner move');
  t.throws(() => claim(unowned(16), [], 3), { message: /at least one member/ });
  t.throws(() => claim(unowned(16), [{ name: 'a' }, { name: 'a' }], 3), { message: /listed once/ });
  t.throws(() => claim(unowned(4), nodes(4), 5), { message: /n_val/ });
  t.is(movedPartitions([undefined, 'a', 'b'], ['a', 'a', 'c']), 2);
  t.throws(() => movedPartitions(['a'], ['a', 'b']));
});

test('claimViolations names what is wrong', (t) => {
  const members = [{ name: 'a', zone: 'x' }, { name: 'b', zone: 'x' }, { name: 'c', zone: 'y' }, { name: 'd', zone: 'z' }];
  const v = claimViolations(['a', 'b', 'a', 'c', 'd', 'c', 'd', 'a'], members, 3);
  t.deepEqual(v.repeatedWindows, [0, 3, 4, 6, 7]);
  t.is(v.minOwned, 1);
  t.is(v.maxOwned, 3);
  t.deepEqual(v.zoneRepeatedWindows, [0, 1, 3, 4, 6, 7], 'a and b share zone x');
  t.deepEqual(claimViolations(['a', 'b', 'a', 'c'], [{ name: 'a' }, { name: 'b' }, { name: 'c' }], 3).zoneRepeatedWindows, [], 'no zone labels, no zone checks');
});
