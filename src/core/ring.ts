// Placement of keys on the ring of Q equal partitions. A key's partition is the top bits of its
// hash; its preference list is the N partitions from there on, wrapping around. On one node all
// of them are local vnodes (as in Riak); the cluster work maps partitions to owning nodes.

import { assert } from './errors.js';
import { murmur3 } from './hash.js';

export function isPowerOfTwo(n: number): boolean {
  return Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;
}

export function partitionOf(storageKey: Uint8Array, partitionCount: number): number {
  assert(isPowerOfTwo(partitionCount) && partitionCount <= 1 << 16, 'partition count is a power of two up to 65536');
  if (partitionCount === 1) return 0;
  const bits = Math.log2(partitionCount);
  return murmur3(storageKey) >>> (32 - bits);
}

/** The partitions holding the N replicas of a key whose partition is `first`. */
export function preferencePartitions(first: number, nVal: number, partitionCount: number): number[] {
  assert(nVal >= 1 && nVal <= partitionCount, 'n_val between 1 and the partition count');
  const out: number[] = [];
  for (let i = 0; i < nVal; i++) out.push((first + i) % partitionCount);
  return out;
}
