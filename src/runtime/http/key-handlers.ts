// The key operations of the HTTP API: GET/HEAD, PUT, POST and DELETE translated into one
// KvService call each, and the reply translated back. Everything about a request is checked
// before its body is read, and KvService is called only with a complete body; quorum,
// versioning and storage decisions stay behind KvService.

import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { KvError, Result } from '../../core/errors.js';
import type { Content, KvService, ObjectKey } from '../../core/kv.js';
import { declaredLengthOver, readBody } from './body.js';
import { contentHeaders, contextHeader, decodeContextHeader, defaultContentType, encodeContextHeader, siblingsDocument, userMetaFromHeaders } from './codec.js';
import { sendError } from './errors.js';
import { type PutOptions, deleteOptions, putOptions, readOptions } from './query.js';

export interface KeyHandlerDeps {
  readonly kv: KvService;
  readonly generateKey: () => string;
  readonly maxRequestBodyBytes: number;
}

interface Preconditions {
  readonly context: Uint8Array | undefined;
  readonly ifNoneMatch: boolean;
  readonly ifNotModified: boolean;
}

const utf8Encoder = new TextEncoder();

function sendFailure(res: ServerResponse, failed: { readonly error: KvError }): void {
  sendError(res, failed.error.code, failed.error.message);
}

/** A single value as 200/201, several as 300 with the JSON sibling list. */
function sendContents(res: ServerResponse, status: number, contents: readonly Content[], context: Uint8Array, extra?: OutgoingHttpHeaders): void {
  if (contents.length === 1) {
    const content = contents[0]!;
    res.writeHead(status, extra === undefined ? contentHeaders(content, context) : { ...contentHeaders(content, context), ...extra });
    res.end(content.value);
    return;
  }
  const body = siblingsDocument(contents, context);
  res.writeHead(300, {
    ...extra,
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(body),
    [contextHeader]: encodeContextHeader(context),
  });
  res.end(body);
}

export async function handleGet(deps: KeyHandlerDeps, key: ObjectKey, search: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const options = readOptions(search, req.method ?? 'GET');
  if (!options.ok) return sendFailure(res, options);
  const result = await deps.kv.get({ ...options.value, key });
  if (!result.ok) return sendFailure(res, result);
  const reply = result.value;
  if (!reply.found || reply.contents.length === 0) {
    // A deleted key still hands out its context, so a writer can supersede the tombstone.
    const headers = reply.context === undefined ? undefined : { [contextHeader]: encodeContextHeader(reply.context) };
    return sendError(res, 'not_found', 'the key has no value', headers);
  }
  sendContents(res, 200, reply.contents, reply.context);
}

/**
 * The write preconditions in the headers. If-None-Match: * is if_none_match; If-Match carries the
 * context the writer saw and asks that the stored one still be exactly it (if_not_modified).
 */
function writePreconditions(req: IncomingMessage, options: PutOptions): Result<Preconditions> {
  const headerContext = decodeContextHeader(contextHeader, req.headers['x-ringkv-context']);
  if (!headerContext.ok) return headerContext;
  const ifNoneMatchHeader = req.headers['if-none-match'];
  if (ifNoneMatchHeader !== undefined && ifNoneMatchHeader.trim() !== '*') {
    return { ok: false, error: { code: 'invalid_request', message: 'If-None-Match: only * is supported on writes' } };
  }
  const ifNoneMatch = options.ifNoneMatch === true || ifNoneMatchHeader !== undefined;
  const ifMatchHeader = req.headers['if-match'];
  if (ifMatchHeader === undefined) return { ok: true, value: { context: headerContext.value, ifNoneMatch, ifNotModified: false } };
  const ifMatch = decodeContextHeader('If-Match', ifMatchHeader.trim());
  if (!ifMatch.ok) return ifMatch;
  if (ifMatch.value === undefined) return { ok: false, error: { code: 'invalid_request', message: 'If-Match: needs the context the writer saw' } };
  if (headerContext.value !== undefined && Buffer.compare(headerContext.value, ifMatch.value) !== 0) {
    return { ok: false, error: { code: 'invalid_request', message: `If-Match and ${contextHeader} name different contexts` } };
  }
  return { ok: true, value: { context: ifMatch.value, ifNoneMatch, ifNotModified: true } };
}

