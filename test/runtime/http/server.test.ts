// The HTTP front end over the in-memory KvService double: the shared contract, then what only a
// double can show — what reached the service, error codes mapped to statuses, the body limit,
// clients that vanish, connection limits, timeouts and a graceful close.

import test from 'ava';
import type { ExecutionContext } from 'ava';
import { request as httpRequest } from 'node:http';
import { pino } from 'pino';
import type { KvErrorCode } from '../../../src/core/errors.js';
import { statusOfCode } from '../../../src/runtime/http/errors.js';
import { type HttpFrontEnd, type HttpFrontEndOptions, startHttpFrontEnd } from '../../../src/runtime/http/server.js';
import { contextHeader, errorOf, get, keyUrl, openSocket, put, rawExchange, readUntilClosed, statusOf } from './client.js';
import { registerHttpKvContract } from './contract.js';
import { MemoryKv } from './memory-kv.js';

const silent = pino({ level: 'silent' });

const testOptions: HttpFrontEndOptions = {
  host: '127.0.0.1',
  port: 0,
  maxRequestBodyBytes: 1024,
  maxConnections: 64,
  idleTimeoutMs: 5_000,
  headersTimeoutMs: 5_000,
  requestTimeoutMs: 10_000,
};

interface Started {
  readonly kv: MemoryKv;
  readonly front: HttpFrontEnd;
  readonly base: string;
}

let generatedKeys = 0;

async function start(t: ExecutionContext | undefined, overrides: Partial<HttpFrontEndOptions> = {}, kv = new MemoryKv()): Promise<Started> {
  const front = await startHttpFrontEnd(
    { ...testOptions, ...overrides },
    { kv, stats: async () => ({ requests: kv.calls.length }), generateKey: () => `gen-${++generatedKeys}`, log: silent },
  );
  t?.teardown(() => front.close());
  return { kv, front, base: front.url };
}

registerHttpKvContract(test, async () => (await start(undefined)).front, 'memory');

const at = { bucket: 'b', key: 'k' };

test('the url names the bound address and port', async (t) => {
  const { base } = await start(t);
  t.regex(base, /^http:\/\/127\.0\.0\.1:\d+$/);
  t.not(base, 'http://127.0.0.1:0');
});

test('GET /v1/stats answers the JSON of deps.stats', async (t) => {
  const { base } = await start(t);
  await get(base, at);
  const response = await fetch(`${base}/v1/stats`);
  t.is(response.status, 200);
  t.deepEqual(await response.json(), { requests: 1 });
});

test('query parameters reach KvService with their types', async (t) => {
  const { kv, base } = await start(t);
  await get(base, at, { r: '2', pr: 'quorum', n_val: '3', timeout_ms: '250', notfound_ok: 'false', basic_quorum: 'true' });
  t.like(kv.calls.at(-1), { op: 'get', request: { r: 2, pr: 'quorum', nVal: 3, timeoutMs: 250, notfoundOk: false, basicQuorum: true } });
  await put(base, at, 'v', { query: { w: 'all', dw: '0', pw: 'one', n_val: '2', timeout_ms: '9', return_body: 'true' } });
  t.like(kv.calls.at(-1), { op: 'put', request: { w: 'all', dw: 0, pw: 'one', nVal: 2, timeoutMs: 9, returnBody: true, ifNoneMatch: false, ifNotModified: false } });
  await fetch(keyUrl(base, at, { w: 'default', timeout_ms: '7' }), { method: 'DELETE' });
  t.like(kv.calls.at(-1), { op: 'delete', request: { w: 'default', timeoutMs: 7, context: undefined } });
});

test('GET takes no write parameters, DELETE no read parameters', async (t) => {
  const { kv, base } = await start(t);
  t.like(await errorOf(await get(base, at, { w: '1' })), { status: 400, code: 'invalid_request' });
  t.like(await errorOf(await fetch(keyUrl(base, at, { r: '1' }), { method: 'DELETE' })), { status: 400, code: 'invalid_request' });
  const repeated = await errorOf(await fetch(`${keyUrl(base, at)}?r=1&r=2`));
  t.like(repeated, { status: 400, code: 'invalid_request' });
  t.regex(repeated.message, /^r: given more than once/);
  t.is(kv.calls.length, 0);
});

