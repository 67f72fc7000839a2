// The Redis protocol against a real node (worker threads, WAL + LMDB, three replicas per key),
// driven by ioredis, a Redis client library: it connects (asking for RESP3 and falling back),
// runs its ready check on INFO, and pipelines. Plus how the node starts and stops the listener.

import test from 'ava';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';
import { NodeStartError } from '../../../src/runtime/node.js';
import { freePort, tempDataDir } from '../../integration/process-node.js';
import { bytes, startTestNode, type TestNode } from '../node/harness.js';

let shared: Promise<TestNode> | undefined;

function node(): Promise<TestNode> {
  shared ??= freePort().then((port) => startTestNode({ respPort: port }));
  return shared;
}

async function client(): Promise<Redis> {
  const address = (await node()).node.addresses.resp!;
  const port = Number(address.slice(address.lastIndexOf(':') + 1));
  const redis = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 0, retryStrategy: () => null, lazyConnect: true });
  await redis.connect();
  return redis;
}

test.after.always(async () => {
  if (shared !== undefined) await (await shared).cleanup();
});

test('the node listens for the Redis protocol and reports it as host:port', async (t) => {
  const { node: running } = await node();
  t.regex(running.addresses.resp ?? '', /^127\.0\.0\.1:\d+$/);
  const redis = await client();
  t.teardown(() => redis.disconnect());
  t.is(redis.status, 'ready', 'connected after falling back from RESP3 and passing the INFO ready check');
  t.is(await redis.ping(), 'PONG');
  t.is(await redis.echo('hello'), 'hello');
});

test('SET and GET round-trip binary values: every byte value, CRLF and NUL included', async (t) => {
  const redis = await client();
  t.teardown(() => redis.disconnect());
  const value = Buffer.from(Array.from({ length: 512 }, (_, i) => i % 256));
  const key = Buffer.from([0x6b, 0x00, 0x0d, 0x0a, 0xff]);
  t.is(await redis.set(key, value), 'OK');
  t.deepEqual(await redis.getBuffer(key), value);
  t.is(await redis.get('never-written'), null);
  const stored = await (await node()).node.kv.get({ key: { type: 'default', bucket: bytes('redis'), key } });
  t.true(stored.ok && stored.value.found && stored.value.contents[0]!.contentType === 'application/octet-stream', 'in the respBucket, as application/octet-stream');
});

test('SET NX twice: the second answers nil; SET XX on a missing key answers nil', async (t) => {
  const redis = await client();
  t.teardown(() => redis.disconnect());
  t.is(await redis.set('nx-key', 'first', 'NX'), 'OK');
  t.is(await redis.set('nx-key', 'second', 'NX'), null);
  t.is(await redis.get('nx-key'), 'first');
  t.is(await redis.set('xx-missing', 'v', 'XX'), null);
  t.is(await redis.get('xx-missing'), null);
  t.is(await redis.set('nx-key', 'third', 'XX'), 'OK');
  t.is(await redis.get('nx-key'), 'third');
});

test('overwriting with SET leaves one value, not siblings', async (t) => {
  const redis = await client();
  t.teardown(() => redis.disconnect());
  for (let i = 0; i < 5; i++) t.is(await redis.set('overwrite', `v${i}`), 'OK');
  t.is(await redis.get('overwrite'), 'v4');
  const stored = await (await node()).node.kv.get({ key: { type: 'default', bucket: bytes('redis'), key: bytes('overwrite') } });
  t.true(stored.ok && stored.value.found);
  if (stored.ok && stored.value.found) t.is(stored.value.contents.length, 1);
});

test('DEL counts the keys that existed; EXISTS counts live keys', async (t) => {
  const redis = await client();
  t.teardown(() => redis.disconnect());
  await redis.set('del-a', '1');
  await redis.set('del-b', '2');
  t.is(await redis.exists('del-a', 'del-b', 'del-c'), 2);
  t.is(await redis.del('del-a', 'del-b', 'del-c'), 2);
  t.is(await redis.del('del-a', 'del-b'), 0);
  t.is(await redis.exists('del-a'), 0);
  t.is(await redis.get('del-a'), null);
  t.is(await redis.set('del-a', 'again', 'NX'), 'OK', 'a deleted key can be set with NX');
});

