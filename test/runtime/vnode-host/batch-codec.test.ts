import test from 'ava';
import fc from 'fast-check';
import type { KvErrorCode } from '../../../src/core/errors.js';
import type {
  VnodeFailed,
  VnodeGet,
  VnodeGetReply,
  VnodeList,
  VnodeListChunk,
  VnodePut,
  VnodePutApplied,
  VnodePutReply,
  VnodeReap,
  VnodeReapReply,
  VnodeReplicate,
  VnodeReplicateReply,
  VnodeReply,
  VnodeRequest,
} from '../../../src/core/messages.js';
import { BatchDecodeError, decodeReplies, decodeRequests, encodeReplies, encodeRequests } from '../../../src/runtime/vnode-host/batch-codec.js';
import { barePut as bareVnodePut } from '../vnode-messages.js';

const bytes = (...values: number[]): Uint8Array => Uint8Array.from(values);
const large = (length: number): Uint8Array => Uint8Array.from({ length }, (_, i) => (i * 31) % 251);
/** Non-ASCII, an astral character, and lone surrogates (which UTF-8 could not carry). */
const awkward = 'Grüße 東京 😀 \ud800x\udfff';

function requestsRoundTrip(requests: readonly VnodeRequest[]): VnodeRequest[] {
  return decodeRequests(encodeRequests(requests));
}

function repliesRoundTrip(replies: readonly VnodeReply[]): VnodeReply[] {
  return decodeReplies(encodeReplies(replies));
}

const get: VnodeGet = { type: 'VnodeGet', requestId: 7, partition: 3, storageKey: bytes(1, 2, 3) };

const fullPut: VnodePut = {
  type: 'VnodePut',
  requestId: 2 ** 40 + 1,
  partition: 63,
  storageKey: bytes(9, 8, 7),
  context: [
    { actor: 'aAbB-_09', counter: 1 },
    { actor: awkward, counter: Number.MAX_SAFE_INTEGER },
  ],
  content: { value: large(70_000), contentType: `text/plain; charset=${awkward}`, userMeta: [{ key: 'colour', value: awkward }, { key: '', value: '' }] },
  deleted: true,
  nowMs: 1_700_000_000_123,
  ifNoneMatch: true,
  ifNotModified: true,
  maxSiblings: 100,
  maxObjectBytes: 5 << 20,
  lastWriteWins: true,
  allowMult: true,
  localReplicas: [1, 65_535, 4_294_967_295],
  fallback: true,
  expiresAtMs: 1_800_000_000_000.5,
  ifPresent: true,
};

const barePut: VnodePut = bareVnodePut();

test('gets round-trip with fallback absent, false and true', (t) => {
  const requests: VnodeGet[] = [get, { ...get, fallback: false }, { ...get, requestId: -1, storageKey: new Uint8Array(0), fallback: true }];
  const back = requestsRoundTrip(requests);
  t.deepEqual(back, requests);
  t.false('fallback' in back[0]!, 'an absent fallback stays absent, not undefined');
});

test('puts round-trip with every optional field present, and with none', (t) => {
  const back = requestsRoundTrip([fullPut, barePut, { ...barePut, fallback: false }]);
  t.deepEqual(back, [fullPut, barePut, { ...barePut, fallback: false }]);
  for (const key of ['fallback', 'maxObjectBytes', 'expiresAtMs', 'op', 'ifPresent']) t.false(key in back[1]!, `${key} stays absent`);
});

test('each put flag round-trips on its own', (t) => {
  for (const flag of ['deleted', 'ifNoneMatch', 'ifNotModified', 'lastWriteWins', 'allowMult'] as const) {
    const put: VnodePut = { ...barePut, [flag]: true };
    t.deepEqual(requestsRoundTrip([put]), [put], flag);
  }
  const onlyExpiry: VnodePut = { ...barePut, expiresAtMs: 5 };
  const onlyBound: VnodePut = { ...barePut, maxObjectBytes: 0 };
  t.deepEqual(requestsRoundTrip([onlyExpiry, onlyBound]), [onlyExpiry, onlyBound]);
});

test('replicates round-trip, empty and large objects included', (t) => {
  const requests: VnodeReplicate[] = [
    { type: 'VnodeReplicate', requestId: 1, partition: 2, storageKey: bytes(5), object: large(1 << 20) },
    { type: 'VnodeReplicate', requestId: 1, partition: 4, storageKey: bytes(5), object: new Uint8Array(0), fallback: false },
    { type: 'VnodeReplicate', requestId: 3, partition: 4, storageKey: bytes(), object: bytes(0, 255), fallback: true },
  ];
  t.deepEqual(requestsRoundTrip(requests), requests);
});

