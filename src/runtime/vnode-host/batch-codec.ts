// Binary batches of the frequent vnode messages between the main thread and a vnode-host worker.
// Structured cloning costs a few µs of CPU per message object on both threads; a record packed
// by hand into one ArrayBuffer that is transferred, not cloned, costs a fraction of that
// (docs/benchmarks.md, "Where the time goes"). Gets, puts, replication and their replies are
// packed; the rare messages (listings, reaps, data-type updates) travel beside the buffer as
// objects, each leaving a one-byte placeholder in it. A batch therefore decodes to exactly the
// sequence it was made from: the worker's mailboxes keep each partition's requests in arrival
// order, and a coordinator must see a write's VnodePutApplied before its VnodePutReply.
//
// Layout, little-endian: [u32 magic][u32 message count], then per message either the placeholder
// [u8 0] or [u8 tag][u32 partition][f64 requestId] and the fields of its type. Every other number
// is an f64 and every string u32 code units + UTF-16LE, so any JS number and any JS string (lone
// surrogates included) comes back exactly as it went; byte fields are a u32 length + the bytes.
// An optional boolean is one byte: 0 absent, 1 false, 2 true.

import { type KvError, kvErrorCodes } from '../../core/errors.js';
import type { UserMeta } from '../../core/kv.js';
import type {
  VnodeFailed,
  VnodeGet,
  VnodeGetReply,
  VnodePut,
  VnodeReplicate,
  VnodeReplicateReply,
  VnodeReply,
  VnodeRequest,
} from '../../core/messages.js';
import type { VersionVector } from '../../core/version-vector.js';

/** Messages in their original order: the packed ones in `bin`, the others as objects. */
export interface PackedBatch<T> {
  /** Transfer it with the message; cloning would copy it for nothing. */
  readonly bin: ArrayBuffer;
  /** The messages not packed, in order; each has a placeholder in `bin`. */
  readonly others: readonly T[];
}

/** A batch that is not what our own encoder wrote: a bug, since only our threads exchange them. */
export class BatchDecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BatchDecodeError';
  }
}

/** "RKB1": ringkv batch, format 1. Both threads run the same code, so there is no other format. */
const batchMagic = 0x31424b52;

const tagOther = 0;

const requestTags = { get: 1, put: 2, replicate: 3 } as const;
const replyTags = { getReply: 1, putApplied: 2, putReply: 3, replicateReply: 4, failed: 5 } as const;

const putDeleted = 1;
const putIfNoneMatch = 2;
const putIfNotModified = 4;
const putLastWriteWins = 8;
const putAllowMult = 16;
const putFlagsAll = putDeleted | putIfNoneMatch | putIfNotModified | putLastWriteWins | putAllowMult;
const putHasMaxObjectBytes = 1;
const putHasExpiresAtMs = 2;
const putOptionalsAll = putHasMaxObjectBytes | putHasExpiresAtMs;

// Error codes travel as their index in kvErrorCodes (core/errors.ts).
const errorCodeIds = new Map(kvErrorCodes.map((code, id) => [code, id]));

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

// ---- Encoding

/**
 * Where a batch is written. Encoding runs twice over the same functions, once to count the bytes
 * and once to write them, so the size and the layout cannot disagree.
 */
interface Sink {
  u8(value: number): void;
  u32(value: number): void;
  f64(value: number): void;
  bytes(value: Uint8Array): void;
  string(value: string): void;
}

class ByteCounter implements Sink {
  total = 0;

  u8(): void {
    this.total += 1;
  }

  u32(): void {
    this.total += 4;
  }

  f64(): void {
    this.total += 8;
  }

  bytes(value: Uint8Array): void {
    this.total += 4 + value.length;
  }

  string(value: string): void {
    this.total += 4 + 2 * value.length;
  }
}

class Writer implements Sink {
  private offset = 0;
  private readonly view: DataView;
  private readonly target: Buffer;

  constructor(readonly bin: ArrayBuffer) {
    this.view = new DataView(bin);
    this.target = Buffer.from(bin);
  }

  u8(value: number): void {
    this.view.setUint8(this.offset, value);
    this.offset += 1;
  }

  u32(value: number): void {
    // DataView would silently wrap or truncate; a partition out of range is a bug to surface.
    if (value >>> 0 !== value) throw new Error(`assertion failed: ${value} is packed as a u32 (a partition or a length) but is not one`);
    this.view.setUint32(this.offset, value, true);
    this.offset += 4;
  }

