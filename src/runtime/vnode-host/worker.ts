// The vnode-host worker thread: opens this worker's store (recovering it from its WAL), starts
// one vnode actor per hosted partition behind a bounded mailbox, and answers batches of vnode
// requests. Replies wait until their LSN is durable and leave in one batch per event-loop turn.
// It owns its LMDB environment alone: it opens and closes it, and no other thread touches it.
// It also keeps the anti-entropy trees of the partitions the main thread asks it to track,
// updated on every write it applies (vnode-trees.ts).

import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, openSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import * as Comlink from 'comlink';
import { nodeEndpoint } from './comlink-endpoint.js';
import type { MessagePort } from 'node:worker_threads';
import type { VnodeStoragePort } from '../../../actors/ports.js';
import { VnodeActor, ensureActorId } from '../../../actors/vnode.js';
import type { VnodePut, VnodeReply, VnodeRequest } from '../../core/messages.js';
import { type StoredJudgement, judgeStored } from '../../core/reaping.js';
import { DecodeError } from '../../core/codec.js';
import { StorageFailedError, StorageOverloadError, WorkerStore } from '../storage/worker-store.js';
import { FaultyWalFileSystem } from '../storage/faulty-wal-file.js';
import { createLogger } from '../log.js';
import type { MainToWorker, ReapScan, WorkerControl, WorkerInit, WorkerStats, WorkerToMain } from './protocol.js';
import { decodeRequests, encodeReplies } from './batch-codec.js';
import { VnodeTrees } from './vnode-trees.js';

/** How many requests one vnode handles per turn before yielding to the others and to I/O. */
const drainBudgetPerVnode = 256;

const init = workerData.init as WorkerInit;
const controlPort = workerData.controlPort as MessagePort;
const port = parentPort!;
const log = createLogger({ level: init.logLevel, format: init.logFormat, name: `${init.nodeName}/worker-${init.workerIndex}` });

