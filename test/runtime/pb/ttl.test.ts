// Key expiry over the protocol-buffers API (docs/ttl.md): ringkv's extension fields — ttl_ms on
// RpbPutReq, include_expiry on RpbGetReq and RpbPutReq, expires_at_ms on RpbContent — first on
// frames against the in-memory KvService double on a clock the test moves, then against a real
// node, where unmodified Riak clients read an expiring object as they read any other (they never
// ask for include_expiry, so they get Riak's fields only) and the key expires on the node's clock.

import test from 'ava';
import { type Socket, connect } from 'node:net';
import { pino } from 'pino';
import { riakDefaultProps } from '../../../src/core/bucket.js';
import { encodeFrame } from '../../../src/runtime/pb/frame.js';
import { startPbFrontEnd } from '../../../src/runtime/pb/server.js';
import { MessageCode, type MessageName, type RpbContent, decodeMessage, encodeMessage } from '../../../src/runtime/pb/schema.js';
import { freePort } from '../../integration/process-node.js';
import { errorOf, keyUrl } from '../http/client.js';
import { MemoryKv } from '../http/memory-kv.js';
import { startTestNode } from '../node/harness.js';
import { BashoClient, noRiakClient } from './riak-clients.js';

const b = (text: string): Buffer => Buffer.from(text);
const tenYearsMs = 10 * 365 * 24 * 3600 * 1000;

interface Reply {
  readonly code: number;
  readonly body: Buffer;
}

/** One connection that sends a request at a time and reads its one reply frame. */
async function pbConnection(address: string): Promise<{ request: (code: number, name: MessageName, message: object) => Promise<Reply>; close: () => void }> {
  const at = address.lastIndexOf(':');
  const socket = await new Promise<Socket>((resolve, reject) => {
    const s = connect(Number(address.slice(at + 1)), address.slice(0, at), () => resolve(s));
    s.once('error', reject);
  });
  let buffer = Buffer.alloc(0);
  let waiting: ((reply: Reply) => void) | undefined;
  socket.on('data', (chunk: Buffer) => {
    buffer = Buffer.concat([buffer, chunk]);
    if (buffer.length < 4 || buffer.length < 4 + buffer.readUInt32BE(0)) return;
    const length = buffer.readUInt32BE(0);
    const reply = { code: buffer[4]!, body: buffer.subarray(5, 4 + length) };
    buffer = buffer.subarray(4 + length);
    waiting?.(reply);
  });
  return {
    request: (code, name, message) =>
      new Promise((resolve) => {
        waiting = resolve;
        socket.write(encodeFrame(code, encodeMessage(name, message)));
      }),
    close: () => socket.destroy(),
  };
}

const contentsOf = (reply: Reply, name: 'RpbGetResp' | 'RpbPutResp'): RpbContent[] => decodeMessage<{ content?: RpbContent[] }>(name, reply.body).content ?? [];
const errmsg = (reply: Reply): string => (reply.code === MessageCode.ErrorResp ? String(decodeMessage<{ errmsg: Buffer }>('RpbErrorResp', reply.body).errmsg) : `not an error: code ${reply.code}`);

/** Polls `read` until it says the key is gone, at most `deadlineMs` of real time. */
async function untilGone(read: () => Promise<boolean>, deadlineMs = 10_000): Promise<boolean> {
  const deadline = Date.now() + deadlineMs;
  while (Date.now() < deadline) {
    if (!(await read())) return true;
    await new Promise((r) => setTimeout(r, 25));
  }
  return false;
}

test('ttl_ms reaches the service; reads, head and return_body with include_expiry report expires_at_ms; an expired key answers not found', async (t) => {
  const clock = { nowMs: 1_700_000_000_000 };
  const kv = new MemoryKv({ nowMs: () => clock.nowMs });
  const front = await startPbFrontEnd(
    { host: '127.0.0.1', port: 0, limits: { maxConnections: 4, maxInflightPerConnection: 4, maxUnsentBytes: 64 * 1024, idleTimeoutMs: 5000, frameTimeoutMs: 2000 }, maxFrameBytes: 4096, log: pino({ level: 'silent' }) },
    { kv, bucketTypes: new Map([['default', riakDefaultProps]]), nodeName: 'ttl@127.0.0.1', partitions: 16, generateKey: () => 'generated' },
  );
  const pb = await pbConnection(front.address);
  t.teardown(async () => {
    pb.close();
    await front.close();
  });
  const at = { bucket: b('sessions'), key: b('s42') };
  const expiresAtMs = clock.nowMs + 60_000;

  const put = await pb.request(MessageCode.PutReq, 'RpbPutReq', { ...at, content: { value: b('ada') }, ttl_ms: 60_000, return_body: true, include_expiry: true });
  t.like(kv.calls.at(-1), { op: 'put', request: { ttlMs: 60_000 } });
  t.is(contentsOf(put, 'RpbPutResp')[0]?.expires_at_ms, expiresAtMs);
  const read = await pb.request(MessageCode.GetReq, 'RpbGetReq', { ...at, include_expiry: true });
  t.like(contentsOf(read, 'RpbGetResp')[0], { value: b('ada'), expires_at_ms: expiresAtMs });
  const head = await pb.request(MessageCode.GetReq, 'RpbGetReq', { ...at, head: true, include_expiry: true });
  t.like(contentsOf(head, 'RpbGetResp')[0], { value: Buffer.alloc(0), expires_at_ms: expiresAtMs });

  // A request that does not ask (every Riak client) gets Riak's fields only, expiring or not.
  const asRiak = await pb.request(MessageCode.GetReq, 'RpbGetReq', at);
  t.like(contentsOf(asRiak, 'RpbGetResp')[0], { value: b('ada') });
  t.false('expires_at_ms' in contentsOf(asRiak, 'RpbGetResp')[0]!, 'no expires_at_ms in a reply that did not ask');
  const putAsRiak = await pb.request(MessageCode.PutReq, 'RpbPutReq', { bucket: b('sessions'), key: b('riak-style'), content: { value: b('ada') }, ttl_ms: 60_000, return_body: true });
  t.false('expires_at_ms' in contentsOf(putAsRiak, 'RpbPutResp')[0]!, 'nor in a return_body reply that did not ask');

  // expires_at_ms in a put's content is server-assigned, like vtag: ignored, never a TTL.
  await pb.request(MessageCode.PutReq, 'RpbPutReq', { bucket: b('sessions'), key: b('plain'), content: { value: b('v'), expires_at_ms: 1 } });
  t.false('ttlMs' in kv.calls.at(-1)!.request, 'no ttl_ms: the service is given none (the type default applies)');
  const plain = await pb.request(MessageCode.GetReq, 'RpbGetReq', { bucket: b('sessions'), key: b('plain'), include_expiry: true });
  t.false('expires_at_ms' in contentsOf(plain, 'RpbGetResp')[0]!, 'a value that never expires has no expires_at_ms');

  clock.nowMs = expiresAtMs;
  const expired = await pb.request(MessageCode.GetReq, 'RpbGetReq', at);
  t.deepEqual(expired, { code: MessageCode.GetResp, body: Buffer.alloc(0) }, 'Riak\'s not found: an empty RpbGetResp');
});

