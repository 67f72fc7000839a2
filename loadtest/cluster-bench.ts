// `npm run bench:cluster` (issue 4): three ringkv nodes on this box (N = 3, R = W = 2, fsync
// durability, 100-byte values) under autocannon over HTTP and a closed loop over the binary
// protocol, then, in the same run, a three-member etcd cluster (Debian's etcd-server) under the
// same autocannon workload against its JSON gateway, as the durable replicated peer. Prints
// throughput and p50/p99/p99.9 (median of several runs), CPU per process, and the targets.
// It starts every server itself on loopback with fresh data directories and removes them at
// exit, also on Ctrl-C; it never touches an existing cluster.
//
// Options (environment): BENCH_DURATION_S (5, per run), BENCH_RUNS (3, per workload; the row
// shown is the run with the median throughput), BENCH_CONNECTIONS (48, over all three nodes:
// 16 per node), BENCH_KEYS (10000), BENCH_VALUE_BYTES (100), BENCH_WORKERS (1 per node),
// BENCH_VNODE_HOST (main-thread: three nodes share this box, which is the case the README
// recommends it for; worker-threads for the default), BENCH_PARTITIONS (64), BENCH_DURABILITY (fsync), BENCH_PB_CONNECTIONS_PER_NODE (4),
// BENCH_SYSTEMS (ringkv,etcd), BENCH_SEED (random; printed), BENCH_RINGKV_NODE_ARGS (flags for
// node when it runs a ringkv node, space-separated: `--cpu-prof --cpu-prof-dir=/tmp/prof`),
// BENCH_QUIET_WAIT_S (30: before each run, wait up to this long for a second in which other
// processes use under 15 % of one core; 0 turns the wait off), BENCH_WORKLOADS (which ringkv
// workloads run: http-get,http-put,pb-get,pb-put, all by default).

import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, release, tmpdir, totalmem, availableParallelism } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { seededRandom } from '../src/core/random.js';
import { type HttpWorkload, type RunFigures, forEachLimited, runAutocannonSpread, runPbLoad } from './cluster-load.js';
import { ChildRegistry, type CpuSample, clockTicksPerS, cpuSample, cpuUse, etcdVersion, machineCpuSample, startEtcdCluster, startRingkvCluster, waitRingkvSettled } from './cluster-procs.js';

interface Settings {
  readonly durationS: number;
  readonly runs: number;
  readonly connections: number;
  readonly keyCount: number;
  readonly valueBytes: number;
  readonly workers: number;
  readonly vnodeHost: string;
  readonly partitions: number;
  readonly durability: string;
  readonly pbConnectionsPerNode: number;
  readonly systems: readonly string[];
  readonly seed: number;
  readonly ringkvNodeArgs: readonly string[];
  /** How long a run waits for the box to go quiet before it starts anyway; 0: no waiting. */
  readonly quietWaitMaxS: number;
  /** Which ringkv workloads run (all four by default); etcd's runs are not filtered. */
  readonly ringkvWorkloads: readonly string[];
}

const nodeCount = 3;
const settleTimeoutMs = 60_000;
const preloadConcurrency = 48;
/** Busy time (in % of one core) below which the idle box counts as quiet enough to start a run. */
const quietBusyPctMax = 15;
const requestTimeoutMs = 5_000;
const benchBucketType = 'bench';
const benchBucket = 'bench';

function vnodeHostSetting(value: string | undefined): string {
  const host = value ?? 'main-thread';
  if (host !== 'main-thread' && host !== 'worker-threads') throw new TypeError(`BENCH_VNODE_HOST is main-thread or worker-threads (got ${host})`);
  return host;
}

const ringkvWorkloadNames = ['http-get', 'http-put', 'pb-get', 'pb-put'] as const;

