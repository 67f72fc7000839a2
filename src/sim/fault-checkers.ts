// The checks of the fault scenarios, judged from the history (and, for I5, the replicas), each
// returning its violations as sentences. With checkers.ts (I2 acknowledged writes, I6 phantoms,
// I5 replica agreement) they cover guarantees.md:
//
// - I3, strict-quorum stale reads: a strict (or heal-phase r = all) read that started after a
//   strict write was acknowledged returns a context that has seen everything that write's
//   acknowledgement did. Every replica that acknowledged holds at least that much, durably, and a
//   strict read's primaries overlap the write's. One exemption, counted apart: a wiped disk is
//   data loss beyond what any quorum assumes, so a strict read whose key has a replica on a node
//   wiped since the write started is not judged (until the heal phase's r = all read, which is).
// - I7, siblings: every sibling a read returns is a distinct write, and no two siblings are
//   ordered — neither write's context had seen the other's dot. So a read never shows more
//   siblings than there were writers concurrent with each other, whatever the faults.
// - I9, resurrection: a value that an acknowledged delete's context covered (it saw it and
//   deleted it) never appears again in a read that must see that delete — the final read, or a
//   strict read after a strict delete's acknowledgement; likewise a value an acknowledged write
//   superseded. And the final read has seen every acknowledged delete, unless the key was reaped.
//
// Reaping (when the scenario runs it): once a tombstone is reaped, a read finds nothing at all, or
// only what was written since — with a context that no longer remembers the delete or what it
// deleted. So a read is not stale for missing a write that an acknowledged delete, done before
// the read began, had seen (nor for missing that delete), provided it shows nothing the delete had
// seen; and the final read need not have seen such a delete. A value coming back is still judged.

import { byKey, seconds } from './checkers.js';
import { vvCoversDot, vvDescends } from '../core/version-vector.js';
import type { GetOp, History, PutOp } from './history.js';

export interface Wipe {
  readonly node: string;
  readonly atUs: number;
}

/** Which nodes hold the primary replicas of a key. */
export type OwnersOf = (key: string) => readonly string[];


/** Whether a wipe of one of the key's primaries, between the two times, excuses a stale strict read. */
function wipedBetween(wipes: readonly Wipe[], owners: readonly string[], fromUs: number, toUs: number): boolean {
  return wipes.some((w) => owners.includes(w.node) && w.atUs >= fromUs && w.atUs <= toUs);
}

/** A read that must see `write`: it started after the write's acknowledgement and reads primaries by quorum or all. */
function mustSee(read: GetOp, write: PutOp): boolean {
  if (read.outcome !== 'ok' || read.context === undefined || write.outcome !== 'ok' || write.completeUs === undefined) return false;
  if (read.final) return true;
  return read.mode === 'strict' && write.mode === 'strict' && read.invokeUs > write.completeUs;
}

export interface StaleReadFindings {
  readonly violations: string[];
  /** Strict and r = all reads judged, and those excused by a wipe. */
  readonly judged: number;
  readonly excused: number;
}

/**
 * Whether, with reaping on, the read may have forgotten `w` with the key: a delete that may have
 * been applied before the read began — acknowledged, or with its outcome unknown — had seen `w`,
 * and the read shows nothing that delete had seen. (A delete whose outcome is unknown may still
 * have reached every replica, and its tombstone been reaped; what it covers is its own context.)
 */
function forgottenByReaping(r: GetOp, w: PutOp, deletes: readonly PutOp[]): boolean {
  return deletes.some((d) => {
    if (d.invokeUs >= r.invokeUs) return false;
    const covered = d.outcome === 'ok' ? d.resultContext! : d.context;
    return vvDescends(covered, w.resultContext!) && !(r.dots ?? []).some((dot) => vvCoversDot(covered, dot));
  });
}

