// A small seeded pseudo-random generator (mulberry32). The core never draws randomness of its
// own; whoever needs a reproducible sequence — a load generator, a randomized test, later the
// simulator — makes one from a seed it prints, and passes it in.

/** Returns a function yielding numbers in [0, 1), the same sequence for the same seed. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