function ringkvWorkloadsSetting(value: string | undefined): readonly string[] {
  if (value === undefined) return ringkvWorkloadNames;
  const names = value.split(',').map((s) => s.trim());
  for (const name of names) {
    if (!(ringkvWorkloadNames as readonly string[]).includes(name)) throw new TypeError(`BENCH_WORKLOADS lists ${ringkvWorkloadNames.join(', ')} (got ${name})`);
  }
  return names;
}

function settingsOf(env: NodeJS.ProcessEnv): Settings {
  const number = (name: string, fallback: number, min: number): number => {
    const n = Number(env[name] ?? fallback);
    if (!Number.isFinite(n) || n < min) throw new TypeError(`${name} must be a number >= ${min} (got ${env[name]})`);
    return n;
  };
  const systems = (env['BENCH_SYSTEMS'] ?? 'ringkv,etcd').split(',').map((s) => s.trim());
  for (const s of systems) if (s !== 'ringkv' && s !== 'etcd') throw new TypeError(`BENCH_SYSTEMS lists ringkv and/or etcd (got ${s})`);
  const connections = Math.floor(number('BENCH_CONNECTIONS', 48, nodeCount));
  return {
    durationS: number('BENCH_DURATION_S', 5, 1),
    runs: Math.floor(number('BENCH_RUNS', 3, 1)),
    connections,
    keyCount: Math.floor(number('BENCH_KEYS', 10_000, 1)),
    valueBytes: Math.floor(number('BENCH_VALUE_BYTES', 100, 1)),
    workers: Math.floor(number('BENCH_WORKERS', 1, 1)),
    vnodeHost: vnodeHostSetting(env['BENCH_VNODE_HOST']),
    partitions: Math.floor(number('BENCH_PARTITIONS', 64, 1)),
    durability: env['BENCH_DURABILITY'] ?? 'fsync',
    pbConnectionsPerNode: Math.floor(number('BENCH_PB_CONNECTIONS_PER_NODE', 4, 1)),
    systems,
    seed: env['BENCH_SEED'] === undefined ? Math.floor(Math.random() * 2 ** 32) : Number(env['BENCH_SEED']) >>> 0,
    ringkvNodeArgs: (env['BENCH_RINGKV_NODE_ARGS'] ?? '').split(' ').filter((arg) => arg !== ''),
    quietWaitMaxS: number('BENCH_QUIET_WAIT_S', 30, 0),
    ringkvWorkloads: ringkvWorkloadsSetting(env['BENCH_WORKLOADS']),
  };
}

/** One measured run with the CPU its processes used. */
interface MeasuredRun {
  readonly figures: RunFigures;
  readonly serversCpuPct: number;
  readonly loadCpuPct: number;
  /** The whole machine's busy time, in % of one core (200 % = both cores of a 2-core box). */
  readonly machineBusyPct: number;
  /** Busy time not used by the servers or this process: other processes on the box, interrupts. */
  readonly outsidePct: number;
  /** Per server process: whole process, main thread, busiest `workers` other threads (% of one core). */
  readonly perServer: readonly { readonly name: string; readonly totalPct: number; readonly mainPct: number; readonly workersPct: number }[];
}

interface Row {
  readonly system: 'ringkv' | 'etcd';
  readonly protocol: string;
  readonly workload: string;
  readonly runs: readonly MeasuredRun[];
}

interface Server {
  readonly name: string;
  readonly pid: number;
}

