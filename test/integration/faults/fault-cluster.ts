// A cluster of real `ringkv start` processes on loopback with a fault proxy between every pair of
// nodes, and the faults a test inflicts on them: SIGKILL and restart (same data directory, same
// ports), SIGSTOP and SIGCONT, and partitions through the proxy. It keeps the output of every
// incarnation of every node, so a failing run can show the logs. It checks nothing itself.

import { freePort, startNodeProcess, tempDataDir, type NodeProcess } from '../process-node.js';
import { FaultProxy } from './fault-proxy.js';

export type NodeState = 'up' | 'stopped' | 'killed';

export interface FaultNode {
  readonly index: number;
  /** `fN@127.0.0.1`. */
  readonly name: string;
  readonly url: string;
  readonly httpPort: number;
  /** Where the node really listens for peers (the proxy forwards here; probes dial it directly). */
  readonly peerAddress: string;
  readonly dataDir: string;
  readonly args: readonly string[];
  process: NodeProcess;
  state: NodeState;
  /** Output of the incarnations before the current one. */
  readonly pastOutput: string[];
}

export interface MemberView {
  readonly name: string;
  readonly status: string;
  readonly staged: boolean;
  readonly connected: boolean;
  readonly liveness: string;
  readonly phi: number;
}

export interface ClusterView {
  readonly node: string;
  readonly ringVersion: number;
  readonly pendingTransfers: number;
  readonly members: readonly MemberView[];
}

export interface FaultClusterOptions {
  readonly size: number;
  readonly partitions: number;
  readonly workers: number;
  readonly env: NodeJS.ProcessEnv;
  /** The cluster secret every node is started with (so the replica probe can authenticate). */
  readonly secret: string;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export async function fetchJson<T>(url: string, timeoutMs = 5000): Promise<T> {
  const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  if (response.status !== 200) throw new Error(`${url} answered ${response.status}: ${await response.text()}`);
  return (await response.json()) as T;
}

export class FaultCluster {
  private readonly removers: (() => Promise<void>)[] = [];

  private constructor(
    readonly nodes: FaultNode[],
    readonly proxy: FaultProxy,
    private readonly options: FaultClusterOptions,
  ) {}

  /** Starts the nodes one after another, each joining the first through the proxy, and waits until all agree. */
  static async start(options: FaultClusterOptions): Promise<FaultCluster> {
    const proxy = new FaultProxy();
    const cluster = new FaultCluster([], proxy, options);
    try {
      for (let index = 0; index < options.size; index++) await cluster.addNode(index);
      await cluster.waitSettled(90_000);
      return cluster;
    } catch (error) {
      await cluster.shutdown();
      throw error;
    }
  }

  private async addNode(index: number): Promise<void> {
    const name = `f${index + 1}@127.0.0.1`;
    const data = await tempDataDir(`fault-f${index + 1}`);
    this.removers.push(data.remove);
    const [httpPort, peerPort] = [await freePort(), await freePort()];
    await this.proxy.addNode(name, peerPort);
    const args = ['--node-name', name, '--peer-port', String(peerPort), '--partitions', String(this.options.partitions), '--workers', String(this.options.workers)];
    if (index > 0) args.push('--join', this.proxy.proxyAddress(this.nodes[0]!.name));
    const process = await this.spawn(data.dir, httpPort, name, args);
    this.nodes.push({ index, name, url: process.url, httpPort, peerAddress: `127.0.0.1:${peerPort}`, dataDir: data.dir, args, process, state: 'up', pastOutput: [] });
  }

  private spawn(dataDir: string, httpPort: number, name: string, args: readonly string[]): Promise<NodeProcess> {
    return startNodeProcess({
      dataDir,
      port: httpPort,
      args: [...args],
      env: { ...this.options.env, RINGKV_CLUSTER_SECRET: this.options.secret, RINGKV_PEER_ADVERTISE_ADDRESS: this.proxy.proxyAddress(name) },
      startTimeoutMs: 60_000,
    });
  }

  /** Nodes whose process is running (not stopped, not killed): where a load balancer would send clients. */
  inService(): FaultNode[] {
    return this.nodes.filter((n) => n.state === 'up');
  }

