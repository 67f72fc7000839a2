// The servers of the cluster benchmark: a three-node ringkv cluster and a three-member etcd
// cluster, each on loopback with fresh data directories, started as child processes that a
// `ChildRegistry` stops again (SIGTERM, then SIGKILL after a grace period), and the CPU time of
// each process and thread read from /proc. It measures nothing itself and never removes data
// directories: the benchmark owns its temporary directory.

import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync, createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { freePort } from './servers.js';

const stopGraceMs = 15_000;
const startTimeoutMs = 30_000;
const outputTailChars = 4_000;

/** Every child the benchmark started, so that one call (also from a signal handler) stops them all. */
export class ChildRegistry {
  private readonly children = new Set<ChildProcess>();

  add(child: ChildProcess): ChildProcess {
    this.children.add(child);
    child.once('exit', () => this.children.delete(child));
    return child;
  }

  /** SIGTERM to each child still running, SIGKILL to any that has not exited after the grace. */
  async stop(children: readonly ChildProcess[] = [...this.children]): Promise<void> {
    await Promise.all(children.map((child) => stopOne(child)));
  }
}

async function stopOne(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), stopGraceMs);
  await exited;
  clearTimeout(timer);
}

/**
 * Spawns `command`, appends its output to `logFile`, and resolves once every pattern has matched
 * the output so far (with each pattern's first capture group), or rejects if it exits first.
 */
function spawnAndWait(registry: ChildRegistry, command: string, args: readonly string[], logFile: string, patterns: readonly RegExp[], env: NodeJS.ProcessEnv = {}): Promise<{ child: ChildProcess; captures: string[] }> {
  const child = registry.add(spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } }));
  const log = createWriteStream(logFile);
  let tail = '';
  const onOutput = (chunk: Buffer): void => {
    log.write(chunk);
    tail = (tail + chunk.toString()).slice(-outputTailChars * 4);
  };
  // Always drained, so a chatty child never blocks on a full pipe.
  child.stdout!.on('data', onOutput);
  child.stderr!.on('data', onOutput);
  child.once('exit', () => log.end());
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${command} did not start within ${startTimeoutMs} ms; output:\n${tail.slice(-outputTailChars)}`)), startTimeoutMs);
    const check = (): void => {
      const matches = patterns.map((pattern) => pattern.exec(tail));
      if (matches.every((m) => m !== null)) {
        clearTimeout(timer);
        child.stdout!.off('data', check);
        child.stderr!.off('data', check);
        resolve({ child, captures: matches.map((m) => m![1] ?? '') });
      }
    };
    child.stdout!.on('data', check);
    child.stderr!.on('data', check);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${command} ${args.join(' ')} exited with ${code ?? signal}; output:\n${tail.slice(-outputTailChars)}`));
    });
  });
}

export interface RingkvMember {
  readonly name: string;
  readonly pid: number;
  readonly child: ChildProcess;
  readonly httpUrl: string;
  readonly pbAddress: string;
}

export interface RingkvClusterOptions {
  readonly registry: ChildRegistry;
  readonly dir: string;
  readonly mainScript: string;
  readonly configFile: string;
  readonly nodeCount: number;
  readonly workers: number;
  /** `--vnode-host`: worker-threads or main-thread. */
  readonly vnodeHost: string;
  readonly partitions: number;
  readonly durability: string;
  /** Flags for node itself, before the script (for example `--cpu-prof --cpu-prof-dir=DIR`). */
  readonly nodeArgs?: readonly string[];
}

/** Starts node 1, then the others with `--join` to node 1's peer port (they commit the join themselves). */
export async function startRingkvCluster(options: RingkvClusterOptions): Promise<RingkvMember[]> {
  const members: RingkvMember[] = [];
  let seedPeer = '';
  for (let i = 1; i <= options.nodeCount; i++) {
    const name = `n${i}@127.0.0.1`;
    const peerPort = await freePort();
    const args = [
      ...(options.nodeArgs ?? []),
      options.mainScript, 'start',
      '--config', options.configFile,
      '--node-name', name,
      '--data-dir', join(options.dir, `ringkv-n${i}`),
      '--http-port', String(await freePort()),
      '--pb-port', String(await freePort()),
      '--resp-port', '0',
      '--peer-port', String(peerPort),
      '--workers', String(options.workers),
      '--vnode-host', options.vnodeHost,
      '--partitions', String(options.partitions),
      '--durability', options.durability,
      '--log-level', 'warn',
      ...(seedPeer === '' ? [] : ['--join', seedPeer]),
    ];
    const { child, captures } = await spawnAndWait(options.registry, process.execPath, args, join(options.dir, `ringkv-n${i}.log`), [/listening http on (http:\/\/\S+)/, /listening pb on (\S+)/, /listening peer on (\S+)/], { RINGKV_LOG_FORMAT: 'json' });
    if (seedPeer === '') seedPeer = `127.0.0.1:${peerPort}`;
    members.push({ name, pid: child.pid!, child, httpUrl: captures[0]!, pbAddress: captures[1]! });
  }
  return members;
}

interface ClusterStatus {
  readonly members: readonly { readonly name: string; readonly status: string; readonly staged: boolean; readonly partitionsOwned: number }[];
  readonly pendingTransfers: number;
  readonly transfers: readonly unknown[];
}

/**
 * Waits until every node reports every member valid and unstaged, the whole ring owned,
 * no pending transfer and no transfer listed at all (the old owners' grace periods over, so
 * nothing is still forwarded or scanned while measuring).
 */
