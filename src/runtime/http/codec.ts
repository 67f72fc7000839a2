// The HTTP wire form of what KvService speaks: causal contexts as base64url header text, user
// metadata as X-Ringkv-Meta-* headers, one sibling as a raw body with headers, several as the
// 300 JSON document. Pure translation: it never decides what a context means or which sibling wins.

import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { type Result, fail, ok } from '../../core/errors.js';
import type { Content, UserMeta } from '../../core/kv.js';

export const contextHeader = 'X-Ringkv-Context';
export const metaHeaderPrefix = 'x-ringkv-meta-';
export const defaultContentType = 'application/octet-stream';

const base64url = /^[A-Za-z0-9_-]*={0,2}$/;
const nonAscii = /[^\x00-\x7f]/;
/** What Node accepts in a header value once it is latin1 text: no control characters but tab. */
const unsafeHeaderValue = /[^\t\x20-\x7e\x80-\xff]/;
const headerToken = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const utf8Strict = new TextDecoder('utf-8', { fatal: true });

function bufferOf(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export function encodeContextHeader(context: Uint8Array): string {
  return bufferOf(context).toString('base64url');
}

/**
 * The context bytes of a header value; undefined when absent or empty (a blind write). The
 * bytes are copied out of Buffer's shared pool so that nothing downstream pins a pool slab.
 */
export function decodeContextHeader(name: string, text: string | readonly string[] | undefined): Result<Uint8Array | undefined> {
  if (text === undefined || text === '') return ok(undefined);
  // Node joins repeated headers with ", ", which no base64url text contains.
  if (typeof text !== 'string') return fail('invalid_request', `${name}: give one context, not several`);
  const trimmed = text.length > 1 && text.startsWith('"') && text.endsWith('"') ? text.slice(1, -1) : text;
  if (!base64url.test(trimmed) || trimmed.replace(/=+$/, '').length % 4 === 1) {
    return fail('invalid_request', `${name}: not a base64url context; pass back the context exactly as a read returned it`);
  }
  return ok(new Uint8Array(Buffer.from(trimmed, 'base64url')));
}

/** Header text is latin1 on the wire; metadata is UTF-8 text, so non-ASCII is carried as UTF-8 bytes. */
export function textFromHeader(name: string, value: string): Result<string> {
  if (!nonAscii.test(value)) return ok(value);
  try {
    return ok(utf8Strict.decode(Buffer.from(value, 'latin1')));
  } catch {
    return fail('invalid_request', `${name}: header value is not valid UTF-8`);
  }
}

/** The latin1 header text carrying `value` as UTF-8, or undefined when no header can carry it. */
export function textToHeader(value: string): string | undefined {
  const wire = nonAscii.test(value) ? Buffer.from(value, 'utf8').toString('latin1') : value;
  return unsafeHeaderValue.test(wire) ? undefined : wire;
}

export function userMetaFromHeaders(headers: IncomingHttpHeaders): Result<UserMeta[]> {
  const meta: UserMeta[] = [];
  for (const name in headers) {
    if (!name.startsWith(metaHeaderPrefix)) continue;
    const key = name.slice(metaHeaderPrefix.length);
    if (key === '') return fail('invalid_request', `${name}: a metadata header needs a name after ${metaHeaderPrefix}`);
    const raw = headers[name];
    for (const value of Array.isArray(raw) ? raw : [raw ?? '']) {
      const text = textFromHeader(name, value);
      if (!text.ok) return text;
      meta.push({ key, value: text.value });
    }
  }
  return ok(meta);
}

/** When the value read expires, in ms since the epoch (docs/ttl.md); absent: never. */
export const expiresAtHeader = 'X-Ringkv-Expires-At-Ms';

/**
 * Headers of a single-value answer. Metadata or a content type that no header can carry (written
 * through another front end with control characters) is left out rather than failing the read;
 * the 300 JSON form carries any text.
 */
export function contentHeaders(content: Content, context: Uint8Array): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = {
    'Content-Type': textToHeader(content.contentType) ?? defaultContentType,
    'Content-Length': content.value.byteLength,
    [contextHeader]: encodeContextHeader(context),
    'Last-Modified': new Date(content.lastModifiedMs).toUTCString(),
    ETag: `"${content.vtag}"`,
    ...(content.expiresAtMs === undefined ? {} : { [expiresAtHeader]: String(content.expiresAtMs) }),
  };
  for (const m of content.userMeta) {
    const value = textToHeader(m.value);
    if (value === undefined || !headerToken.test(m.key)) continue;
    const name = `X-Ringkv-Meta-${m.key}`;
    const previous = headers[name];
    headers[name] = previous === undefined ? value : [...(Array.isArray(previous) ? previous : [String(previous)]), value];
  }
  return headers;
}

/** The 300 Multiple Choices document: every live sibling, and the context that supersedes them all. */
export function siblingsDocument(contents: readonly Content[], context: Uint8Array): string {
  return JSON.stringify({
    context: encodeContextHeader(context),
    siblings: contents.map((c) => ({
      value_base64: bufferOf(c.value).toString('base64'),
      content_type: c.contentType,
      last_modified: new Date(c.lastModifiedMs).toISOString(),
      vtag: c.vtag,
      ...(c.expiresAtMs === undefined ? {} : { expires_at_ms: c.expiresAtMs }),
      user_meta: Object.fromEntries(c.userMeta.map((m) => [m.key, m.value])),
    })),
  });
}
