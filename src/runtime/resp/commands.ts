// The Redis-protocol commands ringkv answers, each translated into KvService calls on one bucket,
// and the connection-level commands clients send while connecting (HELLO, CLIENT SETINFO, INFO,
// COMMAND DOCS, SELECT, CONFIG GET). It holds no quorum, versioning or storage logic, and keeps
// no state beyond a connection's client name. Framing is the parser's; sockets are the TCP
// front end's.
//
// What each data command means here (Redis has no siblings and no causal contexts; ringkv does):
//
// command              ringkv calls                              answer
// GET k                get                                       the value; with siblings, the one with
//                                                                the greatest last-modified time (ties:
//                                                                the greatest vtag). Redis has no notion
//                                                                of siblings, so one is chosen, the same
//                                                                one on every node and every read
// SET k v              put with overwrite (no read first): the   +OK. The write supersedes every version
//                      coordinating replica applies it over its  the coordinating replica holds, so SET
//                      own context                               overwrites instead of adding a sibling. A
//                                                                version that replica has not yet seen (a
//                                                                SET racing it on another node) stays a
//                                                                sibling; GET then resolves them as above
// SET k v NX           put with overwrite and ifNoneMatch        +OK, or nil when the key has a value,
//                                                                decided where the write is applied
// SET k v XX           put with overwrite and ifPresent          +OK, or nil when the key has no value,
//                                                                decided where the write is applied
// SET ... GET          get, then put with that context (NX:      the value the read saw (or nil) instead
//                      and ifNoneMatch; XX: nil if nothing live  of +OK
//                      was read)
// SET ... EX s / PX ms  as SET, with ttlMs (docs/ttl.md); EXAT/  +OK. Without EX/PX/EXAT/PXAT/KEEPTTL the
// / EXAT t / PXAT t    PXAT with expiresAtMs, the instant as     bucket type's default TTL applies (Redis
//                      given; one already past: delete instead   clears it; a type without a default
// SET ... KEEPTTL      get, then put with that context and the   never expires, as in Redis). Beyond ten
//                      read value's expiresAtMs (none: ttlMs 0;  years: invalid expire time
//                      a missing key: the type's default)
// SETEX k s v          as SET k v EX s / PX ms
// PSETEX k ms v
// SETNX k v            as SET k v NX                             :1 written, :0 not
// DEL k [k ...]        per key: get, then delete with its        :number of keys that held a live value
// UNLINK               context when a live value was read
// EXISTS k [k ...]     per key: get                              :number of the keys (repeats counted)
//                                                                that hold a live value
// MGET k [k ...]       per key: get                              values or nils, resolved as GET
// MSET k v [k v ...]   per key: as SET                           +OK
// TTL k / PTTL k       get                                       remaining seconds (rounded) or ms of
//                                                                the value GET shows; :-1 when it never
//                                                                expires, :-2 for a missing key
// EXPIRE k s [NX|XX|   get; nothing live: :0; else put of the    :1 set, :0 not (missing key, or the
// GT|LT], PEXPIRE,     value GET shows, with the read's context, condition failed). A time not in the
// EXPIREAT, PEXPIREAT  the new ttlMs (EXPIREAT, PEXPIREAT:       future deletes the key (as Redis does).
//                      expiresAtMs) and ifNotModified            A write racing it makes it fail
//                                                                (precondition_failed), never lost. On
//                                                                a counter: an error (data types never
//                                                                expire; docs/ttl.md)
// INCR k, INCRBY k n, updateDatatype: a counter update of +1, +n, :the counter after the update, as the
// DECR k, DECRBY k n   -1 or -n on the key (docs/data-types.md)   replica that applied it holds it. The key
//                                                                becomes a counter (a PN-counter CRDT):
//                                                                concurrent INCRs on any nodes all count,
//                                                                and GET answers its value as a decimal
//                                                                string. INCR of a key holding a plain
//                                                                value is an error
// INCRBYFLOAT                                                    -ERR: counters are integers
//
// Multi-key commands (DEL, UNLINK, EXISTS, MGET, MSET) are per key and not atomic: they run at
// most keyOpsInFlightMax keys at a time, stop at the first failure and answer it; keys handled
// before it stay written or deleted. A KvService failure answers `-ERR <code>: <message>`.
//
// Pipelining: replies always come back in the order sent. Commands of one connection that name
// the same key run one after another in that order (a pipelined GET sees the SET before it);
// commands on different keys run at once, so another connection may see their effects in any
// order. Nothing is ordered across connections: there are no transactions (MULTI) either.

import { type ObjectKey, type Content, type KvService, ttlMsMax } from '../../core/kv.js';
import { contentsValue, counterContentType } from '../../core/datatype.js';
import { type KvError, type Result, assert, ok } from '../../core/errors.js';
import type { ConnectionInfo, ProtocolHandler, ParseResult } from '../wire/tcp-front-end.js';
import { type RespCommand, type RespParserLimits, checkParserLimits, parseRespFrame } from './parser.js';
import {
  arrayReply,
  bulkReply,
  emptyArrayReply,
  errorReply,
  integerReply,
  nilReply,
  okReply,
  pongReply,
  simpleReply,
} from './reply.js';

