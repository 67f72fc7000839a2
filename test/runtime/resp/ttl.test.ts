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

const invalidExpire = (command: string): string => `-ERR invalid expire time in '${command}' command\r\n`;
const notInteger = '-ERR value is not an integer or out of range\r\n';
const counterRefused = '-ERR counters (INCR) do not expire in ringkv; see docs/ttl.md\r\n';
const objectKey = (key: string) => ({ type: 'default', bucket, key: Buffer.from(key) });

test('EXPIRE and its family refuse a counter (INCR): rewriting its state as a plain value would lose concurrent increments', async (t) => {
  const { kv, send } = setup();
  t.is(await send('INCRBY', 'c', '5'), ':5\r\n');
  const writesBefore = kv.writes;
  for (const command of [['EXPIRE', 'c', '10'], ['PEXPIRE', 'c', '10000', 'NX'], ['EXPIREAT', 'c', '1'], ['PEXPIREAT', 'c', '1700000060000']]) {
    t.is(await send(...command), counterRefused, command.join(' '));
  }
  t.is(kv.writes, writesBefore, 'nothing written, nothing deleted');
  t.is(await send('TTL', 'c'), ':-1\r\n');
  t.is(await send('INCR', 'c'), ':6\r\n', 'still a counter');
  t.is(await send('EXPIRE', 'missing', '10'), ':0\r\n');
  // A SET over a counter is an overwrite with a plain value, KEEPTTL or not: the counter had no TTL to keep.
  t.is(await send('SET', 'c', 'plain', 'KEEPTTL'), '+OK\r\n');
  t.is(await send('GET', 'c'), '$5\r\nplain\r\n');
  t.is(await send('TTL', 'c'), ':-1\r\n');
});

test('absolute expiries (PEXPIREAT, EXPIREAT, SET PXAT/EXAT) and KEEPTTL store the exact instant, however long the read takes', async (t) => {
  const { clock, kv, send } = setup();
  const get = kv.get.bind(kv);
  kv.get = async (request) => {
    clock.nowMs += 250; // a slow read: the clock moves while it runs
    return get(request);
  };
  const expiryOf = async (key: string): Promise<number | undefined> => {
    const read = await get({ key: objectKey(key) });
    return read.ok && read.value.found ? read.value.contents[0]!.expiresAtMs : undefined;
  };
  const at = clock.nowMs + 60_000;
  await send('SET', 'k', 'v');
  t.is(await send('PEXPIREAT', 'k', String(at)), ':1\r\n');
  t.is(await expiryOf('k'), at);
  t.is(await send('PEXPIREAT', 'k', String(at), 'LT'), ':0\r\n', 'the same instant is not less than itself');
  t.is(await send('PEXPIREAT', 'k', String(at), 'GT'), ':0\r\n');
  t.is(await send('EXPIREAT', 'k', String(at / 1000 + 1), 'GT'), ':1\r\n');
  t.is(await expiryOf('k'), at + 1000);
  t.is(await send('SET', 'p', 'v', 'PXAT', String(at)), '+OK\r\n');
  t.is(await expiryOf('p'), at);
  t.is(await send('SET', 'e', 'v', 'EXAT', String(at / 1000)), '+OK\r\n');
  t.is(await expiryOf('e'), at);
  t.is(await send('SET', 'e', 'w', 'KEEPTTL'), '+OK\r\n');
  t.is(await expiryOf('e'), at, 'KEEPTTL keeps the instant, not the TTL left before the read');
});

test('expiry times out of range answer Redis\'s "invalid expire time", naming the command; integers as strictly as Redis reads them', async (t) => {
  const { clock, send } = setup();
  const tenYearsS = 10 * 365 * 24 * 3600;
  await send('SET', 'k', 'v');
  t.is(await send('SET', 'k', 'v', 'EX', String(tenYearsS + 1)), invalidExpire('set'));
  t.is(await send('SET', 'k', 'v', 'PX', String(tenYearsS * 1000 + 1)), invalidExpire('set'));
  t.is(await send('SET', 'k', 'v', 'PX', '9007199254740993'), invalidExpire('set'), 'beyond 2^53: still an integer to Redis');
  t.is(await send('SET', 'k', 'v', 'EX', '9223372036854775807'), invalidExpire('set'));
  t.is(await send('SET', 'k', 'v', 'PXAT', String(clock.nowMs + tenYearsS * 1000 + 1)), invalidExpire('set'));
  t.is(await send('SET', 'k', 'v', 'PX', '9223372036854775808'), notInteger, 'beyond 64 bits: not an integer');
  t.is(await send('SETEX', 'k', String(tenYearsS + 1), 'v'), invalidExpire('setex'));
  t.is(await send('PSETEX', 'k', '9007199254740993', 'v'), invalidExpire('psetex'));
  t.is(await send('EXPIRE', 'k', String(tenYearsS + 1)), invalidExpire('expire'));
  t.is(await send('PEXPIRE', 'k', '9007199254740993'), invalidExpire('pexpire'));
  t.is(await send('EXPIREAT', 'k', '9223372036854775807'), invalidExpire('expireat'));
  t.is(await send('PEXPIREAT', 'k', String(clock.nowMs + tenYearsS * 1000 + 1)), invalidExpire('pexpireat'));
  t.is(await send('EXPIRE', 'k', '-9223372036854775809'), notInteger);
  t.is(await send('TTL', 'k'), ':-1\r\n', 'none of them changed the key');
  for (const word of ['007', '-0', '+5', ' 5', '5 ', '']) {
    t.is(await send('EXPIRE', 'k', word), notInteger, JSON.stringify(word));
    t.is(await send('SET', 'k', 'v', 'PX', word), notInteger, JSON.stringify(word));
  }
  t.is(await send('EXPIRE', 'k', String(tenYearsS)), ':1\r\n', 'ten years is allowed');
  t.is(await send('SET', 'k', 'v', 'EX', String(tenYearsS)), '+OK\r\n');
});

