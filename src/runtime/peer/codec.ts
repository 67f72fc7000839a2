// Encodes PeerMessages into PeerFrames (schema.ts) and decodes them back, checking every field on
// the way out and again on the way in: a message that leaves is well-formed, and a message that
// arrives is either exactly what was sent or a PeerCodecError naming what is wrong. It knows
// nothing of sockets or length headers; framing.ts and transport.ts put frames on the wire.
//
// Two paths with one behaviour: the messages of the data path go through the hand-written code of
// hot-codec.ts, everything else through protobufjs reflection and the field table below. The
// hand-written code writes the same bytes and builds the same objects; whatever it does not decode
// plainly it leaves to reflection, so errors keep their wording.

import type { ExchangeAnswer, ExchangeFailureReason, ExchangeRequest } from '../../core/aae-exchange.js';
import { datatypes } from '../../core/bucket.js';
import { isKvErrorCode } from '../../core/errors.js';
import type { VnodeReply, VnodeRequest } from '../../core/messages.js';
import { type VersionVector, vvIsWellFormed } from '../../core/version-vector.js';
import { decodeHotFrame, encodeHotMessage, hasLoneSurrogate } from './hot-codec.js';
import type { PeerMessage } from './messages.js';
import { type EnvelopeArm, envelopeArms, peerFrameType, toObjectOptions } from './schema.js';

/** A frame or message that cannot be encoded or decoded; the connection that carried it is closed. */
export class PeerCodecError extends Error {
  readonly code = 'peer_codec_error' as const;
  constructor(message: string) {
    super(message);
    this.name = 'PeerCodecError';
  }
}

/**
 * Encodes one message as a complete PeerFrame body holding just that message. Protobuf concatenates
 * repeated fields, so the concatenation of several of these is the PeerFrame holding them all:
 * the transport encodes each message once, when it is sent, and knows its exact size from then on.
 * Throws a PeerCodecError for a malformed message (a bug in the sender).
 */
export function encodePeerMessage(message: PeerMessage): Uint8Array {
  let hot: Uint8Array | undefined;
  try {
    hot = encodeHotMessage(message);
  } catch (error) {
    throw new PeerCodecError(`cannot encode peer message: ${(error as Error).message}`);
  }
  return hot ?? encodePeerMessageReflect(message);
}

/** encodePeerMessage by protobufjs reflection and the field table, for every kind (the tests compare both). */
export function encodePeerMessageReflect(message: PeerMessage): Uint8Array {
  const { arm, body } = armOf(message);
  let checked: Record<string, unknown>;
  try {
    checked = checkFields(armSpecs[arm], body, arm);
  } catch (error) {
    throw new PeerCodecError(`cannot encode peer message: ${(error as Error).message}`);
  }
  return peerFrameType.encode({ messages: [{ [arm]: checked }] }).finish();
}

