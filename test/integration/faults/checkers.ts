// What a fault run must satisfy, judged from the recorded history and the final reads (see
// /work/shared/reference/guarantees.md). Each checker returns its violations as sentences naming
// the key, the operations and their times, so a failing run says exactly what went wrong:
//
// - no acknowledged write lost (I2): the final read holds every acknowledged write unless another
//   write or delete whose context covered it (acknowledged or not) may have replaced it;
// - strict reads are fresh (I3): a strict read invoked after a strict write or delete was
//   acknowledged returns a context that descends from the one that write produced;
// - no phantoms (I6): every value read was written to that key by some client, under one dot;
// - siblings are bounded (I7): no sibling shown beside one whose writer had seen it, no value
//   twice, and never more siblings than the widest set of mutually concurrent writes to the key;
// - no resurrection (I9): no value covered by an acknowledged delete's context is in the final read;
// - the final reads through every node agree.
// Stale reads that sloppy quorum allows (I4) are counted, not judged.

import { type Dot, type VersionVector, vvCoversDot, vvDescends, vvEqual } from '../../../src/core/version-vector.js';
import type { DeleteOp, History, Mutation, Op, ReadOp, SeenSibling, WriteOp } from './history.js';

function at(ms: number | undefined): string {
  return ms === undefined ? '?' : `${(ms / 1000).toFixed(3)}s`;
}

function dotText(dot: Dot | undefined): string {
  return dot === undefined ? 'no dot' : `${dot.actor}:${dot.counter}`;
}

function sameDot(a: Dot, b: Dot): boolean {
  return a.actor === b.actor && a.counter === b.counter;
}

function describe(op: Op): string {
  const what = op.kind === 'write' ? `write ${op.value}` : op.kind === 'delete' ? 'delete' : op.final ? 'final read' : 'read';
  return `${op.mode} ${what} by client ${op.client} via ${op.node} (${at(op.invokeMs)}..${at(op.completeMs)}, ${op.outcome ?? 'in flight'})`;
}

function mutations(ops: readonly Op[]): Mutation[] {
  return ops.filter((op): op is Mutation => op.kind !== 'read');
}

function writes(ops: readonly Op[]): WriteOp[] {
  return ops.filter((op): op is WriteOp => op.kind === 'write');
}

function clientReads(ops: readonly Op[]): ReadOp[] {
  return ops.filter((op): op is ReadOp => op.kind === 'read' && !op.final && op.outcome === 'ok');
}

function finalRead(ops: readonly Op[]): ReadOp | undefined {
  return ops.find((op): op is ReadOp => op.kind === 'read' && op.final);
}

/** Every sibling list a client was shown for a key: reads (final ones too) and write answers. */
function observations(ops: readonly Op[]): { op: Op; siblings: readonly SeenSibling[] }[] {
  const out: { op: Op; siblings: readonly SeenSibling[] }[] = [];
  for (const op of ops) {
    if ((op.kind === 'read' || op.kind === 'write') && op.siblings !== undefined) out.push({ op, siblings: op.siblings });
  }
  return out;
}

/**
 * Fills in the dot of every write that some read saw, including writes whose own answer was lost,
 * and collects every dot each value was seen under. A value seen under two dots was applied twice
 * (one client write, two events): each such write is reported.
 */
export function learnDots(history: History): string[] {
  const violations: string[] = [];
  for (const [key, ops] of history.byKey()) {
    const byValue = new Map(writes(ops).map((w) => [w.value, w]));
    for (const w of byValue.values()) if (w.dot !== undefined && !w.seenDots.some((d) => sameDot(d, w.dot!))) w.seenDots.push(w.dot);
    for (const { op, siblings } of observations(ops)) {
      for (const s of siblings) {
        const write = byValue.get(s.value);
        if (write === undefined) continue; // a phantom; checkNoPhantoms reports it
        write.dot ??= s.dot;
        if (write.seenDots.some((d) => sameDot(d, s.dot))) continue;
        write.seenDots.push(s.dot);
        if (write.seenDots.length > 1) violations.push(`${key}: ${write.value} seen as ${dotText(s.dot)} by ${describe(op)}, but it was also ${write.seenDots.slice(0, -1).map(dotText).join(', ')} (written by ${describe(write)}): applied twice`);
      }
    }
  }
  return violations;
}

/**
 * Writes applied twice whose value a client then replaced or deleted (a context covered one of its
 * dots) yet is still in the final read under the other: the visible harm of applying twice.
 */
