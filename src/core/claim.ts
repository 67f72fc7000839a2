// Partition claim: which node owns each of the Q equal partitions. A key's replicas live on the
// owners of N consecutive partitions, so the claim must put any N consecutive partitions
// (wrapping around) on N distinct nodes, keep every node within one partition of the others, and,
// when the membership changes, move as few partitions as it can, because every moved partition is
// a handoff of its data. Zones (racks, availability zones) come after those: windows are spread
// over distinct zones where that is possible. docs/ring-and-claim.md explains the choices and
// lists the cases where distinct windows are mathematically impossible.
//
// The claim starts from the present owners: partitions of departed nodes are handed out, nodes
// above their new share give partitions to nodes below it, always choosing positions that keep
// windows distinct (a newcomer's share is laid out evenly in one sweep; short chains of moves make
// room where nothing fits), then pairwise swaps repair what is left. A fresh striped layout (round
// robin with the wrap fixed, mapped onto the nodes that already hold most of each stripe) is the
// other candidate. Node distinctness decides first, then moves, with zone spread allowed to cost at
// most one more share of moves. Pure and deterministic: ties go by member name and partition index.

import { assert } from './errors.js';

export interface ClaimMember { readonly name: string; readonly zone?: string | undefined }

/**
 * Assigns each of the Q = current.length partitions to a member. `current[p]` is the present owner
 * of partition p, or undefined (new ring); owners that are not in `members` (a leaving/removed node)
 * must be replaced. Deterministic: same inputs, same output (ties broken by member name), no randomness.
 */
export function claim(current: readonly (string | undefined)[], members: readonly ClaimMember[], nVal: number): string[] {
  const ctx = context(current.length, members, nVal);
  const index = new Map(ctx.names.map((name, i) => [name, i]));
  const before = Int32Array.from(current, (owner) => (owner === undefined ? NONE : index.get(owner) ?? NONE));
  const order = stripeOrder(ctx);
  const structure = stripe(ctx.q, ctx.m, ctx.n);

  if (!windowsSatisfiable(ctx.q, ctx.m, ctx.n)) {
    // No layout has distinct windows. With at most nVal members keep the canonical stripe, whose
    // faulty windows are exactly the ones straddling the wrap (documented), and only choose which
    // node takes which stripe.
    const canonical = score(ctx, before, striped(ctx, before, order, structure, [0]));
    if (ctx.m <= ctx.n) return names(ctx, canonical.owners);
    // More members than nVal but too few partitions (Q small against nVal²): swaps may do better.
    return names(ctx, choose([canonical, score(ctx, before, polish(ctx, before, canonical.owners, ctx.q))], ctx.q).owners);
  }
  // Node repeats are repaired first; then zones may cost at most one more share of movement than
  // the cheapest candidate.
  const repaired = (owners: Int32Array) => score(ctx, before, polish(ctx, before, owners, score(ctx, before, owners).moves));
  const candidates: Candidate[] = [];
  if (before.some((owner) => owner !== NONE)) {
    const incremental = repaired(fill(ctx, before));
    // Nothing can beat a valid, zone-clean layout that moves only what has to move.
    if (incremental.repeated === 0 && incremental.zoneShort === 0 && incremental.moves <= leastMoves(ctx, before)) return names(ctx, incremental.owners);
    candidates.push(incremental);
  }
  for (const layout of [{ order, structure }, ...zonedStripe(ctx)]) {
    candidates.push(repaired(striped(ctx, before, layout.order, layout.structure, range(Math.min(ctx.q, 2 * ctx.m)))));
  }
  const repeated = Math.min(...candidates.map((c) => c.repeated));
  const cap = Math.min(...candidates.filter((c) => c.repeated === repeated).map((c) => c.moves)) + (ctx.zonesActive ? Math.ceil(ctx.q / ctx.m) : 0);
  const spread = ctx.zonesActive ? candidates.map((c) => (c.zoneShort > 0 ? score(ctx, before, polish(ctx, before, c.owners, cap)) : c)) : candidates;
  return names(ctx, choose(spread, cap).owners);
}

/**
 * A lower bound on the moves of any balanced claim: partitions of departed owners, plus what
 * members above ⌈Q/m⌉ must give up; or else what members below ⌊Q/m⌋ must receive.
 */
function leastMoves(ctx: Context, before: Int32Array): number {
  const count = new Array<number>(ctx.m).fill(0);
  let orphaned = 0;
  for (const o of before) if (o === NONE) orphaned++; else count[o]!++;
  const floor = Math.floor(ctx.q / ctx.m);
  const ceil = Math.ceil(ctx.q / ctx.m);
  const shed = count.reduce((sum, c) => sum + Math.max(0, c - ceil), 0);
  const short = count.reduce((sum, c) => sum + Math.max(0, floor - c), 0);
  return Math.max(orphaned + shed, short);
}

