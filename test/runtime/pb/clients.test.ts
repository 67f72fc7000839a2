// The protobuf API against a real in-process node, driven by two unmodified npm Riak clients:
// basho-riak-client and no-riak. What a Riak user does — store, fetch, siblings and their
// resolution, conditional writes, deletes, listings, bucket properties — must work through both.

import test from 'ava';
import { freePort } from '../../integration/process-node.js';
import { type TestNode, startTestNode } from '../node/harness.js';
import { BashoClient, type NoRiakClient, bashoObject, noRiakClient, noRiakClientClass } from './riak-clients.js';

interface Context {
  node: TestNode;
  address: string;
  basho: BashoClient;
  noRiak: NoRiakClient;
}

const state = {} as Context;
const nodeName = 'pb-test@127.0.0.1';
let bucketSeq = 0;
const freshBucket = (prefix: string): string => `${prefix}-${++bucketSeq}`;

test.before(async () => {
  state.node = await startTestNode({ pbPort: await freePort(), nodeName });
  const address = state.node.node.addresses.pb;
  if (address === undefined) throw new Error('the node did not start the protocol-buffers listener');
  state.address = address;
  state.basho = await BashoClient.connect(address);
  state.noRiak = noRiakClient(address);
});

test('no-riak: a client configured for authentication is told security is not available', async (t) => {
  const secure = new (noRiakClientClass())({ connectionString: state.address, auth: { user: 'u', password: 'p' }, retries: 0 });
  t.teardown(() => secure.end().catch(() => undefined));
  t.is(await errorOf(secure.ping()), 'ringkv: security (authentication and TLS) is not available yet');
});

test.after.always(async () => {
  await state.noRiak?.end().catch(() => undefined);
  await state.basho?.stop().catch(() => undefined);
  await state.node?.cleanup();
});

async function errorOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
  throw new Error('expected the request to fail');
}

// basho-riak-client

test('basho: ping and server info', async (t) => {
  t.true(await state.basho.ping());
  const info = await state.basho.serverInfo();
  t.is(info.node, nodeName);
  t.regex(info.server_version, /^ringkv-\d+\.\d+\.\d+/);
});

test('basho: store and fetch, with content type and user metadata', async (t) => {
  const bucket = freshBucket('basho-store');
  await state.basho.store({ bucket, key: 'k', value: bashoObject('hello', 'text/plain', [{ key: 'colour', value: 'blue' }]) });
  const fetched = await state.basho.fetch({ bucket, key: 'k' });
  t.false(fetched.isNotFound);
  t.is(fetched.values.length, 1);
  t.is(fetched.values[0]!.value.toString(), 'hello');
  t.is(fetched.values[0]!.contentType, 'text/plain');
  t.deepEqual(fetched.values[0]!.userMeta, [{ key: 'colour', value: 'blue' }]);
  t.true(Buffer.isBuffer(fetched.vclock) && fetched.vclock.length > 0);
});

test('basho: a missing key is not found', async (t) => {
  const fetched = await state.basho.fetch({ bucket: freshBucket('basho-missing'), key: 'nothing' });
  t.true(fetched.isNotFound);
  t.is(fetched.values.length, 0);
});

test('basho: two blind stores make two siblings; a store with the fetched vclock resolves them', async (t) => {
  const bucket = freshBucket('basho-siblings');
  await state.basho.store({ bucket, key: 'k', value: 'one' });
  await state.basho.store({ bucket, key: 'k', value: 'two' });
  const both = await state.basho.fetch({ bucket, key: 'k' });
  t.deepEqual(both.values.map((v) => v.value.toString()).sort(), ['one', 'two']);
  await state.basho.store({ bucket, key: 'k', value: 'resolved', vclock: both.vclock });
  const resolved = await state.basho.fetch({ bucket, key: 'k' });
  t.deepEqual(resolved.values.map((v) => v.value.toString()), ['resolved']);
});

test('basho: delete with the vclock, then the key is not found (and deletedvclock gives the tombstone)', async (t) => {
  const bucket = freshBucket('basho-delete');
  await state.basho.store({ bucket, key: 'k', value: 'v' });
  const fetched = await state.basho.fetch({ bucket, key: 'k' });
  await state.basho.delete({ bucket, key: 'k', vclock: fetched.vclock });
  t.true((await state.basho.fetch({ bucket, key: 'k' })).isNotFound);
  const tombstone = await state.basho.fetch({ bucket, key: 'k', returnDeletedVClock: true });
  t.false(tombstone.isNotFound);
  t.true(tombstone.values[0]!.isTombstone === true);
  t.true(tombstone.vclock !== null && tombstone.vclock.length > 0);
});

test('basho: if_none_match twice: the second fails with match_found', async (t) => {
  const bucket = freshBucket('basho-inm');
  await state.basho.store({ bucket, key: 'k', value: 'first', ifNoneMatch: true });
  t.is(await errorOf(state.basho.store({ bucket, key: 'k', value: 'second', ifNoneMatch: true })), 'match_found');
});

