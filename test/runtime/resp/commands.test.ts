// The RESP command handler over the in-memory KvService double, without sockets: what each
// command asks of the service (one overwriting put for SET; a read first where the value is needed), how siblings resolve,
// how service failures are worded, and the bound on keys in flight for multi-key commands.

import test from 'ava';
import type { GetRequest, GetReply, KvService } from '../../../src/core/kv.js';
import type { Result } from '../../../src/core/errors.js';
import { createRespHandler, defaultKeyOpsInFlightMax, resolveSiblings } from '../../../src/runtime/resp/commands.js';
import type { ConnectionInfo } from '../../../src/runtime/wire/tcp-front-end.js';
import { MemoryKv } from '../http/memory-kv.js';

const bucket = new TextEncoder().encode('redis');
const objectKey = (key: string) => ({ type: 'default', bucket, key: Buffer.from(key) });

function setup(kv: KvService = new MemoryKv(), keyOpsInFlightMax = defaultKeyOpsInFlightMax) {
  const handler = createRespHandler(
    { bucketType: 'default', bucket, parser: { maxFrameBytes: 1 << 20, maxArrayElements: 1024, maxLineBytes: 1024 }, keyOpsInFlightMax },
    {
      kv,
      nowMs: () => 1_000_000 + 90_061_000,
      server: { nodeName: 'ringkv@test', startedAtMs: 1_000_000, os: 'TestOS 1.0 x64', processId: 42, tcpPort: () => 6390, connectedClients: () => 3 },
    },
  );
  const connection: ConnectionInfo = { id: 7, remote: '127.0.0.1:1', state: new Map() };
  const send = async (...words: Array<string | Buffer>): Promise<string> => {
    const answer = await handler.handle({ args: words.map((word) => (typeof word === 'string' ? Buffer.from(word) : word)) }, connection);
    return Buffer.from(answer.reply).toString('latin1') + (answer.close === true ? '<close>' : '');
  };
  return { handler, send };
}

test('GET of siblings answers the newest, ties broken by the greatest vtag', async (t) => {
  let now = 5000;
  const kv = new MemoryKv({ nowMs: () => now });
  const { send } = setup(kv);
  // Blind writes (no context) make siblings, as two clients writing at once would.
  for (const [value, at] of [['old', 1000], ['newest', 3000], ['middle', 2000]] as const) {
    now = at;
    await kv.put({ key: objectKey('k'), context: undefined, content: { value: Buffer.from(value), contentType: 'text/plain', userMeta: [] } });
  }
  t.is(await send('GET', 'k'), '$6\r\nnewest\r\n');

  now = 7000;
  for (const value of ['a', 'b', 'c']) await kv.put({ key: objectKey('tie'), context: undefined, content: { value: Buffer.from(value), contentType: 'text/plain', userMeta: [] } });
  const read = await kv.get({ key: objectKey('tie') });
  if (!read.ok || !read.value.found) throw new Error('expected siblings');
  t.is(read.value.contents.length, 3);
  const greatestVtag = [...read.value.contents].sort((a, b) => (a.vtag < b.vtag ? 1 : -1))[0]!;
  t.is(resolveSiblings(read.value.contents), greatestVtag);
  t.is(await send('GET', 'tie'), `$1\r\n${Buffer.from(greatestVtag.value).toString()}\r\n`);
  t.is(resolveSiblings([]), undefined);
});

test('SET is one overwriting put, no read first, so it replaces siblings instead of adding one', async (t) => {
  const kv = new MemoryKv();
  const { send } = setup(kv);
  for (const value of ['x', 'y']) await kv.put({ key: objectKey('k'), context: undefined, content: { value: Buffer.from(value), contentType: 'text/plain', userMeta: [] } });
  kv.calls.length = 0;
  t.is(await send('set', 'k', 'z'), '+OK\r\n');
  t.deepEqual(kv.calls.map((call) => call.op), ['put']);
  const put = kv.calls[0]!;
  if (put.op !== 'put') throw new Error('expected a put');
  t.is(put.request.context, undefined);
  t.true(put.request.overwrite);
  t.is(put.request.content.contentType, 'application/octet-stream');
  const after = await kv.get({ key: objectKey('k') });
  t.true(after.ok && after.value.found && after.value.contents.length === 1);
  t.is(await send('GET', 'k'), '$1\r\nz\r\n');
  // MSET and SETEX write the same way; SET … GET and KEEPTTL still read first (they need the value).
  kv.calls.length = 0;
  t.is(await send('MSET', 'a', '1', 'b', '2'), '+OK\r\n');
  t.is(await send('SETEX', 'c', '100', '3'), '+OK\r\n');
  t.deepEqual(kv.calls.map((call) => call.op), ['put', 'put', 'put']);
  kv.calls.length = 0;
  t.is(await send('SET', 'k', 'w', 'GET'), '$1\r\nz\r\n');
  t.is(await send('SET', 'k', 'v', 'KEEPTTL'), '+OK\r\n');
  t.deepEqual(kv.calls.map((call) => call.op), ['get', 'put', 'get', 'put']);
  t.is(await send('GET', 'k'), '$1\r\nv\r\n');
});

