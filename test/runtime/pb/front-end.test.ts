// The protobuf front end over real sockets, in front of an in-memory KvService double: raw
// frames in, raw frames out. It covers what clients cannot easily provoke — hostile lengths,
// byte-at-a-time frames, injected service errors — and the reply shapes Riak defines.

import test from 'ava';
import { type Socket, connect } from 'node:net';
import { pino } from 'pino';
import { type BucketProps, riakDefaultProps } from '../../../src/core/bucket.js';
import { encodeStorageKey } from '../../../src/core/codec.js';
import { partitionOf } from '../../../src/core/ring.js';
import { encodeFrame } from '../../../src/runtime/pb/frame.js';
import { type PbFrontEndDeps, startPbFrontEnd } from '../../../src/runtime/pb/server.js';
import { MessageCode, type MessageName, decodeMessage, encodeMessage } from '../../../src/runtime/pb/schema.js';
import type { TcpFrontEnd, TcpFrontEndLimits } from '../../../src/runtime/wire/tcp-front-end.js';
import { MemoryKv } from '../http/memory-kv.js';

const log = pino({ level: 'silent' });
const limits: TcpFrontEndLimits = { maxConnections: 8, maxInflightPerConnection: 16, maxUnsentBytes: 64 * 1024, idleTimeoutMs: 5000, frameTimeoutMs: 2000 };
const b = (text: string): Buffer => Buffer.from(text);
const lwwProps: BucketProps = { ...riakDefaultProps, nVal: 2, allowMult: false, lastWriteWins: true, r: 1, w: 'all' };

interface Harness {
  readonly front: TcpFrontEnd;
  readonly kv: MemoryKv;
  readonly socket: Socket;
}

async function start(t: { teardown: (fn: () => unknown) => void }, overrides: { maxFrameBytes?: number; limits?: Partial<TcpFrontEndLimits> } = {}): Promise<Harness> {
  const kv = new MemoryKv();
  let keys = 0;
  const deps: PbFrontEndDeps = {
    kv,
    bucketTypes: new Map([
      ['default', riakDefaultProps],
      ['typed', lwwProps],
    ]),
    nodeName: 'front@127.0.0.1',
    partitions: 16,
    generateKey: () => `generated-${++keys}`,
  };
  const front = await startPbFrontEnd({ host: '127.0.0.1', port: 0, limits: { ...limits, ...overrides.limits }, maxFrameBytes: overrides.maxFrameBytes ?? 4096, log }, deps);
  const [host, port] = [front.address.slice(0, front.address.lastIndexOf(':')), Number(front.address.slice(front.address.lastIndexOf(':') + 1))];
  const socket = await new Promise<Socket>((resolve, reject) => {
    const s = connect(port, host, () => resolve(s));
    s.once('error', reject);
  });
  t.teardown(async () => {
    socket.destroy();
    await front.close();
  });
  return { front, kv, socket };
}

interface Reply {
  readonly code: number;
  readonly body: Buffer;
}

/** Reads frames until `count` arrived, the socket closed, or the time ran out. */
function readFrames(socket: Socket, count: number, timeoutMs = 3000): Promise<{ frames: Reply[]; closed: boolean }> {
  return new Promise((resolve) => {
    let buffer = Buffer.alloc(0);
    const frames: Reply[] = [];
    const finish = (closed: boolean): void => {
      clearTimeout(timer);
      socket.removeListener('data', onData);
      socket.removeListener('close', onClose);
      resolve({ frames, closed });
    };
    const onData = (chunk: Buffer): void => {
      buffer = Buffer.concat([buffer, chunk]);
      while (buffer.length >= 4 && buffer.length >= 4 + buffer.readUInt32BE(0)) {
        const length = buffer.readUInt32BE(0);
        frames.push({ code: buffer[4]!, body: buffer.subarray(5, 4 + length) });
        buffer = buffer.subarray(4 + length);
      }
      if (frames.length >= count) finish(false);
    };
    const onClose = (): void => finish(true);
    const timer = setTimeout(() => finish(false), timeoutMs);
    socket.on('data', onData);
    socket.once('close', onClose);
  });
}

function decode<T>(reply: Reply, name: MessageName): T {
  return decodeMessage<T>(name, reply.body);
}

const errmsg = (reply: Reply): string => (reply.code === MessageCode.ErrorResp ? String(decode<{ errmsg: Buffer }>(reply, 'RpbErrorResp').errmsg) : `not an error: code ${reply.code}`);

