import test from 'ava';
import fc from 'fast-check';
import { DecodeError, decodeContext, decodeObject, decodeStorageKey, encodeContext, encodeObject, encodeStorageKey } from '../../src/core/codec.js';
import { sameVersion } from '../../src/core/object.js';
import { arbObject, arbVv } from './arbitraries.js';

test('objects round-trip through their encoding, values and metadata included', (t) => {
  fc.assert(
    fc.property(arbObject(), (object) => {
      const back = decodeObject(encodeObject(object));
      t.true(sameVersion(back, object));
      t.deepEqual(back, object);
    }),
    { numRuns: 200 },
  );
});

test('contexts round-trip and equal vectors encode to equal bytes', (t) => {
  fc.assert(
    fc.property(arbVv, (vv) => {
      t.deepEqual(decodeContext(encodeContext(vv)), vv);
      t.deepEqual(encodeContext(vv), encodeContext(decodeContext(encodeContext(vv))));
    }),
  );
});

test('storage keys are unambiguous and round-trip', (t) => {
  const a = encodeStorageKey({ type: 'default', bucket: Uint8Array.of(1, 2), key: Uint8Array.of(3) });
  const b = encodeStorageKey({ type: 'default', bucket: Uint8Array.of(1), key: Uint8Array.of(2, 3) });
  t.notDeepEqual(a, b);
  t.deepEqual(decodeStorageKey(a), { type: 'default', bucket: Uint8Array.of(1, 2), key: Uint8Array.of(3) });
});

test('truncated, padded or mutated bytes decode to a DecodeError or a well-formed object, never a crash', (t) => {
  fc.assert(
    fc.property(arbObject(), fc.nat(), fc.nat(255), (object, at, byte) => {
      const bytes = encodeObject(object);
      t.throws(() => decodeObject(bytes.subarray(0, Math.max(0, bytes.length - 1 - (at % bytes.length)))), { instanceOf: DecodeError });
      t.throws(() => decodeObject(Uint8Array.of(...bytes, 0)), { instanceOf: DecodeError });
      const mutated = Uint8Array.from(bytes);
      mutated[at % mutated.length] = byte;
      try {
        const decoded = decodeObject(mutated);
        for (const s of decoded.siblings) t.true(decoded.vv.some((e) => e.actor === s.dot.actor && e.counter >= s.dot.counter));
      } catch (error) {
        t.true(error instanceof DecodeError, String(error));
      }
    }),
    { numRuns: 300 },
  );
});

test('a context that is not ours is rejected with a clear error', (t) => {
  t.throws(() => decodeContext(Uint8Array.of(9, 9, 9)), { instanceOf: DecodeError, message: /unknown context format/ });
  t.throws(() => decodeContext(new Uint8Array(0)), { instanceOf: DecodeError });
});

test('writers reuse one spare buffer, yet every encoding is its own copy, small or large', (t) => {
  fc.assert(
    fc.property(fc.array(arbObject(), { minLength: 2, maxLength: 6 }), fc.uint8Array({ minLength: 0, maxLength: 100_000 }), (objects, big) => {
      const first = objects.map((o) => encodeObject(o));
      const copies = first.map((bytes) => Uint8Array.from(bytes));
      // A large encoding grows its buffer past the spare's bound, then small ones follow.
      const large = encodeObject({ siblings: [{ dot: { actor: 'a', counter: 1 }, value: big, contentType: 'x', userMeta: [], lastModifiedMs: 1, deleted: false }], vv: [{ actor: 'a', counter: 1 }] });
      const again = objects.map((o) => encodeObject(o));
      // Decodes and encodes interleaved give the same bytes as fresh ones.
      const nested = objects.map((o) => encodeContext(decodeObject(encodeObject(o)).vv));
      t.deepEqual(first, copies, 'earlier results are not overwritten by later encodes');
      t.deepEqual(again, first);
      t.deepEqual(nested, objects.map((o) => encodeContext(o.vv)));
      t.true(large.length > big.length);
    }),
    { numRuns: 60 },
  );
});

test('strings are written as their UTF-8 bytes, ASCII in place or through the encoder', (t) => {
  const arbText = fc.oneof(
    fc.string({ unit: 'binary', maxLength: 300 }),
    fc.string({ unit: 'grapheme-ascii', maxLength: 300 }),
    fc.string({ unit: 'binary-ascii', minLength: 250, maxLength: 270 }),
  );
  fc.assert(
    fc.property(arbText, arbText, (type, contentType) => {
      const key = { type, bucket: Uint8Array.of(1), key: Uint8Array.of(2) };
      const bytes = encodeStorageKey(key);
      const utf8 = new TextEncoder().encode(type);
      // The type's length prefix (one or two varint bytes), then its UTF-8 bytes.
      const prefix = utf8.length < 0x80 ? 1 : 2;
      t.deepEqual(bytes.subarray(prefix, prefix + utf8.length), utf8);
      t.is(decodeStorageKey(bytes).type, type);
      const object = encodeObject({ vv: [{ actor: 'a', counter: 1 }], siblings: [{ dot: { actor: 'a', counter: 1 }, deleted: false, lastModifiedMs: 1, contentType, userMeta: [{ key: type, value: contentType }], value: new Uint8Array(0) }] });
      const decoded = decodeObject(object).siblings[0]!;
      t.is(decoded.contentType, contentType);
      t.deepEqual(decoded.userMeta, [{ key: type, value: contentType }]);
    }),
    { numRuns: 300 },
  );
});

test('short strings decode right through the decoded-string cache, colliding slots and invalid bytes included', (t) => {
  // Far more distinct strings than the cache has slots, each decoded several times in an order
  // that makes them evict one another; and an invalid one is refused every time, never cached.
  const names = Array.from({ length: 3000 }, (_, i) => `type-${i.toString(36)}-${'é'.repeat(i % 5)}`);
  const keys = names.map((type) => encodeStorageKey({ type, bucket: Uint8Array.of(1), key: Uint8Array.of(2) }));
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < names.length; i++) {
      const j = (i * 7919 + round * 13) % names.length;
      t.is(decodeStorageKey(keys[j]!).type, names[j]);
    }
  }
  const valid = encodeStorageKey({ type: 'ab', bucket: Uint8Array.of(1), key: Uint8Array.of(2) });
  const invalid = valid.slice();
  invalid[1] = 0xff; // the type's first byte: not UTF-8
  for (let i = 0; i < 3; i++) {
    t.throws(() => decodeStorageKey(invalid), { instanceOf: DecodeError, message: 'invalid utf-8' });
    t.is(decodeStorageKey(valid).type, 'ab');
  }
});
