// `npm run bench` (third part): the closed-loop load generator (loadtest/pb-load.ts, on the
// TypeScript client) against a ringkv node it starts: a read run over prefilled keys, then a
// write run, 100-byte values, 50 connections' worth of requests in flight. Writes go to a
// last-write-wins bucket type, as in the HTTP bench (the generator writes blind).
// Options (environment): BENCH_DURATION_S (10), BENCH_KEYS (10000), BENCH_INFLIGHT (50).

import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, stopChild } from './servers.js';

const durationS = process.env['BENCH_DURATION_S'] ?? '10';
const keys = process.env['BENCH_KEYS'] ?? '10000';
const inflight = process.env['BENCH_INFLIGHT'] ?? '50';

function run(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: 'inherit' });
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${args.join(' ')} exited with ${code}`))));
  });
}

async function main(): Promise<void> {
  const here = new URL('.', import.meta.url).pathname;
  const dir = await mkdtemp(join(tmpdir(), 'ringkv-pb-bench-'));
  const configFile = join(dir, 'config.json');
  await writeFile(configFile, JSON.stringify({ bucketTypes: { bench: { lastWriteWins: true, allowMult: false } } }));
  const port = await freePort();
  const node = spawn(
    process.execPath,
    [join(here, '../src/cli/main.js'), 'start', '--config', configFile, '--data-dir', join(dir, 'data'), '--pb-port', String(port), '--http-port', '0', '--resp-port', '0', '--log-level', 'warn'],
    { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, RINGKV_LOG_FORMAT: 'json' } },
  );
  try {
    await new Promise<void>((resolve, reject) => {
      let out = '';
      node.stdout!.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        if (out.includes('listening pb on')) resolve();
      });
      node.once('exit', (code) => reject(new Error(`the node exited with ${code}`)));
    });
    const common = ['--node', `127.0.0.1:${port}`, '--connections', '4', '--inflight', inflight, '--keys', keys, '--value-bytes', '100', '--duration-s', durationS, '--bucket-type', 'bench'];
    console.log('\n== protocol buffers, reads (keys prefilled) ==');
    await run([join(here, 'pb-load.js'), ...common, '--read-ratio', '1', '--prefill', 'true']);
    console.log('\n== protocol buffers, writes (fsync, 3 replicas) ==');
    await run([join(here, 'pb-load.js'), ...common, '--read-ratio', '0']);
  } finally {
    await stopChild(node);
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