async function request(socket: Socket, code: number, name: MessageName | undefined, message: object = {}, replies = 1): Promise<Reply[]> {
  const pending = readFrames(socket, replies);
  socket.write(encodeFrame(code, name === undefined ? undefined : encodeMessage(name, message)));
  return (await pending).frames;
}

test('a 4 GiB length header is refused at once with RpbErrorResp, and the connection closed', async (t) => {
  const { socket } = await start(t);
  const pending = readFrames(socket, 2);
  socket.write(Buffer.from('ffffffff09', 'hex'));
  const { frames, closed } = await pending;
  t.true(closed);
  t.is(frames.length, 1);
  t.regex(errmsg(frames[0]!), /frame of 4294967295 bytes is over the limit of 4096 bytes/);
});

test('maxFrameBytes is the knob: a frame one byte over it closes the connection', async (t) => {
  const { socket } = await start(t, { maxFrameBytes: 64 });
  const body = encodeMessage('RpbPutReq', { bucket: b('b'), key: b('k'), content: { value: Buffer.alloc(64) } });
  const pending = readFrames(socket, 2);
  socket.write(encodeFrame(MessageCode.PutReq, body));
  const { frames, closed } = await pending;
  t.true(closed);
  t.regex(errmsg(frames[0]!), /over the limit of 64 bytes/);
});

test('a length of 0 is answered with RpbErrorResp and then the connection closes', async (t) => {
  const { socket } = await start(t);
  const pending = readFrames(socket, 2);
  socket.write(Buffer.from('00000000', 'hex'));
  const { frames, closed } = await pending;
  t.true(closed);
  t.regex(errmsg(frames[0]!), /length 0/);
});

test('an unknown code and a garbage body are answered and the pipelined requests after them still are', async (t) => {
  const { socket } = await start(t);
  const pending = readFrames(socket, 4);
  socket.write(Buffer.concat([encodeFrame(99, b('?')), encodeFrame(MessageCode.PingReq), encodeFrame(MessageCode.PutReq, Buffer.from([0x0a, 0xff])), encodeFrame(MessageCode.PingReq)]));
  const { frames, closed } = await pending;
  t.false(closed);
  t.deepEqual(frames.map((f) => f.code), [MessageCode.ErrorResp, MessageCode.PingResp, MessageCode.ErrorResp, MessageCode.PingResp]);
  t.is(errmsg(frames[0]!), 'ringkv: unknown or unsupported message code 99');
  t.regex(errmsg(frames[2]!), /cannot decode RpbPutReq/);
});

test('a request sent one byte at a time is answered', async (t) => {
  const { socket } = await start(t);
  const frame = encodeFrame(MessageCode.PutReq, encodeMessage('RpbPutReq', { bucket: b('b'), key: b('k'), content: { value: b('slow') }, return_body: true }));
  const pending = readFrames(socket, 1);
  for (const byte of frame) {
    socket.write(Buffer.from([byte]));
    await new Promise((r) => setImmediate(r));
  }
  const { frames } = await pending;
  t.is(frames[0]!.code, MessageCode.PutResp);
  const reply = decode<{ content: Array<{ value: Buffer }> }>(frames[0]!, 'RpbPutResp');
  t.is(String(reply.content[0]!.value), 'slow');
});

test('server info names the node and the version; ping answers', async (t) => {
  const { socket } = await start(t);
  const [info] = await request(socket, MessageCode.GetServerInfoReq, undefined);
  const decoded = decode<{ node: Buffer; server_version: Buffer }>(info!, 'RpbGetServerInfoResp');
  t.is(String(decoded.node), 'front@127.0.0.1');
  t.regex(String(decoded.server_version), /^ringkv-\d+\.\d+\.\d+/);
  const [pong] = await request(socket, MessageCode.PingReq, undefined);
  t.deepEqual(pong, { code: MessageCode.PingResp, body: Buffer.alloc(0) });
});

