// Active anti-entropy on real processes: four nodes, one stopped while keys are written with
// w=1 and no fallbacks (so no hints exist and its replicas simply miss those writes), then
// started again. Nothing reads the keys; the trees' roots in each node's stats show every
// replica of every preference list converging, and only then one strict read of every key
// (r=all, pr=all, notfound_ok=false) confirms that every replica holds it.

import test from 'ava';
import { encodeStorageKey } from '../../src/core/codec.js';
import { partitionOf, preferencePartitions } from '../../src/core/ring.js';
import { type ClusterNodeProcess, fastClusterEnv, get, put, startClusterNode, stopAll, waitSettled } from './cluster-harness.js';
import { startNodeProcess } from './process-node.js';

const Q = 16;
const aaeEnv = { RINGKV_AAE_EXCHANGE_INTERVAL_MS: '500' };

interface TreeStats {
  readonly primaryPartition: number;
  readonly nVal: number;
  readonly keys: number;
  readonly root: string;
}
interface AaeStats {
  readonly trees: { ready: number; partitions: number };
  readonly exchanges: { completed: number; msAvg: number; requestsAvg: number; answerBytes: number; nodesCompared: number; keysCompared: number };
  readonly keys: { differing: number; repaired: number; repairFailures: number };
  readonly partitions: readonly { partition: number; state: string; trees: readonly TreeStats[] }[];
}

async function aaeStats(node: ClusterNodeProcess): Promise<AaeStats> {
  const response = await fetch(`${node.url}/v1/stats`, { signal: AbortSignal.timeout(5000) });
  return ((await response.json()) as { cluster: { antiEntropy: AaeStats } }).cluster.antiEntropy;
}

async function owners(node: ClusterNodeProcess): Promise<string[]> {
  const response = await fetch(`${node.url}/v1/cluster/ring`, { signal: AbortSignal.timeout(5000) });
  return ((await response.json()) as { owners: { owner: string }[] }).owners.map((o) => o.owner);
}

/**
 * For each preference list (primary partition, n_val 3), the roots its three owners report, from
 * trees that are ready; a list is converged when all three are there and equal.
 */
async function listsNotConverged(nodes: readonly ClusterNodeProcess[], ring: readonly string[]): Promise<number[]> {
  const all = await Promise.all(nodes.map(async (n) => ({ name: n.name, stats: await aaeStats(n) })));
  const roots = new Map<number, string[]>();
  for (const { name, stats } of all) {
    for (const vnode of stats.partitions) {
      if (ring[vnode.partition] !== name || vnode.state !== 'ready') continue;
      for (const tree of vnode.trees) roots.set(tree.primaryPartition, [...(roots.get(tree.primaryPartition) ?? []), tree.root]);
    }
  }
  const out: number[] = [];
  for (let p = 0; p < Q; p++) {
    const seen = roots.get(p) ?? [];
    if (seen.length !== 3 || new Set(seen).size !== 1) out.push(p);
  }
  return out;
}

test.serial('a replica that missed writes while it was down gets them from anti-entropy alone, without any read', async (t) => {
  t.timeout(180_000);
  const nodes: ClusterNodeProcess[] = [];
  try {
    nodes.push(await startClusterNode('a', { env: aaeEnv }));
    for (const name of ['b', 'c', 'd']) nodes.push(await startClusterNode(name, { join: nodes[0]!.peer, env: aaeEnv }));
    await waitSettled(nodes, nodes.map((n) => n.name));
    const ring = await owners(nodes[0]!);
    const d = nodes[3]!;
    const [a] = nodes;

    await d.process.kill('SIGTERM');
    // w=1 and no sloppy quorum: the live replicas take the write, nobody keeps a hint for d.
    const keys = Array.from({ length: 80 }, (_, i) => `aae-${i}`);
    let missing = 0;
    for (let i = 0; i < keys.length; i += 10) {
      const batch = keys.slice(i, i + 10);
      const answers = await Promise.all(batch.map((key) => put(a!, key, `value of ${key}`, 'w=1&dw=1&sloppy_quorum=false&timeout_ms=5000')));
      for (const response of answers) t.is(response.status, 204, await response.text());
    }
    for (const key of keys) {
      const storageKey = encodeStorageKey({ type: 'default', bucket: new TextEncoder().encode('b'), key: new TextEncoder().encode(key) });
      missing += preferencePartitions(partitionOf(storageKey, Q), 3, Q).filter((p) => ring[p] === d.name).length;
    }
    t.true(missing > 30, `${missing} replicas on d missed their write`);

    // d comes back on the same data directory and ports, without the keys.
    const httpPort = Number(new URL(d.url).port);
    const peerPort = d.peer.split(':')[1]!;
    const restartedAtMs = Date.now();
    const restarted = await startNodeProcess({
      dataDir: d.dataDir,
      port: httpPort,
      args: ['--node-name', d.name, '--peer-port', peerPort, '--partitions', String(Q), '--workers', '2'],
      env: { ...fastClusterEnv, ...aaeEnv },
      startTimeoutMs: 30_000,
    });
    nodes[3] = { ...d, process: restarted };
    const startedMs = Date.now() - restartedAtMs;

    let notConverged: number[] = [];
    const deadline = Date.now() + 30_000;
    for (;;) {
      notConverged = await listsNotConverged(nodes, ring);
      if (notConverged.length === 0 || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    const convergedMs = Date.now() - restartedAtMs;
    t.deepEqual(notConverged, [], 'every preference list has equal roots on its three replicas');
    const stats = await Promise.all(nodes.map(aaeStats));
    const repaired = stats.reduce((sum, s) => sum + s.keys.repaired, 0);
    const completed = stats.reduce((sum, s) => sum + s.exchanges.completed, 0);
    const bytes = stats.reduce((sum, s) => sum + s.exchanges.answerBytes, 0);
    t.true(repaired >= missing, `${repaired} keys repaired for ${missing} missing replicas`);
    t.log(`d restarted in ${startedMs} ms; all ${Q} lists converged ${convergedMs} ms after the restart; ${repaired} keys repaired for ${missing} missing replicas`);
    t.log(`exchanges: ${completed} completed cluster-wide, ${Math.round(bytes / Math.max(1, completed))} answer bytes each on average; per node ms avg ${stats.map((s) => s.exchanges.msAvg).join('/')}, requests avg ${stats.map((s) => s.exchanges.requestsAvg).join('/')}`);

    // Now, and only now, read every key from every replica at once.
    for (const key of keys) {
      const response = await get(nodes[1]!, key, 'r=all&pr=all&notfound_ok=false&sloppy_quorum=false&timeout_ms=5000');
      t.is(response.status, 200, `${key}: ${await response.text()}`);
    }
  } finally {
    await stopAll(nodes);
  }
});
