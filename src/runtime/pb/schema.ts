// The protobuf schema of the Riak messages ringkv speaks, written as a protobufjs reflection
// descriptor so that tsc carries it into dist/ with the code. Field names, numbers and rules match
// basho/riak_pb (riak.proto, riak_kv.proto) for the subset implemented; nothing else may be added
// here, because a wrong number silently corrupts what a real Riak client reads. The one exception
// is ringkv's own extension fields, numbered from 1001 up (`ringkvExtension`), far past any number
// riak_pb uses. A Riak client never sends them, and is never sent one it did not ask for: some
// clients' decoders (no-riak's) refuse a message with a field they do not know.

import protobuf from 'protobufjs';
import { assert } from '../../core/errors.js';

/** Message codes (riak_pb_messages.csv) of the messages ringkv reads or writes. */
export const MessageCode = {
  ErrorResp: 0,
  PingReq: 1,
  PingResp: 2,
  GetServerInfoReq: 7,
  GetServerInfoResp: 8,
  GetReq: 9,
  GetResp: 10,
  PutReq: 11,
  PutResp: 12,
  DelReq: 13,
  DelResp: 14,
  ListBucketsReq: 15,
  ListBucketsResp: 16,
  ListKeysReq: 17,
  ListKeysResp: 18,
  GetBucketReq: 19,
  GetBucketResp: 20,
  SetBucketReq: 21,
  SetBucketResp: 22,
  ResetBucketReq: 29,
  ResetBucketResp: 30,
  GetBucketTypeReq: 31,
  SetBucketTypeReq: 32,
  GetBucketKeyPreflistReq: 33,
  GetBucketKeyPreflistResp: 34,
  CounterUpdateReq: 50,
  CounterUpdateResp: 51,
  CounterGetReq: 52,
  CounterGetResp: 53,
  DtFetchReq: 80,
  DtFetchResp: 81,
  DtUpdateReq: 82,
  DtUpdateResp: 83,
  AuthReq: 253,
  AuthResp: 254,
  StartTls: 255,
} as const;

type FieldRule = 'required' | 'repeated';
type Field = { readonly type: string; readonly id: number; readonly rule?: FieldRule };

const req = (type: string, id: number): Field => ({ type, id, rule: 'required' });
const opt = (type: string, id: number): Field => ({ type, id });
const rep = (type: string, id: number): Field => ({ type, id, rule: 'repeated' });

/**
 * A ringkv extension field: optional, numbered 1001 or above so that it can never take a number
 * riak_pb uses or will use for its own fields (docs/ttl.md#wire-formats lists them).
 */
const ringkvExtension = (type: string, id: number): Field => {
  assert(id >= 1001, `ringkv extension fields are numbered from 1001, got ${id}`);
  return { type, id };
};

/**
 * Marks every message and enum as proto2. protobufjs reads a JSON descriptor without an edition
 * as proto3, which leaves false and 0 off the wire and ignores `required`; Riak's schema is proto2,
 * and its clients tell "absent" from "false" (allow_mult, pr = 0) and need required fields sent.
 */
function proto2<T extends Record<string, object>>(nested: T): T {
  const out: Record<string, object> = {};
  for (const [name, value] of Object.entries(nested)) {
    const inner = (value as { nested?: Record<string, object> }).nested;
    out[name] = { ...value, edition: 'proto2', ...(inner === undefined ? {} : { nested: proto2(inner) }) };
  }
  return out as T;
}

