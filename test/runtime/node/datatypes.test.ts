// Counters and sets end to end, against a real in-process node with a counter type and a set
// type: the same behaviour through basho-riak-client, no-riak (legacy counters), ringkv's own
// client and the HTTP API, plus the refusals (plain writes, wrong type, maps).

import test from 'ava';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type RingkvClient } from '../../../src/client/index.js';
import { loadConfig } from '../../../src/runtime/config.js';
import { createLogger } from '../../../src/runtime/log.js';
import { type RunningNode, startNode } from '../../../src/runtime/node.js';
import { encodeFrame } from '../../../src/runtime/pb/frame.js';
import { MessageCode, encodeMessage } from '../../../src/runtime/pb/schema.js';
import { freePort } from '../../integration/process-node.js';
import { BashoClient, type NoRiakClient, noRiakClient } from '../pb/riak-clients.js';
import { connect as connectTcp } from 'node:net';

interface Context {
  node: RunningNode;
  dir: string;
  http: string;
  pb: string;
  basho: BashoClient;
  noRiak: NoRiakClient;
  client: RingkvClient;
}

const state = {} as Context;
let seq = 0;
const fresh = (prefix: string): string => `${prefix}-${++seq}`;
const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);

test.before(async () => {
  state.dir = await mkdtemp(join(tmpdir(), 'ringkv-dt-'));
  const configFile = join(state.dir, 'ringkv.json');
  await writeFile(configFile, JSON.stringify({ bucketTypes: { counters: { datatype: 'counter' }, sets: { datatype: 'set' } } }));
  const config = loadConfig({
    flags: { workers: 2, partitions: 16, httpPort: await freePort(), pbPort: await freePort(), respPort: 0, peerPort: 0, logLevel: 'silent', dataDir: join(state.dir, 'data') },
    env: {},
    configFile,
  });
  state.node = await startNode(config, createLogger({ level: 'silent', name: 'test', format: 'json' }));
  state.http = state.node.addresses.http!;
  state.pb = state.node.addresses.pb!;
  state.basho = await BashoClient.connect(state.pb);
  state.noRiak = noRiakClient(state.pb);
  state.client = await connect({ nodes: [state.pb] });
});

test.after.always(async () => {
  await state.client?.close();
  await state.noRiak?.end().catch(() => undefined);
  await state.basho?.stop().catch(() => undefined);
  await state.node?.stop('test done').catch(() => undefined);
  await rm(state.dir, { recursive: true, force: true });
});

async function errorOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
  throw new Error('expected the request to fail');
}

