// The HTTP API contract (the same tests the front end passes over its in-memory double), run
// against a real node: worker threads, WAL + LMDB, three replicas per key. Plus what only the
// real node has: stats with latency percentiles and limits from the node's configuration.

import test from 'ava';
import { registerHttpKvContract } from '../http/contract.js';
import { freePort } from '../../integration/process-node.js';
import { startTestNode, type TestNode } from './harness.js';

let shared: Promise<TestNode> | undefined;

function node(): Promise<TestNode> {
  shared ??= freePort().then((port) => startTestNode({ httpPort: port, maxValueBytes: 4096, maxRequestBodyBytes: 8192 }));
  return shared;
}

async function url(): Promise<string> {
  return (await node()).node.addresses.http!;
}

test.after.always(async () => {
  if (shared !== undefined) await (await shared).cleanup();
});

registerHttpKvContract(test, async () => ({ url: await url(), close: async () => undefined }), 'real node');

test('real node: stats report request counts and latency percentiles', async (t) => {
  const base = await url();
  for (let i = 0; i < 5; i++) await fetch(`${base}/v1/buckets/stats/keys/k${i}`, { method: 'PUT', body: 'v' });
  await fetch(`${base}/v1/buckets/stats/keys/k0`);
  const stats = (await (await fetch(`${base}/v1/stats`)).json()) as {
    requests: { put: { count: number; latencyMs: { p50: number; p99: number } }; get: { count: number } };
    workers: unknown[];
    durability: string;
  };
  t.true(stats.requests.put.count >= 5);
  t.true(stats.requests.get.count >= 1);
  t.true(stats.requests.put.latencyMs.p99 >= stats.requests.put.latencyMs.p50 && stats.requests.put.latencyMs.p50 > 0);
  t.is(stats.workers.length, 2);
  t.is(stats.durability, 'fsync');
});

test('real node: a value over the configured limit is 413 and nothing is written', async (t) => {
  const base = await url();
  const res = await fetch(`${base}/v1/buckets/limits/keys/big`, { method: 'PUT', body: 'x'.repeat(4097) });
  t.is(res.status, 413);
  t.is(((await res.json()) as { error: { code: string } }).error.code, 'value_too_large');
  t.is((await fetch(`${base}/v1/buckets/limits/keys/big`)).status, 404);
  const tooMany = await fetch(`${base}/v1/buckets/limits/keys/big?w=4`, { method: 'PUT', body: 'x' });
  t.is(tooMany.status, 400);
  t.regex(((await tooMany.json()) as { error: { message: string } }).error.message, /^w must be/);
  const badType = await fetch(`${base}/v1/types/nope/buckets/limits/keys/k`);
  t.is(badType.status, 404);
  t.is(((await badType.json()) as { error: { code: string } }).error.code, 'unknown_bucket_type');
});