function names(ctx: Context, owners: Int32Array): string[] {
  return Array.from(owners, (i) => ctx.names[i]!);
}

/** Fewest windows with a repeated node, then (within the move cap) fewest short of zones, then fewest moves; earlier wins ties. */
function choose(candidates: Candidate[], cap: number): Candidate {
  const repeated = Math.min(...candidates.map((c) => c.repeated));
  const valid = candidates.filter((c) => c.repeated === repeated);
  const affordable = valid.filter((c) => c.moves <= cap);
  return minBy(affordable.length > 0 ? affordable : valid, (c) => [c.zoneShort, c.moves]);
}

/** Number of partitions whose owner differs. */
export function movedPartitions(before: readonly (string | undefined)[], after: readonly string[]): number {
  assert(before.length === after.length, 'the same number of partitions before and after');
  let moved = 0;
  for (let p = 0; p < after.length; p++) if (before[p] !== after[p]) moved++;
  return moved;
}

/** What is wrong with an assignment: windows of nVal consecutive partitions (wrapping) with a repeated node, imbalance, zone repeats where avoidable. */
export function claimViolations(
  owners: readonly string[],
  members: readonly ClaimMember[],
  nVal: number,
): { readonly repeatedWindows: number[]; readonly minOwned: number; readonly maxOwned: number; readonly zoneRepeatedWindows: number[] } {
  const ctx = context(owners.length, members, nVal);
  const index = new Map(ctx.names.map((name, i) => [name, i]));
  // An owner that is not a member counts as a node of its own, in no zone shared with anyone.
  const strangers = new Map<string, number>();
  const ids = Int32Array.from(owners, (o) => index.get(o) ?? -1 - (strangers.get(o) ?? (strangers.set(o, strangers.size), strangers.size - 1)));
  const counts = new Array<number>(ctx.m).fill(0);
  for (const i of ids) if (i >= 0) counts[i]!++;
  const repeatedWindows: number[] = [];
  const zoneRepeatedWindows: number[] = [];
  for (let s = 0; s < ctx.q; s++) {
    if (windowRepeats(ctx, ids, s)) repeatedWindows.push(s);
    if (ctx.zonesActive && windowZoneShort(ctx, ids, s)) zoneRepeatedWindows.push(s);
  }
  return { repeatedWindows, minOwned: Math.min(...counts), maxOwned: Math.max(...counts), zoneRepeatedWindows };
}

/**
 * Whether Q partitions can be owned by `members` nodes, balanced to within one, with every window
 * of nVal consecutive partitions on distinct nodes. With Q = qm + r (0 ≤ r < m): true when r = 0
 * or r ≥ nVal (plain round robin works), otherwise when ⌈(m − r)/(q + 1)⌉ ≤ m − nVal (`stripe`
 * builds such a layout). False for fewer members than nVal, for m = nVal when nVal does not divide
 * Q, and otherwise only for tiny rings (Q < nVal·(nVal + 1)). It coincides with two necessary
 * conditions, m ≥ χ(C_Q^(nVal−1)) and ⌈Q/m⌉ ≤ ⌊Q/nVal⌋, on every Q ≤ 2000, nVal ≤ 12.
 */
export function windowsSatisfiable(partitions: number, members: number, nVal: number): boolean {
  if (members < nVal) return false;
  const q = Math.floor(partitions / members);
  const r = partitions % members;
  if (r === 0 || r >= nVal) return true;
  return Math.ceil((members - r) / (q + 1)) <= members - nVal;
}

const NONE = -1;

interface Context {
  readonly q: number; // partitions
  readonly n: number; // nVal
  readonly m: number; // members
  readonly names: readonly string[]; // sorted
  readonly zone: Int32Array; // zone id of each member; an unlabelled member is a zone of its own
  readonly zoneCount: number;
  readonly zonesActive: boolean; // some member carries a zone label
}

interface Candidate {
  readonly owners: Int32Array;
  readonly repeated: number;
  readonly zoneShort: number;
  readonly moves: number;
}

function context(partitions: number, members: readonly ClaimMember[], nVal: number): Context {
  assert(members.length > 0, 'at least one member to claim partitions');
  assert(partitions > 0, 'at least one partition');
  assert(Number.isInteger(nVal) && nVal >= 1 && nVal <= partitions, 'n_val between 1 and the partition count');
  const sorted = [...members].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (let i = 1; i < sorted.length; i++) assert(sorted[i]!.name !== sorted[i - 1]!.name, `member ${sorted[i]!.name} listed once`);
  const labels = [...new Set(sorted.flatMap((member) => (member.zone === undefined ? [] : [member.zone])))].sort();
  let next = labels.length;
  const zone = Int32Array.from(sorted, (member) => (member.zone === undefined ? next++ : labels.indexOf(member.zone)));
  return { q: partitions, n: nVal, m: sorted.length, names: sorted.map((member) => member.name), zone, zoneCount: next, zonesActive: labels.length > 0 };
}

