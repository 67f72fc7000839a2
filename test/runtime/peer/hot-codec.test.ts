// The hand-written codec of the hot peer messages against the reflection codec it stands in for:
// the same bytes out for every message, the same objects back from every valid frame (down to which
// optional fields are present and which buffer each byte field is a view into), and the same
// decision — with the same error — for every malformed message and every damaged frame.

import test, { type ExecutionContext } from 'ava';
import fc from 'fast-check';
import type { KvErrorCode } from '../../../src/core/errors.js';
import type { VnodeReply, VnodeRequest } from '../../../src/core/messages.js';
import { PeerCodecError, decodePeerFrame, decodePeerFrameReflect, encodePeerMessage, encodePeerMessageReflect } from '../../../src/runtime/peer/codec.js';
import { decodeHotFrame, encodeHotMessage } from '../../../src/runtime/peer/hot-codec.js';
import { kvErrorCodes } from '../../../src/core/errors.js';
import type { PeerMessage } from '../../../src/runtime/peer/messages.js';
import { barePut, vnodeMessageArbitraries } from '../vnode-messages.js';

// ---------------------------------------------------------------------------------------------
// Messages

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
const request = (request: VnodeRequest): PeerMessage => ({ kind: 'vnodeRequest', request });
const reply = (reply: VnodeReply): PeerMessage => ({ kind: 'vnodeReply', reply });

/** Integers where the varint and zigzag encodings change length or need both 32-bit halves. */
const edgeInts = [
  0, 1, -1, 63, -64, 64, -65, 2 ** 30 - 1, 2 ** 30, -(2 ** 30), -(2 ** 30) - 1, 2 ** 31, -(2 ** 31), 2 ** 32, -(2 ** 32), 2 ** 52 - 1, 2 ** 52,
  -(2 ** 52), -(2 ** 52) - 1, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER,
];
const edgeUints = [0, 1, 127, 128, 2 ** 14, 2 ** 28 - 1, 2 ** 28, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 35, 2 ** 49, 2 ** 52, Number.MAX_SAFE_INTEGER];
const edgeUint32s = [0, 127, 128, 2 ** 14, 2 ** 21, 2 ** 28, 2 ** 31, 0xffff_ffff];

const basicPut = (requestId: number): Extract<VnodeRequest, { type: 'VnodePut' }> => barePut(requestId, 4, bytes('key'));

/** Every hot message type, each optional field present (true and false, empty and not) and absent. */
function samples(): PeerMessage[] {
  const out: PeerMessage[] = [{ kind: 'heartbeat' }];
  for (const fallback of [undefined, false, true]) {
    const withFallback = fallback === undefined ? {} : { fallback };
    out.push(request({ type: 'VnodeGet', requestId: 7, partition: 3, storageKey: bytes('k'), ...withFallback }));
    out.push(request({ type: 'VnodeReplicate', requestId: -7, partition: 0, storageKey: new Uint8Array(0), object: bytes('obj'), ...withFallback }));
    out.push(request({ ...basicPut(1), ...withFallback }));
  }
  out.push(
    request({
      ...basicPut(-2),
      storageKey: new Uint8Array(300).fill(7),
      context: [
        { actor: 'a', counter: 1 },
        { actor: 'b', counter: 2 ** 40 },
        { actor: 'é☃😀', counter: Number.MAX_SAFE_INTEGER },
      ],
      content: { value: bytes('v'.repeat(200)), contentType: 'text/plain; charset=ütf-8', userMeta: [{ key: 'x', value: 'y' }, { key: '', value: '😀'.repeat(30) }] },
      deleted: true,
      nowMs: 1_700_000_000_123,
      ifNoneMatch: true,
      ifNotModified: true,
      maxSiblings: 0xffff_ffff,
      lastWriteWins: true,
      allowMult: true,
      localReplicas: [0, 5, 300, 0xffff_ffff],
      fallback: true,
      op: { datatype: 'set', increment: 0, adds: [bytes('a'), new Uint8Array(0)], removes: [bytes('b')], context: bytes('ctx') },
      maxObjectBytes: 0,
      expiresAtMs: 1_800_000_000_000,
      ifPresent: true,
    }),
    request({ ...basicPut(5), ifPresent: false }),
    request({ ...basicPut(3), op: { datatype: 'counter', increment: -5, adds: [], removes: [], context: undefined } }),
    request({ ...basicPut(4), op: { datatype: 'set', increment: 0, adds: [], removes: [], context: new Uint8Array(0) }, maxObjectBytes: 2 ** 20 }),
    request({ ...basicPut(5), expiresAtMs: 0 }),
    request({ ...basicPut(6), nowMs: -1 }),
    request({ ...basicPut(6), nowMs: Number.MIN_SAFE_INTEGER }),
    request({ ...basicPut(6), nowMs: -(2 ** 32) }),
  );
  for (const requestId of edgeInts) out.push(request({ type: 'VnodeGet', requestId, partition: 1, storageKey: bytes('k') }));
  for (const partition of edgeUint32s) out.push(reply({ type: 'VnodePutReply', requestId: 1, partition }));
  for (const counter of edgeUints) out.push(request({ ...basicPut(8), context: [{ actor: 'a', counter: Math.max(1, counter) }], maxObjectBytes: counter, expiresAtMs: counter }));
  for (const increment of edgeInts) out.push(request({ ...basicPut(9), op: { datatype: 'counter', increment, adds: [], removes: [], context: undefined } }));
  out.push(
    reply({ type: 'VnodeGetReply', requestId: 1, partition: 1, object: undefined }),
    reply({ type: 'VnodeGetReply', requestId: 1, partition: 1, object: new Uint8Array(0) }),
    reply({ type: 'VnodeGetReply', requestId: 1, partition: 1, object: new Uint8Array(20_000).fill(1) }),
    reply({ type: 'VnodePutApplied', requestId: -1, partition: 2, object: new Uint8Array(0) }),
    reply({ type: 'VnodePutApplied', requestId: -1, partition: 2, object: bytes('applied') }),
    reply({ type: 'VnodePutReply', requestId: 0, partition: 0 }),
    reply({ type: 'VnodeReplicateReply', requestId: 2, partition: 2 }),
    reply({ type: 'VnodeReplicateReply', requestId: 2, partition: 2, changed: false }),
    reply({ type: 'VnodeReplicateReply', requestId: 2, partition: 2, changed: true }),
  );
  for (const code of kvErrorCodes) out.push(reply({ type: 'VnodeFailed', requestId: 3, partition: 3, error: { code, message: `${code}: ✗` } }));
  out.push(reply({ type: 'VnodeFailed', requestId: 3, partition: 3, error: { code: 'timeout', message: '' } }));
  return out;
}

