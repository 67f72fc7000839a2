// What a simulated run must satisfy, judged from the history and the replicas' final contents.
// Each checker returns its violations as sentences (empty: it holds), so a failing seed's report
// says exactly what went wrong and for which key.
//
// - acknowledged writes survive: the final read of a key holds every acknowledged write to it
//   that no later write's context covered (guarantees I2);
// - no phantoms: every value read was written to that key by some client (I6);
// - replicas agree: once settled, the N owners of every key hold the same version (I5);
// - settled: every member sees the same state, no transfer is pending or running, no node still
//   holds a partition it handed off, no request is still being coordinated;
// - ownership is balanced as claim promises: counts within one, windows of N distinct nodes.

import { claimViolations, windowsSatisfiable } from '../core/claim.js';
import { type ClusterState, pendingTransfers, sameState } from '../core/cluster.js';
import { decodeObject, encodeStorageKey } from '../core/codec.js';
import { type KvObject, isDeleted, sameVersion } from '../core/object.js';
import { partitionOf, preferencePartitions } from '../core/ring.js';
import { vvCoversDot } from '../core/version-vector.js';
import type { GetOp, History, PutOp } from './history.js';
import type { SimNode } from './node.js';
import { objectKey } from './workload.js';

export function seconds(us: number | undefined): string {
  return us === undefined ? '?' : `${(us / 1e6).toFixed(3)}s`;
}

/** Operations grouped by key, in history order. */
export function byKey<T extends { key: string }>(ops: readonly T[]): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const op of ops) {
    const list = out.get(op.key);
    if (list === undefined) out.set(op.key, [op]);
    else list.push(op);
  }
  return out;
}

/**
 * Acknowledged writes not superseded by a later write (acknowledged or not) whose context covered
 * them. Deletes supersede what their context covered; they are never expected to be read.
 */
export function expectedSurvivors(puts: readonly PutOp[]): PutOp[] {
  return puts.filter((w) => {
    if (w.outcome !== 'ok' || w.dot === undefined || w.deleted === true) return false;
    const dot = w.dot;
    return !puts.some((other) => other !== w && other.outcome !== 'failed' && vvCoversDot(other.context, dot));
  });
}

export function checkAckedWritesReadable(history: History): string[] {
  const violations: string[] = [];
  const finals = new Map<string, GetOp>();
  for (const op of history.gets()) if (op.final) finals.set(op.key, op);
  for (const [key, puts] of byKey(history.puts())) {
    for (const w of puts) {
      if (w.outcome === 'ok' && w.dot === undefined && w.deleted !== true) violations.push(`${key}: acknowledged write ${w.value} did not return its own sibling`);
    }
    const expected = expectedSurvivors(puts);
    const final = finals.get(key);
    if (final === undefined || final.outcome !== 'ok') {
      if (expected.length > 0) violations.push(`${key}: the final read failed (${final?.error ?? 'never made'}), so ${expected.length} acknowledged writes are unconfirmed`);
      continue;
    }
    const read = new Set(final.values);
    for (const w of expected) {
      if (read.has(w.value)) continue;
      violations.push(
        `${key}: acknowledged write ${w.value} (client ${w.client} via ${w.node}, ${seconds(w.invokeUs)}..${seconds(w.completeUs)}, dot ${w.dot!.actor}:${w.dot!.counter}) ` +
          `is missing from the final read [${final.values!.join(', ')}], and no later write's context covered it`,
      );
    }
  }
  return violations;
}

export function checkNoPhantoms(history: History): string[] {
  const written = new Map<string, Set<string>>();
  for (const w of history.puts()) {
    let set = written.get(w.key);
    if (set === undefined) written.set(w.key, (set = new Set()));
    set.add(w.value);
  }
  const violations: string[] = [];
  for (const r of history.gets()) {
    for (const value of r.values ?? []) {
      if (!written.get(r.key)?.has(value)) violations.push(`${r.key}: read ${value} at ${seconds(r.completeUs)}, which no client wrote to that key`);
    }
  }
  return violations;
}

/** The largest number of siblings any read returned. */
export function maxSiblingsRead(history: History): number {
  let max = 0;
  for (const r of history.gets()) max = Math.max(max, r.values?.length ?? 0);
  return max;
}

