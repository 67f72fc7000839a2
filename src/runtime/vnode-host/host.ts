// A vnode host: opens one store (recovering it from its WAL), starts one vnode actor per hosted
// partition behind a bounded mailbox, and answers vnode requests. Replies wait until their LSN is
// durable and leave in batches. It owns its LMDB environment alone: it opens and closes it, and
// no other host touches it. It also keeps the anti-entropy trees of the partitions the node asks
// it to track, updated on every write it applies (vnode-trees.ts).
//
// A host normally runs on a worker thread of its own (worker.ts wraps it in a thread); with
// `vnodeHost: 'main-thread'` the node runs its hosts on the main thread instead
// (inline-handle.ts), which saves two thread crossings per vnode request on small machines. The
// host is the same code either way: it only sees the sink it hands its replies to.

import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, openSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { VnodeStoragePort } from '../../../actors/ports.js';
import { VnodeActor, ensureActorId } from '../../../actors/vnode.js';
import type { VnodePut, VnodeReply, VnodeRequest } from '../../core/messages.js';
import { type StoredJudgement, judgeStored } from '../../core/reaping.js';
import { DecodeError } from '../../core/codec.js';
import { type RecoveryReport, StorageFailedError, StorageOverloadError, WorkerStore } from '../storage/worker-store.js';
import { FaultyWalFileSystem } from '../storage/faulty-wal-file.js';
import type { ReapScan, WorkerControl, WorkerInit, WorkerStats } from './protocol.js';
import { VnodeTrees } from './vnode-trees.js';

/** How many requests one vnode handles per turn before yielding to the others and to I/O. */
const drainBudgetPerVnode = 256;

/** Where a host's output goes: to the main thread through a port, or straight to its handle. */
export interface HostSink {
  /** A batch of replies, in the order they were made. */
  replies(replies: VnodeReply[]): void;
  /** The store failed (an fsync error): the host no longer acknowledges writes. */
  storageFailed(reason: string): void;
  /**
   * A drain of the mailboxes ended and its replies were handed over. A drain runs in a
   * setImmediate callback, so anything its replies queue with setImmediate (the peer transport's
   * frames) would wait a whole event-loop iteration: this is the moment to send it instead.
   */
  drained?(): void;
}