test('SET NX over a deleted key supersedes the tombstone; NX on a live key does not write', async (t) => {
  const kv = new MemoryKv();
  const { send } = setup(kv);
  t.is(await send('SET', 'k', 'v1'), '+OK\r\n');
  t.is(await send('DEL', 'k'), ':1\r\n');
  kv.calls.length = 0;
  t.is(await send('SET', 'k', 'v2', 'NX'), '+OK\r\n');
  t.deepEqual(kv.calls.map((call) => call.op), ['put'], 'NX is decided where the write is applied, no read first');
  const put = kv.calls[0];
  t.true(put?.op === 'put' && put.request.ifNoneMatch === true && put.request.overwrite === true);
  t.is(await send('GET', 'k'), '$2\r\nv2\r\n');
  t.is(await send('SET', 'k', 'v3', 'nx'), '$-1\r\n');
  t.is(await send('GET', 'k'), '$2\r\nv2\r\n');
  t.is(await send('SETNX', 'k', 'v4'), ':0\r\n');
  t.is(await send('SETNX', 'other', 'v4'), ':1\r\n');
  t.is(await send('SET', 'k', 'v5', 'GET'), '$2\r\nv2\r\n');
  t.is(await send('SET', 'k', 'v6', 'NX', 'GET'), '$2\r\nv5\r\n');
  t.is(await send('SET', 'fresh', 'v', 'XX', 'GET'), '$-1\r\n');
  t.is(await send('GET', 'fresh'), '$-1\r\n');
});

test('SET XX is one put with ifPresent, decided where the write is applied: nil on a missing or deleted key', async (t) => {
  const kv = new MemoryKv();
  const { send } = setup(kv);
  kv.calls.length = 0;
  t.is(await send('SET', 'k', 'v1', 'XX'), '$-1\r\n');
  t.deepEqual(kv.calls.map((call) => call.op), ['put'], 'no read first');
  const put = kv.calls[0];
  t.true(put?.op === 'put' && put.request.ifPresent === true && put.request.overwrite === true);
  t.is(await send('GET', 'k'), '$-1\r\n');
  t.is(await send('SET', 'k', 'v2'), '+OK\r\n');
  t.is(await send('SET', 'k', 'v3', 'XX'), '+OK\r\n');
  t.is(await send('GET', 'k'), '$2\r\nv3\r\n');
  t.is(await send('DEL', 'k'), ':1\r\n');
  t.is(await send('SET', 'k', 'v4', 'xx'), '$-1\r\n', 'a tombstone is no value');
  t.is(await send('GET', 'k'), '$-1\r\n');
});

test('SET NX that loses at the replica (precondition_failed) answers nil; other failures are errors', async (t) => {
  const kv = new MemoryKv();
  const { send } = setup(kv);
  kv.failNext('precondition_failed', 'the key has a value', 'put');
  t.is(await send('SET', 'k', 'v', 'NX'), '$-1\r\n');
  kv.failNext('precondition_failed', 'changed', 'put');
  t.is(await send('SET', 'k', 'v'), '-ERR precondition_failed: changed\r\n');
});

test('SET options: syntax errors as Redis has them; KEEPTTL is accepted', async (t) => {
  const { send } = setup();
  t.is(await send('SET', 'k', 'v', 'NX', 'XX'), '-ERR syntax error\r\n');
  t.is(await send('SET', 'k', 'v', 'BOGUS'), '-ERR syntax error\r\n');
  t.is(await send('SET', 'k', 'v', 'EX'), '-ERR syntax error\r\n');
  t.is(await send('SET', 'k', 'v', 'EX', '10', 'PX', '5'), '-ERR syntax error\r\n');
  t.is(await send('SET', 'k', 'v', 'EX', 'ten'), '-ERR value is not an integer or out of range\r\n');
  t.is(await send('SET', 'k', 'v', 'PX', '0'), "-ERR invalid expire time in 'set' command\r\n");
  t.is(await send('SET', 'k', 'v', 'KEEPTTL'), '+OK\r\n');
});

