// Simulated clients. Each loops: think, pick a key, read it, write a new unique value with the
// context the read returned (so the write supersedes what it saw), or now and then write blind
// (so concurrent siblings appear too). Every operation goes to a node picked at random among those
// in service, and is recorded in the history. A client whose write had an unknown outcome leaves
// that key alone from then on, as a checker of per-key histories expects.

import { decodeContext } from '../core/codec.js';
import type { ObjectKey, PutReply } from '../core/kv.js';
import type { Result } from '../core/errors.js';
import type { History, PutOp } from './history.js';
import type { SimNode } from './node.js';
import type { SimWorld } from './world.js';

export interface WorkloadOptions {
  readonly clients: number;
  readonly keys: number;
  readonly thinkMinMs: number;
  readonly thinkMaxMs: number;
  /** Chance that a write skips the read and carries no context. */
  readonly blindWriteChance: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function keyNames(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `k${i}`);
}

export function objectKey(name: string): ObjectKey {
  return { type: 'default', bucket: encoder.encode('sim'), key: encoder.encode(name) };
}

/** Reads a sibling's dot back out of its vtag (`actor.counter-in-base-36`). */
export function dotOfVtag(vtag: string): { actor: string; counter: number } {
  const at = vtag.lastIndexOf('.');
  return { actor: vtag.slice(0, at), counter: parseInt(vtag.slice(at + 1), 36) };
}

export class Client {
  private running = false;
  private seq = 0;
  private readonly avoided = new Set<string>();

  constructor(
    readonly id: number,
    private readonly world: SimWorld,
    private readonly history: History,
    /** A node in service to send the next operation to. */
    private readonly pickNode: () => SimNode,
    private readonly keys: readonly string[],
    private readonly options: WorkloadOptions,
  ) {}

  start(): void {
    this.running = true;
    this.think();
  }

  /** No new operations after this; the one in flight completes. */
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
    if (this.world.random.chance(this.options.blindWriteChance)) this.write(key, undefined);
    else this.read(key);
  }

  private read(key: string): void {
    const node = this.pickNode();
    const op = this.history.invokeGet({ client: this.id, node: node.name, key, invokeUs: this.world.nowUs, final: false });
    node.get(objectKey(key)).then((result) => {
      op.completeUs = this.world.nowUs;
      if (!result.ok) {
        op.outcome = 'failed';
        op.error = result.error.code;
        this.think();
        return;
      }
      op.outcome = 'ok';
      op.values = result.value.found ? result.value.contents.map((c) => decoder.decode(c.value)).sort() : [];
      op.context = result.value.context === undefined ? [] : decodeContext(result.value.context);
      if (this.running) this.write(key, result.value.context);
      else this.think();
    });
  }

  private write(key: string, context: Uint8Array | undefined): void {
    const node = this.pickNode();
    const value = `c${this.id}-${this.seq++}`;
    const op = this.history.invokePut({
      client: this.id,
      node: node.name,
      key,
      invokeUs: this.world.nowUs,
      value,
      context: context === undefined ? [] : decodeContext(context),
    });
    const content = { value: encoder.encode(value), contentType: 'text/plain', userMeta: [] };
    node.put(objectKey(key), content, context, true).then((result) => {
      this.completeWrite(op, result);
      this.think();
    });
  }

  private completeWrite(op: PutOp, result: Result<PutReply>): void {
    op.completeUs = this.world.nowUs;
    if (!result.ok) {
      op.outcome = 'unknown';
      op.error = result.error.code;
      this.avoided.add(op.key);
      return;
    }
    op.outcome = 'ok';
    // Its own sibling is among those a write returns; the checker flags an acknowledged write
    // without a dot (that would be a bug in the core).
    const mine = result.value.contents?.find((c) => decoder.decode(c.value) === op.value);
    if (mine !== undefined) op.dot = dotOfVtag(mine.vtag);
  }
}
