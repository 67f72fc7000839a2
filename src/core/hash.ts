// The hash that places keys on the ring. MurmurHash3 (x86, 32-bit) written out here because the
// core imports nothing; it is fast, well distributed and stable across versions, which matters
// because a key's partition must never change for a given ring size.

export function murmur3(input: Uint8Array, seed = 0): number {
  let h = seed >>> 0;
  const blocks = input.length & ~3;
  for (let i = 0; i < blocks; i += 4) {
    let k = input[i]! | (input[i + 1]! << 8) | (input[i + 2]! << 16) | (input[i + 3]! << 24);
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  const tail = input.length & 3;
  if (tail > 0) {
    let k = 0;
    if (tail === 3) k ^= input[blocks + 2]! << 16;
    if (tail >= 2) k ^= input[blocks + 1]! << 8;
    k ^= input[blocks]!;
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
  }
  h ^= input.length;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