test('EXPIRE takes XX with GT or LT together; NX with any other option, or GT with LT, is refused as Redis words it', async (t) => {
  const { send } = setup();
  await send('SET', 'k', 'v');
  t.is(await send('EXPIRE', 'k', '100', 'XX', 'LT'), ':0\r\n', 'XX: no TTL yet');
  t.is(await send('EXPIRE', 'k', '100', 'LT'), ':1\r\n');
  t.is(await send('EXPIRE', 'k', '200', 'XX', 'GT'), ':1\r\n');
  t.is(await send('TTL', 'k'), ':200\r\n');
  t.is(await send('EXPIRE', 'k', '150', 'GT', 'XX'), ':0\r\n');
  t.is(await send('EXPIRE', 'k', '50', 'xx', 'lt'), ':1\r\n');
  t.is(await send('TTL', 'k'), ':50\r\n');
  const nxError = '-ERR NX and XX, GT or LT options at the same time are not compatible\r\n';
  for (const options of [['NX', 'XX'], ['NX', 'GT'], ['LT', 'NX'], ['NX', 'XX', 'GT']]) t.is(await send('EXPIRE', 'k', '10', ...options), nxError, options.join(' '));
  t.is(await send('EXPIRE', 'k', '10', 'GT', 'LT'), '-ERR GT and LT options at the same time are not compatible\r\n');
  t.is(await send('EXPIRE', 'k', '10', 'XX', 'BOGUS'), '-ERR Unsupported option BOGUS\r\n');
  t.is(await send('TTL', 'k'), ':50\r\n');
});

test('SET with EXAT or PXAT already past deletes the key and answers OK, as Redis does', async (t) => {
  const { clock, kv, send } = setup();
  await send('SET', 'k', 'v');
  t.is(await send('SET', 'k', 'w', 'PXAT', String(clock.nowMs - 1)), '+OK\r\n');
  t.is(await send('EXISTS', 'k'), ':0\r\n');
  t.is(kv.calls.at(-2)?.op, 'delete', 'a delete, not a put of a 1 ms value');
  await send('SET', 'k', 'v');
  t.is(await send('SET', 'k', 'w', 'EXAT', '1', 'GET'), '$1\r\nv\r\n', 'GET answers the value deleted');
  t.is(await send('EXISTS', 'k'), ':0\r\n');
  t.is(await send('SET', 'k', 'w', 'PXAT', String(clock.nowMs), 'XX'), '$-1\r\n', 'XX on a missing key: nil, as ever');
  const writes = kv.writes;
  t.is(await send('SET', 'missing', 'w', 'PXAT', String(clock.nowMs)), '+OK\r\n');
  t.is(kv.writes, writes, 'nothing to delete');
  t.is(await send('EXISTS', 'missing'), ':0\r\n');
});

test('SET KEEPTTL on a missing key takes the type\'s default TTL, as a plain SET does; on a value without TTL, none', async (t) => {
  const { kv, send } = setup();
  t.is(await send('SET', 'k', 'v', 'KEEPTTL'), '+OK\r\n');
  const first = kv.calls.filter((call) => call.op === 'put').at(-1)!;
  t.false(first.op === 'put' && ('ttlMs' in first.request || 'expiresAtMs' in first.request), 'the type\'s default applies');
  t.is(await send('SET', 'k', 'w', 'KEEPTTL'), '+OK\r\n');
  const second = kv.calls.filter((call) => call.op === 'put').at(-1)!;
  t.like(second, { op: 'put', request: { ttlMs: 0 } });
});
