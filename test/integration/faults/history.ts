// The recorded history of a fault run as the clients saw it: every read, write and delete with the
// node it went to, its consistency mode, when it was invoked and completed (one monotonic clock,
// the test process's), its outcome, and what it read or returned. The checkers judge a run from
// this alone and the final reads; they never look inside the nodes.
//
// Outcomes: `ok` was acknowledged; `failed` is known not to have taken effect (refused before
// anything was written, or the connection was refused); `unknown` may or may not have taken effect
// (a timeout, a reset connection, a quorum missed after some replicas applied it).

import type { Dot, VersionVector } from '../../../src/core/version-vector.js';

export type Outcome = 'ok' | 'failed' | 'unknown';

/** strict: R = W = quorum counted on primaries, no fallbacks. sloppy: the defaults, fallbacks allowed. */
export type Mode = 'strict' | 'sloppy';

/** One sibling as a client saw it: the value and the dot its vtag names. */
export interface SeenSibling {
  readonly value: string;
  readonly dot: Dot;
}

interface OpBase {
  readonly id: number;
  /** -1 for the checker's own final reads. */
  readonly client: number;
  readonly node: string;
  readonly key: string;
  readonly mode: Mode;
  readonly invokeMs: number;
  completeMs: number | undefined;
  outcome: Outcome | undefined;
  error: string | undefined;
}

export interface ReadOp extends OpBase {
  readonly kind: 'read';
  /** A read made after the run healed and converged, that the final checks judge. */
  readonly final: boolean;
  /** The live siblings read (empty: not found). */
  siblings: readonly SeenSibling[] | undefined;
  /** The context the read returned (empty when the key never existed). */
  context: VersionVector | undefined;
}

export interface WriteOp extends OpBase {
  readonly kind: 'write';
  /** Unique in the run, so a value read names the write that made it. */
  readonly value: string;
  /** The context the write was made with (empty: blind). */
  readonly context: VersionVector;
  /** The dot of the sibling the write created: from its own answer, or from any read that saw it. */
  dot: Dot | undefined;
  /** Every dot the value was seen under; more than one means the write was applied twice. */
  readonly seenDots: Dot[];
  /** The context of the object the write produced (its answer). */
  resultContext: VersionVector | undefined;
  /** The siblings of the object the write produced, as returned (return_body). */
  siblings: readonly SeenSibling[] | undefined;
}

export interface DeleteOp extends OpBase {
  readonly kind: 'delete';
  /** The context the delete was made with: the siblings it removes. */
  readonly context: VersionVector;
  resultContext: VersionVector | undefined;
}

export type Op = ReadOp | WriteOp | DeleteOp;
export type Mutation = WriteOp | DeleteOp;

export class History {
  readonly ops: Op[] = [];

  invokeRead(fields: Pick<ReadOp, 'client' | 'node' | 'key' | 'mode' | 'invokeMs' | 'final'>): ReadOp {
    const op: ReadOp = { kind: 'read', id: this.ops.length, ...fields, completeMs: undefined, outcome: undefined, error: undefined, siblings: undefined, context: undefined };
    this.ops.push(op);
    return op;
  }

  invokeWrite(fields: Pick<WriteOp, 'client' | 'node' | 'key' | 'mode' | 'invokeMs' | 'value' | 'context'>): WriteOp {
    const op: WriteOp = { kind: 'write', id: this.ops.length, ...fields, completeMs: undefined, outcome: undefined, error: undefined, dot: undefined, seenDots: [], resultContext: undefined, siblings: undefined };
    this.ops.push(op);
    return op;
  }

  invokeDelete(fields: Pick<DeleteOp, 'client' | 'node' | 'key' | 'mode' | 'invokeMs' | 'context'>): DeleteOp {
    const op: DeleteOp = { kind: 'delete', id: this.ops.length, ...fields, completeMs: undefined, outcome: undefined, error: undefined, resultContext: undefined };
    this.ops.push(op);
    return op;
  }

  /** Every operation grouped by key, in invocation order. */
  byKey(): Map<string, Op[]> {
    const out = new Map<string, Op[]>();
    for (const op of this.ops) {
      const list = out.get(op.key);
      if (list === undefined) out.set(op.key, [op]);
      else list.push(op);
    }
    return out;
  }

  /** Client operations (not the final reads) by kind and outcome. */
  summary(): { operations: number; reads: Record<Outcome, number>; writes: Record<Outcome, number>; deletes: Record<Outcome, number> } {
    const zero = (): Record<Outcome, number> => ({ ok: 0, failed: 0, unknown: 0 });
    const out = { operations: 0, reads: zero(), writes: zero(), deletes: zero() };
    for (const op of this.ops) {
      if (op.kind === 'read' && op.final) continue;
      out.operations++;
      const bucket = op.kind === 'read' ? out.reads : op.kind === 'write' ? out.writes : out.deletes;
      bucket[op.outcome ?? 'unknown']++;
    }
    return out;
  }
}
