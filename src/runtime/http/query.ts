// Parses a key request's query string into KvService options: syntax only (an integer, a
// quorum word, true/false). Ranges (r ≤ n_val, timeout_ms ≤ the node's maximum) are KvService's
// to check, so every front end rejects the same values with the same messages. A parameter the
// operation does not take is an error naming it, never silently ignored.

import { type Result, fail, ok } from '../../core/errors.js';
import type { Quorum, ReadOptions, WriteOptions } from '../../core/kv.js';

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

export interface PutOptions extends WriteOptions {
  readonly returnBody?: boolean;
  readonly ifNoneMatch?: boolean;
  /** ttl_ms: the value expires this long after the write; 0: never (docs/ttl.md). */
  readonly ttlMs?: number;
  /** overwrite: supersede what the coordinating replica holds, without a context (docs/versions.md). */
  readonly overwrite?: boolean;
}

const readNames = ['r', 'pr', 'n_val', 'timeout_ms', 'notfound_ok', 'basic_quorum', 'sloppy_quorum'] as const;
const putNames = ['w', 'dw', 'pw', 'n_val', 'timeout_ms', 'return_body', 'if_none_match', 'sloppy_quorum', 'ttl_ms', 'overwrite'] as const;
const deleteNames = ['w', 'dw', 'pw', 'n_val', 'timeout_ms', 'sloppy_quorum'] as const;
const flagFields = { notfound_ok: 'notfoundOk', basic_quorum: 'basicQuorum', sloppy_quorum: 'sloppyQuorum', return_body: 'returnBody', if_none_match: 'ifNoneMatch', overwrite: 'overwrite' } as const;
const emptyOptions: Result<{}> = ok({});
const digits = /^\d+$/;

/** The [name, value] pairs of a query string, when every name is one of `names` and none repeats. */
function splitQuery(search: string, names: readonly string[], operation: string): Result<Array<[string, string]>> {
  const pairs: Array<[string, string]> = [];
  const unknown: string[] = [];
  for (const piece of search.split('&')) {
    if (piece === '') continue;
    const eq = piece.indexOf('=');
    let name = eq < 0 ? piece : piece.slice(0, eq);
    let value = eq < 0 ? '' : piece.slice(eq + 1);
    try {
      if (/[%+]/.test(name)) name = decodeURIComponent(name.replace(/\+/g, ' '));
      if (/[%+]/.test(value)) value = decodeURIComponent(value.replace(/\+/g, ' '));
    } catch {
      return fail('invalid_request', `the query parameter ${JSON.stringify(piece)} has a malformed percent escape`);
    }
    if (!names.includes(name)) unknown.push(name);
    else if (pairs.some(([seen]) => seen === name)) return fail('invalid_request', `${name}: given more than once`);
    else pairs.push([name, value]);
  }
  if (unknown.length > 0) {
    const list = unknown.map((n) => JSON.stringify(n)).join(', ');
    const accepted = names.length === 0 ? 'none' : names.join(', ');
    return fail('invalid_request', `unknown query parameter${unknown.length > 1 ? 's' : ''} for ${operation}: ${list} (accepted: ${accepted})`);
  }
  return ok(pairs);
}

function parseQuorum(name: string, text: string): Result<Quorum> {
  if (text === 'one' || text === 'quorum' || text === 'all' || text === 'default') return ok(text);
  const value = Number(text);
  if (digits.test(text) && Number.isSafeInteger(value)) return ok(value);
  return fail('invalid_request', `${name}: must be a non-negative integer or one of one, quorum, all, default, got ${JSON.stringify(text)}`);
}

function parseCount(name: string, text: string): Result<number> {
  const value = Number(text);
  if (digits.test(text) && Number.isSafeInteger(value)) return ok(value);
  return fail('invalid_request', `${name}: must be a non-negative integer, got ${JSON.stringify(text)}`);
}

function parseFlag(name: string, text: string): Result<boolean> {
  if (text === 'true') return ok(true);
  if (text === 'false') return ok(false);
  return fail('invalid_request', `${name}: must be true or false, got ${JSON.stringify(text)}`);
}

/** Options of GET and HEAD. */
export function readOptions(search: string, operation: string): Result<ReadOptions> {
  if (search === '') return emptyOptions;
  const pairs = splitQuery(search, readNames, operation);
  if (!pairs.ok) return pairs;
  const out: Mutable<ReadOptions> = {};
  for (const [name, text] of pairs.value) {
    if (name === 'r' || name === 'pr') {
      const q = parseQuorum(name, text);
      if (!q.ok) return q;
      out[name] = q.value;
    } else if (name === 'n_val' || name === 'timeout_ms') {
      const n = parseCount(name, text);
      if (!n.ok) return n;
      out[name === 'n_val' ? 'nVal' : 'timeoutMs'] = n.value;
    } else {
      const f = parseFlag(name, text);
      if (!f.ok) return f;
      out[flagFields[name as 'notfound_ok' | 'basic_quorum' | 'sloppy_quorum']] = f.value;
    }
  }
  return ok(out);
}

function writeOptionsOf(pairs: ReadonlyArray<[string, string]>): Result<Mutable<PutOptions>> {
  const out: Mutable<PutOptions> = {};
  for (const [name, text] of pairs) {
    if (name === 'w' || name === 'dw' || name === 'pw') {
      const q = parseQuorum(name, text);
      if (!q.ok) return q;
      out[name] = q.value;
    } else if (name === 'ttl_ms' && /^-?\d+$/.test(text)) {
      // Any integer: its range is the service's to judge, in the same words for every front end.
      out.ttlMs = Number(text);
    } else if (name === 'n_val' || name === 'timeout_ms' || name === 'ttl_ms') {
      const n = parseCount(name, text);
      if (!n.ok) return n;
      out[name === 'n_val' ? 'nVal' : name === 'ttl_ms' ? 'ttlMs' : 'timeoutMs'] = n.value;
    } else {
      const f = parseFlag(name, text);
      if (!f.ok) return f;
      out[flagFields[name as 'return_body' | 'if_none_match' | 'sloppy_quorum' | 'overwrite']] = f.value;
    }
  }
  return ok(out);
}

/** Options of PUT and POST. */
export function putOptions(search: string, operation: string): Result<PutOptions> {
  if (search === '') return emptyOptions;
  const pairs = splitQuery(search, putNames, operation);
  return pairs.ok ? writeOptionsOf(pairs.value) : pairs;
}

/** Options of DELETE. */
export function deleteOptions(search: string): Result<WriteOptions> {
  if (search === '') return emptyOptions;
  const pairs = splitQuery(search, deleteNames, 'DELETE');
  return pairs.ok ? writeOptionsOf(pairs.value) : pairs;
}

/** Routes that take no parameters at all. */
export function noOptions(search: string, operation: string): Result<{}> {
  if (search === '') return emptyOptions;
  const pairs = splitQuery(search, [], operation);
  return pairs.ok ? emptyOptions : pairs;
}
