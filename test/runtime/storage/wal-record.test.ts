// The WAL record format: what is encoded decodes to the same record, a record cut short is torn,
// and a changed byte is caught by the checksum.

import test from 'ava';
import fc from 'fast-check';
import { decodeRecord, encodeRecord, keyBytesMax } from '../../../src/runtime/storage/wal-record.js';

const recordArbitrary = fc.record({
  lsn: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
  partition: fc.integer({ min: 0, max: 0xffff }),
  key: fc.uint8Array({ minLength: 1, maxLength: keyBytesMax }),
  value: fc.option(fc.uint8Array({ maxLength: 300 }), { nil: undefined }),
});

test('encoded records decode to themselves', (t) => {
  fc.assert(
    fc.property(recordArbitrary, ({ lsn, partition, key, value }) => {
      const { bytes } = encodeRecord(lsn, partition, value === undefined ? 'remove' : 'put', key, value);
      const decoded = decodeRecord(bytes, 0);
      if (decoded.kind !== 'record') return false;
      const { record } = decoded;
      return (
        decoded.bytes === bytes.length &&
        record.lsn === lsn &&
        record.partition === partition &&
        record.op === (value === undefined ? 'remove' : 'put') &&
        Buffer.from(key).equals(record.key) &&
        (value === undefined ? record.value === undefined : Buffer.from(value).equals(record.value!))
      );
    }),
  );
  t.pass();
});

test('every strict prefix of a record is torn, and any changed byte is detected', (t) => {
  fc.assert(
    fc.property(recordArbitrary, fc.nat(), fc.integer({ min: 1, max: 255 }), ({ lsn, partition, key, value }, at, flip) => {
      const { bytes } = encodeRecord(lsn, partition, value === undefined ? 'remove' : 'put', key, value);
      const cut = at % bytes.length;
      if (decodeRecord(bytes.subarray(0, cut), 0).kind !== 'torn') return false;
      const damaged = Buffer.from(bytes);
      damaged[cut] = damaged[cut]! ^ flip;
      return decodeRecord(damaged, 0).kind !== 'record';
    }),
  );
  t.pass();
});
