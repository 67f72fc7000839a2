// `npm run bench`: the HTTP API under autocannon — GET and PUT of 100-byte values over many keys
// with 50 connections — against a ringkv node it starts (fsync durability, a fresh data
// directory) and, in the same run, against the plain in-memory node:http ceiling. Prints
// requests/s and p50/p99/p99.9 for each, and the ratios the targets are stated in.
// Options (environment): BENCH_DURATION_S (10), BENCH_CONNECTIONS (50), BENCH_KEYS (10000),
// BENCH_VALUE_BYTES (100), BENCH_DURABILITY (fsync), BENCH_WORKERS (node default),
// BENCH_VNODE_HOST (node default: worker-threads).

import autocannon from 'autocannon';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, stopChild } from './servers.js';

const durationS = Number(process.env['BENCH_DURATION_S'] ?? 10);
const connections = Number(process.env['BENCH_CONNECTIONS'] ?? 50);
const keyCount = Number(process.env['BENCH_KEYS'] ?? 10_000);
const valueBytes = Number(process.env['BENCH_VALUE_BYTES'] ?? 100);
const durability = process.env['BENCH_DURABILITY'] ?? 'fsync';
// A string body: autocannon hangs on a Buffer body returned from setupRequest.
const value = 'v'.repeat(valueBytes);

interface Figures {
  readonly name: string;
  readonly requestsPerS: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly p999Ms: number;
  readonly errors: number;
  readonly non2xx: number;
}

async function startChild(command: string[], env: NodeJS.ProcessEnv = {}): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, command, { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env } });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const match = /listening http on (http:\/\/\S+)/.exec(out);
      if (match) resolve(match[1]!);
    });
    child.once('exit', (code) => reject(new Error(`${command.join(' ')} exited with ${code}`)));
  });
  return { url, child };
}

/**
 * Blind writes (autocannon carries no causal context) to a default bucket would pile up siblings,
 * which measures sibling handling rather than a put. The bench therefore writes to a bucket type
 * with last_write_wins, the setting for data that is overwritten without reading it first.
 */
const benchBucketTypes = { bucketTypes: { bench: { lastWriteWins: true, allowMult: false } } };

function keyPath(i: number): string {
  return `/v1/types/bench/buckets/bench/keys/key-${i}`;
}

async function run(name: string, url: string, method: 'GET' | 'PUT'): Promise<Figures> {
  console.error(`bench: ${name} ${method} for ${durationS} s ...`);
  let i = 0;
  const result = await autocannon({
    url,
    connections,
    duration: durationS,
    requests: [
      {
        method,
        setupRequest: (request) => {
          // A cheap deterministic spread over all keys (no Math.random per request).
          i = (i + 7919) % keyCount;
          return { ...request, path: keyPath(i), ...(method === 'PUT' ? { body: value, headers: { 'content-type': 'application/octet-stream' } } : {}) };
        },
      },
    ],
  });
  const latency = result.latency as unknown as Record<string, number>;
  return {
    name: `${name} ${method}`,
    requestsPerS: Math.round(result.requests.average),
    p50Ms: latency['p50']!,
    p99Ms: latency['p99']!,
    p999Ms: latency['p99_9']!,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
  };
}

async function populate(url: string): Promise<void> {
  console.error(`bench: writing ${keyCount} keys to ${url} ...`);
  const batch = 64;
  for (let start = 0; start < keyCount; start += batch) {
    await Promise.all(
      Array.from({ length: Math.min(batch, keyCount - start) }, (_, j) =>
        fetch(url + keyPath(start + j), { method: 'PUT', body: value, headers: { 'content-type': 'application/octet-stream' } }).then((r) => {
          if (!r.ok) throw new Error(`populate: ${r.status}`);
        }),
      ),
    );
  }
}

async function main(): Promise<void> {
  const dataDir = await mkdtemp(join(tmpdir(), 'ringkv-bench-'));
  const figures: Figures[] = [];
  const here = new URL('.', import.meta.url).pathname;
  try {
    const baseline = await startChild([join(here, 'baseline-server.js'), '0']);
    try {
      await populate(baseline.url);
      figures.push(await run('baseline', baseline.url, 'GET'));
      figures.push(await run('baseline', baseline.url, 'PUT'));
    } finally {
      await stopChild(baseline.child);
    }
    const workers = process.env['BENCH_WORKERS'];
    const vnodeHost = process.env['BENCH_VNODE_HOST'];
    const configFile = join(dataDir, 'bench-config.json');
    await writeFile(configFile, JSON.stringify(benchBucketTypes));
    const node = await startChild(
      [join(here, '../src/cli/main.js'), 'start', '--config', configFile, '--data-dir', join(dataDir, 'data'), '--http-port', String(await freePort()), '--pb-port', '0', '--resp-port', '0', '--durability', durability, '--log-level', 'warn', ...(workers ? ['--workers', workers] : []), ...(vnodeHost ? ['--vnode-host', vnodeHost] : [])],
      { RINGKV_LOG_FORMAT: 'json' },
    );
    try {
      await populate(node.url);
      figures.push(await run('ringkv', node.url, 'GET'));
      figures.push(await run('ringkv', node.url, 'PUT'));
    } finally {
      await stopChild(node.child); // before its data directory is removed
    }
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
  console.log(`\nmachine: ${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, node ${process.version}, ${new Date().toISOString()}`);
  console.log(`workload: ${connections} connections, ${keyCount} keys, ${valueBytes}-byte values, ${durationS} s each, ringkv durability=${durability}\n`);
  console.log('| run | requests/s | p50 ms | p99 ms | p99.9 ms | errors | non-2xx |');
  console.log('|---|---|---|---|---|---|---|');
  for (const f of figures) console.log(`| ${f.name} | ${f.requestsPerS} | ${f.p50Ms} | ${f.p99Ms} | ${f.p999Ms} | ${f.errors} | ${f.non2xx} |`);
  const rate = (n: string) => figures.find((f) => f.name === n)?.requestsPerS ?? 0;
  console.log(`\nGET: ringkv at ${((100 * rate('ringkv GET')) / rate('baseline GET')).toFixed(0)}% of the ceiling (target 60%)`);
  console.log(`PUT: ringkv at ${((100 * rate('ringkv PUT')) / rate('baseline PUT')).toFixed(0)}% of the ceiling (target 40%)`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