/** Runs `measure` once, sampling the CPU time of every server and of this process around it. */
async function measured(servers: readonly Server[], busiestCount: number, ticksPerS: number, measure: () => Promise<RunFigures>): Promise<MeasuredRun> {
  const before = servers.map((s) => cpuSample(s.pid));
  const loadBefore = process.cpuUsage();
  const machineBefore = machineCpuSample();
  const began = performance.now();
  const figures = await measure();
  const elapsedS = (performance.now() - began) / 1000;
  const loadUsed = process.cpuUsage(loadBefore);
  const machineAfter = machineCpuSample();
  const machineTicks = Math.max(1, machineAfter.totalTicks - machineBefore.totalTicks);
  const machineBusyPct = (100 * availableParallelism() * (machineAfter.busyTicks - machineBefore.busyTicks)) / machineTicks;
  const after: CpuSample[] = servers.map((s) => cpuSample(s.pid));
  const pct = (ticks: number): number => (100 * ticks) / ticksPerS / elapsedS;
  const perServer = servers.map((s, i) => {
    const use = cpuUse(s.pid, before[i]!, after[i]!, busiestCount);
    return { name: s.name, totalPct: pct(use.totalTicks), mainPct: pct(use.mainTicks), workersPct: pct(use.busiestOtherTicks) };
  });
  const serversCpuPct = perServer.reduce((sum, s) => sum + s.totalPct, 0);
  const loadCpuPct = (100 * (loadUsed.user + loadUsed.system)) / 1e6 / elapsedS;
  return { figures, serversCpuPct, loadCpuPct, machineBusyPct, outsidePct: Math.max(0, machineBusyPct - serversCpuPct - loadCpuPct), perServer };
}

async function repeat(settings: Settings, label: string, run: () => Promise<MeasuredRun>): Promise<MeasuredRun[]> {
  const runs: MeasuredRun[] = [];
  for (let i = 1; i <= settings.runs; i++) {
    if (settings.quietWaitMaxS > 0) await waitQuiet(label, settings.quietWaitMaxS);
    const r = await run();
    const f = r.figures;
    console.error(
      `bench: ${label} run ${i}/${settings.runs}: ${Math.round(f.opsPerS)} ops/s, p50 ${f.p50Ms.toFixed(2)} p99 ${f.p99Ms.toFixed(2)} p99.9 ${f.p999Ms.toFixed(2)} ms, ` +
        `errors ${f.errors}, non-2xx ${f.non2xx}${f.errorSamples.length > 0 ? ` (${f.errorSamples.join('; ')})` : ''}, CPU (% of one core): servers ${r.serversCpuPct.toFixed(0)}, load generator ${r.loadCpuPct.toFixed(0)}, outside the benchmark ${r.outsidePct.toFixed(0)}`,
    );
    runs.push(r);
  }
  return runs;
}

/**
 * Waits (up to `maxS`) for a second in which the box is nearly idle, so that a run does
 * not start while something else on the machine (a test suite, a build) is using the cores; the
 * servers are idle between runs. Says so when it gives up; the run's "outside" CPU shows the rest.
 */
async function waitQuiet(label: string, maxS: number): Promise<void> {
  const began = Date.now();
  let busyPct = 0;
  while (Date.now() - began < maxS * 1000) {
    const before = machineCpuSample();
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const after = machineCpuSample();
    busyPct = (100 * availableParallelism() * (after.busyTicks - before.busyTicks)) / Math.max(1, after.totalTicks - before.totalTicks);
    if (busyPct < quietBusyPctMax) return;
  }
  console.error(`bench: ${label}: the machine stayed busy (${busyPct.toFixed(0)} % of one core used by other processes) for ${maxS} s; running anyway`);
}

/** The run with the median throughput (the lower middle one for an even count). */
function medianRun(runs: readonly MeasuredRun[]): MeasuredRun {
  const sorted = [...runs].sort((a, b) => a.figures.opsPerS - b.figures.opsPerS);
  return sorted[Math.floor((sorted.length - 1) / 2)]!;
}

function keyName(i: number): string {
  return `key-${i}`;
}