test('service failures answer -ERR <code>: <message>, on one line', async (t) => {
  const kv = new MemoryKv();
  const { send } = setup(kv);
  kv.failNext('overload', 'the queue is full', 'get');
  t.is(await send('GET', 'k'), '-ERR overload: the queue is full\r\n');
  kv.failNext('timeout', 'two\r\nlines', 'get');
  t.is(await send('EXISTS', 'k'), '-ERR timeout: two lines\r\n');
  t.is(await send('GET', ''), '-ERR invalid_request: the key is empty\r\n');
});

test('DEL and EXISTS count keys; MSET stops at the first failure and answers it', async (t) => {
  const kv = new MemoryKv();
  const { send } = setup(kv);
  t.is(await send('MSET', 'a', '1', 'b', '2'), '+OK\r\n');
  t.is(await send('EXISTS', 'a', 'b', 'c', 'a'), ':3\r\n');
  t.is(await send('MGET', 'a', 'c', 'b'), '*3\r\n$1\r\n1\r\n$-1\r\n$1\r\n2\r\n');
  t.is(await send('DEL', 'a', 'c'), ':1\r\n');
  t.is(await send('UNLINK', 'a', 'b'), ':1\r\n');
  t.is(await send('MSET', 'a', '1', 'b'), "-ERR wrong number of arguments for 'mset' command\r\n");
  kv.failNext('insufficient_vnodes', 'only 1 of 2', 'put');
  t.is(await send('MSET', 'x', '1'), '-ERR insufficient_vnodes: only 1 of 2\r\n');
});

test('multi-key commands keep at most keyOpsInFlightMax keys in flight', async (t) => {
  const memory = new MemoryKv();
  let inFlight = 0;
  let most = 0;
  const counting: KvService = Object.assign(Object.create(memory) as MemoryKv, {
    async get(request: GetRequest): Promise<Result<GetReply>> {
      inFlight++;
      most = Math.max(most, inFlight);
      await new Promise((resolve) => setTimeout(resolve, 2));
      inFlight--;
      return memory.get(request);
    },
  });
  const keys = Array.from({ length: 40 }, (_, i) => `k${i}`);
  t.is(await setup(counting, 3).send('MGET', ...keys), `*40\r\n${'$-1\r\n'.repeat(40)}`);
  t.is(most, 3);
  most = 0;
  await setup(counting).send('EXISTS', ...keys);
  t.is(most, defaultKeyOpsInFlightMax);
  t.is(defaultKeyOpsInFlightMax, 16);
  t.throws(() => setup(counting, 0), { message: /keyOpsInFlightMax/ });
});

test('TTL and PTTL: -1 for a key without expiry, -2 for a missing one', async (t) => {
  const { send } = setup();
  await send('SET', 'k', 'v');
  t.is(await send('TTL', 'k'), ':-1\r\n');
  t.is(await send('PTTL', 'k'), ':-1\r\n');
  t.is(await send('TTL', 'missing'), ':-2\r\n');
  t.is(await send('PTTL', 'missing'), ':-2\r\n');
});

test('INCR, INCRBY, DECR and DECRBY update a counter that GET reads as a decimal string', async (t) => {
  const kv = new MemoryKv();
  const { send } = setup(kv);
  t.is(await send('INCR', 'k'), ':1\r\n');
  t.is(await send('INCRBY', 'k', '10'), ':11\r\n');
  t.is(await send('DECR', 'k'), ':10\r\n');
  t.is(await send('DECRBY', 'k', '-5'), ':15\r\n');
  t.is(await send('GET', 'k'), '$2\r\n15\r\n');
  t.deepEqual(kv.calls.filter((c) => c.op === 'updateDatatype').length, 4);
  t.is(await send('INCRBY', 'k', 'ten'), '-ERR value is not an integer or out of range\r\n');
  t.is(await send('INCRBYFLOAT', 'k', '1.5'), '-ERR ringkv: INCRBYFLOAT is not supported: counters are integers (a PN-counter CRDT)\r\n');
  t.is(await send('INCR'), "-ERR wrong number of arguments for 'incr' command\r\n");
  t.is(await send('SET', 'plain', 'text'), '+OK\r\n');
  t.regex(await send('INCR', 'plain'), /^-ERR invalid_request: .*not a counter/);
});

test('unknown commands and wrong arity are worded as Redis words them', async (t) => {
  const { send } = setup();
  t.is(await send('FOO', 'a', 'b'), "-ERR unknown command 'FOO', with args beginning with: 'a' 'b' \r\n");
  t.is(await send('FOO'), "-ERR unknown command 'FOO', with args beginning with: \r\n");
  const long = await send('FOO', 'x'.repeat(300), 'y');
  t.true(long.length < 200, 'the arguments shown are cut to about 128 characters');
  t.is(await send('GET'), "-ERR wrong number of arguments for 'get' command\r\n");
  t.is(await send('get', 'a', 'b'), "-ERR wrong number of arguments for 'get' command\r\n");
  t.is(await send('PING', 'a', 'b'), "-ERR wrong number of arguments for 'ping' command\r\n");
});