test('MSET and MGET, per key', async (t) => {
  const redis = await client();
  t.teardown(() => redis.disconnect());
  t.is(await redis.mset('m1', 'one', 'm2', 'two', 'm3', 'three'), 'OK');
  t.deepEqual(await redis.mget('m1', 'missing', 'm3', 'm2'), ['one', null, 'three', 'two']);
});

test('INFO parses; SELECT 0 is fine and SELECT 1 is out of range', async (t) => {
  const redis = await client();
  t.teardown(() => redis.disconnect());
  const info = await redis.info('server');
  const fields = Object.fromEntries(info.split('\r\n').filter((line) => line.includes(':')).map((line) => line.split(/:(.*)/s).slice(0, 2) as [string, string]));
  t.is(fields['redis_version'], '7.0.0');
  t.is(fields['redis_mode'], 'standalone');
  t.is(Number(fields['tcp_port']), Number(redis.options.port));
  t.true(Number(fields['uptime_in_seconds']) >= 0);
  t.truthy(fields['os']);
  t.is(await redis.select(0), 'OK');
  await t.throwsAsync(redis.select(1), { message: 'ERR DB index is out of range' });
});

test('an unknown command is an error, and the connection still works', async (t) => {
  const redis = await client();
  t.teardown(() => redis.disconnect());
  await t.throwsAsync(redis.call('NOSUCHCOMMAND', 'arg1'), { message: "ERR unknown command 'NOSUCHCOMMAND', with args beginning with: 'arg1' " });
  t.is(await redis.ping(), 'PONG');
});

test('1000 pipelined commands are answered in order', async (t) => {
  const redis = await client();
  t.teardown(() => redis.disconnect());
  const pipeline = redis.pipeline();
  for (let i = 0; i < 500; i++) {
    pipeline.set(`pipe-${i % 50}`, `value-${i}`);
    pipeline.get(`pipe-${i % 50}`);
  }
  const results = await pipeline.exec();
  t.is(results?.length, 1000);
  for (let i = 0; i < 500; i++) {
    t.deepEqual(results![2 * i], [null, 'OK']);
    t.deepEqual(results![2 * i + 1], [null, `value-${i}`], `GET ${2 * i + 1} sees the SET just before it`);
  }
});

test('INCR counts; SET EX and EXPIRE set a TTL; TTL is -1 for a key without one and -2 for none', async (t) => {
  const redis = await client();
  t.teardown(() => redis.disconnect());
  t.is(await redis.incr('counter'), 1);
  t.is(await redis.incrby('counter', 41), 42);
  t.is(await redis.get('counter'), '42');
  t.is(await redis.expire('no-such-key', 10), 0, 'EXPIRE of a missing key');
  t.is(await redis.set('ttl-ex', 'v', 'EX', 100), 'OK');
  const left = await redis.ttl('ttl-ex');
  t.true(left > 90 && left <= 100, `TTL ${left}`);
  await redis.set('ttl-key', 'v');
  t.is(await redis.expire('ttl-key', 50), 1);
  const pleft = await redis.pttl('ttl-key');
  t.true(pleft > 40_000 && pleft <= 50_000, `PTTL ${pleft}`);
  t.is(await redis.set('ttl-key', 'v'), 'OK', 'SET without EX drops the TTL (the type has no default)');
  t.is(await redis.ttl('ttl-key'), -1);
  t.is(await redis.pttl('ttl-key'), -1);
  t.is(await redis.ttl('ttl-missing'), -2);
  t.is(await redis.pttl('ttl-missing'), -2);
});