test('get maps every option to KvService and the sentinels to quorum words', async (t) => {
  const { socket, kv } = await start(t);
  await request(socket, MessageCode.GetReq, 'RpbGetReq', { bucket: b('b'), key: b('k'), type: b('typed'), r: 4294967294, pr: 4294967291, basic_quorum: true, notfound_ok: false, timeout: 250, n_val: 1 });
  await request(socket, MessageCode.GetReq, 'RpbGetReq', { bucket: b('b'), key: b('k'), r: 4294967293, pr: 4294967292 });
  await request(socket, MessageCode.GetReq, 'RpbGetReq', { bucket: b('b'), key: b('k'), r: 2 });
  const gets = kv.calls.map((c) => c.request);
  t.like(gets[0], { key: { type: 'typed' }, r: 'one', pr: 'default', basicQuorum: true, notfoundOk: false, timeoutMs: 250, nVal: 1 });
  t.like(gets[1], { key: { type: 'default' }, r: 'quorum', pr: 'all' });
  t.like(gets[2], { r: 2 });
  t.false('pr' in gets[2]!, 'an absent option is not passed');
});

test('not found is an empty RpbGetResp; deletedvclock returns the tombstone context; if_modified and head', async (t) => {
  const { socket } = await start(t);
  const [missing] = await request(socket, MessageCode.GetReq, 'RpbGetReq', { bucket: b('b'), key: b('k') });
  t.deepEqual(missing, { code: MessageCode.GetResp, body: Buffer.alloc(0) });

  await request(socket, MessageCode.PutReq, 'RpbPutReq', { bucket: b('b'), key: b('k'), content: { value: b('v'), content_type: b('text/plain'), usermeta: [{ key: b('a'), value: b('1') }] } });
  const [found] = await request(socket, MessageCode.GetReq, 'RpbGetReq', { bucket: b('b'), key: b('k') });
  const got = decode<{ content: Array<Record<string, unknown>>; vclock: Buffer }>(found!, 'RpbGetResp');
  t.is(got.content.length, 1);
  t.like(got.content[0], { value: b('v'), content_type: b('text/plain') });
  t.deepEqual(got.content[0]!['usermeta'], [{ key: b('a'), value: b('1') }]);
  t.true(typeof got.content[0]!['last_mod'] === 'number' && typeof got.content[0]!['last_mod_usecs'] === 'number');
  t.true(Buffer.isBuffer(got.content[0]!['vtag']));

  const [unchanged] = await request(socket, MessageCode.GetReq, 'RpbGetReq', { bucket: b('b'), key: b('k'), if_modified: got.vclock });
  t.like(decode(unchanged!, 'RpbGetResp'), { unchanged: true });
  t.false('content' in decode<object>(unchanged!, 'RpbGetResp'));
  const [changed] = await request(socket, MessageCode.GetReq, 'RpbGetReq', { bucket: b('b'), key: b('k'), if_modified: b('other') });
  t.is(decode<{ content: unknown[] }>(changed!, 'RpbGetResp').content.length, 1);

  const [head] = await request(socket, MessageCode.GetReq, 'RpbGetReq', { bucket: b('b'), key: b('k'), head: true });
  const headed = decode<{ content: Array<{ value: Buffer; content_type: Buffer }> }>(head!, 'RpbGetResp');
  t.is(headed.content[0]!.value.length, 0);
  t.is(String(headed.content[0]!.content_type), 'text/plain');

  await request(socket, MessageCode.DelReq, 'RpbDelReq', { bucket: b('b'), key: b('k'), vclock: got.vclock });
  const [gone] = await request(socket, MessageCode.GetReq, 'RpbGetReq', { bucket: b('b'), key: b('k') });
  t.deepEqual(gone!.body, Buffer.alloc(0));
  const [tomb] = await request(socket, MessageCode.GetReq, 'RpbGetReq', { bucket: b('b'), key: b('k'), deletedvclock: true });
  const tombstone = decode<{ content?: unknown[]; vclock: Buffer }>(tomb!, 'RpbGetResp');
  t.is(tombstone.content, undefined);
  t.true(tombstone.vclock.length > 0);
});