/** `reaping`: tombstones may be reaped, so a read may have forgotten deleted history (see the top). */
export function checkStrictReads(history: History, wipes: readonly Wipe[], ownersOf: OwnersOf, reaping = false): StaleReadFindings {
  const violations: string[] = [];
  let judged = 0;
  let excused = 0;
  const puts = byKey(history.puts().filter((w) => w.mode === 'strict' && w.outcome === 'ok' && w.resultContext !== undefined));
  const deletes = byKey(history.puts().filter((w) => w.deleted === true && (w.outcome === 'ok' ? w.resultContext !== undefined : w.outcome !== 'failed')));
  for (const [key, reads] of byKey(history.gets())) {
    const writes = puts.get(key) ?? [];
    const keyDeletes = deletes.get(key) ?? [];
    const owners = ownersOf(key);
    for (const r of reads) {
      if (r.outcome !== 'ok' || (r.mode !== 'strict' && r.mode !== 'all')) continue;
      judged++;
      let excusedHere = false;
      for (const w of writes) {
        if (w.completeUs! >= r.invokeUs || vvDescends(r.context!, w.resultContext!)) continue;
        if (reaping && forgottenByReaping(r, w, keyDeletes)) continue;
        if (r.mode !== 'all' && wipedBetween(wipes, owners, w.invokeUs, r.completeUs!)) {
          excusedHere = true;
          continue;
        }
        violations.push(
          `${key}: ${r.mode} read g${r.id} (client ${r.client} via ${r.node}, ${seconds(r.invokeUs)}..${seconds(r.completeUs)}) returned [${r.values!.join(', ')}], ` +
            `which has not seen ${w.deleted === true ? 'the delete' : 'the write of'} ${w.value} acknowledged at ${seconds(w.completeUs)} (client ${w.client} via ${w.node})`,
        );
      }
      if (excusedHere) excused++;
    }
  }
  return { violations, judged, excused };
}

export interface SiblingFindings {
  readonly violations: string[];
  readonly maxSiblings: number;
}

export function checkSiblings(history: History): SiblingFindings {
  const violations: string[] = [];
  let maxSiblings = 0;
  const writes = new Map<string, PutOp>();
  for (const w of history.puts()) writes.set(`${w.key}\u0000${w.value}`, w);
  for (const r of history.gets()) {
    const values = r.values ?? [];
    const dots = r.dots ?? [];
    maxSiblings = Math.max(maxSiblings, values.length);
    if (values.length < 2) continue;
    if (new Set(values).size !== values.length) {
      violations.push(`${r.key}: read g${r.id} at ${seconds(r.completeUs)} returned one write as several siblings [${values.join(', ')}] (dots ${dots.map((d) => `${d.actor}:${d.counter}`).join(', ')})`);
      continue;
    }
    for (let i = 0; i < values.length; i++) {
      const later = writes.get(`${r.key}\u0000${values[i]}`);
      if (later === undefined) continue; // a phantom: that check reports it
      for (let j = 0; j < values.length; j++) {
        if (i === j || dots[j] === undefined || !vvCoversDot(later.context, dots[j]!)) continue;
        violations.push(`${r.key}: read g${r.id} at ${seconds(r.completeUs)} returned ${values[i]} beside ${values[j]}, though ${values[i]} was written with a context that had seen ${values[j]}`);
      }
    }
  }
  return { violations, maxSiblings };
}

export function checkResurrections(history: History, wipes: readonly Wipe[], ownersOf: OwnersOf, reaping = false): string[] {
  const violations: string[] = [];
  const writes = byKey(history.puts().filter((w) => w.outcome === 'ok' && w.context.length > 0));
  const deletes = byKey(history.puts().filter((w) => w.outcome === 'ok' && w.deleted === true && w.resultContext !== undefined));
  for (const [key, reads] of byKey(history.gets())) {
    const owners = ownersOf(key);
    for (const r of reads) {
      for (const w of writes.get(key) ?? []) {
        if (!mustSee(r, w)) continue;
        if (!r.final && wipedBetween(wipes, owners, w.invokeUs, r.completeUs!)) continue;
        r.dots?.forEach((dot, i) => {
          if (!vvCoversDot(w.context, dot)) return;
          violations.push(
            `${key}: ${r.final ? 'the final read' : `strict read g${r.id}`} at ${seconds(r.completeUs)} returned ${r.values![i]}, which ` +
              `${w.deleted === true ? 'the delete' : 'the write of'} ${w.value} acknowledged at ${seconds(w.completeUs)} had seen and ${w.deleted === true ? 'deleted' : 'superseded'}`,
          );
        });
      }
      if (!r.final || r.outcome !== 'ok') continue;
      for (const d of deletes.get(key) ?? []) {
        if (vvDescends(r.context!, d.resultContext!)) continue;
        // Reaped: the read may have forgotten the delete, but shows nothing the delete had seen.
        if (reaping && !(r.dots ?? []).some((dot) => vvCoversDot(d.resultContext!, dot))) continue;
        violations.push(`${key}: the final read has not seen the delete ${d.value} acknowledged at ${seconds(d.completeUs)}`);
      }
    }
  }
  return violations;
}