/** PUT to a key, or POST to a bucket (`location` set: the key was generated here). */
async function write(
  deps: KeyHandlerDeps,
  key: ObjectKey,
  location: string | undefined,
  search: string,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const options = putOptions(search, req.method ?? 'PUT');
  if (!options.ok) return sendFailure(res, options);
  const preconditions = writePreconditions(req, options.value);
  if (!preconditions.ok) return sendFailure(res, preconditions);
  const userMeta = userMetaFromHeaders(req.headers);
  if (!userMeta.ok) return sendFailure(res, userMeta);
  const limitBytes = deps.maxRequestBodyBytes;
  const tooLargeMessage = `the request body is over the limit of ${limitBytes} bytes`;
  // The body is not read after a 413, so the connection cannot carry another request.
  if (declaredLengthOver(req, limitBytes)) return sendError(res, 'value_too_large', tooLargeMessage, { Connection: 'close' });
  if (req.headers.expect?.toLowerCase() === '100-continue') res.writeContinue();
  const body = await readBody(req, limitBytes);
  if (body.kind === 'aborted') return;
  if (body.kind === 'too_large') return sendError(res, 'value_too_large', tooLargeMessage, { Connection: 'close' });

  const { returnBody, ifNoneMatch: _ifNoneMatch, ...quorum } = options.value;
  const result = await deps.kv.put({
    ...quorum,
    key,
    context: preconditions.value.context,
    content: { value: body.bytes, contentType: req.headers['content-type'] || defaultContentType, userMeta: userMeta.value },
    returnBody: returnBody ?? false,
    ifNoneMatch: preconditions.value.ifNoneMatch,
    ifNotModified: preconditions.value.ifNotModified,
  });
  if (!result.ok) return sendFailure(res, result);
  const { context, contents } = result.value;
  const extra: OutgoingHttpHeaders = location === undefined ? {} : { Location: location };
  if (returnBody === true && contents !== undefined && contents.length > 0) {
    return sendContents(res, location === undefined ? 200 : 201, contents, context, extra);
  }
  extra[contextHeader] = encodeContextHeader(context);
  if (location === undefined) {
    res.writeHead(204, extra);
  } else {
    extra['Content-Length'] = 0;
    res.writeHead(201, extra);
  }
  res.end();
}

export function handlePut(deps: KeyHandlerDeps, key: ObjectKey, search: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  return write(deps, key, undefined, search, req, res);
}

/** POST to /…/keys: stores under a generated key and answers 201 with its Location. */
export function handlePost(
  deps: KeyHandlerDeps,
  route: { readonly type: string; readonly bucket: Uint8Array; readonly locationPrefix: string },
  search: string,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const generated = deps.generateKey();
  const key: ObjectKey = { type: route.type, bucket: route.bucket, key: utf8Encoder.encode(generated) };
  return write(deps, key, route.locationPrefix + encodeURIComponent(generated), search, req, res);
}

export async function handleDelete(deps: KeyHandlerDeps, key: ObjectKey, search: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const options = deleteOptions(search);
  if (!options.ok) return sendFailure(res, options);
  if (req.headers['if-match'] !== undefined || req.headers['if-none-match'] !== undefined) {
    return sendError(res, 'invalid_request', `DELETE takes no If-Match or If-None-Match; pass the context the reader saw in ${contextHeader}`);
  }
  const context = decodeContextHeader(contextHeader, req.headers['x-ringkv-context']);
  if (!context.ok) return sendFailure(res, context);
  const result = await deps.kv.delete({ ...options.value, key, context: context.value });
  if (!result.ok) return sendFailure(res, result);
  res.writeHead(204, { [contextHeader]: encodeContextHeader(result.value.context) });
  res.end();
}