test('byte fields that are views into a larger buffer are packed as just their bytes', (t) => {
  const chunk = large(1000);
  const request: VnodeReplicate = { type: 'VnodeReplicate', requestId: 1, partition: 2, storageKey: chunk.subarray(10, 14), object: chunk.subarray(500, 600) };
  const batch = encodeRequests([request]);
  t.true(batch.bin.byteLength < 200);
  t.deepEqual(decodeRequests(batch), [{ ...request, storageKey: chunk.slice(10, 14), object: chunk.slice(500, 600) }]);
});

test('every reply type round-trips, optional and absent fields included', (t) => {
  const replies: VnodeReply[] = [
    { type: 'VnodeGetReply', requestId: 1, partition: 2, object: bytes(1, 2) } satisfies VnodeGetReply,
    { type: 'VnodeGetReply', requestId: 1, partition: 3, object: undefined } satisfies VnodeGetReply,
    { type: 'VnodeGetReply', requestId: 1, partition: 4, object: new Uint8Array(0) } satisfies VnodeGetReply,
    { type: 'VnodePutApplied', requestId: 5, partition: 6, object: large(100_000) } satisfies VnodePutApplied,
    { type: 'VnodePutReply', requestId: 5, partition: 6 } satisfies VnodePutReply,
    { type: 'VnodeReplicateReply', requestId: 5, partition: 7 } satisfies VnodeReplicateReply,
    { type: 'VnodeReplicateReply', requestId: 5, partition: 8, changed: false } satisfies VnodeReplicateReply,
    { type: 'VnodeReplicateReply', requestId: 5, partition: 9, changed: true } satisfies VnodeReplicateReply,
    { type: 'VnodeFailed', requestId: 10, partition: 11, error: { code: 'storage_failed', message: awkward } } satisfies VnodeFailed,
  ];
  const back = repliesRoundTrip(replies);
  t.deepEqual(back, replies);
  t.true('object' in back[1]!, 'a get reply keeps its object key when the object is absent');
  t.false('changed' in back[5]!);
});

test('failures round-trip with every error code', (t) => {
  const codes: KvErrorCode[] = [
    'invalid_request',
    'unknown_bucket_type',
    'key_too_large',
    'value_too_large',
    'too_many_siblings',
    'object_too_large',
    'precondition_failed',
    'overload',
    'timeout',
    'insufficient_vnodes',
    'worker_unavailable',
    'storage_failed',
    'shutting_down',
  ];
  const replies: VnodeFailed[] = codes.map((code, i) => ({ type: 'VnodeFailed', requestId: i, partition: i, error: { code, message: `${code}: ${'x'.repeat(i * 10)}` } }));
  t.deepEqual(repliesRoundTrip(replies), replies);
});

test('decoded reply objects are copies that do not keep the batch alive', (t) => {
  const batch = encodeReplies([
    { type: 'VnodeGetReply', requestId: 1, partition: 2, object: large(300) },
    { type: 'VnodePutApplied', requestId: 1, partition: 2, object: large(64 * 1024) },
  ]);
  for (const reply of decodeReplies(batch)) {
    const object = (reply as VnodeGetReply | VnodePutApplied).object!;
    t.not(object.buffer, batch.bin);
    t.is(object.constructor, Uint8Array, 'a plain Uint8Array, whose slice() copies, as a structured clone gave');
  }
});

test('mixed batches keep their order, the unpacked messages travelling beside the buffer', (t) => {
  const list: VnodeList = { type: 'VnodeList', requestId: 20, partition: 3, bucketType: 'default', bucket: undefined };
  const reap: VnodeReap = { type: 'VnodeReap', requestId: 21, partition: 3, storageKey: bytes(1), object: bytes(2) };
  const counterPut: VnodePut = { ...barePut, partition: 3, op: { datatype: 'counter', increment: 5, adds: [], removes: [], context: undefined } };
  const requests: VnodeRequest[] = [list, get, counterPut, { ...get, partition: 3 }, reap, fullPut, barePut, reap];
  const batch = encodeRequests(requests);
  t.deepEqual(batch.others, [list, counterPut, reap, reap]);
  t.deepEqual(decodeRequests(batch), requests);

  const chunk: VnodeListChunk = { type: 'VnodeListChunk', requestId: 20, partition: 3, items: [bytes(1), bytes(2)], done: false };
  const reaped: VnodeReapReply = { type: 'VnodeReapReply', requestId: 21, partition: 3, removed: true };
  const applied: VnodePutApplied = { type: 'VnodePutApplied', requestId: 22, partition: 3, object: bytes(3) };
  const durable: VnodePutReply = { type: 'VnodePutReply', requestId: 22, partition: 3 };
  const replies: VnodeReply[] = [chunk, applied, reaped, durable, { ...chunk, done: true }];
  const replyBatch = encodeReplies(replies);
  t.deepEqual(replyBatch.others, [chunk, reaped, { ...chunk, done: true }]);
  t.deepEqual(decodeReplies(replyBatch), replies);
});