function score(ctx: Context, before: Int32Array, owners: Int32Array): Candidate {
  let repeated = 0;
  let zoneShort = 0;
  let moves = 0;
  for (let s = 0; s < ctx.q; s++) {
    if (windowRepeats(ctx, owners, s)) repeated++;
    if (ctx.zonesActive && windowZoneShort(ctx, owners, s)) zoneShort++;
    if (owners[s] !== before[s]) moves++;
  }
  return { owners, repeated, zoneShort, moves };
}

// ---- windows --------------------------------------------------------------------------------

function windowRepeats(ctx: Context, owners: Int32Array, start: number): boolean {
  for (let i = 0; i < ctx.n; i++) {
    const a = owners[(start + i) % ctx.q];
    for (let j = i + 1; j < ctx.n; j++) if (owners[(start + j) % ctx.q] === a) return true;
  }
  return false;
}

/** Fewer distinct zones in the window than it could hold (nVal, or every zone there is). */
function windowZoneShort(ctx: Context, owners: Int32Array, start: number): boolean {
  const want = Math.min(ctx.n, ctx.zoneCount);
  const seen: number[] = [];
  for (let i = 0; i < ctx.n; i++) {
    const o = owners[(start + i) % ctx.q]!;
    const z = o >= 0 ? ctx.zone[o]! : ctx.zoneCount - o; // a stranger is a zone of its own
    if (!seen.includes(z)) seen.push(z);
  }
  return seen.length < want;
}

function faultyWindows(layout: readonly number[], nVal: number): number {
  let faulty = 0;
  for (let s = 0; s < layout.length; s++) {
    const window = Array.from({ length: nVal }, (_, i) => layout[(s + i) % layout.length]);
    if (new Set(window).size < nVal) faulty++;
  }
  return faulty;
}

// ---- the striped layout ---------------------------------------------------------------------

/**
 * Stripe slot (an index into the member order) for each partition. Round robin over the m slots
 * when that wraps cleanly (r = 0 or r ≥ nVal). Otherwise q + 1 rounds, each skipping a block of
 * slots so that the rounds add up to Q: round j skips a block just below the one round j − 1
 * skipped, so any slot sees at most one skipped block between two of its partitions and its
 * partitions stay at least m − max(block) ≥ nVal apart, the wrap included.
 */
export function stripe(partitions: number, members: number, nVal: number): number[] {
  const roundRobin = Array.from({ length: partitions }, (_, p) => p % members);
  const q = Math.floor(partitions / members);
  const r = partitions % members;
  if (r === 0 || r >= nVal || members <= nVal) return roundRobin;
  const skips = members - r;
  const rounds = q + 1;
  const out: number[] = [];
  let high = members;
  for (let j = 0; j < rounds; j++) {
    const d = Math.floor(skips / rounds) + (j < skips % rounds ? 1 : 0);
    for (let slot = 0; slot < members; slot++) if (slot < high - d || slot >= high) out.push(slot);
    high -= d;
  }
  if (windowsSatisfiable(partitions, members, nVal)) return out;
  // Too few partitions for distinct windows even with skips: keep whichever faults less.
  return faultyWindows(out, nVal) < faultyWindows(roundRobin, nVal) ? out : roundRobin;
}

/**
 * The order in which members take stripe slots: sorted by name, or, with zones, interleaved so
 * that consecutive slots are in different zones (the zone with most members left goes next,
 * among those not used in the last few slots).
 */
function stripeOrder(ctx: Context): number[] {
  if (!ctx.zonesActive) return ctx.names.map((_, i) => i);
  const byZone = new Map<number, number[]>();
  for (let i = 0; i < ctx.m; i++) byZone.set(ctx.zone[i]!, [...(byZone.get(ctx.zone[i]!) ?? []), i]);
  const zones = [...byZone.keys()].sort((a, b) => a - b);
  const spread = Math.min(ctx.n, zones.length) - 1;
  const order: number[] = [];
  while (order.length < ctx.m) {
    const recent = order.slice(Math.max(0, order.length - spread)).map((i) => ctx.zone[i]!);
    let pick = -1;
    for (const z of zones) {
      const left = byZone.get(z)!.length;
      if (left === 0) continue;
      const fresh = !recent.includes(z);
      if (pick < 0) { pick = z; continue; }
      const pickFresh = !recent.includes(pick);
      if (fresh !== pickFresh ? fresh : left > byZone.get(pick)!.length) pick = z;
    }
    order.push(byZone.get(pick)!.shift()!);
  }
  return order;
}

/**
 * With zones of equal size k, a layout in two levels: the zones are striped over the ring (so
 * windows span min(nVal, zones) zones wherever the zones can), and each zone's k members take the
 * zone's partitions in turn, neighbours in that turn being distinct. Offered only when it comes
 * out balanced; whether its windows are distinct is judged with the other candidates.
 */
