// The main thread's handle on one vnode host. HostHandle keeps the books every host needs: what
// is in flight, so that a host's death fails those requests at once (none hang), and the in-flight
// cap past which new requests are refused with `overload`. WorkerHandle runs its host on a worker
// thread and batches outgoing requests into one postMessage per event-loop turn; InlineHandle
// (inline-handle.ts) runs it on the main thread.

import { Worker } from 'node:worker_threads';
import { MessageChannel } from 'node:worker_threads';
import * as Comlink from 'comlink';
import { nodeEndpoint } from './comlink-endpoint.js';
import type { KvError } from '../../core/errors.js';
import { type VnodeReply, type VnodeRequest, isFinalReply } from '../../core/messages.js';
import type { RecoveryReport } from '../storage/worker-store.js';
import { decodeReplies, encodeRequests } from './batch-codec.js';
import type { MainToWorker, WorkerControl, WorkerInit, WorkerStats, WorkerToMain } from './protocol.js';

/** A host's control plane as the main thread calls it: every method answers a promise. */
export type ControlPlane = Comlink.Remote<WorkerControl>;

/**
 * A batch goes out at the end of the event-loop turn, or as soon as it holds this many requests:
 * a long turn (dozens of HTTP requests) would otherwise hold the first ones back for its whole
 * length, while one postMessage per 32 requests still keeps the per-message cost small.
 */
const earlyFlushRequests = 32;

export interface WorkerHandleEvents {
  onReply(reply: VnodeReply): void;
  /** The worker died or failed to start; `error` says why. Called once. */
  onExit(error: Error): void;
  onStorageFailed(reason: string): void;
  /** A main-thread host finished a drain (HostSink.drained); worker threads never call it. */
  onDrained?(): void;
}

export abstract class HostHandle {
  /** requestId → partitions with a request outstanding on this host. */
  private readonly inflight = new Map<number, number[]>();
  /** requestId → the puts sent for it still unanswered: the coordinating partition and its local replicas. */
  private readonly puts = new Map<number, { readonly partition: number; readonly locals: readonly number[] }[]>();
  private inflightCount = 0;
  protected state: 'starting' | 'ready' | 'closing' | 'dead' = 'starting';
  abstract readonly ready: Promise<RecoveryReport>;
  actorIds: readonly { partition: number; actorId: string }[] = [];

  constructor(
    readonly init: WorkerInit,
    private readonly inflightMax: number,
    protected readonly events: WorkerHandleEvents,
  ) {}

  get isReady(): boolean {
    return this.state === 'ready';
  }

  get inflightRequests(): number {
    return this.inflightCount;
  }

  /** Hands a request, already counted as in flight, to the host. */
  protected abstract deliver(request: VnodeRequest): void;

  /** Queues a request for the host, or fails it (asynchronously) when it cannot be taken. */
  send(request: VnodeRequest): void {
    if (this.state !== 'ready') {
      this.failSoon(request, { code: 'worker_unavailable', message: `vnode host worker ${this.init.workerIndex} is ${this.state === 'starting' ? 'restarting' : this.state}` });
      return;
    }
    if (this.inflightCount >= this.inflightMax) {
      this.failSoon(request, { code: 'overload', message: `${this.inflightCount} requests in flight to vnode host worker ${this.init.workerIndex}, the limit is ${this.inflightMax}` });
      return;
    }
    // A put's local replicas answer from this host too; a death must fail them as well.
    const answering = request.type === 'VnodePut' ? [request.partition, ...request.localReplicas] : [request.partition];
    const partitions = this.inflight.get(request.requestId);
    if (partitions === undefined) this.inflight.set(request.requestId, answering);
    else partitions.push(...answering);
    this.inflightCount += answering.length;
    if (request.type === 'VnodePut') {
      const sent = this.puts.get(request.requestId);
      const put = { partition: request.partition, locals: request.localReplicas };
      if (sent === undefined) this.puts.set(request.requestId, [put]);
      else sent.push(put);
    }
    this.deliver(request);
  }

  protected settle(reply: VnodeReply): void {
    if (isFinalReply(reply)) {
      this.untrack(reply.requestId, reply.partition);
      const put = this.takePut(reply.requestId, reply.partition);
      // A put refused by its coordinating replica (a failed condition, a full mailbox) was never
      // handed to the local replicas: they will not answer, and must not hold in-flight slots.
      if (put !== undefined && reply.type === 'VnodeFailed') for (const local of put.locals) this.untrack(reply.requestId, local);
    }
    this.events.onReply(reply);
  }

  private untrack(requestId: number, partition: number): void {
    const partitions = this.inflight.get(requestId);
    if (partitions === undefined) return;
    const at = partitions.indexOf(partition);
    if (at >= 0) {
      partitions.splice(at, 1);
      this.inflightCount--;
    }
    if (partitions.length === 0) this.inflight.delete(requestId);
  }

  private takePut(requestId: number, partition: number): { readonly partition: number; readonly locals: readonly number[] } | undefined {
    const sent = this.puts.get(requestId);
    const at = sent?.findIndex((put) => put.partition === partition) ?? -1;
    if (sent === undefined || at < 0) return undefined;
    const [put] = sent.splice(at, 1);
    if (sent.length === 0) this.puts.delete(requestId);
    return put;
  }

