// Key expiry over the Redis protocol, against the in-memory KvService double on a clock the test
// moves: SET EX/PX/EXAT/PXAT/KEEPTTL, SETEX, EXPIRE and its options, TTL and PTTL, and what a
// client sees once a key expires (docs/ttl.md).

import test from 'ava';
import { createRespHandler, defaultKeyOpsInFlightMax } from '../../../src/runtime/resp/commands.js';
import type { ConnectionInfo } from '../../../src/runtime/wire/tcp-front-end.js';
import { MemoryKv } from '../http/memory-kv.js';

const bucket = new TextEncoder().encode('redis');

function setup() {
  const clock = { nowMs: 1_700_000_000_000 };
  const kv = new MemoryKv({ nowMs: () => clock.nowMs });
  const handler = createRespHandler(
    { bucketType: 'default', bucket, parser: { maxFrameBytes: 1 << 20, maxArrayElements: 1024, maxLineBytes: 1024 }, keyOpsInFlightMax: defaultKeyOpsInFlightMax },
    {
      kv,
      nowMs: () => clock.nowMs,
      server: { nodeName: 'ringkv@test', startedAtMs: 0, os: 'TestOS', processId: 1, tcpPort: () => 6390, connectedClients: () => 1 },
    },
  );
  const connection: ConnectionInfo = { id: 1, remote: '127.0.0.1:1', state: new Map() };
  const send = async (...words: string[]): Promise<string> => {
    const answer = await handler.handle({ args: words.map((word) => Buffer.from(word)) }, connection);
    return Buffer.from(answer.reply).toString('latin1');
  };
  return { clock, kv, send };
}

test('SET EX: TTL and PTTL count down, and the key is gone once it expires', async (t) => {
  const { clock, send } = setup();
  t.is(await send('SET', 'k', 'v', 'EX', '10'), '+OK\r\n');
  t.is(await send('TTL', 'k'), ':10\r\n');
  clock.nowMs += 2500;
  t.is(await send('PTTL', 'k'), ':7500\r\n');
  t.is(await send('TTL', 'k'), ':8\r\n', 'seconds are rounded, as Redis rounds them');
  t.is(await send('GET', 'k'), '$1\r\nv\r\n');
  clock.nowMs += 7500;
  t.is(await send('GET', 'k'), '$-1\r\n', 'expired at exactly its expiry');
  t.is(await send('EXISTS', 'k'), ':0\r\n');
  t.is(await send('TTL', 'k'), ':-2\r\n');
  t.is(await send('SET', 'k', 'w', 'NX'), '+OK\r\n', 'an expired key is absent for NX');
  t.is(await send('TTL', 'k'), ':-1\r\n', 'the new value has no TTL');
});

test('SET PX, EXAT, PXAT and SETEX, PSETEX set the same absolute expiry', async (t) => {
  const { clock, send } = setup();
  const at = clock.nowMs + 60_000;
  await send('SET', 'px', 'v', 'PX', '60000');
  await send('SET', 'exat', 'v', 'EXAT', String(at / 1000));
  await send('SET', 'pxat', 'v', 'PXAT', String(at));
  t.is(await send('SETEX', 'setex', '60', 'v'), '+OK\r\n');
  t.is(await send('PSETEX', 'psetex', '60000', 'v'), '+OK\r\n');
  for (const key of ['px', 'exat', 'pxat', 'setex', 'psetex']) t.is(await send('PTTL', key), ':60000\r\n', key);
  t.is(await send('SETEX', 'k', '0', 'v'), "-ERR invalid expire time in 'setex' command\r\n");
  t.is(await send('SETEX', 'k', 'x', 'v'), '-ERR value is not an integer or out of range\r\n');
});

test('SET KEEPTTL keeps the remaining TTL; a plain SET drops it', async (t) => {
  const { clock, send } = setup();
  await send('SET', 'k', 'v1', 'EX', '100');
  clock.nowMs += 40_000;
  t.is(await send('SET', 'k', 'v2', 'KEEPTTL'), '+OK\r\n');
  t.is(await send('TTL', 'k'), ':60\r\n');
  t.is(await send('GET', 'k'), '$2\r\nv2\r\n');
  t.is(await send('SET', 'k', 'v3'), '+OK\r\n');
  t.is(await send('TTL', 'k'), ':-1\r\n');
});

test('EXPIRE and PEXPIRE: 1 when set, 0 for a missing key; NX, XX, GT and LT as in Redis', async (t) => {
  const { clock, send } = setup();
  t.is(await send('EXPIRE', 'missing', '10'), ':0\r\n');
  await send('SET', 'k', 'v');
  t.is(await send('EXPIRE', 'k', '100', 'XX'), ':0\r\n', 'XX: the key has no TTL');
  t.is(await send('EXPIRE', 'k', '100', 'GT'), ':0\r\n', 'GT: no TTL counts as infinite');
  t.is(await send('EXPIRE', 'k', '100', 'NX'), ':1\r\n');
  t.is(await send('EXPIRE', 'k', '50', 'NX'), ':0\r\n');
  t.is(await send('EXPIRE', 'k', '50', 'GT'), ':0\r\n');
  t.is(await send('PEXPIRE', 'k', '50000', 'LT'), ':1\r\n');
  t.is(await send('PTTL', 'k'), ':50000\r\n');
  t.is(await send('EXPIRE', 'k', '10', 'BOGUS'), '-ERR Unsupported option BOGUS\r\n');
  t.is(await send('EXPIRE', 'k', 'soon'), '-ERR value is not an integer or out of range\r\n');
  t.is(await send('GET', 'k'), '$1\r\nv\r\n', 'EXPIRE keeps the value');
  clock.nowMs += 50_000;
  t.is(await send('GET', 'k'), '$-1\r\n');
  t.is(await send('EXPIRE', 'k', '10'), ':0\r\n', 'an expired key is missing');
});

test('EXPIRE with a time already past deletes the key, as Redis does', async (t) => {
  const { clock, kv, send } = setup();
  await send('SET', 'k', 'v');
  t.is(await send('EXPIREAT', 'k', String(Math.floor(clock.nowMs / 1000) - 1)), ':1\r\n');
  t.is(await send('GET', 'k'), '$-1\r\n');
  t.true(kv.calls.some((call) => call.op === 'delete'));
  await send('SET', 'j', 'v');
  t.is(await send('PEXPIRE', 'j', '0'), ':1\r\n');
  t.is(await send('EXISTS', 'j'), ':0\r\n');
});

test('EXPIRE writes with the read context and ifNotModified, so a racing write is never overwritten', async (t) => {
  const { kv, send } = setup();
  await send('SET', 'k', 'v');
  t.is(await send('EXPIRE', 'k', '10'), ':1\r\n');
  const put = kv.calls.filter((call) => call.op === 'put').at(-1)!;
  t.is(put.op, 'put');
  if (put.op !== 'put') return;
  t.is(put.request.ifNotModified, true);
  t.is(put.request.ttlMs, 10_000);
  t.truthy(put.request.context);
});