  f64(value: number): void {
    this.view.setFloat64(this.offset, value, true);
    this.offset += 8;
  }

  bytes(value: Uint8Array): void {
    this.u32(value.length);
    this.target.set(value, this.offset);
    this.offset += value.length;
  }

  string(value: string): void {
    this.u32(value.length);
    this.offset += this.target.write(value, this.offset, 'utf16le');
  }

  finish(): ArrayBuffer {
    if (this.offset !== this.bin.byteLength) throw new Error(`assertion failed: a batch counted ${this.bin.byteLength} bytes but wrote ${this.offset}`);
    return this.bin;
  }
}

export function encodeRequests(requests: readonly VnodeRequest[]): PackedBatch<VnodeRequest> {
  return encodeBatch(requests, writeRequest);
}

export function encodeReplies(replies: readonly VnodeReply[]): PackedBatch<VnodeReply> {
  return encodeBatch(replies, writeReply);
}

/** `writeMessage` packs a message and returns true, or writes the placeholder and returns false. */
type MessageWriter<T> = (sink: Sink, message: T) => boolean;

function encodeBatch<T>(messages: readonly T[], writeMessage: MessageWriter<T>): PackedBatch<T> {
  const counter = new ByteCounter();
  writeBatch(counter, messages, writeMessage);
  const writer = new Writer(new ArrayBuffer(counter.total));
  const others = writeBatch(writer, messages, writeMessage);
  return { bin: writer.finish(), others };
}

function writeBatch<T>(sink: Sink, messages: readonly T[], writeMessage: MessageWriter<T>): T[] {
  sink.u32(batchMagic);
  sink.u32(messages.length);
  const others: T[] = [];
  for (const message of messages) {
    if (!writeMessage(sink, message)) others.push(message);
  }
  return others;
}

function writeRequest(sink: Sink, request: VnodeRequest): boolean {
  switch (request.type) {
    case 'VnodeGet':
      writeHead(sink, requestTags.get, request.partition, request.requestId);
      writeOptionalBoolean(sink, request.fallback);
      sink.bytes(request.storageKey);
      return true;
    case 'VnodeReplicate':
      writeHead(sink, requestTags.replicate, request.partition, request.requestId);
      writeOptionalBoolean(sink, request.fallback);
      sink.bytes(request.storageKey);
      sink.bytes(request.object);
      return true;
    case 'VnodePut':
      // Data-type updates are rare and carry lists of elements: they stay objects.
      if (request.op !== undefined) break;
      writePut(sink, request);
      return true;
    default:
      break;
  }
  sink.u8(tagOther);
  return false;
}

function writePut(sink: Sink, put: VnodePut): void {
  writeHead(sink, requestTags.put, put.partition, put.requestId);
  sink.u8(
    (put.deleted ? putDeleted : 0) |
      (put.ifNoneMatch ? putIfNoneMatch : 0) |
      (put.ifNotModified ? putIfNotModified : 0) |
      (put.lastWriteWins ? putLastWriteWins : 0) |
      (put.allowMult ? putAllowMult : 0),
  );
  writeOptionalBoolean(sink, put.fallback);
  writeOptionalBoolean(sink, put.ifPresent);
  sink.u8((put.maxObjectBytes === undefined ? 0 : putHasMaxObjectBytes) | (put.expiresAtMs === undefined ? 0 : putHasExpiresAtMs));
  sink.f64(put.nowMs);
  sink.f64(put.maxSiblings);
  if (put.maxObjectBytes !== undefined) sink.f64(put.maxObjectBytes);
  if (put.expiresAtMs !== undefined) sink.f64(put.expiresAtMs);
  sink.bytes(put.storageKey);
  writeVersionVector(sink, put.context);
  sink.bytes(put.content.value);
  sink.string(put.content.contentType);
  writeUserMeta(sink, put.content.userMeta);
  sink.u32(put.localReplicas.length);
  for (const partition of put.localReplicas) sink.u32(partition);
}

function writeVersionVector(sink: Sink, vv: VersionVector): void {
  sink.u32(vv.length);
  for (const entry of vv) {
    sink.string(entry.actor);
    sink.f64(entry.counter);
  }
}

