// Hand-written protobuf for the messages of the data path: VnodeGet, VnodePut and VnodeReplicate,
// their replies, VnodeFailed and the heartbeat. Under load they are nearly every message between
// nodes, and protobufjs reflection plus the generic field table of codec.ts cost a measurable share
// of each node's main thread (docs/benchmarks.md, "Where the time goes (cluster)").
//
// The wire format is schema.ts's, unchanged, so that this build and one encoding by reflection
// interoperate. The encoder writes the very bytes protobufjs writes for the same message: fields in
// number order, minimal varints, every present optional field (proto2 presence, so `false`, 0 and
// empty bytes are sent), empty repeated fields left out, packed uint32s. The decoder reads what
// protobufjs reads (the last of a repeated scalar wins, a repeated nested message merges, unknown
// fields and known fields with another wire type are skipped, varints as long as protobufjs allows)
// and builds the objects codec.ts built from protobufjs's output. Whatever it does not read plainly
// — a malformed or unusual message, or another kind — it leaves to reflection, message by message,
// so that every frame is accepted or refused exactly as before, with the same error. The tests
// compare both paths byte for byte and object for object (test/runtime/peer/hot-codec.test.ts).

import protobuf from 'protobufjs';
import { datatypes } from '../../core/bucket.js';
import type { DatatypeOp } from '../../core/datatype.js';
import { type KvError, type KvErrorCode, isKvErrorCode } from '../../core/errors.js';
import type { NewContent, UserMeta } from '../../core/kv.js';
import type { VnodeGet, VnodePut, VnodeReplicate } from '../../core/messages.js';
import { type VersionVector, type VvEntry, vvIsWellFormed } from '../../core/version-vector.js';
import type { PeerMessage } from './messages.js';

const loneSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** UTF-8 cannot carry a lone surrogate: it would come back as U+FFFD, so such strings are refused. */
export function hasLoneSurrogate(value: string): boolean {
  return loneSurrogate.test(value);
}

// Tags are (field number << 3) | wire type, as in schema.ts: wire type 0 a varint, 2 length-delimited.
/** PeerFrame.messages (1): every message of a frame. */
const frameMessageTag = 0x0a;
/** The envelope's arms (schema.ts, envelopeArms), each a length-delimited message. */
const armTag = {
  vnodeGet: 0x0a, // 1
  vnodePut: 0x12, // 2
  vnodeReplicate: 0x1a, // 3
  vnodeGetReply: 0x2a, // 5
  vnodePutApplied: 0x32, // 6
  vnodePutReply: 0x3a, // 7
  vnodeReplicateReply: 0x42, // 8
  vnodeFailed: 0x52, // 10
  heartbeat: 0x82, // 16: a tag of two bytes on the wire, 0x82 0x01
} as const;

const uint32Max = 0xffff_ffff;

// =============================================================================================
// Encoding

/** A field that cannot be encoded (a bug of the sender); codec.ts turns it into a PeerCodecError. */
export class InvalidFieldError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidFieldError';
  }
}

/** A message as a caller outside the type system may pass it: every field is checked. */
type Untrusted = { readonly [field: string]: unknown };

/**
 * The PeerFrame body of one hot message, byte for byte what reflection writes; undefined for every
 * other kind. Throws an InvalidFieldError naming the field, worded as codec.ts's field table words
 * it, for a malformed message.
 */
export function encodeHotMessage(message: PeerMessage): Buffer | undefined {
  switch (message.kind) {
    case 'vnodeRequest':
      return encodeRequest(message.request);
    case 'vnodeReply':
      return encodeReply(message.reply);
    case 'heartbeat':
      return heartbeatFrame();
    default:
      return undefined;
  }
}

