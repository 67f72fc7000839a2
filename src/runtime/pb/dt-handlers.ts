// The data-type requests of the protobuf API: DtFetchReq/DtUpdateReq for counters and sets
// (riak_dt.proto) and Riak 1.4's legacy counter requests, each one KvService call. Maps,
// HyperLogLogs and GSets are refused by name. Merging, contexts and checks stay behind KvService.

import type { DatatypeValue } from '../../core/datatype.js';
import { type KvError, type Result, fail, ok } from '../../core/errors.js';
import type { DatatypeUpdate } from '../../core/kv.js';
import { bytesOf } from './convert.js';
import { kvErrorFrame } from './errors.js';
import { encodeMessageFrame } from './frame.js';
import { type KvHandlerDeps, objectKey, readOptionsOf, writeOptionsOf } from './kv-handlers.js';
import { DtDataType, type DtFetchReq, type DtOp, type DtUpdateReq, MessageCode, type RpbCounterGetReq, type RpbCounterUpdateReq } from './schema.js';

/** Where Riak kept legacy counters: ordinary buckets of the default type. */
const legacyCounterType = 'default';

function failure(error: KvError): Buffer {
  return kvErrorFrame(error);
}

/** DtFetchReq. Not found is a DtFetchResp with the type and no value, as Riak answers it. */
export async function handleDtFetch(deps: Pick<KvHandlerDeps, 'kv'>, m: DtFetchReq): Promise<Buffer> {
  const key = objectKey(m.type, m.bucket, m.key);
  if (!key.ok) return failure(key.error);
  const result = await deps.kv.fetchDatatype({ ...readOptionsOf(m), key: key.value });
  if (!result.ok) return failure(result.error);
  const { datatype, value } = result.value;
  const reply: { type: number; value?: object; context?: Uint8Array } = { type: datatype === 'counter' ? DtDataType.COUNTER : DtDataType.SET };
  if (value !== undefined) {
    reply.value = value.type === 'counter' ? { counter_value: value.value } : { set_value: value.value };
    if (value.type === 'set' && m.include_context !== false) reply.context = value.context;
  }
  return encodeMessageFrame(MessageCode.DtFetchResp, 'DtFetchResp', reply);
}

/** The update a DtOp asks for; counter_op without an increment means +1 (riak_dt.proto). */
function updateOf(op: DtOp, context: Uint8Array | undefined): Result<DatatypeUpdate> {
  if (op.map_op !== undefined) return fail('invalid_request', 'maps are not supported; ringkv has counters and sets');
  if (op.hll_op !== undefined || op.gset_op !== undefined) return fail('invalid_request', 'HyperLogLogs and GSets are not supported; ringkv has counters and sets');
  if (op.counter_op !== undefined && op.set_op !== undefined) return fail('invalid_request', 'a DtOp carries one operation, not both counter_op and set_op');
  if (op.counter_op !== undefined) return ok({ type: 'counter', increment: op.counter_op.increment ?? 1 });
  if (op.set_op !== undefined) {
    const update: DatatypeUpdate = { type: 'set', adds: op.set_op.adds ?? [], removes: op.set_op.removes ?? [], ...(context === undefined ? {} : { context }) };
    return ok(update);
  }
  return fail('invalid_request', 'the DtOp carries no operation (counter_op or set_op)');
}

/**
 * DtUpdateReq. An absent key is generated and returned; return_body answers the value after the
 * update, with a set's context unless include_context is false.
 */
export async function handleDtUpdate(deps: KvHandlerDeps, m: DtUpdateReq): Promise<Buffer> {
  const generated = m.key === undefined || m.key.length === 0 ? bytesOf(deps.generateKey()) : undefined;
  const key = objectKey(m.type, m.bucket, generated ?? m.key!);
  if (!key.ok) return failure(key.error);
  const update = updateOf(m.op, m.context !== undefined && m.context.length > 0 ? m.context : undefined);
  if (!update.ok) return failure(update.error);
  const returnBody = m.return_body === true;
  const result = await deps.kv.updateDatatype({ ...writeOptionsOf(m), key: key.value, update: update.value, returnBody });
  if (!result.ok) return failure(result.error);
  const reply: { key?: Uint8Array; context?: Uint8Array; counter_value?: number; set_value?: readonly Uint8Array[] } = {};
  if (generated !== undefined) reply.key = generated;
  const value: DatatypeValue | undefined = result.value.value;
  if (returnBody && value !== undefined) {
    if (value.type === 'counter') reply.counter_value = value.value;
    else {
      reply.set_value = value.value;
      if (m.include_context !== false) reply.context = value.context;
    }
  }
  return encodeMessageFrame(MessageCode.DtUpdateResp, 'DtUpdateResp', reply);
}

/** RpbCounterUpdateReq: a counter in a bucket of the default type (see docs/data-types.md). */
export async function handleCounterUpdate(deps: Pick<KvHandlerDeps, 'kv'>, m: RpbCounterUpdateReq): Promise<Buffer> {
  const returnBody = m.returnvalue === true;
  const result = await deps.kv.updateDatatype({
    ...writeOptionsOf(m),
    key: { type: legacyCounterType, bucket: m.bucket, key: m.key },
    update: { type: 'counter', increment: m.amount },
    returnBody,
    legacyCounter: true,
  });
  if (!result.ok) return failure(result.error);
  const value = result.value.value;
  return encodeMessageFrame(MessageCode.CounterUpdateResp, 'RpbCounterUpdateResp', returnBody && value?.type === 'counter' ? { value: value.value } : {});
}

/** RpbCounterGetReq: not found is a reply without a value, as Riak answers it. */
export async function handleCounterGet(deps: Pick<KvHandlerDeps, 'kv'>, m: RpbCounterGetReq): Promise<Buffer> {
  const result = await deps.kv.fetchDatatype({ ...readOptionsOf(m), key: { type: legacyCounterType, bucket: m.bucket, key: m.key }, legacyCounter: true });
  if (!result.ok) return failure(result.error);
  const value = result.value.value;
  return encodeMessageFrame(MessageCode.CounterGetResp, 'RpbCounterGetResp', value?.type === 'counter' ? { value: value.value } : {});
}