async function http(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: Record<string, unknown> | undefined }> {
  const response = await fetch(`${state.http}${path}`, {
    method,
    headers: { ...(body === undefined ? {} : { 'Content-Type': 'application/json' }), ...headers },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, json: text === '' ? undefined : (JSON.parse(text) as Record<string, unknown>) };
}

test('basho-riak-client: counters increment and decrement, and read back exactly', async (t) => {
  const options = { bucketType: 'counters', bucket: fresh('basho'), key: 'visits' };
  const missing = (await state.basho.fetchCounter(options)) as { isNotFound: boolean; counterValue: number };
  t.true(missing.isNotFound);
  await state.basho.updateCounter({ ...options, increment: 10 });
  const updated = await state.basho.updateCounter({ ...options, increment: -3, returnBody: true });
  t.is(updated.counterValue, 7);
  const fetched = (await state.basho.fetchCounter(options)) as { isNotFound: boolean; counterValue: number };
  t.false(fetched.isNotFound);
  t.is(fetched.counterValue, 7);
});

test('basho-riak-client: sets add, and remove with the fetched context', async (t) => {
  const options = { bucketType: 'sets', bucket: fresh('basho'), key: 'tags' };
  await state.basho.updateSet({ ...options, additions: ['red', 'green', 'blue'] });
  const read = await state.basho.fetchSet(options);
  t.deepEqual(read.values, ['blue', 'green', 'red']);
  t.true(Buffer.isBuffer(read.context));
  const after = await state.basho.updateSet({ ...options, removals: ['green'], context: read.context, returnBody: true });
  t.deepEqual(after.values, ['blue', 'red']);
  t.deepEqual((await state.basho.fetchSet(options)).values, ['blue', 'red']);
  t.regex(await errorOf(state.basho.updateSet({ ...options, removals: ['never-there'] })), /precondition_failed/);
});

test('a data-type request on the wrong type, a plain put on a data-type type, and a map op are refused clearly', async (t) => {
  t.regex(await errorOf(state.client.fetchSet({ type: 'counters', bucket: 'b', key: 'k' })), /another data type than a set/);
  t.regex(await errorOf(state.basho.updateCounter({ bucketType: 'sets', bucket: 'b', key: 'k', increment: 1 })), /holds sets/);
  t.regex(await errorOf(state.basho.fetchCounter({ bucketType: 'default', bucket: 'b', key: 'k' })), /holds no data type/);
  t.regex(await errorOf(state.noRiak.put({ type: 'counters', bucket: 'b', key: 'k', content: { value: 'x' } })), /update them with a data-type update/);
  // DtUpdateReq with a map_op (field 3 of DtOp, an empty MapOp).
  const body = encodeMessage('DtUpdateReq', { bucket: Buffer.from('b'), key: Buffer.from('k'), type: Buffer.from('counters'), op: { map_op: {} } });
  const reply = await rawExchange(encodeFrame(MessageCode.DtUpdateReq, body));
  t.is(reply[4], MessageCode.ErrorResp);
  t.regex(reply.toString('latin1'), /maps are not supported/);
});

async function rawExchange(frame: Buffer): Promise<Buffer> {
  const [host, port] = state.pb.split(':') as [string, string];
  return new Promise((resolve, reject) => {
    const socket = connectTcp(Number(port), host, () => socket.write(frame));
    let got = Buffer.alloc(0);
    socket.on('data', (chunk) => {
      got = Buffer.concat([got, chunk]);
      if (got.length >= 4 && got.length >= 4 + got.readUInt32BE(0)) {
        socket.destroy();
        resolve(got);
      }
    });
    socket.on('error', reject);
  });
}

test('no-riak: legacy counters live in buckets of the default type', async (t) => {
  const bucket = fresh('legacy');
  t.is(await state.noRiak.getCounter({ bucket, key: 'c' }), null);
  await state.noRiak.updateCounter({ bucket, key: 'c', amount: 5 });
  // no-riak hands sint64 values back as Long objects.
  t.is(Number(await state.noRiak.updateCounter({ bucket, key: 'c', amount: 2, returnvalue: true })), 7);
  t.is(Number(await state.noRiak.getCounter({ bucket, key: 'c' })), 7);
  await state.noRiak.put({ bucket, key: 'plain', content: { value: 'text' } });
  t.regex(await errorOf(state.noRiak.updateCounter({ bucket, key: 'plain', amount: 1 })), /not a counter/);
});

test('ringkv client: counters and sets', async (t) => {
  const counter = { type: 'counters', bucket: fresh('client'), key: 'c' };
  t.deepEqual(await state.client.fetchCounter(counter), { found: false, value: 0 });
  t.is(await state.client.updateCounter(counter, 5), 5);
  t.is(await state.client.updateCounter(counter, -7), -2);
  t.deepEqual(await state.client.fetchCounter(counter), { found: true, value: -2 });

  const set = { type: 'sets', bucket: fresh('client'), key: 's' };
  const empty = await state.client.fetchSet(set);
  t.false(empty.found);
  const added = await state.client.updateSet(set, { add: ['a', 'b'] });
  t.deepEqual(added.values.map(String), ['a', 'b']);
  const read = await state.client.fetchSet(set);
  const removed = await state.client.updateSet(set, { remove: ['a'], add: ['c'], context: read.context });
  t.deepEqual(removed.values.map(String), ['b', 'c']);
  const error = await t.throwsAsync(state.client.updateSet(set, { remove: ['zzz'] }));
  t.is((error as { code?: string }).code, 'precondition_failed');
});

test('HTTP: counters and sets as JSON documents', async (t) => {
  const counterPath = `/v1/types/counters/buckets/${fresh('http')}/datatypes/hits`;
  t.is((await http('GET', counterPath)).status, 404);
  t.is((await http('POST', counterPath, { increment: 3 })).status, 204);
  t.deepEqual((await http('POST', `${counterPath}?return_body=true`, { increment: 2 })).json, { type: 'counter', value: 5 });
  t.deepEqual((await http('GET', counterPath)).json, { type: 'counter', value: 5 });

  const setPath = `/v1/types/sets/buckets/${fresh('http')}/datatypes/members`;
  await http('POST', setPath, { add: ['ann', 'bob'] });
  const read = await http('GET', setPath);
  t.deepEqual(read.json?.['value'], ['ann', 'bob']);
  t.deepEqual(read.json?.['value_base64'], ['YW5u', 'Ym9i']);
  const after = await http('POST', `${setPath}?return_body=true`, { remove: ['ann'], context: read.json?.['context'] });
  t.deepEqual(after.json?.['value'], ['bob']);
  const bad = await http('POST', setPath, { increment: 1 });
  t.is(bad.status, 400);
  t.regex(String((bad.json?.['error'] as { message?: string })?.message), /holds sets/);
  t.is((await http('POST', setPath, { remove: ['nobody'] })).status, 412);
  t.is((await http('POST', setPath, { frobnicate: 1 })).status, 400);
});

const errorOfReply = (reply: { json: Record<string, unknown> | undefined }): { code?: string; message?: string } => (reply.json?.['error'] ?? {}) as { code?: string; message?: string };

test('HTTP: add_base64 and remove_base64 take strict standard base64 only', async (t) => {
  const setPath = `/v1/types/sets/buckets/${fresh('http')}/datatypes/b64`;
  const added = await http('POST', `${setPath}?return_body=true`, { add_base64: ['AAH/', 'YQ==', ''] });
  t.is(added.status, 200);
  t.deepEqual(added.json?.['value_base64'], ['', 'AAH/', 'YQ==']);
  for (const bad of ['@@@@', 'not base64!', 'YQ', 'YQ=', 'YR==', 'YQ==YQ==', ' YQ==', 'AAH_', 'AAH-']) {
    const reply = await http('POST', setPath, { add_base64: ['YQ==', bad] });
    t.is(reply.status, 400, bad);
    t.is(errorOfReply(reply).code, 'invalid_request', bad);
    t.regex(errorOfReply(reply).message ?? '', /^add_base64\[1\] is not standard base64/, bad);
  }
  const removeBad = await http('POST', setPath, { remove_base64: ['YQ'] });
  t.is(removeBad.status, 400);
  t.regex(errorOfReply(removeBad).message ?? '', /^remove_base64\[0\] is not standard base64/);
  t.deepEqual((await http('GET', setPath)).json?.['value_base64'], ['', 'AAH/', 'YQ=='], 'the refused updates changed nothing');
  // The same member named by remove and remove_base64, without a context, is removed once.
  const removed = await http('POST', `${setPath}?return_body=true`, { remove: ['a'], remove_base64: ['YQ==', 'YQ=='] });
  t.is(removed.status, 200);
  t.deepEqual(removed.json?.['value_base64'], ['', 'AAH/']);
});

test('HTTP: a data-type update refuses ttl_ms and the write preconditions; a body that is not JSON is malformed_json', async (t) => {
  const path = `/v1/types/counters/buckets/${fresh('http')}/datatypes/opts`;
  const ttl = await http('POST', `${path}?ttl_ms=1000`, { increment: 1 });
  t.is(ttl.status, 400);
  t.is(errorOfReply(ttl).code, 'invalid_request');
  t.regex(errorOfReply(ttl).message ?? '', /takes no ttl_ms/);
  const ifMatch = await http('POST', path, { increment: 1 }, { 'If-Match': 'AQ' });
  t.is(ifMatch.status, 400);
  t.regex(errorOfReply(ifMatch).message ?? '', /takes no If-Match/);
  const ifNoneMatch = await http('POST', path, { increment: 1 }, { 'If-None-Match': '*' });
  t.is(ifNoneMatch.status, 400);
  t.regex(errorOfReply(ifNoneMatch).message ?? '', /takes no if_none_match/);
  const overwrite = await http('POST', `${path}?overwrite=true`, { increment: 1 });
  t.is(overwrite.status, 400);
  t.regex(errorOfReply(overwrite).message ?? '', /takes no overwrite/);
  t.is((await http('GET', path)).status, 404, 'nothing was applied');
  const notJson = await http('POST', path, '{"increment": 1');
  t.is(notJson.status, 400);
  t.is(errorOfReply(notJson).code, 'malformed_json');
});

test('legacy counters are refused on a bucket type with allowMult false', async (t) => {
  const created = await http('PUT', '/v1/types/nomult', { props: { allowMult: false } });
  t.true(created.status < 300, JSON.stringify(created.json));
  const key = { type: 'nomult', bucket: bytes(fresh('legacy')), key: bytes('c') };
  const refused = await state.node.kv.updateDatatype({ key, update: { type: 'counter', increment: 1 }, legacyCounter: true });
  t.false(refused.ok);
  t.is(!refused.ok ? refused.error.code : undefined, 'invalid_request');
  t.regex(!refused.ok ? refused.error.message : '', /legacy counters need allow_mult=true on the bucket type/);
  const fetched = await state.node.kv.fetchDatatype({ key, legacyCounter: true });
  t.true(fetched.ok && fetched.value.value === undefined, 'nothing was written');
  // The default type (allowMult true) takes them, as no-riak showed above.
  const allowed = await state.node.kv.updateDatatype({ key: { ...key, type: 'default' }, update: { type: 'counter', increment: 1 }, returnBody: true, legacyCounter: true });
  t.true(allowed.ok && allowed.value.value?.type === 'counter' && allowed.value.value.value === 1);
});