test('on a node: PEXPIREAT and SET PXAT store the exact instant, out-of-range expiries get Redis\'s words, and a counter does not expire', async (t) => {
  const redis = await client();
  t.teardown(() => redis.disconnect());
  const kv = (await node()).node.kv;
  const at = Date.now() + 60_000;
  await redis.set('at-key', 'v');
  t.is(await redis.pexpireat('at-key', at), 1);
  const stored = await kv.get({ key: { type: 'default', bucket: bytes('redis'), key: bytes('at-key') } });
  t.is(stored.ok && stored.value.found ? stored.value.contents[0]!.expiresAtMs : undefined, at);
  t.is(await redis.call('PEXPIREAT', 'at-key', String(at), 'LT'), 0, 'the same instant again is not less');
  t.is(await redis.set('at-set', 'v', 'PXAT', at), 'OK');
  const set = await kv.get({ key: { type: 'default', bucket: bytes('redis'), key: bytes('at-set') } });
  t.is(set.ok && set.value.found ? set.value.contents[0]!.expiresAtMs : undefined, at);
  await t.throwsAsync(redis.expire('at-key', 10 * 365 * 24 * 3600 + 1), { message: "ERR invalid expire time in 'expire' command" });
  await t.throwsAsync(redis.set('at-key', 'v', 'PX', '9007199254740993'), { message: "ERR invalid expire time in 'set' command" });
  t.is(await redis.incrby('never-expires', 3), 3);
  await t.throwsAsync(redis.expire('never-expires', 10), { message: 'ERR counters (INCR) do not expire in ringkv; see docs/ttl.md' });
  t.is(await redis.get('never-expires'), '3');
  // The service takes an absolute expiry as is, within its ten-year cap, and not with ttlMs.
  const key = { type: 'default', bucket: bytes('redis'), key: bytes('at-service') };
  const content = { value: bytes('v'), contentType: 'text/plain', userMeta: [] };
  const put = await kv.put({ key, context: undefined, content, expiresAtMs: at, returnBody: true });
  t.is(put.ok ? put.value.contents?.[0]?.expiresAtMs : undefined, at);
  const both = await kv.put({ key, context: undefined, content, expiresAtMs: at, ttlMs: 1000 });
  t.like(both, { ok: false, error: { code: 'invalid_request' } });
  const tooFar = await kv.put({ key, context: undefined, content, expiresAtMs: Date.now() + 11 * 365 * 24 * 3600 * 1000 });
  t.like(tooFar, { ok: false, error: { code: 'invalid_request' } });
});

test('stopping the node closes the Redis listener and its connections', async (t) => {
  const port = await freePort();
  const own = await startTestNode({ respPort: port });
  const redis = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 0, retryStrategy: () => null, lazyConnect: true });
  await redis.connect();
  t.is(await redis.set('k', 'v'), 'OK');
  const ended = new Promise<void>((resolve) => redis.once('end', () => resolve()));
  await own.cleanup();
  await ended;
  const probe = createServer();
  await new Promise<void>((resolve, reject) => probe.once('error', reject).listen(port, '127.0.0.1', () => resolve()));
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  t.pass('the port is free again');
});

test('a Redis port in use fails the start with the port and how to disable the listener', async (t) => {
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', () => resolve()));
  t.teardown(() => new Promise<void>((resolve) => blocker.close(() => resolve())));
  const port = (blocker.address() as { port: number }).port;
  const data = await tempDataDir('resp-port');
  t.teardown(data.remove);
  const error = await t.throwsAsync(startTestNode({ respPort: port }, data.dir), { instanceOf: NodeStartError });
  t.true(error?.message.includes(`127.0.0.1:${port}`), error?.message);
  t.true(error?.message.includes('--resp-port 0'), error?.message);
  // The failed start released the data directory: the next start succeeds.
  const next = await startTestNode({ respPort: 0 }, data.dir);
  await next.cleanup();
});

test('a respBucketType that is not defined fails the start', async (t) => {
  const data = await tempDataDir('resp-type');
  t.teardown(data.remove);
  const error = await t.throwsAsync(startTestNode({ respPort: await freePort(), respBucketType: 'nosuchtype' }, data.dir), { instanceOf: NodeStartError });
  t.regex(error?.message ?? '', /respBucketType "nosuchtype" is not a bucket type/);
});

test('the Redis-protocol line limit comes from the node configuration', async (t) => {
  const { connect: tcpConnect } = await import('node:net');
  const { freePort } = await import('../../integration/process-node.js');
  const { startTestNode } = await import('../node/harness.js');
  const port = await freePort();
  const { cleanup } = await startTestNode({ respPort: port, respMaxLineBytes: 64 });
  t.teardown(cleanup);
  const reply = await new Promise<string>((resolve) => {
    const socket = tcpConnect(port, '127.0.0.1', () => socket.write(`PING ${'x'.repeat(100)}`));
    let text = '';
    socket.on('data', (d: Buffer) => (text += d.toString()));
    socket.on('close', () => resolve(text));
  });
  t.regex(reply, /^-ERR Protocol error/);
});