/** The subset of riak.proto and riak_kv.proto, field for field. */
const descriptor = {
  nested: proto2({
    // riak.proto
    RpbErrorResp: { fields: { errmsg: req('bytes', 1), errcode: req('uint32', 2) } },
    RpbGetServerInfoResp: { fields: { node: opt('bytes', 1), server_version: opt('bytes', 2) } },
    RpbPair: { fields: { key: req('bytes', 1), value: opt('bytes', 2) } },
    RpbGetBucketReq: { fields: { bucket: req('bytes', 1), type: opt('bytes', 2) } },
    RpbGetBucketResp: { fields: { props: req('RpbBucketProps', 1) } },
    RpbSetBucketReq: { fields: { bucket: req('bytes', 1), props: req('RpbBucketProps', 2), type: opt('bytes', 3) } },
    RpbResetBucketReq: { fields: { bucket: req('bytes', 1), type: opt('bytes', 2) } },
    RpbGetBucketTypeReq: { fields: { type: req('bytes', 1) } },
    RpbSetBucketTypeReq: { fields: { type: req('bytes', 1), props: req('RpbBucketProps', 2) } },
    RpbModFun: { fields: { module: req('bytes', 1), function: req('bytes', 2) } },
    RpbCommitHook: { fields: { modfun: opt('RpbModFun', 1), name: opt('bytes', 2) } },
    RpbBucketProps: {
      fields: {
        n_val: opt('uint32', 1),
        allow_mult: opt('bool', 2),
        last_write_wins: opt('bool', 3),
        precommit: rep('RpbCommitHook', 4),
        has_precommit: opt('bool', 5),
        postcommit: rep('RpbCommitHook', 6),
        has_postcommit: opt('bool', 7),
        chash_keyfun: opt('RpbModFun', 8),
        linkfun: opt('RpbModFun', 9),
        old_vclock: opt('uint32', 10),
        young_vclock: opt('uint32', 11),
        big_vclock: opt('uint32', 12),
        small_vclock: opt('uint32', 13),
        pr: opt('uint32', 14),
        r: opt('uint32', 15),
        w: opt('uint32', 16),
        pw: opt('uint32', 17),
        dw: opt('uint32', 18),
        rw: opt('uint32', 19),
        basic_quorum: opt('bool', 20),
        notfound_ok: opt('bool', 21),
        backend: opt('bytes', 22),
        search: opt('bool', 23),
        repl: opt('RpbReplMode', 24),
        search_index: opt('bytes', 25),
        datatype: opt('bytes', 26),
        consistent: opt('bool', 27),
        write_once: opt('bool', 28),
        hll_precision: opt('uint32', 29),
      },
      nested: { RpbReplMode: { values: { FALSE: 0, REALTIME: 1, FULLSYNC: 2, TRUE: 3 } } },
    },
    RpbAuthReq: { fields: { user: req('bytes', 1), password: req('bytes', 2) } },
    // riak_kv.proto
    RpbGetReq: {
      fields: {
        bucket: req('bytes', 1),
        key: req('bytes', 2),
        r: opt('uint32', 3),
        pr: opt('uint32', 4),
        basic_quorum: opt('bool', 5),
        notfound_ok: opt('bool', 6),
        if_modified: opt('bytes', 7),
        head: opt('bool', 8),
        deletedvclock: opt('bool', 9),
        timeout: opt('uint32', 10),
        sloppy_quorum: opt('bool', 11),
        n_val: opt('uint32', 12),
        type: opt('bytes', 13),
        // ringkv: answer each sibling's expires_at_ms (docs/ttl.md).
        include_expiry: ringkvExtension('bool', 1001),
      },
    },
    RpbGetResp: { fields: { content: rep('RpbContent', 1), vclock: opt('bytes', 2), unchanged: opt('bool', 3) } },
    RpbPutReq: {
      fields: {
        bucket: req('bytes', 1),
        key: opt('bytes', 2),
        vclock: opt('bytes', 3),
        content: req('RpbContent', 4),
        w: opt('uint32', 5),
        dw: opt('uint32', 6),
        return_body: opt('bool', 7),
        pw: opt('uint32', 8),
        if_not_modified: opt('bool', 9),
        if_none_match: opt('bool', 10),
        return_head: opt('bool', 11),
        timeout: opt('uint32', 12),
        asis: opt('bool', 13),
        sloppy_quorum: opt('bool', 14),
        n_val: opt('uint32', 15),
        type: opt('bytes', 16),
        // ringkv: the value expires this long after the write; 0: never (docs/ttl.md).
        ttl_ms: ringkvExtension('uint64', 1001),
        // ringkv: the siblings return_body/return_head answer carry their expires_at_ms.
        include_expiry: ringkvExtension('bool', 1002),
        // ringkv: supersede what the replica applying the write holds, without a vclock (docs/versions.md).
        overwrite: ringkvExtension('bool', 1003),
      },
    },
    RpbPutResp: { fields: { content: rep('RpbContent', 1), vclock: opt('bytes', 2), key: opt('bytes', 3) } },
    RpbDelReq: {
      fields: {
        bucket: req('bytes', 1),
        key: req('bytes', 2),
        rw: opt('uint32', 3),
        vclock: opt('bytes', 4),
        r: opt('uint32', 5),
        w: opt('uint32', 6),
        pr: opt('uint32', 7),
        pw: opt('uint32', 8),
        dw: opt('uint32', 9),
        timeout: opt('uint32', 10),
        sloppy_quorum: opt('bool', 11),
        n_val: opt('uint32', 12),
        type: opt('bytes', 13),
      },
    },
    RpbListBucketsReq: { fields: { timeout: opt('uint32', 1), stream: opt('bool', 2), type: opt('bytes', 3) } },
    RpbListBucketsResp: { fields: { buckets: rep('bytes', 1), done: opt('bool', 2) } },
    RpbListKeysReq: { fields: { bucket: req('bytes', 1), timeout: opt('uint32', 2), type: opt('bytes', 3) } },
    RpbListKeysResp: { fields: { keys: rep('bytes', 1), done: opt('bool', 2) } },
    RpbContent: {
      fields: {
        value: req('bytes', 1),
        content_type: opt('bytes', 2),
        charset: opt('bytes', 3),
        content_encoding: opt('bytes', 4),
        vtag: opt('bytes', 5),
        links: rep('RpbLink', 6),
        last_mod: opt('uint32', 7),
        last_mod_usecs: opt('uint32', 8),
        usermeta: rep('RpbPair', 9),
        indexes: rep('RpbPair', 10),
        deleted: opt('bool', 11),
        // ringkv, sent only to a request with include_expiry: when this sibling expires, in ms
        // since the epoch; absent: never (docs/ttl.md).
        expires_at_ms: ringkvExtension('uint64', 1001),
      },
    },
    RpbLink: { fields: { bucket: opt('bytes', 1), key: opt('bytes', 2), tag: opt('bytes', 3) } },
    RpbGetBucketKeyPreflistReq: { fields: { bucket: req('bytes', 1), key: req('bytes', 2), type: opt('bytes', 3) } },
    RpbGetBucketKeyPreflistResp: { fields: { preflist: rep('RpbBucketKeyPreflistItem', 1) } },
    RpbBucketKeyPreflistItem: { fields: { partition: req('int64', 1), node: req('bytes', 2), primary: req('bool', 3) } },
    // riak_kv.proto: the legacy (Riak 1.4) counters.
    RpbCounterUpdateReq: {
      fields: { bucket: req('bytes', 1), key: req('bytes', 2), amount: req('sint64', 3), w: opt('uint32', 4), dw: opt('uint32', 5), pw: opt('uint32', 6), returnvalue: opt('bool', 7) },
    },
    RpbCounterUpdateResp: { fields: { value: opt('sint64', 1) } },
    RpbCounterGetReq: { fields: { bucket: req('bytes', 1), key: req('bytes', 2), r: opt('uint32', 3), pr: opt('uint32', 4), basic_quorum: opt('bool', 5), notfound_ok: opt('bool', 6) } },
    RpbCounterGetResp: { fields: { value: opt('sint64', 1) } },
    // riak_dt.proto: counters and sets. Map, HyperLogLog and GSet operations are declared only so
    // that their presence is seen and refused; map values are never sent, so DtValue and
    // DtUpdateResp leave out map_value (their other numbers are as in riak_dt.proto).
    DtFetchReq: {
      fields: {
        bucket: req('bytes', 1),
        key: req('bytes', 2),
        type: req('bytes', 3),
        r: opt('uint32', 4),
        pr: opt('uint32', 5),
        basic_quorum: opt('bool', 6),
        notfound_ok: opt('bool', 7),
        timeout: opt('uint32', 8),
        sloppy_quorum: opt('bool', 9),
        n_val: opt('uint32', 10),
        include_context: opt('bool', 11),
      },
    },
    DtValue: { fields: { counter_value: opt('sint64', 1), set_value: rep('bytes', 2), hll_value: opt('uint64', 4), gset_value: rep('bytes', 5) } },
    DtFetchResp: {
      fields: { context: opt('bytes', 1), type: req('DataType', 2), value: opt('DtValue', 3) },
      nested: { DataType: { values: { COUNTER: 1, SET: 2, MAP: 3, HLL: 4, GSET: 5 } } },
    },
    CounterOp: { fields: { increment: opt('sint64', 1) } },
    SetOp: { fields: { adds: rep('bytes', 1), removes: rep('bytes', 2) } },
    GSetOp: { fields: { adds: rep('bytes', 1) } },
    HllOp: { fields: { adds: rep('bytes', 1) } },
    MapOp: { fields: {} },
    DtOp: { fields: { counter_op: opt('CounterOp', 1), set_op: opt('SetOp', 2), map_op: opt('MapOp', 3), hll_op: opt('HllOp', 4), gset_op: opt('GSetOp', 5) } },
    DtUpdateReq: {
      fields: {
        bucket: req('bytes', 1),
        key: opt('bytes', 2),
        type: req('bytes', 3),
        context: opt('bytes', 4),
        op: req('DtOp', 5),
        w: opt('uint32', 6),
        dw: opt('uint32', 7),
        pw: opt('uint32', 8),
        return_body: opt('bool', 9),
        timeout: opt('uint32', 10),
        sloppy_quorum: opt('bool', 11),
        n_val: opt('uint32', 12),
        include_context: opt('bool', 13),
      },
    },
    DtUpdateResp: {
      fields: { key: opt('bytes', 1), context: opt('bytes', 2), counter_value: opt('sint64', 3), set_value: rep('bytes', 4), hll_value: opt('uint64', 6), gset_value: rep('bytes', 7) },
    },
  }),
};

