// The node supervisor: starts the vnode-host workers, assigns partitions to them (round robin,
// so a key's consecutive replicas land on different workers), routes vnode requests to the
// owning worker, and restarts a worker that dies — at most `maxRestarts` times within
// `periodMs`; past that it escalates, and the node shuts down with the reason logged.

import type { Logger } from 'pino';
import type { ExchangeAnswer, ExchangeRequest, TreeId } from '../../core/aae-exchange.js';
import type { VnodeReply, VnodeRequest } from '../../core/messages.js';
import { type RestartIntensity, decideRestart } from '../../core/supervision.js';
import type { VnodeRouter } from '../../../actors/ports.js';
import type { ReapScan, TreesConfig, WorkerControl, WorkerInit, WorkerStats } from './protocol.js';
import { type HostHandle, WorkerHandle } from './worker-handle.js';
import { InlineHandle } from './inline-handle.js';

export interface SupervisorOptions {
  readonly workers: number;
  /** Where the vnode hosts run: each on a worker thread of its own, or all on the main thread. */
  readonly vnodeHost: 'worker-threads' | 'main-thread';
  readonly partitions: number;
  readonly workerInit: Omit<WorkerInit, 'workerIndex' | 'partitions' | 'store'> & { store: Omit<WorkerInit['store'], 'dir'> };
  readonly dataDir: string;
  readonly workerInflightMax: number;
  readonly intensity: RestartIntensity;
  readonly onReply: (reply: VnodeReply) => void;
  readonly onEscalate: (reason: string) => void;
  readonly onStorageFailed: (workerIndex: number, reason: string) => void;
  /** A host on the main thread finished a drain; see HostSink.drained. */
  readonly onDrained?: () => void;
  readonly log: Logger;
}

export function assignPartitions(partitions: number, workers: number): number[][] {
  const out: number[][] = Array.from({ length: workers }, () => []);
  for (let p = 0; p < partitions; p++) out[p % workers]!.push(p);
  return out;
}

export class Supervisor implements VnodeRouter {
  private readonly handles: HostHandle[] = [];
  private readonly ownerOf: number[] = [];
  private restartHistory: readonly number[] = [];
  /** Until every host has started once, a host's death fails the start instead of being restarted. */
  private started = false;
  private stopping = false;
  restarts = 0;

  constructor(private readonly options: SupervisorOptions) {
    const assignment = assignPartitions(options.partitions, options.workers);
    assignment.forEach((parts, index) => parts.forEach((p) => (this.ownerOf[p] = index)));
  }

  private initFor(index: number): WorkerInit {
    const { workerInit, dataDir } = this.options;
    return {
      ...workerInit,
      workerIndex: index,
      partitions: assignPartitions(this.options.partitions, this.options.workers)[index]!,
      store: { ...workerInit.store, dir: `${dataDir}/worker-${index}` },
    };
  }

  /** Starts every worker and waits until each has recovered its store. */
  async start(): Promise<void> {
    for (let i = 0; i < this.options.workers; i++) this.handles[i] = this.spawn(i);
    const reports = await Promise.all(this.handles.map((h) => h.ready));
    this.started = true;
    reports.forEach((recovery, index) => this.options.log.info({ worker: index, recovery }, 'vnode host ready'));
  }

  private spawn(index: number): HostHandle {
    const events = {
      onReply: this.options.onReply,
      onExit: (error: Error) => this.onWorkerExit(index, handle, error),
      onStorageFailed: (reason: string) => this.options.onStorageFailed(index, reason),
      ...(this.options.onDrained === undefined ? {} : { onDrained: this.options.onDrained }),
    };
    const handle: HostHandle =
      this.options.vnodeHost === 'main-thread'
        ? new InlineHandle(this.initFor(index), this.options.workerInflightMax, events, this.options.log)
        : new WorkerHandle(this.initFor(index), this.options.workerInflightMax, events);
    return handle;
  }

  private onWorkerExit(index: number, handle: HostHandle, error: Error): void {
    // A host that cannot start (a damaged store, say) would fail again: the start fails with its reason.
    if (this.stopping || !this.started || this.handles[index] !== handle) return;
    const decision = decideRestart(this.restartHistory, Date.now(), this.options.intensity);
    this.restartHistory = decision.history;
    if (decision.action === 'escalate') {
      this.options.log.error({ worker: index, err: error }, `vnode host worker died; not restarting: ${decision.reason}`);
      this.options.onEscalate(`vnode host worker ${index} died (${error.message}) and ${decision.reason}`);
      return;
    }
    this.restarts++;
    this.options.log.warn({ worker: index, err: error }, 'vnode host worker died; restarting it');
    const next = this.spawn(index);
    this.handles[index] = next;
    next.ready.then(
      (recovery) => this.options.log.info({ worker: index, recovery }, 'vnode host worker restarted'),
      () => undefined, // its exit handler decides again
    );
  }