/** Messages decodePeerFrame leaves to reflection, to mix in. */
const coldSamples: PeerMessage[] = [
  { kind: 'gossip', state: bytes('ring') },
  request({ type: 'VnodeList', requestId: 1, partition: 7, bucketType: 'default', bucket: undefined }),
  reply({ type: 'VnodeListChunk', requestId: 1, partition: 1, items: [bytes('a'), new Uint8Array(0)], done: true }),
  { kind: 'handoffAck', transferId: 't', partition: 9, seq: 3, error: 'disk full' },
  { kind: 'control', requestId: -4, body: bytes('{}') },
];

const arbBytes = fc.oneof(fc.uint8Array({ maxLength: 24 }), fc.uint8Array({ minLength: 120, maxLength: 300 }));
const arbString = fc.oneof(fc.string({ unit: 'binary', maxLength: 10 }), fc.string({ unit: 'binary', minLength: 30, maxLength: 80 }));
const arbInt = fc.oneof(fc.constantFrom(...edgeInts), fc.integer(), fc.maxSafeInteger());
const arbUint = fc.oneof(fc.constantFrom(...edgeUints), fc.maxSafeNat());
const arbUint32 = fc.oneof(fc.constantFrom(...edgeUint32s), fc.nat({ max: 0xffff_ffff }));
const vnode = vnodeMessageArbitraries({ bytes: arbBytes, string: arbString, int: arbInt, uint: arbUint, uint32: arbUint32 });
const arbHotRequest: fc.Arbitrary<VnodeRequest> = fc.oneof(vnode.get, vnode.put, vnode.replicate);
const arbHotReply: fc.Arbitrary<VnodeReply> = vnode.reply;

const arbHot: fc.Arbitrary<PeerMessage> = fc.oneof(
  arbHotRequest.map(request),
  arbHotReply.map(reply),
  fc.constant<PeerMessage>({ kind: 'heartbeat' }),
);

/** Mostly hot messages, some cold ones among them. */
const arbMixed: fc.Arbitrary<PeerMessage> = fc.oneof({ arbitrary: arbHot, weight: 4 }, { arbitrary: fc.constantFrom(...coldSamples), weight: 1 });

// ---------------------------------------------------------------------------------------------
// Comparing the two paths

/**
 * Where two decodings differ, or undefined: the same keys in the same order (an own `undefined`
 * is not an absent key), the same numbers, and byte fields of the same class viewing the same
 * bytes of the same buffer.
 */
