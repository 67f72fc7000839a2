// The ringkv client over the Riak protocol-buffers port: one pool per node, requests spread
// round-robin. A read whose node is unreachable is tried once more on the next node; a write is
// never retried, because the client cannot know whether the first attempt was applied.

import type { ReplyDecoder } from './call.js';
import { RingkvError } from './errors.js';
import {
  type Bytes,
  type DeleteOptions,
  type GetOptions,
  type GetReply,
  type ListKeysOptions,
  type PutOptions,
  type PutReply,
  decodeDeleteReply,
  decodeGetReply,
  decodeListKeysReply,
  decodePingReply,
  decodePutReply,
  deleteRequest,
  getRequest,
  listKeysRequest,
  type BucketProps,
  bucketPropsRequest,
  decodeBucketPropsReply,
  pingRequest,
  putRequest,
} from './messages.js';
import {
  type CounterValue,
  type DatatypeLocation,
  type DatatypeReadOptions,
  type DatatypeWriteOptions,
  type SetUpdate,
  type SetValue,
  counterUpdateRequest,
  decodeCounterFetch,
  decodeCounterUpdate,
  decodeSetFetch,
  decodeSetUpdate,
  dtFetchRequest,
  setUpdateRequest,
} from './datatypes.js';
import { type ClientLimits, type ClientOptions, clientLimitsOf, parseAddress } from './options.js';
import { NodePool } from './pool.js';

export class RingkvClient {
  private readonly pools: NodePool[];
  private nextPool = 0;

  constructor(options: ClientOptions) {
    const limits: ClientLimits = clientLimitsOf(options);
    this.limits = limits;
    this.pools = options.nodes.map((address) => {
      const { host, port } = parseAddress(address)!;
      return new NodePool(address, host, port, limits);
    });
  }

  readonly limits: ClientLimits;

  get(bucket: Bytes, key: Bytes, options: GetOptions = {}): Promise<GetReply> {
    return this.read(getRequest(bucket, key, options), () => decodeGetReply, options.timeoutMs);
  }

  /** Rejects with a TypeError, sending nothing, when `ttlMs` is not a non-negative integer. */
  async put(bucket: Bytes, key: Bytes, value: Bytes, options: PutOptions = {}): Promise<PutReply> {
    return this.write(putRequest(bucket, key, value, options), decodePutReply(options.returnBody === true), options.timeoutMs);
  }

  delete(bucket: Bytes, key: Bytes, options: DeleteOptions = {}): Promise<void> {
    return this.write(deleteRequest(bucket, key, options), decodeDeleteReply, options.timeoutMs);
  }

  listKeys(bucket: Bytes, options: ListKeysOptions = {}): Promise<Buffer[]> {
    return this.read(listKeysRequest(bucket, options), decodeListKeysReply, options.timeoutMs);
  }

  /** The bucket's properties (today those of its bucket type). */
  bucketProps(bucket: Bytes, options: { readonly type?: string | undefined; readonly timeoutMs?: number | undefined } = {}): Promise<BucketProps> {
    return this.read(bucketPropsRequest(bucket, options), () => decodeBucketPropsReply, options.timeoutMs);
  }

  /** A counter's value: the sum of every increment the replicas read have seen. */
  fetchCounter(at: DatatypeLocation, options: DatatypeReadOptions = {}): Promise<CounterValue> {
    return this.read(dtFetchRequest(at, options), () => decodeCounterFetch, options.timeoutMs);
  }

  /**
   * Adds `increment` (negative to subtract); answers the value after it. Never retried. Rejects
   * with a TypeError, sending nothing, when `increment` is not a safe integer.
   */
  async updateCounter(at: DatatypeLocation, increment: number, options: DatatypeWriteOptions = {}): Promise<number> {
    return this.write(counterUpdateRequest(at, increment, options), decodeCounterUpdate, options.timeoutMs);
  }

  /** A set's members and the context to pass back when removing them. */
  fetchSet(at: DatatypeLocation, options: DatatypeReadOptions = {}): Promise<SetValue> {
    return this.read(dtFetchRequest(at, options), () => decodeSetFetch, options.timeoutMs);
  }

  /** Adds and removes members (removes first); answers the set after the update. Never retried. */
  async updateSet(at: DatatypeLocation, update: SetUpdate, options: DatatypeWriteOptions = {}): Promise<SetValue> {
    return this.write(setUpdateRequest(at, update, options), decodeSetUpdate, options.timeoutMs);
  }

  ping(options: { readonly timeoutMs?: number | undefined } = {}): Promise<void> {
    return this.read(pingRequest(), () => decodePingReply, options.timeoutMs);
  }

  /** Fails every queued and in-flight request with `closed` and closes every connection. */
  close(): Promise<void> {
    for (const pool of this.pools) pool.close();
    return Promise.resolve();
  }

  private pickPool(): number {
    const index = this.nextPool;
    this.nextPool = (this.nextPool + 1) % this.pools.length;
    return index;
  }

  /** A read goes to the next node, and once more to the one after when that node is unreachable. */
  private async read<T>(frame: Buffer, decoder: () => ReplyDecoder<T>, timeoutMs: number | undefined): Promise<T> {
    const first = this.pickPool();
    const deadlineMs = timeoutMs ?? this.limits.timeoutMs;
    try {
      return await this.pools[first]!.request(frame, decoder(), deadlineMs);
    } catch (error) {
      if (!(error instanceof RingkvError) || error.code !== 'unreachable' || this.pools.length < 2) throw error;
      return this.pools[(first + 1) % this.pools.length]!.request(frame, decoder(), deadlineMs);
    }
  }

  private write<T>(frame: Buffer, decoder: ReplyDecoder<T>, timeoutMs: number | undefined): Promise<T> {
    return this.pools[this.pickPool()]!.request(frame, decoder, timeoutMs ?? this.limits.timeoutMs);
  }
}

/** Makes a client; connections open lazily, on the first request to each node. */
export async function connect(options: ClientOptions): Promise<RingkvClient> {
  return new RingkvClient(options);
}
