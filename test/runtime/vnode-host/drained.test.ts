// A vnode host on the main thread tells its node when a drain of its mailboxes has ended, right
// after handing over that drain's replies and within the same callback. The node sends the peer
// messages those replies produced at that moment (PeerTransport.flushNow) instead of one whole
// event-loop iteration later. Worker-thread hosts never call it.

import test from 'ava';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { pino } from 'pino';
import type { VnodeReply } from '../../../src/core/messages.js';
import { Supervisor } from '../../../src/runtime/vnode-host/supervisor.js';

async function startSupervisor(t: import('ava').ExecutionContext, events: string[]): Promise<Supervisor> {
  const dataDir = await fsp.mkdtemp(path.join(os.tmpdir(), 'ringkv-drained-'));
  t.teardown(() => fsp.rm(dataDir, { recursive: true, force: true }));
  const supervisor = new Supervisor({
    workers: 1,
    vnodeHost: 'main-thread',
    partitions: 4,
    workerInit: {
      vnodeMailboxCapacity: 64,
      logLevel: 'silent',
      logFormat: 'json',
      nodeName: 'drained@127.0.0.1',
      faultInjection: false,
      store: { durability: 'fsync', syncIntervalMs: 100, walSegmentBytesMax: 1 << 20, checkpointWalBytes: 1 << 20, lmdbMapSizeBytes: 1 << 26, commitBatchRecordsMax: 64 },
    },
    dataDir,
    workerInflightMax: 64,
    intensity: { maxRestarts: 1, periodMs: 1000 },
    onReply: (reply: VnodeReply) => events.push(`reply ${reply.requestId}`),
    onEscalate: () => undefined,
    onStorageFailed: () => undefined,
    onDrained: () => events.push('drained'),
    log: pino({ level: 'silent' }),
  });
  await supervisor.start();
  t.teardown(() => supervisor.stop());
  return supervisor;
}

test('a drain ends with onDrained, after its replies and before any other callback runs', async (t) => {
  const events: string[] = [];
  const supervisor = await startSupervisor(t, events);
  events.length = 0;
  const key = (i: number): Uint8Array => Buffer.from(`\u0001t\u0000b\u0000key-${i}`);
  // Three reads of keys never written: each is answered in the drain itself (nothing to wait for).
  for (let i = 1; i <= 3; i++) supervisor.send({ type: 'VnodeGet', requestId: i, partition: i % 4, storageKey: key(i) });
  let seenAtImmediate: string[] | undefined;
  setImmediate(() => {
    // This immediate was queued after the drain's: it runs right after the drain, in the same phase.
    seenAtImmediate = [...events];
  });
  await new Promise((resolve) => setTimeout(resolve, 50));
  t.deepEqual(seenAtImmediate, ['reply 1', 'reply 2', 'reply 3', 'drained'], 'one drain: its three replies, then onDrained, all before the next callback');
  t.deepEqual(events, ['reply 1', 'reply 2', 'reply 3', 'drained']);
});