function difference(actual: unknown, expected: unknown, path = '$'): string | undefined {
  if (expected instanceof Uint8Array) {
    if (!(actual instanceof Uint8Array)) return `${path}: not bytes`;
    if (actual.constructor !== expected.constructor) return `${path}: ${actual.constructor.name} instead of ${expected.constructor.name}`;
    if (actual.buffer !== expected.buffer || actual.byteOffset !== expected.byteOffset || actual.length !== expected.length) return `${path}: another view`;
    return undefined;
  }
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual) || actual.length !== expected.length) return `${path}: another array`;
    for (let i = 0; i < expected.length; i++) {
      const inner = difference(actual[i], expected[i], `${path}[${i}]`);
      if (inner !== undefined) return inner;
    }
    return undefined;
  }
  if (typeof expected === 'object' && expected !== null) {
    if (typeof actual !== 'object' || actual === null) return `${path}: not an object`;
    const keys = Object.keys(expected);
    if (Object.keys(actual).join() !== keys.join()) return `${path}: keys ${Object.keys(actual).join()} instead of ${keys.join()}`;
    for (const key of keys) {
      const inner = difference((actual as Record<string, unknown>)[key], (expected as Record<string, unknown>)[key], `${path}.${key}`);
      if (inner !== undefined) return inner;
    }
    return undefined;
  }
  return Object.is(actual, expected) ? undefined : `${path}: ${String(actual)} instead of ${String(expected)}`;
}

type Outcome<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: string };

function outcome<T>(run: () => T): Outcome<T> {
  try {
    return { ok: true, value: run() };
  } catch (error) {
    if (!(error instanceof PeerCodecError)) throw error;
    return { ok: false, error: error.message };
  }
}

/**
 * How decodePeerFrame decides `frame` otherwise than reflection, or undefined when it decides
 * alike: the same messages, or the same error. The hand-written path on its own (decodeHotFrame)
 * must never accept what reflection refuses, nor decode anything otherwise.
 */
function decodeDifference(frame: Uint8Array): string | undefined {
  const expected = outcome(() => decodePeerFrameReflect(frame));
  const actual = outcome(() => decodePeerFrame(frame));
  const hex = Buffer.from(frame).toString('hex');
  if (expected.ok !== actual.ok) return `${hex}: ${actual.ok ? 'accepted' : 'refused'} instead of ${expected.ok ? 'accepted' : 'refused'}`;
  if (!expected.ok && !actual.ok && actual.error !== expected.error) return `${hex}: error "${actual.error}" instead of "${expected.error}"`;
  if (expected.ok && actual.ok) {
    const inner = difference(actual.value, expected.value);
    if (inner !== undefined) return `${hex}: ${inner}`;
  }
  const hot = outcome(() => decodeHotFrame(frame, decodePeerFrameReflect));
  if (hot.ok && hot.value !== undefined) {
    if (!expected.ok) return `${hex}: the hand-written decoder accepts what reflection refuses`;
    const inner = difference(hot.value, expected.value);
    if (inner !== undefined) return `${hex}: by hand, ${inner}`;
  }
  return undefined;
}

/** Asserts that both paths decide `frame` alike; returns reflection's decision. */
function decodesAlike(t: ExecutionContext, frame: Uint8Array): Outcome<PeerMessage[]> {
  t.is(decodeDifference(frame), undefined);
  return outcome(() => decodePeerFrameReflect(frame));
}

/** Both byte classes protobufjs reads differently (Buffer with Node's UTF-8 decoder, Uint8Array with its own). */
function bothClasses(frame: Uint8Array): Uint8Array[] {
  return [Buffer.from(frame), new Uint8Array(frame)];
}

/** A frame of `messages` as reflection writes it, so that no decoding test leans on the hand-written encoder. */
function frameOf(messages: readonly PeerMessage[]): Uint8Array {
  return Buffer.concat(messages.map(encodePeerMessageReflect));
}

// ---------------------------------------------------------------------------------------------
// Encoding

test('every hot message, each optional field present and absent, encodes to the bytes reflection writes', (t) => {
  for (const message of samples()) {
    const expected = encodePeerMessageReflect(message);
    const hot = encodeHotMessage(message);
    t.truthy(hot, `${JSON.stringify(message.kind)} is encoded by hand`);
    t.deepEqual(Buffer.from(hot!), Buffer.from(expected), JSON.stringify(message, (_key, value: unknown) => (value instanceof Uint8Array ? `bytes(${value.length})` : value)));
    t.true(Buffer.isBuffer(encodePeerMessage(message)));
  }
});

test('other kinds are left to reflection', (t) => {
  for (const message of coldSamples) t.is(encodeHotMessage(message), undefined);
});

test('property: generated hot messages encode to the bytes reflection writes', (t) => {
  fc.assert(
    fc.property(arbHot, (message) => {
      t.deepEqual(Buffer.from(encodePeerMessage(message)), Buffer.from(encodePeerMessageReflect(message)));
    }),
    { numRuns: 3000 },
  );
});

