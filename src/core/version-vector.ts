// Version vectors and dots: the causal-context algebra under every stored object.
// A version vector maps an actor (one vnode incarnation) to the highest event counter of that
// actor that has been seen. Vectors are kept as arrays sorted by actor so that equal vectors have
// one representation and encode to the same bytes. Pure functions only; no I/O, no clock.

export type ActorId = string;

/** One event: the `counter`-th write coordinated by `actor`. */
export interface Dot {
  readonly actor: ActorId;
  readonly counter: number;
}

export interface VvEntry {
  readonly actor: ActorId;
  readonly counter: number;
}

/** Sorted by actor, no duplicates, every counter > 0. */
export type VersionVector = readonly VvEntry[];

export const emptyVv: VersionVector = [];

export function vvGet(vv: VersionVector, actor: ActorId): number {
  for (const entry of vv) {
    if (entry.actor === actor) return entry.counter;
  }
  return 0;
}

/** True when `vv` has seen the event `dot`. */
export function vvCoversDot(vv: VersionVector, dot: Dot): boolean {
  return vvGet(vv, dot.actor) >= dot.counter;
}

/** Pointwise maximum. Commutative, associative, idempotent. */
export function vvMerge(a: VersionVector, b: VersionVector): VersionVector {
  const out: VvEntry[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    const x = a[i];
    const y = b[j];
    if (y === undefined || (x !== undefined && x.actor < y.actor)) {
      out.push(x!);
      i++;
    } else if (x === undefined || y.actor < x.actor) {
      out.push(y);
      j++;
    } else {
      out.push(x.counter >= y.counter ? x : y);
      i++;
      j++;
    }
  }
  return out;
}

/** `a` descends `b` when `a` has seen every event `b` has (a ≥ b pointwise). */
export function vvDescends(a: VersionVector, b: VersionVector): boolean {
  for (const entry of b) {
    if (vvGet(a, entry.actor) < entry.counter) return false;
  }
  return true;
}

export function vvEqual(a: VersionVector, b: VersionVector): boolean {
  return a.length === b.length && vvDescends(a, b) && vvDescends(b, a);
}

/** Returns `vv` with `actor` raised to at least `counter`. */
export function vvWith(vv: VersionVector, actor: ActorId, counter: number): VersionVector {
  return vvMerge(vv, [{ actor, counter }]);
}

/** Checks the representation invariant; used on decode and in tests. */
export function vvIsWellFormed(vv: VersionVector): boolean {
  for (let i = 0; i < vv.length; i++) {
    const entry = vv[i]!;
    if (!Number.isSafeInteger(entry.counter) || entry.counter <= 0) return false;
    if (i > 0 && !(vv[i - 1]!.actor < entry.actor)) return false;
  }
  return true;
}
