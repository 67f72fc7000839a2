// The data-type operations of the HTTP API: GET reads a counter or set as a JSON document, POST
// applies a JSON update. Each is one KvService call; merging, contexts and every check on the
// update's meaning stay behind KvService. Set elements are bytes: JSON carries them as UTF-8 text
// (`add`, `remove`, `value`) or as base64 (`add_base64`, `remove_base64`, `value_base64`).

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { DatatypeValue } from '../../core/datatype.js';
import { type KvError, type Result, fail, ok } from '../../core/errors.js';
import type { DatatypeUpdate, ObjectKey } from '../../core/kv.js';
import { declaredLengthOver, readBody } from './body.js';
import { decodeContextHeader, encodeContextHeader } from './codec.js';
import { sendError } from './errors.js';
import type { KeyHandlerDeps } from './key-handlers.js';
import { putOptions, readOptions } from './query.js';

const utf8Strict = new TextDecoder('utf-8', { fatal: true });
const utf8Encoder = new TextEncoder();
const updateFields = ['increment', 'add', 'remove', 'add_base64', 'remove_base64', 'context'];

function sendFailure(res: ServerResponse, failed: { readonly error: KvError }): void {
  sendError(res, failed.error.code, failed.error.message);
}

function sendJson(res: ServerResponse, status: number, document: unknown): void {
  const body = JSON.stringify(document);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

/** A set's elements as UTF-8 text when every one is valid UTF-8, always also as base64. */
export function valueDocument(value: DatatypeValue): Record<string, unknown> {
  if (value.type === 'counter') return { type: 'counter', value: value.value };
  const base64 = value.value.map((e) => Buffer.from(e.buffer, e.byteOffset, e.byteLength).toString('base64'));
  const texts: string[] = [];
  for (const element of value.value) {
    try {
      texts.push(utf8Strict.decode(element));
    } catch {
      return { type: 'set', value_base64: base64, context: encodeContextHeader(value.context) };
    }
  }
  return { type: 'set', value: texts, value_base64: base64, context: encodeContextHeader(value.context) };
}

export async function handleDatatypeFetch(deps: KeyHandlerDeps, key: ObjectKey, search: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const options = readOptions(search, req.method ?? 'GET');
  if (!options.ok) return sendFailure(res, options);
  const result = await deps.kv.fetchDatatype({ ...options.value, key });
  if (!result.ok) return sendFailure(res, result);
  if (result.value.value === undefined) return sendError(res, 'not_found', `the key holds no ${result.value.datatype}`);
  return sendJson(res, 200, valueDocument(result.value.value));
}

export async function handleDatatypeUpdate(deps: KeyHandlerDeps, key: ObjectKey, search: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const options = putOptions(search, 'POST');
  if (!options.ok) return sendFailure(res, options);
  if (options.value.ifNoneMatch !== undefined || req.headers['if-none-match'] !== undefined) return sendError(res, 'invalid_request', 'a data-type update takes no if_none_match (If-None-Match)');
  if (options.value.overwrite === true) return sendError(res, 'invalid_request', 'a data-type update takes no overwrite: updates merge, they never supersede');
  if (req.headers['if-match'] !== undefined) return sendError(res, 'invalid_request', 'a data-type update takes no If-Match: updates merge, they need no precondition');
  if (options.value.ttlMs !== undefined) return sendError(res, 'invalid_request', 'a data-type update takes no ttl_ms: counters and sets do not expire');
  if (declaredLengthOver(req, deps.maxRequestBodyBytes)) return sendError(res, 'value_too_large', `the body is over ${deps.maxRequestBodyBytes} bytes`);
  const body = await readBody(req, deps.maxRequestBodyBytes);
  if (body.kind === 'aborted') return;
  if (body.kind === 'too_large') return sendError(res, 'value_too_large', `the body is over ${deps.maxRequestBodyBytes} bytes`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(body.bytes).toString('utf8'));
  } catch (error) {
    return sendError(res, 'malformed_json', `the request body is not JSON: ${(error as Error).message}`);
  }
  const update = updateOf(parsed);
  if (!update.ok) return sendFailure(res, update);
  const { returnBody, ifNoneMatch: _unused, overwrite: _never, ...writeOptions } = options.value;
  const result = await deps.kv.updateDatatype({ ...writeOptions, key, update: update.value, returnBody: returnBody ?? false });
  if (!result.ok) return sendFailure(res, result);
  if (result.value.value === undefined) {
    res.writeHead(204);
    res.end();
    return;
  }
  return sendJson(res, 200, valueDocument(result.value.value));
}

/** {"increment": n} for a counter; {"add": [...], "remove": [...], "context": "..."} for a set. */
function updateOf(body: unknown): Result<DatatypeUpdate> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return fail('invalid_request', 'the body must be a JSON object such as {"increment": 1} or {"add": ["x"]}');
  const fields = body as Record<string, unknown>;
  const unknown = Object.keys(fields).filter((name) => !updateFields.includes(name));
  if (unknown.length > 0) return fail('invalid_request', `unknown field${unknown.length > 1 ? 's' : ''} ${unknown.map((n) => JSON.stringify(n)).join(', ')} (accepted: ${updateFields.join(', ')})`);
  if (fields['increment'] !== undefined) {
    if (Object.keys(fields).length > 1) return fail('invalid_request', 'a counter update is {"increment": n} alone');
    const increment = fields['increment'];
    if (typeof increment !== 'number' || !Number.isSafeInteger(increment)) return fail('invalid_request', `increment must be a safe integer, got ${JSON.stringify(increment)}`);
    return ok({ type: 'counter', increment });
  }
  const adds = elementsOf(fields, 'add', 'add_base64');
  if (!adds.ok) return adds;
  const removes = elementsOf(fields, 'remove', 'remove_base64');
  if (!removes.ok) return removes;
  if (adds.value.length + removes.value.length === 0) return fail('invalid_request', 'the body names no update: give "increment" for a counter, or "add"/"remove" for a set');
  const context = fields['context'];
  if (context !== undefined && typeof context !== 'string') return fail('invalid_request', 'context must be the string a read returned');
  const decoded = decodeContextHeader('context', context);
  if (!decoded.ok) return decoded;
  return ok({ type: 'set', adds: adds.value, removes: removes.value, ...(decoded.value === undefined ? {} : { context: decoded.value }) });
}

function elementsOf(fields: Record<string, unknown>, textName: string, base64Name: string): Result<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for (const [name, encode] of [
    [textName, (s: string) => utf8Encoder.encode(s)],
    [base64Name, strictBase64],
  ] as const) {
    const list = fields[name];
    if (list === undefined) continue;
    if (!Array.isArray(list) || !list.every((e) => typeof e === 'string')) return fail('invalid_request', `${name} must be an array of strings`);
    for (const [i, text] of (list as string[]).entries()) {
      const element = encode(text);
      if (element === undefined) return fail('invalid_request', `${name}[${i}] is not standard base64 (A-Z, a-z, 0-9, '+', '/', padded with '=' to a multiple of 4 characters): ${JSON.stringify(text.slice(0, 64))}`);
      out.push(element);
    }
  }
  return ok(out);
}

/** Standard base64 (RFC 4648 §4) with its padding, or undefined: Buffer.from alone skips what it cannot read. */
function strictBase64(text: string): Uint8Array | undefined {
  if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(text)) return undefined;
  const decoded = Buffer.from(text, 'base64');
  // Unused bits of the last character must be zero, so that one member has one spelling.
  if (decoded.toString('base64') !== text) return undefined;
  return new Uint8Array(decoded);
}