export type MessageName = keyof typeof descriptor.nested;

const root = protobuf.Root.fromJSON(descriptor);
/** Resolved once at load; read-only afterwards. */
const types = new Map<MessageName, protobuf.Type>(
  (Object.keys(descriptor.nested) as MessageName[]).map((name) => [name, root.lookupType(name)]),
);

/** The reflected type of a message, for encoding and decoding. */
export function messageType(name: MessageName): protobuf.Type {
  return types.get(name)!;
}

// The decoded forms. Optional fields are absent when not on the wire (decoding keeps presence),
// so `undefined` always means "the client did not say".

export interface RpbPair {
  readonly key: Uint8Array;
  readonly value?: Uint8Array;
}

export interface RpbContent {
  readonly value: Uint8Array;
  readonly content_type?: Uint8Array;
  readonly charset?: Uint8Array;
  readonly content_encoding?: Uint8Array;
  readonly vtag?: Uint8Array;
  readonly links?: readonly unknown[];
  readonly last_mod?: number;
  readonly last_mod_usecs?: number;
  readonly usermeta?: readonly RpbPair[];
  readonly indexes?: readonly RpbPair[];
  readonly deleted?: boolean;
  /** ringkv extension (1001), sent only when asked for: when the sibling expires, ms since the epoch; absent: never. */
  readonly expires_at_ms?: number;
}

