// A regression test for a bug the long fault run found (the deterministic simulator found it too):
// one client PUT was applied twice, under two dots, when the connection to the replica that had
// applied it dropped before that replica's answer arrived. Reproduced deterministically with the
// fault proxy.
//
// How: the put's coordinating replica (the first of the preference list, on node b; the node the
// client reached, a, holds no replica of the key, or it would apply the put itself) applies the
// write and answers; the proxy holds b's answers to a (one-way blackhole), then drops the a-b
// connection. a's router used to fail the pending request with `worker_unavailable` ("the
// connection to b dropped before it answered"), which PutCoordinator takes as "this replica is
// unavailable, try the next one" (isReplicaUnavailable in src/core/coordinator.ts): the second
// replica applied the same put again under its own actor. The client got one 200, yet a read
// showed its value twice, as two siblings, and a client that later replaced or deleted the copy
// it saw left the other alive. Now a drop after sending fails the request with `timeout` (the
// outcome is unknown; nothing is retried elsewhere), so the put answers 504 and is applied once.

import test from 'ava';
import { partitionOf, preferencePartitions } from '../../../src/core/ring.js';
import { fastClusterEnv } from '../cluster-harness.js';
import { FaultCluster, fetchJson } from './fault-cluster.js';
import { storageKeyOf } from './replica-probe.js';

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

test('a put whose answer is lost with its connection is not applied a second time', async (t) => {
  t.timeout(90_000);
  const partitions = 16;
  // Four nodes, so that the coordinating node a can hold no replica of the key: a node holding one
  // would apply the (unconditional) put itself instead of sending it to b first.
  const cluster = await FaultCluster.start({ size: 4, partitions, workers: 1, secret: 'fault-test-cluster-secret-0123456789', env: fastClusterEnv });
  try {
    const [a, b] = cluster.nodes as [typeof cluster.nodes[0], typeof cluster.nodes[0]];
    const ring = await fetchJson<{ owners: { owner: string }[] }>(`${a.url}/v1/cluster/ring`);
    const owners = ring.owners.map((o) => o.owner);
    // A key whose first replica (the one a put is applied on first) is on b, and none on a.
    const replicaNodes = (candidate: string): string[] => preferencePartitions(partitionOf(storageKeyOf(candidate), partitions), 3, partitions).map((p) => owners[p]!);
    let key = '';
    for (let i = 0; key === ''; i++) {
      const nodes = replicaNodes(`once-${i}`);
      if (nodes[0] === b.name && !nodes.includes(a.name)) key = `once-${i}`;
    }
    const first = partitionOf(storageKeyOf(key), partitions);
    t.log(`${key}: replicas on ${preferencePartitions(first, 3, partitions).map((p) => owners[p]).join(', ')}; the put goes through ${a.name}`);
    const url = `${a.url}/v1/buckets/fault/keys/${key}`;

    cluster.proxy.setRule(b.name, a.name, 'blackhole');
    const put = fetch(`${url}?return_body=true&timeout_ms=8000`, { method: 'PUT', body: 'written-once', headers: { 'content-type': 'text/plain' } });
    await sleep(500);
    cluster.proxy.partition([[a.name], [b.name]], 'drop');
    const answer = await put;
    t.log(`the put answered ${answer.status}, ETag ${answer.headers.get('etag')}`);
    await answer.body?.cancel();
    cluster.proxy.heal();
    await cluster.waitAllUp(30_000);

    const read = await fetch(`${url}?r=all`);
    const body = await read.text();
    t.log(`a read answers ${read.status}: ${body}`);
    t.is(read.status, 200, 'one write, one value: not siblings of itself');
    t.is(body, 'written-once');
    t.not(answer.status, 200, 'the put cannot be acknowledged: its outcome is unknown');
  } finally {
    await cluster.shutdown();
  }
});
