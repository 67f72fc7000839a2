// The peer codec: every PeerMessage survives encode → decode exactly (property test), a frame is
// the concatenation of its messages, and anything else — garbage, a message of no known kind, a
// missing or out-of-range field — is refused with a PeerCodecError that says what is wrong.

import test from 'ava';
import fc from 'fast-check';
import protobuf from 'protobufjs';
import type { ExchangeAnswer, ExchangeFailureReason, ExchangeRequest } from '../../../src/core/aae-exchange.js';
import { PeerCodecError, decodePeerFrame, encodePeerFrame, encodePeerMessage } from '../../../src/runtime/peer/codec.js';
import type { PeerMessage } from '../../../src/runtime/peer/messages.js';
import { peerFrameType } from '../../../src/runtime/peer/schema.js';
import { everyKind, normalize } from './helpers.js';
import { vnodeMessageArbitraries } from '../vnode-messages.js';

const arbBytes = fc.uint8Array({ maxLength: 24 });
const arbString = fc.string({ unit: 'binary', maxLength: 10 });
const arbInt = fc.oneof(fc.constantFrom(0, -1, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER), fc.maxSafeInteger());
const arbUint = fc.oneof(fc.constantFrom(0, Number.MAX_SAFE_INTEGER), fc.maxSafeNat());
const arbUint32 = fc.oneof(fc.constantFrom(0, 0xffff_ffff), fc.maxSafeNat().map((n) => n % 2 ** 32));
const vnode = vnodeMessageArbitraries({ bytes: arbBytes, string: arbString, int: arbInt, uint: arbUint, uint32: arbUint32 });
const header = { requestId: arbInt, partition: arbUint32 };

const arbRequest = fc.oneof(
  vnode.get,
  vnode.put,
  vnode.replicate,
  fc.record({ type: fc.constant('VnodeList' as const), ...header, bucketType: arbString, bucket: fc.option(arbBytes, { nil: undefined }) }),
);

const arbReply = fc.oneof(vnode.reply, fc.record({ type: fc.constant('VnodeListChunk' as const), ...header, items: fc.array(arbBytes, { maxLength: 4 }), done: fc.boolean() }));

const failureReasons: ExchangeFailureReason[] = ['unavailable', 'tree_not_ready', 'shape_mismatch', 'malformed', 'timeout'];
const exchangeHeader = { exchangeId: arbInt, round: arbUint, side: fc.constantFrom('a' as const, 'b' as const) };
const arbShape = fc.record({ segments: arbUint32, width: arbUint32 });
const arbAaeRequest: fc.Arbitrary<ExchangeRequest> = fc.oneof(
  fc.record({ type: fc.constant('TreeHashesRequest' as const), ...exchangeHeader, shape: arbShape, depth: arbUint32, indexes: fc.array(arbUint32, { maxLength: 5 }) }),
  fc.record({ type: fc.constant('SegmentKeysRequest' as const), ...exchangeHeader, shape: arbShape, segments: fc.array(arbUint32, { maxLength: 5 }) }),
);
const arbAaeAnswer: fc.Arbitrary<ExchangeAnswer> = fc.oneof(
  fc.record({ type: fc.constant('TreeHashesAnswer' as const), ...exchangeHeader, hashes: fc.array(arbUint32, { maxLength: 8 }).map((words) => Uint32Array.from(words)) }),
  fc.record({
    type: fc.constant('SegmentKeysAnswer' as const),
    ...exchangeHeader,
    // Empty segments included: each keeps its place in the answer.
    segments: fc.array(fc.array(fc.record({ key: arbBytes, hash: arbUint }), { maxLength: 3 }), { maxLength: 4 }),
  }),
  fc.record({ type: fc.constant('ExchangeSideFailed' as const), ...exchangeHeader, reason: fc.constantFrom(...failureReasons), message: arbString }),
);

