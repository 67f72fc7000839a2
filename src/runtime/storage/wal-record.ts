// The byte format of one write-ahead-log record, encoded and decoded; pure functions, no I/O.
// Record = header [u32 payload bytes][u32 crc32 over (lsn bytes + payload)][u64 lsn] + payload;
// payload = [u16 partition][u8 op][u16 key bytes][u32 value bytes][key][value], little-endian.
// Decoding never throws on bad input: it says whether the bytes are a record, torn or corrupt.

import { crc32 } from 'node:zlib';
import { assert } from '../../core/errors.js';

export type WalOp = 'put' | 'remove';

export interface WalRecord {
  readonly lsn: number;
  readonly partition: number;
  readonly op: WalOp;
  readonly key: Buffer;
  /** Present for 'put', undefined for 'remove'. */
  readonly value: Buffer | undefined;
}

export const recordHeaderBytes = 16;
const payloadFixedBytes = 9;
const opCodePut = 1;
const opCodeRemove = 2;

/** LMDB's default maximum key size; a longer key could be logged but never applied. */
export const keyBytesMax = 511;
/** Anything larger is treated as corrupt when reading, so a flipped length never allocates gigabytes. */
export const valueBytesMax = 64 * 1024 * 1024;
export const partitionMax = 0xffff;

function writeLsn(buffer: Buffer, offset: number, lsn: number): void {
  buffer.writeUInt32LE(lsn % 0x1_0000_0000, offset);
  buffer.writeUInt32LE(Math.floor(lsn / 0x1_0000_0000), offset + 4);
}

function readLsn(buffer: Buffer, offset: number): number {
  return buffer.readUInt32LE(offset) + buffer.readUInt32LE(offset + 4) * 0x1_0000_0000;
}

/**
 * Encodes one record into a fresh buffer. The returned record's key and value are views into
 * that buffer, so a caller that later mutates its own arrays cannot change what was logged.
 */
export function encodeRecord(
  lsn: number,
  partition: number,
  op: WalOp,
  key: Uint8Array,
  value: Uint8Array | undefined,
): { bytes: Buffer; record: WalRecord } {
  assert(Number.isSafeInteger(lsn) && lsn > 0, `lsn ${lsn} must be a positive safe integer`);
  assert(Number.isInteger(partition) && partition >= 0 && partition <= partitionMax, `partition ${partition} out of range`);
  assert(key.length > 0 && key.length <= keyBytesMax, `key of ${key.length} bytes must be 1..${keyBytesMax}`);
  assert((op === 'put') === (value !== undefined), 'a put has a value and a remove has none');
  const valueBytes = value?.length ?? 0;
  assert(valueBytes <= valueBytesMax, `value of ${valueBytes} bytes exceeds ${valueBytesMax}`);

  const payloadBytes = payloadFixedBytes + key.length + valueBytes;
  const bytes = Buffer.allocUnsafe(recordHeaderBytes + payloadBytes);
  bytes.writeUInt32LE(payloadBytes, 0);
  writeLsn(bytes, 8, lsn);
  const payloadOffset = recordHeaderBytes;
  bytes.writeUInt16LE(partition, payloadOffset);
  bytes.writeUInt8(op === 'put' ? opCodePut : opCodeRemove, payloadOffset + 2);
  bytes.writeUInt16LE(key.length, payloadOffset + 3);
  bytes.writeUInt32LE(valueBytes, payloadOffset + 5);
  const keyOffset = payloadOffset + payloadFixedBytes;
  bytes.set(key, keyOffset);
  if (value !== undefined) bytes.set(value, keyOffset + key.length);
  bytes.writeUInt32LE(crc32(bytes.subarray(8)), 4);

  const record: WalRecord = {
    lsn,
    partition,
    op,
    key: bytes.subarray(keyOffset, keyOffset + key.length),
    value: value === undefined ? undefined : bytes.subarray(keyOffset + key.length),
  };
  return { bytes, record };
}

export type DecodeResult =
  | { readonly kind: 'record'; readonly record: WalRecord; readonly bytes: number }
  /** The bytes end inside this record: a write that did not complete. */
  | { readonly kind: 'torn' }
  | { readonly kind: 'corrupt'; readonly reason: string };

/** Decodes the record starting at `offset`; the returned key and value are views into `buffer`. */
export function decodeRecord(buffer: Buffer, offset: number): DecodeResult {
  const remaining = buffer.length - offset;
  if (remaining < recordHeaderBytes) return { kind: 'torn' };
  const payloadBytes = buffer.readUInt32LE(offset);
  if (payloadBytes < payloadFixedBytes || payloadBytes > payloadFixedBytes + keyBytesMax + valueBytesMax) {
    return { kind: 'corrupt', reason: `payload length ${payloadBytes} out of range` };
  }
  if (remaining < recordHeaderBytes + payloadBytes) return { kind: 'torn' };
  const end = offset + recordHeaderBytes + payloadBytes;
  const crcStored = buffer.readUInt32LE(offset + 4);
  if (crc32(buffer.subarray(offset + 8, end)) !== crcStored) return { kind: 'corrupt', reason: 'crc mismatch' };

  const lsn = readLsn(buffer, offset + 8);
  const payloadOffset = offset + recordHeaderBytes;
  const partition = buffer.readUInt16LE(payloadOffset);
  const opCode = buffer.readUInt8(payloadOffset + 2);
  const keyBytes = buffer.readUInt16LE(payloadOffset + 3);
  const valueBytes = buffer.readUInt32LE(payloadOffset + 5);
  if (opCode !== opCodePut && opCode !== opCodeRemove) return { kind: 'corrupt', reason: `unknown op ${opCode}` };
  if (payloadFixedBytes + keyBytes + valueBytes !== payloadBytes || keyBytes === 0) {
    return { kind: 'corrupt', reason: 'payload lengths disagree' };
  }
  if (opCode === opCodeRemove && valueBytes !== 0) return { kind: 'corrupt', reason: 'remove with a value' };
  const keyOffset = payloadOffset + payloadFixedBytes;
  const record: WalRecord = {
    lsn,
    partition,
    op: opCode === opCodePut ? 'put' : 'remove',
    key: buffer.subarray(keyOffset, keyOffset + keyBytes),
    value: opCode === opCodePut ? buffer.subarray(keyOffset + keyBytes, end) : undefined,
  };
  return { kind: 'record', record, bytes: recordHeaderBytes + payloadBytes };
}
