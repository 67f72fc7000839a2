// The simulator's one source of randomness: a seeded generator (the core's mulberry32) with the
// few shapes of draw the simulated world needs. Every random choice in a run — delays, gossip
// targets, actor ids, the workload — comes from one instance, so a seed fixes the whole run.

import { assert } from '../core/errors.js';
import { seededRandom } from '../core/random.js';

export class SimRandom {
  private readonly next: () => number;

  constructor(readonly seed: number) {
    assert(Number.isSafeInteger(seed) && seed >= 0, 'a seed is a non-negative integer');
    this.next = seededRandom(seed);
  }

  /** A number in [0, 1). */
  float(): number {
    return this.next();
  }

  /** An integer in [min, max], both included. */
  int(min: number, max: number): number {
    assert(Number.isInteger(min) && Number.isInteger(max) && min <= max, 'int(min, max) with min <= max');
    return min + Math.floor(this.next() * (max - min + 1));
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    assert(items.length > 0, 'pick from a non-empty list');
    return items[Math.floor(this.next() * items.length)]!;
  }

  /** `digits` hexadecimal digits, for identities such as vnode actor ids. */
  hex(digits: number): string {
    let out = '';
    for (let i = 0; i < digits; i++) out += Math.floor(this.next() * 16).toString(16);
    return out;
  }
}