  send(request: VnodeRequest): void {
    this.handles[this.ownerOf[request.partition]!]!.send(request);
  }

  workerOf(partition: number): number {
    return this.ownerOf[partition]!;
  }

  hostOf(partition: number): number {
    return this.ownerOf[partition]!;
  }

  get workerCount(): number {
    return this.handles.length;
  }

  /** For fault tests: kills worker `index` from outside, as a crash would. */
  killWorker(index: number): Promise<void> {
    return this.handles[index]!.kill();
  }

  /** For fault tests: the next fdatasync of worker `index` fails (needs faults.injection). */
  injectStorageFault(index: number): Promise<void> {
    return this.handles[index]!.injectFault('fail-next-datasync');
  }

  /** Handoff: one batch of a partition's objects in key order (see WorkerControl.foldBatch). */
  foldBatch(partition: number, afterKeyHex: string | undefined, maxItems: number, maxBytes: number): Promise<ReturnType<WorkerControl['foldBatch']>> {
    return this.handles[this.workerOf(partition)]!.controlPlane.foldBatch(partition, afterKeyHex, maxItems, maxBytes);
  }

  /** Tombstone reaping: one batch of a partition's reapable tombstones (see WorkerControl.reapScan). */
  reapScan(partition: number, partitionCount: number, afterKeyHex: string | undefined, maxItems: number, nowMs: number, delayMs: number): Promise<ReapScan> {
    return this.handles[this.workerOf(partition)]!.controlPlane.reapScan(partition, partitionCount, afterKeyHex, maxItems, nowMs, delayMs);
  }

  countKeys(partition: number): Promise<number> {
    return this.handles[this.workerOf(partition)]!.controlPlane.countKeys(partition);
  }

  dropPartition(partition: number): Promise<{ removed: number }> {
    return this.handles[this.workerOf(partition)]!.controlPlane.dropPartition(partition);
  }

  // ---- Anti-entropy trees (see WorkerControl.aae*): each call fails, rather than waits, when the
  // worker is not running; the caller retries on its next tick.

  /** The partitions worker `index` hosts. */
  partitionsOf(index: number): readonly number[] {
    return assignPartitions(this.options.partitions, this.options.workers)[index]!;
  }

  workerIsReady(index: number): boolean {
    return this.handles[index]?.isReady === true;
  }

  aaeTrack(index: number, config: TreesConfig, partitions: readonly number[]): Promise<void> {
    return this.onWorker(index, (control) => control.aaeTrack(config, [...partitions]));
  }

  aaeRebuild(partition: number): Promise<void> {
    return this.onWorker(this.workerOf(partition), (control) => control.aaeRebuild(partition));
  }

  aaeAnswer(partition: number, tree: TreeId, request: ExchangeRequest): Promise<ExchangeAnswer> {
    // comlink distributes the union over Promise; it is one ExchangeAnswer.
    return this.onWorker(this.workerOf(partition), (control) => control.aaeAnswer(partition, tree, request) as Promise<ExchangeAnswer>);
  }

  aaeStats(index: number): Promise<ReturnType<WorkerControl['aaeStats']>> {
    return this.onWorker(index, (control) => control.aaeStats());
  }

  private async onWorker<T>(index: number, call: (control: HostHandle['controlPlane']) => Promise<T> | T): Promise<T> {
    return call(this.handles[index]!.controlPlane);
  }

  /** Each hosted vnode's causal identity, by partition. */
  actorIds(): { partition: number; actorId: string }[] {
    return this.handles.flatMap((h) => h.actorIds).sort((a, b) => a.partition - b.partition);
  }

  workerReady(index: number): Promise<unknown> {
    return this.handles[index]!.ready;
  }

  async stats(): Promise<(WorkerStats | { workerIndex: number; state: string })[]> {
    return Promise.all(
      this.handles.map((h, i) => (h.isReady ? h.stats().catch(() => ({ workerIndex: i, state: 'unavailable' })) : Promise.resolve({ workerIndex: i, state: 'restarting' }))),
    );
  }

  /** Closes every worker; pending writes become durable and are answered first. */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.handles.map((h) => h.close().catch((err: Error) => this.options.log.error({ err }, 'closing a worker failed'))));
  }
}