async function benchRingkv(settings: Settings, dir: string, registry: ChildRegistry, ticksPerS: number, random: () => number): Promise<Row[]> {
  const configFile = join(dir, 'ringkv-config.json');
  // Blind writes (autocannon carries no causal context) to an allow_mult bucket would pile up
  // siblings; last_write_wins is the setting for data overwritten without reading it first.
  writeFileSync(configFile, JSON.stringify({ bucketTypes: { [benchBucketType]: { lastWriteWins: true, allowMult: false } } }));
  const mainScript = join(new URL('.', import.meta.url).pathname, '../src/cli/main.js');
  console.error(`bench: starting ${nodeCount} ringkv nodes (--workers ${settings.workers}, --vnode-host ${settings.vnodeHost}, Q = ${settings.partitions}, durability ${settings.durability}) ...`);
  const members = await startRingkvCluster({ registry, dir, mainScript, configFile, nodeCount, workers: settings.workers, vnodeHost: settings.vnodeHost, partitions: settings.partitions, durability: settings.durability, nodeArgs: settings.ringkvNodeArgs });
  const settledMs = await waitRingkvSettled(members, settings.partitions, settleTimeoutMs);
  console.error(`bench: ringkv cluster settled after ${settledMs} ms more: ${members.map((m) => `${m.name} http ${m.httpUrl} pb ${m.pbAddress}`).join(', ')}`);

  const value = 'v'.repeat(settings.valueBytes);
  const keyPath = (i: number): string => `/v1/types/${benchBucketType}/buckets/${benchBucket}/keys/${keyName(i)}`;
  const keys = Array.from({ length: settings.keyCount }, (_, i) => i);
  console.error(`bench: preloading ${settings.keyCount} keys (w=2, over all nodes) ...`);
  await forEachLimited(keys, preloadConcurrency, async (i) => {
    const response = await fetch(`${members[i % nodeCount]!.httpUrl}${keyPath(i)}?w=2`, { method: 'PUT', body: value, headers: { 'content-type': 'application/octet-stream' } });
    if (!response.ok) throw new Error(`ringkv preload of ${keyName(i)}: HTTP ${response.status} ${await response.text()}`);
  });
  const check = await fetch(`${members[1]!.httpUrl}${keyPath(settings.keyCount - 1)}?r=2`);
  if (check.status !== 200 || (await check.text()) !== value) throw new Error(`ringkv preload check failed: HTTP ${check.status}`);

  const servers = members.map((m) => ({ name: m.name, pid: m.pid }));
  const urls = members.map((m) => m.httpUrl);
  const pbNodes = members.map((m) => m.pbAddress);
  const randomKey = (): number => Math.floor(random() * settings.keyCount);
  const httpGet: HttpWorkload = { method: 'GET', headers: {}, next: () => ({ path: `${keyPath(randomKey())}?r=2` }) };
  const httpPut: HttpWorkload = { method: 'PUT', headers: { 'content-type': 'application/octet-stream' }, next: () => ({ path: `${keyPath(randomKey())}?w=2`, body: value }) };
  const pbValue = Buffer.from(value);
  const common = { type: benchBucketType, timeoutMs: requestTimeoutMs };
  const pb = (operation: Parameters<typeof runPbLoad>[0]['operation']) => () =>
    measured(servers, settings.workers, ticksPerS, () =>
      runPbLoad({ nodes: pbNodes, connectionsPerNode: settings.pbConnectionsPerNode, inflight: settings.connections, durationS: settings.durationS, timeoutMs: requestTimeoutMs, operation }),
    );
  const http = (workload: HttpWorkload) => () => measured(servers, settings.workers, ticksPerS, () => runAutocannonSpread(urls, settings.connections, settings.durationS, workload));

  const rows: Row[] = [];
  const runs = settings.ringkvWorkloads;
  if (runs.includes('http-get')) rows.push({ system: 'ringkv', protocol: 'HTTP', workload: 'GET r=2', runs: await repeat(settings, 'ringkv HTTP GET r=2', http(httpGet)) });
  if (runs.includes('http-put')) rows.push({ system: 'ringkv', protocol: 'HTTP', workload: 'PUT w=2', runs: await repeat(settings, 'ringkv HTTP PUT w=2', http(httpPut)) });
  if (runs.includes('pb-get')) rows.push({ system: 'ringkv', protocol: 'PB', workload: 'GET r=2', runs: await repeat(settings, 'ringkv PB GET r=2', pb((client) => client.get(benchBucket, keyName(randomKey()), { ...common, r: 2 }))) });
  if (runs.includes('pb-put')) rows.push({ system: 'ringkv', protocol: 'PB', workload: 'PUT w=2', runs: await repeat(settings, 'ringkv PB PUT w=2', pb((client) => client.put(benchBucket, keyName(randomKey()), pbValue, { ...common, w: 2 }))) });
  await registry.stop(members.map((m) => m.child)); // before the etcd part, so nothing else competes for the cores
  return rows;
}