export function appliedTwiceResurfaced(history: History): string[] {
  const out: string[] = [];
  for (const [key, ops] of history.byKey()) {
    const final = finalRead(ops);
    if (final?.outcome !== 'ok') continue;
    const superseding = mutations(ops).filter((m) => m.outcome === 'ok');
    for (const w of writes(ops)) {
      if (w.seenDots.length < 2 || !final.siblings!.some((s) => s.value === w.value)) continue;
      const by = superseding.find((m) => w.seenDots.some((d) => vvCoversDot(m.context, d)));
      if (by !== undefined) out.push(`${key}: ${w.value}, applied as ${w.seenDots.map(dotText).join(' and ')}, was replaced by the acknowledged ${describe(by)} but is in the final read`);
    }
  }
  return out;
}

export function checkNoLostWrites(history: History): string[] {
  const violations: string[] = [];
  for (const [key, ops] of history.byKey()) {
    const candidates = mutations(ops).filter((m) => m.outcome !== 'failed');
    const final = finalRead(ops);
    for (const w of writes(ops)) {
      if (w.outcome !== 'ok') continue;
      if (w.dot === undefined) {
        violations.push(`${key}: acknowledged ${describe(w)} did not return its own sibling`);
        continue;
      }
      const dot = w.dot;
      if (candidates.some((m) => m !== w && vvCoversDot(m.context, dot))) continue;
      if (final === undefined || final.outcome !== 'ok') {
        violations.push(`${key}: acknowledged ${describe(w)} is unconfirmed: the final read ${final === undefined ? 'was never made' : `failed (${final.error})`}`);
        continue;
      }
      if (final.siblings!.some((s) => s.value === w.value)) continue;
      violations.push(`${key}: acknowledged ${describe(w)}, dot ${dotText(dot)}, is missing from the final read [${final.siblings!.map((s) => s.value).join(', ')}] and no write or delete covered it`);
    }
  }
  return violations;
}

/** A read that missed an acknowledged mutation completed before it began. */
function missed(read: ReadOp, mutation: Mutation): boolean {
  return mutation.outcome === 'ok' && mutation.resultContext !== undefined && mutation.completeMs! < read.invokeMs && !vvDescends(read.context!, mutation.resultContext);
}

/** Strict reads that missed a strict write or delete acknowledged before they began (must be none). */
export function checkStrictReadsFresh(history: History): string[] {
  const violations: string[] = [];
  for (const [key, ops] of history.byKey()) {
    const strictMutations = mutations(ops).filter((m) => m.mode === 'strict' && m.outcome === 'ok');
    for (const read of clientReads(ops)) {
      if (read.mode !== 'strict') continue;
      const stale = strictMutations.find((m) => missed(read, m));
      if (stale !== undefined) {
        violations.push(`${key}: ${describe(read)} read [${read.siblings!.map((s) => s.value).join(', ')}] but missed the acknowledged ${describe(stale)}`);
      }
    }
  }
  return violations;
}

/** Reads of any mode that missed some mutation of any mode acknowledged before they began: what sloppy quorum allows. */
export function countStaleReads(history: History): { reads: number; stale: number; strictAfterSloppy: number } {
  let reads = 0;
  let stale = 0;
  let strictAfterSloppy = 0;
  for (const ops of history.byKey().values()) {
    const acked = mutations(ops).filter((m) => m.outcome === 'ok');
    for (const read of clientReads(ops)) {
      reads++;
      const missedOne = acked.find((m) => missed(read, m));
      if (missedOne === undefined) continue;
      stale++;
      if (read.mode === 'strict') strictAfterSloppy++;
    }
  }
  return { reads, stale, strictAfterSloppy };
}

export function checkNoPhantoms(history: History): string[] {
  const violations: string[] = [];
  for (const [key, ops] of history.byKey()) {
    const written = new Set(writes(ops).map((w) => w.value));
    for (const { op, siblings } of observations(ops)) {
      for (const s of siblings) if (!written.has(s.value)) violations.push(`${key}: ${describe(op)} saw ${JSON.stringify(s.value)}, which no client wrote to that key`);
    }
  }
  return violations;
}

/**
 * The width of the causal order of a key's writes (the most writes that are pairwise concurrent):
 * writes minus a maximum matching of "b's context covers a's dot" (Dilworth, via Kuhn's algorithm).
 * With an order that were not transitive this would over-estimate, never under-estimate.
 */
export function concurrencyWidth(keyWrites: readonly WriteOp[]): number {
  const known = keyWrites.filter((w) => w.dot !== undefined);
  const after: number[][] = known.map((a) => known.flatMap((b, j) => (b !== a && vvCoversDot(b.context, a.dot!) ? [j] : [])));
  const matchedTo = new Array<number>(known.length).fill(-1);
  const augment = (i: number, seen: boolean[]): boolean => {
    for (const j of after[i]!) {
      if (seen[j]) continue;
      seen[j] = true;
      if (matchedTo[j] === -1 || augment(matchedTo[j]!, seen)) {
        matchedTo[j] = i;
        return true;
      }
    }
    return false;
  };
  let matching = 0;
  for (let i = 0; i < known.length; i++) if (augment(i, new Array<boolean>(known.length).fill(false))) matching++;
  return known.length - matching;
}