function zonedStripe(ctx: Context): { order: number[]; structure: number[] }[] {
  if (!ctx.zonesActive) return [];
  const zones = [...new Set(ctx.zone)].sort((a, b) => a - b);
  const members = zones.map((z) => range(ctx.m).filter((i) => ctx.zone[i] === z));
  const k = members[0]!.length;
  if (k < 2 || members.some((list) => list.length !== k)) return [];
  const zoneOf = stripe(ctx.q, zones.length, Math.min(ctx.n, zones.length));
  const share = zones.map((_, z) => zoneOf.filter((x) => x === z).length);
  const turns = share.map((count) => stripe(count, k, Math.min(2, count)));
  const next = new Array<number>(zones.length).fill(0);
  const structure = zoneOf.map((z) => z * k + turns[z]![next[z]!++]!);
  const counts = new Array<number>(ctx.m).fill(0);
  for (const slot of structure) counts[slot]!++;
  if (Math.max(...counts) - Math.min(...counts) > 1) return [];
  return [{ order: members.flat(), structure }];
}

/**
 * The stripe structure mapped onto members: for each rotation tried, every member takes the slot
 * holding most of its present partitions (greedily, within its zone when zones are in use), the
 * rest take the remaining slots in order; the rotation with fewest moves wins (earliest on ties).
 */
function striped(ctx: Context, before: Int32Array, order: number[], structure: number[], rotations: number[]): Int32Array {
  const { q: Q, m } = ctx;
  const group = (member: number) => (ctx.zonesActive ? ctx.zone[member]! : 0);
  const overlap = new Int32Array(m * m); // slot * m + member → partitions in common
  let bestSlots: Int32Array | undefined;
  let bestRotation = 0;
  let bestMoves = Infinity;
  for (const t of rotations) {
    const touched: number[] = [];
    for (let p = 0; p < Q; p++) {
      const owner = before[p]!;
      const slot = structure[(p - t + Q) % Q]!;
      if (owner === NONE || group(owner) !== group(order[slot]!)) continue;
      if (overlap[slot * m + owner]!++ === 0) touched.push(slot * m + owner);
    }
    // Largest overlaps first, then by slot and member; encoded as one number to sort.
    const keys = touched.map((k) => (Q - overlap[k]!) * m * m + k).sort((x, y) => x - y);
    const slotMember = new Int32Array(m).fill(NONE);
    const taken = new Uint8Array(m);
    let kept = 0;
    for (const key of keys) {
      const k = key % (m * m);
      const slot = Math.floor(k / m);
      const member = k % m;
      if (slotMember[slot] === NONE && taken[member] === 0) { slotMember[slot] = member; taken[member] = 1; kept += overlap[k]!; }
    }
    for (const k of touched) overlap[k] = 0;
    if (Q - kept >= bestMoves) continue;
    for (let slot = 0; slot < m; slot++) {
      if (slotMember[slot] !== NONE) continue;
      const member = order.find((i) => taken[i] === 0 && group(i) === group(order[slot]!))!;
      slotMember[slot] = member;
      taken[member] = 1;
    }
    bestSlots = slotMember;
    bestRotation = t;
    bestMoves = Q - kept;
  }
  return Int32Array.from({ length: Q }, (_, p) => bestSlots![structure[(p - bestRotation + Q) % Q]!]!);
}

// ---- the incremental claim ------------------------------------------------------------------

/** A layout being edited, with every member's and zone's neighbour counts kept up to date. */
class Board {
  readonly owners: Int32Array;
  readonly count: number[];
  /** near[u][p]: partitions of member u within nVal − 1 of p, p itself excluded. */
  readonly near: Int32Array[];
  /** zoneNear[z][p]: partitions of zone z within zoneReach − 1 of p, p itself excluded. */
  readonly zoneNear: Int32Array[];
  readonly offsets: number[];
  readonly zoneOffsets: number[];

  constructor(readonly ctx: Context, owners: Int32Array) {
    this.owners = Int32Array.from(owners);
    this.count = new Array<number>(ctx.m).fill(0);
    this.near = Array.from({ length: ctx.m }, () => new Int32Array(ctx.q));
    this.offsets = offsets(ctx.q, ctx.n);
    this.zoneOffsets = ctx.zonesActive ? offsets(ctx.q, Math.min(ctx.n, ctx.zoneCount)) : [];
    this.zoneNear = Array.from({ length: ctx.zonesActive ? ctx.zoneCount : 0 }, () => new Int32Array(ctx.q));
    for (let p = 0; p < ctx.q; p++) if (this.owners[p] !== NONE) this.mark(p, this.owners[p]!, 1);
  }

  set(p: number, u: number): void {
    const old = this.owners[p]!;
    if (old !== NONE) this.mark(p, old, -1);
    this.owners[p] = u;
    if (u !== NONE) this.mark(p, u, 1);
  }