function writeUserMeta(sink: Sink, userMeta: readonly UserMeta[]): void {
  sink.u32(userMeta.length);
  for (const meta of userMeta) {
    sink.string(meta.key);
    sink.string(meta.value);
  }
}

function writeReply(sink: Sink, reply: VnodeReply): boolean {
  switch (reply.type) {
    case 'VnodeGetReply':
      writeHead(sink, replyTags.getReply, reply.partition, reply.requestId);
      sink.u8(reply.object === undefined ? 0 : 1);
      if (reply.object !== undefined) sink.bytes(reply.object);
      return true;
    case 'VnodePutApplied':
      writeHead(sink, replyTags.putApplied, reply.partition, reply.requestId);
      sink.bytes(reply.object);
      return true;
    case 'VnodePutReply':
      writeHead(sink, replyTags.putReply, reply.partition, reply.requestId);
      return true;
    case 'VnodeReplicateReply':
      writeHead(sink, replyTags.replicateReply, reply.partition, reply.requestId);
      writeOptionalBoolean(sink, reply.changed);
      return true;
    case 'VnodeFailed':
      writeHead(sink, replyTags.failed, reply.partition, reply.requestId);
      writeError(sink, reply.error);
      return true;
    default:
      sink.u8(tagOther);
      return false;
  }
}

function writeError(sink: Sink, error: KvError): void {
  const id = errorCodeIds.get(error.code);
  if (id === undefined) throw new Error(`assertion failed: unknown error code ${String(error.code)}`);
  sink.u8(id);
  sink.string(error.message);
}

function writeHead(sink: Sink, tag: number, partition: number, requestId: number): void {
  sink.u8(tag);
  sink.u32(partition);
  sink.f64(requestId);
}

function writeOptionalBoolean(sink: Sink, value: boolean | undefined): void {
  sink.u8(value === undefined ? 0 : value ? 2 : 1);
}

// ---- Decoding

/**
 * How byte fields leave the batch. `view`: views into it, when every holder of the decoded
 * messages copies what it keeps. `copy`: each field its own bytes, when the messages' byte
 * fields may be kept for long and a view would keep the whole batch alive.
 */
type ByteFields = 'view' | 'copy';

class Reader {
  private offset = 0;
  private readonly view: DataView;
  private readonly source: Buffer;

  constructor(
    private readonly bin: ArrayBuffer,
    private readonly byteFields: ByteFields,
  ) {
    this.view = new DataView(bin);
    this.source = Buffer.from(bin);
  }

  get atEnd(): boolean {
    return this.offset === this.source.length;
  }

  u8(what: string): number {
    this.need(1, what);
    const value = this.view.getUint8(this.offset);
    this.offset += 1;
    return value;
  }

  u32(what: string): number {
    this.need(4, what);
    const value = this.view.getUint32(this.offset, true);
    this.offset += 4;
    return value;
  }

  f64(what: string): number {
    this.need(8, what);
    const value = this.view.getFloat64(this.offset, true);
    this.offset += 8;
    return value;
  }

  bytes(what: string): Uint8Array {
    const length = this.u32(`${what} length`);
    this.need(length, what);
    const start = this.offset;
    this.offset += length;
    return this.byteFields === 'view' ? new Uint8Array(this.bin, start, length) : copyOf(this.source, start, length);
  }

  string(what: string): string {
    const units = this.u32(`${what} length`);
    this.need(2 * units, what);
    const start = this.offset;
    this.offset += 2 * units;
    return this.source.toString('utf16le', start, this.offset);
  }

  /** An optional boolean: 0 absent, 1 false, 2 true. */
  optionalBoolean(what: string): boolean | undefined {
    const value = this.u8(what);
    if (value > 2) this.fail(`${what} is ${value}, not 0 (absent), 1 (false) or 2 (true)`);
    return value === 0 ? undefined : value === 2;
  }

  /** A byte of flags, refused when a bit outside `known` is set. */
  flags(known: number, what: string): number {
    const value = this.u8(what);
    if ((value & ~known) !== 0) this.fail(`${what} 0x${value.toString(16)} has bits outside 0x${known.toString(16)}`);
    return value;
  }

  fail(reason: string): never {
    throw new BatchDecodeError(`corrupt vnode message batch at byte ${this.offset} of ${this.source.length}: ${reason}`);
  }