test('put: generated key, return_head, quorum options, and the precondition messages', async (t) => {
  const { socket, kv } = await start(t);
  const [generated] = await request(socket, MessageCode.PutReq, 'RpbPutReq', { bucket: b('b'), content: { value: b('v') } });
  t.deepEqual(decode(generated!, 'RpbPutResp'), { key: b('generated-1') });
  t.like(kv.calls.at(-1)!.request, { key: { key: new Uint8Array(b('generated-1')) }, content: { contentType: 'application/octet-stream' } });

  const [head] = await request(socket, MessageCode.PutReq, 'RpbPutReq', { bucket: b('b'), key: b('k'), content: { value: b('v') }, return_head: true, w: 4294967292, dw: 1, pw: 0, timeout: 100 });
  const headed = decode<{ content: Array<{ value: Buffer }>; vclock: Buffer; key?: Buffer }>(head!, 'RpbPutResp');
  t.is(headed.content[0]!.value.length, 0);
  t.true(headed.vclock.length > 0);
  t.is(headed.key, undefined, 'a key the client gave is not echoed');
  t.like(kv.calls.at(-1)!.request, { w: 'all', dw: 1, pw: 0, timeoutMs: 100, returnBody: true });

  const [plain] = await request(socket, MessageCode.PutReq, 'RpbPutReq', { bucket: b('b'), key: b('k2'), content: { value: b('v') } });
  t.deepEqual(plain, { code: MessageCode.PutResp, body: Buffer.alloc(0) });

  const [inm] = await request(socket, MessageCode.PutReq, 'RpbPutReq', { bucket: b('b'), key: b('k'), content: { value: b('v') }, if_none_match: true });
  t.is(errmsg(inm!), 'match_found');
  const [inmod] = await request(socket, MessageCode.PutReq, 'RpbPutReq', { bucket: b('b'), key: b('k'), vclock: b('stale'), content: { value: b('v') }, if_not_modified: true });
  t.regex(errmsg(inmod!), /^invalid_request: the context is malformed/);
  kv.failNext('precondition_failed', 'the stored context differs', 'put');
  const [modified] = await request(socket, MessageCode.PutReq, 'RpbPutReq', { bucket: b('b'), key: b('k'), vclock: headed.vclock, content: { value: b('v') }, if_not_modified: true });
  t.is(errmsg(modified!), 'modified');
});

test('content fields ringkv does not store are refused, not dropped', async (t) => {
  const { socket } = await start(t);
  const cases: Array<[object, RegExp]> = [
    [{ value: b('v'), indexes: [{ key: b('i_bin'), value: b('x') }] }, /secondary indexes are not supported/],
    [{ value: b('v'), links: [{ bucket: b('b'), key: b('k'), tag: b('t') }] }, /links are not supported/],
    [{ value: b('v'), content_encoding: b('gzip') }, /content_encoding is not supported/],
    [{ value: b('v'), charset: b('utf-8') }, /charset is not stored/],
    [{ value: b('v'), usermeta: [{ key: b('k'), value: Buffer.from([0xff]) }] }, /usermeta value of k must be UTF-8/],
  ];
  for (const [content, expected] of cases) {
    const [reply] = await request(socket, MessageCode.PutReq, 'RpbPutReq', { bucket: b('b'), key: b('k'), content });
    t.regex(errmsg(reply!), expected);
  }
});

test('KvService errors become Riak errmsg strings; the connection goes on', async (t) => {
  const { socket, kv } = await start(t);
  const get = { bucket: b('b'), key: b('k') };
  kv.failNext('timeout', 'no quorum in time');
  t.is(errmsg((await request(socket, MessageCode.GetReq, 'RpbGetReq', get))[0]!), 'timeout');
  kv.failNext('overload', 'queue full');
  t.is(errmsg((await request(socket, MessageCode.GetReq, 'RpbGetReq', get))[0]!), 'overload');
  kv.failNext('insufficient_vnodes', 'only 1 of 2');
  t.is(errmsg((await request(socket, MessageCode.DelReq, 'RpbDelReq', get))[0]!), 'insufficient_vnodes: only 1 of 2');
  t.is(errmsg((await request(socket, MessageCode.GetReq, 'RpbGetReq', { ...get, type: b('nope') }))[0]!), 'unknown_bucket_type: bucket type "nope" is not defined');
  kv.throwOnNext(new Error('kaboom'));
  t.is(errmsg((await request(socket, MessageCode.GetReq, 'RpbGetReq', get))[0]!), 'ringkv: internal error: kaboom');
  t.is((await request(socket, MessageCode.PingReq, undefined))[0]!.code, MessageCode.PingResp);
});

