// Counters and sets for the client: DtFetchReq/DtUpdateReq frames built from typed options, and
// their replies read into plain values. Pure translation, like messages.ts: the merge semantics
// live in the server (see docs/data-types.md), and a set's context is only ever passed back.

import { quorumSentinel } from '../runtime/pb/convert.js';
import { encodeMessageFrame } from '../runtime/pb/frame.js';
import { DtDataType, MessageCode, decodeMessage } from '../runtime/pb/schema.js';
import type { ReplyDecoder } from './call.js';
import { RingkvError } from './errors.js';
import type { Bytes, Quorum } from './messages.js';

/** A set's causal context: opaque bytes from a read, passed back to remove what was read. */
export type SetContext = Buffer & { readonly __ringkvSetContext: true };

export interface CounterValue {
  /** False when the key holds nothing yet; the value is then 0. */
  readonly found: boolean;
  readonly value: number;
}

export interface SetValue {
  /** False when the key holds nothing yet; the set is then empty. */
  readonly found: boolean;
  /** Members in byte order. */
  readonly values: readonly Buffer[];
  /** Absent for a set never written. */
  readonly context?: SetContext;
}

export interface SetUpdate {
  readonly add?: readonly Bytes[];
  readonly remove?: readonly Bytes[];
  /**
   * The context of the read the removes are based on. Without it, only elements the replica
   * applying the update holds can be removed (else `precondition_failed`); with it, exactly the
   * adds the read saw are removed, and an add the read did not see survives.
   */
  readonly context?: SetContext | undefined;
}

export interface DatatypeReadOptions {
  readonly r?: Quorum | undefined;
  readonly pr?: Quorum | undefined;
  readonly notfoundOk?: boolean | undefined;
  readonly timeoutMs?: number | undefined;
}

export interface DatatypeWriteOptions {
  readonly w?: Quorum | undefined;
  readonly dw?: Quorum | undefined;
  readonly pw?: Quorum | undefined;
  readonly timeoutMs?: number | undefined;
}

/** Where a data type lives: its bucket type (which fixes counter or set), bucket and key. */
export interface DatatypeLocation {
  readonly type: Bytes;
  readonly bucket: Bytes;
  readonly key: Bytes;
}

const bytes = (value: Bytes): Buffer => (typeof value === 'string' ? Buffer.from(value, 'utf8') : Buffer.from(value.buffer, value.byteOffset, value.byteLength));

function quorums(fields: Record<string, Quorum | undefined>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, q] of Object.entries(fields)) if (q !== undefined) out[name] = typeof q === 'number' ? q : quorumSentinel[q];
  return out;
}

function location(at: DatatypeLocation): { bucket: Buffer; key: Buffer; type: Buffer } {
  return { bucket: bytes(at.bucket), key: bytes(at.key), type: bytes(at.type) };
}

function expectCode(expected: number, code: number, what: string): void {
  if (code !== expected) throw new RingkvError('protocol_error', `expected ${what} (code ${expected}), got code ${code}`);
}

export function dtFetchRequest(at: DatatypeLocation, options: DatatypeReadOptions): Buffer {
  return encodeMessageFrame(MessageCode.DtFetchReq, 'DtFetchReq', {
    ...location(at),
    ...quorums({ r: options.r, pr: options.pr }),
    ...(options.notfoundOk === undefined ? {} : { notfound_ok: options.notfoundOk }),
    ...(options.timeoutMs === undefined ? {} : { timeout: options.timeoutMs }),
  });
}

export function counterUpdateRequest(at: DatatypeLocation, increment: number, options: DatatypeWriteOptions): Buffer {
  if (!Number.isSafeInteger(increment)) throw new TypeError(`ringkv client: a counter increment must be a safe integer (got ${increment})`);
  return dtUpdateRequest(at, { counter_op: { increment } }, undefined, options);
}

export function setUpdateRequest(at: DatatypeLocation, update: SetUpdate, options: DatatypeWriteOptions): Buffer {
  return dtUpdateRequest(at, { set_op: { adds: (update.add ?? []).map(bytes), removes: (update.remove ?? []).map(bytes) } }, update.context, options);
}

function dtUpdateRequest(at: DatatypeLocation, op: object, context: Buffer | undefined, options: DatatypeWriteOptions): Buffer {
  return encodeMessageFrame(MessageCode.DtUpdateReq, 'DtUpdateReq', {
    ...location(at),
    op,
    // The value after the update comes back with the acknowledgement.
    return_body: true,
    ...(context === undefined ? {} : { context }),
    ...quorums({ w: options.w, dw: options.dw, pw: options.pw }),
    ...(options.timeoutMs === undefined ? {} : { timeout: options.timeoutMs }),
  });
}

interface DtFetchResp {
  readonly context?: Uint8Array;
  readonly type: number;
  readonly value?: { readonly counter_value?: number; readonly set_value?: Uint8Array[] };
}

function fetched(body: Buffer, expected: number, what: string): DtFetchResp {
  const message = decodeMessage<DtFetchResp>('DtFetchResp', body);
  if (message.type !== expected) throw new RingkvError('protocol_error', `the key's bucket type holds another data type than a ${what} (DtFetchResp type ${message.type})`);
  return message;
}

export const decodeCounterFetch: ReplyDecoder<CounterValue> = (code, body) => {
  expectCode(MessageCode.DtFetchResp, code, 'DtFetchResp');
  const message = fetched(body, DtDataType.COUNTER, 'counter');
  return { done: true, value: { found: message.value !== undefined, value: message.value?.counter_value ?? 0 } };
};

export const decodeSetFetch: ReplyDecoder<SetValue> = (code, body) => {
  expectCode(MessageCode.DtFetchResp, code, 'DtFetchResp');
  const message = fetched(body, DtDataType.SET, 'set');
  const values = (message.value?.set_value ?? []).map((v) => Buffer.from(v));
  const context = message.context === undefined ? {} : { context: Buffer.from(message.context) as SetContext };
  return { done: true, value: { found: message.value !== undefined, values, ...context } };
};

interface DtUpdateResp {
  readonly context?: Uint8Array;
  readonly counter_value?: number;
  readonly set_value?: Uint8Array[];
}

export const decodeCounterUpdate: ReplyDecoder<number> = (code, body) => {
  expectCode(MessageCode.DtUpdateResp, code, 'DtUpdateResp');
  const message = decodeMessage<DtUpdateResp>('DtUpdateResp', body);
  if (message.counter_value === undefined) throw new RingkvError('protocol_error', 'DtUpdateResp has no counter value although the update asked for one');
  return { done: true, value: message.counter_value };
};

export const decodeSetUpdate: ReplyDecoder<SetValue> = (code, body) => {
  expectCode(MessageCode.DtUpdateResp, code, 'DtUpdateResp');
  const message = decodeMessage<DtUpdateResp>('DtUpdateResp', body);
  const context = message.context === undefined ? {} : { context: Buffer.from(message.context) as SetContext };
  return { done: true, value: { found: true, values: (message.set_value ?? []).map((v) => Buffer.from(v)), ...context } };
};