/** An object with fields, as codec.ts's table wants every message body (anything else goes there to be refused). */
function isRecord(value: unknown): value is Untrusted {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function encodeRequest(request: unknown): Buffer | undefined {
  if (!isRecord(request)) return undefined;
  switch (request['type']) {
    case 'VnodeGet':
      return encodeVnodeGet(request);
    case 'VnodePut':
      return encodeVnodePut(request);
    case 'VnodeReplicate':
      return encodeVnodeReplicate(request);
    default:
      return undefined;
  }
}

function encodeReply(reply: unknown): Buffer | undefined {
  if (!isRecord(reply)) return undefined;
  switch (reply['type']) {
    case 'VnodeGetReply':
      return encodeVnodeGetReply(reply);
    case 'VnodePutApplied':
      return encodeVnodePutApplied(reply);
    case 'VnodePutReply':
      return encodeVnodePutReply(reply);
    case 'VnodeReplicateReply':
      return encodeVnodeReplicateReply(reply);
    case 'VnodeFailed':
      return encodeVnodeFailed(reply);
    default:
      return undefined;
  }
}

function heartbeatFrame(): Buffer {
  // PeerFrame { messages: [{ heartbeat: {} }] }: an envelope of three bytes, arm 16's tag and an empty body.
  return Buffer.from([frameMessageTag, 3, 0x82, 0x01, 0]);
}

// ---- the messages, field by field in number order; each checks every field first -------------

function encodeVnodeGet(get: Untrusted): Buffer {
  const requestId = requireInteger(get['requestId'], 'vnodeGet.requestId', Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
  const partition = requireInteger(get['partition'], 'vnodeGet.partition', 0, uint32Max);
  const storageKey = requireBytes(get['storageKey'], 'vnodeGet.storageKey');
  const fallback = optionalBool(get['fallback'], 'vnodeGet.fallback');
  const size = headerSize(requestId, partition) + bytesFieldSize(storageKey) + (fallback === undefined ? 0 : boolFieldSize);
  const buf = frameFor(armTag.vnodeGet, size);
  let pos = writeHeader(buf, buf.length - size, requestId, partition);
  pos = writeBytesField(buf, pos, 0x1a, storageKey);
  if (fallback !== undefined) writeBoolField(buf, pos, 0x20, fallback);
  return buf;
}

function encodeVnodeReplicate(replicate: Untrusted): Buffer {
  const requestId = requireInteger(replicate['requestId'], 'vnodeReplicate.requestId', Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
  const partition = requireInteger(replicate['partition'], 'vnodeReplicate.partition', 0, uint32Max);
  const storageKey = requireBytes(replicate['storageKey'], 'vnodeReplicate.storageKey');
  const object = requireBytes(replicate['object'], 'vnodeReplicate.object');
  const fallback = optionalBool(replicate['fallback'], 'vnodeReplicate.fallback');
  const size = headerSize(requestId, partition) + bytesFieldSize(storageKey) + bytesFieldSize(object) + (fallback === undefined ? 0 : boolFieldSize);
  const buf = frameFor(armTag.vnodeReplicate, size);
  let pos = writeHeader(buf, buf.length - size, requestId, partition);
  pos = writeBytesField(buf, pos, 0x1a, storageKey);
  pos = writeBytesField(buf, pos, 0x22, object);
  if (fallback !== undefined) writeBoolField(buf, pos, 0x28, fallback);
  return buf;
}

function encodeVnodeGetReply(reply: Untrusted): Buffer {
  const requestId = requireInteger(reply['requestId'], 'vnodeGetReply.requestId', Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
  const partition = requireInteger(reply['partition'], 'vnodeGetReply.partition', 0, uint32Max);
  const object = optionalBytes(reply['object'], 'vnodeGetReply.object');
  const size = headerSize(requestId, partition) + (object === undefined ? 0 : bytesFieldSize(object));
  const buf = frameFor(armTag.vnodeGetReply, size);
  const pos = writeHeader(buf, buf.length - size, requestId, partition);
  if (object !== undefined) writeBytesField(buf, pos, 0x1a, object);
  return buf;
}

function encodeVnodePutApplied(applied: Untrusted): Buffer {
  const requestId = requireInteger(applied['requestId'], 'vnodePutApplied.requestId', Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
  const partition = requireInteger(applied['partition'], 'vnodePutApplied.partition', 0, uint32Max);
  const object = requireBytes(applied['object'], 'vnodePutApplied.object');
  const size = headerSize(requestId, partition) + bytesFieldSize(object);
  const buf = frameFor(armTag.vnodePutApplied, size);
  writeBytesField(buf, writeHeader(buf, buf.length - size, requestId, partition), 0x1a, object);
  return buf;
}

function encodeVnodePutReply(reply: Untrusted): Buffer {
  const requestId = requireInteger(reply['requestId'], 'vnodePutReply.requestId', Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
  const partition = requireInteger(reply['partition'], 'vnodePutReply.partition', 0, uint32Max);
  const size = headerSize(requestId, partition);
  const buf = frameFor(armTag.vnodePutReply, size);
  writeHeader(buf, buf.length - size, requestId, partition);
  return buf;
}

function encodeVnodeReplicateReply(reply: Untrusted): Buffer {
  const requestId = requireInteger(reply['requestId'], 'vnodeReplicateReply.requestId', Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
  const partition = requireInteger(reply['partition'], 'vnodeReplicateReply.partition', 0, uint32Max);
  const changed = optionalBool(reply['changed'], 'vnodeReplicateReply.changed');
  const size = headerSize(requestId, partition) + (changed === undefined ? 0 : boolFieldSize);
  const buf = frameFor(armTag.vnodeReplicateReply, size);
  const pos = writeHeader(buf, buf.length - size, requestId, partition);
  if (changed !== undefined) writeBoolField(buf, pos, 0x18, changed);
  return buf;
}

function encodeVnodeFailed(failed: Untrusted): Buffer {
  const requestId = requireInteger(failed['requestId'], 'vnodeFailed.requestId', Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
  const partition = requireInteger(failed['partition'], 'vnodeFailed.partition', 0, uint32Max);
  const error = checkKvError(failed['error']);
  const errorSize = stringFieldSize(error.code) + stringFieldSize(error.message);
  const size = headerSize(requestId, partition) + messageFieldSize(errorSize);
  const buf = frameFor(armTag.vnodeFailed, size);
  let pos = writeHeader(buf, buf.length - size, requestId, partition);
  pos = writeMessageHeader(buf, pos, 0x1a, errorSize);
  pos = writeStringField(buf, pos, 0x0a, error.code);
  writeStringField(buf, pos, 0x12, error.message);
  return buf;
}

function checkKvError(value: unknown): KvError {
  const error = requireRecord(value, 'vnodeFailed.error');
  const code = requireString(error['code'], 'vnodeFailed.error.code');
  requireString(error['message'], 'vnodeFailed.error.message');
  if (!isKvErrorCode(code)) invalid('vnodeFailed.error', `unknown error code ${JSON.stringify(code)}`);
  return error as unknown as KvError;
}

function encodeVnodePut(put: Untrusted): Buffer {
  const requestId = requireInteger(put['requestId'], 'vnodePut.requestId', Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
  const partition = requireInteger(put['partition'], 'vnodePut.partition', 0, uint32Max);
  const storageKey = requireBytes(put['storageKey'], 'vnodePut.storageKey');
  const context = checkVersionVector(put['context']);
  const content = checkNewContent(put['content']);
  const deleted = requireBool(put['deleted'], 'vnodePut.deleted');
  const nowMs = requireInteger(put['nowMs'], 'vnodePut.nowMs', Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
  const ifNoneMatch = requireBool(put['ifNoneMatch'], 'vnodePut.ifNoneMatch');
  const ifNotModified = requireBool(put['ifNotModified'], 'vnodePut.ifNotModified');
  const maxSiblings = requireInteger(put['maxSiblings'], 'vnodePut.maxSiblings', 0, uint32Max);
  const lastWriteWins = requireBool(put['lastWriteWins'], 'vnodePut.lastWriteWins');
  const allowMult = requireBool(put['allowMult'], 'vnodePut.allowMult');
  const localReplicas = checkUint32List(put['localReplicas'], 'vnodePut.localReplicas');
  const fallback = optionalBool(put['fallback'], 'vnodePut.fallback');
  const op = checkDatatypeOp(put['op']);
  const maxObjectBytes = optionalUint(put['maxObjectBytes'], 'vnodePut.maxObjectBytes');
  const expiresAtMs = optionalUint(put['expiresAtMs'], 'vnodePut.expiresAtMs');
  const ifPresent = optionalBool(put['ifPresent'], 'vnodePut.ifPresent');

  let size = headerSize(requestId, partition) + bytesFieldSize(storageKey);
  for (const entry of context) size += messageFieldSize(vvEntrySize(entry));
  size += messageFieldSize(newContentSize(content));
  size += 5 * boolFieldSize + 1 + int64Size(nowMs) + 1 + varint32Size(maxSiblings);
  const replicasSize = packedUint32Size(localReplicas);
  if (localReplicas.length > 0) size += messageFieldSize(replicasSize);
  if (fallback !== undefined) size += boolFieldSize;
  if (op !== undefined) size += messageFieldSize(datatypeOpSize(op));
  if (maxObjectBytes !== undefined) size += 2 + unsignedSize(maxObjectBytes);
  if (expiresAtMs !== undefined) size += 2 + unsignedSize(expiresAtMs);
  if (ifPresent !== undefined) size += 3; // a two-byte tag (field 18) and the value

  const buf = frameFor(armTag.vnodePut, size);
  let pos = writeHeader(buf, buf.length - size, requestId, partition);
  pos = writeBytesField(buf, pos, 0x1a, storageKey);
  for (const entry of context) pos = writeVvEntry(buf, pos, entry);
  pos = writeNewContent(buf, pos, content);
  pos = writeBoolField(buf, pos, 0x30, deleted);
  buf[pos++] = 0x38;
  pos = writeInt64(buf, pos, nowMs);
  pos = writeBoolField(buf, pos, 0x40, ifNoneMatch);
  pos = writeBoolField(buf, pos, 0x48, ifNotModified);
  buf[pos++] = 0x50;
  pos = writeVarint32(buf, pos, maxSiblings);
  pos = writeBoolField(buf, pos, 0x58, lastWriteWins);
  pos = writeBoolField(buf, pos, 0x60, allowMult);
  if (localReplicas.length > 0) {
    pos = writeMessageHeader(buf, pos, 0x6a, replicasSize);
    for (const replica of localReplicas) pos = writeVarint32(buf, pos, replica);
  }
  if (fallback !== undefined) pos = writeBoolField(buf, pos, 0x70, fallback);
  if (op !== undefined) pos = writeDatatypeOp(buf, pos, op);
  if (maxObjectBytes !== undefined) pos = writeUnsigned(buf, writeVarint32(buf, pos, 0x80), maxObjectBytes);
  if (expiresAtMs !== undefined) pos = writeUnsigned(buf, writeVarint32(buf, pos, 0x88), expiresAtMs);
  if (ifPresent !== undefined) buf[writeVarint32(buf, pos, 0x90)] = ifPresent ? 1 : 0;
  return buf;
}

function checkVersionVector(value: unknown): VersionVector {
  if (value === undefined || value === null) return [];
  const entries = requireArray(value, 'vnodePut.context');
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i];
    if (!isRecord(entry)) invalid(`vnodePut.context[${i}]`, 'expected an object');
    if (!isGoodString(entry['actor'])) requireString(entry['actor'], `vnodePut.context[${i}].actor`);
    const counter = entry['counter'];
    if (!isInteger(counter, 0, Number.MAX_SAFE_INTEGER)) requireInteger(counter, `vnodePut.context[${i}].counter`, 0, Number.MAX_SAFE_INTEGER);
  }
  if (!vvIsWellFormed(entries as VersionVector)) invalid('vnodePut.context', 'not a well-formed version vector (actors sorted and distinct, counters > 0)');
  return entries as VersionVector;
}

function checkNewContent(value: unknown): NewContent {
  const content = requireRecord(value, 'vnodePut.content');
  requireBytes(content['value'], 'vnodePut.content.value');
  requireString(content['contentType'], 'vnodePut.content.contentType');
  const userMeta = content['userMeta'];
  if (userMeta !== undefined && userMeta !== null) {
    const entries = requireArray(userMeta, 'vnodePut.content.userMeta');
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i];
      if (!isRecord(entry)) invalid(`vnodePut.content.userMeta[${i}]`, 'expected an object');
      if (!isGoodString(entry['key'])) requireString(entry['key'], `vnodePut.content.userMeta[${i}].key`);
      if (!isGoodString(entry['value'])) requireString(entry['value'], `vnodePut.content.userMeta[${i}].value`);
    }
  }
  return content as unknown as NewContent;
}

function checkDatatypeOp(value: unknown): DatatypeOp | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isRecord(value)) invalid('vnodePut.op', 'expected an object');
  const datatype = value['datatype'];
  if (datatype === undefined || datatype === null) missing('vnodePut.op.datatype');
  if (typeof datatype !== 'string' || !(datatypes as readonly string[]).includes(datatype)) {
    invalid('vnodePut.op.datatype', `expected one of ${datatypes.join(', ')}, got ${JSON.stringify(datatype)}`);
  }
  requireInteger(value['increment'], 'vnodePut.op.increment', Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
  checkBytesList(value['adds'], 'vnodePut.op.adds');
  checkBytesList(value['removes'], 'vnodePut.op.removes');
  optionalBytes(value['context'], 'vnodePut.op.context');
  return value as unknown as DatatypeOp;
}

// ---- nested messages of VnodePut: size, then write (tag, length, fields) ----------------------

function vvEntrySize(entry: VvEntry): number {
  return stringFieldSize(entry.actor) + 1 + unsignedSize(entry.counter);
}

function writeVvEntry(buf: Buffer, pos: number, entry: VvEntry): number {
  pos = writeMessageHeader(buf, pos, 0x22, vvEntrySize(entry));
  pos = writeStringField(buf, pos, 0x0a, entry.actor);
  buf[pos++] = 0x10;
  return writeUnsigned(buf, pos, entry.counter);
}

function userMetaSize(meta: UserMeta): number {
  return stringFieldSize(meta.key) + stringFieldSize(meta.value);
}

function newContentSize(content: NewContent): number {
  let size = bytesFieldSize(content.value) + stringFieldSize(content.contentType);
  for (const meta of content.userMeta ?? []) size += messageFieldSize(userMetaSize(meta));
  return size;
}

function writeNewContent(buf: Buffer, pos: number, content: NewContent): number {
  pos = writeMessageHeader(buf, pos, 0x2a, newContentSize(content));
  pos = writeBytesField(buf, pos, 0x0a, content.value);
  pos = writeStringField(buf, pos, 0x12, content.contentType);
  for (const meta of content.userMeta ?? []) {
    pos = writeMessageHeader(buf, pos, 0x1a, userMetaSize(meta));
    pos = writeStringField(buf, pos, 0x0a, meta.key);
    pos = writeStringField(buf, pos, 0x12, meta.value);
  }
  return pos;
}

function datatypeOpSize(op: DatatypeOp): number {
  let size = stringFieldSize(op.datatype) + 1 + sint64Size(op.increment);
  for (const add of op.adds ?? []) size += bytesFieldSize(add);
  for (const remove of op.removes ?? []) size += bytesFieldSize(remove);
  if (op.context !== undefined && op.context !== null) size += bytesFieldSize(op.context);
  return size;
}

function writeDatatypeOp(buf: Buffer, pos: number, op: DatatypeOp): number {
  pos = writeMessageHeader(buf, pos, 0x7a, datatypeOpSize(op));
  pos = writeStringField(buf, pos, 0x0a, op.datatype);
  buf[pos++] = 0x10;
  pos = writeSint64(buf, pos, op.increment);
  for (const add of op.adds ?? []) pos = writeBytesField(buf, pos, 0x1a, add);
  for (const remove of op.removes ?? []) pos = writeBytesField(buf, pos, 0x22, remove);
  if (op.context !== undefined && op.context !== null) pos = writeBytesField(buf, pos, 0x2a, op.context);
  return pos;
}

// ---- field checks, worded as codec.ts's table words them --------------------------------------
// `where` is a literal at every call on the way to a valid message; paths with an index are built
// only once a check has failed.

function invalid(where: string, problem: string): never {
  throw new InvalidFieldError(`${where}: ${problem}`);
}

function missing(where: string): never {
  throw new InvalidFieldError(`${where} is missing`);
}

function isInteger(value: unknown, min: number, max: number): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= min && value <= max;
}

function requireInteger(value: unknown, where: string, min: number, max: number): number {
  if (value === undefined || value === null) missing(where);
  if (!isInteger(value, min, max)) invalid(where, `expected an integer in [${min}, ${max}], got ${String(value)}`);
  return value;
}

function optionalUint(value: unknown, where: string): number | undefined {
  return value === undefined || value === null ? undefined : requireInteger(value, where, 0, Number.MAX_SAFE_INTEGER);
}

function requireBool(value: unknown, where: string): boolean {
  if (value === undefined || value === null) missing(where);
  if (typeof value !== 'boolean') invalid(where, `expected a boolean, got ${typeof value}`);
  return value;
}

function optionalBool(value: unknown, where: string): boolean | undefined {
  return value === undefined || value === null ? undefined : requireBool(value, where);
}

function requireBytes(value: unknown, where: string): Uint8Array {
  if (value === undefined || value === null) missing(where);
  if (!(value instanceof Uint8Array)) invalid(where, 'expected bytes (a Uint8Array)');
  return value;
}

function optionalBytes(value: unknown, where: string): Uint8Array | undefined {
  return value === undefined || value === null ? undefined : requireBytes(value, where);
}

function isGoodString(value: unknown): value is string {
  return typeof value === 'string' && !hasLoneSurrogate(value);
}

function requireString(value: unknown, where: string): string {
  if (value === undefined || value === null) missing(where);
  if (typeof value !== 'string') invalid(where, `expected a string, got ${typeof value}`);
  if (hasLoneSurrogate(value)) invalid(where, 'not valid Unicode (a lone surrogate)');
  return value;
}

function requireRecord(value: unknown, where: string): Untrusted {
  if (value === undefined || value === null) missing(where);
  if (!isRecord(value)) invalid(where, 'expected an object');
  return value;
}

function requireArray(value: unknown, where: string): readonly unknown[] {
  if (!Array.isArray(value)) invalid(where, 'expected an array');
  return value;
}

function checkUint32List(value: unknown, where: string): readonly number[] {
  if (value === undefined || value === null) return [];
  const items = requireArray(value, where);
  for (let i = 0; i < items.length; i++) {
    const item = items[i];
    if (!isInteger(item, 0, uint32Max)) invalid(`${where}[${i}]`, `expected an integer in [0, ${uint32Max}], got ${String(item)}`);
  }
  return items as readonly number[];
}

function checkBytesList(value: unknown, where: string): void {
  if (value === undefined || value === null) return;
  const items = requireArray(value, where);
  for (let i = 0; i < items.length; i++) {
    if (!(items[i] instanceof Uint8Array)) invalid(`${where}[${i}]`, 'expected bytes (a Uint8Array)');
  }
}

// ---- the wire: sizes, then writes into a buffer allocated once at the exact size --------------

const boolFieldSize = 2;

/**
 * The frame of one message whose arm body is `bodySize` bytes, written up to the body, which is
 * left to fill: its last `bodySize` bytes. Allocated like protobufjs's own output (Buffer.allocUnsafe).
 */
function frameFor(tag: number, bodySize: number): Buffer {
  const envelopeSize = varint32Size(tag) + varint32Size(bodySize) + bodySize;
  const buf = Buffer.allocUnsafe(1 + varint32Size(envelopeSize) + envelopeSize);
  buf[0] = frameMessageTag;
  writeVarint32(buf, writeVarint32(buf, writeVarint32(buf, 1, envelopeSize), tag), bodySize);
  return buf;
}

/** requestId (sint64, field 1) and partition (uint32, field 2): the header of every vnode message. */
function headerSize(requestId: number, partition: number): number {
  return 1 + sint64Size(requestId) + 1 + varint32Size(partition);
}

function writeHeader(buf: Buffer, pos: number, requestId: number, partition: number): number {
  buf[pos++] = 0x08;
  pos = writeSint64(buf, pos, requestId);
  buf[pos++] = 0x10;
  return writeVarint32(buf, pos, partition);
}

/** A one-byte tag, a length and `length` bytes: a bytes, string or nested-message field. */
function messageFieldSize(length: number): number {
  return 1 + varint32Size(length) + length;
}

function bytesFieldSize(bytes: Uint8Array): number {
  return messageFieldSize(bytes.length);
}

function stringFieldSize(value: string): number {
  return messageFieldSize(utf8Length(value));
}

function writeMessageHeader(buf: Buffer, pos: number, tag: number, length: number): number {
  buf[pos++] = tag;
  return writeVarint32(buf, pos, length);
}

function writeBoolField(buf: Buffer, pos: number, tag: number, value: boolean): number {
  buf[pos++] = tag;
  buf[pos++] = value ? 1 : 0;
  return pos;
}

function writeBytesField(buf: Buffer, pos: number, tag: number, bytes: Uint8Array): number {
  pos = writeMessageHeader(buf, pos, tag, bytes.length);
  buf.set(bytes, pos);
  return pos + bytes.length;
}

function writeStringField(buf: Buffer, pos: number, tag: number, value: string): number {
  const length = utf8Length(value);
  pos = writeMessageHeader(buf, pos, tag, length);
  // Short strings are written in JavaScript: below a few dozen characters that beats the native call.
  if (value.length >= 40) return pos + buf.write(value, pos, length, 'utf8');
  for (let i = 0; i < value.length; i++) {
    let code = value.charCodeAt(i);
    if (code < 0x80) {
      buf[pos++] = code;
    } else if (code < 0x800) {
      buf[pos++] = 0xc0 | (code >> 6);
      buf[pos++] = 0x80 | (code & 0x3f);
    } else if (code >= 0xd800 && code < 0xdc00) {
      // A surrogate pair (a lone surrogate was refused): one code point of four bytes.
      code = 0x10000 + ((code - 0xd800) << 10) + (value.charCodeAt(++i) - 0xdc00);
      buf[pos++] = 0xf0 | (code >> 18);
      buf[pos++] = 0x80 | ((code >> 12) & 0x3f);
      buf[pos++] = 0x80 | ((code >> 6) & 0x3f);
      buf[pos++] = 0x80 | (code & 0x3f);
    } else {
      buf[pos++] = 0xe0 | (code >> 12);
      buf[pos++] = 0x80 | ((code >> 6) & 0x3f);
      buf[pos++] = 0x80 | (code & 0x3f);
    }
  }
  return pos;
}

/** The UTF-8 length of a string without lone surrogates. */
function utf8Length(value: string): number {
  let length = value.length;
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code < 0x80) continue;
    if (code < 0x800) {
      length += 1;
    } else if (code >= 0xd800 && code < 0xdc00) {
      length += 2; // a surrogate pair: four bytes for its two units
      i++;
    } else {
      length += 2;
    }
  }
  return length;
}

function packedUint32Size(values: readonly number[]): number {
  let size = 0;
  for (const value of values) size += varint32Size(value);
  return size;
}

function varint32Size(value: number): number {
  return value < 0x80 ? 1 : value < 0x4000 ? 2 : value < 0x20_0000 ? 3 : value < 0x1000_0000 ? 4 : 5;
}

function writeVarint32(buf: Buffer, pos: number, value: number): number {
  while (value > 0x7f) {
    buf[pos++] = (value & 0x7f) | 0x80;
    value >>>= 7;
  }
  buf[pos++] = value;
  return pos;
}

/** The varint size of a non-negative integer held exactly by a double (here below 2^54). */
function unsignedSize(value: number): number {
  let size = 0;
  for (; value >= 2 ** 28; value = Math.floor(value / 2 ** 28)) size += 4; // 28 bits: four bytes of seven
  return size + varint32Size(value);
}

/** A non-negative integer held exactly by a double, as a varint: uint64 fields, zigzagged sint64s. */
function writeUnsigned(buf: Buffer, pos: number, value: number): number {
  while (value > 0x7fff_ffff) {
    const low = value % 0x80;
    buf[pos++] = low | 0x80;
    value = (value - low) / 0x80;
  }
  return writeVarint32(buf, pos, value);
}

// sint64 zigzags a safe integer v to 2v (v ≥ 0) or 2|v| − 1 = 2(|v| − 1) + 1 (v < 0). 2v and
// 2(|v| − 1) are even and below 2^54, so a double holds them exactly; adding 1 to an even number
// only sets the lowest bit of its varint's first byte.

function sint64Size(value: number): number {
  return unsignedSize(value >= 0 ? value * 2 : (-value - 1) * 2);
}

function writeSint64(buf: Buffer, pos: number, value: number): number {
  if (value >= 0) return writeUnsigned(buf, pos, value * 2);
  const end = writeUnsigned(buf, pos, (-value - 1) * 2);
  buf[pos]! |= 1;
  return end;
}

/** int64: a negative value is its 64-bit two's complement, always ten bytes. */
function int64Size(value: number): number {
  return value >= 0 ? unsignedSize(value) : 10;
}

function writeInt64(buf: Buffer, pos: number, value: number): number {
  if (value >= 0) return writeUnsigned(buf, pos, value);
  const magnitude = -value;
  const magnitudeLow = magnitude % 2 ** 32;
  // 2^64 − magnitude in two 32-bit halves: the complement of each half, plus one carried up.
  let low = (2 ** 32 - magnitudeLow) % 2 ** 32;
  let high = (~((magnitude - magnitudeLow) / 2 ** 32) + (magnitudeLow === 0 ? 1 : 0)) >>> 0;
  for (let i = 0; i < 9; i++) {
    buf[pos++] = (low & 0x7f) | 0x80;
    low = ((low >>> 7) | (high << 25)) >>> 0;
    high >>>= 7;
  }
  buf[pos++] = low;
  return pos;
}

// =============================================================================================
// Decoding

/**
 * Thrown inside the decoder at anything but a well-formed hot message: that message is then left
 * to reflection, which accepts it or refuses it with its own error, exactly as before. Invalid
 * frames close the connection, so this path is rare and its cost does not matter; one instance
 * serves, as it carries nothing.
 */
class LeftToReflection extends Error {}
const leftToReflection = new LeftToReflection('left to the reflection decoder');

/**
 * Decodes a PeerFrame body as decodePeerFrame does: hot messages by hand, every other envelope
 * (and any hot one that is malformed or unusual) by `decodeByReflection`, given a PeerFrame of
 * that envelope alone, cut from `bytes`. Undefined when the frame itself is unusual (anything but
 * a sequence of field-1 envelopes); errors of `decodeByReflection` are thrown as they come.
 */
export function decodeHotFrame(bytes: Uint8Array, decodeByReflection: (frame: Uint8Array) => PeerMessage[]): PeerMessage[] | undefined {
  const reader = new WireReader(bytes);
  const messages: PeerMessage[] = [];
  while (reader.pos < bytes.length) {
    const start = reader.pos;
    let envelopeEnd: number;
    try {
      if (reader.tag() !== frameMessageTag) return undefined;
      envelopeEnd = reader.delimitedEnd();
    } catch (error) {
      if (error instanceof LeftToReflection) return undefined;
      throw error;
    }
    const message = decodeHotEnvelope(reader, envelopeEnd);
    if (message !== undefined) messages.push(message);
    else messages.push(...decodeByReflection(bytes.subarray(start, envelopeEnd)));
    reader.pos = envelopeEnd;
    reader.limit = bytes.length;
  }
  return messages;
}

/** The envelope from the reader's position to `end`, if it is one hot arm and nothing else. */
function decodeHotEnvelope(reader: WireReader, end: number): PeerMessage | undefined {
  reader.limit = end;
  try {
    const tag = reader.tag();
    // Several fields in one envelope (the last arm wins, and a repeated arm merges) are left to
    // reflection: this encoder never writes them.
    if (reader.delimitedEnd() !== end) return undefined;
    switch (tag) {
      case armTag.vnodeGet:
        return { kind: 'vnodeRequest', request: readVnodeGet(reader) };
      case armTag.vnodePut:
        return { kind: 'vnodeRequest', request: readVnodePut(reader) };
      case armTag.vnodeReplicate:
        return { kind: 'vnodeRequest', request: readVnodeReplicate(reader) };
      case armTag.vnodeGetReply:
        return readVnodeGetReply(reader);
      case armTag.vnodePutApplied:
        return readVnodePutApplied(reader);
      case armTag.vnodePutReply:
        return readVnodePutReply(reader);
      case armTag.vnodeReplicateReply:
        return readVnodeReplicateReply(reader);
      case armTag.vnodeFailed:
        return readVnodeFailed(reader);
      case armTag.heartbeat:
        // An empty one only: protobufjs skips the fields of a message that has none in a way of
        // its own (it takes the whole tag for the field number), so a Heartbeat with fields is left to it.
        return reader.pos === end ? { kind: 'heartbeat' } : undefined;
      default:
        return undefined;
    }
  } catch (error) {
    if (error instanceof LeftToReflection) return undefined;
    throw error;
  }
}

// ---- the messages: read every field, then check as codec.ts's table does ---------------------

function readVnodeGet(r: WireReader): VnodeGet {
  let requestId: number | undefined;
  let partition: number | undefined;
  let storageKey: Uint8Array | undefined;
  let fallback: boolean | undefined;
  while (r.pos < r.limit) {
    const tag = r.tag();
    switch (tag) {
      case 0x08:
        requestId = r.sint64();
        break;
      case 0x10:
        partition = r.uint32();
        break;
      case 0x1a:
        storageKey = r.bytes();
        break;
      case 0x20:
        fallback = r.bool();
        break;
      default:
        r.skip(tag);
    }
  }
  if (!isSafe(requestId) || partition === undefined || storageKey === undefined) throw leftToReflection;
  return fallback === undefined
    ? { type: 'VnodeGet', requestId, partition, storageKey }
    : { type: 'VnodeGet', requestId, partition, storageKey, fallback };
}

function readVnodeReplicate(r: WireReader): VnodeReplicate {
  let requestId: number | undefined;
  let partition: number | undefined;
  let storageKey: Uint8Array | undefined;
  let object: Uint8Array | undefined;
  let fallback: boolean | undefined;
  while (r.pos < r.limit) {
    const tag = r.tag();
    switch (tag) {
      case 0x08:
        requestId = r.sint64();
        break;
      case 0x10:
        partition = r.uint32();
        break;
      case 0x1a:
        storageKey = r.bytes();
        break;
      case 0x22:
        object = r.bytes();
        break;
      case 0x28:
        fallback = r.bool();
        break;
      default:
        r.skip(tag);
    }
  }
  if (!isSafe(requestId) || partition === undefined || storageKey === undefined || object === undefined) throw leftToReflection;
  return fallback === undefined
    ? { type: 'VnodeReplicate', requestId, partition, storageKey, object }
    : { type: 'VnodeReplicate', requestId, partition, storageKey, object, fallback };
}

/** VnodeGetReply and VnodePutApplied alike: the header and `object` (bytes, field 3). */
function readObjectReply(r: WireReader): { requestId: number; partition: number; object: Uint8Array | undefined } {
  let requestId: number | undefined;
  let partition: number | undefined;
  let object: Uint8Array | undefined;
  while (r.pos < r.limit) {
    const tag = r.tag();
    if (tag === 0x08) requestId = r.sint64();
    else if (tag === 0x10) partition = r.uint32();
    else if (tag === 0x1a) object = r.bytes();
    else r.skip(tag);
  }
  if (!isSafe(requestId) || partition === undefined) throw leftToReflection;
  return { requestId, partition, object };
}

function readVnodeGetReply(r: WireReader): PeerMessage {
  const { requestId, partition, object } = readObjectReply(r);
  return { kind: 'vnodeReply', reply: { type: 'VnodeGetReply', requestId, partition, object } };
}

function readVnodePutApplied(r: WireReader): PeerMessage {
  const { requestId, partition, object } = readObjectReply(r);
  if (object === undefined) throw leftToReflection;
  return { kind: 'vnodeReply', reply: { type: 'VnodePutApplied', requestId, partition, object } };
}

function readVnodePutReply(r: WireReader): PeerMessage {
  let requestId: number | undefined;
  let partition: number | undefined;
  while (r.pos < r.limit) {
    const tag = r.tag();
    if (tag === 0x08) requestId = r.sint64();
    else if (tag === 0x10) partition = r.uint32();
    else r.skip(tag);
  }
  if (!isSafe(requestId) || partition === undefined) throw leftToReflection;
  return { kind: 'vnodeReply', reply: { type: 'VnodePutReply', requestId, partition } };
}

function readVnodeReplicateReply(r: WireReader): PeerMessage {
  let requestId: number | undefined;
  let partition: number | undefined;
  let changed: boolean | undefined;
  while (r.pos < r.limit) {
    const tag = r.tag();
    if (tag === 0x08) requestId = r.sint64();
    else if (tag === 0x10) partition = r.uint32();
    else if (tag === 0x18) changed = r.bool();
    else r.skip(tag);
  }
  if (!isSafe(requestId) || partition === undefined) throw leftToReflection;
  return changed === undefined
    ? { kind: 'vnodeReply', reply: { type: 'VnodeReplicateReply', requestId, partition } }
    : { kind: 'vnodeReply', reply: { type: 'VnodeReplicateReply', requestId, partition, changed } };
}

function readVnodeFailed(r: WireReader): PeerMessage {
  let requestId: number | undefined;
  let partition: number | undefined;
  // A repeated nested message merges into the one before it, as protobuf specifies.
  let error: { code: string | undefined; message: string | undefined } | undefined;
  while (r.pos < r.limit) {
    const tag = r.tag();
    if (tag === 0x08) requestId = r.sint64();
    else if (tag === 0x10) partition = r.uint32();
    else if (tag === 0x1a) error = readKvError(r, error ?? { code: undefined, message: undefined });
    else r.skip(tag);
  }
  if (!isSafe(requestId) || partition === undefined || error === undefined) throw leftToReflection;
  const { code, message } = error;
  if (code === undefined || message === undefined || !isKvErrorCode(code)) throw leftToReflection;
  return { kind: 'vnodeReply', reply: { type: 'VnodeFailed', requestId, partition, error: { code: code as KvErrorCode, message } } };
}

function readKvError<T extends { code: string | undefined; message: string | undefined }>(r: WireReader, error: T): T {
  const outer = r.enter();
  while (r.pos < r.limit) {
    const tag = r.tag();
    if (tag === 0x0a) error.code = r.string();
    else if (tag === 0x12) error.message = r.string();
    else r.skip(tag);
  }
  r.leave(outer);
  return error;
}

/** What the wire said of a NewContent so far (a repeated one merges). */
interface ContentFields {
  value: Uint8Array | undefined;
  contentType: string | undefined;
  readonly userMeta: UserMeta[];
}

/** What the wire said of a DatatypeOp so far (a repeated one merges). */
interface OpFields {
  datatype: string | undefined;
  increment: number | undefined;
  readonly adds: Uint8Array[];
  readonly removes: Uint8Array[];
  context: Uint8Array | undefined;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

function readVnodePut(r: WireReader): VnodePut {
  let requestId: number | undefined;
  let partition: number | undefined;
  let storageKey: Uint8Array | undefined;
  const context: VvEntry[] = [];
  let content: ContentFields | undefined;
  let deleted: boolean | undefined;
  let nowMs: number | undefined;
  let ifNoneMatch: boolean | undefined;
  let ifNotModified: boolean | undefined;
  let maxSiblings: number | undefined;
  let lastWriteWins: boolean | undefined;
  let allowMult: boolean | undefined;
  const localReplicas: number[] = [];
  let fallback: boolean | undefined;
  let op: OpFields | undefined;
  let maxObjectBytes: number | undefined;
  let ifPresent: boolean | undefined;
  let expiresAtMs: number | undefined;
  while (r.pos < r.limit) {
    const tag = r.tag();
    switch (tag) {
      case 0x08:
        requestId = r.sint64();
        break;
      case 0x10:
        partition = r.uint32();
        break;
      case 0x1a:
        storageKey = r.bytes();
        break;
      case 0x22:
        context.push(readVvEntry(r));
        break;
      case 0x2a:
        content = readNewContent(r, content ?? { value: undefined, contentType: undefined, userMeta: [] });
        break;
      case 0x30:
        deleted = r.bool();
        break;
      case 0x38:
        nowMs = r.int64();
        break;
      case 0x40:
        ifNoneMatch = r.bool();
        break;
      case 0x48:
        ifNotModified = r.bool();
        break;
      case 0x50:
        maxSiblings = r.uint32();
        break;
      case 0x58:
        lastWriteWins = r.bool();
        break;
      case 0x60:
        allowMult = r.bool();
        break;
      case 0x68: // localReplicas one by one: protobuf accepts a packable field unpacked too
        localReplicas.push(r.uint32());
        break;
      case 0x6a:
        r.packedUint32s(localReplicas);
        break;
      case 0x70:
        fallback = r.bool();
        break;
      case 0x7a:
        op = readDatatypeOp(r, op ?? { datatype: undefined, increment: undefined, adds: [], removes: [], context: undefined });
        break;
      case 0x80:
        maxObjectBytes = r.uint64();
        break;
      case 0x88:
        expiresAtMs = r.uint64();
        break;
      case 0x90:
        ifPresent = r.bool();
        break;
      default:
        r.skip(tag);
    }
  }
  if (
    !isSafe(requestId) ||
    partition === undefined ||
    storageKey === undefined ||
    !vvIsWellFormed(context) ||
    content?.value === undefined ||
    content.contentType === undefined ||
    deleted === undefined ||
    !isSafe(nowMs) ||
    ifNoneMatch === undefined ||
    ifNotModified === undefined ||
    maxSiblings === undefined ||
    lastWriteWins === undefined ||
    allowMult === undefined ||
    (maxObjectBytes !== undefined && !isSafe(maxObjectBytes)) ||
    (expiresAtMs !== undefined && !isSafe(expiresAtMs))
  ) {
    throw leftToReflection;
  }
  const put: Mutable<VnodePut> = {
    type: 'VnodePut',
    requestId,
    partition,
    storageKey,
    context,
    content: { value: content.value, contentType: content.contentType, userMeta: content.userMeta },
    deleted,
    nowMs,
    ifNoneMatch,
    ifNotModified,
    maxSiblings,
    lastWriteWins,
    allowMult,
    localReplicas,
  };
  if (fallback !== undefined) put.fallback = fallback;
  if (op !== undefined) put.op = checkedOp(op);
  if (maxObjectBytes !== undefined) put.maxObjectBytes = maxObjectBytes;
  if (expiresAtMs !== undefined) put.expiresAtMs = expiresAtMs;
  if (ifPresent !== undefined) put.ifPresent = ifPresent;
  return put;
}

function readVvEntry(r: WireReader): VvEntry {
  let actor: string | undefined;
  let counter: number | undefined;
  const outer = r.enter();
  while (r.pos < r.limit) {
    const tag = r.tag();
    if (tag === 0x0a) actor = r.string();
    else if (tag === 0x10) counter = r.uint64();
    else r.skip(tag);
  }
  r.leave(outer);
  if (actor === undefined || !isSafe(counter)) throw leftToReflection;
  return { actor, counter };
}

function readNewContent(r: WireReader, content: ContentFields): ContentFields {
  const outer = r.enter();
  while (r.pos < r.limit) {
    const tag = r.tag();
    if (tag === 0x0a) content.value = r.bytes();
    else if (tag === 0x12) content.contentType = r.string();
    else if (tag === 0x1a) content.userMeta.push(readUserMeta(r));
    else r.skip(tag);
  }
  r.leave(outer);
  return content;
}

function readUserMeta(r: WireReader): UserMeta {
  let key: string | undefined;
  let value: string | undefined;
  const outer = r.enter();
  while (r.pos < r.limit) {
    const tag = r.tag();
    if (tag === 0x0a) key = r.string();
    else if (tag === 0x12) value = r.string();
    else r.skip(tag);
  }
  r.leave(outer);
  if (key === undefined || value === undefined) throw leftToReflection;
  return { key, value };
}

function readDatatypeOp(r: WireReader, op: OpFields): OpFields {
  const outer = r.enter();
  while (r.pos < r.limit) {
    const tag = r.tag();
    if (tag === 0x0a) op.datatype = r.string();
    else if (tag === 0x10) op.increment = r.sint64();
    else if (tag === 0x1a) op.adds.push(r.bytes());
    else if (tag === 0x22) op.removes.push(r.bytes());
    else if (tag === 0x2a) op.context = r.bytes();
    else r.skip(tag);
  }
  r.leave(outer);
  return op;
}

function checkedOp(op: OpFields): DatatypeOp {
  const { datatype, increment, adds, removes, context } = op;
  if (datatype === undefined || !(datatypes as readonly string[]).includes(datatype) || !isSafe(increment)) throw leftToReflection;
  return { datatype: datatype as DatatypeOp['datatype'], increment, adds, removes, context };
}

function isSafe(value: number | undefined): value is number {
  return value !== undefined && Number.isSafeInteger(value);
}

/**
 * Reads protobuf's wire format exactly as protobufjs's Reader does, refusing (LeftToReflection)
 * wherever it throws: varints of at most ten bytes (tags and lengths five), 64-bit integers turned
 * into numbers the way its LongBits does, strings decoded by the same UTF-8 decoder, byte fields
 * as views into the input. `limit` is the end of the message being read, as protobufjs's `len`.
 */
class WireReader {
  pos = 0;
  limit: number;
  /** The two halves of the last 64-bit varint read. */
  private low = 0;
  private high = 0;
  private readonly isBuffer: boolean;

  constructor(private readonly input: Uint8Array) {
    this.limit = input.length;
    this.isBuffer = Buffer.isBuffer(input);
  }

  private nextByte(): number {
    if (this.pos >= this.limit) throw leftToReflection;
    return this.input[this.pos++]!;
  }

  /** A field tag: at most five bytes, the fifth holding only the top four bits of 32. */
  tag(): number {
    let value = 0;
    for (let shift = 0; shift < 28; shift += 7) {
      const byte = this.nextByte();
      value |= (byte & 0x7f) << shift;
      if (byte < 0x80) return value;
    }
    const last = this.nextByte();
    if (last >= 0x10) throw leftToReflection;
    return (value | (last << 28)) >>> 0;
  }

  /** The end of the length-delimited field whose length starts here (at most five bytes, below 2^31). */
  delimitedEnd(): number {
    let length = 0;
    for (let shift = 0; shift < 28; shift += 7) {
      const byte = this.nextByte();
      length |= (byte & 0x7f) << shift;
      if (byte < 0x80) return this.endAfter(length);
    }
    const last = this.nextByte();
    if (last > 7) throw leftToReflection;
    return this.endAfter((length | (last << 28)) >>> 0);
  }

  private endAfter(length: number): number {
    const end = this.pos + length;
    if (end > this.limit) throw leftToReflection;
    return end;
  }

  /** Enters the nested message whose length starts here; returns the limit to `leave` it with. */
  enter(): number {
    const outer = this.limit;
    this.limit = this.delimitedEnd();
    return outer;
  }

  leave(outer: number): void {
    this.limit = outer;
  }

  /** A varint of up to ten bytes into `low` and `high`; bits past 64 are dropped, as protobufjs drops them. */
  private varint64(): void {
    let byte = this.nextByte();
    if (byte < 0x80) {
      this.low = byte;
      this.high = 0;
      return;
    }
    let low = byte & 0x7f;
    for (let shift = 7; shift < 28; shift += 7) {
      byte = this.nextByte();
      low |= (byte & 0x7f) << shift;
      if (byte < 0x80) {
        this.low = low >>> 0;
        this.high = 0;
        return;
      }
    }
    byte = this.nextByte();
    low |= (byte & 0x7f) << 28;
    let high = (byte & 0x7f) >> 4;
    for (let shift = 3; byte >= 0x80; shift += 7) {
      if (shift > 31) throw leftToReflection; // an eleventh byte
      byte = this.nextByte();
      high |= (byte & 0x7f) << shift;
    }
    this.low = low >>> 0;
    this.high = high >>> 0;
  }

  /** uint32: the low 32 bits of a varint of up to ten bytes. */
  uint32(): number {
    this.varint64();
    return this.low;
  }

  uint64(): number {
    this.varint64();
    return this.low + this.high * 2 ** 32;
  }

  int64(): number {
    this.varint64();
    return signed(this.low, this.high);
  }

  sint64(): number {
    this.varint64();
    const { low, high } = this;
    if (high === 0 && low < 0x8000_0000) return low & 1 ? -(low >>> 1) - 1 : low >>> 1;
    const mask = -(low & 1);
    return signed((((low >>> 1) | (high << 31)) ^ mask) >>> 0, ((high >>> 1) ^ mask) >>> 0);
  }

  /** Any of the payload bits set, over up to ten bytes. */
  bool(): boolean {
    let value = false;
    for (let i = 0; i < 10; i++) {
      const byte = this.nextByte();
      if (byte & 0x7f) value = true;
      if (byte < 0x80) return value;
    }
    throw leftToReflection;
  }

  bytes(): Uint8Array {
    const end = this.delimitedEnd();
    const start = this.pos;
    this.pos = end;
    return this.input.subarray(start, end);
  }

  string(): string {
    const end = this.delimitedEnd();
    const start = this.pos;
    this.pos = end;
    // protobufjs decodes a Buffer with Buffer's own UTF-8 decoder and a Uint8Array with its own.
    return this.isBuffer ? (this.input as Buffer).toString('utf8', start, end) : protobuf.util.utf8.read(this.input, start, end);
  }

  /** Packed uint32s, appended to `values`. */
  packedUint32s(values: number[]): void {
    const outer = this.enter();
    while (this.pos < this.limit) values.push(this.uint32());
    this.leave(outer);
  }

  /** Skips an unknown field (or a known one of another wire type), as protobufjs does; groups are left to it. */
  skip(tag: number): void {
    if (tag >>> 3 === 0) throw leftToReflection; // field number 0
    switch (tag & 7) {
      case 0:
        while (this.nextByte() >= 0x80);
        return;
      case 1:
        this.pos = this.endAfter(8);
        return;
      case 2:
        this.pos = this.delimitedEnd();
        return;
      case 5:
        this.pos = this.endAfter(4);
        return;
      default:
        throw leftToReflection;
    }
  }
}

/** A 64-bit two's complement value as a number, as protobufjs's LongBits.toNumber(false) computes it. */
function signed(low: number, high: number): number {
  if (high >>> 31 === 0) return low + high * 2 ** 32;
  const negLow = (~low + 1) >>> 0;
  const negHigh = negLow === 0 ? (~high + 1) >>> 0 : ~high >>> 0;
  return -(negLow + negHigh * 2 ** 32);
}
