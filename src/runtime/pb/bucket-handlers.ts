// Bucket properties and placement over the protobuf API: get bucket / bucket type answer the
// bucket type's configured properties; set and reset are accepted only when they would change
// nothing; the preference list of a key comes from the ring. It reads the node's configuration
// and never changes it.

import type { BucketProps } from '../../core/bucket.js';
import { encodeStorageKey } from '../../core/codec.js';
import { type KvError, type Result, fail, ok } from '../../core/errors.js';
import { partitionOf, preferencePartitions } from '../../core/ring.js';
import { bucketTypeChangeOf, bucketTypeOf, bytesOf, differingProps, rpbBucketPropsOf, textOf } from './convert.js';
import { kvErrorFrame } from './errors.js';
import { encodeFrame, encodeMessageFrame, errorFrame } from './frame.js';
import {
  MessageCode,
  type RpbBucketProps,
  type RpbGetBucketKeyPreflistReq,
  type RpbGetBucketReq,
  type RpbGetBucketTypeReq,
  type RpbResetBucketReq,
  type RpbSetBucketReq,
  type RpbSetBucketTypeReq,
} from './schema.js';

export interface BucketHandlerDeps {
  readonly bucketTypes: ReadonlyMap<string, BucketProps>;
  readonly nodeName: string;
  /** Q, the partitions of the ring. */
  readonly partitions: number;
  /** The node owning a partition (this node when it is alone). */
  readonly ownerOf?: (partition: number) => string;
  /** Changes a bucket type's properties cluster-wide; without it, types are fixed. */
  readonly changeBucketType?: (name: string, props: Record<string, unknown>) => Promise<Result<unknown>>;
}

export const fixedPropsMessage =
  'ringkv: bucket properties are per bucket type; change the type instead (RpbSetBucketTypeReq, PUT /v1/types/{type} or `ringkv bucket-type update`)';

function failure(error: KvError): Buffer {
  return kvErrorFrame(error);
}

function propsOfType(deps: BucketHandlerDeps, type: Result<string>): Result<{ name: string; props: BucketProps }> {
  if (!type.ok) return type;
  const props = deps.bucketTypes.get(type.value);
  return props === undefined ? fail('unknown_bucket_type', `bucket type "${type.value}" is not defined`) : ok({ name: type.value, props });
}

function propsReply(found: Result<{ props: BucketProps }>): Buffer {
  if (!found.ok) return failure(found.error);
  return encodeMessageFrame(MessageCode.GetBucketResp, 'RpbGetBucketResp', { props: rpbBucketPropsOf(found.value.props) });
}

/** RpbGetBucketReq: every bucket has its type's properties. */
export function handleGetBucket(deps: BucketHandlerDeps, m: RpbGetBucketReq): Buffer {
  return propsReply(propsOfType(deps, bucketTypeOf(m.type)));
}

/** RpbGetBucketTypeReq, answered with RpbGetBucketResp as Riak does. */
export function handleGetBucketType(deps: BucketHandlerDeps, m: RpbGetBucketTypeReq): Buffer {
  return propsReply(propsOfType(deps, textOf('type', m.type)));
}

/**
 * RpbSetBucketReq and RpbSetBucketTypeReq. Properties are fixed per bucket type in the node's
 * configuration until bucket types can change at run time, so a set is refused — except one that
 * asks for exactly the properties in force. Clients routinely "set" allow_mult=true or n_val=3 at
 * start-up to make sure of them; refusing that would break them for no reason, and accepting it
 * is truthful because nothing changes.
 */
function setProps(deps: BucketHandlerDeps, type: Result<string>, wanted: RpbBucketProps): Buffer {
  const found = propsOfType(deps, type);
  if (!found.ok) return failure(found.error);
  const differing = differingProps(found.value.props, wanted);
  if (differing.length === 0) return encodeFrame(MessageCode.SetBucketResp);
  return errorFrame(`${fixedPropsMessage} (bucket type "${found.value.name}"; asked to change: ${differing.join(', ')})`);
}

export function handleSetBucket(deps: BucketHandlerDeps, m: RpbSetBucketReq): Buffer {
  return setProps(deps, bucketTypeOf(m.type), m.props);
}

/** RpbSetBucketTypeReq: changes the type's properties in the cluster metadata (every node). */
export async function handleSetBucketType(deps: BucketHandlerDeps, m: RpbSetBucketTypeReq): Promise<Buffer> {
  if (deps.changeBucketType === undefined) return setProps(deps, textOf('type', m.type), m.props);
  const name = textOf('type', m.type);
  if (!name.ok) return failure(name.error);
  if (!deps.bucketTypes.has(name.value)) return failure({ code: 'unknown_bucket_type', message: `bucket type "${name.value}" is not defined` });
  const change = bucketTypeChangeOf(m.props);
  if (!change.ok) return failure(change.error);
  const changed = await deps.changeBucketType(name.value, change.value);
  return changed.ok ? encodeFrame(MessageCode.SetBucketResp) : failure(changed.error);
}

/**
 * RpbResetBucketReq puts a bucket back to its type's properties. A bucket here never has
 * properties of its own, so it is always already there: the reset succeeds and changes nothing
 * (the same rule as a set that changes nothing). An unknown type is still an error.
 */
export function handleResetBucket(deps: BucketHandlerDeps, m: RpbResetBucketReq): Buffer {
  const found = propsOfType(deps, bucketTypeOf(m.type));
  return found.ok ? encodeFrame(MessageCode.ResetBucketResp) : failure(found.error);
}

/**
 * RpbGetBucketKeyPreflistReq: the n_val partitions holding the key's replicas. `partition` is the
 * partition number (0 … Q-1), which is what Riak sends (riak_core_apl:get_apl_ann_with_pnum), not
 * the 160-bit ring index. Each is a primary on the node owning that partition in this node's view
 * of the ring (fallbacks come with sloppy quorum).
 */
export function handleGetPreflist(deps: BucketHandlerDeps, m: RpbGetBucketKeyPreflistReq): Buffer {
  const found = propsOfType(deps, bucketTypeOf(m.type));
  if (!found.ok) return failure(found.error);
  if (m.bucket.length === 0) return failure({ code: 'invalid_request', message: 'the bucket name is empty' });
  if (m.key.length === 0) return failure({ code: 'invalid_request', message: 'the key is empty' });
  const storageKey = encodeStorageKey({ type: found.value.name, bucket: m.bucket, key: m.key });
  const first = partitionOf(storageKey, deps.partitions);
  const preflist = preferencePartitions(first, found.value.props.nVal, deps.partitions).map((partition) => ({
    partition,
    node: bytesOf(deps.ownerOf?.(partition) ?? deps.nodeName),
    primary: true,
  }));
  return encodeMessageFrame(MessageCode.GetBucketKeyPreflistResp, 'RpbGetBucketKeyPreflistResp', { preflist });
}