test('empty batches and batches of only unpacked messages round-trip', (t) => {
  t.deepEqual(requestsRoundTrip([]), []);
  t.deepEqual(repliesRoundTrip([]), []);
  const reap: VnodeReap = { type: 'VnodeReap', requestId: 1, partition: 0, storageKey: bytes(1), object: bytes(2) };
  t.deepEqual(requestsRoundTrip([reap, reap]), [reap, reap]);
});

test('a partition that is not a u32 is refused when packing, not wrapped', (t) => {
  t.throws(() => encodeRequests([{ ...get, partition: -1 }]), { message: /is packed as a u32/ });
  t.throws(() => encodeReplies([{ type: 'VnodePutReply', requestId: 1, partition: 1.5 }]), { message: /is packed as a u32/ });
});

// ---- Properties

const arbBytes = fc.oneof({ weight: 4, arbitrary: fc.uint8Array({ maxLength: 40 }) }, { weight: 1, arbitrary: fc.uint8Array({ minLength: 1000, maxLength: 5000 }) });
/** Any UTF-16 code units, lone surrogates included. */
const arbString = fc.oneof(fc.string({ unit: 'binary', maxLength: 20 }), fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)), maxLength: 20 }));
const arbPartition = fc.integer({ min: 0, max: 0xffff_ffff });
const arbNumber = fc.oneof(fc.integer(), fc.maxSafeInteger(), fc.double());

const arbHead = { requestId: arbNumber, partition: arbPartition };

const arbGet: fc.Arbitrary<VnodeRequest> = fc.record(
  { type: fc.constant('VnodeGet' as const), ...arbHead, storageKey: arbBytes, fallback: fc.boolean() },
  { requiredKeys: ['type', 'requestId', 'partition', 'storageKey'] },
);

const arbReplicate: fc.Arbitrary<VnodeRequest> = fc.record(
  { type: fc.constant('VnodeReplicate' as const), ...arbHead, storageKey: arbBytes, object: arbBytes, fallback: fc.boolean() },
  { requiredKeys: ['type', 'requestId', 'partition', 'storageKey', 'object'] },
);

const arbPut: fc.Arbitrary<VnodeRequest> = fc.record(
  {
    type: fc.constant('VnodePut' as const),
    ...arbHead,
    storageKey: arbBytes,
    context: fc.array(fc.record({ actor: arbString, counter: arbNumber }), { maxLength: 4 }),
    content: fc.record({ value: arbBytes, contentType: arbString, userMeta: fc.array(fc.record({ key: arbString, value: arbString }), { maxLength: 3 }) }),
    deleted: fc.boolean(),
    nowMs: arbNumber,
    ifNoneMatch: fc.boolean(),
    ifNotModified: fc.boolean(),
    maxSiblings: arbNumber,
    maxObjectBytes: arbNumber,
    lastWriteWins: fc.boolean(),
    allowMult: fc.boolean(),
    localReplicas: fc.array(arbPartition, { maxLength: 4 }),
    fallback: fc.boolean(),
    expiresAtMs: arbNumber,
    ifPresent: fc.boolean(),
  },
  {
    requiredKeys: ['type', 'requestId', 'partition', 'storageKey', 'context', 'content', 'deleted', 'nowMs', 'ifNoneMatch', 'ifNotModified', 'maxSiblings', 'lastWriteWins', 'allowMult', 'localReplicas'],
  },
);

const arbUnpackedRequest: fc.Arbitrary<VnodeRequest> = fc.oneof(
  fc.record({ type: fc.constant('VnodeList' as const), ...arbHead, bucketType: arbString, bucket: fc.option(arbBytes, { nil: undefined }) }),
  fc.record({ type: fc.constant('VnodeReap' as const), ...arbHead, storageKey: arbBytes, object: arbBytes }),
  arbPut.map((put) => ({ ...(put as VnodePut), op: { datatype: 'set' as const, increment: 0, adds: [Uint8Array.of(1)], removes: [], context: undefined } })),
);

const arbRequests = fc.array(fc.oneof(arbGet, arbReplicate, arbPut, arbUnpackedRequest), { maxLength: 40 });

const arbErrorCode = fc.constantFrom<KvErrorCode>('overload', 'timeout', 'storage_failed', 'shutting_down', 'precondition_failed', 'too_many_siblings');