const arbMessage: fc.Arbitrary<PeerMessage> = fc.oneof(
  fc.record({ kind: fc.constant('vnodeRequest' as const), request: arbRequest }),
  fc.record({ kind: fc.constant('vnodeReply' as const), reply: arbReply }),
  fc.record({ kind: fc.constant('gossip' as const), state: arbBytes }),
  fc.record({
    kind: fc.constant('handoffBatch' as const),
    transferId: arbString,
    partition: arbUint32,
    seq: arbUint,
    items: fc.array(fc.record({ key: arbBytes, value: arbBytes }), { maxLength: 3 }),
    last: fc.boolean(),
  }),
  // `error` is either absent or a string: the decoder leaves an absent one out of the object.
  fc.record({ kind: fc.constant('handoffAck' as const), transferId: arbString, partition: arbUint32, seq: arbUint, error: arbString }, { requiredKeys: ['kind', 'transferId', 'partition', 'seq'] }),
  fc.record({ kind: fc.constant('control' as const), requestId: arbInt, body: arbBytes }),
  fc.record({ kind: fc.constant('controlReply' as const), requestId: arbInt, body: arbBytes }),
  fc.constant({ kind: 'heartbeat' as const }),
  fc.record({ kind: fc.constant('aaeRequest' as const), requestId: arbInt, partition: arbUint32, tree: fc.record({ primaryPartition: arbUint32, nVal: arbUint32 }), request: arbAaeRequest }),
  fc.record({ kind: fc.constant('aaeAnswer' as const), requestId: arbInt, answer: arbAaeAnswer }),
);

test('every PeerMessage round-trips exactly, alone and in frames', (t) => {
  fc.assert(
    fc.property(fc.array(arbMessage, { maxLength: 8 }), (messages) => {
      t.deepEqual(normalize(decodePeerFrame(encodePeerFrame(messages))), normalize(messages));
    }),
    { numRuns: 500 },
  );
});

test('one message of each kind, with absent and empty optional fields, round-trips', (t) => {
  const messages = everyKind(42);
  t.deepEqual(normalize(decodePeerFrame(encodePeerFrame(messages))), normalize(messages));
  // An empty bucket is not "no bucket", and an absent object is not an empty one.
  const decoded = decodePeerFrame(encodePeerFrame(messages));
  t.like(decoded[3], { kind: 'vnodeRequest', request: { bucket: undefined } });
  t.deepEqual(normalize((decoded[4] as { request: { bucket: Uint8Array } }).request.bucket), new Uint8Array(0));
  t.false('error' in decoded[14]!);
});

test('a frame is the concatenation of its messages, so messages are encoded once when sent', (t) => {
  const messages = everyKind(1);
  const joined = Buffer.concat(messages.map(encodePeerMessage));
  t.deepEqual(Buffer.from(encodePeerFrame(messages)), joined);
  t.deepEqual(decodePeerFrame(new Uint8Array(0)), []);
});

test('arbitrary bytes decode to valid messages or fail with a PeerCodecError, never anything else', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
      let messages: PeerMessage[];
      try {
        messages = decodePeerFrame(bytes);
      } catch (error) {
        t.true(error instanceof PeerCodecError, String(error));
        return;
      }
      // Whatever did decode is a well-formed message that encodes again.
      t.notThrows(() => encodePeerFrame(messages));
    }),
    { numRuns: 2000 },
  );
});

function rejects(t: import('ava').ExecutionContext, bytes: Uint8Array, pattern: RegExp): void {
  const error = t.throws(() => decodePeerFrame(bytes), { instanceOf: PeerCodecError });
  t.regex(error?.message ?? '', pattern);
}

test('garbage and truncated frames are refused as undecodable', (t) => {
  rejects(t, Buffer.from([0xff, 0xff, 0xff, 0xff]), /undecodable peer frame/);
  const whole = encodePeerFrame(everyKind(3));
  rejects(t, whole.subarray(0, whole.length - 3), /undecodable peer frame/);
});