  private failSoon(request: VnodeRequest, error: KvError): void {
    const reply: VnodeReply = { type: 'VnodeFailed', requestId: request.requestId, partition: request.partition, error };
    queueMicrotask(() => this.events.onReply(reply));
  }

  /**
   * The worker died: every request in flight fails at once. A put its coordinating replica had
   * not answered may have been applied and logged before the death (and be replayed on restart),
   * so it fails with `timeout` — outcome unknown — and is not handed to another replica, which
   * would apply the same write a second time (as the router does for a dropped peer connection).
   */
  protected failInflight(error: KvError): void {
    const failedReplies: VnodeReply[] = [];
    const unknownOutcome: KvError = { code: 'timeout', message: `${error.message}, after the write was sent to it: it may or may not have been applied` };
    for (const [requestId, partitions] of this.inflight) {
      const puts = this.puts.get(requestId) ?? [];
      for (const partition of partitions) {
        const coordinating = puts.some((put) => put.partition === partition);
        failedReplies.push({ type: 'VnodeFailed', requestId, partition, error: coordinating ? unknownOutcome : error });
      }
    }
    this.inflight.clear();
    this.puts.clear();
    this.inflightCount = 0;
    this.dropQueued();
    for (const reply of failedReplies) this.events.onReply(reply);
  }

  /** Forgets requests queued for the host but not yet handed over (the host died). */
  protected dropQueued(): void {}

  stats(): Promise<WorkerStats> {
    return this.controlPlane.stats();
  }

  /** The host's control plane, for handoff (fold, count, drop); fails if the host is not running. */
  get controlPlane(): ControlPlane {
    if (this.state !== 'ready') throw new Error(`vnode host worker ${this.init.workerIndex} is not running (${this.state})`);
    return this.control;
  }

  protected abstract readonly control: ControlPlane;

  injectFault(fault: 'fail-next-datasync'): Promise<void> {
    return this.control.injectFault(fault);
  }

  /** Closes the host cleanly: pending writes are made durable and answered, the store closed. */
  abstract close(): Promise<void>;

  /** Kills the host from outside, as a crash would; for fault tests. */
  abstract kill(): Promise<void>;
}

export class WorkerHandle extends HostHandle {
  private readonly worker: Worker;
  protected readonly control: ControlPlane;
  private outbox: VnodeRequest[] = [];
  private flushScheduled = false;
  readonly ready: Promise<RecoveryReport>;
  /** Settles when the thread has died or exited. */
  private readonly gone: Promise<void>;
  private markGone!: () => void;

  constructor(init: WorkerInit, inflightMax: number, events: WorkerHandleEvents) {
    super(init, inflightMax, events);
    this.gone = new Promise((resolve) => (this.markGone = resolve));
    const channel = new MessageChannel();
    this.worker = new Worker(new URL('./worker.js', import.meta.url), {
      workerData: { init, controlPort: channel.port2 },
      transferList: [channel.port2],
    });
    this.control = Comlink.wrap<WorkerControl>(nodeEndpoint(channel.port1));
    channel.port1.unref();
    this.ready = new Promise((resolve, reject) => {
      this.worker.on('message', (message: WorkerToMain) => {
        if (message.type === 'WorkerReady') {
          this.state = 'ready';
          this.actorIds = message.actorIds;
          resolve(message.recovery);
        } else if (message.type === 'ReplyBatch') {
          for (const reply of decodeReplies(message)) this.settle(reply);
        } else {
          this.events.onStorageFailed(message.reason);
        }
      });
      const died = (error: Error): void => {
        this.markGone();
        if (this.state === 'dead') return;
        const wasStarting = this.state === 'starting';
        this.state = 'dead';
        this.failInflight({ code: 'worker_unavailable', message: `vnode host worker ${init.workerIndex} died: ${error.message}` });
        if (wasStarting) reject(error);
        this.events.onExit(error);
      };
      this.worker.on('error', died);
      this.worker.on('exit', (code) => died(new Error(`exited with code ${code}`)));
    });
    // A start-up failure is reported through onExit; keep the rejection from being unhandled.
    this.ready.catch(() => undefined);
  }

  protected deliver(request: VnodeRequest): void {
    this.outbox.push(request);
    if (this.outbox.length >= earlyFlushRequests) {
      this.flush();
    } else if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  protected override dropQueued(): void {
    this.outbox = [];
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.outbox.length === 0 || this.state === 'dead') return;
    const { bin, others } = encodeRequests(this.outbox);
    const message: MainToWorker = { type: 'RequestBatch', bin, others };
    this.outbox = [];
    this.worker.postMessage(message, [bin]);
  }

  async close(): Promise<void> {
    if (this.state === 'dead') return;
    if (this.state === 'starting') {
      // Nothing was acknowledged through it yet; stopping it mid-recovery is a crash recovery redoes.
      this.state = 'dead';
      await this.worker.terminate();
      return;
    }
    this.flush();
    this.state = 'closing';
    // A worker that dies while closing never answers the close: its death ends the wait.
    await Promise.race([this.control.close(), this.gone]);
    this.state = 'dead';
    await this.worker.terminate();
  }

  async kill(): Promise<void> {
    await this.worker.terminate();
  }
}
