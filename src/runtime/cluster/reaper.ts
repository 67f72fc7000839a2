// Tombstone reaping on the main thread. Every `intervalMs` the reaper walks the partitions this
// node owns (one batch of keys per partition per step, so a large partition never stalls its
// worker), and for each tombstone older than `delayMs` whose key's first partition is the one
// walked (exactly one vnode looks after each key) it:
//   1. skips the key while any of its N partitions is moving, or any of their owners is down;
//   2. reads the tombstone from every one of the N primary owners (no fallbacks), and confirms
//      they all hold exactly that version (confirmTombstone in src/core/reaping.ts);
//   3. sends each replica a VnodeReap carrying the bytes that replica answered with, so a replica
//      that took a write in between keeps the key.
// A key not confirmed, or not removed everywhere, is simply met again on the next pass: anti-
// entropy copies a surviving tombstone back where it was removed, and the next pass reaps it.
// Why the delay is at least hintMaxAgeMs: a hint of the value written before the delete, delivered
// after the reap, would find nothing to supersede it; hints older than hintMaxAgeMs are dropped.

import type { Logger } from 'pino';
import type { Clock, TimerHandle } from '../../../actors/ports.js';
import { DecodeError, decodeStorageKey } from '../../core/codec.js';
import type { VnodeReply } from '../../core/messages.js';
import { confirmTombstone } from '../../core/reaping.js';
import { preferencePartitions } from '../../core/ring.js';
import type { ReapScan } from '../vnode-host/protocol.js';
import type { UnnumberedRequest } from './router.js';

export interface ReapHost {
  reapScan(partition: number, partitionCount: number, afterKeyHex: string | undefined, maxItems: number, nowMs: number, delayMs: number): Promise<ReapScan>;
}

export interface ReaperOptions {
  readonly self: string;
  readonly partitionCount: number;
  /** Each partition's owner and, while it moves, its next owner. */
  readonly ring: () => readonly { readonly owner: string; readonly next?: string | undefined }[];
  readonly isUp: (node: string) => boolean;
  /** The n_val of a bucket type, undefined for a type the cluster does not know. */
  readonly nValOf: (type: string) => number | undefined;
  readonly host: ReapHost;
  /** A vnode request to `node`'s vnode (this node's included); the final reply goes to `onReply`. */
  readonly vnodeRequest: (node: string, request: UnnumberedRequest, onReply: (reply: VnodeReply) => void) => void;
  readonly clock: Clock;
  /** Wall-clock time, which tombstones are stamped with. */
  readonly nowMs: () => number;
  readonly intervalMs: number;
  readonly delayMs: number;
  /** Keys judged per partition per worker call. */
  readonly batchKeys: number;
  /** Tombstones being confirmed or reaped at once. */
  readonly inFlightMax: number;
  /** A replica that has not answered a read or a reap within this long counts as failed. */
  readonly requestTimeoutMs: number;
  readonly log: Pick<Logger, 'info' | 'warn' | 'debug'>;
}

export interface PartitionReapStatus {
  readonly partition: number;
  /** Tombstones met in the last complete pass: too young, and old enough but not (yet) reaped. */
  readonly young: number;
  readonly waiting: number;
  readonly reaped: number;
  readonly lastPassMs: number | null;
}

interface PartitionPass {
  cursor: string | undefined;
  young: number;
  waiting: number;
  reapedThisPass: number;
  /** The last complete pass's figures, for status. */
  last: { young: number; waiting: number; at: number } | undefined;
  reaped: number;
}

export type BlockReason = 'transfer' | 'replica_down' | 'unknown_type' | 'not_confirmed' | 'read_failed' | 'kept';

export class Reaper {
  readonly counts = { passes: 0, reaped: 0, confirmed: 0, blocked: { transfer: 0, replica_down: 0, unknown_type: 0, not_confirmed: 0, read_failed: 0, kept: 0 } as Record<BlockReason, number> };
  private readonly partitions = new Map<number, PartitionPass>();
  private timer: TimerHandle | undefined;
  private running = false;
  private stopped = false;

  constructor(private readonly options: ReaperOptions) {}

