// Reads that ask only the replicas they need (readFanout = quorum, docs/decisions.md) must not
// wait on a replica that went silent before the failure detector notices: a SIGSTOPped process
// keeps its connections open and answers nothing. Three real nodes; right after one of them is
// stopped, reads through another node of keys whose first two asked replicas include the stopped
// one complete after readSpeculateMs, from the third replica, long before the node is suspected
// (2 s at the least with the defaults) or the request's deadline (5 s).

import test from 'ava';
import { partitionOf, preferencePartitions } from '../../../src/core/ring.js';
import { type ClusterNodeProcess, startClusterNode, stopAll, waitSettled } from '../cluster-harness.js';
import { bucket } from './http-ops.js';
import { storageKeyOf } from './replica-probe.js';

const partitions = 16;

test('a read whose asked replica is silently stopped is answered by the next one after readSpeculateMs', async (t) => {
  t.timeout(120_000);
  const nodes: ClusterNodeProcess[] = [];
  const options = { partitions, extraArgs: ['--workers', '1'], env: { RINGKV_READ_SPECULATE_MS: '20' } };
  try {
    nodes.push(await startClusterNode('rs-a', options));
    nodes.push(await startClusterNode('rs-b', { ...options, join: nodes[0]!.peer }));
    nodes.push(await startClusterNode('rs-c', { ...options, join: nodes[0]!.peer }));
    await waitSettled(nodes, nodes.map((n) => n.name));
    const [a, , c] = nodes as [ClusterNodeProcess, ClusterNodeProcess, ClusterNodeProcess];
    const ring = (await (await fetch(`${a.url}/v1/cluster/ring`)).json()) as { owners: { owner: string }[] };
    const owners = ring.owners.map((o) => o.owner);
    // Keys for which a read through a asks a's own replica and then c's (preference order), and
    // whose third replica is on b. With exactly three nodes and Q not divisible by three, the
    // preference lists that wrap from partition Q − 1 to 0 hold one node twice
    // (docs/ring-and-claim.md); for a key with two replicas on c, no third node could answer
    // before c is suspected. Which lists those are depends on the order the joins were planned in.
    const keys: string[] = [];
    for (let i = 0; keys.length < 8; i++) {
      const replicas = preferencePartitions(partitionOf(storageKeyOf(`spec-${i}`), partitions), 3, partitions).map((p) => owners[p]!);
      if (new Set(replicas).size === 3 && replicas.filter((n) => n !== a.name)[0] === c.name) keys.push(`spec-${i}`);
    }
    for (const key of keys) {
      const put = await fetch(`${a.url}/v1/buckets/${bucket}/keys/${key}?w=all`, { method: 'PUT', body: `v-${key}`, headers: { 'content-type': 'text/plain' } });
      t.is(put.status, 204);
    }

    c.process.child.kill('SIGSTOP');
    const stoppedAt = performance.now();
    const latencies: number[] = [];
    for (const key of keys) {
      const started = performance.now();
      const read = await fetch(`${a.url}/v1/buckets/${bucket}/keys/${key}?r=2`);
      latencies.push(performance.now() - started);
      const body = await read.text();
      t.is(read.status, 200, body);
      t.is(body, `v-${key}`);
    }
    const elapsed = performance.now() - stoppedAt;
    t.log(`${keys.length} reads in ${elapsed.toFixed(0)} ms after the SIGSTOP; slowest ${Math.max(...latencies).toFixed(0)} ms`);
    // Well under the 2 s a suspicion takes at the least: the reads did not wait for the detector.
    t.true(elapsed < 1500, `the reads took ${elapsed.toFixed(0)} ms`);
    const suspected = ((await (await fetch(`${a.url}/v1/cluster/status`)).json()) as { members: { name: string; liveness: string }[] }).members.find((m) => m.name === c.name);
    t.log(`${c.name} is ${suspected?.liveness} to ${a.name} after the reads`);
  } finally {
    for (const n of nodes) n.process.child.kill('SIGCONT');
    await stopAll(nodes);
  }
});