  async kill(index: number): Promise<void> {
    const node = this.nodes[index]!;
    if (node.state === 'stopped') node.process.child.kill('SIGCONT');
    node.state = 'killed';
    await node.process.kill('SIGKILL');
  }

  /** Starts a killed node again on its data directory and ports. */
  async restart(index: number): Promise<void> {
    const node = this.nodes[index]!;
    if (node.state !== 'killed') throw new Error(`${node.name} is ${node.state}, not killed`);
    node.pastOutput.push(node.process.output());
    node.process = await this.spawn(node.dataDir, node.httpPort, node.name, node.args);
    node.state = 'up';
  }

  stop(index: number): void {
    const node = this.nodes[index]!;
    if (node.state !== 'up') throw new Error(`${node.name} is ${node.state}, not up`);
    node.process.child.kill('SIGSTOP');
    node.state = 'stopped';
  }

  resume(index: number): void {
    const node = this.nodes[index]!;
    if (node.state !== 'stopped') throw new Error(`${node.name} is ${node.state}, not stopped`);
    node.process.child.kill('SIGCONT');
    node.state = 'up';
  }

  /** Every node that is down comes back: stopped ones resumed, killed ones restarted. */
  async reviveAll(): Promise<void> {
    for (const node of this.nodes) {
      if (node.state === 'stopped') this.resume(node.index);
      else if (node.state === 'killed') await this.restart(node.index);
    }
  }

  async view(node: FaultNode, timeoutMs = 5000): Promise<ClusterView> {
    return fetchJson<ClusterView>(`${node.url}/v1/cluster/status`, timeoutMs);
  }

  /** Waits until every node sees every node as a valid member, nothing staged or pending, on the same ring. */
  async waitSettled(timeoutMs: number): Promise<void> {
    const want = this.nodes.map((n) => n.name).sort().join(',');
    const deadline = Date.now() + timeoutMs;
    let last = '';
    for (;;) {
      const views = await Promise.all(this.nodes.map((n) => this.view(n).catch((e: Error) => e)));
      const summaries = views.map((v) => {
        if (v instanceof Error) return `error ${v.message}`;
        const valid = v.members.filter((m) => m.status === 'valid' && !m.staged).map((m) => m.name).sort();
        return `${valid.join(',')} pending=${v.pendingTransfers} ring=${v.ringVersion}`;
      });
      if (summaries.every((s) => s === summaries[0] && s.startsWith(`${want} pending=0 `))) return;
      last = summaries.join(' | ');
      if (Date.now() > deadline) throw new Error(`the cluster did not settle within ${timeoutMs} ms: ${last}`);
      await sleep(200);
    }
  }

  /** Waits until every node sees every other as connected and up; resolves with the time it took. */
  async waitAllUp(timeoutMs: number): Promise<number> {
    const started = Date.now();
    let last = '';
    while (Date.now() - started < timeoutMs) {
      const views = await Promise.all(this.nodes.map((n) => this.view(n, 2000).catch((e: Error) => e)));
      const problems: string[] = [];
      for (const [i, v] of views.entries()) {
        if (v instanceof Error) problems.push(`${this.nodes[i]!.name}: ${v.message}`);
        else for (const m of v.members) if (m.liveness !== 'up' || !m.connected) problems.push(`${v.node} sees ${m.name} ${m.liveness}${m.connected ? '' : ' (not connected)'}`);
      }
      if (problems.length === 0) return Date.now() - started;
      last = problems.join('; ');
      await sleep(200);
    }
    throw new Error(`not every node saw every other up within ${timeoutMs} ms: ${last}`);
  }

  /** Every log line of every incarnation of every node that matches `pattern`. */
  logLines(pattern: RegExp): string[] {
    const out: string[] = [];
    for (const node of this.nodes) {
      for (const text of [...node.pastOutput, node.process.output()]) {
        for (const line of text.split('\n')) if (pattern.test(line)) out.push(`${node.name}: ${line}`);
      }
    }
    return out;
  }

  async shutdown(): Promise<void> {
    for (const node of this.nodes) if (node.state === 'stopped') node.process.child.kill('SIGCONT');
    await Promise.all(this.nodes.map((n) => n.process.kill('SIGKILL')));
    await this.proxy.close();
    await Promise.all(this.removers.map((remove) => remove()));
  }
}