/** Encodes `messages` as one PeerFrame body (without the length header). */
export function encodePeerFrame(messages: readonly PeerMessage[]): Uint8Array {
  const parts = messages.map(encodePeerMessage);
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/**
 * Decodes a PeerFrame body into its messages, in order. Byte fields of the result are views into
 * `bytes` (no copy): a holder that keeps one for long should copy it. Throws a PeerCodecError when
 * the bytes are not protobuf, or when a message decodes but is not a valid PeerMessage.
 */
export function decodePeerFrame(bytes: Uint8Array): PeerMessage[] {
  try {
    const messages = decodeHotFrame(bytes, decodePeerFrameReflect);
    if (messages !== undefined) return messages;
  } catch (error) {
    if (!(error instanceof PeerCodecError)) throw error;
    // Some message of the frame is refused. Decoding the whole frame again names the problem
    // exactly as before: a frame that is not protobuf anywhere is "undecodable" rather than the
    // first bad message, and the message's index is its index in the whole frame.
  }
  return decodePeerFrameReflect(bytes);
}

/** decodePeerFrame by protobufjs reflection and the field table, for every kind (the tests compare both). */
export function decodePeerFrameReflect(bytes: Uint8Array): PeerMessage[] {
  let frame: { messages?: unknown[] };
  try {
    frame = peerFrameType.toObject(peerFrameType.decode(bytes), toObjectOptions) as { messages?: unknown[] };
  } catch (error) {
    throw new PeerCodecError(`undecodable peer frame (${bytes.length} bytes): ${(error as Error).message}`);
  }
  return (frame.messages ?? []).map((envelope, index) => {
    try {
      return decodeEnvelope(envelope as Record<string, unknown>);
    } catch (error) {
      throw new PeerCodecError(`invalid peer message #${index} in frame: ${(error as Error).message}`);
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Which envelope arm carries which message

const requestArms: Readonly<Record<VnodeRequest['type'], EnvelopeArm>> = {
  VnodeGet: 'vnodeGet',
  VnodePut: 'vnodePut',
  VnodeReplicate: 'vnodeReplicate',
  VnodeList: 'vnodeList',
  VnodeReap: 'vnodeReap',
};

const replyArms: Readonly<Record<VnodeReply['type'], EnvelopeArm>> = {
  VnodeGetReply: 'vnodeGetReply',
  VnodePutApplied: 'vnodePutApplied',
  VnodePutReply: 'vnodePutReply',
  VnodeReplicateReply: 'vnodeReplicateReply',
  VnodeListChunk: 'vnodeListChunk',
  VnodeReapReply: 'vnodeReapReply',
  VnodeFailed: 'vnodeFailed',
};

const aaeRequestArms: Readonly<Record<ExchangeRequest['type'], EnvelopeArm>> = {
  TreeHashesRequest: 'aaeTreeHashesRequest',
  SegmentKeysRequest: 'aaeSegmentKeysRequest',
};

const aaeAnswerArms: Readonly<Record<ExchangeAnswer['type'], EnvelopeArm>> = {
  TreeHashesAnswer: 'aaeTreeHashesAnswer',
  SegmentKeysAnswer: 'aaeSegmentKeysAnswer',
  ExchangeSideFailed: 'aaeSideFailed',
};

type ArmTarget =
  | { readonly kind: 'vnodeRequest'; readonly type: VnodeRequest['type'] }
  | { readonly kind: 'vnodeReply'; readonly type: VnodeReply['type'] }
  | { readonly kind: 'aaeRequest'; readonly type: ExchangeRequest['type'] }
  | { readonly kind: 'aaeAnswer'; readonly type: ExchangeAnswer['type'] }
  | { readonly kind: Exclude<PeerMessage['kind'], 'vnodeRequest' | 'vnodeReply' | 'aaeRequest' | 'aaeAnswer'> };

/** The kinds whose envelope arm has the kind's own name. */
const ownArmKinds = ['gossip', 'handoffBatch', 'handoffAck', 'control', 'controlReply', 'heartbeat'] as const satisfies readonly EnvelopeArm[];

const armTargets = new Map<EnvelopeArm, ArmTarget>([
  ...Object.entries(requestArms).map(([type, arm]) => [arm, { kind: 'vnodeRequest', type }] as [EnvelopeArm, ArmTarget]),
  ...Object.entries(replyArms).map(([type, arm]) => [arm, { kind: 'vnodeReply', type }] as [EnvelopeArm, ArmTarget]),
  ...Object.entries(aaeRequestArms).map(([type, arm]) => [arm, { kind: 'aaeRequest', type }] as [EnvelopeArm, ArmTarget]),
  ...Object.entries(aaeAnswerArms).map(([type, arm]) => [arm, { kind: 'aaeAnswer', type }] as [EnvelopeArm, ArmTarget]),
  ...ownArmKinds.map((kind) => [kind, { kind }] as [EnvelopeArm, ArmTarget]),
]);

/** `table[key]` for the table's own keys only (never Object.prototype's). */
function lookupOwn<V>(table: Readonly<Record<string, V>>, key: unknown): V | undefined {
  return typeof key === 'string' && Object.hasOwn(table, key) ? table[key] : undefined;
}

function armOf(message: PeerMessage): { arm: EnvelopeArm; body: unknown } {
  // The message is checked at run time: a caller outside the type system may pass anything.
  const loose = message as { kind?: unknown; request?: { type?: unknown }; reply?: { type?: unknown }; answer?: { type?: unknown } };
  let arm: EnvelopeArm | undefined;
  let body: unknown = message;
  if (loose.kind === 'vnodeRequest') {
    arm = lookupOwn(requestArms, loose.request?.type);
    body = loose.request;
  } else if (loose.kind === 'vnodeReply') {
    arm = lookupOwn(replyArms, loose.reply?.type);
    body = loose.reply;
  } else if (loose.kind === 'aaeRequest') {
    arm = lookupOwn(aaeRequestArms, loose.request?.type);
    if (arm !== undefined) body = aaeRequestToWire(message as Extract<PeerMessage, { kind: 'aaeRequest' }>);
  } else if (loose.kind === 'aaeAnswer') {
    arm = lookupOwn(aaeAnswerArms, loose.answer?.type);
    if (arm !== undefined) body = aaeAnswerToWire(message as Extract<PeerMessage, { kind: 'aaeAnswer' }>);
  } else if ((ownArmKinds as readonly unknown[]).includes(loose.kind)) {
    arm = loose.kind as EnvelopeArm;
  }
  if (arm === undefined) {
    const inner = loose.request ?? loose.reply ?? loose.answer;
    throw new PeerCodecError(`cannot encode peer message: unknown kind ${JSON.stringify(inner === undefined ? loose.kind : `${String(loose.kind)}/${String(inner.type)}`)}`);
  }
  return { arm, body };
}

function decodeEnvelope(envelope: Record<string, unknown>): PeerMessage {
  // A oneof holds one arm after decoding: of several on the wire, the last wins (protobuf's rule).
  const arm = envelopeArms.find((candidate) => envelope[candidate] !== undefined && envelope[candidate] !== null);
  if (arm === undefined) throw new PeerCodecError('no known kind (was it sent by a newer version?)');
  const body = checkFields(armSpecs[arm], envelope[arm], arm);
  const target = armTargets.get(arm)!;
  switch (target.kind) {
    case 'vnodeRequest':
      return { kind: 'vnodeRequest', request: { type: target.type, ...body } as unknown as VnodeRequest };
    case 'vnodeReply':
      return { kind: 'vnodeReply', reply: { type: target.type, ...body } as unknown as VnodeReply };
    case 'aaeRequest':
      return aaeRequestFromWire(target.type, body);
    case 'aaeAnswer':
      return aaeAnswerFromWire(target.type, body);
    default:
      return { kind: target.kind, ...body } as unknown as PeerMessage;
  }
}

// The anti-entropy messages nest the core's request or answer inside routing fields; on the wire
// they are one flat message per request or answer type. Node hashes travel as fixed32 words and
// come back as a Uint32Array; a segment's key list is wrapped in a message so that an empty
// segment keeps its place.

function aaeRequestToWire(message: Extract<PeerMessage, { kind: 'aaeRequest' }>): Record<string, unknown> {
  const { type: _type, ...request } = message.request;
  return { requestId: message.requestId, partition: message.partition, tree: message.tree, ...request };
}

function aaeAnswerToWire(message: Extract<PeerMessage, { kind: 'aaeAnswer' }>): Record<string, unknown> {
  const answer = message.answer;
  const { type: _type, ...fields } = answer;
  if (answer.type === 'TreeHashesAnswer') {
    return { requestId: message.requestId, ...fields, hashes: answer.hashes instanceof Uint32Array ? Array.from(answer.hashes) : answer.hashes };
  }
  if (answer.type === 'SegmentKeysAnswer') {
    return { requestId: message.requestId, ...fields, segments: Array.isArray(answer.segments) ? answer.segments.map((keys) => ({ keys })) : answer.segments };
  }
  return { requestId: message.requestId, ...fields };
}

function aaeRequestFromWire(type: ExchangeRequest['type'], body: Record<string, unknown>): PeerMessage {
  const { requestId, partition, tree, ...request } = body;
  return { kind: 'aaeRequest', requestId, partition, tree, request: { type, ...request } } as unknown as PeerMessage;
}

function aaeAnswerFromWire(type: ExchangeAnswer['type'], body: Record<string, unknown>): PeerMessage {
  const { requestId, ...answer } = body;
  if (type === 'TreeHashesAnswer') answer['hashes'] = Uint32Array.from(answer['hashes'] as number[]);
  if (type === 'SegmentKeysAnswer') answer['segments'] = (answer['segments'] as { keys: unknown[] }[]).map((segment) => segment.keys);
  return { kind: 'aaeAnswer', requestId, answer: { type, ...answer } } as unknown as PeerMessage;
}

// ---------------------------------------------------------------------------------------------
// Field checks, shared by both directions

/**
 * How a field is checked. `int` is any safe integer (sint64/int64), `uint` a non-negative safe
 * integer (uint64), `uint32` fits 32 bits. `bytes|undefined` is always a property of the TS object,
 * possibly undefined; `string?`, `bool?` and `uint?` are left out of the TS object when absent. Repeated fields are
 * arrays, empty when absent (an empty repeated field is not on the wire at all).
 */
type ScalarKind = 'int' | 'uint' | 'uint?' | 'uint32' | 'bool' | 'bool?' | 'bytes' | 'bytes|undefined' | 'string' | 'string?' | 'uint32[]' | 'bytes[]';
/** A nested message; `check` adds a rule across its fields and returns the problem, if any. */
interface RecordKind {
  readonly record: FieldSpec;
  /** Left out of the TS object when absent, instead of refused. */
  readonly optional?: boolean;
  readonly check?: (value: Record<string, unknown>) => string | undefined;
}
/** A repeated nested message; `check` adds a rule across the items. */
interface ListKind {
  readonly listOf: FieldSpec;
  readonly check?: (items: Record<string, unknown>[]) => string | undefined;
}
/** A string from a fixed set. */
interface EnumKind {
  readonly oneOf: readonly string[];
}
type FieldKind = ScalarKind | RecordKind | ListKind | EnumKind;
type FieldSpec = Readonly<Record<string, FieldKind>>;

const versionVector: ListKind = {
  listOf: { actor: 'string', counter: 'uint' },
  check: (entries) => (vvIsWellFormed(entries as unknown as VersionVector) ? undefined : 'not a well-formed version vector (actors sorted and distinct, counters > 0)'),
};
const newContent: RecordKind = { record: { value: 'bytes', contentType: 'string', userMeta: { listOf: { key: 'string', value: 'string' } } } };
const kvError: RecordKind = {
  record: { code: 'string', message: 'string' },
  check: (error) => (isKvErrorCode(error['code']) ? undefined : `unknown error code ${JSON.stringify(error['code'])}`),
};
const vnodeHeader = { requestId: 'int', partition: 'uint32' } as const;
const datatypeOp: RecordKind = {
  record: { datatype: { oneOf: datatypes }, increment: 'int', adds: 'bytes[]', removes: 'bytes[]', context: 'bytes|undefined' },
  optional: true,
};

/** Every failure reason of core/aae-exchange.ts; the Record makes the compiler flag a new one. */
const exchangeFailureReasons: Readonly<Record<ExchangeFailureReason, true>> = { unavailable: true, tree_not_ready: true, shape_mismatch: true, malformed: true, timeout: true };
const exchangeSide: EnumKind = { oneOf: ['a', 'b'] };
const aaeRequestHeader = {
  requestId: 'int',
  partition: 'uint32',
  tree: { record: { primaryPartition: 'uint32', nVal: 'uint32' } },
  exchangeId: 'int',
  round: 'uint',
  side: exchangeSide,
  shape: { record: { segments: 'uint32', width: 'uint32' } },
} as const satisfies FieldSpec;
const aaeAnswerHeader = { requestId: 'int', exchangeId: 'int', round: 'uint', side: exchangeSide } as const satisfies FieldSpec;

/** The fields of each arm, exactly those of the TS message (less its `kind` or `type`). */
const armSpecs: Readonly<Record<EnvelopeArm, FieldSpec>> = {
  vnodeGet: { ...vnodeHeader, storageKey: 'bytes', fallback: 'bool?' },
  vnodePut: {
    ...vnodeHeader,
    storageKey: 'bytes',
    context: versionVector,
    content: newContent,
    deleted: 'bool',
    nowMs: 'int',
    ifNoneMatch: 'bool',
    ifNotModified: 'bool',
    maxSiblings: 'uint32',
    lastWriteWins: 'bool',
    allowMult: 'bool',
    localReplicas: 'uint32[]',
    fallback: 'bool?',
    op: datatypeOp,
    maxObjectBytes: 'uint?',
    expiresAtMs: 'uint?',
    ifPresent: 'bool?',
  },
  vnodeReplicate: { ...vnodeHeader, storageKey: 'bytes', object: 'bytes', fallback: 'bool?' },
  vnodeList: { ...vnodeHeader, bucketType: 'string', bucket: 'bytes|undefined' },
  vnodeGetReply: { ...vnodeHeader, object: 'bytes|undefined' },
  vnodePutApplied: { ...vnodeHeader, object: 'bytes' },
  vnodePutReply: vnodeHeader,
  vnodeReplicateReply: { ...vnodeHeader, changed: 'bool?' },
  vnodeListChunk: { ...vnodeHeader, items: 'bytes[]', done: 'bool' },
  vnodeFailed: { ...vnodeHeader, error: kvError },
  vnodeReap: { ...vnodeHeader, storageKey: 'bytes', object: 'bytes' },
  vnodeReapReply: { ...vnodeHeader, removed: 'bool' },
  gossip: { state: 'bytes' },
  handoffBatch: { transferId: 'string', partition: 'uint32', seq: 'uint', items: { listOf: { key: 'bytes', value: 'bytes' } }, last: 'bool' },
  handoffAck: { transferId: 'string', partition: 'uint32', seq: 'uint', error: 'string?' },
  control: { requestId: 'int', body: 'bytes' },
  controlReply: { requestId: 'int', body: 'bytes' },
  heartbeat: {},
  aaeTreeHashesRequest: { ...aaeRequestHeader, depth: 'uint32', indexes: 'uint32[]' },
  aaeSegmentKeysRequest: { ...aaeRequestHeader, segments: 'uint32[]' },
  aaeTreeHashesAnswer: { ...aaeAnswerHeader, hashes: 'uint32[]' },
  aaeSegmentKeysAnswer: { ...aaeAnswerHeader, segments: { listOf: { keys: { listOf: { key: 'bytes', hash: 'uint' } } } } },
  aaeSideFailed: { ...aaeAnswerHeader, reason: { oneOf: Object.keys(exchangeFailureReasons) }, message: 'string' },
};

const uint32Max = 0xffff_ffff;

/** Checks `value` against `spec` and returns a fresh object with exactly the spec's fields. */
function checkFields(spec: FieldSpec, value: unknown, where: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new PeerCodecError(`${where}: expected an object`);
  const input = value as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [name, kind] of Object.entries(spec)) {
    const checked = checkField(kind, input[name], `${where}.${name}`);
    if (checked !== undefined || kind === 'bytes|undefined') out[name] = checked;
  }
  return out;
}

function checkField(kind: FieldKind, value: unknown, where: string): unknown {
  if (typeof kind === 'object') {
    if ('oneOf' in kind) return checkEnum(kind, value, where);
    return 'record' in kind ? checkRecord(kind, value, where) : checkList(kind, value, where);
  }
  if (value === undefined || value === null) {
    if (kind === 'bytes|undefined' || kind === 'string?' || kind === 'bool?' || kind === 'uint?') return undefined;
    if (kind === 'uint32[]' || kind === 'bytes[]') return [];
    throw new PeerCodecError(`${where} is missing`);
  }
  switch (kind) {
    case 'int':
      return checkInteger(value, where, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
    case 'uint':
    case 'uint?':
      return checkInteger(value, where, 0, Number.MAX_SAFE_INTEGER);
    case 'uint32':
      return checkInteger(value, where, 0, uint32Max);
    case 'bool':
    case 'bool?':
      if (typeof value !== 'boolean') throw new PeerCodecError(`${where}: expected a boolean, got ${typeof value}`);
      return value;
    case 'bytes':
    case 'bytes|undefined':
      return checkBytes(value, where);
    case 'string':
    case 'string?':
      return checkString(value, where);
    case 'uint32[]':
      return checkArray(value, where).map((item, i) => checkInteger(item, `${where}[${i}]`, 0, uint32Max));
    case 'bytes[]':
      return checkArray(value, where).map((item, i) => checkBytes(item, `${where}[${i}]`));
  }
}

function checkRecord(kind: RecordKind, value: unknown, where: string): Record<string, unknown> | undefined {
  if ((value === undefined || value === null) && kind.optional === true) return undefined;
  if (value === undefined || value === null) throw new PeerCodecError(`${where} is missing`);
  const record = checkFields(kind.record, value, where);
  const problem = kind.check?.(record);
  if (problem !== undefined) throw new PeerCodecError(`${where}: ${problem}`);
  return record;
}

function checkList(kind: ListKind, value: unknown, where: string): Record<string, unknown>[] {
  const items = value === undefined || value === null ? [] : checkArray(value, where).map((item, i) => checkFields(kind.listOf, item, `${where}[${i}]`));
  const problem = kind.check?.(items);
  if (problem !== undefined) throw new PeerCodecError(`${where}: ${problem}`);
  return items;
}

function checkEnum(kind: EnumKind, value: unknown, where: string): string {
  if (value === undefined || value === null) throw new PeerCodecError(`${where} is missing`);
  if (typeof value !== 'string' || !kind.oneOf.includes(value)) throw new PeerCodecError(`${where}: expected one of ${kind.oneOf.join(', ')}, got ${JSON.stringify(value)}`);
  return value;
}

function checkInteger(value: unknown, where: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new PeerCodecError(`${where}: expected an integer in [${min}, ${max}], got ${String(value)}`);
  }
  return value;
}

function checkBytes(value: unknown, where: string): Uint8Array {
  if (!(value instanceof Uint8Array)) throw new PeerCodecError(`${where}: expected bytes (a Uint8Array)`);
  return value;
}

/** Strings travel as UTF-8; a lone surrogate would come back as U+FFFD, so it is refused instead. */
function checkString(value: unknown, where: string): string {
  if (typeof value !== 'string') throw new PeerCodecError(`${where}: expected a string, got ${typeof value}`);
  if (hasLoneSurrogate(value)) throw new PeerCodecError(`${where}: not valid Unicode (a lone surrogate)`);
  return value;
}

function checkArray(value: unknown, where: string): readonly unknown[] {
  if (!Array.isArray(value)) throw new PeerCodecError(`${where}: expected an array`);
  return value;
}