export interface RpbGetReq {
  readonly bucket: Uint8Array;
  readonly key: Uint8Array;
  readonly r?: number;
  readonly pr?: number;
  readonly basic_quorum?: boolean;
  readonly notfound_ok?: boolean;
  readonly if_modified?: Uint8Array;
  readonly head?: boolean;
  readonly deletedvclock?: boolean;
  readonly timeout?: number;
  readonly sloppy_quorum?: boolean;
  readonly n_val?: number;
  readonly type?: Uint8Array;
  /** ringkv extension (1001): answer each sibling's expires_at_ms. */
  readonly include_expiry?: boolean;
}

export interface RpbPutReq {
  readonly bucket: Uint8Array;
  readonly key?: Uint8Array;
  readonly vclock?: Uint8Array;
  readonly content: RpbContent;
  readonly w?: number;
  readonly dw?: number;
  readonly return_body?: boolean;
  readonly pw?: number;
  readonly if_not_modified?: boolean;
  readonly if_none_match?: boolean;
  readonly return_head?: boolean;
  readonly timeout?: number;
  readonly asis?: boolean;
  readonly sloppy_quorum?: boolean;
  readonly n_val?: number;
  readonly type?: Uint8Array;
  /** ringkv extension (1001): the value expires this long after the write; 0: never. */
  readonly ttl_ms?: number;
  /** ringkv extension (1002): the siblings answered carry their expires_at_ms. */
  readonly include_expiry?: boolean;
  /** ringkv extension (1003): supersede what the applying replica holds; no vclock with it. */
  readonly overwrite?: boolean;
}

