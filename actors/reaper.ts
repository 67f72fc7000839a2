// Tombstone reaping, the actor: the runtime runs it on each node's main thread
// (src/runtime/cluster/cluster-node.ts), the simulator on each simulated node. Every `intervalMs` the reaper walks the partitions this
// node owns (one batch of keys per partition per step, so a large partition never stalls its
// worker), and for each tombstone older than `delayMs` whose key's first partition is the one
// walked (exactly one vnode looks after each key) it:
//   1. skips the key while any of its N partitions is moving, any of their owners is down, or any
//      member holds data of one of them without owning it (hints, stray copies, handoffs: such
//      data may be older than the tombstone, and handed over after the reap it would resurrect
//      the value), or a member cannot be asked;
//   2. reads the tombstone from every one of the N primary owners (no fallbacks), and confirms
//      they all hold exactly that version (confirmTombstone in src/core/reaping.ts);
//   3. sends each replica a VnodeReap carrying the bytes that replica answered with, so a replica
//      that took a write in between keeps the key.
// A key not confirmed, or not removed everywhere, is simply met again on the next pass: anti-
// entropy copies a surviving tombstone back where it was removed, and the next pass reaps it.
// The delay (tombstoneReapDelayMs) covers what the checks cannot see: messages still in flight
// that carry an older value (a delayed replication or read repair), and clock skew between the
// node that stamped the tombstone and the one judging its age.

import { DecodeError, decodeStorageKey } from '../src/core/codec.js';
import type { VnodeReply, VnodeRequest } from '../src/core/messages.js';
import { confirmTombstone } from '../src/core/reaping.js';
import { murmur3 } from '../src/core/hash.js';
import { preferencePartitions } from '../src/core/ring.js';
import type { Clock, TimerHandle } from './ports.js';

/** A vnode request before the sender numbers it. */
export type UnnumberedRequest = VnodeRequest extends infer T ? (T extends VnodeRequest ? Omit<T, 'requestId'> : never) : never;

/** One batch of a partition's dead objects, judged by the host of its vnode (judgeStored). */
export interface ReapScan {
  readonly candidates: readonly { readonly key: Uint8Array; readonly value: Uint8Array }[];
  readonly young: number;
  readonly done: boolean;
  readonly resumeAfterHex: string | undefined;
}

export interface ReaperLog {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  debug(fields: object, message: string): void;
}

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
  /**
   * The partitions any member holds data of without owning them (hints, stray copies, handoffs),
   * asked of every member at the time; or why that is not known (a member did not answer).
   */
  readonly foreignPartitions: () => Promise<ReadonlySet<number> | string>;
  /** A vnode request to `node`'s vnode (this node's included); the final reply goes to `onReply`. */
  readonly vnodeRequest: (node: string, request: UnnumberedRequest, onReply: (reply: VnodeReply) => void) => void;
  readonly clock: Clock;
  /** Wall-clock time, which tombstones are stamped with. */
  readonly nowMs: () => number;
  /** This node's monotonic time: how long it has itself seen a dead object (blind to skew). */
  readonly monotonicMs: () => number;
  /** First confirmations remembered at once (tombstoneReapTrackedMax); beyond it, the rest wait. */
  readonly trackedMax: number;
  readonly intervalMs: number;
  readonly delayMs: number;
  /** Keys judged per partition per worker call. */
  readonly batchKeys: number;
  /** Tombstones being confirmed or reaped at once. */
  readonly inFlightMax: number;
  /** A replica that has not answered a read or a reap within this long counts as failed. */
  readonly requestTimeoutMs: number;
  readonly log: ReaperLog;
}

export interface PartitionReapStatus {
  readonly partition: number;
  /** Tombstones met in the last complete pass: too young, and old enough but not (yet) reaped. */
  readonly young: number;
  readonly waiting: number;
  readonly reaped: number;
  readonly lastPassMs: number | null;
}

/** A dead object first seen at `atMs` (monotonic) with this version (hash and length of its bytes). */
interface Sighting {
  readonly atMs: number;
  readonly version: string;
  pass: number;
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

export type BlockReason = 'transfer' | 'replica_down' | 'foreign_copies' | 'copies_unknown' | 'unknown_type' | 'not_confirmed' | 'read_failed' | 'kept';

export class Reaper {
  readonly counts = { passes: 0, reaped: 0, confirmed: 0, blocked: { transfer: 0, replica_down: 0, foreign_copies: 0, copies_unknown: 0, unknown_type: 0, not_confirmed: 0, read_failed: 0, kept: 0 } as Record<BlockReason, number> };
  private readonly partitions = new Map<number, PartitionPass>();
  /**
   * Dead objects by partition and key, from the first confirmation that every replica holds them.
   * An object is reaped only at a confirmation delayMs (this node's monotonic time) after the first,
   * of the same version: a read that began before every replica held the tombstone may still be
   * about to repair a replica with the value it deleted, and reads time out well within delayMs.
   * Measured here, not by the tombstone's timestamp, because that was stamped by another node's
   * clock, and a clock running ahead would make a fresh tombstone look old (a simulated fault
   * scenario found exactly that).
   */
  private readonly sightings = new Map<string, Sighting>();
  private passNumber = 0;
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
    this.passNumber++;
    try {
      const ring = this.options.ring();
      for (let partition = 0; partition < ring.length && !this.stopped; partition++) {
        if (ring[partition]!.owner !== this.options.self) {
          if (this.partitions.delete(partition)) this.forgetSightings(partition, () => true);
          continue;
        }
        await this.passPartition(partition);
      }
      this.counts.passes++;
    } finally {
      this.running = false;
    }
  }