test('on a node: a put with ttl_ms expires, Riak clients read it unchanged meanwhile, and a bad ttl_ms gets the HTTP API\'s error', async (t) => {
  const node = await startTestNode({ pbPort: await freePort(), httpPort: await freePort() });
  const address = node.node.addresses.pb!;
  const pb = await pbConnection(address);
  const basho = await BashoClient.connect(address);
  const noRiak = noRiakClient(address);
  t.teardown(async () => {
    pb.close();
    await noRiak.end().catch(() => undefined);
    await basho.stop().catch(() => undefined);
    await node.cleanup();
  });
  const long = { bucket: b('sessions'), key: b('long') };
  const short = { bucket: b('sessions'), key: b('short') };

  const before = Date.now();
  const put = await pb.request(MessageCode.PutReq, 'RpbPutReq', { ...long, content: { value: b('ada'), content_type: b('text/plain') }, ttl_ms: 600_000, return_body: true, include_expiry: true });
  const expiresAtMs = contentsOf(put, 'RpbPutResp')[0]?.expires_at_ms;
  t.true(expiresAtMs !== undefined && expiresAtMs >= before + 600_000 && expiresAtMs <= Date.now() + 600_000, `expires_at_ms ${expiresAtMs} is the write time plus ttl_ms`);
  t.is(contentsOf(await pb.request(MessageCode.GetReq, 'RpbGetReq', { ...long, include_expiry: true }), 'RpbGetResp')[0]?.expires_at_ms, expiresAtMs);

  // The Riak clients see the value as they would any other (no-riak's decoder refuses unknown
  // fields, so it matters that they are never sent one); a write back with the fetched vclock
  // sets no TTL, as any write without ttl_ms does.
  const fetched = await basho.fetch({ bucket: 'sessions', key: 'long' });
  t.false(fetched.isNotFound);
  t.is(fetched.values.length, 1);
  t.is(fetched.values[0]!.value.toString(), 'ada');
  t.is(fetched.values[0]!.contentType, 'text/plain');
  const viaNoRiak = await noRiak.get({ bucket: 'sessions', key: 'long' });
  t.is(String(viaNoRiak?.content?.[0]?.value), 'ada');
  await basho.store({ bucket: 'sessions', key: 'long', vclock: fetched.vclock, value: 'ada again' });
  const rewritten = contentsOf(await pb.request(MessageCode.GetReq, 'RpbGetReq', { ...long, include_expiry: true }), 'RpbGetResp');
  t.deepEqual(rewritten.map((c) => [String(c.value), c.expires_at_ms]), [['ada again', undefined]]);

  await pb.request(MessageCode.PutReq, 'RpbPutReq', { ...short, content: { value: b('brief') }, ttl_ms: 300 });
  t.true(await untilGone(async () => contentsOf(await pb.request(MessageCode.GetReq, 'RpbGetReq', short), 'RpbGetResp').length > 0), 'the key expires');
  t.true((await basho.fetch({ bucket: 'sessions', key: 'short' })).isNotFound, 'basho-riak-client: not found once expired');

  // The range is the service's to judge: the same words as over HTTP.
  const tooLong = tenYearsMs + 1;
  const refused = await pb.request(MessageCode.PutReq, 'RpbPutReq', { ...short, content: { value: b('v') }, ttl_ms: tooLong });
  const overHttp = await errorOf(await fetch(keyUrl(node.node.addresses.http!, { bucket: 'sessions', key: 'short' }, { ttl_ms: String(tooLong) }), { method: 'PUT', body: 'v' }));
  t.is(overHttp.code, 'invalid_request');
  t.is(errmsg(refused), `invalid_request: ${overHttp.message}`);
  t.regex(errmsg(refused), /ttl_ms must be an integer from 0/);
  const negative = await errorOf(await fetch(keyUrl(node.node.addresses.http!, { bucket: 'sessions', key: 'short' }, { ttl_ms: '-1' }), { method: 'PUT', body: 'v' }));
  t.is(negative.code, 'invalid_request');
  t.regex(negative.message, /^ttl_ms must be an integer from 0 \(never expires\) to \d+, got -1$/, 'HTTP passes -1 to the service, which words the refusal');
});
