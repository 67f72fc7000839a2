// The Riak-compatible protocol-buffers front end: the frame codec and the request handlers
// plugged into the shared TCP machinery, which owns connections, pipelining and their limits.
// It dispatches each decoded request to one handler with a single switch; it holds no data and
// reaches the store only through KvService.

import { readFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { BucketProps } from '../../core/bucket.js';
import { assert, assertNever } from '../../core/errors.js';
import type { KvService } from '../../core/kv.js';
import { isPowerOfTwo } from '../../core/ring.js';
import { type ProtocolHandler, type TcpFrontEnd, type TcpFrontEndLimits, startTcpFrontEnd } from '../wire/tcp-front-end.js';
import { handleGetBucket, handleGetBucketType, handleGetPreflist, handleResetBucket, handleSetBucket, handleSetBucketType } from './bucket-handlers.js';
import { bytesOf } from './convert.js';
import { type PbRequest, encodeFrame, encodeMessageFrame, errorFrame, parseFrame } from './frame.js';
import { handleCounterGet, handleCounterUpdate, handleDtFetch, handleDtUpdate } from './dt-handlers.js';
import { handleDelete, handleGet, handleListBuckets, handleListKeys, handlePut } from './kv-handlers.js';
import { MessageCode } from './schema.js';

export interface PbFrontEndOptions {
  readonly host: string;
  readonly port: number;
  readonly limits: TcpFrontEndLimits;
  /** The largest frame (code byte plus body) accepted; longer ones are refused from the header. */
  readonly maxFrameBytes: number;
  readonly log: Logger;
}

export interface PbFrontEndDeps {
  readonly kv: KvService;
  readonly bucketTypes: ReadonlyMap<string, BucketProps>;
  readonly nodeName: string;
  /** Q, the partitions of the ring, for preference lists. */
  readonly partitions: number;
  /** The node owning a partition, for preference lists. */
  readonly ownerOf?: (partition: number) => string;
  /** Changes a bucket type cluster-wide (RpbSetBucketTypeReq). */
  readonly changeBucketType?: (name: string, props: Record<string, unknown>) => Promise<import('../../core/errors.js').Result<unknown>>;
  /** A fresh key for a put that names none. */
  readonly generateKey: () => string;
}

/** The `version` of ringkv's package.json, read from the installed tree (dist/src/runtime/pb → root). */
async function packageVersion(): Promise<string> {
  try {
    const text = await readFile(new URL('../../../../package.json', import.meta.url), 'utf8');
    const version = (JSON.parse(text) as { version?: unknown }).version;
    return typeof version === 'string' ? version : 'unknown';
  } catch {
    return 'unknown';
  }
}

export function pbProtocol(options: Pick<PbFrontEndOptions, 'limits' | 'maxFrameBytes'>, deps: PbFrontEndDeps, serverVersion: string): ProtocolHandler<PbRequest> {
  assert(Number.isInteger(options.maxFrameBytes) && options.maxFrameBytes >= 1, 'maxFrameBytes is a positive integer');
  assert(isPowerOfTwo(deps.partitions), 'partitions is a power of two');
  const kvDeps = { kv: deps.kv, generateKey: deps.generateKey, maxListingBytes: options.limits.maxUnsentBytes };
  const serverInfo = encodeMessageFrame(MessageCode.GetServerInfoResp, 'RpbGetServerInfoResp', {
    node: bytesOf(deps.nodeName),
    server_version: bytesOf(`ringkv-${serverVersion}`),
  });
  const pong = encodeFrame(MessageCode.PingResp);

  async function answer(request: PbRequest): Promise<Uint8Array> {
    switch (request.kind) {
      case 'ping':
        return pong;
      case 'server_info':
        return serverInfo;
      case 'get':
        return handleGet(kvDeps, request.message);
      case 'put':
        return handlePut(kvDeps, request.message);
      case 'delete':
        return handleDelete(kvDeps, request.message);
      case 'list_keys':
        return handleListKeys(kvDeps, request.message);
      case 'list_buckets':
        return handleListBuckets(kvDeps, request.message);
      case 'get_bucket':
        return handleGetBucket(deps, request.message);
      case 'get_bucket_type':
        return handleGetBucketType(deps, request.message);
      case 'set_bucket':
        return handleSetBucket(deps, request.message);
      case 'set_bucket_type':
        return handleSetBucketType(deps, request.message);
      case 'reset_bucket':
        return handleResetBucket(deps, request.message);
      case 'get_preflist':
        return handleGetPreflist(deps, request.message);
      case 'dt_fetch':
        return handleDtFetch(kvDeps, request.message);
      case 'dt_update':
        return handleDtUpdate(kvDeps, request.message);
      case 'counter_update':
        return handleCounterUpdate(kvDeps, request.message);
      case 'counter_get':
        return handleCounterGet(kvDeps, request.message);
      case 'not_available':
        return errorFrame(request.errmsg);
      default:
        return assertNever(request);
    }
  }

  return {
    name: 'protocol buffers',
    parse: (buffer) => parseFrame(buffer, options.maxFrameBytes),
    handle: async (request) => ({ reply: await answer(request) }),
    internalError: (message) => errorFrame(`ringkv: internal error: ${message}`),
  };
}

export async function startPbFrontEnd(options: PbFrontEndOptions, deps: PbFrontEndDeps): Promise<TcpFrontEnd> {
  const protocol = pbProtocol(options, deps, await packageVersion());
  return startTcpFrontEnd({ host: options.host, port: options.port, limits: options.limits, log: options.log }, protocol);
}