// A field replaced by a value of the wrong kind, missing, or out of range: both encoders refuse it
// with the same PeerCodecError, or both accept it and write the same bytes.
const badValues: unknown[] = [
  undefined, null, 'x', '', 'a\uD800b', '\uDC00', 1.5, -1, 0, 2 ** 32, 2 ** 53, -(2 ** 53), NaN, Infinity, true, false, {}, [], [1], ['x'], [{}], [null],
  [new Uint8Array(1)], [{ actor: 'b', counter: 1 }, { actor: 'a', counter: 1 }], [{ actor: 'a', counter: 0 }], [{ key: 'k' }], [{ key: 'k', value: 'v' }],
  new Uint8Array(1), Buffer.from('b'), 'counter', 'set', 'gauge', 'overload', 10n, { code: 'nope', message: 'm' }, { code: 'timeout' },
];
const fieldPaths = [
  [], ['requestId'], ['partition'], ['storageKey'], ['object'], ['fallback'], ['changed'], ['error'], ['error', 'code'], ['error', 'message'],
  ['context'], ['context', 0], ['context', 0, 'actor'], ['context', 0, 'counter'], ['content'], ['content', 'value'], ['content', 'contentType'],
  ['content', 'userMeta'], ['content', 'userMeta', 0], ['content', 'userMeta', 0, 'key'], ['content', 'userMeta', 0, 'value'], ['deleted'], ['nowMs'],
  ['ifNoneMatch'], ['ifNotModified'], ['maxSiblings'], ['lastWriteWins'], ['allowMult'], ['localReplicas'], ['localReplicas', 0], ['op'],
  ['op', 'datatype'], ['op', 'increment'], ['op', 'adds'], ['op', 'adds', 0], ['op', 'removes'], ['op', 'removes', 0], ['op', 'context'],
  ['maxObjectBytes'], ['expiresAtMs'], ['ifPresent'],
] as const;

/** A copy of `value` with the field at `path` set to `replacement` (intermediate objects created as needed). */
function replaced(value: unknown, path: readonly (string | number)[], replacement: unknown): unknown {
  if (path.length === 0) return replacement;
  const [head, ...rest] = path;
  if (Array.isArray(value)) {
    const copy: unknown[] = [...(value as unknown[])];
    copy[head as number] = replaced(copy[head as number], rest, replacement);
    return copy;
  }
  const copy: Record<string | number, unknown> = typeof value === 'object' && value !== null ? { ...value } : {};
  copy[head!] = replaced(copy[head!], rest, replacement);
  return copy;
}

test('property: a malformed hot message is refused by both encoders with the same error', (t) => {
  const messages = samples().filter((message) => message.kind !== 'heartbeat') as Extract<PeerMessage, { kind: 'vnodeRequest' | 'vnodeReply' }>[];
  fc.assert(
    fc.property(fc.constantFrom(...messages), fc.constantFrom(...fieldPaths), fc.constantFrom(...badValues), (message, path, bad) => {
      const broken = (message.kind === 'vnodeRequest'
        ? { ...message, request: replaced(message.request, path, bad) }
        : { ...message, reply: replaced(message.reply, path, bad) }) as unknown as PeerMessage;
      const expected = outcome(() => Buffer.from(encodePeerMessageReflect(broken)));
      t.deepEqual(outcome(() => Buffer.from(encodePeerMessage(broken))), expected);
    }),
    { numRuns: 6000 },
  );
});

test('the errors of a malformed hot message name the field, as before', (t) => {
  const put = samples().find((message) => message.kind === 'vnodeRequest' && message.request.type === 'VnodePut') as Extract<PeerMessage, { kind: 'vnodeRequest' }>;
  const refused = (message: unknown, pattern: RegExp): void => {
    const error = t.throws(() => encodePeerMessage(message as PeerMessage), { instanceOf: PeerCodecError });
    t.regex(error?.message ?? '', pattern);
  };
  refused({ ...put, request: { ...put.request, nowMs: 2 ** 60 } }, /^cannot encode peer message: vnodePut\.nowMs: expected an integer in \[-9007199254740991, 9007199254740991\], got 1152921504606847000$/);
  refused({ ...put, request: { ...put.request, context: [{ actor: 'a', counter: 1 }, { actor: 'a\uDC00', counter: 1 }] } }, /vnodePut\.context\[1\]\.actor: not valid Unicode/);
  refused({ ...put, request: { ...put.request, localReplicas: [1, -1] } }, /vnodePut\.localReplicas\[1\]: expected an integer/);
  refused(reply({ type: 'VnodeFailed', requestId: 1, partition: 1, error: { code: 'oops' as KvErrorCode, message: '' } }), /vnodeFailed\.error: unknown error code "oops"/);
  refused(request({ type: 'VnodeGet', requestId: 1, partition: 1 } as unknown as VnodeRequest), /vnodeGet\.storageKey is missing/);
});

// ---------------------------------------------------------------------------------------------
// Decoding

test('every hot message decodes by hand to what reflection decodes, as Buffer and as Uint8Array', (t) => {
  for (const message of samples()) {
    for (const frame of bothClasses(encodePeerMessageReflect(message))) {
      t.true(decodedByHand(frame));
      decodesAlike(t, frame);
      t.deepEqual(decodePeerFrame(frame), decodePeerFrameReflect(frame));
    }
  }
});

