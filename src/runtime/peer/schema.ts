// The protobuf schema of the node-to-node protocol, written as a protobufjs reflection descriptor
// so that tsc carries it into dist/ with the code. docs/peer-protocol.md shows it as a .proto file.
// Field numbers are forever: a number may be retired but never reused with another meaning, and a
// change in meaning is a new field or a new message, never a reinterpretation of an old one.
// Field names are camelCase because that is what protobufjs makes of snake_case .proto names; on
// the wire only the numbers matter.

import protobuf from 'protobufjs';

/**
 * Raised whenever the handshake or its transcript changes incompatibly. Both sides must speak the
 * same version; a mismatch is refused during the handshake with both versions named.
 */
export const peerProtocolVersion = 1;

type Field = {
  readonly type: string;
  readonly id: number;
  readonly rule?: 'repeated';
  readonly options?: { readonly packed: boolean };
};

/**
 * Every singular field is proto2 `optional`: explicit presence, so `false`, `0` and empty bytes are
 * sent and an absent field stays absent (VnodeList.bucket and VnodeGetReply.object mean something
 * by being absent). No field is `required`; the codec checks presence itself, which lets a later
 * version retire a field without breaking the decoder of an older one.
 */
const opt = (type: string, id: number): Field => ({ type, id });
const rep = (type: string, id: number): Field => ({ type, id, rule: 'repeated' });
const packed = (type: string, id: number): Field => ({ type, id, rule: 'repeated', options: { packed: true } });

/** protobufjs reads a descriptor without an edition as proto3; every message here is proto2. */
function proto2<T extends Record<string, object>>(nested: T): T {
  const out: Record<string, object> = {};
  for (const [name, value] of Object.entries(nested)) out[name] = { ...value, edition: 'proto2' };
  return out as T;
}

/**
 * The envelope's oneof arms, by field number. Numbers 1-15 take one byte of tag, so the kinds
 * fill them; a sixteenth kind takes 16 and up. A decoder that meets a number it does not know
 * skips it and then finds no kind, which the codec rejects with a clear message.
 */
export const envelopeArms = [
  'vnodeGet', // 1
  'vnodePut', // 2
  'vnodeReplicate', // 3
  'vnodeList', // 4
  'vnodeGetReply', // 5
  'vnodePutApplied', // 6
  'vnodePutReply', // 7
  'vnodeReplicateReply', // 8
  'vnodeListChunk', // 9
  'vnodeFailed', // 10
  'gossip', // 11
  'handoffBatch', // 12
  'handoffAck', // 13
  'control', // 14
  'controlReply', // 15
  'heartbeat', // 16
  'aaeTreeHashesRequest', // 17
  'aaeSegmentKeysRequest', // 18
  'aaeTreeHashesAnswer', // 19
  'aaeSegmentKeysAnswer', // 20
  'aaeSideFailed', // 21
  'vnodeReap', // 22
  'vnodeReapReply', // 23
] as const;

export type EnvelopeArm = (typeof envelopeArms)[number];

const armTypes: Record<EnvelopeArm, string> = {
  vnodeGet: 'VnodeGet',
  vnodePut: 'VnodePut',
  vnodeReplicate: 'VnodeReplicate',
  vnodeList: 'VnodeList',
  vnodeGetReply: 'VnodeGetReply',
  vnodePutApplied: 'VnodePutApplied',
  vnodePutReply: 'VnodePutReply',
  vnodeReplicateReply: 'VnodeReplicateReply',
  vnodeListChunk: 'VnodeListChunk',
  vnodeFailed: 'VnodeFailed',
  gossip: 'Gossip',
  handoffBatch: 'HandoffBatch',
  handoffAck: 'HandoffAck',
  control: 'Control',
  controlReply: 'ControlReply',
  heartbeat: 'Heartbeat',
  aaeTreeHashesRequest: 'AaeTreeHashesRequest',
  aaeSegmentKeysRequest: 'AaeSegmentKeysRequest',
  aaeTreeHashesAnswer: 'AaeTreeHashesAnswer',
  aaeSegmentKeysAnswer: 'AaeSegmentKeysAnswer',
  aaeSideFailed: 'AaeSideFailed',
  vnodeReap: 'VnodeReap',
  vnodeReapReply: 'VnodeReapReply',
};

/** The handshake steps, by field number in `Handshake`, in the order they are sent. */
export const handshakeArms = ['hello', 'challenge', 'proof', 'accept', 'reject'] as const;
export type HandshakeArm = (typeof handshakeArms)[number];

