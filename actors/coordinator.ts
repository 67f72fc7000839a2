// The coordinator actor: runs get and put coordinators on the node the client reached. It gives
// each request an id, routes vnode replies to the coordinator with that id, owns the request's
// deadline timer, and forgets the coordinator once it has finished (including read repair).
// The in-flight table is bounded: past `inflightMax` a request is refused with `overload`.

import { type CoordinatorEffect, GetCoordinator, ListCoordinator, type ListEffect, PutCoordinator, type ReadFanout } from '../src/core/coordinator.js';
import type { ResolvedRead, ResolvedWrite } from '../src/core/bucket.js';
import { type Result, fail } from '../src/core/errors.js';
import type { GetReply, PutReply } from '../src/core/kv.js';
import type { VnodePut, VnodeReply, VnodeRequest } from '../src/core/messages.js';
import type { Clock, TimerHandle, VnodeRouter } from './ports.js';

type AnyCoordinator = GetCoordinator | PutCoordinator | ListCoordinator;

/** Where a request's replicas are when some primaries are replaced by fallbacks (sloppy quorum). */
export interface Placement {
  /** Partition → the fallback node serving it in place of its down owner. */
  readonly fallbacks: ReadonlyMap<number, string>;
}

interface Running {
  readonly coordinator: AnyCoordinator;
  readonly placement: Placement | undefined;
  readonly timer: TimerHandle;
  /** A read's speculation timer, while it has replicas not yet asked (see ReadFanout). */
  speculation: TimerHandle | undefined;
  resolve: ((result: Result<never>) => void) | undefined;
  readonly onItems: ((items: readonly Uint8Array[]) => void) | undefined;
}

const noFallbacks: ReadonlySet<number> = new Set();

function fallbackSet(placement: Placement | undefined): ReadonlySet<number> {
  return placement === undefined || placement.fallbacks.size === 0 ? noFallbacks : new Set(placement.fallbacks.keys());
}

/** How reads pick replicas (ReadFanout, without isLocal: the actor knows it from the router). */
export interface ReadFanoutConfig {
  readonly first: 'all' | 'quorum';
  readonly speculateMs: number;
}

export const defaultReadFanout: ReadFanoutConfig = { first: 'quorum', speculateMs: 20 };

export class CoordinatorActor {
  private nextRequestId = 1;
  private readonly running = new Map<number, Running>();
  private readonly fanout: ReadFanout;

  constructor(
    private readonly router: VnodeRouter,
    private readonly clock: Clock,
    private readonly inflightMax: number,
    readFanout: ReadFanoutConfig = defaultReadFanout,
  ) {
    // A partition hosted here has a worker index (>= 0); a remote one a negative host.
    this.fanout = { ...readFanout, isLocal: (partition) => router.hostOf(partition) >= 0 };
  }

  get inflight(): number {
    return this.running.size;
  }

  get(preferenceList: readonly number[], storageKey: Uint8Array, quorum: ResolvedRead, placement?: Placement): Promise<Result<GetReply>> {
    return this.run((id) => new GetCoordinator(id, preferenceList, storageKey, quorum, fallbackSet(placement), this.clock.nowMs(), this.fanout), quorum.timeoutMs, undefined, placement);
  }

  put(
    preferenceList: readonly number[],
    put: Omit<VnodePut, 'type' | 'requestId' | 'partition' | 'localReplicas'>,
    quorum: ResolvedWrite,
    returnBody: boolean,
    placement?: Placement,
  ): Promise<Result<PutReply>> {
    return this.run(
      (id) => new PutCoordinator(id, preferenceList, put, quorum, returnBody, (p) => this.router.hostOf(p), fallbackSet(placement)),
      quorum.timeoutMs,
      undefined,
      placement,
    );
  }

  /** Lists the live keys of a bucket (or, bucket undefined, the buckets of a type) over all partitions. */
  list(
    partitions: readonly number[],
    bucketType: string,
    bucket: Uint8Array | undefined,
    timeoutMs: number,
    onItems: (items: readonly Uint8Array[]) => void,
  ): Promise<Result<void>> {
    return this.run((id) => new ListCoordinator(id, partitions, bucketType, bucket), timeoutMs, onItems);
  }

  /** Routes a vnode reply to its coordinator; replies for finished requests are dropped. */
  onReply(reply: VnodeReply): void {
    const entry = this.running.get(reply.requestId);
    if (entry === undefined) return;
    this.perform(reply.requestId, entry, entry.coordinator.onReply(reply));
  }

  private run<T>(make: (id: number) => AnyCoordinator, timeoutMs: number, onItems?: (items: readonly Uint8Array[]) => void, placement?: Placement): Promise<Result<T>> {
    if (this.running.size >= this.inflightMax) {
      return Promise.resolve(fail('overload', `${this.running.size} requests in flight on this node, the limit is ${this.inflightMax}; retry later`));
    }
    const id = this.nextRequestId++;
    const coordinator = make(id);
    return new Promise((resolve) => {
      const timer = this.clock.setTimer(timeoutMs, () => {
        const entry = this.running.get(id);
        if (entry !== undefined) this.perform(id, entry, entry.coordinator.onTimeout());
      });
      const entry: Running = { coordinator, placement, timer, speculation: undefined, resolve: resolve as (result: Result<never>) => void, onItems };
      this.running.set(id, entry);
      this.perform(id, entry, coordinator.start());
      if (coordinator instanceof GetCoordinator && coordinator.unasked > 0 && !coordinator.finished) this.armSpeculation(id, entry, coordinator);
    });
  }

  private armSpeculation(id: number, entry: Running, coordinator: GetCoordinator): void {
    entry.speculation = this.clock.setTimer(this.fanout.speculateMs, () => {
      entry.speculation = undefined;
      if (this.running.get(id) === entry) this.perform(id, entry, coordinator.onSpeculate());
    });
  }

  private perform(id: number, entry: Running, effects: readonly (CoordinatorEffect<unknown> | ListEffect)[]): void {
    for (const effect of effects) {
      if (effect.type === 'send') {
        const fallback = entry.placement?.fallbacks.get(effect.request.partition);
        if (fallback === undefined) this.router.send(effect.request);
        else this.router.send({ ...effect.request, fallback: true } as VnodeRequest, fallback);
      } else if (effect.type === 'items') {
        entry.onItems?.(effect.items);
      } else {
        const resolve = entry.resolve;
        entry.resolve = undefined;
        resolve?.(effect.result as Result<never>);
      }
    }
    if (entry.coordinator.finished && this.running.get(id) === entry) {
      this.running.delete(id);
      this.clock.clearTimer(entry.timer);
      if (entry.speculation !== undefined) this.clock.clearTimer(entry.speculation);
    }
  }
}