  /** Partitions of u within nVal − 1 of p. */
  conflicts(u: number, p: number): number[] {
    return this.offsets.map((o) => (p + o) % this.ctx.q).filter((x) => this.owners[x] === u);
  }

  zonePenalty(u: number, p: number): number {
    return this.ctx.zonesActive ? this.zoneNear[this.ctx.zone[u]!]![p]! : 0;
  }

  /** Counts (delta 1) or uncounts (delta −1) partition p as u's. */
  private mark(p: number, u: number, delta: number): void {
    const { q: Q } = this.ctx;
    this.count[u]! += delta;
    for (const o of this.offsets) this.near[u]![(p + o) % Q]! += delta;
    if (this.ctx.zonesActive) for (const o of this.zoneOffsets) this.zoneNear[this.ctx.zone[u]!]![(p + o) % Q]! += delta;
  }
}

/** The distinct non-zero offsets (mod Q) within reach − 1 on either side. */
function offsets(partitions: number, reach: number): number[] {
  const out = new Set<number>();
  for (let d = 1; d < reach; d++) {
    out.add(d % partitions);
    out.add((partitions - (d % partitions)) % partitions);
  }
  out.delete(0);
  return [...out].sort((a, b) => a - b);
}

/**
 * Starting from the present owners: every member is to own ⌊Q/m⌋ or ⌈Q/m⌉. The ⌈Q/m⌉ shares go
 * first to members already holding that many; any left over are handed out as partitions are
 * placed. Partitions of departed owners are placed first, most constrained first; then members
 * short of their share take partitions from members above theirs. Each taking is one move, so
 * when every placement keeps windows distinct the moves are the minimum possible. When no member
 * can take a partition without a repeat, a short chain of moves makes room (see the two chains).
 */
function fill(ctx: Context, before: Int32Array): Int32Array {
  const { q: Q, m } = ctx;
  const board = new Board(ctx, before);
  const { owners, count, near } = board;
  const base = Math.floor(Q / m);
  const target = new Array<number>(m).fill(base);
  const ceiled = new Array<boolean>(m).fill(false);
  let bonus = Q % m;
  for (const i of range(m).sort((a, b) => count[b]! - count[a]! || a - b)) {
    if (bonus === 0 || count[i]! <= base) break;
    target[i] = base + 1;
    ceiled[i] = true;
    bonus--;
  }
  const mandatory = (u: number) => count[u]! < target[u]!;
  const wants = (u: number) => mandatory(u) || (bonus > 0 && !ceiled[u] && target[u] === base && count[u] === base);
  const isSupply = (p: number) => owners[p] === NONE || count[owners[p]!]! > target[owners[p]!]!;
  const take = (p: number, u: number) => {
    board.set(p, u);
    if (count[u]! > target[u]!) { target[u] = count[u]!; bonus--; }
  };

  // Phase 1: partitions of departed owners. When they lie at least nVal apart (a valid ring lost a
  // node) placing one never changes where another may go, so an exact assignment exists if any
  // does: find it as a flow, preferring takers that keep zones spread. Otherwise, or if there is
  // none, one at a time, the partition with fewest valid takers first.
  const orphans = range(Q).filter((p) => owners[p] === NONE);
  const apart = orphans.length === 1 || orphans.every((p, i) => cyclicGap(p, orphans[(i + 1) % orphans.length]!, Q) >= ctx.n);
  if (orphans.length > 0 && apart && orphans.length * m <= 65_536) {
    const eligible = range(m).filter((u) => !ceiled[u] && count[u]! <= base);
    const capacity = range(m).map((u) => Math.max(0, target[u]! - count[u]!));
    const extra = range(m).map((u) => (eligible.includes(u) && count[u]! + capacity[u]! === base ? 1 : 0));
    for (const zoneClean of ctx.zonesActive ? [true, false] : [false]) {
      const placed = assignment(orphans, capacity, extra, bonus, (u, p) => near[u]![p] === 0 && (!zoneClean || board.zonePenalty(u, p) === 0));
      if (placed !== undefined) {
        placed.forEach((u, i) => take(orphans[i]!, u));
        break;
      }
    }
  }
  for (;;) {
    const takers = range(m).filter(wants);
    const free = range(Q).filter((p) => owners[p] === NONE);
    if (free.length === 0 || takers.length === 0) break;
    const options = (p: number) => takers.filter((u) => near[u]![p] === 0).length;
    const pick = minBy(free, (p) => [options(p), p]);
    if (options(pick) > 0) {
      take(pick, minBy(takers, (u) => [near[u]![pick]!, board.zonePenalty(u, pick), mandatory(u) ? 0 : 1, count[u]! - target[u]!, u]));
      continue;
    }
    const chain = ejectionChain(board, pick, wants, mandatory);
    if (chain !== undefined) {
      for (let i = 0; i < chain.length - 1; i++) {
        board.set(chain[i + 1]!.partition, NONE);
        board.set(chain[i]!.partition, chain[i]!.member);
      }
      take(chain[chain.length - 1]!.partition, chain[chain.length - 1]!.member);
      continue;
    }
    take(pick, minBy(takers, (u) => [near[u]![pick]!, board.zonePenalty(u, pick), mandatory(u) ? 0 : 1, u]));
  }

  // Phase 2: members short of their share take from members above theirs.
  for (;;) {
    const takers = range(m).filter(wants);
    const supply = range(Q).filter(isSupply);
    if (takers.length === 0 || supply.length === 0) break;
    const u = minBy(takers, (v) => [mandatory(v) ? 0 : 1, supply.filter((p) => near[v]![p] === 0).length - (target[v]! - count[v]!), count[v]! - target[v]!, v]);
    if (count[u] === 0 && mandatory(u)) {
      const picks = sweep(board, u, target[u]!, (p) => (owners[p] === NONE ? Q : count[owners[p]!]! - target[owners[p]!]!));
      if (picks !== undefined) {
        for (const p of picks) take(p, u);
        continue;
      }
    }
    const valid = supply.filter((p) => near[u]![p] === 0);
    if (valid.length > 0) {
      const dist = spacing(owners, u);
      take(minBy(valid, (p) => {
        const owner = owners[p]!;
        const resolves = owner !== NONE && near[owner]![p]! > 0 ? 0 : 1;
        const excess = owner === NONE ? Q : count[owner]! - target[owner]!;
        return [resolves, board.zonePenalty(u, p), -excess, -dist[p]!, p];
      }), u);
      continue;
    }
    const chain = pullChain(board, u, isSupply);
    if (chain !== undefined) {
      take(chain[0]!.partition, chain[0]!.member);
      for (let i = 1; i < chain.length; i++) board.set(chain[i]!.partition, chain[i]!.member);
      continue;
    }
    take(minBy(supply, (p) => [near[u]![p]!, board.zonePenalty(u, p), p]), u);
  }
  assert(!owners.includes(NONE), 'every partition placed');
  return owners;
}