test('basho: if_not_modified with a stale vclock fails with modified', async (t) => {
  const bucket = freshBucket('basho-inmod');
  await state.basho.store({ bucket, key: 'k', value: 'v1' });
  const stale = (await state.basho.fetch({ bucket, key: 'k' })).vclock;
  await state.basho.store({ bucket, key: 'k', value: 'v2', vclock: stale });
  t.is(await errorOf(state.basho.store({ bucket, key: 'k', value: 'v3', vclock: stale, ifNotModified: true })), 'modified');
});

test('basho: return_body, return_head, a generated key, if_modified and head', async (t) => {
  const bucket = freshBucket('basho-body');
  const body = await state.basho.store({ bucket, key: 'k', value: 'body', returnBody: true });
  t.deepEqual(body.values.map((v) => v.value.toString()), ['body']);
  t.true(body.vclock !== null && body.vclock.length > 0);
  const head = await state.basho.store({ bucket, key: 'k', value: 'head', vclock: body.vclock, returnHead: true });
  t.deepEqual(head.values.map((v) => v.value.length), [0]);
  const generated = await state.basho.store({ bucket, value: 'no key given' });
  t.regex(generated.generatedKey ?? '', /^[A-Za-z0-9_-]+$/);
  t.is((await state.basho.fetch({ bucket, key: generated.generatedKey })).values[0]!.value.toString(), 'no key given');
  const current = await state.basho.fetch({ bucket, key: 'k' });
  t.true((await state.basho.fetch({ bucket, key: 'k', ifModified: current.vclock })).isUnchanged);
  const headOnly = await state.basho.fetch({ bucket, key: 'k', headOnly: true });
  t.is(headOnly.values[0]!.value.length, 0);
  t.is(headOnly.values[0]!.contentType, current.values[0]!.contentType);
});

test('basho: list keys leaves out deleted keys; list buckets', async (t) => {
  const bucket = freshBucket('basho-list');
  for (const key of ['a', 'b', 'c']) await state.basho.store({ bucket, key, value: key });
  await state.basho.delete({ bucket, key: 'b' });
  t.deepEqual((await state.basho.listKeys({ bucket })).keys.sort(), ['a', 'c']);
  t.true((await state.basho.listBuckets({})).buckets.includes(bucket));
});

test('basho: bucket properties come from the bucket type; an equal store succeeds, a change is refused', async (t) => {
  const bucket = freshBucket('basho-props');
  const props = await state.basho.bucketProps({ bucket });
  t.is(props['nVal'], 3);
  t.is(props['allowMult'], true);
  t.is(props['lastWriteWins'], false);
  t.is(props['r'], 4294967293); // basho-riak-client hands quorum sentinels through as numbers
  t.is(props['pr'], 0);
  t.deepEqual(await state.basho.bucketTypeProps({ bucketType: 'default' }), props);
  t.true(await state.basho.storeBucketProps({ bucket, allowMult: true, nVal: 3 }));
  t.regex(await errorOf(state.basho.storeBucketProps({ bucket, allowMult: false })), /bucket properties are per bucket type; change the type instead.*allow_mult/);
  t.true(await state.basho.resetBucketProps({ bucket }));
});

test('basho: the preference list is n_val partitions on this node', async (t) => {
  const { preflist } = await state.basho.preflist({ bucket: freshBucket('basho-preflist'), key: 'k' });
  t.is(preflist.length, 3);
  t.true(preflist.every((item) => item.primary && item.node === nodeName));
  const first = preflist[0]!.partition;
  t.deepEqual(
    preflist.map((item) => item.partition),
    [first, (first + 1) % 16, (first + 2) % 16],
  );
});

test('basho: an unknown bucket type is an error naming it; data types are refused clearly', async (t) => {
  t.regex(await errorOf(state.basho.fetch({ bucketType: 'nope', bucket: 'b', key: 'k' })), /unknown_bucket_type.*"nope"/);
  t.regex(await errorOf(state.basho.bucketTypeProps({ bucketType: 'nope' })), /unknown_bucket_type.*"nope"/);
  t.regex(await errorOf(state.basho.fetchCounter({ bucketType: 'counters', bucket: 'b', key: 'k' })), /unknown_bucket_type.*"counters"/);
});

// no-riak

test('no-riak: ping and server info', async (t) => {
  await t.notThrowsAsync(state.noRiak.ping());
  const info = await state.noRiak.getServerInfo();
  t.regex(info.server_version, /^ringkv-/);
  t.true(info.node.length > 0);
});

test('no-riak: store and fetch', async (t) => {
  const bucket = freshBucket('noriak-store');
  await state.noRiak.put({ bucket, key: 'k', content: { value: 'hello', content_type: 'text/plain', usermeta: [{ key: 'm', value: 'v' }] } });
  const got = await state.noRiak.get({ bucket, key: 'k' });
  t.is(got?.content?.length, 1);
  t.is(String(got!.content![0]!.value), 'hello');
  t.is(got!.content![0]!.content_type, 'text/plain');
  t.deepEqual(got!.content![0]!.usermeta, [{ key: 'm', value: 'v' }]);
  t.truthy(got!.content![0]!.vtag);
  t.true(typeof got!.vclock === 'string' && got!.vclock.length > 0);
});