export async function waitRingkvSettled(members: readonly RingkvMember[], partitions: number, timeoutMs: number): Promise<number> {
  const began = Date.now();
  let last = '';
  while (Date.now() - began < timeoutMs) {
    const statuses = await Promise.all(members.map(async (m) => (await (await fetch(`${m.httpUrl}/v1/cluster/status`)).json()) as ClusterStatus));
    const settled = statuses.every(
      (s) =>
        s.members.length === members.length &&
        s.members.every((m) => m.status === 'valid' && !m.staged) &&
        s.members.reduce((sum, m) => sum + m.partitionsOwned, 0) === partitions &&
        s.pendingTransfers === 0 &&
        s.transfers.length === 0,
    );
    if (settled) return Date.now() - began;
    last = JSON.stringify(statuses.map((s) => ({ members: s.members.map((m) => `${m.name}:${m.status}${m.staged ? '(staged)' : ''}:${m.partitionsOwned}`), pending: s.pendingTransfers, transfers: s.transfers.length })));
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`the ringkv cluster did not settle within ${timeoutMs} ms; last status: ${last}`);
}

export interface EtcdMember {
  readonly name: string;
  readonly pid: number;
  readonly child: ChildProcess;
  readonly clientUrl: string;
}

/** Starts a three-member (or `memberCount`) etcd cluster with `--initial-cluster-state new`. */
export async function startEtcdCluster(registry: ChildRegistry, dir: string, memberCount: number): Promise<EtcdMember[]> {
  const specs = [];
  for (let i = 1; i <= memberCount; i++) specs.push({ name: `e${i}`, clientUrl: `http://127.0.0.1:${await freePort()}`, peerUrl: `http://127.0.0.1:${await freePort()}` });
  const initialCluster = specs.map((s) => `${s.name}=${s.peerUrl}`).join(',');
  // All members start together: each waits for a quorum before it serves.
  return Promise.all(
    specs.map(async (s) => {
      const args = [
        '--name', s.name,
        '--data-dir', join(dir, `etcd-${s.name}`),
        '--listen-client-urls', s.clientUrl,
        '--advertise-client-urls', s.clientUrl,
        '--listen-peer-urls', s.peerUrl,
        '--initial-advertise-peer-urls', s.peerUrl,
        '--initial-cluster', initialCluster,
        '--initial-cluster-token', 'ringkv-cluster-bench',
        '--initial-cluster-state', 'new',
      ];
      const { child } = await spawnAndWait(registry, 'etcd', args, join(dir, `etcd-${s.name}.log`), [/(ready to serve client requests)/]);
      return { name: s.name, pid: child.pid!, child, clientUrl: s.clientUrl };
    }),
  );
}

/** `etcd --version`'s first line, or undefined when etcd is not installed. */
export function etcdVersion(): string | undefined {
  try {
    return execFileSync('etcd', ['--version'], { encoding: 'utf8' }).split('\n')[0]!.trim();
  } catch {
    return undefined;
  }
}

/** Clock ticks per second of /proc's CPU times. */
export function clockTicksPerS(): number {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
}

/** utime + stime of a process or thread, in clock ticks, from a /proc stat file. */
function ticksOfStatFile(file: string): number {
  try {
    const text = readFileSync(file, 'utf8');
    // Fields after the command name (which may contain spaces): state is field 3, utime 14, stime 15.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return 0;
  }
}

export interface CpuSample {
  /** Whole-process ticks (all threads, including exited ones). */
  readonly totalTicks: number;
  /** Ticks of each live thread, by thread id. */
  readonly threadTicks: ReadonlyMap<string, number>;
}

export function cpuSample(pid: number): CpuSample {
  const threadTicks = new Map<string, number>();
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    tids = [];
  }
  for (const tid of tids) threadTicks.set(tid, ticksOfStatFile(`/proc/${pid}/task/${tid}/stat`));
  return { totalTicks: ticksOfStatFile(`/proc/${pid}/stat`), threadTicks };
}

export interface CpuUse {
  readonly totalTicks: number;
  /** The main thread (tid = pid): for ringkv, HTTP and protocol-buffers front ends, coordinators, peers. */
  readonly mainTicks: number;
  /** The `busiestCount` other threads that used the most (for ringkv, its vnode-host workers). */
  readonly busiestOtherTicks: number;
}

/** CPU used by a process between two samples, split into main thread, busiest others, and the rest. */
export function cpuUse(pid: number, before: CpuSample, after: CpuSample, busiestCount: number): CpuUse {
  let mainTicks = 0;
  const others: number[] = [];
  for (const [tid, ticks] of after.threadTicks) {
    const delta = ticks - (before.threadTicks.get(tid) ?? 0);
    if (tid === String(pid)) mainTicks = delta;
    else others.push(delta);
  }
  others.sort((a, b) => b - a);
  return { totalTicks: after.totalTicks - before.totalTicks, mainTicks, busiestOtherTicks: others.slice(0, busiestCount).reduce((a, b) => a + b, 0) };
}

/** Busy and total ticks of the whole machine (all cores together), from /proc/stat's first line. */
export interface MachineCpuSample {
  readonly busyTicks: number;
  readonly totalTicks: number;
}

export function machineCpuSample(): MachineCpuSample {
  try {
    const ticks = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
    const totalTicks = ticks.reduce((a, b) => a + b, 0);
    // Fields: user nice system idle iowait irq softirq steal.
    return { busyTicks: totalTicks - ticks[3]! - ticks[4]!, totalTicks };
  } catch {
    return { busyTicks: 0, totalTicks: 0 };
  }
}