test('byte fields are views into the frame, not copies', (t) => {
  const frame = Buffer.from(encodePeerMessageReflect(request({ type: 'VnodeReplicate', requestId: 1, partition: 1, storageKey: bytes('key'), object: bytes('object') })));
  const [decoded] = decodePeerFrame(frame) as Extract<PeerMessage, { kind: 'vnodeRequest' }>[];
  const replicate = decoded!.request as Extract<VnodeRequest, { type: 'VnodeReplicate' }>;
  t.is(replicate.object.buffer, frame.buffer);
  frame[frame.length - 1] = 0x21;
  t.is(Buffer.from(replicate.object).toString(), 'objec!');
});

test('a frame of hot and cold messages decodes in order, the cold ones by reflection', (t) => {
  const messages = [...samples().slice(0, 5), coldSamples[0]!, ...samples().slice(5, 8), ...coldSamples.slice(1), { kind: 'heartbeat' } as const];
  for (const frame of bothClasses(frameOf(messages))) {
    const left: PeerMessage[] = [];
    decodeHotFrame(frame, (envelope) => {
      const decoded = decodePeerFrameReflect(envelope);
      left.push(...decoded);
      return decoded;
    });
    t.deepEqual(
      left.map((message) => message.kind),
      coldSamples.map((message) => message.kind),
    );
    const decoded = decodesAlike(t, frame);
    t.true(decoded.ok);
    t.is(decoded.ok ? decoded.value.length : 0, messages.length);
  }
  t.deepEqual(decodePeerFrame(new Uint8Array(0)), []);
});

test('property: frames of generated messages decode alike by both paths', (t) => {
  fc.assert(
    fc.property(fc.array(arbMixed, { maxLength: 6 }), (messages) => {
      for (const frame of bothClasses(frameOf(messages))) t.true(decodesAlike(t, frame).ok);
    }),
    { numRuns: 2000 },
  );
});

type Mutation =
  | { readonly op: 'truncate'; readonly at: number }
  | { readonly op: 'set'; readonly at: number; readonly byte: number }
  | { readonly op: 'insert'; readonly at: number; readonly bytes: readonly number[] }
  | { readonly op: 'delete'; readonly at: number; readonly count: number }
  | { readonly op: 'repeat'; readonly at: number; readonly count: number };

const interestingBytes = fc.oneof(fc.integer({ min: 0, max: 255 }), fc.constantFrom(0x00, 0x01, 0x02, 0x07, 0x08, 0x0a, 0x10, 0x12, 0x1a, 0x22, 0x2a, 0x7f, 0x80, 0x81, 0xff));
const arbMutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('set' as const), at: fc.nat(), byte: interestingBytes }),
  fc.record({ op: fc.constant('insert' as const), at: fc.nat(), bytes: fc.array(interestingBytes, { minLength: 1, maxLength: 4 }) }),
  fc.record({ op: fc.constant('delete' as const), at: fc.nat(), count: fc.integer({ min: 1, max: 3 }) }),
  fc.record({ op: fc.constant('repeat' as const), at: fc.nat(), count: fc.integer({ min: 1, max: 12 }) }),
);

function mutate(frame: Uint8Array, mutation: Mutation): Uint8Array {
  const bytes = [...frame];
  const at = bytes.length === 0 ? 0 : mutation.at % (bytes.length + (mutation.op === 'insert' ? 1 : 0));
  switch (mutation.op) {
    case 'truncate':
      return Uint8Array.from(bytes.slice(0, at));
    case 'set':
      if (bytes.length > 0) bytes[at] = mutation.byte;
      return Uint8Array.from(bytes);
    case 'insert':
      bytes.splice(at, 0, ...mutation.bytes);
      return Uint8Array.from(bytes);
    case 'delete':
      bytes.splice(at, mutation.count);
      return Uint8Array.from(bytes);
    case 'repeat':
      bytes.splice(at, 0, ...bytes.slice(at, at + mutation.count));
      return Uint8Array.from(bytes);
  }
}

test('property: mutated and truncated frames are accepted or refused alike, with the same error', (t) => {
  let refused = 0;
  fc.assert(
    fc.property(fc.array(arbMixed, { minLength: 1, maxLength: 3 }), fc.array(arbMutation, { minLength: 1, maxLength: 3 }), (messages, mutations) => {
      const frame = mutations.reduce(mutate, frameOf(messages));
      for (const bytes of bothClasses(frame)) if (!decodesAlike(t, bytes).ok) refused++;
    }),
    { numRuns: 6000 },
  );
  t.true(refused > 1000, `only ${refused} frames refused: the mutations hardly test refusal`);
});

test('every prefix of a frame is decided alike', (t) => {
  const frame = frameOf([...samples().slice(0, 12), ...coldSamples.slice(0, 2), ...samples().slice(-8)]);
  for (let end = 0; end < frame.length; end++) for (const bytes of bothClasses(frame.subarray(0, end))) decodesAlike(t, bytes);
});

// ---------------------------------------------------------------------------------------------
// Hand-made frames: what reflection accepts although this encoder never writes it

/** A tiny protobuf writer for hand-made frames (bigint varints, any length). */
class Wire {
  readonly out: number[] = [];