  private need(bytes: number, what: string): void {
    if (this.offset + bytes > this.source.length) this.fail(`truncated: ${what} needs ${bytes} bytes, ${this.source.length - this.offset} are left`);
  }
}

/**
 * A copy of `length` bytes from Node's small-buffer pool (for under 4 KiB; larger ones get their
 * own memory), so a kept field holds at most one 8 KiB pool slab alive instead of the batch, and
 * costs about a third of a fresh ArrayBuffer of its own. Handed out as a plain Uint8Array, as a
 * structured clone gave: Buffer's slice() is a view, where a Uint8Array's copies.
 */
function copyOf(source: Buffer, start: number, length: number): Uint8Array {
  const copy = Buffer.allocUnsafe(length);
  source.copy(copy, 0, start, start + length);
  return new Uint8Array(copy.buffer, copy.byteOffset, length);
}

/**
 * Decodes in the worker. Byte fields are views into the batch: nothing there keeps them past the
 * request's handling. The store copies keys and values into its WAL record (its pending overlay
 * holds views of that record), the anti-entropy trees key by string, a write's or merge's result
 * is freshly encoded, and replies carry bytes read from the store, which are copies too. A
 * request waiting in a mailbox keeps its batch (at most 32 requests) alive.
 */
export function decodeRequests(batch: PackedBatch<VnodeRequest>): VnodeRequest[] {
  return decodeBatch(batch, new Reader(batch.bin, 'view'), readRequest);
}

/**
 * Decodes on the main thread. Byte fields are copies: coordinators keep reply objects until their
 * request ends (a get waits for every replica, up to its deadline), read values go out to clients
 * (a slow socket holds them until written), and an applied write is forwarded to peers. A view
 * would keep the whole batch — up to a drain's worth of objects — alive for as long.
 */
export function decodeReplies(batch: PackedBatch<VnodeReply>): VnodeReply[] {
  return decodeBatch(batch, new Reader(batch.bin, 'copy'), readReply);
}

type MessageReader<T> = (reader: Reader, tag: number, partition: number, requestId: number) => T;

function decodeBatch<T>(batch: PackedBatch<T>, reader: Reader, readMessage: MessageReader<T>): T[] {
  const magic = reader.u32('batch magic');
  if (magic !== batchMagic) reader.fail(`unknown batch format 0x${magic.toString(16)}`);
  const count = reader.u32('message count');
  const messages: T[] = [];
  let othersTaken = 0;
  for (let i = 0; i < count; i++) {
    const tag = reader.u8('message tag');
    if (tag === tagOther) {
      if (othersTaken === batch.others.length) reader.fail(`message ${i} is a placeholder, but the batch came with only ${batch.others.length} unpacked messages`);
      messages.push(batch.others[othersTaken++]!);
    } else {
      const partition = reader.u32('partition');
      const requestId = reader.f64('request id');
      messages.push(readMessage(reader, tag, partition, requestId));
    }
  }
  if (!reader.atEnd) reader.fail(`${count} messages end before the batch does`);
  if (othersTaken !== batch.others.length) reader.fail(`${batch.others.length} unpacked messages came with the batch, but it has ${othersTaken} placeholders`);
  return messages;
}

function readRequest(reader: Reader, tag: number, partition: number, requestId: number): VnodeRequest {
  switch (tag) {
    case requestTags.get:
      return readGet(reader, partition, requestId);
    case requestTags.put:
      return readPut(reader, partition, requestId);
    case requestTags.replicate:
      return readReplicate(reader, partition, requestId);
    default:
      return reader.fail(`unknown request tag ${tag}`);
  }
}

function readGet(reader: Reader, partition: number, requestId: number): VnodeGet {
  const fallback = reader.optionalBoolean('get fallback');
  const get: Mutable<VnodeGet> = { type: 'VnodeGet', requestId, partition, storageKey: reader.bytes('get storage key') };
  if (fallback !== undefined) get.fallback = fallback;
  return get;
}

function readReplicate(reader: Reader, partition: number, requestId: number): VnodeReplicate {
  const fallback = reader.optionalBoolean('replicate fallback');
  const storageKey = reader.bytes('replicate storage key');
  const replicate: Mutable<VnodeReplicate> = { type: 'VnodeReplicate', requestId, partition, storageKey, object: reader.bytes('replicate object') };
  if (fallback !== undefined) replicate.fallback = fallback;
  return replicate;
}

