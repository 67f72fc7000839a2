// Tombstone reaping on real processes: three nodes, n_val 3, so every node holds every key. A
// tombstone is reaped once it is old enough and all three replicas hold it; while one replica is
// down (and still holds the value from before the delete) nothing is reaped, so when it comes
// back the value does not return. A tombstone still present shows in a 404's context header
// (a read of a deleted key hands out the context that supersedes it); a reaped one does not.

import test from 'ava';
import { type ClusterNodeProcess, fastClusterEnv, get, put, startClusterNode, stopAll, waitSettled } from './cluster-harness.js';
import { startNodeProcess } from './process-node.js';

const Q = 16;
const reapEnv = {
  RINGKV_HINT_MAX_AGE_MS: '1000',
  RINGKV_TOMBSTONE_REAP_DELAY_MS: '1000',
  RINGKV_TOMBSTONE_REAP_INTERVAL_MS: '300',
  RINGKV_AAE_EXCHANGE_INTERVAL_MS: '500',
};
const strict = 'r=all&pr=all&sloppy_quorum=false&notfound_ok=true&timeout_ms=5000';

interface TombstoneStatus {
  readonly enabled: boolean;
  readonly awaiting: number | null;
  readonly reaped: number;
  readonly blocked: Record<string, number>;
}

async function tombstones(node: ClusterNodeProcess): Promise<TombstoneStatus> {
  const response = await fetch(`${node.url}/v1/cluster/status`, { signal: AbortSignal.timeout(5000) });
  return ((await response.json()) as { tombstones: TombstoneStatus }).tombstones;
}

async function remove(node: ClusterNodeProcess, key: string, query: string): Promise<number> {
  const response = await fetch(`${node.url}/v1/buckets/b/keys/${key}?${query}`, { method: 'DELETE', signal: AbortSignal.timeout(15_000) });
  await response.arrayBuffer();
  return response.status;
}

/** 'value', 'tombstone' (not found, but a context is handed out) or 'absent' (reaped everywhere). */
async function state(node: ClusterNodeProcess, key: string): Promise<string> {
  const response = await get(node, key, strict);
  await response.arrayBuffer();
  if (response.status === 200) return 'value';
  if (response.status !== 404) return `status ${response.status}`;
  return response.headers.get('x-ringkv-context') === null ? 'absent' : 'tombstone';
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

test.serial('tombstones and expired values are reaped once every replica holds them, and never while a replica that missed the delete is down', async (t) => {
  t.timeout(150_000);
  const nodes: ClusterNodeProcess[] = [];
  try {
    nodes.push(await startClusterNode('a', { env: reapEnv, partitions: Q }));
    for (const name of ['b', 'c']) nodes.push(await startClusterNode(name, { join: nodes[0]!.peer, env: reapEnv, partitions: Q }));
    await waitSettled(nodes, nodes.map((n) => n.name));
    const [a, b, c] = nodes as [ClusterNodeProcess, ClusterNodeProcess, ClusterNodeProcess];

    // Deleted with every replica up: reaped everywhere after the delay.
    const healthy = Array.from({ length: 8 }, (_, i) => `healthy-${i}`);
    for (const key of healthy) t.is((await put(a, key, `v ${key}`, 'w=all')).status, 204);
    for (const key of healthy) t.is(await remove(b, key, 'w=all'), 204);
    t.is(await state(a, healthy[0]!), 'tombstone', 'right after the delete the tombstone is there');
    await until('every healthy tombstone to be reaped', async () => (await Promise.all(healthy.map((k) => state(a, k)))).every((s) => s === 'absent'), 30_000);
    const reaped = (await Promise.all(nodes.map(tombstones))).reduce((sum, s) => sum + s.reaped, 0);
    t.true(reaped >= healthy.length, `${reaped} tombstones reaped`);
    const metrics = await Promise.all(nodes.map(async (n) => (await fetch(`${n.url}/metrics`, { signal: AbortSignal.timeout(5000) })).text()));
    const fromMetrics = metrics.reduce((sum, text) => sum + Number(/^ringkv_cluster_tombstones_reaped (\d+)$/m.exec(text)?.[1] ?? 'NaN'), 0);
    t.is(fromMetrics, reaped, '/metrics counts the same reaps as cluster status');
    t.true(metrics.every((text) => /^ringkv_cluster_tombstones_awaiting \d+$/m.test(text)), 'and the tombstones awaiting reaping');

    // An expired value is dead like a tombstone: reaped from every replica once it is old enough.
    t.is((await put(a, 'expiring', 'short-lived', 'w=all&ttl_ms=300')).status, 204);
    t.is(await state(b, 'expiring'), 'value');
    await until('the expired value to be reaped everywhere', async () => (await state(b, 'expiring')) === 'absent', 30_000);

    // A key written again after its tombstone was reaped is a plain new value.
    t.is((await put(c, healthy[0]!, 'again', 'w=all')).status, 204);
    t.is(await state(a, healthy[0]!), 'value');

    // c holds the value, then stops before the delete: it never sees it.
    const missed = Array.from({ length: 6 }, (_, i) => `missed-${i}`);
    for (const key of missed) t.is((await put(a, key, `v ${key}`, 'w=all')).status, 204);
    await c.process.kill('SIGKILL');
    await until('a to notice c is down', async () => {
      const response = await fetch(`${a.url}/v1/cluster/status`, { signal: AbortSignal.timeout(5000) });
      const status = (await response.json()) as { members: { name: string; liveness: string }[] };
      return status.members.find((m) => m.name === c.name)?.liveness !== 'up';
    }, 20_000);
    for (const key of missed) t.is(await remove(a, key, 'w=2&sloppy_quorum=false'), 204);

    // Several reap passes and delays go by: the tombstones stay, held back because c is down.
    await new Promise((r) => setTimeout(r, 3000));
    const held = await Promise.all([a, b].map(tombstones));
    t.true(held.some((s) => (s.blocked['replica_down'] ?? 0) > 0), `reaping was held back for the down replica: ${JSON.stringify(held.map((s) => s.blocked))}`);
    t.true(held.reduce((sum, s) => sum + (s.awaiting ?? 0), 0) > 0, 'tombstones are reported awaiting reaping');

    // c comes back with the old values on disk. Anti-entropy gives it the tombstones, and only
    // then are they reaped; the old values never come back.
    const restarted = await startNodeProcess({
      dataDir: c.dataDir,
      port: Number(new URL(c.url).port),
      args: ['--node-name', c.name, '--peer-port', c.peer.split(':')[1]!, '--partitions', String(Q), '--workers', '2'],
      env: { ...fastClusterEnv, ...reapEnv },
      startTimeoutMs: 30_000,
    });
    nodes[2] = { ...c, process: restarted };
    const seen = new Set<string>();
    await until(
      'the missed deletes to reach c and their tombstones to be reaped',
      async () => {
        const states = await Promise.all(missed.map((k) => state(nodes[2]!, k)));
        for (const s of states) seen.add(s);
        return states.every((s) => s === 'absent');
      },
      60_000,
    );
    t.false(seen.has('value'), `a strict read never saw a deleted value come back (seen: ${[...seen].join(', ')})`);
    for (const node of nodes) for (const key of missed) t.is(await state(node, key), 'absent', `${key} on ${node.name}`);
  } finally {
    await stopAll(nodes);
  }
});