test('delete passes the vclock and quorums; rw stands in for w', async (t) => {
  const { socket, kv } = await start(t);
  const [reply] = await request(socket, MessageCode.DelReq, 'RpbDelReq', { bucket: b('b'), key: b('k'), rw: 4294967294, r: 1, pr: 1, dw: 0, timeout: 50 });
  t.deepEqual(reply, { code: MessageCode.DelResp, body: Buffer.alloc(0) });
  t.like(kv.calls.at(-1)!.request, { w: 'one', dw: 0, timeoutMs: 50, context: undefined });
  await request(socket, MessageCode.DelReq, 'RpbDelReq', { bucket: b('b'), key: b('k'), rw: 1, w: 4294967292 });
  t.like(kv.calls.at(-1)!.request, { w: 'all' });
});

test('list keys streams RpbListKeysResp frames ending with done; list buckets with and without stream', async (t) => {
  const { socket } = await start(t);
  for (const key of ['a', 'b', 'c']) await request(socket, MessageCode.PutReq, 'RpbPutReq', { bucket: b('bk'), key: b(key), content: { value: b(key) } });
  const [read] = await request(socket, MessageCode.GetReq, 'RpbGetReq', { bucket: b('bk'), key: b('b') });
  await request(socket, MessageCode.DelReq, 'RpbDelReq', { bucket: b('bk'), key: b('b'), vclock: decode<{ vclock: Buffer }>(read!, 'RpbGetResp').vclock });
  const keyFrames = await request(socket, MessageCode.ListKeysReq, 'RpbListKeysReq', { bucket: b('bk') }, 2);
  t.true(keyFrames.every((f) => f.code === MessageCode.ListKeysResp));
  t.deepEqual(decode(keyFrames.at(-1)!, 'RpbListKeysResp'), { done: true });
  const keys = keyFrames.flatMap((f) => decode<{ keys?: Buffer[] }>(f, 'RpbListKeysResp').keys ?? []).map(String);
  t.deepEqual(keys.sort(), ['a', 'c']);

  const [streamed] = await request(socket, MessageCode.ListBucketsReq, 'RpbListBucketsReq', { stream: true });
  t.deepEqual(decode(streamed!, 'RpbListBucketsResp'), { buckets: [b('bk')], done: true });
  const [whole] = await request(socket, MessageCode.ListBucketsReq, 'RpbListBucketsReq', {});
  t.deepEqual(decode(whole!, 'RpbListBucketsResp'), { buckets: [b('bk')] });
});

test('a listing larger than clientMaxUnsentBytes fails with a message instead of a partial list', async (t) => {
  const { socket } = await start(t, { limits: { maxUnsentBytes: 1024 } });
  for (let i = 0; i < 40; i++) await request(socket, MessageCode.PutReq, 'RpbPutReq', { bucket: b('big'), key: b(`key-${'x'.repeat(20)}-${i}`), content: { value: b('v') } });
  const frames = await request(socket, MessageCode.ListKeysReq, 'RpbListKeysReq', { bucket: b('big') });
  t.is(frames.length, 1);
  t.regex(errmsg(frames[0]!), /key listing is over 1024 bytes.*clientMaxUnsentBytes/);
});

test('bucket properties come from the bucket type, quorums as sentinels or counts', async (t) => {
  const { socket } = await start(t);
  const [def] = await request(socket, MessageCode.GetBucketReq, 'RpbGetBucketReq', { bucket: b('any') });
  t.is(def!.code, MessageCode.GetBucketResp);
  t.deepEqual(decode<{ props: object }>(def!, 'RpbGetBucketResp').props, {
    n_val: 3,
    allow_mult: true,
    last_write_wins: false,
    r: 4294967293,
    w: 4294967293,
    dw: 4294967293,
    pr: 0,
    pw: 0,
    rw: 4294967293,
    basic_quorum: false,
    notfound_ok: true,
  });
  const [typed] = await request(socket, MessageCode.GetBucketTypeReq, 'RpbGetBucketTypeReq', { type: b('typed') });
  t.is(typed!.code, MessageCode.GetBucketResp);
  t.like(decode<{ props: object }>(typed!, 'RpbGetBucketResp').props, { n_val: 2, allow_mult: false, last_write_wins: true, r: 1, w: 4294967292 });
  const [unknown] = await request(socket, MessageCode.GetBucketReq, 'RpbGetBucketReq', { bucket: b('any'), type: b('nope') });
  t.is(errmsg(unknown!), 'unknown_bucket_type: bucket type "nope" is not defined');
});