  varint(value: bigint | number, padTo = 0): this {
    let rest = BigInt(value);
    const start = this.out.length;
    do {
      this.out.push(Number(rest & 0x7fn) | 0x80);
      rest >>= 7n;
    } while (rest > 0n);
    while (this.out.length - start < padTo) this.out.push(0x80); // a non-minimal encoding: zero groups
    this.out[this.out.length - 1]! &= 0x7f;
    return this;
  }

  tag(field: number, wireType: number): this {
    return this.varint((BigInt(field) << 3n) | BigInt(wireType));
  }

  field(field: number, value: bigint | number, padTo = 0): this {
    return this.tag(field, 0).varint(value, padTo);
  }

  delimited(field: number, body: Wire | Uint8Array | string): this {
    const content = body instanceof Wire ? body.out : typeof body === 'string' ? [...Buffer.from(body)] : [...body];
    this.tag(field, 2).varint(content.length);
    this.out.push(...content);
    return this;
  }

  raw(...bytes: number[]): this {
    this.out.push(...bytes);
    return this;
  }

  /** This as the body of envelope arm `arm`, in a frame of its own. */
  framed(arm: number): Uint8Array {
    return Uint8Array.from(new Wire().delimited(1, new Wire().delimited(arm, this)).out);
  }
}

const zigzag = (value: bigint): bigint => (value >= 0n ? value * 2n : -value * 2n - 1n);
const get = (): Wire => new Wire().field(1, zigzag(5n)).field(2, 3).delimited(3, 'key');

/** Whether decodeHotFrame decoded every message of `frame` itself, leaving none to reflection. */
function decodedByHand(frame: Uint8Array): boolean {
  let left = false;
  const decoded = outcome(() =>
    decodeHotFrame(frame, (envelope) => {
      left = true;
      return decodePeerFrameReflect(envelope);
    }),
  );
  return decoded.ok && decoded.value !== undefined && !left;
}

/** `frame` is accepted (or refused) alike by both paths, and decoded by hand when `byHand`. */
function alike(t: ExecutionContext, frame: Uint8Array, expect: 'accepted' | 'refused', byHand = expect === 'accepted'): void {
  for (const bytes of bothClasses(frame)) {
    t.is(decodesAlike(t, bytes).ok, expect === 'accepted');
    t.is(decodedByHand(bytes), byHand);
  }
}

test('unknown fields, and known fields of another wire type, are skipped as reflection skips them', (t) => {
  alike(t, get().field(9, 1n).delimited(10, 'x').tag(11, 1).raw(1, 2, 3, 4, 5, 6, 7, 8).tag(12, 5).raw(1, 2, 3, 4).framed(1), 'accepted');
  alike(t, get().field(2 ** 29 - 1, 2n ** 70n).framed(1), 'accepted'); // the largest field number; a varint of eleven bytes, skipped
  alike(t, get().delimited(1, 'not a varint').framed(1), 'accepted'); // requestId of wire type 2 is skipped; the earlier one stays
  alike(t, new Wire().field(1, 2).delimited(2, 'x').delimited(3, 'key').framed(1), 'refused'); // so partition is missing
  alike(t, get().tag(13, 3).tag(13, 4).framed(1), 'accepted', false); // a group: left to reflection
  alike(t, get().tag(0, 0).raw(0).framed(1), 'refused'); // field number 0
  alike(t, get().tag(9, 6).framed(1), 'refused'); // no wire type 6
  alike(t, get().tag(9, 1).raw(1, 2, 3).framed(1), 'refused'); // a fixed64 cut short
});

test('a repeated scalar keeps the last value, a repeated nested message merges, repeated fields append', (t) => {
  alike(t, get().field(1, zigzag(-9n)).delimited(3, 'other key').field(4, 0).field(4, 7).framed(1), 'accepted');
  const content = (body: Wire): Wire => new Wire().delimited(5, body);
  const putBase = (): Wire =>
    new Wire().field(1, 2).field(2, 1).delimited(3, 'k').field(6, 0).field(7, 5).field(8, 0).field(9, 0).field(10, 1).field(11, 0).field(12, 1);
  const half1 = new Wire().delimited(1, 'value').delimited(3, new Wire().delimited(1, 'a').delimited(2, 'b'));
  const half2 = new Wire().delimited(2, 'text/plain').delimited(3, new Wire().delimited(1, 'c').delimited(2, 'd'));
  alike(t, putBase().raw(...content(half1).out).raw(...content(half2).out).framed(2), 'accepted');
  alike(t, putBase().raw(...content(half1).out).framed(2), 'refused'); // no contentType
  // localReplicas packed, then one unpacked, then packed again
  const replicas = putBase().raw(...content(half1).out, ...content(half2).out).delimited(13, new Wire().varint(1).varint(300)).field(13, 2).delimited(13, new Wire());
  alike(t, replicas.framed(2), 'accepted');
  const op = (body: Wire): Wire => new Wire().delimited(15, body);
  const withOp = putBase().raw(...content(half1).out, ...content(half2).out);
  alike(t, withOp.raw(...op(new Wire().delimited(1, 'set').delimited(3, 'x')).out).raw(...op(new Wire().field(2, 0).delimited(4, 'y').delimited(5, '')).out).framed(2), 'accepted');
  alike(t, putBase().raw(...content(half1).out, ...content(half2).out).raw(...op(new Wire()).out).framed(2), 'refused'); // an empty op has no datatype
  const error = (body: Wire): Wire => new Wire().delimited(3, body);
  const failed = new Wire().field(1, 1).field(2, 1).raw(...error(new Wire().delimited(1, 'timeout')).out).raw(...error(new Wire().delimited(2, 'slow')).out);
  alike(t, failed.framed(10), 'accepted');
});