function cyclicGap(a: number, b: number, q: number): number {
  const d = Math.abs(a - b);
  return Math.min(d, q - d);
}

/**
 * A taker for every partition in `items`, by maximum flow: member u takes up to capacity[u], plus
 * one more if extra[u], with at most `pool` such extras in all; u may take p if allowed(u, p).
 * Undefined when no assignment places every item.
 */
function assignment(items: number[], capacity: number[], extra: number[], pool: number, allowed: (u: number, p: number) => boolean): number[] | undefined {
  const m = capacity.length;
  // Nodes: 0 source, 1 pool, 2.. members, then items, then sink.
  const source = 0;
  const hub = 1;
  const member = (u: number) => 2 + u;
  const item = (i: number) => 2 + m + i;
  const sink = 2 + m + items.length;
  const to: number[] = [];
  const cap: number[] = [];
  const edges: number[][] = Array.from({ length: sink + 1 }, () => []);
  const edge = (a: number, b: number, c: number) => {
    edges[a]!.push(to.length); to.push(b); cap.push(c);
    edges[b]!.push(to.length); to.push(a); cap.push(0);
  };
  edge(source, hub, pool);
  for (let u = 0; u < m; u++) {
    if (capacity[u]! > 0) edge(source, member(u), capacity[u]!);
    if (extra[u]! > 0) edge(hub, member(u), extra[u]!);
    items.forEach((p, i) => { if (allowed(u, p)) edge(member(u), item(i), 1); });
  }
  items.forEach((_, i) => edge(item(i), sink, 1));
  let flow = 0;
  for (;;) {
    // Breadth-first augmenting path (Edmonds–Karp); deterministic by edge order.
    const via = new Array<number>(sink + 1).fill(-1);
    const queue = [source];
    via[source] = -2;
    for (let head = 0; head < queue.length && via[sink] === -1; head++) {
      for (const e of edges[queue[head]!]!) {
        if (cap[e]! > 0 && via[to[e]!] === -1) { via[to[e]!] = e; queue.push(to[e]!); }
      }
    }
    if (via[sink] === -1) break;
    for (let v = sink; v !== source; v = to[via[v]! ^ 1]!) { cap[via[v]!]!--; cap[via[v]! ^ 1]!++; }
    flow++;
  }
  if (flow < items.length) return undefined;
  return items.map((_, i) => {
    const e = edges[item(i)]!.find((x) => to[x]! >= 2 && to[x]! < 2 + m && cap[x]! > 0)!;
    return to[e]! - 2;
  });
}

interface Step { readonly member: number; readonly partition: number }

const chainDepth = 8;

