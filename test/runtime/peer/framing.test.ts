// Framing and backoff, without sockets: frames are cut correctly however the bytes are chunked, a
// too-long header is refused before its body arrives, batches split at the frame limit, and the
// reconnect wait stays within its bounds.

import test from 'ava';
import fc from 'fast-check';
import { FrameReader, FrameTooLargeError, buildFrames, frame } from '../../../src/runtime/peer/framing.js';
import { parseAddress, reconnectDelayMs } from '../../../src/runtime/peer/peer-record.js';

test('frames are reassembled whatever the chunking', (t) => {
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ maxLength: 50 }), { maxLength: 6 }), fc.array(fc.integer({ min: 1, max: 7 }), { minLength: 1 }), (bodies, cuts) => {
      const stream = Buffer.concat(bodies.map(frame));
      const reader = new FrameReader(100);
      const out: Buffer[] = [];
      let offset = 0;
      for (let i = 0; offset < stream.length; i++) {
        const size = cuts[i % cuts.length]!;
        reader.push(stream.subarray(offset, offset + size));
        offset += size;
        for (let body = reader.next(); body !== undefined; body = reader.next()) out.push(body);
      }
      t.deepEqual(out.map((b) => [...b]), bodies.map((b) => [...b]));
      t.is(reader.buffered, 0);
    }),
  );
});

test('a header above the limit is refused before any of the body is buffered', (t) => {
  const reader = new FrameReader(1000);
  reader.push(Buffer.from([0, 0, 0x03, 0xe9])); // 1001
  const error = t.throws(() => reader.next(), { instanceOf: FrameTooLargeError });
  t.is(error?.frameBytes, 1001);
  t.regex(error?.message ?? '', /1001 bytes announced, above the limit of 1000/);
});

test('buildFrames packs parts into as few frames as the limit allows, in order', (t) => {
  const parts = Array.from({ length: 10 }, (_, i) => new Uint8Array(30).fill(i));
  const { bytes, frames } = buildFrames(parts, 100); // three parts (90 bytes) per frame
  t.is(frames, 4);
  const reader = new FrameReader(100);
  reader.push(bytes);
  const bodies: Buffer[] = [];
  for (let body = reader.next(); body !== undefined; body = reader.next()) bodies.push(body);
  t.deepEqual(bodies.map((b) => b.length), [90, 90, 90, 30]);
  t.deepEqual(Buffer.concat(bodies), Buffer.concat(parts));
  t.throws(() => buildFrames([new Uint8Array(101)], 100), { instanceOf: RangeError });
});

test('the reconnect wait grows with failures and stays within [min, max]', (t) => {
  fc.assert(
    fc.property(fc.nat(100), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (failures, random) => {
      const delay = reconnectDelayMs(failures, 50, 5000, random);
      t.true(delay >= 50 && delay <= 5000, `${delay}`);
    }),
  );
  t.true(reconnectDelayMs(0, 50, 5000, 0.999) <= 100);
  t.true(reconnectDelayMs(10, 50, 5000, 0.999) > 4900);
});

test('peer addresses are host:port, IPv6 in brackets', (t) => {
  t.deepEqual(parseAddress('127.0.0.1:7000'), { host: '127.0.0.1', port: 7000 });
  t.deepEqual(parseAddress('[::1]:7000'), { host: '::1', port: 7000 });
  for (const bad of ['', 'host', 'host:', ':80', 'host:0', 'host:70000', 'host:x']) {
    t.throws(() => parseAddress(bad), { message: /invalid peer address/ }, bad);
  }
});
