// The clients of the fault scenarios. Each loops: think, pick a key, read it, then write a new
// unique value with the context the read returned — or, now and then, delete what it read (a
// tombstone with that context), or write blind (no read, no context: a sibling of whatever is
// there). Keys are of two kinds, fixed per key so every check stays per key: strict keys are only
// ever read and written in strict mode (r = w = pr = pw = quorum, no fallbacks), the others in
// sloppy mode (the defaults: fallbacks stand in for down primaries, primaries not required).
//
// Every operation is recorded with its invoke and complete times and outcome. A client waits
// `clientTimeoutMs` for an answer (the node it asked may be paused or dead); a write without an
// answer, or with an error, has an unknown outcome, and that client leaves the key alone from
// then on (guarantees.md); a read without one simply failed.

import { decodeContext } from '../core/codec.js';
import type { Result } from '../core/errors.js';
import type { GetReply, PutReply, ReadOptions, WriteOptions } from '../core/kv.js';
import type { GetOp, History, OpMode, PutOp } from './history.js';
import type { SimNode } from './node.js';
import { dotOfVtag, objectKey } from './workload.js';
import type { SimWorld } from './world.js';

export interface FaultWorkloadOptions {
  readonly clients: number;
  readonly keys: number;
  /** Keys k0 .. k(strictKeys − 1) are strict; the rest sloppy. */
  readonly strictKeys: number;
  readonly thinkMinMs: number;
  readonly thinkMaxMs: number;
  /** Chance that a write skips the read and carries no context. */
  readonly blindWriteChance: number;
  /** Chance that, after a read that found values, the client deletes them instead of writing. */
  readonly deleteChance: number;
  /** How long a client waits for an answer. */
  readonly clientTimeoutMs: number;
}

export const strictRead: ReadOptions = { r: 'quorum', pr: 'quorum', sloppyQuorum: false };
export const strictWrite: WriteOptions = { w: 'quorum', dw: 'quorum', pw: 'quorum', sloppyQuorum: false };
/** The heal phase's reads: every primary answers, so read repair brings them all level. */
export const readAll: ReadOptions = { r: 'all', pr: 0, sloppyQuorum: false };

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function modeOfKey(key: string, options: FaultWorkloadOptions): OpMode {
  return Number(key.slice(1)) < options.strictKeys ? 'strict' : 'sloppy';
}

/** Fills a read's record from its answer. */
export function recordRead(op: GetOp, result: Result<GetReply>, nowUs: number): void {
  op.completeUs = nowUs;
  if (!result.ok) {
    op.outcome = 'failed';
    op.error = `${result.error.code}: ${result.error.message}`;
    return;
  }
  op.outcome = 'ok';
  const contents = result.value.found ? [...result.value.contents].sort((a, b) => (decoder.decode(a.value) < decoder.decode(b.value) ? -1 : 1)) : [];
  op.values = contents.map((c) => decoder.decode(c.value));
  op.dots = contents.map((c) => dotOfVtag(c.vtag));
  op.context = result.value.context === undefined ? [] : decodeContext(result.value.context);
}

export class FaultClient {
  private running = false;
  private seq = 0;
  private readonly avoided = new Set<string>();

  constructor(
    readonly id: number,
    private readonly world: SimWorld,
    private readonly history: History,
    /** A node whose process is not down (a client is refused by a dead one and tries another), if any. */
    private readonly pickNode: () => SimNode | undefined,
    private readonly keys: readonly string[],
    private readonly options: FaultWorkloadOptions,
  ) {}

  start(): void {
    this.running = true;
    this.think();
  }

  /** No new operations after this; the one in flight completes (or times out). */
  stop(): void {
    this.running = false;
  }

  private think(): void {
    if (!this.running) return;
    const delayUs = this.world.random.int(this.options.thinkMinMs * 1000, this.options.thinkMaxMs * 1000);
    this.world.schedule(delayUs, `client ${this.id} wakes`, () => this.next());
  }

  private next(): void {
    if (!this.running) return;
    const usable = this.keys.filter((k) => !this.avoided.has(k));
    if (usable.length === 0) return;
    const key = this.world.random.pick(usable);
    if (this.world.random.chance(this.options.blindWriteChance)) this.write(key, undefined, false);
    else this.read(key);
  }

  /** Runs `call` with the client's deadline; `done` gets its result, or undefined at the deadline. */
  private withDeadline<T>(label: string, call: Promise<T>, done: (result: T | undefined) => void): void {
    let finished = false;
    const deadline = this.world.schedule(this.options.clientTimeoutMs * 1000, label, () => {
      if (finished) return;
      finished = true;
      done(undefined);
    });
    void call.then((result) => {
      if (finished) return;
      finished = true;
      deadline.cancelled = true;
      done(result);
    });
  }

  private read(key: string): void {
    const node = this.pickNode();
    if (node === undefined) return this.think();
    const mode = modeOfKey(key, this.options);
    const op = this.history.invokeGet({ client: this.id, node: node.name, key, invokeUs: this.world.nowUs, final: false, mode });
    this.withDeadline(`client ${this.id} gives up g${op.id}`, node.get(objectKey(key), mode === 'strict' ? strictRead : {}), (result) => {
      if (result === undefined) {
        op.completeUs = this.world.nowUs;
        op.outcome = 'failed';
        op.error = 'no answer before the client deadline';
        return this.think();
      }
      recordRead(op, result, this.world.nowUs);
      if (!result.ok || !this.running) return this.think();
      const found = result.value.found;
      this.write(key, result.value.context, found && this.world.random.chance(this.options.deleteChance));
    });
  }

  private write(key: string, context: Uint8Array | undefined, deleted: boolean): void {
    const node = this.pickNode();
    if (node === undefined) return this.think();
    const mode = modeOfKey(key, this.options);
    const value = `${deleted ? 'del-' : ''}c${this.id}-${this.seq++}`;
    const op = this.history.invokePut({
      client: this.id,
      node: node.name,
      key,
      invokeUs: this.world.nowUs,
      value,
      context: context === undefined ? [] : decodeContext(context),
      mode,
      deleted,
    });
    const options = mode === 'strict' ? strictWrite : {};
    const call = deleted
      ? node.delete(objectKey(key), context, options)
      : node.put(objectKey(key), { value: encoder.encode(value), contentType: 'text/plain', userMeta: [] }, context, true, options);
    this.withDeadline(`client ${this.id} gives up p${op.id}`, call, (result) => {
      this.completeWrite(op, result);
      this.think();
    });
  }

  private completeWrite(op: PutOp, result: Result<PutReply> | undefined): void {
    op.completeUs = this.world.nowUs;
    if (result === undefined || !result.ok) {
      op.outcome = 'unknown';
      op.error = result === undefined ? 'no answer before the client deadline' : `${result.error.code}: ${result.error.message}`;
      this.avoided.add(op.key);
      return;
    }
    op.outcome = 'ok';
    op.resultContext = decodeContext(result.value.context);
    const mine = result.value.contents?.find((c) => decoder.decode(c.value) === op.value);
    if (mine !== undefined) op.dot = dotOfVtag(mine.vtag);
  }
}