export interface RpbDelReq {
  readonly bucket: Uint8Array;
  readonly key: Uint8Array;
  readonly rw?: number;
  readonly vclock?: Uint8Array;
  readonly r?: number;
  readonly w?: number;
  readonly pr?: number;
  readonly pw?: number;
  readonly dw?: number;
  readonly timeout?: number;
  readonly sloppy_quorum?: boolean;
  readonly n_val?: number;
  readonly type?: Uint8Array;
}

export interface RpbListBucketsReq {
  readonly timeout?: number;
  readonly stream?: boolean;
  readonly type?: Uint8Array;
}

export interface RpbListKeysReq {
  readonly bucket: Uint8Array;
  readonly timeout?: number;
  readonly type?: Uint8Array;
}

export interface RpbBucketProps {
  readonly n_val?: number;
  readonly allow_mult?: boolean;
  readonly last_write_wins?: boolean;
  readonly pr?: number;
  readonly r?: number;
  readonly w?: number;
  readonly pw?: number;
  readonly dw?: number;
  readonly rw?: number;
  readonly basic_quorum?: boolean;
  readonly notfound_ok?: boolean;
  readonly [other: string]: unknown;
}

export interface RpbGetBucketReq {
  readonly bucket: Uint8Array;
  readonly type?: Uint8Array;
}

export interface RpbSetBucketReq {
  readonly bucket: Uint8Array;
  readonly props: RpbBucketProps;
  readonly type?: Uint8Array;
}

export interface RpbResetBucketReq {
  readonly bucket: Uint8Array;
  readonly type?: Uint8Array;
}

export interface RpbGetBucketTypeReq {
  readonly type: Uint8Array;
}

export interface RpbSetBucketTypeReq {
  readonly type: Uint8Array;
  readonly props: RpbBucketProps;
}

export interface RpbGetBucketKeyPreflistReq {
  readonly bucket: Uint8Array;
  readonly key: Uint8Array;
  readonly type?: Uint8Array;
}

export interface RpbCounterUpdateReq {
  readonly bucket: Uint8Array;
  readonly key: Uint8Array;
  readonly amount: number;
  readonly w?: number;
  readonly dw?: number;
  readonly pw?: number;
  readonly returnvalue?: boolean;
}

export interface RpbCounterGetReq {
  readonly bucket: Uint8Array;
  readonly key: Uint8Array;
  readonly r?: number;
  readonly pr?: number;
  readonly basic_quorum?: boolean;
  readonly notfound_ok?: boolean;
}

export interface DtFetchReq {
  readonly bucket: Uint8Array;
  readonly key: Uint8Array;
  readonly type: Uint8Array;
  readonly r?: number;
  readonly pr?: number;
  readonly basic_quorum?: boolean;
  readonly notfound_ok?: boolean;
  readonly timeout?: number;
  readonly sloppy_quorum?: boolean;
  readonly n_val?: number;
  /** Absent means true (riak_dt.proto's default). */
  readonly include_context?: boolean;
}

export interface DtOp {
  readonly counter_op?: { readonly increment?: number };
  readonly set_op?: { readonly adds?: readonly Uint8Array[]; readonly removes?: readonly Uint8Array[] };
  readonly map_op?: object;
  readonly hll_op?: object;
  readonly gset_op?: object;
}

export interface DtUpdateReq {
  readonly bucket: Uint8Array;
  readonly key?: Uint8Array;
  readonly type: Uint8Array;
  readonly context?: Uint8Array;
  readonly op: DtOp;
  readonly w?: number;
  readonly dw?: number;
  readonly pw?: number;
  readonly return_body?: boolean;
  readonly timeout?: number;
  readonly sloppy_quorum?: boolean;
  readonly n_val?: number;
  /** Absent means true (riak_dt.proto's default). */
  readonly include_context?: boolean;
}

/** DtFetchResp.DataType. */
export const DtDataType = { COUNTER: 1, SET: 2, MAP: 3, HLL: 4, GSET: 5 } as const;

/** Decodes `body` as `name`, keeping only the fields present on the wire; throws on bad input. */
export function decodeMessage<T>(name: MessageName, body: Uint8Array): T {
  const type = messageType(name);
  return type.toObject(type.decode(body), { defaults: false, arrays: false, longs: Number }) as T;
}

/** Encodes a plain object as `name`; unset optional fields are left off the wire. */
export function encodeMessage(name: MessageName, message: object): Uint8Array {
  return messageType(name).encode(message as Record<string, unknown>).finish();
}