const arbReply: fc.Arbitrary<VnodeReply> = fc.oneof(
  fc.record({ type: fc.constant('VnodeGetReply' as const), ...arbHead, object: fc.option(arbBytes, { nil: undefined }) }),
  fc.record({ type: fc.constant('VnodePutApplied' as const), ...arbHead, object: arbBytes }),
  fc.record({ type: fc.constant('VnodePutReply' as const), ...arbHead }),
  fc.record({ type: fc.constant('VnodeReplicateReply' as const), ...arbHead, changed: fc.boolean() }, { requiredKeys: ['type', 'requestId', 'partition'] }),
  fc.record({ type: fc.constant('VnodeFailed' as const), ...arbHead, error: fc.record({ code: arbErrorCode, message: arbString }) }),
  fc.record({ type: fc.constant('VnodeListChunk' as const), ...arbHead, items: fc.array(arbBytes, { maxLength: 3 }), done: fc.boolean() }),
  fc.record({ type: fc.constant('VnodeReapReply' as const), ...arbHead, removed: fc.boolean() }),
);

const arbReplies = fc.array(arbReply, { maxLength: 40 });

test('any batch of requests decodes to exactly the requests encoded, in order', (t) => {
  fc.assert(
    fc.property(arbRequests, (requests) => {
      t.deepEqual(requestsRoundTrip(requests), requests);
    }),
    { numRuns: 300 },
  );
});

test('any batch of replies decodes to exactly the replies encoded, in order', (t) => {
  fc.assert(
    fc.property(arbReplies, (replies) => {
      t.deepEqual(repliesRoundTrip(replies), replies);
    }),
    { numRuns: 300 },
  );
});

// ---- Corruption: never between our own threads, but it must fail loudly, not mis-decode quietly

test('a truncated or padded batch is refused with a clear error', (t) => {
  fc.assert(
    fc.property(arbRequests, arbReplies, fc.nat(), (requests, replies, cut) => {
      for (const [batch, decode] of [
        [encodeRequests(requests), decodeRequests],
        [encodeReplies(replies), decodeReplies],
      ] as const) {
        const whole = new Uint8Array(batch.bin);
        const truncated = whole.slice(0, cut % whole.length).buffer;
        t.throws(() => decode({ bin: truncated, others: batch.others as never[] }), { instanceOf: BatchDecodeError, message: /corrupt vnode message batch.*truncated/ });
        const padded = Uint8Array.of(...whole, 0).buffer;
        t.throws(() => decode({ bin: padded, others: batch.others as never[] }), { instanceOf: BatchDecodeError });
      }
    }),
    { numRuns: 100 },
  );
});

test('a mutated batch either decodes or is refused with a BatchDecodeError, never anything else', (t) => {
  fc.assert(
    fc.property(arbRequests, arbReplies, fc.nat(), fc.nat(255), (requests, replies, at, byte) => {
      for (const [batch, decode] of [
        [encodeRequests(requests), decodeRequests],
        [encodeReplies(replies), decodeReplies],
      ] as const) {
        const mutated = new Uint8Array(batch.bin).slice();
        mutated[at % mutated.length] = byte;
        try {
          decode({ bin: mutated.buffer, others: batch.others as never[] });
        } catch (error) {
          t.true(error instanceof BatchDecodeError, String(error));
        }
      }
    }),
    { numRuns: 300 },
  );
});

test('corrupt headers, tags, flags and placeholders name what is wrong', (t) => {
  const batch = encodeRequests([get]);
  const withByte = (offset: number, value: number): ArrayBuffer => {
    const copy = new Uint8Array(batch.bin).slice();
    copy[offset] = value;
    return copy.buffer;
  };
  t.throws(() => decodeRequests({ bin: withByte(0, 0), others: [] }), { instanceOf: BatchDecodeError, message: /unknown batch format/ });
  t.throws(() => decodeRequests({ bin: withByte(8, 77), others: [] }), { instanceOf: BatchDecodeError, message: /unknown request tag 77/ });
  t.throws(() => decodeRequests({ bin: withByte(21, 3), others: [] }), { instanceOf: BatchDecodeError, message: /get fallback is 3/ });
  t.throws(() => decodeRequests({ bin: withByte(4, 2), others: [] }), { instanceOf: BatchDecodeError, message: /truncated/ });
  t.throws(() => decodeRequests({ bin: withByte(8, 0), others: [] }), { instanceOf: BatchDecodeError, message: /placeholder/ });
  t.throws(() => decodeRequests({ bin: batch.bin, others: [get] }), { instanceOf: BatchDecodeError, message: /1 unpacked messages came with the batch, but it has 0 placeholders/ });
  t.throws(() => decodeRequests({ bin: new ArrayBuffer(0), others: [] }), { instanceOf: BatchDecodeError, message: /batch magic needs 4 bytes/ });
  const failed = encodeReplies([{ type: 'VnodeFailed', requestId: 1, partition: 1, error: { code: 'overload', message: '' } }]);
  const badCode = new Uint8Array(failed.bin).slice();
  badCode[21] = 200;
  t.throws(() => decodeReplies({ bin: badCode.buffer, others: [] }), { instanceOf: BatchDecodeError, message: /unknown error code id 200/ });
});