test('connection commands: PING, ECHO, SELECT, QUIT, HELLO, AUTH, CLIENT', async (t) => {
  const { send } = setup();
  t.is(await send('ping'), '+PONG\r\n');
  t.is(await send('PING', 'hi'), '$2\r\nhi\r\n');
  t.is(await send('ECHO', 'a\r\nb'), '$4\r\na\r\nb\r\n');
  t.is(await send('SELECT', '0'), '+OK\r\n');
  t.is(await send('SELECT', '1'), '-ERR DB index is out of range\r\n');
  t.is(await send('SELECT', 'x'), '-ERR value is not an integer or out of range\r\n');
  t.is(await send('QUIT'), '+OK\r\n<close>');
  t.regex(await send('HELLO', '3'), /^-NOPROTO /);
  t.regex(await send('AUTH', 'secret'), /^-ERR AUTH <password> called without any password configured/);
  t.is(await send('CLIENT', 'GETNAME'), '$-1\r\n');
  t.is(await send('CLIENT', 'SETNAME', 'worker-1'), '+OK\r\n');
  t.is(await send('client', 'getname'), '$8\r\nworker-1\r\n');
  t.regex(await send('CLIENT', 'SETNAME', 'a b'), /^-ERR Client names cannot contain spaces/);
  t.is(await send('CLIENT', 'SETINFO', 'LIB-NAME', 'ioredis'), '+OK\r\n');
  t.is(await send('CLIENT', 'ID'), ':7\r\n');
  t.is(await send('CLIENT', 'KILL'), "-ERR unknown subcommand 'KILL'. Try CLIENT HELP.\r\n");
});

test('INFO has the fields clients parse; COMMAND and CONFIG GET answer enough for redis-cli and redis-benchmark', async (t) => {
  const { send } = setup();
  const info = await send('INFO');
  for (const line of ['# Server', 'redis_version:7.0.0', 'redis_mode:standalone', 'os:TestOS 1.0 x64', 'tcp_port:6390', 'uptime_in_seconds:90061', 'uptime_in_days:1', 'connected_clients:3', 'loading:0', '# Keyspace']) {
    t.true(info.includes(`${line}\r\n`), line);
  }
  const server = await send('INFO', 'server');
  t.true(server.includes('redis_version:') && !server.includes('# Clients'));
  t.is(await send('INFO', 'nosuchsection'), '$0\r\n\r\n');
  t.is(await send('COMMAND', 'DOCS'), '*0\r\n');
  t.regex(await send('COMMAND', 'COUNT'), /^:\d+\r\n$/);
  t.is(await send('COMMAND', 'INFO', 'get', 'nope'), '*2\r\n*6\r\n$3\r\nget\r\n:2\r\n*2\r\n+readonly\r\n+fast\r\n:1\r\n:1\r\n:1\r\n$-1\r\n');
  t.regex(await send('COMMAND'), /^\*\d+\r\n\*6\r\n\$3\r\nget\r\n/);
  t.is(await send('CONFIG', 'GET', 'save'), '*2\r\n$4\r\nsave\r\n$0\r\n\r\n');
  t.is(await send('CONFIG', 'GET', 'maxmemory'), '*0\r\n');
  t.is(await send('CONFIG', 'SET', 'save', ''), "-ERR unknown subcommand 'SET'. Try CONFIG HELP.\r\n");
});

test('pipelined commands on one key run in the order sent; commands on other keys do not wait for them', async (t) => {
  const memory = new MemoryKv();
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const gated: KvService = Object.assign(Object.create(memory) as MemoryKv, {
    async get(request: GetRequest): Promise<Result<GetReply>> {
      if (Buffer.from(request.key.key).toString() === 'slow') await gate;
      return memory.get(request);
    },
  });
  const { send } = setup(gated);
  // Sent without waiting, as the TCP front end dispatches a pipeline.
  const set = send('SET', 'slow', 'v1');
  const get = send('GET', 'slow');
  const mget = send('MGET', 'third', 'slow');
  t.is(await send('SET', 'other', 'x'), '+OK\r\n', 'another key is not held up');
  t.is(await send('GET', 'other'), '$1\r\nx\r\n');
  release();
  t.is(await set, '+OK\r\n');
  t.is(await get, '$2\r\nv1\r\n', 'the GET saw the SET sent before it');
  t.is(await mget, '*2\r\n$-1\r\n$2\r\nv1\r\n', 'MGET waited for the earlier commands on both its keys');
});
