// The vnode-host worker thread: one VnodeHost (host.ts) behind the thread's port. Requests arrive
// in packed batches, one message per main-thread turn; replies leave the same way. The control
// plane (stats, handoff, anti-entropy, close) is exposed through comlink on a second port.

import { parentPort, workerData } from 'node:worker_threads';
import * as Comlink from 'comlink';
import type { MessagePort } from 'node:worker_threads';
import { nodeEndpoint } from './comlink-endpoint.js';
import { createLogger } from '../log.js';
import type { MainToWorker, WorkerInit, WorkerToMain } from './protocol.js';
import { decodeRequests, encodeReplies } from './batch-codec.js';
import { VnodeHost } from './host.js';

const init = workerData.init as WorkerInit;
const controlPort = workerData.controlPort as MessagePort;
const port = parentPort!;
const log = createLogger({ level: init.logLevel, format: init.logFormat, name: `${init.nodeName}/worker-${init.workerIndex}` });

function post(message: WorkerToMain, transfer: ArrayBuffer[] = []): void {
  port.postMessage(message, transfer);
}

const host = await VnodeHost.open(
  init,
  {
    // Replies leave as one batch, packed and transferred.
    replies: (replies) => {
      const { bin, others } = encodeReplies(replies);
      post({ type: 'ReplyBatch', bin, others }, [bin]);
    },
    storageFailed: (reason) => post({ type: 'StorageFailed', reason }),
  },
  log,
);

port.on('message', (message: MainToWorker) => {
  if (message.type !== 'RequestBatch') throw new Error(`assertion failed: unknown message ${String((message as { type: unknown }).type)}`);
  host.receive(decodeRequests(message));
});

Comlink.expose(host.control, nodeEndpoint(controlPort));

// The actor ids of fresh vnodes must be durable before any write is acknowledged under them; a
// store that fails before then has reported it (StorageFailed) and never announces itself ready.
host.ready.then(
  () => post({ type: 'WorkerReady', recovery: host.recovery, actorIds: host.actorIds }),
  (error: Error) => log.error({ err: error }, 'the store failed before the vnode identities were durable'),
);