const descriptor = {
  nested: proto2({
    // ---- frames after the handshake ------------------------------------------------------------
    PeerFrame: { fields: { messages: rep('PeerEnvelope', 1) } },
    PeerEnvelope: {
      oneofs: { kind: { oneof: [...envelopeArms] } },
      fields: Object.fromEntries(envelopeArms.map((arm, index) => [arm, opt(armTypes[arm], index + 1)])),
    },
    // Vnode requests (src/core/messages.ts). requestId is sint64: ids may be negative.
    VnodeGet: { fields: { requestId: opt('sint64', 1), partition: opt('uint32', 2), storageKey: opt('bytes', 3), fallback: opt('bool', 4) } },
    VnodePut: {
      fields: {
        requestId: opt('sint64', 1),
        partition: opt('uint32', 2),
        storageKey: opt('bytes', 3),
        context: rep('VvEntry', 4),
        content: opt('NewContent', 5),
        deleted: opt('bool', 6),
        nowMs: opt('int64', 7),
        ifNoneMatch: opt('bool', 8),
        ifNotModified: opt('bool', 9),
        maxSiblings: opt('uint32', 10),
        lastWriteWins: opt('bool', 11),
        allowMult: opt('bool', 12),
        localReplicas: packed('uint32', 13),
        fallback: opt('bool', 14),
        op: opt('DatatypeOp', 15),
        maxObjectBytes: opt('uint64', 16),
        expiresAtMs: opt('uint64', 17),
        ifPresent: opt('bool', 18),
      },
    },
    // A data-type update (src/core/datatype.ts): datatype is "counter" or "set".
    DatatypeOp: {
      fields: { datatype: opt('string', 1), increment: opt('sint64', 2), adds: rep('bytes', 3), removes: rep('bytes', 4), context: opt('bytes', 5) },
    },
    VnodeReplicate: {
      fields: { requestId: opt('sint64', 1), partition: opt('uint32', 2), storageKey: opt('bytes', 3), object: opt('bytes', 4), fallback: opt('bool', 5) },
    },
    VnodeReap: { fields: { requestId: opt('sint64', 1), partition: opt('uint32', 2), storageKey: opt('bytes', 3), object: opt('bytes', 4) } },
    VnodeReapReply: { fields: { requestId: opt('sint64', 1), partition: opt('uint32', 2), removed: opt('bool', 3) } },
    VnodeList: {
      // An absent bucket lists the vnode's buckets instead of a bucket's keys.
      fields: { requestId: opt('sint64', 1), partition: opt('uint32', 2), bucketType: opt('string', 3), bucket: opt('bytes', 4) },
    },
    VvEntry: { fields: { actor: opt('string', 1), counter: opt('uint64', 2) } },
    NewContent: { fields: { value: opt('bytes', 1), contentType: opt('string', 2), userMeta: rep('UserMeta', 3) } },
    UserMeta: { fields: { key: opt('string', 1), value: opt('string', 2) } },
    // Vnode replies. An absent VnodeGetReply.object is "not found".
    VnodeGetReply: { fields: { requestId: opt('sint64', 1), partition: opt('uint32', 2), object: opt('bytes', 3) } },
    VnodePutApplied: { fields: { requestId: opt('sint64', 1), partition: opt('uint32', 2), object: opt('bytes', 3) } },
    VnodePutReply: { fields: { requestId: opt('sint64', 1), partition: opt('uint32', 2) } },
    VnodeReplicateReply: { fields: { requestId: opt('sint64', 1), partition: opt('uint32', 2), changed: opt('bool', 3) } },
    VnodeListChunk: { fields: { requestId: opt('sint64', 1), partition: opt('uint32', 2), items: rep('bytes', 3), done: opt('bool', 4) } },
    VnodeFailed: { fields: { requestId: opt('sint64', 1), partition: opt('uint32', 2), error: opt('KvError', 3) } },
    KvError: { fields: { code: opt('string', 1), message: opt('string', 2) } },
    // Cluster traffic.
    Gossip: { fields: { state: opt('bytes', 1) } },
    HandoffBatch: {
      fields: { transferId: opt('string', 1), partition: opt('uint32', 2), seq: opt('uint64', 3), items: rep('HandoffItem', 4), last: opt('bool', 5) },
    },
    HandoffItem: { fields: { key: opt('bytes', 1), value: opt('bytes', 2) } },
    HandoffAck: { fields: { transferId: opt('string', 1), partition: opt('uint32', 2), seq: opt('uint64', 3), error: opt('string', 4) } },
    Control: { fields: { requestId: opt('sint64', 1), body: opt('bytes', 2) } },
    ControlReply: { fields: { requestId: opt('sint64', 1), body: opt('bytes', 2) } },
    /** "I am alive": sent to every member once a second for the failure detector. */
    Heartbeat: { fields: {} },
    // Anti-entropy exchanges (src/core/aae-exchange.ts). requestId is the asking node's; the
    // exchange id, round and side are echoed so the exchange can match the answer.
    AaeTreeHashesRequest: {
      fields: {
        requestId: opt('sint64', 1),
        partition: opt('uint32', 2),
        tree: opt('AaeTreeId', 3),
        exchangeId: opt('sint64', 4),
        round: opt('uint64', 5),
        side: opt('string', 6),
        shape: opt('AaeTreeShape', 7),
        depth: opt('uint32', 8),
        indexes: packed('uint32', 9),
      },
    },
    AaeSegmentKeysRequest: {
      fields: {
        requestId: opt('sint64', 1),
        partition: opt('uint32', 2),
        tree: opt('AaeTreeId', 3),
        exchangeId: opt('sint64', 4),
        round: opt('uint64', 5),
        side: opt('string', 6),
        shape: opt('AaeTreeShape', 7),
        segments: packed('uint32', 8),
      },
    },
    /** Two fixed32 words per requested node (low lane, high lane), in request order. */
    AaeTreeHashesAnswer: { fields: { requestId: opt('sint64', 1), exchangeId: opt('sint64', 2), round: opt('uint64', 3), side: opt('string', 4), hashes: packed('fixed32', 5) } },
    /** One AaeSegmentKeys per requested segment, in request order (an empty one for an empty segment). */
    AaeSegmentKeysAnswer: { fields: { requestId: opt('sint64', 1), exchangeId: opt('sint64', 2), round: opt('uint64', 3), side: opt('string', 4), segments: rep('AaeSegmentKeys', 5) } },
    AaeSideFailed: {
      fields: { requestId: opt('sint64', 1), exchangeId: opt('sint64', 2), round: opt('uint64', 3), side: opt('string', 4), reason: opt('string', 5), message: opt('string', 6) },
    },
    AaeTreeId: { fields: { primaryPartition: opt('uint32', 1), nVal: opt('uint32', 2) } },
    AaeTreeShape: { fields: { segments: opt('uint32', 1), width: opt('uint32', 2) } },
    AaeSegmentKeys: { fields: { keys: rep('AaeKeyHash', 1) } },
    /** A key and the 53-bit hash of the version stored under it. */
    AaeKeyHash: { fields: { key: opt('bytes', 1), hash: opt('uint64', 2) } },

    // ---- the handshake, before any PeerFrame ---------------------------------------------------
    Handshake: {
      oneofs: { step: { oneof: [...handshakeArms] } },
      fields: { hello: opt('Hello', 1), challenge: opt('Challenge', 2), proof: opt('Proof', 3), accept: opt('Accept', 4), reject: opt('Reject', 5) },
    },
    /** Dialer → acceptor: who I am, which cluster, which protocol version, and my nonce. */
    Hello: { fields: { protocolVersion: opt('uint32', 1), clusterName: opt('string', 2), nodeName: opt('string', 3), nonce: opt('bytes', 4) } },
    /** Acceptor → dialer: the same about the acceptor, plus its proof over both nonces. */
    Challenge: {
      fields: { protocolVersion: opt('uint32', 1), clusterName: opt('string', 2), nodeName: opt('string', 3), nonce: opt('bytes', 4), proof: opt('bytes', 5) },
    },
    /** Dialer → acceptor: the dialer's proof over both nonces. */
    Proof: { fields: { proof: opt('bytes', 1) } },
    /** Acceptor → dialer: the connection is live; PeerFrames follow in both directions. */
    Accept: { fields: {} },
    /** Either side: the connection is refused, and why ("duplicate" or "refused"). */
    Reject: { fields: { reason: opt('string', 1), code: opt('string', 2) } },
  }),
};

const root = protobuf.Root.fromJSON(descriptor);

/** The frame that carries messages once the handshake is done. */
export const peerFrameType: protobuf.Type = root.lookupType('PeerFrame');
/** One message inside a frame. */
export const peerEnvelopeType: protobuf.Type = root.lookupType('PeerEnvelope');
/** The frame of every handshake step. */
export const handshakeType: protobuf.Type = root.lookupType('Handshake');

/** How decoded messages are turned into plain objects: 64-bit integers as numbers, absent fields absent. */
export const toObjectOptions: protobuf.IConversionOptions = { longs: Number, defaults: false, arrays: false };