function syncDirectory(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function post(message: WorkerToMain): void {
  port.postMessage(message);
}

/** Posts replies as one batch, packed and transferred. */
function postReplies(replies: readonly VnodeReply[]): void {
  const { bin, others } = encodeReplies(replies);
  const message: WorkerToMain = { type: 'ReplyBatch', bin, others };
  port.postMessage(message, [bin]);
}

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

// Every write the vnodes apply passes through here, so the anti-entropy trees see each one. The
// stored bytes are decoded once more to hash their version (≈ 3 µs a write, see
// docs/anti-entropy.md); the core's vnode functions stay unaware of the trees.
const trees = new VnodeTrees({
  source: store,
  yieldTurn: () => new Promise((resolve) => setImmediate(resolve)),
  nowMs: () => Date.now(),
  log: (level, msg, fields) => log[level](fields, msg),
});
const storage: VnodeStoragePort = {
  get: (partition, key) => store.get(partition, key),
  pendingLsnOf: (partition, key) => store.pendingLsnOf(partition, key),
  forEach: (partition, fn) => store.forEach(partition, fn),
  put: (partition, key, value) => {
    const lsn = store.put(partition, key, value);
    trees.onWrite(partition, key, value);
    return lsn;
  },
  remove: (partition, key) => {
    const lsn = store.remove(partition, key);
    trees.onWrite(partition, key, undefined);
    return lsn;
  },
};

const actors = new Map<number, VnodeActor>();
const mailboxes = new Map<number, VnodeRequest[]>();
let actorIdLsn = 0;
if (cleanShutdown) {
  unlinkSync(cleanMarker);
  syncDirectory(init.store.dir);
} else if (!newStore) {
  log.warn({ partitions: init.partitions.length }, 'the last run did not shut down cleanly: vnodes take fresh causal identities');
}
for (const partition of init.partitions) {
  const { actorId, lsn } = ensureActorId(partition, store, () => randomBytes(9).toString('base64url'), !cleanShutdown);
  actorIdLsn = Math.max(actorIdLsn, lsn);
  actors.set(partition, new VnodeActor(partition, actorId, storage, () => Date.now()));
  mailboxes.set(partition, []);
}

let outbox: VnodeReply[] = [];
let flushScheduled = false;
let drainScheduled = false;
let requestsHandled = 0;
let mailboxDepthMax = 0;
let closing = false;
/** Replies held until their LSN is durable, in the order their LSNs were assigned. */
let awaitingDurability: { reply: VnodeReply; lsn: number }[] = [];

/** Posts every queued reply as one batch. */
function flushOutbox(): void {
  if (outbox.length === 0) return;
  const replies = outbox;
  outbox = [];
  postReplies(replies);
}

function scheduleFlush(): void {
  if (flushScheduled) return;
  flushScheduled = true;
  setImmediate(() => {
    flushScheduled = false;
    flushOutbox();
  });
}

function emit(reply: VnodeReply, lsn: number): void {
  if (lsn <= store.durableLsn) outbox.push(reply);
  else awaitingDurability.push({ reply, lsn });
}

function failed(request: VnodeRequest, code: 'overload' | 'storage_failed' | 'shutting_down', message: string): VnodeReply {
  return { type: 'VnodeFailed', requestId: request.requestId, partition: request.partition, error: { code, message } };
}

function enqueue(request: VnodeRequest): void {
  const mailbox = mailboxes.get(request.partition);
  if (mailbox === undefined) throw new Error(`assertion failed: partition ${request.partition} is not hosted by worker ${init.workerIndex}`);
  if (closing) {
    outbox.push(failed(request, 'shutting_down', 'the vnode host is shutting down'));
  } else if (mailbox.length >= init.vnodeMailboxCapacity) {
    outbox.push(failed(request, 'overload', `vnode ${request.partition} mailbox is full (${init.vnodeMailboxCapacity} requests); retry later`));
  } else {
    mailbox.push(request);
    mailboxDepthMax = Math.max(mailboxDepthMax, mailbox.length);
  }
}

function drain(): void {
  drainScheduled = false;
  let more = false;
  for (const [partition, mailbox] of mailboxes) {
    if (mailbox.length === 0) continue;
    const actor = actors.get(partition)!;
    const batch = mailbox.splice(0, drainBudgetPerVnode);
    for (const request of batch) {
      requestsHandled++;
      if (store.failure !== undefined) {
        outbox.push(failed(request, 'storage_failed', `storage failed: ${store.failure}; this node no longer acknowledges writes`));
        continue;
      }
      try {
        const outcome = actor.handle(request);
        outbox.push(...outcome.early);
        emit(outcome.reply, outcome.durableLsn);
        const applied = outcome.early[0];
        if (request.type === 'VnodePut' && applied?.type === 'VnodePutApplied') replicateLocally(request, applied.object);
      } catch (error) {
        if (error instanceof StorageFailedError) outbox.push(failed(request, 'storage_failed', error.message));
        else if (error instanceof StorageOverloadError) outbox.push(failed(request, 'overload', error.message));
        else throw error;
      }
    }
    if (mailbox.length > 0) more = true;
  }
  if (more) scheduleDrain();
  // Posted now, not on a later turn: the group commit this drain started runs next (its write()
  // and LMDB transaction run on this thread); the applied results must be on their way first.
  flushOutbox();
}

/** Merges a write's applied result into its other replicas on this host, in the same group commit. */
function replicateLocally(put: VnodePut, object: Uint8Array): void {
  for (const partition of put.localReplicas) {
    const actor = actors.get(partition);
    if (actor === undefined) throw new Error(`assertion failed: local replica ${partition} is not hosted by worker ${init.workerIndex}`);
    const outcome = actor.handle({ type: 'VnodeReplicate', requestId: put.requestId, partition, storageKey: put.storageKey, object });
    emit(outcome.reply, outcome.durableLsn);
  }
}

function scheduleDrain(): void {
  if (drainScheduled) return;
  drainScheduled = true;
  setImmediate(drain);
}

store.onDurable((durableLsn) => {
  if (awaitingDurability.length === 0) return;
  const still: typeof awaitingDurability = [];
  for (const item of awaitingDurability) {
    if (item.lsn <= durableLsn) outbox.push(item.reply);
    else still.push(item);
  }
  awaitingDurability = still;
  flushOutbox();
});

store.onFailure((reason) => {
  log.error({ reason }, 'storage failed: failing every unacknowledged write and refusing new ones');
  for (const item of awaitingDurability) {
    outbox.push({ type: 'VnodeFailed', requestId: item.reply.requestId, partition: item.reply.partition, error: { code: 'storage_failed', message: `storage failed: ${reason}` } });
  }
  awaitingDurability = [];
  scheduleFlush();
  post({ type: 'StorageFailed', reason });
});

port.on('message', (message: MainToWorker) => {
  if (message.type !== 'RequestBatch') throw new Error(`assertion failed: unknown message ${String((message as { type: unknown }).type)}`);
  for (const request of decodeRequests(message)) enqueue(request);
  scheduleDrain();
  scheduleFlush();
});

/** Resolves once `lsn` is durable (rejects if the store fails first). */
function waitDurable(lsn: number): Promise<void> {
  if (lsn <= store.durableLsn) return Promise.resolve();
  return new Promise((resolve, reject) => {
    durableWaiters.push({ lsn, resolve, reject });
  });
}
const durableWaiters: { lsn: number; resolve: () => void; reject: (error: Error) => void }[] = [];
store.onDurable((durableLsn) => {
  for (let i = durableWaiters.length - 1; i >= 0; i--) {
    const waiter = durableWaiters[i]!;
    if (waiter.lsn <= durableLsn) {
      durableWaiters.splice(i, 1);
      waiter.resolve();
    }
  }
});
store.onFailure((reason) => {
  for (const waiter of durableWaiters.splice(0)) waiter.reject(new Error(`storage failed: ${reason}`));
});

const control: WorkerControl = {
  stats(): WorkerStats {
    return {
      workerIndex: init.workerIndex,
      partitions: init.partitions.length,
      mailboxDepthMax,
      requestsHandled,
      repliesAwaitingDurability: awaitingDurability.length,
      storage: store.stats(),
    };
  },
  foldBatch(partition: number, afterKeyHex: string | undefined, maxItems: number, maxBytes: number) {
    const batch = store.foldBatch(partition, afterKeyHex === undefined ? undefined : Buffer.from(afterKeyHex, 'hex'), maxItems, maxBytes);
    // Keys starting with a zero byte are the vnode's own records (its actor id), not objects.
    const items = batch.items.filter((i) => i.key[0] !== 0).map((i) => ({ key: new Uint8Array(i.key), value: new Uint8Array(i.value) }));
    return { items, done: batch.done, resumeAfterHex: batch.resumeAfter?.toString('hex') };
  },
  countKeys(partition: number): number {
    return store.countObjects(partition);
  },
  reapScan(partition: number, partitionCount: number, afterKeyHex: string | undefined, maxItems: number, nowMs: number, delayMs: number): ReapScan {
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
  async dropPartition(partition: number): Promise<{ removed: number }> {
    if (!actors.has(partition)) throw new Error(`partition ${partition} is not hosted by worker ${init.workerIndex}`);
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
      await waitDurable(lastLsn);
    }
    const { actorId, lsn } = ensureActorId(partition, store, () => randomBytes(9).toString('base64url'), true);
    actors.set(partition, new VnodeActor(partition, actorId, storage, () => Date.now()));
    await waitDurable(Math.max(lastLsn, lsn));
    log.info({ partition, removed, actorId }, 'dropped a partition this node no longer owns');
    return { removed };
  },
  aaeTrack(config, partitions): void {
    for (const partition of partitions) {
      if (!actors.has(partition)) throw new Error(`partition ${partition} is not hosted by worker ${init.workerIndex}`);
    }
    trees.track(config, partitions);
  },
  aaeRebuild(partition: number): Promise<void> {
    return trees.rebuild(partition);
  },
  aaeAnswer(partition, tree, request) {
    return trees.answer(partition, tree, request);
  },
  aaeStats() {
    return trees.stats();
  },
  injectFault(fault: 'fail-next-datasync'): void {
    if (faultyFiles === undefined) throw new Error('fault injection is not enabled on this node');
    log.warn({ fault }, 'injecting a storage fault');
    faultyFiles.failNextDatasync(1);
  },
  async close(): Promise<void> {
    closing = true;
    trees.stop();
    drain();
    await store.close();
    if (store.failure === undefined) {
      writeFileSync(cleanMarker, '');
      syncDirectory(init.store.dir);
    }
    if (outbox.length > 0) postReplies(outbox.splice(0));
  },
};
Comlink.expose(control, nodeEndpoint(controlPort));

// The actor ids of fresh vnodes must be durable before any write is acknowledged under them.
const announceReady = (): void => post({ type: 'WorkerReady', recovery, actorIds: [...actors.values()].map((a) => ({ partition: a.partition, actorId: a.actorId })) });
if (actorIdLsn <= store.durableLsn) announceReady();
else {
  let announced = false;
  store.onDurable((lsn) => {
    if (!announced && lsn >= actorIdLsn) {
      announced = true;
      announceReady();
    }
  });
}