export interface RespHandlerOptions {
  readonly bucketType: string;
  readonly bucket: Uint8Array;
  readonly parser: RespParserLimits;
  /** Single-key operations one multi-key command (DEL, EXISTS, MGET, MSET) runs at once. */
  readonly keyOpsInFlightMax: number;
}

/** What INFO reports about the server; the caller reads the clock, the OS and the socket. */
export interface RespServerFacts {
  readonly nodeName: string;
  readonly startedAtMs: number;
  readonly os: string;
  readonly processId: number;
  readonly tcpPort: () => number;
  readonly connectedClients: () => number;
}

export interface RespHandlerDeps {
  readonly kv: KvService;
  readonly nowMs: () => number;
  readonly server: RespServerFacts;
}

export const defaultKeyOpsInFlightMax = 16;

/** The version INFO reports: the Redis whose command subset and replies ringkv follows. */
export const compatibleRedisVersion = '7.0.0';

const octetStream = 'application/octet-stream';
const clientNameState = 'resp.clientName';

type Answer = { readonly reply: Uint8Array; readonly close?: boolean };
type Run = (args: readonly Buffer[], connection: ConnectionInfo) => Promise<Answer> | Answer;

interface CommandSpec {
  /** Redis's arity: n counts the name and means exactly n words; -n means at least n. */
  readonly arity: number;
  readonly flags: readonly string[];
  /** First key, last key (-1: the last word), step between keys; as COMMAND INFO reports them. */
  readonly keys: readonly [number, number, number];
  readonly run: Run;
}

const answer = (reply: Uint8Array): Answer => ({ reply });
const kvErrorReply = (error: KvError): Answer => answer(errorReply(`ERR ${error.code}: ${error.message}`));
const syntaxError = (): Answer => answer(errorReply('ERR syntax error'));
const upper = (word: Buffer | undefined): string => (word === undefined ? '' : word.toString('latin1').toUpperCase());

function wrongArity(name: string): Answer {
  return answer(errorReply(`ERR wrong number of arguments for '${name.toLowerCase()}' command`));
}

/** As Redis words it: the name and the first arguments, quoted, about 128 characters in all. */
export function unknownCommandMessage(args: readonly Buffer[]): string {
  let shownArgs = '';
  for (let i = 1; i < args.length && shownArgs.length < 128; i++) {
    shownArgs += `'${args[i]!.toString('utf8', 0, 128 - shownArgs.length)}' `;
  }
  return `ERR unknown command '${args[0]!.toString('utf8', 0, 128)}', with args beginning with: ${shownArgs}`;
}

function unknownSubcommand(command: string, sub: Buffer): Answer {
  return answer(errorReply(`ERR unknown subcommand '${sub.toString('utf8', 0, 128)}'. Try ${command} HELP.`));
}

/**
 * EXPIRE's NX, XX, GT and LT against the value's current expiry (undefined: never, which counts
 * as an infinite TTL for GT and LT, as in Redis).
 */
function expiryConditionHolds(condition: string | undefined, currentMs: number | undefined, nextMs: number): boolean {
  switch (condition) {
    case 'NX':
      return currentMs === undefined;
    case 'XX':
      return currentMs !== undefined;
    case 'GT':
      return currentMs !== undefined && nextMs > currentMs;
    case 'LT':
      return currentMs === undefined || nextMs < currentMs;
    default:
      return true;
  }
}

/** Redis has no siblings: the one GET answers with is the newest, ties broken by vtag, so every read agrees. */
export function resolveSiblings(contents: readonly Content[]): Content | undefined {
  let chosen: Content | undefined;
  for (const content of contents) {
    if (chosen === undefined || content.lastModifiedMs > chosen.lastModifiedMs || (content.lastModifiedMs === chosen.lastModifiedMs && content.vtag > chosen.vtag)) {
      chosen = content;
    }
  }
  return chosen;
}