/**
 * Room for an unowned partition y0 that no willing member can take without a repeat: member u1
 * takes y0 and gives up its one partition y1 that was too close to y0, u2 takes y1 and gives up
 * y2, and so on until a member short of its share takes the last one without giving anything up.
 * Breadth first, so the chain (one move per step) is as short as it can be; a member appears at
 * most once in a chain, so checks made on the layout before the chain still hold when it is applied.
 */
function ejectionChain(board: Board, y0: number, wants: (u: number) => boolean, mandatory: (u: number) => boolean): Step[] | undefined {
  interface Node { readonly step: Step | undefined; readonly free: number; readonly parent: Node | undefined }
  const seen = new Set<number>([y0]);
  const onPath = (node: Node, u: number) => {
    for (let n: Node | undefined = node; n?.step !== undefined; n = n.parent) if (n.step.member === u) return true;
    return false;
  };
  let level: Node[] = [{ step: undefined, free: y0, parent: undefined }];
  for (let depth = 0; depth < chainDepth && level.length > 0; depth++) {
    const next: Node[] = [];
    let end: { node: Node; member: number; key: number[] } | undefined;
    for (const node of level) {
      for (let u = 0; u < board.ctx.m; u++) {
        if (onPath(node, u)) continue;
        const close = board.conflicts(u, node.free);
        if (close.length === 0 && wants(u)) {
          const key = [mandatory(u) ? 0 : 1, board.zonePenalty(u, node.free), u];
          if (end === undefined || lexLess(key, end.key)) end = { node, member: u, key };
        } else if (close.length === 1 && !seen.has(close[0]!)) {
          seen.add(close[0]!);
          next.push({ step: { member: u, partition: node.free }, free: close[0]!, parent: node });
        }
      }
    }
    if (end !== undefined) {
      const steps: Step[] = [{ member: end.member, partition: end.node.free }];
      for (let n: Node | undefined = end.node; n?.step !== undefined; n = n.parent) steps.unshift(n.step);
      return steps;
    }
    level = next;
  }
  return undefined;
}

/**
 * Room for a member u that is short of its share but cannot take any spare partition without a
 * repeat: u takes a partition it can hold from a member b at its share, b takes one from c, and
 * so on until someone takes a spare partition. Breadth first, each member at most once.
 */
function pullChain(board: Board, u: number, isSupply: (p: number) => boolean): Step[] | undefined {
  interface Node { readonly step: Step | undefined; readonly needy: number; readonly parent: Node | undefined }
  const { owners, near } = board;
  const used = new Set<number>([u]);
  let level: Node[] = [{ step: undefined, needy: u, parent: undefined }];
  for (let depth = 0; depth < chainDepth && level.length > 0; depth++) {
    const next: Node[] = [];
    for (const node of level) {
      const a = node.needy;
      for (let x = 0; x < board.ctx.q; x++) {
        if (owners[x] === a || near[a]![x]! > 0) continue;
        if (isSupply(x)) {
          const steps: Step[] = [{ member: a, partition: x }];
          for (let n: Node | undefined = node; n?.step !== undefined; n = n.parent) steps.unshift(n.step);
          return steps;
        }
        const b = owners[x]!;
        if (used.has(b)) continue;
        used.add(b);
        next.push({ step: { member: a, partition: x }, needy: b, parent: node });
      }
    }
    level = next;
  }
  return undefined;
}

/**
 * Places all `wanted` partitions of a member that owns none yet, evenly: grid points Q/wanted
 * apart from each offset in turn, taking at each point the nearest spare partition (unowned, or of
 * a member above its share, as far as that excess goes) at least nVal after the previous one. The
 * first offset that places them all with least total drift wins. Choosing one by one instead
 * (farthest from those already placed) halves the gaps until none fits another partition.
 */
function sweep(board: Board, u: number, wanted: number, spare: (p: number) => number): number[] | undefined {
  const { q: Q, n } = board.ctx;
  const gap = Q / wanted;
  if (gap < n) return undefined;
  let best: { picks: number[]; drift: number } | undefined;
  for (let offset = 0; offset < Math.ceil(gap); offset++) {
    const left = new Map<number, number>(); // spare partitions left per owner
    const picks: number[] = [];
    let drift = 0;
    for (let i = 0; i < wanted; i++) {
      const at = offset + i * gap;
      const low = picks.length === 0 ? 0 : picks[picks.length - 1]! + n;
      const high = picks.length === 0 ? Q - 1 : Math.min(Q - 1, picks[0]! + Q - n);
      let pick = -1;
      let pickKey: number[] = [];
      for (let p = Math.max(low, Math.floor(at - gap)); p <= Math.min(high, Math.ceil(at + gap)); p++) {
        const owner = board.owners[p]!;
        if (board.near[u]![p]! > 0 || owner === u || (left.get(owner) ?? spare(p)) <= 0) continue;
        const resolves = owner !== NONE && board.near[owner]![p]! > 0 ? 0 : 1;
        const key = [Math.abs(p - at), board.zonePenalty(u, p), resolves, -(left.get(owner) ?? spare(p)), p];
        if (pick < 0 || lexLess(key, pickKey)) { pick = p; pickKey = key; }
      }
      if (pick < 0) break;
      const owner = board.owners[pick]!;
      left.set(owner, (left.get(owner) ?? spare(pick)) - 1);
      picks.push(pick);
      drift += Math.abs(pick - at);
    }
    if (picks.length === wanted && (best === undefined || drift < best.drift)) best = { picks, drift };
  }
  return best?.picks;
}