function readPut(reader: Reader, partition: number, requestId: number): VnodePut {
  const flags = reader.flags(putFlagsAll, 'put flags');
  const fallback = reader.optionalBoolean('put fallback');
  const ifPresent = reader.optionalBoolean('put ifPresent');
  const optionals = reader.flags(putOptionalsAll, 'put optional fields');
  const nowMs = reader.f64('put nowMs');
  const maxSiblings = reader.f64('put maxSiblings');
  const maxObjectBytes = (optionals & putHasMaxObjectBytes) === 0 ? undefined : reader.f64('put maxObjectBytes');
  const expiresAtMs = (optionals & putHasExpiresAtMs) === 0 ? undefined : reader.f64('put expiresAtMs');
  const storageKey = reader.bytes('put storage key');
  const context = readVersionVector(reader);
  const value = reader.bytes('put value');
  const contentType = reader.string('put content type');
  const userMeta = readUserMeta(reader);
  const put: Mutable<VnodePut> = {
    type: 'VnodePut',
    requestId,
    partition,
    storageKey,
    context,
    content: { value, contentType, userMeta },
    deleted: (flags & putDeleted) !== 0,
    nowMs,
    ifNoneMatch: (flags & putIfNoneMatch) !== 0,
    ifNotModified: (flags & putIfNotModified) !== 0,
    maxSiblings,
    lastWriteWins: (flags & putLastWriteWins) !== 0,
    allowMult: (flags & putAllowMult) !== 0,
    localReplicas: readPartitions(reader),
  };
  if (maxObjectBytes !== undefined) put.maxObjectBytes = maxObjectBytes;
  if (fallback !== undefined) put.fallback = fallback;
  if (expiresAtMs !== undefined) put.expiresAtMs = expiresAtMs;
  if (ifPresent !== undefined) put.ifPresent = ifPresent;
  return put;
}

function readVersionVector(reader: Reader): VersionVector {
  const entries = reader.u32('context entries');
  const vv: { actor: string; counter: number }[] = [];
  for (let i = 0; i < entries; i++) vv.push({ actor: reader.string('context actor'), counter: reader.f64('context counter') });
  return vv;
}

function readUserMeta(reader: Reader): UserMeta[] {
  const entries = reader.u32('user metadata entries');
  const userMeta: UserMeta[] = [];
  for (let i = 0; i < entries; i++) userMeta.push({ key: reader.string('user metadata key'), value: reader.string('user metadata value') });
  return userMeta;
}

function readPartitions(reader: Reader): number[] {
  const count = reader.u32('local replicas');
  const partitions: number[] = [];
  for (let i = 0; i < count; i++) partitions.push(reader.u32('local replica'));
  return partitions;
}

function readReply(reader: Reader, tag: number, partition: number, requestId: number): VnodeReply {
  switch (tag) {
    case replyTags.getReply:
      return readGetReply(reader, partition, requestId);
    case replyTags.putApplied:
      return { type: 'VnodePutApplied', requestId, partition, object: reader.bytes('applied object') };
    case replyTags.putReply:
      return { type: 'VnodePutReply', requestId, partition };
    case replyTags.replicateReply:
      return readReplicateReply(reader, partition, requestId);
    case replyTags.failed:
      return readFailed(reader, partition, requestId);
    default:
      return reader.fail(`unknown reply tag ${tag}`);
  }
}

function readGetReply(reader: Reader, partition: number, requestId: number): VnodeGetReply {
  const found = reader.u8('get reply presence');
  if (found > 1) reader.fail(`get reply presence is ${found}, not 0 or 1`);
  return { type: 'VnodeGetReply', requestId, partition, object: found === 1 ? reader.bytes('get reply object') : undefined };
}

function readReplicateReply(reader: Reader, partition: number, requestId: number): VnodeReplicateReply {
  const changed = reader.optionalBoolean('replicate reply changed');
  const reply: Mutable<VnodeReplicateReply> = { type: 'VnodeReplicateReply', requestId, partition };
  if (changed !== undefined) reply.changed = changed;
  return reply;
}

function readFailed(reader: Reader, partition: number, requestId: number): VnodeFailed {
  const id = reader.u8('error code');
  const code = kvErrorCodes[id];
  if (code === undefined) reader.fail(`unknown error code id ${id}`);
  return { type: 'VnodeFailed', requestId, partition, error: { code, message: reader.string('error message') } };
}