  start(): void {
    this.schedule(this.options.intervalMs);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) this.options.clock.clearTimer(this.timer);
  }

  /** One pass over every owned partition; resolves when it is done (tests call it directly). */
  async pass(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      const ring = this.options.ring();
      for (let partition = 0; partition < ring.length && !this.stopped; partition++) {
        if (ring[partition]!.owner !== this.options.self) {
          this.partitions.delete(partition);
          continue;
        }
        await this.passPartition(partition);
      }
      this.counts.passes++;
    } finally {
      this.running = false;
    }
  }

  status(): { enabled: true; delayMs: number; intervalMs: number; awaiting: number; reaped: number; blocked: Record<BlockReason, number>; partitions: PartitionReapStatus[] } {
    const partitions = [...this.partitions.entries()]
      .sort(([a], [b]) => a - b)
      .map(([partition, p]) => ({ partition, young: p.last?.young ?? 0, waiting: p.last?.waiting ?? 0, reaped: p.reaped, lastPassMs: p.last?.at ?? null }));
    const awaiting = partitions.reduce((sum, p) => sum + p.young + p.waiting, 0);
    return { enabled: true, delayMs: this.options.delayMs, intervalMs: this.options.intervalMs, awaiting, reaped: this.counts.reaped, blocked: { ...this.counts.blocked }, partitions };
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = this.options.clock.setTimer(delayMs, () => {
      this.pass()
        .catch((error: unknown) => this.options.log.warn({ err: (error as Error).message }, 'tombstone reaping: a pass failed; the next one retries'))
        .finally(() => this.schedule(this.options.intervalMs));
    });
  }

  private async passPartition(partition: number): Promise<void> {
    let pass = this.partitions.get(partition);
    if (pass === undefined) {
      pass = { cursor: undefined, young: 0, waiting: 0, reapedThisPass: 0, last: undefined, reaped: 0 };
      this.partitions.set(partition, pass);
    }
    for (;;) {
      if (this.stopped) return;
      const scan = await this.options.host.reapScan(partition, this.options.partitionCount, pass.cursor, this.options.batchKeys, this.options.nowMs(), this.options.delayMs);
      pass.young += scan.young;
      const outcomes = await this.inBatches(scan.candidates, (c) => this.reapKey(partition, c.key, c.value));
      for (const outcome of outcomes) {
        if (outcome === 'reaped') {
          pass.reapedThisPass++;
          pass.reaped++;
        } else {
          pass.waiting++;
        }
      }
      pass.cursor = scan.resumeAfterHex;
      if (scan.done || scan.resumeAfterHex === undefined) break;
    }
    pass.last = { young: pass.young, waiting: pass.waiting, at: this.options.nowMs() };
    if (pass.reapedThisPass > 0) this.options.log.info({ partition, reaped: pass.reapedThisPass, waiting: pass.waiting }, 'tombstone reaping: reaped tombstones every replica held');
    Object.assign(pass, { cursor: undefined, young: 0, waiting: 0, reapedThisPass: 0 });
  }

  private async inBatches<T, R>(items: readonly T[], run: (item: T) => Promise<R>): Promise<R[]> {
    const out: R[] = [];
    for (let i = 0; i < items.length; i += this.options.inFlightMax) {
      out.push(...(await Promise.all(items.slice(i, i + this.options.inFlightMax).map(run))));
    }
    return out;
  }

  /** Confirms one tombstone on its N primaries and reaps it there. */
  private async reapKey(partition: number, storageKey: Uint8Array, tombstone: Uint8Array): Promise<'reaped' | BlockReason> {
    const outcome = await this.tryReap(partition, storageKey, tombstone);
    if (outcome !== 'reaped') this.counts.blocked[outcome]++;
    return outcome;
  }

  private async tryReap(partition: number, storageKey: Uint8Array, tombstone: Uint8Array): Promise<'reaped' | BlockReason> {
    let type: string;
    try {
      type = decodeStorageKey(storageKey).type;
    } catch (error) {
      if (error instanceof DecodeError) return 'unknown_type';
      throw error;
    }
    const nVal = this.options.nValOf(type);
    if (nVal === undefined) return 'unknown_type';
    const ring = this.options.ring();
    const replicas = preferencePartitions(partition, Math.min(nVal, this.options.partitionCount), this.options.partitionCount).map((p) => ({ partition: p, node: ring[p]!.owner, moving: ring[p]!.next !== undefined }));
    if (replicas.some((r) => r.moving)) return 'transfer';
    if (replicas.some((r) => r.node !== this.options.self && !this.options.isUp(r.node))) return 'replica_down';

    const answers = await Promise.all(replicas.map((r) => this.request(r.node, { type: 'VnodeGet', partition: r.partition, storageKey })));
    const objects: (Uint8Array | undefined)[] = [];
    for (const answer of answers) {
      if (answer.type !== 'VnodeGetReply') return 'read_failed';
      objects.push(answer.object);
    }
    const confirmation = confirmTombstone(tombstone, objects, this.options.nowMs());
    if (!confirmation.confirmed) {
      this.options.log.debug({ partition, reason: confirmation.reason }, 'tombstone reaping: not confirmed; kept');
      return 'not_confirmed';
    }
    this.counts.confirmed++;
    const reaps = await Promise.all(replicas.map((r, i) => this.request(r.node, { type: 'VnodeReap', partition: r.partition, storageKey, object: objects[i]! })));
    if (reaps.every((reply) => reply.type === 'VnodeReapReply' && reply.removed)) {
      this.counts.reaped++;
      return 'reaped';
    }
    return 'kept';
  }

  /** A request's final reply, or a timeout failure: a lost message must not stall the pass. */
  private request(node: string, request: UnnumberedRequest): Promise<VnodeReply> {
    return new Promise((resolve) => {
      let settled = false;
      const timer = this.options.clock.setTimer(this.options.requestTimeoutMs, () => {
        if (settled) return;
        settled = true;
        resolve({ type: 'VnodeFailed', requestId: 0, partition: request.partition, error: { code: 'timeout', message: `${node} did not answer within ${this.options.requestTimeoutMs} ms` } });
      });
      this.options.vnodeRequest(node, request, (reply) => {
        if (settled) return;
        settled = true;
        this.options.clock.clearTimer(timer);
        resolve(reply);
      });
    });
  }
}
