// The pure parts of the HTTP front end: path matching and percent-decoding, query parsing, and
// the context and metadata header codecs.

import test from 'ava';
import { decodeContextHeader, encodeContextHeader, siblingsDocument, textFromHeader, textToHeader } from '../../../src/runtime/http/codec.js';
import { statusOfCode } from '../../../src/runtime/http/errors.js';
import { deleteOptions, putOptions, readOptions } from '../../../src/runtime/http/query.js';
import { decodeSegment, matchRoute } from '../../../src/runtime/http/routes.js';

const text = (bytes: Uint8Array): string => Buffer.from(bytes).toString('latin1');

test('routes: untyped and typed key routes, the bucket route, ping and stats', (t) => {
  const untyped = matchRoute('/v1/buckets/b/keys/k');
  t.true(untyped.ok && untyped.value.kind === 'key' && untyped.value.key.type === 'default' && text(untyped.value.key.key) === 'k');
  const typed = matchRoute('/v1/types/t%C3%A9/buckets/b/keys/k');
  t.true(typed.ok && typed.value.kind === 'key' && typed.value.key.type === 'té');
  const keys = matchRoute('/v1/types/t/buckets/b%20c/keys');
  t.true(keys.ok && keys.value.kind === 'keys' && keys.value.locationPrefix === '/v1/types/t/buckets/b%20c/keys/' && text(keys.value.bucket) === 'b c');
  const untypedKeys = matchRoute('/v1/buckets/b/keys');
  t.true(untypedKeys.ok && untypedKeys.value.kind === 'keys' && untypedKeys.value.type === 'default' && untypedKeys.value.locationPrefix === '/v1/buckets/b/keys/');
  t.like(matchRoute('/v1/ping'), { ok: true, value: { kind: 'ping' } });
  t.like(matchRoute('/v1/stats'), { ok: true, value: { kind: 'stats' } });
  for (const path of ['/', '/v1', '/v1/', '/v1/ping/', '/v1/buckets/b', '/v1/buckets/b/keys/k/', '/v1/types/t/keys/k', '/v1/buckets/b/values/k', '/v2/ping']) {
    t.like(matchRoute(path), { ok: true, value: { kind: 'none' } }, path);
  }
});

test('routes: segments decode to bytes; malformed escapes and non-UTF-8 type names fail', (t) => {
  t.is(text((decodeSegment('key', 'a%2Fb%ff%00') as { value: Uint8Array }).value), 'a/b\xff\x00');
  t.deepEqual([...(decodeSegment('key', 'é') as { value: Uint8Array }).value], [0xe9], 'Node hands raw URL bytes over as latin1');
  t.deepEqual([...(decodeSegment('key', '€') as { value: Uint8Array }).value], [0xe2, 0x82, 0xac]);
  t.deepEqual([...(decodeSegment('key', '😀') as { value: Uint8Array }).value], [0xf0, 0x9f, 0x98, 0x80]);
  for (const bad of ['%', '%4', '%g0', 'a%zzb']) t.like(decodeSegment('key', bad), { ok: false, error: { code: 'invalid_request' } }, bad);
  t.like(matchRoute('/v1/types/%FF/buckets/b/keys/k'), { ok: false, error: { code: 'invalid_request' } });
  t.like(matchRoute('/v1/buckets/b/keys/%G1'), { ok: false, error: { code: 'invalid_request' } });
});

test('query: read options parse every parameter with its type', (t) => {
  t.deepEqual(readOptions('', 'GET'), { ok: true, value: {} });
  t.deepEqual(readOptions('r=one&pr=0&n_val=3&timeout_ms=10&notfound_ok=true&basic_quorum=false&', 'GET'), {
    ok: true,
    value: { r: 'one', pr: 0, nVal: 3, timeoutMs: 10, notfoundOk: true, basicQuorum: false },
  });
  t.deepEqual(readOptions('r=%71uorum', 'GET'), { ok: true, value: { r: 'quorum' } });
  for (const [search, name] of [['r=', 'r'], ['r', 'r'], ['pr=1e3', 'pr'], ['n_val=-1', 'n_val'], ['timeout_ms=99999999999999999999', 'timeout_ms'], ['basic_quorum=1', 'basic_quorum']] as const) {
    const result = readOptions(search, 'GET');
    t.false(result.ok, search);
    if (!result.ok) t.true(result.error.message.startsWith(`${name}: `), result.error.message);
  }
  const bad = readOptions('r=%zz', 'GET');
  t.like(bad, { ok: false, error: { code: 'invalid_request' } });
});