test('the write carries content type, metadata (UTF-8 included) and the context header as bytes', async (t) => {
  const { kv, base } = await start(t);
  const first = await put(base, at, 'v', { contentType: 'application/json', headers: { 'x-ringkv-meta-a': '1', 'X-Ringkv-Meta-Name': Buffer.from('café', 'utf8').toString('latin1') } });
  const context = first.headers.get(contextHeader)!;
  await put(base, at, 'w', { headers: { [contextHeader]: context } });
  const call = kv.calls.at(-2);
  t.is(call?.op, 'put');
  if (call?.op !== 'put') return;
  t.is(call.request.content.contentType, 'application/json');
  t.deepEqual([...call.request.content.userMeta].sort((x, y) => x.key.localeCompare(y.key)), [
    { key: 'a', value: '1' },
    { key: 'name', value: 'café' },
  ]);
  const second = kv.calls.at(-1);
  t.deepEqual(second?.op === 'put' ? Buffer.from(second.request.context!).toString('base64url') : undefined, context);
  // The stored value is an exact-size copy, not a view into a socket buffer.
  t.is(call.request.content.value.byteLength, call.request.content.value.buffer.byteLength);
});

test('metadata read back as UTF-8 header bytes', async (t) => {
  const { base } = await start(t);
  await put(base, at, 'v', { headers: { 'X-Ringkv-Meta-Name': Buffer.from('café', 'utf8').toString('latin1') } });
  const read = await get(base, at);
  t.is(Buffer.from(read.headers.get('x-ringkv-meta-name') ?? '', 'latin1').toString('utf8'), 'café');
});

test('every KvService error code answers the status of the table', async (t) => {
  const { kv, base } = await start(t);
  const expected: Record<KvErrorCode, number> = {
    invalid_request: 400,
    unknown_bucket_type: 404,
    key_too_large: 400,
    value_too_large: 413,
    too_many_siblings: 409,
    object_too_large: 413,
    precondition_failed: 412,
    overload: 503,
    timeout: 504,
    insufficient_vnodes: 503,
    worker_unavailable: 503,
    storage_failed: 503,
    shutting_down: 503,
  };
  for (const [code, status] of Object.entries(expected) as Array<[KvErrorCode, number]>) {
    t.is(statusOfCode[code], status, code);
    for (const op of ['get', 'put', 'delete'] as const) {
      kv.failNext(code, `because ${code}`, op);
      const response =
        op === 'get' ? await get(base, at) : op === 'put' ? await put(base, at, 'v') : await fetch(keyUrl(base, at), { method: 'DELETE' });
      t.is(response.headers.get('retry-after'), code === 'overload' ? '1' : null, `${op} ${code}`);
      t.deepEqual(await errorOf(response), { status, code, message: `because ${code}` }, `${op} ${code}`);
    }
  }
});

test('a KvService that throws gets 500 internal_error and the server keeps serving', async (t) => {
  const { kv, base } = await start(t);
  kv.throwOnNext(new Error('boom'));
  t.like(await errorOf(await get(base, at)), { status: 500, code: 'internal_error' });
  t.is((await fetch(`${base}/v1/ping`)).status, 200);
});

test('a body over the limit by Content-Length is 413 and nothing is written', async (t) => {
  const { kv, base } = await start(t, { maxRequestBodyBytes: 16 });
  const response = await put(base, at, 'x'.repeat(17));
  t.is(response.headers.get('connection'), 'close');
  t.like(await errorOf(response), { status: 413, code: 'value_too_large' });
  t.is(kv.calls.length, 0);
  t.is((await put(base, at, 'x'.repeat(16))).status, 204);
  t.is(kv.writes, 1);
});