  /** `awaiting` is null until a first pass has counted the dead objects. */
  status(): { enabled: true; delayMs: number; intervalMs: number; awaiting: number | null; reaped: number; blocked: Record<BlockReason, number>; partitions: PartitionReapStatus[] } {
    const partitions = [...this.partitions.entries()]
      .sort(([a], [b]) => a - b)
      .map(([partition, p]) => ({ partition, young: p.last?.young ?? 0, waiting: p.last?.waiting ?? 0, reaped: p.reaped, lastPassMs: p.last?.at ?? null }));
    const awaiting = this.counts.passes === 0 ? null : partitions.reduce((sum, p) => sum + p.young + p.waiting, 0);
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
      // Asked afresh for every batch with candidates: a hint taken a moment ago must count.
      const foreign = scan.candidates.length === 0 ? new Set<number>() : await this.options.foreignPartitions();
      if (typeof foreign === 'string') this.options.log.debug({ partition, reason: foreign }, 'tombstone reaping: not known which partitions other nodes hold copies of; nothing reaped');
      const outcomes = await this.inBatches(scan.candidates, (c) => this.reapKey(partition, c.key, c.value, foreign));
      for (const outcome of outcomes) {
        if (outcome === 'reaped') {
          pass.reapedThisPass++;
          pass.reaped++;
        } else if (outcome === 'confirming') {
          pass.young++;
        } else {
          pass.waiting++;
        }
      }
      pass.cursor = scan.resumeAfterHex;
      if (scan.done || scan.resumeAfterHex === undefined) break;
    }
    pass.last = { young: pass.young, waiting: pass.waiting, at: this.options.nowMs() };
    // Objects of this partition not seen dead in this pass changed, or are gone: start over.
    this.forgetSightings(partition, (sighting) => sighting.pass !== this.passNumber);
    if (pass.reapedThisPass > 0) this.options.log.info({ partition, reaped: pass.reapedThisPass, waiting: pass.waiting }, 'tombstone reaping: reaped tombstones every replica held');
    Object.assign(pass, { cursor: undefined, young: 0, waiting: 0, reapedThisPass: 0 });
  }

  private forgetSightings(partition: number, which: (sighting: Sighting) => boolean): void {
    const prefix = `${partition}:`;
    for (const [id, sighting] of this.sightings) if (id.startsWith(prefix) && which(sighting)) this.sightings.delete(id);
  }

  /**
   * Records a confirmation that every replica holds this version; true once one was made, for the
   * same version, at least delayMs (of this node's monotonic time) ago.
   */
  private confirmedLongEnough(partition: number, key: Uint8Array, value: Uint8Array): boolean {
    const id = `${partition}:${hex(key)}`;
    const version = `${murmur3(value)}:${value.length}`;
    const now = this.options.monotonicMs();
    const seen = this.sightings.get(id);
    if (seen !== undefined && seen.version === version) {
      seen.pass = this.passNumber;
      return now - seen.atMs >= this.options.delayMs;
    }
    if (seen === undefined && this.sightings.size >= this.options.trackedMax) return false;
    this.sightings.set(id, { atMs: now, version, pass: this.passNumber });
    return false;
  }

  private async inBatches<T, R>(items: readonly T[], run: (item: T) => Promise<R>): Promise<R[]> {
    const out: R[] = [];
    for (let i = 0; i < items.length; i += this.options.inFlightMax) {
      out.push(...(await Promise.all(items.slice(i, i + this.options.inFlightMax).map(run))));
    }
    return out;
  }

  /** Confirms one tombstone on its N primaries and reaps it there. */
  private async reapKey(partition: number, storageKey: Uint8Array, tombstone: Uint8Array, foreign: ReadonlySet<number> | string): Promise<'reaped' | 'confirming' | BlockReason> {
    const outcome = await this.tryReap(partition, storageKey, tombstone, foreign);
    if (outcome === 'reaped') this.sightings.delete(`${partition}:${hex(storageKey)}`);
    else if (outcome !== 'confirming') this.counts.blocked[outcome]++;
    return outcome;
  }

  private async tryReap(partition: number, storageKey: Uint8Array, tombstone: Uint8Array, foreign: ReadonlySet<number> | string): Promise<'reaped' | 'confirming' | BlockReason> {
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
    // A hint or stray copy of the key's partitions may hold a value older than the tombstone.
    if (typeof foreign === 'string') return 'copies_unknown';
    if (replicas.some((r) => foreign.has(r.partition))) return 'foreign_copies';

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
    // Reaped only at a second confirmation, delayMs after the first: a read that began before every
    // replica held the tombstone may still be about to repair a replica with the value it deleted.
    if (!this.confirmedLongEnough(partition, storageKey, tombstone)) return 'confirming';
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

function hex(bytes: Uint8Array): string {
  let out = '';
  for (const b of bytes) out += b.toString(16).padStart(2, '0');
  return out;
}