function syncDirectory(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function failed(request: VnodeRequest, code: 'overload' | 'storage_failed' | 'shutting_down', message: string): VnodeReply {
  return { type: 'VnodeFailed', requestId: request.requestId, partition: request.partition, error: { code, message } };
}

export class VnodeHost {
  private readonly actors = new Map<number, VnodeActor>();
  private readonly mailboxes = new Map<number, VnodeRequest[]>();
  private outbox: VnodeReply[] = [];
  private flushScheduled = false;
  private drainScheduled = false;
  private requestsHandled = 0;
  private mailboxDepthMax = 0;
  private closing = false;
  /** Replies held until their LSN is durable, in the order their LSNs were assigned. */
  private awaitingDurability: { reply: VnodeReply; lsn: number }[] = [];
  private readonly durableWaiters: { lsn: number; resolve: () => void; reject: (error: Error) => void }[] = [];
  private readonly storage: VnodeStoragePort;
  private readonly trees: VnodeTrees;
  /** Resolves once the vnodes' actor ids are durable: no write may be acknowledged under them before. */
  readonly ready: Promise<void>;
  /** The control plane (stats, handoff, anti-entropy, close). */
  readonly control: WorkerControl;

  /**
   * Opens the host's store and starts its vnodes. The store is recovered from its WAL; a host
   * whose last run did not close cleanly gives its vnodes fresh causal identities.
   */
  static async open(init: WorkerInit, sink: HostSink, log: Logger): Promise<VnodeHost> {
    // A clean close leaves this marker; its absence means the last run crashed (or this is a new
    // store), so the vnodes take fresh causal identities. It is removed before any write is taken.
    const cleanMarker = join(init.store.dir, 'clean-shutdown');
    const cleanShutdown = existsSync(cleanMarker);
    const newStore = !existsSync(init.store.dir);
    const faultyFiles = init.faultInjection ? new FaultyWalFileSystem() : undefined;
    const { store, recovery } = await WorkerStore.open({
      ...init.store,
      ...(faultyFiles === undefined ? {} : { files: faultyFiles }),
      partitions: init.partitions,
      log: (level, msg, fields) => log[level](fields ?? {}, msg),
    });
    if (cleanShutdown) {
      unlinkSync(cleanMarker);
      syncDirectory(init.store.dir);
    } else if (!newStore) {
      log.warn({ partitions: init.partitions.length }, 'the last run did not shut down cleanly: vnodes take fresh causal identities');
    }
    return new VnodeHost(init, sink, log, store, recovery, faultyFiles, cleanMarker, cleanShutdown);
  }

  private constructor(
    private readonly init: WorkerInit,
    private readonly sink: HostSink,
    private readonly log: Logger,
    private readonly store: WorkerStore,
    readonly recovery: RecoveryReport,
    private readonly faultyFiles: FaultyWalFileSystem | undefined,
    private readonly cleanMarker: string,
    cleanShutdown: boolean,
  ) {
    // Every write the vnodes apply passes through here, so the anti-entropy trees see each one.
    // The trees hash the version of what is written: from the object the vnode decoded or built
    // when it passes one, else by decoding the stored bytes once more (≈ 3 µs a write, see
    // docs/anti-entropy.md); the core's vnode functions stay unaware of the trees.
    const trees = new VnodeTrees({
      source: store,
      yieldTurn: () => new Promise((resolve) => setImmediate(resolve)),
      nowMs: () => Date.now(),
      log: (level, msg, fields) => log[level](fields, msg),
    });
    this.trees = trees;
    this.storage = {
      get: (partition, key) => store.get(partition, key),
      pendingLsnOf: (partition, key) => store.pendingLsnOf(partition, key),
      forEach: (partition, fn) => store.forEach(partition, fn),
      put: (partition, key, value, decoded) => {
        const lsn = store.put(partition, key, value);
        trees.onWrite(partition, key, value, decoded);
        return lsn;
      },
      remove: (partition, key) => {
        const lsn = store.remove(partition, key);
        trees.onWrite(partition, key, undefined);
        return lsn;
      },
    };
    let actorIdLsn = 0;
    for (const partition of init.partitions) {
      const { actorId, lsn } = ensureActorId(partition, store, () => randomBytes(9).toString('base64url'), !cleanShutdown);
      actorIdLsn = Math.max(actorIdLsn, lsn);
      this.actors.set(partition, new VnodeActor(partition, actorId, this.storage, () => Date.now()));
      this.mailboxes.set(partition, []);
    }

    store.onDurable((durableLsn) => {
      if (this.awaitingDurability.length > 0) {
        const still: { reply: VnodeReply; lsn: number }[] = [];
        for (const item of this.awaitingDurability) {
          if (item.lsn <= durableLsn) this.outbox.push(item.reply);
          else still.push(item);
        }
        this.awaitingDurability = still;
        this.flushOutbox();
      }
      for (let i = this.durableWaiters.length - 1; i >= 0; i--) {
        const waiter = this.durableWaiters[i]!;
        if (waiter.lsn <= durableLsn) {
          this.durableWaiters.splice(i, 1);
          waiter.resolve();
        }
      }
    });
    store.onFailure((reason) => {
      log.error({ reason }, 'storage failed: failing every unacknowledged write and refusing new ones');
      for (const item of this.awaitingDurability) {
        this.outbox.push({ type: 'VnodeFailed', requestId: item.reply.requestId, partition: item.reply.partition, error: { code: 'storage_failed', message: `storage failed: ${reason}` } });
      }
      this.awaitingDurability = [];
      this.scheduleFlush();
      for (const waiter of this.durableWaiters.splice(0)) waiter.reject(new Error(`storage failed: ${reason}`));
      sink.storageFailed(reason);
    });

    this.ready = this.waitDurable(actorIdLsn);
    this.control = this.makeControl();
  }

  /** The vnodes' causal identities, by partition. */
  get actorIds(): { partition: number; actorId: string }[] {
    return [...this.actors.values()].map((a) => ({ partition: a.partition, actorId: a.actorId }));
  }

  /** Takes a batch of requests; they are handled on a later turn, all of them in one drain. */
  receive(requests: Iterable<VnodeRequest>): void {
    for (const request of requests) this.enqueue(request);
    this.scheduleDrain();
    this.scheduleFlush();
  }

  /** Takes one request, as `receive` does. */
  receiveOne(request: VnodeRequest): void {
    this.enqueue(request);
    this.scheduleDrain();
    this.scheduleFlush();
  }

  /** Hands every queued reply to the sink as one batch. */
  private flushOutbox(): void {
    if (this.outbox.length === 0) return;
    const replies = this.outbox;
    this.outbox = [];
    this.sink.replies(replies);
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.flushOutbox();
    });
  }

  private emit(reply: VnodeReply, lsn: number): void {
    if (lsn <= this.store.durableLsn) this.outbox.push(reply);
    else this.awaitingDurability.push({ reply, lsn });
  }

  private enqueue(request: VnodeRequest): void {
    const mailbox = this.mailboxes.get(request.partition);
    if (mailbox === undefined) throw new Error(`assertion failed: partition ${request.partition} is not hosted by vnode host ${this.init.workerIndex}`);
    if (this.closing) {
      this.outbox.push(failed(request, 'shutting_down', 'the vnode host is shutting down'));
    } else if (mailbox.length >= this.init.vnodeMailboxCapacity) {
      this.outbox.push(failed(request, 'overload', `vnode ${request.partition} mailbox is full (${this.init.vnodeMailboxCapacity} requests); retry later`));
    } else {
      mailbox.push(request);
      this.mailboxDepthMax = Math.max(this.mailboxDepthMax, mailbox.length);
    }
  }

  private readonly drain = (): void => {
    this.drainScheduled = false;
    let more = false;
    for (const [partition, mailbox] of this.mailboxes) {
      if (mailbox.length === 0) continue;
      const actor = this.actors.get(partition)!;
      const batch = mailbox.splice(0, drainBudgetPerVnode);
      for (const request of batch) {
        this.requestsHandled++;
        if (this.store.failure !== undefined) {
          this.outbox.push(failed(request, 'storage_failed', `storage failed: ${this.store.failure}; this node no longer acknowledges writes`));
          continue;
        }
        try {
          const outcome = actor.handle(request);
          this.outbox.push(...outcome.early);
          this.emit(outcome.reply, outcome.durableLsn);
          const applied = outcome.early[0];
          if (request.type === 'VnodePut' && applied?.type === 'VnodePutApplied') this.replicateLocally(request, applied.object);
        } catch (error) {
          if (error instanceof StorageFailedError) this.outbox.push(failed(request, 'storage_failed', error.message));
          else if (error instanceof StorageOverloadError) this.outbox.push(failed(request, 'overload', error.message));
          else throw error;
        }
      }
      if (mailbox.length > 0) more = true;
    }
    if (more) this.scheduleDrain();
    // Handed over now, not on a later turn: the group commit this drain started runs next (its
    // write() and LMDB transaction run on this thread); the applied results must be on their way first.
    this.flushOutbox();
    this.sink.drained?.();
  };

  /** Merges a write's applied result into its other replicas on this host, in the same group commit. */
  private replicateLocally(put: VnodePut, object: Uint8Array): void {
    for (const partition of put.localReplicas) {
      const actor = this.actors.get(partition);
      if (actor === undefined) throw new Error(`assertion failed: local replica ${partition} is not hosted by vnode host ${this.init.workerIndex}`);
      const outcome = actor.handle({ type: 'VnodeReplicate', requestId: put.requestId, partition, storageKey: put.storageKey, object });
      this.emit(outcome.reply, outcome.durableLsn);
    }
  }

  private scheduleDrain(): void {
    if (this.drainScheduled) return;
    this.drainScheduled = true;
    setImmediate(this.drain);
  }

  /** Resolves once `lsn` is durable (rejects if the store fails first). */
  private waitDurable(lsn: number): Promise<void> {
    if (lsn <= this.store.durableLsn) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.durableWaiters.push({ lsn, resolve, reject });
    });
  }

  private makeControl(): WorkerControl {
    const { init, store, trees, actors, log } = this;
    return {
      stats: (): WorkerStats => ({
        workerIndex: init.workerIndex,
        partitions: init.partitions.length,
        mailboxDepthMax: this.mailboxDepthMax,
        requestsHandled: this.requestsHandled,
        repliesAwaitingDurability: this.awaitingDurability.length,
        storage: store.stats(),
      }),
      foldBatch: (partition, afterKeyHex, maxItems, maxBytes) => {
        const batch = store.foldBatch(partition, afterKeyHex === undefined ? undefined : Buffer.from(afterKeyHex, 'hex'), maxItems, maxBytes);
        // Keys starting with a zero byte are the vnode's own records (its actor id), not objects.
        const items = batch.items.filter((i) => i.key[0] !== 0).map((i) => ({ key: new Uint8Array(i.key), value: new Uint8Array(i.value) }));
        return { items, done: batch.done, resumeAfterHex: batch.resumeAfter?.toString('hex') };
      },
      countKeys: (partition) => store.countObjects(partition),
      reapScan: (partition, partitionCount, afterKeyHex, maxItems, nowMs, delayMs): ReapScan => {
        const batch = store.foldBatch(partition, afterKeyHex === undefined ? undefined : Buffer.from(afterKeyHex, 'hex'), maxItems, 16 << 20);
        const candidates: { key: Uint8Array; value: Uint8Array }[] = [];
        let young = 0;
        for (const item of batch.items) {
          let judged: StoredJudgement;
          try {
            judged = judgeStored(item.key, item.value, partition, partitionCount, nowMs, delayMs);
          } catch (error) {
            if (!(error instanceof DecodeError)) throw error;
            continue;
          }
          if (judged === 'young') young++;
          else if (judged === 'candidate') candidates.push({ key: new Uint8Array(item.key), value: new Uint8Array(item.value) });
        }
        return { candidates, young, done: batch.done, resumeAfterHex: batch.resumeAfter?.toString('hex') };
      },
      dropPartition: async (partition) => {
        if (!actors.has(partition)) throw new Error(`partition ${partition} is not hosted by vnode host ${init.workerIndex}`);
        let removed = 0;
        let lastLsn = 0;
        let after: Buffer | undefined;
        for (;;) {
          const batch = store.foldBatch(partition, after, 1000, 4 << 20);
          for (const item of batch.items) {
            lastLsn = store.remove(partition, item.key);
            trees.onWrite(partition, item.key, undefined);
            if (item.key[0] !== 0) removed++;
          }
          if (batch.done) break;
          after = batch.resumeAfter;
          // Let the group commit catch up between batches, so a large partition cannot overflow it.
          await this.waitDurable(lastLsn);
        }
        const { actorId, lsn } = ensureActorId(partition, store, () => randomBytes(9).toString('base64url'), true);
        actors.set(partition, new VnodeActor(partition, actorId, this.storage, () => Date.now()));
        await this.waitDurable(Math.max(lastLsn, lsn));
        log.info({ partition, removed, actorId }, 'dropped a partition this node no longer owns');
        return { removed };
      },
      aaeTrack: (config, partitions) => {
        for (const partition of partitions) {
          if (!actors.has(partition)) throw new Error(`partition ${partition} is not hosted by vnode host ${init.workerIndex}`);
        }
        trees.track(config, partitions);
      },
      aaeRebuild: (partition) => trees.rebuild(partition),
      aaeAnswer: (partition, tree, request) => trees.answer(partition, tree, request),
      aaeStats: () => trees.stats(),
      injectFault: (fault) => {
        if (this.faultyFiles === undefined) throw new Error('fault injection is not enabled on this node');
        log.warn({ fault }, 'injecting a storage fault');
        this.faultyFiles.failNextDatasync(1);
      },
      close: async () => {
        this.closing = true;
        trees.stop();
        this.drain();
        await store.close();
        if (store.failure === undefined) {
          writeFileSync(this.cleanMarker, '');
          syncDirectory(init.store.dir);
        }
        this.flushOutbox();
      },
    };
  }
}
