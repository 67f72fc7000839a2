// The history of a simulated run as the clients saw it: every operation with the time it was
// invoked and completed, its outcome, and what it wrote or read. The checkers judge a run from
// this alone (and the replicas' final contents), never from the nodes' internals.
//
// Outcomes follow the usual convention: `ok` was acknowledged; `failed` is known not to have
// taken effect (only reads are ever classed so); `unknown` may or may not have taken effect (a
// write that timed out or fell short of its quorum — it may still be on the replicas it reached).

import type { Dot, VersionVector } from '../core/version-vector.js';

export type Outcome = 'ok' | 'failed' | 'unknown';

/**
 * How an operation was made: `strict` (r = w = pr = pw = quorum, no fallbacks), `sloppy` (the
 * defaults: quorum counted on any replicas, fallbacks for down primaries), `all` (r = all on the
 * primaries, the heal phase's reads).
 */
export type OpMode = 'strict' | 'sloppy' | 'all';

export interface PutOp {
  readonly kind: 'put';
  readonly id: number;
  readonly client: number;
  readonly node: string;
  readonly key: string;
  readonly invokeUs: number;
  /** Unique per write, so a value read names the write that made it. */
  readonly value: string;
  /** The context the write was made with (empty: a blind write). */
  readonly context: VersionVector;
  completeUs: number | undefined;
  outcome: Outcome | undefined;
  /** The dot of the sibling the write created (known when acknowledged). */
  dot: Dot | undefined;
  error: string | undefined;
  readonly mode?: OpMode;
  /** A delete: a tombstone that supersedes what its context saw. */
  readonly deleted?: boolean;
  /** The causal context the acknowledgement returned: every replica that acknowledged holds at least this. */
  resultContext?: VersionVector;
}

export interface GetOp {
  readonly kind: 'get';
  readonly id: number;
  readonly client: number;
  readonly node: string;
  readonly key: string;
  readonly invokeUs: number;
  /** The read made after the run settled, that the checks judge. */
  readonly final: boolean;
  completeUs: number | undefined;
  outcome: Outcome | undefined;
  /** The live values read (sorted). */
  values: readonly string[] | undefined;
  /** The context the read returned (what a write based on it would supersede). */
  context: VersionVector | undefined;
  error: string | undefined;
  readonly mode?: OpMode;
  /** The dot of each sibling read, in the order of `values`. */
  dots?: readonly Dot[];
}

export type Op = PutOp | GetOp;

export class History {
  readonly ops: Op[] = [];

  invokePut(fields: Omit<PutOp, 'kind' | 'id' | 'completeUs' | 'outcome' | 'dot' | 'error'>): PutOp {
    const op: PutOp = { kind: 'put', id: this.ops.length, ...fields, completeUs: undefined, outcome: undefined, dot: undefined, error: undefined };
    this.ops.push(op);
    return op;
  }

  invokeGet(fields: Omit<GetOp, 'kind' | 'id' | 'completeUs' | 'outcome' | 'values' | 'context' | 'error'>): GetOp {
    const op: GetOp = { kind: 'get', id: this.ops.length, ...fields, completeUs: undefined, outcome: undefined, values: undefined, context: undefined, error: undefined };
    this.ops.push(op);
    return op;
  }

  /** Operations before this index have all completed. */
  private firstOpen = 0;

  get inFlight(): number {
    while (this.firstOpen < this.ops.length && this.ops[this.firstOpen]!.outcome !== undefined) this.firstOpen++;
    let n = 0;
    for (let i = this.firstOpen; i < this.ops.length; i++) if (this.ops[i]!.outcome === undefined) n++;
    return n;
  }

  puts(): PutOp[] {
    return this.ops.filter((op): op is PutOp => op.kind === 'put');
  }

  gets(): GetOp[] {
    return this.ops.filter((op): op is GetOp => op.kind === 'get');
  }

  /** Counts by kind and outcome, for reports. */
  summary(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const op of this.ops) {
      const name = `${op.kind}${op.kind === 'get' && op.final ? '(final)' : ''} ${op.outcome ?? 'in-flight'}`;
      out[name] = (out[name] ?? 0) + 1;
    }
    return out;
  }
}