/** '/v3' on etcd 3.4 and later; '/v3beta' on 3.3, whose gateway has no '/v3' prefix. */
async function etcdApiPrefix(clientUrl: string): Promise<string> {
  for (const prefix of ['/v3', '/v3beta']) {
    const response = await fetch(`${clientUrl}${prefix}/kv/range`, { method: 'POST', body: JSON.stringify({ key: Buffer.from('probe').toString('base64') }) });
    await response.arrayBuffer();
    if (response.ok) return prefix;
  }
  throw new Error(`etcd at ${clientUrl} answers neither /v3/kv/range nor /v3beta/kv/range`);
}

async function benchEtcd(settings: Settings, dir: string, registry: ChildRegistry, ticksPerS: number, random: () => number): Promise<{ rows: Row[]; apiPrefix: string }> {
  console.error(`bench: starting ${nodeCount} etcd members ...`);
  const members = await startEtcdCluster(registry, dir, nodeCount);
  const apiPrefix = await etcdApiPrefix(members[0]!.clientUrl);
  console.error(`bench: etcd cluster up: ${members.map((m) => `${m.name} ${m.clientUrl}`).join(', ')}; JSON gateway at ${apiPrefix}/`);

  const value64 = Buffer.from('v'.repeat(settings.valueBytes)).toString('base64');
  const key64 = Array.from({ length: settings.keyCount }, (_, i) => Buffer.from(keyName(i)).toString('base64'));
  // Bodies built once: the load generator should spend its time on requests, not on base64.
  const putBodies = key64.map((key) => JSON.stringify({ key, value: value64 }));
  const rangeBodies = key64.map((key) => JSON.stringify({ key }));
  const serializableBodies = key64.map((key) => JSON.stringify({ key, serializable: true }));
  const headers = { 'content-type': 'application/json' };
  console.error(`bench: preloading ${settings.keyCount} keys ...`);
  await forEachLimited(
    key64.map((_, i) => i),
    preloadConcurrency,
    async (i) => {
      const response = await fetch(`${members[i % nodeCount]!.clientUrl}${apiPrefix}/kv/put`, { method: 'POST', body: putBodies[i]!, headers });
      if (!response.ok) throw new Error(`etcd preload of ${keyName(i)}: HTTP ${response.status} ${await response.text()}`);
      await response.arrayBuffer();
    },
  );
  const check = (await (await fetch(`${members[1]!.clientUrl}${apiPrefix}/kv/range`, { method: 'POST', body: rangeBodies[settings.keyCount - 1]!, headers })).json()) as { kvs?: { value: string }[] };
  if (check.kvs?.[0]?.value !== value64) throw new Error(`etcd preload check failed: ${JSON.stringify(check)}`);

  const servers = members.map((m) => ({ name: m.name, pid: m.pid }));
  const urls = members.map((m) => m.clientUrl);
  const randomKey = (): number => Math.floor(random() * settings.keyCount);
  const post = (path: string, bodies: readonly string[]): HttpWorkload => ({ method: 'POST', headers, next: () => ({ path: `${apiPrefix}${path}`, body: bodies[randomKey()]! }) });
  const http = (workload: HttpWorkload) => () => measured(servers, 0, ticksPerS, () => runAutocannonSpread(urls, settings.connections, settings.durationS, workload));

  const rows: Row[] = [];
  rows.push({ system: 'etcd', protocol: 'HTTP/JSON', workload: 'range, linearizable', runs: await repeat(settings, 'etcd range linearizable', http(post('/kv/range', rangeBodies))) });
  rows.push({ system: 'etcd', protocol: 'HTTP/JSON', workload: 'range, serializable', runs: await repeat(settings, 'etcd range serializable', http(post('/kv/range', serializableBodies))) });
  rows.push({ system: 'etcd', protocol: 'HTTP/JSON', workload: 'put', runs: await repeat(settings, 'etcd put', http(post('/kv/put', putBodies))) });
  await registry.stop(members.map((m) => m.child));
  return { rows, apiPrefix };
}