test('set bucket succeeds only when it changes nothing; reset always leaves the type props', async (t) => {
  const { socket } = await start(t);
  const same = await request(socket, MessageCode.SetBucketReq, 'RpbSetBucketReq', { bucket: b('x'), props: { allow_mult: true, n_val: 3, r: 4294967293, has_precommit: false } });
  t.deepEqual(same[0], { code: MessageCode.SetBucketResp, body: Buffer.alloc(0) });
  const [changed] = await request(socket, MessageCode.SetBucketReq, 'RpbSetBucketReq', { bucket: b('x'), props: { allow_mult: false, n_val: 3, r: 2 } });
  t.is(
    errmsg(changed!),
    'ringkv: bucket properties are per bucket type; change the type instead (RpbSetBucketTypeReq, PUT /v1/types/{type} or `ringkv bucket-type update`) (bucket type "default"; asked to change: allow_mult, r)',
  );
  const [hook] = await request(socket, MessageCode.SetBucketReq, 'RpbSetBucketReq', { bucket: b('x'), props: { backend: b('leveldb') } });
  t.regex(errmsg(hook!), /asked to change: backend/);
  const [typeSame] = await request(socket, MessageCode.SetBucketTypeReq, 'RpbSetBucketTypeReq', { type: b('typed'), props: { last_write_wins: true } });
  t.is(typeSame!.code, MessageCode.SetBucketResp);
  const [typeUnknown] = await request(socket, MessageCode.SetBucketTypeReq, 'RpbSetBucketTypeReq', { type: b('nope'), props: {} });
  t.regex(errmsg(typeUnknown!), /unknown_bucket_type.*"nope"/);
  const [reset] = await request(socket, MessageCode.ResetBucketReq, 'RpbResetBucketReq', { bucket: b('x') });
  t.deepEqual(reset, { code: MessageCode.ResetBucketResp, body: Buffer.alloc(0) });
});

test('the preference list is n_val consecutive partition numbers from the key\'s partition', async (t) => {
  const { socket } = await start(t);
  const [reply] = await request(socket, MessageCode.GetBucketKeyPreflistReq, 'RpbGetBucketKeyPreflistReq', { bucket: b('b'), key: b('k'), type: b('typed') });
  const { preflist } = decode<{ preflist: Array<{ partition: number; node: Buffer; primary: boolean }> }>(reply!, 'RpbGetBucketKeyPreflistResp');
  const first = partitionOf(encodeStorageKey({ type: 'typed', bucket: b('b'), key: b('k') }), 16);
  t.deepEqual(
    preflist.map((p) => ({ ...p, node: String(p.node) })),
    [first, (first + 1) % 16].map((partition) => ({ partition, node: 'front@127.0.0.1', primary: true })),
  );
});

test('security requests and undecodable data-type requests get a clear error and the connection continues', async (t) => {
  const { socket } = await start(t);
  const pending = readFrames(socket, 4);
  socket.write(
    Buffer.concat([
      encodeFrame(MessageCode.StartTls),
      encodeFrame(MessageCode.AuthReq, encodeMessage('RpbAuthReq', { user: b('u'), password: b('p') })),
      encodeFrame(MessageCode.DtFetchReq, b('anything')),
      encodeFrame(MessageCode.PingReq),
    ]),
  );
  const { frames, closed } = await pending;
  t.false(closed);
  t.is(errmsg(frames[0]!), 'ringkv: security (authentication and TLS) is not available yet');
  t.is(errmsg(frames[1]!), 'ringkv: security (authentication and TLS) is not available yet');
  t.regex(errmsg(frames[2]!), /^ringkv: cannot decode DtFetchReq/);
  t.is(frames[3]!.code, MessageCode.PingResp);
});

test('a large put arriving in many chunks is gathered and stored whole', async (t) => {
  const { socket, kv } = await start(t, { maxFrameBytes: 1024 * 1024 });
  const value = Buffer.alloc(512 * 1024, 7);
  const frame = encodeFrame(MessageCode.PutReq, encodeMessage('RpbPutReq', { bucket: b('b'), key: b('big'), content: { value } }));
  const pending = readFrames(socket, 1);
  for (let at = 0; at < frame.length; at += 1000) socket.write(frame.subarray(at, at + 1000));
  const { frames } = await pending;
  t.is(frames[0]!.code, MessageCode.PutResp);
  const put = kv.calls.at(-1)!;
  t.true(put.op === 'put' && Buffer.compare(put.request.content.value, value) === 0);
});