test('query: write and delete options, and what each operation refuses', (t) => {
  t.deepEqual(putOptions('w=all&dw=2&pw=default&return_body=true&if_none_match=false', 'PUT'), {
    ok: true,
    value: { w: 'all', dw: 2, pw: 'default', returnBody: true, ifNoneMatch: false },
  });
  t.deepEqual(deleteOptions('w=1&n_val=2'), { ok: true, value: { w: 1, nVal: 2 } });
  const refused = deleteOptions('return_body=true&x=1');
  t.false(refused.ok);
  if (!refused.ok) t.is(refused.error.message, 'unknown query parameters for DELETE: "return_body", "x" (accepted: w, dw, pw, n_val, timeout_ms, sloppy_quorum)');
  t.like(putOptions('r=1', 'POST'), { ok: false, error: { code: 'invalid_request' } });
});

test('codec: contexts round-trip as base64url; malformed text is invalid_request', (t) => {
  const bytes = new Uint8Array([1, 2, 250, 251, 252, 253, 254, 255]);
  const header = encodeContextHeader(bytes);
  t.regex(header, /^[A-Za-z0-9_-]+$/);
  t.deepEqual(decodeContextHeader('h', header), { ok: true, value: bytes });
  t.deepEqual(decodeContextHeader('h', `"${header}"`), { ok: true, value: bytes });
  t.deepEqual(decodeContextHeader('h', undefined), { ok: true, value: undefined });
  t.deepEqual(decodeContextHeader('h', ''), { ok: true, value: undefined });
  for (const bad of ['a+b/', 'abcde', 'a b', 'ab,cd']) t.like(decodeContextHeader('h', bad), { ok: false, error: { code: 'invalid_request' } }, bad);
  t.like(decodeContextHeader('h', ['AQ', 'AQ']), { ok: false, error: { code: 'invalid_request' } });
  // Decoded bytes own their buffer (not a view into Buffer's shared pool).
  const decoded = decodeContextHeader('h', header);
  t.true(decoded.ok && decoded.value!.buffer.byteLength === bytes.length);
});

test('codec: header text carries UTF-8; text no header can carry is refused', (t) => {
  const wire = textToHeader('café');
  t.is(wire, Buffer.from('café', 'utf8').toString('latin1'));
  t.deepEqual(textFromHeader('h', wire!), { ok: true, value: 'café' });
  t.deepEqual(textFromHeader('h', 'plain'), { ok: true, value: 'plain' });
  t.like(textFromHeader('h', '\xff\xfe'), { ok: false, error: { code: 'invalid_request' } });
  t.is(textToHeader('line\nbreak'), undefined);
});

test('codec: the siblings document lists every sibling with its context', (t) => {
  const doc = JSON.parse(
    siblingsDocument(
      [{ value: new Uint8Array([104, 105]), contentType: 'text/plain', userMeta: [{ key: 'a', value: 'b' }], lastModifiedMs: 0, vtag: 'n.1', deleted: false }],
      new Uint8Array([1]),
    ),
  );
  t.deepEqual(doc, {
    context: 'AQ',
    siblings: [{ value_base64: 'aGk=', content_type: 'text/plain', last_modified: '1970-01-01T00:00:00.000Z', vtag: 'n.1', user_meta: { a: 'b' } }],
  });
});

test('errors: the status table', (t) => {
  t.like(statusOfCode, { not_found: 404, method_not_allowed: 405, malformed_json: 400, internal_error: 500, too_many_siblings: 409, key_too_large: 400 });
});