function machineLine(): string {
  let fsType = '?';
  try {
    fsType = execFileSync('df', ['--output=fstype', tmpdir()], { encoding: 'utf8' }).split('\n')[1]?.trim() ?? '?';
  } catch {
    fsType = '?';
  }
  return `${availableParallelism()} vCPUs (${cpus()[0]?.model ?? 'cpu'}), ${Math.round(totalmem() / 2 ** 30)} GiB, Linux ${release()}, data directories on ${fsType} (${tmpdir()}), Node ${process.version}`;
}

function printReport(settings: Settings, rows: readonly Row[], etcd: string | undefined, apiPrefix: string | undefined, startedAt: Date): void {
  const n = (x: number): string => Math.round(x).toLocaleString('en-US').replace(/,/g, ' ');
  const ms = (x: number): string => x.toFixed(2);
  console.log(`\n## Cluster run of ${startedAt.toISOString()}\n`);
  console.log(`machine: ${machineLine()}; ${etcd ?? 'etcd not installed'}${apiPrefix ? `, JSON gateway ${apiPrefix}/` : ''}`);
  console.log(
    `workload: ${nodeCount} nodes/members on loopback, ${settings.connections} connections over the ${nodeCount} (${settings.connections / nodeCount} each), ` +
      `${settings.keyCount} keys (uniform), ${settings.valueBytes}-byte values, ${settings.durationS} s per run, ${settings.runs} runs per workload (row = median-throughput run); ` +
      `ringkv --workers ${settings.workers} --vnode-host ${settings.vnodeHost}, Q = ${settings.partitions}, N = 3, durability ${settings.durability}; PB: ${settings.pbConnectionsPerNode} connections per node, ${settings.connections} requests in flight; seed ${settings.seed}\n`,
  );
  console.log('| system | protocol | workload | ops/s | runs (ops/s) | p50 ms | p99 ms | p99.9 ms | errors | CPU % servers | CPU % load gen. | CPU % outside |');
  console.log('|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const row of rows) {
    const m = medianRun(row.runs);
    const f = m.figures;
    const all = row.runs.map((r) => n(r.figures.opsPerS)).join(' / ');
    const errors = row.runs.reduce((sum, r) => sum + r.figures.errors + r.figures.non2xx, 0);
    console.log(`| ${row.system} | ${row.protocol} | ${row.workload} | ${n(f.opsPerS)} | ${all} | ${ms(f.p50Ms)} | ${ms(f.p99Ms)} | ${ms(f.p999Ms)} | ${errors} | ${m.serversCpuPct.toFixed(0)} | ${m.loadCpuPct.toFixed(0)} | ${m.outsidePct.toFixed(0)} |`);
  }
  console.log('\nCPU per server process in the median run (% of one core; ringkv: whole process = main thread + its busiest worker threads + the rest):\n');
  for (const row of rows) {
    const m = medianRun(row.runs);
    const parts = m.perServer.map((s) => (row.system === 'ringkv' ? `${s.name.split('@')[0]} ${s.totalPct.toFixed(0)} = main ${s.mainPct.toFixed(0)} + workers ${s.workersPct.toFixed(0)} + other ${(s.totalPct - s.mainPct - s.workersPct).toFixed(0)}` : `${s.name} ${s.totalPct.toFixed(0)}`));
    console.log(`- ${row.system} ${row.protocol} ${row.workload}: ${parts.join('; ')}`);
  }
  printTargets(rows);
}