test('a message that decodes but is not a valid PeerMessage is refused, naming the problem', (t) => {
  const encode = (envelope: object): Uint8Array => peerFrameType.encode({ messages: [envelope] }).finish();
  rejects(t, encode({}), /#0 in frame: no known kind/);
  // Field 16 of the envelope: a kind from a newer version.
  const newer = protobuf.Writer.create().uint32((1 << 3) | 2).fork().uint32((16 << 3) | 0).uint32(5).ldelim().finish();
  rejects(t, newer, /no known kind \(was it sent by a newer version\?\)/);
  rejects(t, encode({ vnodeGet: { requestId: 1, partition: 2 } }), /vnodeGet\.storageKey is missing/);
  rejects(t, encode({ vnodeFailed: { requestId: 1, partition: 2, error: { code: 'oops', message: 'm' } } }), /unknown error code "oops"/);
  rejects(t, encode({ vnodePut: { ...putFields(), context: [{ actor: 'b', counter: 1 }, { actor: 'a', counter: 1 }] } }), /not a well-formed version vector/);
  rejects(t, encode({ vnodePut: { ...putFields(), nowMs: { low: 1, high: 0x20_0000, unsigned: false } /* 2^53 + 1 */ } }), /nowMs: expected an integer/);
  rejects(t, encode({ gossip: {} }), /gossip\.state is missing/);
});

function putFields(): Record<string, unknown> {
  const put = everyKind(0)[1] as unknown as { request: Record<string, unknown> };
  return { ...put.request };
}

test('a malformed message is refused when sent, before it reaches the wire', (t) => {
  const put = everyKind(0)[1] as Extract<PeerMessage, { kind: 'vnodeRequest' }>;
  const bad = (message: unknown, pattern: RegExp): void => {
    const error = t.throws(() => encodePeerMessage(message as PeerMessage), { instanceOf: PeerCodecError });
    t.regex(error?.message ?? '', pattern);
  };
  bad({ ...put, request: { ...put.request, nowMs: 2 ** 60 } }, /vnodePut\.nowMs: expected an integer/);
  bad({ ...put, request: { ...put.request, partition: -1 } }, /vnodePut\.partition/);
  bad({ ...put, request: { ...put.request, nowMs: 1.5 } }, /nowMs/);
  bad({ ...put, request: { ...put.request, storageKey: 'text' } }, /storageKey: expected bytes/);
  bad({ kind: 'handoffAck', transferId: 'a\uD800b', partition: 0, seq: 0 }, /lone surrogate/);
  bad({ kind: 'nonsense' }, /unknown kind "nonsense"/);
  bad({ kind: 'vnodeRequest', request: { type: 'constructor' } }, /unknown kind "vnodeRequest\/constructor"/);
  // Fields the message does not have are not sent (and so cannot leak onto the wire).
  const extra = { kind: 'gossip', state: new Uint8Array([1]), secret: 'not sent' } as unknown as PeerMessage;
  t.deepEqual(normalize(decodePeerFrame(encodePeerMessage(extra))), [{ kind: 'gossip', state: new Uint8Array([1]) }]);
});

test('anti-entropy answers keep their shape: node hashes as a Uint32Array, empty segments in place', (t) => {
  const hashes: PeerMessage = { kind: 'aaeAnswer', requestId: -7, answer: { type: 'TreeHashesAnswer', exchangeId: 3, round: 2, side: 'b', hashes: Uint32Array.of(0, 0xffff_ffff, 12345) } };
  const keys: PeerMessage = {
    kind: 'aaeAnswer',
    requestId: -8,
    answer: { type: 'SegmentKeysAnswer', exchangeId: 3, round: 3, side: 'a', segments: [[], [{ key: new Uint8Array([1, 2]), hash: Number.MAX_SAFE_INTEGER }], []] },
  };
  const [decodedHashes, decodedKeys] = decodePeerFrame(encodePeerFrame([hashes, keys])) as Extract<PeerMessage, { kind: 'aaeAnswer' }>[];
  t.true(decodedHashes!.answer.type === 'TreeHashesAnswer' && decodedHashes!.answer.hashes instanceof Uint32Array);
  t.deepEqual(normalize(decodedHashes), normalize(hashes));
  t.deepEqual(normalize(decodedKeys), normalize(keys));
  // Each node hash costs four bytes, whatever its value (fixed32).
  t.true(encodePeerMessage(hashes).length < 12 + 4 * 3 + 8);
});

test('a malformed anti-entropy message is refused, naming the field', (t) => {
  const request: PeerMessage = {
    kind: 'aaeRequest',
    requestId: 1,
    partition: 2,
    tree: { primaryPartition: 1, nVal: 3 },
    request: { type: 'TreeHashesRequest', exchangeId: 1, round: 1, side: 'a', shape: { segments: 4096, width: 64 }, depth: 0, indexes: [0] },
  };
  const bad = (message: unknown, pattern: RegExp): void => {
    const error = t.throws(() => encodePeerMessage(message as PeerMessage), { instanceOf: PeerCodecError });
    t.regex(error?.message ?? '', pattern);
  };
  bad({ ...request, request: { ...request.request, side: 'c' } }, /aaeTreeHashesRequest\.side: expected one of a, b/);
  bad({ ...request, tree: { primaryPartition: 1 } }, /aaeTreeHashesRequest\.tree\.nVal is missing/);
  bad({ kind: 'aaeAnswer', requestId: 1, answer: { type: 'ExchangeSideFailed', exchangeId: 1, round: 1, side: 'a', reason: 'bored', message: '' } }, /reason: expected one of/);
  bad({ kind: 'aaeAnswer', requestId: 1, answer: { type: 'Nonsense' } }, /unknown kind "aaeAnswer\/Nonsense"/);
  t.deepEqual(normalize(decodePeerFrame(encodePeerMessage(request))), normalize([request]));
});