export interface SiblingReport {
  readonly violations: string[];
  readonly maxSiblings: number;
  readonly maxSiblingsKey: string;
  /** The width of the causal order of that key's writes. */
  readonly widthOfMaxKey: number;
  readonly readsWithSiblings: number;
}

export function checkSiblings(history: History): SiblingReport {
  const violations: string[] = [];
  let maxSiblings = 0;
  let maxSiblingsKey = '';
  let widthOfMaxKey = 0;
  let readsWithSiblings = 0;
  for (const [key, ops] of history.byKey()) {
    const byValue = new Map(writes(ops).map((w) => [w.value, w]));
    let keyMax = 0;
    for (const { op, siblings } of observations(ops)) {
      // Siblings counted by distinct value: a write applied twice is one write (see learnDots).
      keyMax = Math.max(keyMax, new Set(siblings.map((s) => s.value)).size);
      if (siblings.length > 1 && op.kind === 'read') readsWithSiblings++;
      const values = siblings.map((s) => s.value);
      // The same value under two dots is a write applied twice, which learnDots reports.
      const repeated = values.filter((v, i) => values.indexOf(v) !== i && (byValue.get(v)?.seenDots.length ?? 0) <= 1);
      if (repeated.length > 0) violations.push(`${key}: ${describe(op)} saw a value twice under one dot: [${values.join(', ')}]`);
      for (const a of siblings) {
        for (const b of siblings) {
          const writer = byValue.get(b.value);
          if (a === b || writer === undefined || !vvCoversDot(writer.context, a.dot)) continue;
          violations.push(`${key}: ${describe(op)} saw ${a.value} beside ${b.value}, whose writer had already seen ${a.value}`);
        }
      }
    }
    if (keyMax <= 1) continue;
    const width = concurrencyWidth(writes(ops));
    if (keyMax > width) violations.push(`${key}: ${keyMax} siblings seen, but at most ${width} of its writes were concurrent`);
    if (keyMax > maxSiblings) {
      maxSiblings = keyMax;
      maxSiblingsKey = key;
      widthOfMaxKey = width;
    }
  }
  return { violations, maxSiblings, maxSiblingsKey, widthOfMaxKey, readsWithSiblings };
}

export function checkNoResurrection(history: History): { violations: string[]; ackedDeletes: number } {
  const violations: string[] = [];
  let ackedDeletes = 0;
  for (const [key, ops] of history.byKey()) {
    const deletes = ops.filter((op): op is DeleteOp => op.kind === 'delete' && op.outcome === 'ok');
    ackedDeletes += deletes.length;
    const final = finalRead(ops);
    if (final?.outcome !== 'ok') continue;
    for (const s of final.siblings!) {
      const covering = deletes.find((d) => vvCoversDot(d.context, s.dot));
      if (covering !== undefined) violations.push(`${key}: ${s.value} (${dotText(s.dot)}) came back after the acknowledged ${describe(covering)} removed it`);
    }
  }
  return { violations, ackedDeletes };
}

function sameSiblings(a: readonly SeenSibling[], b: readonly SeenSibling[]): boolean {
  const text = (list: readonly SeenSibling[]): string => list.map((s) => `${s.value}@${dotText(s.dot)}`).sort().join(',');
  return text(a) === text(b);
}

/** The final reads of a key, one through each node, all succeeded and agree on siblings and context. */
export function checkFinalReadsAgree(history: History): string[] {
  const violations: string[] = [];
  for (const [key, ops] of history.byKey()) {
    const finals = ops.filter((op): op is ReadOp => op.kind === 'read' && op.final);
    if (finals.length === 0) {
      violations.push(`${key}: no final read`);
      continue;
    }
    const failed = finals.filter((f) => f.outcome !== 'ok');
    if (failed.length > 0) {
      violations.push(`${key}: final reads failed: ${failed.map((f) => `${f.node} ${f.error}`).join('; ')}`);
      continue;
    }
    const [first, ...rest] = finals;
    for (const other of rest) {
      if (!sameSiblings(first!.siblings!, other.siblings!) || !vvEqual(first!.context as VersionVector, other.context as VersionVector)) {
        violations.push(`${key}: the final read via ${first!.node} and via ${other.node} differ`);
      }
    }
  }
  return violations;
}