function printTargets(rows: readonly Row[]): void {
  const rate = (system: string, protocol: string, workload: string): number | undefined => {
    const row = rows.find((r) => r.system === system && r.protocol === protocol && r.workload === workload);
    return row === undefined ? undefined : medianRun(row.runs).figures.opsPerS;
  };
  const etcdPut = rate('etcd', 'HTTP/JSON', 'put');
  const etcdLinear = rate('etcd', 'HTTP/JSON', 'range, linearizable');
  const etcdSerial = rate('etcd', 'HTTP/JSON', 'range, serializable');
  console.log('\n| target | measured | status |');
  console.log('|---|---|---|');
  const ratioLine = (label: string, ours: number | undefined, theirs: number | undefined, wanted: number | undefined): void => {
    if (ours === undefined || theirs === undefined) return console.log(`| ${label} | not measured | — |`);
    const ratio = ours / theirs;
    console.log(`| ${label} | ${ratio.toFixed(2)}× | ${wanted === undefined ? 'extra' : ratio >= wanted ? 'met' : '**not met**'} |`);
  };
  for (const protocol of ['HTTP', 'PB']) {
    ratioLine(`${protocol} writes ≥ 2× etcd put`, rate('ringkv', protocol, 'PUT w=2'), etcdPut, 2);
    ratioLine(`${protocol} reads ≥ 3× etcd linearizable range`, rate('ringkv', protocol, 'GET r=2'), etcdLinear, 3);
    ratioLine(`${protocol} reads vs etcd serializable range (no target)`, rate('ringkv', protocol, 'GET r=2'), etcdSerial, undefined);
  }
  for (const row of rows.filter((r) => r.system === 'ringkv')) {
    const p99Ms = medianRun(row.runs).figures.p99Ms;
    console.log(`| ${row.protocol} ${row.workload} p99 < 10 ms | ${p99Ms.toFixed(2)} ms | ${p99Ms < 10 ? 'met' : '**not met**'} |`);
  }
}

async function main(): Promise<void> {
  const settings = settingsOf(process.env);
  const startedAt = new Date();
  const dir = mkdtempSync(join(tmpdir(), 'ringkv-cluster-bench-'));
  const registry = new ChildRegistry();
  let cleaning: Promise<void> | undefined;
  const cleanUp = (): Promise<void> =>
    (cleaning ??= registry.stop().then(() => rmSync(dir, { recursive: true, force: true })));
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      console.error(`bench: ${signal}: stopping the servers and removing ${dir} ...`);
      void cleanUp().finally(() => process.exit(130));
    });
  }
  try {
    const ticksPerS = clockTicksPerS();
    const random = seededRandom(settings.seed);
    console.error(`bench: seed ${settings.seed}, data under ${dir}`);
    const rows: Row[] = [];
    if (settings.systems.includes('ringkv')) rows.push(...(await benchRingkv(settings, dir, registry, ticksPerS, random)));
    const etcd = etcdVersion();
    let apiPrefix: string | undefined;
    if (settings.systems.includes('etcd')) {
      if (etcd === undefined) console.error('bench: etcd is not installed (Debian: apt-get install etcd-server); skipping the etcd part');
      else {
        const result = await benchEtcd(settings, dir, registry, ticksPerS, random);
        rows.push(...result.rows);
        apiPrefix = result.apiPrefix;
      }
    }
    printReport(settings, rows, etcd, apiPrefix, startedAt);
    console.log(`\ntotal ${((Date.now() - startedAt.getTime()) / 1000).toFixed(0)} s`);
  } finally {
    await cleanUp();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