/** Distance from each partition to u's nearest partition (Q when u owns none). */
function spacing(owners: Int32Array, u: number): Int32Array {
  const Q = owners.length;
  const dist = new Int32Array(Q).fill(Q);
  for (let k = 0; k < 2 * Q; k++) {
    const p = k % Q;
    dist[p] = owners[p] === u ? 0 : Math.min(dist[p]!, dist[(p - 1 + Q) % Q]! + 1);
  }
  for (let k = 2 * Q - 1; k >= 0; k--) {
    const p = k % Q;
    dist[p] = owners[p] === u ? 0 : Math.min(dist[p]!, dist[(p + 1) % Q]! + 1);
  }
  return dist;
}

// ---- repair ---------------------------------------------------------------------------------

/**
 * Pairwise swaps of owners (which keep every member's count) while one makes the layout better:
 * fewer pairs of one node's partitions closer than nVal, then fewer such pairs within a zone, then
 * fewer moves. A swap that only spreads zones must keep the moves within `moveCap`. Only
 * partitions in such pairs are swapped away; the best swap is taken each round, and the work is
 * bounded so large rings stay fast.
 */
function polish(ctx: Context, before: Int32Array, start: Int32Array, moveCap: number): Int32Array {
  const { q: Q } = ctx;
  const board = new Board(ctx, start);
  const { owners, near, zoneNear } = board;
  const closeNode = new Uint8Array(Q);
  for (const o of board.offsets) closeNode[o] = 1;
  const closeZone = new Uint8Array(Q);
  for (const o of board.zoneOffsets) closeZone[o] = 1;
  let budget = 300_000;
  let moves = 0;
  for (let p = 0; p < Q; p++) if (owners[p] !== before[p]) moves++;
  while (budget > 0) {
    // The best swap (a, b): lexicographically smallest change in (node pairs, zone pairs, moves).
    let bestNode = 0;
    let bestZone = 0;
    let bestMoves = 0;
    let bestA = -1;
    let bestB = -1;
    for (let a = 0; a < Q; a++) {
      const x = owners[a]!;
      const zx = ctx.zone[x]!;
      if (near[x]![a] === 0 && !(ctx.zonesActive && zoneNear[zx]![a]! > 0)) continue;
      for (let b = 0; b < Q && budget > 0; b++) {
        const y = owners[b]!;
        if (x === y) continue;
        budget--;
        const ab = (b - a + Q) % Q;
        const dNode = near[y]![a]! + near[x]![b]! - 2 * closeNode[ab]! - near[x]![a]! - near[y]![b]!;
        if (dNode > 0) continue;
        const zy = ctx.zone[y]!;
        const dZone = ctx.zonesActive && zx !== zy
          ? zoneNear[zy]![a]! + zoneNear[zx]![b]! - 2 * closeZone[ab]! - zoneNear[zx]![a]! - zoneNear[zy]![b]!
          : 0;
        const dMoves = (y !== before[a] ? 1 : 0) + (x !== before[b] ? 1 : 0) - (x !== before[a] ? 1 : 0) - (y !== before[b] ? 1 : 0);
        if (dNode === 0 && (dZone > 0 || (dZone === 0 && dMoves >= 0))) continue; // no better
        if (dNode === 0 && moves + dMoves > moveCap) continue; // spreading zones has a movement budget
        if (bestA < 0 || dNode < bestNode || (dNode === bestNode && (dZone < bestZone || (dZone === bestZone && dMoves < bestMoves)))) {
          bestNode = dNode;
          bestZone = dZone;
          bestMoves = dMoves;
          bestA = a;
          bestB = b;
        }
      }
    }
    if (bestA < 0) break;
    const x = owners[bestA]!;
    board.set(bestA, owners[bestB]!);
    board.set(bestB, x);
    moves += bestMoves;
  }
  return owners;
}

// ---- small helpers --------------------------------------------------------------------------

function range(k: number): number[] {
  return Array.from({ length: k }, (_, i) => i);
}

function lexLess(a: readonly number[], b: readonly number[]): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! < b[i]!;
  return false;
}

function minBy<T>(items: readonly T[], key: (item: T) => number[]): T {
  let best = items[0]!;
  let bestKey = key(best);
  for (let i = 1; i < items.length; i++) {
    const k = key(items[i]!);
    if (lexLess(k, bestKey)) { best = items[i]!; bestKey = k; }
  }
  return best;
}