test('varints are read as protobufjs reads them: padded, ten bytes at most, 64 bits kept', (t) => {
  alike(t, new Wire().field(1, zigzag(5n), 10).field(2, 3, 10).delimited(3, 'k').framed(1), 'accepted'); // ten-byte encodings of small values
  alike(t, new Wire().field(1, zigzag(5n), 11).field(2, 3).delimited(3, 'k').framed(1), 'refused'); // eleven bytes
  alike(t, new Wire().field(1, 1).field(2, 2n ** 32n + 5n).delimited(3, 'k').framed(1), 'accepted'); // uint32 keeps the low 32 bits
  alike(t, new Wire().field(1, 2n ** 64n - 1n).field(2, 1).delimited(3, 'k').framed(1), 'refused'); // sint64 of -2^63: not a safe integer
  alike(t, new Wire().field(1, zigzag(BigInt(Number.MIN_SAFE_INTEGER))).field(2, 1).delimited(3, 'k').framed(1), 'accepted');
  alike(t, new Wire().field(1, zigzag(BigInt(Number.MIN_SAFE_INTEGER) - 1n)).field(2, 1).delimited(3, 'k').framed(1), 'refused');
  alike(t, new Wire().field(1, 1).field(2, 1).delimited(3, 'k').field(4, 2n ** 64n - 2n ** 58n).framed(1), 'accepted'); // a bool is any bit set
  alike(t, new Wire().field(1, 1).field(2, 1).delimited(3, 'k').tag(4, 0).raw(0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x02).framed(1), 'accepted'); // only in bits past 64
  alike(t, new Wire().raw(0x88, 0x80, 0x80, 0x80, 0x00).varint(2).field(2, 1).delimited(3, 'k').framed(1), 'accepted'); // a padded tag, five bytes
  alike(t, new Wire().raw(0x88, 0x80, 0x80, 0x80, 0x80, 0x00).field(2, 1).delimited(3, 'k').framed(1), 'refused'); // a six-byte tag
  alike(t, new Wire().field(1, 1).field(2, 1).tag(3, 2).raw(0x81, 0x80, 0x80, 0x80, 0x08).framed(1), 'refused'); // a length of five bytes over 2^31
  alike(t, new Wire().field(1, 1).field(2, 1).tag(3, 2).raw(0x81, 0x80, 0x80, 0x80, 0x10, 0x6b).framed(1), 'refused'); // a fifth length byte past 32 bits
});

test('unusual envelopes and frames are left to reflection, which decides them as before', (t) => {
  const body = get();
  const envelope = (...arms: [number, Wire][]): Wire => arms.reduce((wire, [arm, armBody]) => wire.delimited(arm, armBody), new Wire());
  const frame = (envelopeWire: Wire): Uint8Array => Uint8Array.from(new Wire().delimited(1, envelopeWire).out);
  alike(t, frame(envelope([11, new Wire().delimited(1, 'gossip')], [1, body])), 'accepted', false); // two arms: the last wins
  alike(t, frame(envelope([1, body], [1, new Wire().field(4, 1)])), 'accepted', false); // one arm twice: merged
  alike(t, frame(envelope([1, body]).field(30, 1)), 'accepted', false); // an unknown envelope field
  alike(t, frame(envelope([16, new Wire().field(1, 1)])), 'accepted', false); // a heartbeat with a field
  alike(t, frame(envelope([24, new Wire()])), 'refused'); // a kind from a newer version
  alike(t, Uint8Array.from(new Wire().field(2, 1).raw(...frame(envelope([1, body]))).out), 'accepted', false); // an unknown frame field
  alike(t, Uint8Array.from([...frame(envelope([1, body])), ...frame(envelope([7, new Wire().field(1, 1)]))]), 'refused'); // a bad second message
});

