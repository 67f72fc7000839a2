// The behaviour of the HTTP API that holds for any KvService behind it, written against a base
// URL so the same tests run over the in-memory double and over a real node. Each test uses its
// own bucket, so a target may be shared between tests.

import type { ExecutionContext, TestFn } from 'ava';
import { type KeyAddress, bucketUrl, contextHeader, del, errorOf, get, keyUrl, put, siblingValues, siblingsOf } from './client.js';

export interface HttpTarget {
  readonly url: string;
  close(): Promise<void>;
}

let buckets = 0;

/** A bucket no other test (in this process) uses. */
export function freshBucket(t: ExecutionContext): string {
  const slug = t.title.toLowerCase().replace(/[^a-z0-9]+/g, '-').slice(0, 40);
  return `b${process.pid}-${++buckets}-${slug}`;
}

export function registerHttpKvContract(test: TestFn, start: () => Promise<HttpTarget>, prefix = 'http contract'): void {
  const withTarget = (title: string, body: (t: ExecutionContext, base: string, at: (key: string) => KeyAddress) => Promise<void>): void => {
    test(`${prefix}: ${title}`, async (t) => {
      const target = await start();
      t.teardown(() => target.close());
      const bucket = freshBucket(t);
      await body(t, target.url, (key) => ({ bucket, key }));
    });
  };

  withTarget('ping answers ok', async (t, base) => {
    const response = await fetch(`${base}/v1/ping`);
    t.is(response.status, 200);
    t.deepEqual(await response.json(), { ok: true });
  });

  withTarget('a value written is read back with its type, context, dates, vtag and metadata', async (t, base, at) => {
    const written = await put(base, at('k'), 'hello', { contentType: 'text/plain; charset=utf-8', headers: { 'X-Ringkv-Meta-Colour': 'blue' } });
    t.is(written.status, 204);
    t.truthy(written.headers.get(contextHeader));
    const read = await get(base, at('k'));
    t.is(read.status, 200);
    t.is(await read.text(), 'hello');
    t.is(read.headers.get('content-type'), 'text/plain; charset=utf-8');
    t.is(read.headers.get('x-ringkv-meta-colour'), 'blue');
    t.regex(read.headers.get(contextHeader) ?? '', /^[A-Za-z0-9_-]+$/);
    t.false(Number.isNaN(Date.parse(read.headers.get('last-modified') ?? '')));
    t.regex(read.headers.get('etag') ?? '', /^".+"$/);
  });

  withTarget('a value without a content type is application/octet-stream, and binary bytes survive', async (t, base, at) => {
    const bytes = new Uint8Array([0, 255, 1, 254, 10, 13]);
    const written = await fetch(keyUrl(base, at('bin')), { method: 'PUT', body: bytes });
    t.is(written.status, 204);
    const read = await get(base, at('bin'));
    t.is(read.status, 200);
    t.deepEqual(new Uint8Array(await read.arrayBuffer()), bytes);
    t.is(read.headers.get('content-type'), 'application/octet-stream');
  });

  withTarget('two blind writes leave two siblings; a write with their context resolves them', async (t, base, at) => {
    t.is((await put(base, at('k'), 'one')).status, 204);
    t.is((await put(base, at('k'), 'two')).status, 204);
    const conflicted = await get(base, at('k'));
    t.is(conflicted.status, 300);
    t.is(conflicted.headers.get('content-type'), 'application/json');
    const body = await siblingsOf(conflicted);
    t.deepEqual(siblingValues(body), ['one', 'two']);
    t.is(conflicted.headers.get(contextHeader), body.context);
    for (const sibling of body.siblings) {
      t.is(sibling.content_type, 'text/plain');
      t.is(new Date(sibling.last_modified).toISOString(), sibling.last_modified);
      t.truthy(sibling.vtag);
      t.deepEqual(sibling.user_meta, {});
    }
    t.not(body.siblings[0]!.vtag, body.siblings[1]!.vtag);

    t.is((await put(base, at('k'), 'merged', { headers: { [contextHeader]: body.context } })).status, 204);
    const resolved = await get(base, at('k'));
    t.is(resolved.status, 200);
    t.is(await resolved.text(), 'merged');
  });

  withTarget('a key never written is 404 not_found without a context', async (t, base, at) => {
    const read = await get(base, at('absent'));
    t.is(read.headers.get(contextHeader), null);
    t.like(await errorOf(read), { status: 404, code: 'not_found' });
  });

  withTarget('a delete with the context leaves a 404 that carries the tombstone context', async (t, base, at) => {
    await put(base, at('k'), 'v');
    const read = await get(base, at('k'));
    await read.arrayBuffer();
    const deleted = await del(base, at('k'), read.headers.get(contextHeader));
    t.is(deleted.status, 204);
    t.truthy(deleted.headers.get(contextHeader));
    const gone = await get(base, at('k'));
    const tombstoneContext = gone.headers.get(contextHeader);
    t.truthy(tombstoneContext);
    t.like(await errorOf(gone), { status: 404, code: 'not_found' });

    // Writing with the tombstone's context supersedes it: one value, no sibling.
    await put(base, at('k'), 'again', { headers: { [contextHeader]: tombstoneContext! } });
    const back = await get(base, at('k'));
    t.is(back.status, 200);
    t.is(await back.text(), 'again');
  });

  withTarget('HEAD answers like GET without a body', async (t, base, at) => {
    await put(base, at('k'), 'hello');
    const head = await fetch(keyUrl(base, at('k')), { method: 'HEAD' });
    t.is(head.status, 200);
    t.is(head.headers.get('content-length'), '5');
    t.truthy(head.headers.get(contextHeader));
    t.is(await head.text(), '');
    t.is((await fetch(keyUrl(base, at('absent')), { method: 'HEAD' })).status, 404);
  });

  withTarget('return_body answers 200 with the stored value, or 300 with the siblings', async (t, base, at) => {
    const first = await put(base, at('k'), 'one', { query: { return_body: 'true' } });
    t.is(first.status, 200);
    t.is(await first.text(), 'one');
    t.is(first.headers.get('content-type'), 'text/plain');
    t.truthy(first.headers.get(contextHeader));
    const second = await put(base, at('k'), 'two', { query: { return_body: 'true' } });
    t.is(second.status, 300);
    const body = await siblingsOf(second);
    t.deepEqual(siblingValues(body), ['one', 'two']);
    t.is(second.headers.get(contextHeader), body.context);
    const quiet = await put(base, at('k'), 'three', { query: { return_body: 'false' } });
    t.is(quiet.status, 204);
  });

  withTarget('POST stores under a generated key and answers 201 with its Location', async (t, base, at) => {
    const { bucket } = at('');
    for (const type of [undefined, 'default'] as const) {
      const posted = await fetch(bucketUrl(base, bucket, type), { method: 'POST', body: 'new', headers: { 'content-type': 'text/plain' } });
      t.is(posted.status, 201);
      t.truthy(posted.headers.get(contextHeader));
      const location = posted.headers.get('location') ?? '';
      const prefix = type === undefined ? `/v1/buckets/${bucket}/keys/` : `/v1/types/${type}/buckets/${bucket}/keys/`;
      t.true(location.startsWith(prefix), location);
      const read = await fetch(base + location);
      t.is(read.status, 200);
      t.is(await read.text(), 'new');
    }
  });

  withTarget('POST with return_body answers 201 with the value', async (t, base, at) => {
    const posted = await fetch(bucketUrl(base, at('').bucket, undefined, { return_body: 'true' }), { method: 'POST', body: 'new' });
    t.is(posted.status, 201);
    t.truthy(posted.headers.get('location'));
    t.is(await posted.text(), 'new');
  });

  withTarget('the typed route with type default is the untyped route', async (t, base, at) => {
    await put(base, at('k'), 'v');
    const read = await get(base, { ...at('k'), type: 'default' });
    t.is(read.status, 200);
    t.is(await read.text(), 'v');
  });

  withTarget('path segments are percent-decoded to bytes', async (t, base, at) => {
    const { bucket } = at('');
    const written = await fetch(`${base}/v1/buckets/${bucket}/keys/a%2Fb%FF%00`, { method: 'PUT', body: 'odd' });
    t.is(written.status, 204);
    t.is(await (await fetch(`${base}/v1/buckets/${bucket}/keys/a%2fb%ff%00`)).text(), 'odd');
    t.is((await fetch(`${base}/v1/buckets/${bucket}/keys/a%2Fb`)).status, 404);
    const utf8 = await put(base, at('ключ'), 'unicode');
    t.is(utf8.status, 204);
    t.is(await (await get(base, at('ключ'))).text(), 'unicode');
  });

  withTarget('overwrite=true replaces siblings without a context; with a context or If-Match it is 400', async (t, base, at) => {
    await put(base, at('k'), 'one');
    const second = await put(base, at('k'), 'two');
    t.is((await get(base, at('k'))).status, 300, 'two blind writes: siblings');
    t.is((await put(base, at('k'), 'three', { query: { overwrite: 'true' } })).status, 204);
    const read = await get(base, at('k'));
    t.is(read.status, 200);
    t.is(await read.text(), 'three');
    const context = second.headers.get(contextHeader)!;
    t.like(await errorOf(await put(base, at('k'), 'four', { query: { overwrite: 'true' }, headers: { [contextHeader]: context } })), { status: 400, code: 'invalid_request' });
    t.like(await errorOf(await put(base, at('k'), 'five', { query: { overwrite: 'true' }, headers: { 'If-Match': context } })), { status: 400, code: 'invalid_request' });
    t.like(await errorOf(await put(base, at('k'), 'six', { query: { overwrite: 'maybe' } })), { status: 400, code: 'invalid_request' });
    t.is(await (await get(base, at('k'))).text(), 'three', 'nothing written by the refused ones');
  });

  withTarget('If-None-Match: * writes once; the second write is 412 precondition_failed', async (t, base, at) => {
    t.is((await put(base, at('k'), 'first', { headers: { 'If-None-Match': '*' } })).status, 204);
    t.like(await errorOf(await put(base, at('k'), 'second', { headers: { 'If-None-Match': '*' } })), { status: 412, code: 'precondition_failed' });
    t.like(await errorOf(await put(base, at('k'), 'third', { query: { if_none_match: 'true' } })), { status: 412, code: 'precondition_failed' });
    t.is(await (await get(base, at('k'))).text(), 'first');
  });

  withTarget('If-Match with the current context writes; with a stale one it is 412', async (t, base, at) => {
    const first = await put(base, at('k'), 'one');
    const stale = first.headers.get(contextHeader)!;
    const second = await put(base, at('k'), 'two', { headers: { 'If-Match': stale } });
    t.is(second.status, 204);
    t.like(await errorOf(await put(base, at('k'), 'three', { headers: { 'If-Match': stale } })), { status: 412, code: 'precondition_failed' });
    const current = second.headers.get(contextHeader)!;
    t.is((await put(base, at('k'), 'four', { headers: { 'If-Match': `"${current}"` } })).status, 204);
    t.is(await (await get(base, at('k'))).text(), 'four');
  });

  withTarget('a quorum that is not a number or a quorum word is 400 naming the parameter', async (t, base, at) => {
    const read = await errorOf(await get(base, at('k'), { r: 'most' }));
    t.like(read, { status: 400, code: 'invalid_request' });
    t.regex(read.message, /^r: /);
    const write = await errorOf(await put(base, at('k'), 'v', { query: { w: '-1' } }));
    t.like(write, { status: 400, code: 'invalid_request' });
    t.regex(write.message, /^w: /);
    t.regex((await errorOf(await get(base, at('k'), { timeout_ms: '1.5' }))).message, /^timeout_ms: /);
    t.regex((await errorOf(await get(base, at('k'), { notfound_ok: 'yes' }))).message, /^notfound_ok: /);
  });

  withTarget('unknown query parameters are 400 naming them', async (t, base, at) => {
    const error = await errorOf(await get(base, at('k'), { r: '1', colour: 'blue', w: '2' }));
    t.like(error, { status: 400, code: 'invalid_request' });
    t.regex(error.message, /"colour"/);
    t.regex(error.message, /"w"/);
    t.notRegex(error.message, /"r"/);
    t.like(await errorOf(await fetch(`${base}/v1/ping?verbose=1`)), { status: 400, code: 'invalid_request' });
  });

  withTarget('a malformed context header is 400 invalid_request', async (t, base, at) => {
    for (const context of ['not base64!', 'AAAAA', 'QUJD']) {
      const error = await errorOf(await put(base, at('k'), 'v', { headers: { [contextHeader]: context } }));
      t.like(error, { status: 400, code: 'invalid_request' }, context);
    }
    t.like(await errorOf(await del(base, at('k'), '***')), { status: 400, code: 'invalid_request' });
  });

  withTarget('an unknown route is 404 and a wrong method is 405 with Allow', async (t, base, at) => {
    t.like(await errorOf(await fetch(`${base}/v2/ping`)), { status: 404, code: 'not_found' });
    t.like(await errorOf(await fetch(`${base}/v1/buckets/b/keys/k/extra`)), { status: 404, code: 'not_found' });
    const post = await fetch(keyUrl(base, at('k')), { method: 'POST', body: 'v' });
    t.is(post.headers.get('allow'), 'GET, HEAD, PUT, DELETE');
    t.like(await errorOf(post), { status: 405, code: 'method_not_allowed' });
    const list = await fetch(bucketUrl(base, at('').bucket));
    t.is(list.headers.get('allow'), 'POST');
    t.is(list.status, 405);
    await list.arrayBuffer();
  });

  withTarget('an unknown bucket type is 404 unknown_bucket_type', async (t, base, at) => {
    t.like(await errorOf(await get(base, { ...at('k'), type: 'no-such-type' })), { status: 404, code: 'unknown_bucket_type' });
  });

  withTarget('a malformed percent escape in the path is 400', async (t, base) => {
    t.like(await errorOf(await fetch(`${base}/v1/buckets/b/keys/a%zz`)), { status: 400, code: 'invalid_request' });
  });
}