/** Runs `run` over `items` with at most `limit` at once; stops at, and answers, the first failure. */
async function mapBounded<T, R>(items: readonly T[], limit: number, run: (item: T) => Promise<Result<R>>): Promise<Result<R[]>> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  let failure: KvError | undefined;
  const lane = async (): Promise<void> => {
    while (failure === undefined && next < items.length) {
      const index = next++;
      const result = await run(items[index]!);
      if (result.ok) results[index] = result.value;
      else failure ??= result.error;
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return failure === undefined ? ok(results) : { ok: false, error: failure };
}

/** The keys a command names, as COMMAND INFO describes their positions. */
function keysOf(spec: CommandSpec, args: readonly Buffer[]): Buffer[] {
  const [first, last, step] = spec.keys;
  if (first === 0) return [];
  const end = last < 0 ? args.length + last : last;
  const keys: Buffer[] = [];
  for (let i = first; i <= end && i < args.length; i += step) keys.push(args[i]!);
  return keys;
}

/** Per connection: for each key with a command in flight, the completion of the latest one. */
type KeyTails = Map<string, Promise<unknown>>;
const keyTailsState = 'resp.keyTails';

function keyTailsOf(connection: ConnectionInfo): KeyTails {
  let tails = connection.state.get(keyTailsState) as KeyTails | undefined;
  if (tails === undefined) {
    tails = new Map();
    connection.state.set(keyTailsState, tails);
  }
  return tails;
}

/**
 * Runs `run` once every earlier command of the connection on any of `keys` has finished. The TCP
 * front end runs pipelined commands at once and only orders their replies; Redis clients expect a
 * pipelined GET to see the SET before it, so commands on the same key run in the order sent,
 * while commands on different keys still overlap. The map holds only keys with work in flight.
 */
async function inKeyOrder<T>(tails: KeyTails, keys: readonly Buffer[], run: () => Promise<T> | T): Promise<T> {
  const names = [...new Set(keys.map((key) => key.toString('latin1')))];
  const earlier = names.map((name) => tails.get(name)).filter((tail) => tail !== undefined);
  const done = (async () => {
    if (earlier.length > 0) await Promise.all(earlier);
    return run();
  })();
  const tail = done.catch(() => undefined);
  for (const name of names) tails.set(name, tail);
  void tail.then(() => {
    for (const name of names) if (tails.get(name) === tail) tails.delete(name);
  });
  return done;
}

type SetMode = 'always' | 'ifAbsent' | 'ifPresent';

interface SetOutcome {
  readonly written: boolean;
  /** The value the read saw, resolved as GET resolves it. */
  readonly previous: Uint8Array | undefined;
}

interface SetOptions {
  readonly mode: SetMode;
  readonly returnPrevious: boolean;
  readonly expiry: SetExpiry;
}

/**
 * A new expiry: this many ms after the write (EX, PX; the service adds its clock at the write),
 * or at this instant, ms since the epoch (EXAT, PXAT: passed to the service as is, so the time the
 * read before the write takes does not move it). Either may be in the past.
 */
type Expiry = { readonly kind: 'ttl'; readonly ttlMs: number } | { readonly kind: 'at'; readonly atMs: number };

/** How a SET sets the key's TTL: the type's default, a new expiry, or as it was. */
type SetExpiry = { readonly kind: 'default' } | Expiry | { readonly kind: 'keep' };

type ExpiryOption = 'EX' | 'PX' | 'EXAT' | 'PXAT';

const notAnInteger = (): Answer => answer(errorReply('ERR value is not an integer or out of range'));
const invalidExpireTime = (command: string): Answer => answer(errorReply(`ERR invalid expire time in '${command}' command`));
/** Data types never expire (docs/ttl.md); rewriting a counter's state as a plain value would lose concurrent increments. */
const counterDoesNotExpire = (): Answer => answer(errorReply('ERR counters (INCR) do not expire in ringkv; see docs/ttl.md'));

const int64Max = 2n ** 63n - 1n;
const int64Min = -(2n ** 63n);

/**
 * An integer as Redis reads one (string2ll): optional minus, no plus, no leading zeros, no "-0",
 * no spaces, within 64 bits. Undefined otherwise: Redis's "value is not an integer or out of range".
 */
function int64Arg(word: Buffer | undefined): bigint | undefined {
  const text = word?.toString('latin1') ?? '';
  if (!/^(?:0|-?[1-9]\d{0,18})$/.test(text)) return undefined;
  const value = BigInt(text);
  return value >= int64Min && value <= int64Max ? value : undefined;
}

/** An integer argument as Redis reads it, when JavaScript can hold it exactly; else undefined. */
function integerArg(word: Buffer | undefined): number | undefined {
  const value = int64Arg(word);
  return value !== undefined && value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : undefined;
}

/**
 * An expiry option's amount (EX, PX, EXAT, PXAT, SETEX and the EXPIRE family) as an Expiry, or
 * undefined where Redis answers "invalid expire time": the milliseconds overflow 64 bits, or
 * (ringkv's own bound, the service's cap for every front end) the expiry lies more than ttlMsMax
 * (ten years) after `nowMs`. Times in the past are returned, for the caller to judge.
 */
function expiryOf(option: ExpiryOption, amount: bigint, nowMs: number): Expiry | undefined {
  const seconds = option === 'EX' || option === 'EXAT';
  if (seconds && (amount > int64Max / 1000n || amount < int64Min / 1000n)) return undefined;
  const ms = seconds ? amount * 1000n : amount;
  if (option === 'EX' || option === 'PX') return ms > BigInt(ttlMsMax) ? undefined : { kind: 'ttl', ttlMs: Number(ms) };
  return ms - BigInt(Math.floor(nowMs)) > BigInt(ttlMsMax) ? undefined : { kind: 'at', atMs: Number(ms) };
}

/** True when `expiry` is already past at `nowMs`: the key is deleted rather than written. */
function isPast(expiry: Expiry, nowMs: number): boolean {
  return expiry.kind === 'ttl' ? expiry.ttlMs <= 0 : expiry.atMs <= nowMs;
}

/** True when the contents hold counter state (INCR), which GET shows as a number and which never expires. */
function holdsCounter(contents: readonly Content[]): boolean {
  return contents.some((c) => c.contentType === counterContentType);
}

/** SET's options after the value, or undefined for a syntax error (as Redis decides it). */
function parseSetOptions(words: readonly Buffer[], nowMs: number): SetOptions | Answer {
  let mode: SetMode = 'always';
  let returnPrevious = false;
  let expiry: SetExpiry = { kind: 'default' };
  for (let i = 0; i < words.length; i++) {
    const word = upper(words[i]);
    if (word === 'NX' && mode !== 'ifPresent') mode = 'ifAbsent';
    else if (word === 'XX' && mode !== 'ifAbsent') mode = 'ifPresent';
    else if (word === 'GET') returnPrevious = true;
    else if (word === 'KEEPTTL' && expiry.kind === 'default') expiry = { kind: 'keep' };
    else if ((word === 'EX' || word === 'PX' || word === 'EXAT' || word === 'PXAT') && expiry.kind === 'default' && i + 1 < words.length) {
      const amount = int64Arg(words[++i]);
      if (amount === undefined) return notAnInteger();
      const next = amount <= 0n ? undefined : expiryOf(word, amount, nowMs);
      if (next === undefined) return invalidExpireTime('set');
      // An EXAT/PXAT already past deletes the key (write()), as in Redis.
      expiry = next;
    } else return syntaxError();
  }
  return { mode, returnPrevious, expiry };
}

class RespHandler implements ProtocolHandler<RespCommand> {
  readonly name = 'resp';
  private readonly commands: ReadonlyMap<string, CommandSpec>;

  constructor(
    private readonly options: RespHandlerOptions,
    private readonly deps: RespHandlerDeps,
  ) {
    checkParserLimits(options.parser);
    assert(Number.isSafeInteger(options.keyOpsInFlightMax) && options.keyOpsInFlightMax >= 1, 'keyOpsInFlightMax is a positive integer');
    this.commands = this.commandTable();
  }

  parse(buffer: Buffer): ParseResult<RespCommand> {
    return parseRespFrame(buffer, this.options.parser);
  }

  internalError(message: string): Uint8Array {
    return errorReply(`ERR internal error: ${message}`);
  }

  async handle(request: RespCommand, connection: ConnectionInfo): Promise<Answer> {
    const { args } = request;
    const name = upper(args[0]);
    const spec = this.commands.get(name);
    if (spec === undefined) return answer(errorReply(unknownCommandMessage(args)));
    if (spec.arity > 0 ? args.length !== spec.arity : args.length < -spec.arity) return wrongArity(name);
    const keys = keysOf(spec, args);
    if (keys.length === 0) return spec.run(args, connection);
    return inKeyOrder(keyTailsOf(connection), keys, () => spec.run(args, connection));
  }

  private key(key: Buffer): ObjectKey {
    return { type: this.options.bucketType, bucket: this.options.bucket, key };
  }

  // -------------------------------------------------------------------------------------------
  // Key operations: one key each, in KvService calls.

  private async read(key: Buffer): Promise<Result<Uint8Array | undefined>> {
    const result = await this.deps.kv.get({ key: this.key(key) });
    if (!result.ok) return result;
    if (!result.value.found) return ok(undefined);
    // A counter (INCR) reads as its value in decimal, as in Redis.
    if (holdsCounter(result.value.contents)) {
      const counter = contentsValue(result.value.contents, 'counter');
      if (!counter.ok) return counter;
      return ok(counter.value?.type === 'counter' ? Buffer.from(String(counter.value.value)) : undefined);
    }
    return ok(resolveSiblings(result.value.contents)?.value);
  }

  private async write(key: Buffer, value: Buffer, mode: SetMode, expiry: SetExpiry = { kind: 'default' }, wantPrevious = false): Promise<Result<SetOutcome>> {
    const objectKey = this.key(key);
    const pastInstant = (expiry.kind === 'ttl' || expiry.kind === 'at') && isPast(expiry, this.deps.nowMs());
    if (!wantPrevious && expiry.kind !== 'keep' && !pastInstant) {
      // Nothing to read first: the write supersedes what the coordinating replica holds, and NX
      // and XX are its ifNoneMatch and ifPresent, all decided where the write is applied.
      const put = await this.deps.kv.put({
        key: objectKey,
        context: undefined,
        overwrite: true,
        content: { value, contentType: octetStream, userMeta: [] },
        ifNoneMatch: mode === 'ifAbsent',
        ifPresent: mode === 'ifPresent',
        ...this.keptExpiry(expiry, undefined),
      });
      if (put.ok) return ok({ written: true, previous: undefined });
      if (mode !== 'always' && put.error.code === 'precondition_failed') return ok({ written: false, previous: undefined });
      return put;
    }
    const read = await this.deps.kv.get({ key: objectKey });
    if (!read.ok) return read;
    const shown = read.value.found ? resolveSiblings(read.value.contents) : undefined;
    const previous = shown?.value;
    if ((mode === 'ifAbsent' && read.value.found) || (mode === 'ifPresent' && !read.value.found)) return ok({ written: false, previous });
    if (pastInstant) {
      // SET … EXAT/PXAT with a time already past: the key is deleted, as in Redis.
      if (!read.value.found) return ok({ written: true, previous });
      const deleted = await this.deps.kv.delete({ key: objectKey, context: read.value.context });
      return deleted.ok ? ok({ written: true, previous }) : deleted;
    }
    const put = await this.deps.kv.put({
      key: objectKey,
      context: read.value.context,
      content: { value, contentType: octetStream, userMeta: [] },
      ifNoneMatch: mode === 'ifAbsent',
      ...this.keptExpiry(expiry, shown),
    });
    if (put.ok) return ok({ written: true, previous });
    if (mode === 'ifAbsent' && put.error.code === 'precondition_failed') return ok({ written: false, previous });
    return put;
  }

  /** True when the key held a live value (and now holds a tombstone). */
  private async remove(key: Buffer): Promise<Result<boolean>> {
    const objectKey = this.key(key);
    const read = await this.deps.kv.get({ key: objectKey });
    if (!read.ok) return read;
    if (!read.value.found) return ok(false);
    const deleted = await this.deps.kv.delete({ key: objectKey, context: read.value.context });
    return deleted.ok ? ok(true) : deleted;
  }

  private async exists(key: Buffer): Promise<Result<boolean>> {
    const result = await this.deps.kv.get({ key: this.key(key) });
    return result.ok ? ok(result.value.found) : result;
  }

  private each<T, R>(items: readonly T[], run: (item: T) => Promise<Result<R>>): Promise<Result<R[]>> {
    return mapBounded(items, this.options.keyOpsInFlightMax, run);
  }

  // -------------------------------------------------------------------------------------------
  // Data commands.

  /**
   * INCR/INCRBY/DECR/DECRBY: a counter update on the key, in the RESP bucket. A type that declares
   * no data type takes it as a legacy counter (as Riak 1.4 kept them), one declaring counter as its own.
   */
  private async increment(args: readonly Buffer[], sign: 1 | -1, byArgument: boolean): Promise<Answer> {
    const amount = byArgument ? integerArg(args[2]) : 1;
    if (amount === undefined) return notAnInteger();
    const result = await this.deps.kv.updateDatatype({ key: this.key(args[1]!), update: { type: 'counter', increment: sign * amount }, returnBody: true, legacyCounter: true });
    if (!result.ok) return kvErrorReply(result.error);
    const value = result.value.value;
    return answer(integerReply(value?.type === 'counter' ? value.value : 0));
  }

  private async get(args: readonly Buffer[]): Promise<Answer> {
    const value = await this.read(args[1]!);
    if (!value.ok) return kvErrorReply(value.error);
    return answer(value.value === undefined ? nilReply : bulkReply(value.value));
  }

  private async set(args: readonly Buffer[]): Promise<Answer> {
    const options = parseSetOptions(args.slice(3), this.deps.nowMs());
    if ('reply' in options) return options;
    const outcome = await this.write(args[1]!, args[2]!, options.mode, options.expiry, options.returnPrevious);
    if (!outcome.ok) return kvErrorReply(outcome.error);
    if (options.returnPrevious) return answer(outcome.value.previous === undefined ? nilReply : bulkReply(outcome.value.previous));
    return answer(outcome.value.written ? okReply : nilReply);
  }

  private async setnx(args: readonly Buffer[]): Promise<Answer> {
    const outcome = await this.write(args[1]!, args[2]!, 'ifAbsent');
    if (!outcome.ok) return kvErrorReply(outcome.error);
    return answer(integerReply(outcome.value.written ? 1 : 0));
  }

  private async del(args: readonly Buffer[]): Promise<Answer> {
    const removed = await this.each(args.slice(1), (key) => this.remove(key));
    if (!removed.ok) return kvErrorReply(removed.error);
    return answer(integerReply(removed.value.filter(Boolean).length));
  }

  private async existsCommand(args: readonly Buffer[]): Promise<Answer> {
    const found = await this.each(args.slice(1), (key) => this.exists(key));
    if (!found.ok) return kvErrorReply(found.error);
    return answer(integerReply(found.value.filter(Boolean).length));
  }

  private async mget(args: readonly Buffer[]): Promise<Answer> {
    const values = await this.each(args.slice(1), (key) => this.read(key));
    if (!values.ok) return kvErrorReply(values.error);
    return answer(arrayReply(values.value.map((value) => (value === undefined ? nilReply : bulkReply(value)))));
  }

  private async mset(args: readonly Buffer[]): Promise<Answer> {
    if (args.length % 2 === 0) return wrongArity('mset');
    const pairs: Array<readonly [Buffer, Buffer]> = [];
    for (let i = 1; i < args.length; i += 2) pairs.push([args[i]!, args[i + 1]!]);
    const written = await this.each(pairs, ([key, value]) => this.write(key, value, 'always'));
    return written.ok ? answer(okReply) : kvErrorReply(written.error);
  }

  /** SETEX k seconds v, PSETEX k ms v. */
  private async setex(args: readonly Buffer[], option: 'EX' | 'PX'): Promise<Answer> {
    const amount = int64Arg(args[2]);
    if (amount === undefined) return notAnInteger();
    const expiry = amount <= 0n ? undefined : expiryOf(option, amount, 0);
    if (expiry === undefined) return invalidExpireTime(option === 'EX' ? 'setex' : 'psetex');
    const outcome = await this.write(args[1]!, args[3]!, 'always', expiry);
    return outcome.ok ? answer(okReply) : kvErrorReply(outcome.error);
  }

  /**
   * The put fields for a SET's expiry: none (the type's default) for no option, or for KEEPTTL on
   * a missing key (a plain SET would take the default); for KEEPTTL on a value, its expiry instant
   * as it was (ttlMs 0 when it never expires).
   */
  private keptExpiry(expiry: SetExpiry, shown: Content | undefined): { ttlMs?: number; expiresAtMs?: number } {
    switch (expiry.kind) {
      case 'default':
        return {};
      case 'ttl':
        return { ttlMs: expiry.ttlMs };
      case 'at':
        return { expiresAtMs: expiry.atMs };
      case 'keep':
        if (shown === undefined) return {};
        return shown.expiresAtMs === undefined ? { ttlMs: 0 } : { expiresAtMs: shown.expiresAtMs };
    }
  }

  /** TTL and PTTL: -2 for a missing key, -1 for a value that never expires. */
  private async ttl(args: readonly Buffer[], unitMs: 1 | 1000): Promise<Answer> {
    const read = await this.deps.kv.get({ key: this.key(args[1]!) });
    if (!read.ok) return kvErrorReply(read.error);
    const shown = read.value.found ? resolveSiblings(read.value.contents) : undefined;
    if (shown === undefined) return answer(integerReply(-2));
    if (shown.expiresAtMs === undefined) return answer(integerReply(-1));
    const leftMs = Math.max(0, shown.expiresAtMs - this.deps.nowMs());
    return answer(integerReply(unitMs === 1 ? leftMs : Math.round(leftMs / 1000)));
  }

  /**
   * EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT: a read, then a write of the value GET shows with the
   * new TTL, conditional on the read's context (ifNotModified), so a write racing it is never
   * overwritten: the command fails instead. A time not in the future deletes the key.
   */
  private async expire(args: readonly Buffer[], option: ExpiryOption): Promise<Answer> {
    const command = { EX: 'expire', PX: 'pexpire', EXAT: 'expireat', PXAT: 'pexpireat' }[option];
    // As Redis 7: the options first, any number of them; XX combines with GT or LT.
    const conditions = new Set<string>();
    for (const word of args.slice(3)) {
      const condition = upper(word);
      if (!['NX', 'XX', 'GT', 'LT'].includes(condition)) return answer(errorReply(`ERR Unsupported option ${word.toString('utf8', 0, 64)}`));
      conditions.add(condition);
    }
    if (conditions.has('NX') && conditions.size > 1) return answer(errorReply('ERR NX and XX, GT or LT options at the same time are not compatible'));
    if (conditions.has('GT') && conditions.has('LT')) return answer(errorReply('ERR GT and LT options at the same time are not compatible'));
    const amount = int64Arg(args[2]);
    if (amount === undefined) return notAnInteger();
    const expiry = expiryOf(option, amount, this.deps.nowMs());
    if (expiry === undefined) return invalidExpireTime(command);
    const objectKey = this.key(args[1]!);
    const read = await this.deps.kv.get({ key: objectKey });
    if (!read.ok) return kvErrorReply(read.error);
    if (!read.value.found) return answer(integerReply(0));
    if (holdsCounter(read.value.contents)) return counterDoesNotExpire();
    const shown = resolveSiblings(read.value.contents);
    if (shown === undefined) return answer(integerReply(0));
    // Judged after the read: a relative TTL counts from the write that follows.
    const nowMs = this.deps.nowMs();
    const nextMs = expiry.kind === 'ttl' ? nowMs + expiry.ttlMs : expiry.atMs;
    for (const condition of conditions) if (!expiryConditionHolds(condition, shown.expiresAtMs, nextMs)) return answer(integerReply(0));
    if (isPast(expiry, nowMs)) {
      const deleted = await this.deps.kv.delete({ key: objectKey, context: read.value.context });
      return deleted.ok ? answer(integerReply(1)) : kvErrorReply(deleted.error);
    }
    const put = await this.deps.kv.put({
      key: objectKey,
      context: read.value.context,
      content: { value: shown.value, contentType: shown.contentType, userMeta: shown.userMeta },
      ifNotModified: true,
      ...(expiry.kind === 'ttl' ? { ttlMs: expiry.ttlMs } : { expiresAtMs: expiry.atMs }),
    });
    return put.ok ? answer(integerReply(1)) : kvErrorReply(put.error);
  }

  // -------------------------------------------------------------------------------------------
  // Connection and server commands.

  private ping(args: readonly Buffer[]): Answer {
    return answer(args.length === 1 ? pongReply : bulkReply(args[1]!));
  }

  private select(args: readonly Buffer[]): Answer {
    const index = integerArg(args[1]);
    if (index === undefined) return notAnInteger();
    return answer(index === 0 ? okReply : errorReply('ERR DB index is out of range'));
  }

  private client(args: readonly Buffer[], connection: ConnectionInfo): Answer {
    const sub = upper(args[1]);
    switch (sub) {
      case 'SETNAME': {
        if (args.length !== 3) return wrongArity('client|setname');
        const name = args[2]!;
        if (name.some((byte) => byte <= 0x20 || byte >= 0x7f)) {
          return answer(errorReply('ERR Client names cannot contain spaces, newlines or special characters.'));
        }
        connection.state.set(clientNameState, Buffer.from(name));
        return answer(okReply);
      }
      case 'GETNAME': {
        if (args.length !== 2) return wrongArity('client|getname');
        const name = connection.state.get(clientNameState) as Buffer | undefined;
        return answer(name === undefined || name.length === 0 ? nilReply : bulkReply(name));
      }
      case 'SETINFO':
        return answer(args.length === 4 ? okReply : errorReply("ERR wrong number of arguments for 'client|setinfo' command"));
      case 'ID':
        return answer(args.length === 2 ? integerReply(connection.id) : errorReply("ERR wrong number of arguments for 'client|id' command"));
      default:
        return unknownSubcommand('CLIENT', args[1]!);
    }
  }

  private info(args: readonly Buffer[]): Answer {
    const server = this.deps.server;
    const uptimeSeconds = Math.max(0, Math.floor((this.deps.nowMs() - server.startedAtMs) / 1000));
    const sections: ReadonlyArray<readonly [string, readonly string[]]> = [
      [
        'Server',
        [
          `redis_version:${compatibleRedisVersion}`,
          'redis_mode:standalone',
          `ringkv_node:${server.nodeName}`,
          `os:${server.os}`,
          'arch_bits:64',
          `process_id:${server.processId}`,
          `tcp_port:${server.tcpPort()}`,
          `uptime_in_seconds:${uptimeSeconds}`,
          `uptime_in_days:${Math.floor(uptimeSeconds / 86_400)}`,
        ],
      ],
      ['Clients', [`connected_clients:${server.connectedClients()}`]],
      ['Persistence', ['loading:0']],
      // ringkv cannot count a bucket's keys cheaply, so the keyspace section is empty.
      ['Keyspace', []],
    ];
    const asked = args.slice(1).map((word) => word.toString('latin1').toLowerCase());
    const all = asked.length === 0 || asked.some((section) => section === 'all' || section === 'everything' || section === 'default');
    const chosen = sections.filter(([title]) => all || asked.includes(title.toLowerCase()));
    return answer(bulkReply(chosen.map(([title, lines]) => [`# ${title}`, ...lines].join('\r\n') + '\r\n').join('\r\n')));
  }

  private commandInfo(name: string): Uint8Array {
    const spec = this.commands.get(name);
    if (spec === undefined) return nilReply;
    const [first, last, step] = spec.keys;
    return arrayReply([
      bulkReply(name.toLowerCase()),
      integerReply(spec.arity),
      arrayReply(spec.flags.map(simpleReply)),
      integerReply(first),
      integerReply(last),
      integerReply(step),
    ]);
  }

  private command(args: readonly Buffer[]): Answer {
    if (args.length === 1) return answer(arrayReply([...this.commands.keys()].map((name) => this.commandInfo(name))));
    switch (upper(args[1])) {
      case 'COUNT':
        return answer(integerReply(this.commands.size));
      // redis-cli asks for the docs to show argument hints; it works without them.
      case 'DOCS':
        return answer(emptyArrayReply);
      case 'INFO':
        return answer(arrayReply(args.slice(2).map((word) => this.commandInfo(upper(word)))));
      case 'LIST':
        return answer(arrayReply([...this.commands.keys()].map((name) => bulkReply(name.toLowerCase()))));
      default:
        return unknownSubcommand('COMMAND', args[1]!);
    }
  }

  /** The few parameters clients read (redis-benchmark reads save and appendonly); no CONFIG SET. */
  private config(args: readonly Buffer[]): Answer {
    if (upper(args[1]) !== 'GET') return unknownSubcommand('CONFIG', args[1]!);
    if (args.length < 3) return wrongArity('config|get');
    const parameters: ReadonlyArray<readonly [string, string]> = [
      ['save', ''],
      ['appendonly', 'no'],
      ['databases', '1'],
    ];
    const asked = args.slice(2).map((word) => word.toString('latin1').toLowerCase());
    const matching = parameters.filter(([name]) => asked.includes('*') || asked.includes(name));
    return answer(arrayReply(matching.flatMap(([name, value]) => [bulkReply(name), bulkReply(value)])));
  }

  // -------------------------------------------------------------------------------------------

  private commandTable(): ReadonlyMap<string, CommandSpec> {
    const noKeys = [0, 0, 0] as const;
    const oneKey = [1, 1, 1] as const;
    const allKeys = [1, -1, 1] as const;
    const counter = (sign: 1 | -1, byArgument: boolean): Run => (a) => this.increment(a, sign, byArgument);
    const table: Array<readonly [string, CommandSpec]> = [
      ['GET', { arity: 2, flags: ['readonly', 'fast'], keys: oneKey, run: (a) => this.get(a) }],
      ['SET', { arity: -3, flags: ['write'], keys: oneKey, run: (a) => this.set(a) }],
      ['SETNX', { arity: 3, flags: ['write', 'fast'], keys: oneKey, run: (a) => this.setnx(a) }],
      ['DEL', { arity: -2, flags: ['write'], keys: allKeys, run: (a) => this.del(a) }],
      ['UNLINK', { arity: -2, flags: ['write', 'fast'], keys: allKeys, run: (a) => this.del(a) }],
      ['EXISTS', { arity: -2, flags: ['readonly', 'fast'], keys: allKeys, run: (a) => this.existsCommand(a) }],
      ['MGET', { arity: -2, flags: ['readonly', 'fast'], keys: allKeys, run: (a) => this.mget(a) }],
      ['MSET', { arity: -3, flags: ['write'], keys: [1, -1, 2], run: (a) => this.mset(a) }],
      ['TTL', { arity: 2, flags: ['readonly', 'fast'], keys: oneKey, run: (a) => this.ttl(a, 1000) }],
      ['PTTL', { arity: 2, flags: ['readonly', 'fast'], keys: oneKey, run: (a) => this.ttl(a, 1) }],
      ['SETEX', { arity: 4, flags: ['write'], keys: oneKey, run: (a) => this.setex(a, 'EX') }],
      ['PSETEX', { arity: 4, flags: ['write'], keys: oneKey, run: (a) => this.setex(a, 'PX') }],
      ['EXPIRE', { arity: -3, flags: ['write', 'fast'], keys: oneKey, run: (a) => this.expire(a, 'EX') }],
      ['PEXPIRE', { arity: -3, flags: ['write', 'fast'], keys: oneKey, run: (a) => this.expire(a, 'PX') }],
      ['EXPIREAT', { arity: -3, flags: ['write', 'fast'], keys: oneKey, run: (a) => this.expire(a, 'EXAT') }],
      ['PEXPIREAT', { arity: -3, flags: ['write', 'fast'], keys: oneKey, run: (a) => this.expire(a, 'PXAT') }],
      ['INCR', { arity: 2, flags: ['write', 'fast'], keys: oneKey, run: counter(1, false) }],
      ['INCRBY', { arity: 3, flags: ['write', 'fast'], keys: oneKey, run: counter(1, true) }],
      ['INCRBYFLOAT', { arity: 3, flags: ['write', 'fast'], keys: oneKey, run: () => answer(errorReply('ERR ringkv: INCRBYFLOAT is not supported: counters are integers (a PN-counter CRDT)')) }],
      ['DECR', { arity: 2, flags: ['write', 'fast'], keys: oneKey, run: counter(-1, false) }],
      ['DECRBY', { arity: 3, flags: ['write', 'fast'], keys: oneKey, run: counter(-1, true) }],
      ['PING', { arity: -1, flags: ['fast'], keys: noKeys, run: (a) => (a.length > 2 ? wrongArity('ping') : this.ping(a)) }],
      ['ECHO', { arity: 2, flags: ['fast'], keys: noKeys, run: (a) => answer(bulkReply(a[1]!)) }],
      ['SELECT', { arity: 2, flags: ['fast'], keys: noKeys, run: (a) => this.select(a) }],
      ['QUIT', { arity: -1, flags: ['fast'], keys: noKeys, run: () => ({ reply: okReply, close: true }) }],
      ['CLIENT', { arity: -2, flags: [], keys: noKeys, run: (a, c) => this.client(a, c) }],
      // Clients that ask for RESP3 with HELLO fall back to RESP2 on NOPROTO.
      ['HELLO', { arity: -1, flags: ['fast'], keys: noKeys, run: () => answer(errorReply('NOPROTO sorry, this protocol version is not supported')) }],
      ['AUTH', { arity: -2, flags: ['fast'], keys: noKeys, run: () => answer(errorReply('ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?')) }],
      ['INFO', { arity: -1, flags: [], keys: noKeys, run: (a) => this.info(a) }],
      ['COMMAND', { arity: -1, flags: [], keys: noKeys, run: (a) => this.command(a) }],
      ['CONFIG', { arity: -2, flags: [], keys: noKeys, run: (a) => this.config(a) }],
    ];
    return new Map(table);
  }
}

export function createRespHandler(options: RespHandlerOptions, deps: RespHandlerDeps): ProtocolHandler<RespCommand> {
  return new RespHandler(options, deps);
}