test('a streamed body that passes the limit is 413 and nothing is written', async (t) => {
  const { kv, base } = await start(t, { maxRequestBodyBytes: 16 });
  const result = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = httpRequest(keyUrl(base, at), { method: 'PUT', headers: { 'transfer-encoding': 'chunked' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.write('x'.repeat(10));
    setTimeout(() => req.end('y'.repeat(10)), 20);
  });
  t.is(result.status, 413);
  t.is(JSON.parse(result.body).error.code, 'value_too_large');
  t.is(kv.calls.length, 0);
});

test('Expect: 100-continue with a body over the limit is refused before the body is sent', async (t) => {
  const { kv, base } = await start(t, { maxRequestBodyBytes: 16 });
  const { host, port } = new URL(base);
  const raw = await rawExchange(base, `PUT /v1/buckets/b/keys/k HTTP/1.1\r\nHost: ${host}:${port}\r\nContent-Length: 100\r\nExpect: 100-continue\r\n\r\n`);
  t.is(statusOf(raw.text), 413);
  t.false(raw.text.includes('100 Continue'));
  t.is(kv.calls.length, 0);
});

test('Expect: 100-continue within the limit gets 100 Continue and is written', async (t) => {
  const { kv, base } = await start(t);
  const socket = await openSocket(base);
  const reading = readUntilClosed(socket, 2000);
  socket.write('PUT /v1/buckets/b/keys/k HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n');
  await new Promise((resolve) => setTimeout(resolve, 50));
  socket.write('hello');
  const { text } = await reading;
  t.true(text.startsWith('HTTP/1.1 100 Continue'), text);
  t.true(text.includes('HTTP/1.1 204'), text);
  t.is(kv.writes, 1);
});

test('a client that disconnects mid-body leaves nothing written and the server answers the next request', async (t) => {
  const { kv, base } = await start(t);
  const socket = await openSocket(base);
  socket.on('error', () => {});
  socket.write('PUT /v1/buckets/b/keys/k HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n' + 'x'.repeat(40));
  await new Promise((resolve) => setTimeout(resolve, 50));
  socket.destroy();
  await new Promise((resolve) => setTimeout(resolve, 50));
  t.is(kv.calls.length, 0);
  t.like(await errorOf(await get(base, at)), { status: 404 });
  t.is((await put(base, at, 'whole')).status, 204);
  t.is(kv.writes, 1);
});

test('connections beyond maxConnections are dropped', async (t) => {
  const { base } = await start(t, { maxConnections: 2 });
  const held = [await openSocket(base), await openSocket(base)];
  t.teardown(() => held.forEach((s) => s.destroy()));
  // Both held connections are accepted and served.
  for (const socket of held) {
    const reading = new Promise<string>((resolve) => socket.once('data', (chunk: Buffer) => resolve(chunk.toString('latin1'))));
    socket.write('GET /v1/ping HTTP/1.1\r\nHost: x\r\n\r\n');
    t.is(statusOf(await reading), 200);
  }
  const third = await rawExchange(base, 'GET /v1/ping HTTP/1.1\r\nHost: x\r\n\r\n', 2000);
  t.true(third.closed);
  t.is(statusOf(third.text), 0);
  // Once a held connection goes, a new one is served (retried: the server sees the close a little later).
  held[0]!.destroy();
  let status = 0;
  for (let attempt = 0; attempt < 50 && status === 0; attempt++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    status = statusOf((await rawExchange(base, 'GET /v1/ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 2000)).text);
  }
  t.is(status, 200);
});

test('an idle keep-alive connection is closed after idleTimeoutMs', async (t) => {
  const { base } = await start(t, { idleTimeoutMs: 150 });
  const socket = await openSocket(base);
  const reading = readUntilClosed(socket, 3000);
  const started = Date.now();
  socket.write('GET /v1/ping HTTP/1.1\r\nHost: x\r\n\r\n');
  const { text, closed } = await reading;
  t.is(statusOf(text), 200);
  t.true(closed);
  t.true(Date.now() - started < 2000);
});

test('headers not received within headersTimeoutMs get 408', async (t) => {
  const { base } = await start(t, { headersTimeoutMs: 200, requestTimeoutMs: 400 });
  const socket = await openSocket(base);
  const reading = readUntilClosed(socket, 3000);
  socket.write('GET /v1/ping HTTP/1.1\r\nHost: x\r\n');
  const { text, closed } = await reading;
  t.true(closed);
  t.is(statusOf(text), 408);
});

test('a body not received within requestTimeoutMs gets 408 and nothing is written', async (t) => {
  const { kv, base } = await start(t, { headersTimeoutMs: 200, requestTimeoutMs: 400 });
  const socket = await openSocket(base);
  const reading = readUntilClosed(socket, 3000);
  socket.write('PUT /v1/buckets/b/keys/k HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc');
  const { text, closed } = await reading;
  t.true(closed);
  t.is(statusOf(text), 408);
  t.is(kv.calls.length, 0);
});

test('close waits for a request in flight, answers it, and ends idle connections at once', async (t) => {
  const { kv, base, front } = await start(undefined);
  const idle = await openSocket(base);
  const idleClosed = readUntilClosed(idle, 3000);
  const release = kv.hold();
  const inflight = get(base, at);
  while (kv.calls.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
  let closed = false;
  const closing = front.close().then(() => (closed = true));
  t.true((await idleClosed).closed);
  t.false(closed);
  release();
  t.is((await inflight).status, 404);
  await closing;
  t.true(closed);
  await t.throwsAsync(fetch(`${base}/v1/ping`));
  await front.close();
});

test('invalid options are refused at start', async (t) => {
  await t.throwsAsync(start(undefined, { headersTimeoutMs: 500, requestTimeoutMs: 100 }), { message: /headersTimeoutMs/ });
  await t.throwsAsync(start(undefined, { maxRequestBodyBytes: 0 }), { message: /maxRequestBodyBytes/ });
});

test('close cuts a client still sending its body after requestTimeoutMs', async (t) => {
  const { kv, base, front } = await start(undefined, { headersTimeoutMs: 100, requestTimeoutMs: 300 });
  const socket = await openSocket(base);
  const reading = readUntilClosed(socket, 3000);
  socket.write('PUT /v1/buckets/b/keys/k HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc');
  await new Promise((resolve) => setTimeout(resolve, 50));
  const started = Date.now();
  await front.close();
  t.true(Date.now() - started < 2000);
  t.true((await reading).closed);
  t.is(kv.calls.length, 0);
});
