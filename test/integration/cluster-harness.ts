// A cluster of real `ringkv start` processes on loopback, for the cluster tests: each node gets
// its own data directory and free ports, joins the first node's peer listener on start, and is
// talked to over its HTTP API.

import { freePort, startNodeProcess, tempDataDir, type NodeProcess } from './process-node.js';

export interface ClusterNodeProcess {
  readonly name: string;
  readonly url: string;
  readonly peer: string;
  readonly process: NodeProcess;
  readonly dataDir: string;
  readonly removeData: () => Promise<void>;
}

/** Settings that make a test cluster converge in a second or two rather than tens. */
export const fastClusterEnv: NodeJS.ProcessEnv = {
  RINGKV_GOSSIP_INTERVAL_MS: '200',
  RINGKV_HANDOFF_GRACE_MS: '1000',
  RINGKV_HANDOFF_RETRY_MS: '300',
};

export async function startClusterNode(name: string, options: { join?: string; partitions?: number; extraArgs?: string[]; env?: NodeJS.ProcessEnv } = {}): Promise<ClusterNodeProcess> {
  const { dir, remove } = await tempDataDir(name);
  const [httpPort, peerPort] = [await freePort(), await freePort()];
  const args = ['--node-name', `${name}@127.0.0.1`, '--peer-port', String(peerPort), '--partitions', String(options.partitions ?? 16), '--workers', '2'];
  if (options.join !== undefined) args.push('--join', options.join);
  const process = await startNodeProcess({ dataDir: dir, port: httpPort, args: [...args, ...(options.extraArgs ?? [])], env: { ...fastClusterEnv, ...options.env }, startTimeoutMs: 30_000 });
  return { name: `${name}@127.0.0.1`, url: process.url, peer: `127.0.0.1:${peerPort}`, process, dataDir: dir, removeData: remove };
}

export async function clusterStatus(node: ClusterNodeProcess): Promise<{ members: { name: string; status: string; staged: boolean; partitionsOwned: number }[]; pendingTransfers: number; ringVersion: number }> {
  const response = await fetch(`${node.url}/v1/cluster/status`, { signal: AbortSignal.timeout(5000) });
  if (response.status !== 200) throw new Error(`status answered ${response.status}: ${await response.text()}`);
  return (await response.json()) as never;
}

/** Waits until every node sees the same settled cluster of `members` (valid, nothing pending). */
export async function waitSettled(nodes: readonly ClusterNodeProcess[], members: readonly string[], timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    const statuses = await Promise.all(nodes.map((n) => clusterStatus(n).catch((e: Error) => e)));
    const views = statuses.map((s) => {
      if (s instanceof Error) return `error ${s.message}`;
      const valid = s.members.filter((m) => m.status === 'valid' && !m.staged).map((m) => m.name).sort();
      return `${valid.join(',')} pending=${s.pendingTransfers} ring=${s.ringVersion}`;
    });
    const want = [...members].sort().join(',');
    if (views.every((v) => v === views[0] && v.startsWith(`${want} pending=0 `))) return;
    last = views.join(' | ');
    if (Date.now() > deadline) {
      const logs = nodes.map((n) => `--- ${n.name} (last lines of its log)\n${n.process.output().split('\n').slice(-15).join('\n')}`).join('\n');
      throw new Error(`cluster did not settle on ${want} within ${timeoutMs} ms; views: ${last}\n${logs}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

export async function put(node: ClusterNodeProcess, key: string, value: string, query = ''): Promise<Response> {
  return fetch(`${node.url}/v1/buckets/b/keys/${encodeURIComponent(key)}${query === '' ? '' : `?${query}`}`, {
    method: 'PUT',
    body: value,
    headers: { 'content-type': 'text/plain' },
    signal: AbortSignal.timeout(15_000),
  });
}

export async function get(node: ClusterNodeProcess, key: string, query = ''): Promise<Response> {
  return fetch(`${node.url}/v1/buckets/b/keys/${encodeURIComponent(key)}${query === '' ? '' : `?${query}`}`, { signal: AbortSignal.timeout(15_000) });
}

export async function admin(node: ClusterNodeProcess, action: string, body: unknown = {}): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${node.url}/v1/cluster/${action}`, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' }, signal: AbortSignal.timeout(15_000) });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

export async function stopAll(nodes: readonly ClusterNodeProcess[]): Promise<void> {
  await Promise.all(nodes.map((n) => n.process.kill('SIGTERM')));
  await Promise.all(nodes.map((n) => n.removeData()));
}