/** Every member's view is the same and nothing is moving any more. */
export function checkSettled(nodes: readonly SimNode[]): string[] {
  const violations: string[] = [];
  const members = nodes.filter((n) => n.state !== undefined && n.state.members.find((m) => m.name === n.name)?.status !== 'left');
  if (members.length === 0) return ['no node is a member of the cluster'];
  const reference = members[0]!;
  for (const n of members) {
    if (!sameState(n.state!, reference.state!)) violations.push(`${n.name}'s view of the cluster differs from ${reference.name}'s`);
  }
  // Nodes that have left included: they too must finish their grace periods and drop their copies.
  for (const n of nodes) {
    if (n.handoff.busy) violations.push(`${n.name} still has ${n.handoff.activeTransfers} transfers running or partitions in their grace period`);
    // A coordinator runs until every replica answered: an acknowledged write may still be on its way to the last one.
    if (n.coordinators.inflight > 0) violations.push(`${n.name} still coordinates ${n.coordinators.inflight} requests`);
  }
  const pending = pendingTransfers(reference.state!);
  if (pending.length > 0) {
    violations.push(`${pending.length} transfers still pending: ${pending.slice(0, 8).map((t) => `p${t.partition} ${t.from}->${t.to}`).join(', ')}`);
  }
  return violations;
}

/** The ring ends with exactly the expected members, none staged, balanced as claim promises. */
export function checkOwnership(state: ClusterState, expectedMembers: readonly string[], nVal: number): string[] {
  const violations: string[] = [];
  const valid = state.members.filter((m) => m.status === 'valid').map((m) => m.name);
  const expected = [...expectedMembers].sort();
  if (valid.join(',') !== expected.join(',')) violations.push(`valid members are [${valid.join(', ')}], expected [${expected.join(', ')}]`);
  for (const m of state.members) {
    if (m.staged || m.status === 'joining' || m.status === 'leaving') violations.push(`${m.name} is still ${m.status}${m.staged ? ' (staged)' : ''}`);
  }
  const owners = state.ring.map((e) => e.owner);
  const strangers = [...new Set(owners.filter((o) => !valid.includes(o)))];
  if (strangers.length > 0) violations.push(`partitions owned by non-members: ${strangers.join(', ')}`);
  const members = valid.map((name) => ({ name }));
  if (members.length === 0) return violations;
  const found = claimViolations(owners, members, nVal);
  if (found.maxOwned - found.minOwned > 1) violations.push(`unbalanced ownership: members own from ${found.minOwned} to ${found.maxOwned} partitions`);
  if (windowsSatisfiable(state.partitions, members.length, nVal) && found.repeatedWindows.length > 0) {
    violations.push(`${found.repeatedWindows.length} windows of ${nVal} consecutive partitions repeat a node (first at p${found.repeatedWindows[0]})`);
  }
  return violations;
}

/**
 * The N owners of every key hold the same version of it (or all lack it). Replicas that lack a
 * key beside replicas that hold one and the same tombstone also agree: both read as not found and
 * neither can bring a value back. That state is legitimate once reaping runs: a read that began
 * before a reap can repair the tombstone back onto the replicas that had already removed it while
 * the last one removes it after answering; the reaper then waits (one replica holds nothing)
 * until anti-entropy makes them level again, and the simulator runs no anti-entropy.
 */
export function checkReplicasAgree(nodes: ReadonlyMap<string, SimNode>, state: ClusterState, keys: readonly string[], nVal: number): string[] {
  const violations: string[] = [];
  for (const key of keys) {
    const storageKey = encodeStorageKey(objectKey(key));
    const first = partitionOf(storageKey, state.partitions);
    const copies = preferencePartitions(first, nVal, state.partitions).map((p) => {
      const owner = state.ring[p]!.owner;
      const bytes = nodes.get(owner)?.storage.get(p, storageKey);
      return { where: `p${p}@${owner}`, object: bytes === undefined ? undefined : decodeObject(bytes) };
    });
    const present = copies.filter((c) => c.object !== undefined);
    if (present.length === 0) continue;
    if (present.length < copies.length && !sameTombstone(present.map((c) => c.object!))) {
      violations.push(`${key}: held by ${present.map((c) => c.where).join(', ')} but missing from ${copies.filter((c) => c.object === undefined).map((c) => c.where).join(', ')}`);
      continue;
    }
    const [a, ...rest] = present;
    for (const b of rest) {
      if (!sameVersion(a!.object!, b.object!)) violations.push(`${key}: ${a!.where} and ${b.where} hold different versions`);
    }
  }
  return violations;
}

function sameTombstone(objects: readonly KvObject[]): boolean {
  const [a, ...rest] = objects;
  return a !== undefined && isDeleted(a) && rest.every((b) => sameVersion(a, b));
}

/** Copies held by nodes that neither own nor receive the partition (left behind by abandoned transfers). */
export function strayCopies(nodes: readonly SimNode[], state: ClusterState): string[] {
  const out: string[] = [];
  for (const n of nodes) {
    for (const p of n.heldPartitions()) {
      const entry = state.ring[p]!;
      if (entry.owner !== n.name && entry.next !== n.name) out.push(`p${p}@${n.name}`);
    }
  }
  return out;
}
