// Key expiry over HTTP, against the in-memory KvService double on a clock the test moves:
// `ttl_ms` on a PUT reaches the service, a read reports the expiry in X-Ringkv-Expires-At-Ms,
// and an expired key answers 404 (docs/ttl.md, docs/http-api.md).

import test from 'ava';
import { pino } from 'pino';
import { startHttpFrontEnd } from '../../../src/runtime/http/server.js';
import { keyUrl } from './client.js';
import { MemoryKv } from './memory-kv.js';

const at = { bucket: 'b', key: 'k' };

test('PUT ?ttl_ms sets an expiry that reads report, and the key reads as not found once it passes', async (t) => {
  const clock = { nowMs: 1_700_000_000_000 };
  const kv = new MemoryKv({ nowMs: () => clock.nowMs });
  const front = await startHttpFrontEnd(
    { host: '127.0.0.1', port: 0, maxRequestBodyBytes: 1024, maxConnections: 8, idleTimeoutMs: 5000, headersTimeoutMs: 5000, requestTimeoutMs: 10_000 },
    { kv, stats: async () => ({}), generateKey: () => 'gen', log: pino({ level: 'silent' }) },
  );
  t.teardown(() => front.close());
  const written = await fetch(keyUrl(front.url, at, { ttl_ms: '60000' }), { method: 'PUT', body: 'v', headers: { 'Content-Type': 'text/plain' } });
  t.is(written.status, 204);
  t.like(kv.calls.at(-1), { op: 'put', request: { ttlMs: 60_000 } });
  const read = await fetch(keyUrl(front.url, at));
  t.is(read.status, 200);
  t.is(read.headers.get('x-ringkv-expires-at-ms'), String(clock.nowMs + 60_000));
  t.is(await read.text(), 'v');
  clock.nowMs += 60_000;
  t.is((await fetch(keyUrl(front.url, at))).status, 404);
  const bad = await fetch(keyUrl(front.url, at, { ttl_ms: 'soon' }), { method: 'PUT', body: 'v' });
  t.is(bad.status, 400);
  t.regex(await bad.text(), /ttl_ms: must be a non-negative integer/);
  // An integer out of range is the service's to refuse, so its message is the same on every front end.
  await fetch(keyUrl(front.url, at, { ttl_ms: '-1' }), { method: 'PUT', body: 'v' });
  t.like(kv.calls.at(-1), { op: 'put', request: { ttlMs: -1 } });
  t.is((await fetch(keyUrl(front.url, at, { ttl_ms: '5' }), { method: 'DELETE' })).status, 400, 'a delete takes no ttl_ms');
});
