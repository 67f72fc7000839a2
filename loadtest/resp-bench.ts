// `npm run bench` (second part): redis-benchmark (Debian's redis-tools) against ringkv's
// Redis-protocol port and, in the same run, against redis-server with `appendfsync always`
// (durability-matched) and without persistence (the in-memory ceiling). 100-byte values,
// 50 connections. Skips with a printed reason when redis-benchmark or redis-server is missing.
// Options (environment): BENCH_REQUESTS (100000), BENCH_CONNECTIONS (50), BENCH_VALUE_BYTES (100).

import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, stopChild } from './servers.js';

const requests = Number(process.env['BENCH_REQUESTS'] ?? 100_000);
const connections = Number(process.env['BENCH_CONNECTIONS'] ?? 50);
const valueBytes = Number(process.env['BENCH_VALUE_BYTES'] ?? 100);

function which(command: string): Promise<string | undefined> {
  return new Promise((resolve) => execFile('which', [command], (error, stdout) => resolve(error ? undefined : stdout.trim())));
}

async function waitForPort(port: number, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on ${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

interface Rates {
  readonly name: string;
  readonly set: string;
  readonly get: string;
}

function runBenchmark(benchmark: string, port: number): Promise<{ set: string; get: string }> {
  const args = ['-h', '127.0.0.1', '-p', String(port), '-t', 'set,get', '-n', String(requests), '-c', String(connections), '-d', String(valueBytes), '-r', '10000', '-q'];
  return new Promise((resolve, reject) => {
    execFile(benchmark, args, { timeout: 600_000, maxBuffer: 64 * 1024 * 1024 }, (error, stdout) => {
      if (error) return reject(error);
      const summary = (command: string): string =>
        stdout
          .split(/[\r\n]/)
          .find((line) => line.startsWith(`${command}:`) && line.includes('requests per second'))
          ?.replace(`${command}: `, '') ?? 'no result';
      resolve({ set: summary('SET'), get: summary('GET') });
    });
  });
}

async function main(): Promise<void> {
  const benchmark = await which('redis-benchmark');
  const redisServer = await which('redis-server');
  if (benchmark === undefined || redisServer === undefined) {
    console.log('resp bench skipped: redis-benchmark and redis-server come from Debian (apt-get install redis-tools redis-server)');
    return;
  }
  const dir = await mkdtemp(join(tmpdir(), 'ringkv-resp-bench-'));
  const rates: Rates[] = [];
  try {
    for (const [name, persistence] of [
      ['redis-server appendfsync always', ['--appendonly', 'yes', '--appendfsync', 'always']],
      ['redis-server no persistence', ['--appendonly', 'no']],
    ] as const) {
      const port = await freePort();
      const redis = spawn(redisServer, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--dir', dir, ...persistence], { stdio: 'ignore' });
      try {
        await waitForPort(port);
        console.error(`bench: ${name} ...`);
        rates.push({ name, ...(await runBenchmark(benchmark, port)) });
      } finally {
        await stopChild(redis);
      }
    }
    const port = await freePort();
    const here = new URL('.', import.meta.url).pathname;
    const node = spawn(
      process.execPath,
      [join(here, '../src/cli/main.js'), 'start', '--data-dir', join(dir, 'ringkv'), '--resp-port', String(port), '--http-port', '0', '--pb-port', '0', '--log-level', 'warn'],
      { stdio: 'ignore', env: { ...process.env, RINGKV_LOG_FORMAT: 'json' } },
    );
    try {
      await waitForPort(port);
      console.error('bench: ringkv (durability fsync, n_val 3) ...');
      rates.push({ name: 'ringkv RESP, fsync, n_val 3', ...(await runBenchmark(benchmark, port)) });
    } finally {
      await stopChild(node);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  console.log(`\nmachine: ${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, node ${process.version}, ${new Date().toISOString()}`);
  console.log(`workload: redis-benchmark -t set,get -n ${requests} -c ${connections} -d ${valueBytes} -r 10000\n`);
  console.log('| server | SET | GET |');
  console.log('|---|---|---|');
  for (const r of rates) console.log(`| ${r.name} | ${r.set} | ${r.get} |`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