test('no-riak: a missing key is not found', async (t) => {
  const got = await state.noRiak.get({ bucket: freshBucket('noriak-missing'), key: 'k' });
  t.true(got === null || got.content === undefined || got.content.length === 0);
});

test('no-riak: siblings, then resolution with the vclock', async (t) => {
  const bucket = freshBucket('noriak-siblings');
  await state.noRiak.put({ bucket, key: 'k', content: { value: 'one' } });
  await state.noRiak.put({ bucket, key: 'k', content: { value: 'two' } });
  const both = await state.noRiak.get({ bucket, key: 'k' });
  t.deepEqual(both!.content!.map((c) => String(c.value)).sort(), ['one', 'two']);
  await state.noRiak.put({ bucket, key: 'k', vclock: both!.vclock, content: { value: 'resolved' } });
  const resolved = await state.noRiak.get({ bucket, key: 'k' });
  t.deepEqual(resolved!.content!.map((c) => String(c.value)), ['resolved']);
});

test('no-riak: delete with the vclock, then not found', async (t) => {
  const bucket = freshBucket('noriak-delete');
  await state.noRiak.put({ bucket, key: 'k', content: { value: 'v' } });
  const got = await state.noRiak.get({ bucket, key: 'k' });
  await state.noRiak.del({ bucket, key: 'k', vclock: got!.vclock });
  const after = await state.noRiak.get({ bucket, key: 'k' });
  t.true(after === null || after.content === undefined || after.content.length === 0);
});

test('no-riak: if_none_match and if_not_modified fail with Riak\'s messages', async (t) => {
  const bucket = freshBucket('noriak-conditional');
  await state.noRiak.put({ bucket, key: 'k', if_none_match: true, content: { value: 'first' } });
  t.is(await errorOf(state.noRiak.put({ bucket, key: 'k', if_none_match: true, content: { value: 'second' } })), 'match_found');
  const stale = (await state.noRiak.get({ bucket, key: 'k' }))!.vclock;
  await state.noRiak.put({ bucket, key: 'k', vclock: stale, content: { value: 'moved on' } });
  t.is(await errorOf(state.noRiak.put({ bucket, key: 'k', vclock: stale, if_not_modified: true, content: { value: 'late' } })), 'modified');
});

test('no-riak: return_body and a generated key', async (t) => {
  const bucket = freshBucket('noriak-body');
  const body = await state.noRiak.put({ bucket, key: 'k', return_body: true, content: { value: 'body' } });
  t.deepEqual(body!.content!.map((c) => String(c.value)), ['body']);
  const generated = await state.noRiak.put({ bucket, content: { value: 'generated' } });
  t.regex(generated!.key ?? '', /^[A-Za-z0-9_-]+$/);
  const got = await state.noRiak.get({ bucket, key: generated!.key });
  t.is(String(got!.content![0]!.value), 'generated');
});

test('no-riak: list keys leaves out deleted keys; list buckets', async (t) => {
  const bucket = freshBucket('noriak-list');
  for (const key of ['x', 'y', 'z']) await state.noRiak.put({ bucket, key, content: { value: key } });
  await state.noRiak.del({ bucket, key: 'y' });
  t.deepEqual((await state.noRiak.listKeys({ bucket })).sort(), ['x', 'z']);
  t.true((await state.noRiak.listBuckets()).includes(bucket));
});

test('no-riak: bucket properties; setting the current ones succeeds, a change is refused', async (t) => {
  const bucket = freshBucket('noriak-props');
  const { props } = (await state.noRiak.getBucket({ bucket })) as { props: Record<string, unknown> };
  t.is(props['n_val'], 3);
  t.is(props['allow_mult'], true);
  t.is(props['r'], 'quorum');
  t.is(props['pr'], 0);
  await t.notThrowsAsync(state.noRiak.setBucket({ bucket, props: { allow_mult: true, r: 'quorum' } }));
  t.regex(await errorOf(state.noRiak.setBucket({ bucket, props: { n_val: 5 } })), /per bucket type; change the type instead.*n_val/);
});

test('no-riak: an unknown bucket type and a data-type request on a type without one are errors with clear messages', async (t) => {
  t.regex(await errorOf(state.noRiak.get({ type: 'nope', bucket: 'b', key: 'k' })), /unknown_bucket_type.*"nope"/);
  t.regex(await errorOf(state.noRiak.listKeys({ type: 'nope', bucket: 'b' })), /unknown_bucket_type.*"nope"/);
  t.regex(await errorOf(state.noRiak.dtFetch({ type: 'default', bucket: 'b', key: 'k' })), /holds no data type/);
});