test('strings that are not UTF-8 decode as protobufjs decodes them, for Buffer and Uint8Array input', (t) => {
  for (const text of [[0xff], [0xc3], [0xed, 0xa0, 0x80], [0xef, 0xbb, 0xbf, 0x61], [0xf0, 0x9f, 0x98], [...Buffer.from('x'.repeat(70)), 0xe2, 0x82]]) {
    const failed = new Wire().field(1, 1).field(2, 1).delimited(3, new Wire().delimited(1, 'overload').delimited(2, Uint8Array.from(text)));
    alike(t, failed.framed(10), 'accepted');
    const put = new Wire().field(1, 2).field(2, 1).delimited(3, 'k').delimited(4, new Wire().delimited(1, Uint8Array.from(text)).field(2, 1));
    put.delimited(5, new Wire().delimited(1, 'v').delimited(2, Uint8Array.from(text))).field(6, 0).field(7, 5).field(8, 0).field(9, 0).field(10, 1).field(11, 0).field(12, 1);
    alike(t, put.framed(2), 'accepted');
  }
});

// ---------------------------------------------------------------------------------------------
// Every hot message taken apart field by field: each field left out, repeated, given other
// values and other wire types, in nested messages too

interface WireField {
  readonly field: number;
  readonly wireType: 0 | 2;
  readonly value: bigint | Uint8Array;
}

/** The fields of a message as this encoder writes it (varints and length-delimited fields only). */
function fieldsOf(body: Uint8Array): WireField[] {
  const fields: WireField[] = [];
  let pos = 0;
  const varint = (): bigint => {
    let value = 0n;
    for (let shift = 0n; ; shift += 7n) {
      const byte = body[pos++]!;
      value |= BigInt(byte & 0x7f) << shift;
      if (byte < 0x80) return value;
    }
  };
  while (pos < body.length) {
    const tag = Number(varint());
    if ((tag & 7) === 0) {
      fields.push({ field: tag >>> 3, wireType: 0, value: varint() });
    } else {
      const length = Number(varint());
      fields.push({ field: tag >>> 3, wireType: 2, value: body.subarray(pos, pos + length) });
      pos += length;
    }
  }
  return fields;
}

function bodyOf(fields: readonly WireField[]): Uint8Array {
  const wire = new Wire();
  for (const { field, wireType, value } of fields) {
    if (wireType === 0) wire.field(field, value as bigint);
    else wire.delimited(field, value as Uint8Array);
  }
  return Uint8Array.from(wire.out);
}

/** Which fields of a message are messages themselves, by field number, with theirs. */
interface Nesting {
  readonly [field: number]: Nesting;
}
const armNesting: Readonly<Record<number, Nesting>> = { 2: { 4: {}, 5: { 3: {} }, 15: {} }, 10: { 3: {} } };

const otherVarints = [0n, 1n, 2n, 2n ** 31n, 2n ** 32n - 1n, 2n ** 32n + 5n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 54n - 2n, 2n ** 54n - 1n, 2n ** 54n, 2n ** 63n, 2n ** 64n - 1n];
const otherPayloads = [new Uint8Array(0), Uint8Array.of(0x78), Uint8Array.of(0xff, 0x61), Uint8Array.from(Buffer.from('counter')), Uint8Array.from(Buffer.from('timeout'))];

function otherValues(field: WireField): WireField[] {
  const varints = otherVarints.map((value): WireField => ({ field: field.field, wireType: 0, value }));
  const payloads = otherPayloads.map((value): WireField => ({ field: field.field, wireType: 2, value }));
  return field.wireType === 0 ? [...varints, payloads[1]!] : [...payloads, varints[1]!];
}

/** Bodies that differ from `body` in one field, or one field of a nested message. */
function variants(body: Uint8Array, nesting: Nesting): Uint8Array[] {
  const fields = fieldsOf(body);
  const out: WireField[][] = [[...fields, { field: 99, wireType: 0, value: 7n }, { field: 98, wireType: 2, value: Uint8Array.of(1, 2) }]];
  fields.forEach((field, i) => {
    const withField = (replacement: WireField): WireField[] => fields.map((other, j) => (j === i ? replacement : other));
    out.push(fields.filter((_, j) => j !== i), [...fields, field], ...otherValues(field).map(withField));
    const inner = nesting[field.field];
    if (inner !== undefined && field.value instanceof Uint8Array) {
      for (const value of variants(field.value, inner)) out.push(withField({ ...field, value }));
    }
  });
  return out.map(bodyOf);
}

test('every hot message with one field left out, repeated, or changed is decided alike', (t) => {
  const problems: string[] = [];
  let refused = 0;
  let count = 0;
  for (const message of samples()) {
    const [envelope] = fieldsOf(encodePeerMessageReflect(message));
    const [arm] = fieldsOf(envelope!.value as Uint8Array);
    for (const body of variants(arm!.value as Uint8Array, armNesting[arm!.field] ?? {})) {
      for (const frame of bothClasses(Uint8Array.from(new Wire().delimited(1, new Wire().delimited(arm!.field, body)).out))) {
        count++;
        const problem = decodeDifference(frame);
        if (problem !== undefined) problems.push(problem);
        if (!outcome(() => decodePeerFrameReflect(frame)).ok) refused++;
      }
    }
  }
  t.deepEqual(problems.slice(0, 5), []);
  t.log(`${count} frames, ${refused} refused`);
});
