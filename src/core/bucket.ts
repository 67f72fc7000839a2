// Bucket-type properties and the resolution of a request's options against them and the node's
// limits. Everything a front end passes through is checked here, once, so that HTTP, protobuf and
// RESP reject the same bad values with the same codes and messages.

import { type Result, fail, ok } from './errors.js';
import type { Quorum, ReadOptions, WriteOptions } from './kv.js';

export type QuorumSetting = number | 'one' | 'quorum' | 'all';

export interface BucketProps {
  readonly nVal: number;
  readonly r: QuorumSetting;
  readonly w: QuorumSetting;
  readonly dw: QuorumSetting;
  readonly pr: QuorumSetting;
  readonly pw: QuorumSetting;
  readonly allowMult: boolean;
  readonly lastWriteWins: boolean;
  readonly notfoundOk: boolean;
  readonly basicQuorum: boolean;
  readonly maxSiblings?: number;
  /** Siblings above which a client write still succeeds but is logged and counted (soft bound). */
  readonly warnSiblings?: number;
  /** Encoded object size (all siblings) above which a client write is refused (hard bound). */
  readonly maxObjectBytes?: number;
  /** Encoded object size above which a client write is logged and counted (soft bound). */
  readonly warnObjectBytes?: number;
  /** The type holds a data type (CRDT) instead of opaque values; set when the type is created. */
  readonly datatype?: Datatype;
  /** Time to live given to every object written without its own, in ms (absent or 0: none). */
  readonly ttlMs?: number;
}

/** The data types (CRDTs) a bucket type may hold. */
export type Datatype = 'counter' | 'set';
export const datatypes: readonly Datatype[] = ['counter', 'set'];

export const riakDefaultProps: BucketProps = {
  nVal: 3,
  r: 'quorum',
  w: 'quorum',
  dw: 'quorum',
  pr: 0,
  pw: 0,
  allowMult: true,
  lastWriteWins: false,
  notfoundOk: true,
  basicQuorum: false,
};

export interface RequestLimits {
  readonly defaultTimeoutMs: number;
  readonly maxTimeoutMs: number;
  readonly maxSiblings: number;
  readonly warnSiblings: number;
  readonly maxObjectBytes: number;
  readonly warnObjectBytes: number;
  readonly partitions: number;
}

export interface ResolvedRead {
  readonly n: number;
  readonly r: number;
  readonly pr: number;
  readonly notfoundOk: boolean;
  readonly basicQuorum: boolean;
  readonly timeoutMs: number;
  readonly allowMult: boolean;
  /** Whether fallbacks may stand in for primaries on down nodes (default true). */
  readonly sloppyQuorum: boolean;
}

export interface ResolvedWrite {
  readonly n: number;
  readonly w: number;
  readonly dw: number;
  readonly pw: number;
  readonly timeoutMs: number;
  readonly maxSiblings: number;
  /** Soft bounds: a write above them succeeds but is logged and counted. */
  readonly warnSiblings: number;
  readonly warnObjectBytes: number;
  /** Hard bound on the encoded object a client write leaves. */
  readonly maxObjectBytes: number;
  /** The type's default time to live in ms (0: none). */
  readonly ttlMs: number;
  readonly datatype: Datatype | undefined;
  readonly lastWriteWins: boolean;
  readonly allowMult: boolean;
  readonly sloppyQuorum: boolean;
}

function resolveQuorum(name: string, value: Quorum | undefined, fallback: QuorumSetting, n: number, min: number): Result<number> {
  const setting = value === undefined || value === 'default' ? fallback : value;
  let count: number;
  if (setting === 'one') count = 1;
  else if (setting === 'quorum') count = Math.floor(n / 2) + 1;
  else if (setting === 'all') count = n;
  else count = setting;
  if (!Number.isInteger(count) || count < min || count > n) {
    return fail('invalid_request', `${name} must be from ${min} to n_val (${n}) or one|quorum|all|default, got ${String(setting)}`);
  }
  return ok(count);
}

function resolveN(props: BucketProps, nVal: number | undefined): Result<number> {
  if (nVal === undefined) return ok(props.nVal);
  if (!Number.isInteger(nVal) || nVal < 1 || nVal > props.nVal) {
    return fail('invalid_request', `n_val must be an integer from 1 to the bucket's n_val (${props.nVal}), got ${nVal}`);
  }
  return ok(nVal);
}

function resolveTimeout(timeoutMs: number | undefined, limits: RequestLimits): Result<number> {
  if (timeoutMs === undefined) return ok(limits.defaultTimeoutMs);
  if (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > limits.maxTimeoutMs) {
    return fail('invalid_request', `timeout_ms must be an integer from 1 to ${limits.maxTimeoutMs}, got ${timeoutMs}`);
  }
  return ok(timeoutMs);
}

export function resolveRead(props: BucketProps, options: ReadOptions, limits: RequestLimits): Result<ResolvedRead> {
  const n = resolveN(props, options.nVal);
  if (!n.ok) return n;
  const r = resolveQuorum('r', options.r, props.r, n.value, 1);
  if (!r.ok) return r;
  const pr = resolveQuorum('pr', options.pr, props.pr, n.value, 0);
  if (!pr.ok) return pr;
  const timeoutMs = resolveTimeout(options.timeoutMs, limits);
  if (!timeoutMs.ok) return timeoutMs;
  return ok({
    n: n.value,
    r: r.value,
    pr: pr.value,
    notfoundOk: options.notfoundOk ?? props.notfoundOk,
    basicQuorum: options.basicQuorum ?? props.basicQuorum,
    timeoutMs: timeoutMs.value,
    allowMult: props.allowMult,
    sloppyQuorum: options.sloppyQuorum ?? true,
  });
}

export function resolveWrite(props: BucketProps, options: WriteOptions, limits: RequestLimits): Result<ResolvedWrite> {
  const n = resolveN(props, options.nVal);
  if (!n.ok) return n;
  const w = resolveQuorum('w', options.w, props.w, n.value, 1);
  if (!w.ok) return w;
  const dw = resolveQuorum('dw', options.dw, props.dw, n.value, 0);
  if (!dw.ok) return dw;
  const pw = resolveQuorum('pw', options.pw, props.pw, n.value, 0);
  if (!pw.ok) return pw;
  const timeoutMs = resolveTimeout(options.timeoutMs, limits);
  if (!timeoutMs.ok) return timeoutMs;
  return ok({
    n: n.value,
    w: w.value,
    dw: dw.value,
    pw: pw.value,
    timeoutMs: timeoutMs.value,
    maxSiblings: props.maxSiblings ?? limits.maxSiblings,
    warnSiblings: props.warnSiblings ?? limits.warnSiblings,
    warnObjectBytes: props.warnObjectBytes ?? limits.warnObjectBytes,
    maxObjectBytes: props.maxObjectBytes ?? limits.maxObjectBytes,
    ttlMs: props.ttlMs ?? 0,
    datatype: props.datatype,
    lastWriteWins: props.lastWriteWins,
    allowMult: props.allowMult,
    sloppyQuorum: options.sloppyQuorum ?? true,
  });
}
