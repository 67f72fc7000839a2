// The heal phase of a fault run: once every fault is healed and the load has stopped, wait until
// every node sees every other up, then alternate read-repair passes (every key read with r=all
// from the primaries, which makes the coordinator repair replicas that answered with less) with
// a replica comparison through the probe, until the primaries of every key hold the same version
// and no fallback still holds a hint. Anti-entropy is not in the runtime yet, so read repair and
// hinted handoff are all that converge the replicas; the figures say how long that took.

import { fetchJson, type FaultCluster } from './fault-cluster.js';
import { History } from './history.js';
import { readKey } from './http-ops.js';
import type { Comparison, ReplicaProbe } from './replica-probe.js';

export interface ConvergenceReport {
  readonly converged: boolean;
  /** From the last heal until every node saw every other up. */
  readonly allUpAfterMs: number;
  /** From the last heal until the replicas were found identical (or the deadline). */
  readonly convergedAfterMs: number;
  readonly readRepairPasses: number;
  /** At the first comparison, before any read repair: what hinted handoff alone had left. */
  readonly firstComparison: Comparison;
  readonly lastComparison: Comparison;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Reads every key with r=all from its primaries, spread over the nodes; the answers are not judged. */
async function readRepairPass(cluster: FaultCluster, keys: readonly string[]): Promise<void> {
  const scratch = new History();
  let next = 0;
  const reader = async (): Promise<void> => {
    while (next < keys.length) {
      const i = next++;
      const node = cluster.nodes[i % cluster.nodes.length]!;
      await readKey(scratch, -1, node, keys[i]!, 'strict', false, 'r=all&sloppy_quorum=false');
    }
  };
  await Promise.all(Array.from({ length: 16 }, reader));
}

async function ringOwners(cluster: FaultCluster): Promise<string[]> {
  const ring = await fetchJson<{ owners: { partition: number; owner: string }[] }>(`${cluster.nodes[0]!.url}/v1/cluster/ring`);
  return ring.owners.map((o) => o.owner);
}

/**
 * `readRepair` false leaves convergence to the nodes alone (hinted handoff, and anti-entropy where
 * the runtime has it): the loop then only compares, until the deadline.
 */
export async function converge(cluster: FaultCluster, probe: ReplicaProbe, keys: readonly string[], lastHealMs: number, deadlineMs: number, nVal: number, readRepair = true): Promise<ConvergenceReport> {
  try {
    await cluster.waitAllUp(deadlineMs);
  } catch (error) {
    const none: Comparison = { keys: keys.length, disagreements: [`not every node saw every other up: ${(error as Error).message}`], hints: [] };
    return { converged: false, allUpAfterMs: performance.now() - lastHealMs, convergedAfterMs: performance.now() - lastHealMs, readRepairPasses: 0, firstComparison: none, lastComparison: none };
  }
  const allUpAfterMs = performance.now() - lastHealMs;
  await probe.connect(cluster.nodes);
  const owners = await ringOwners(cluster);
  const names = cluster.nodes.map((n) => n.name);
  const firstComparison = await probe.compare(keys, owners, names, nVal);
  let lastComparison = firstComparison;
  let passes = 0;
  while (lastComparison.disagreements.length > 0 || lastComparison.hints.length > 0) {
    if (performance.now() - lastHealMs > deadlineMs) {
      return { converged: false, allUpAfterMs, convergedAfterMs: performance.now() - lastHealMs, readRepairPasses: passes, firstComparison, lastComparison };
    }
    if (readRepair && lastComparison.disagreements.length > 0) {
      await readRepairPass(cluster, keys);
      passes++;
    }
    // Repairs are sent once every replica answered, after the client's answer; hints move on the
    // fallbacks' next scan.
    await sleep(readRepair ? 300 : 1000);
    lastComparison = await probe.compare(keys, owners, names, nVal);
  }
  return { converged: true, allUpAfterMs, convergedAfterMs: performance.now() - lastHealMs, readRepairPasses: passes, firstComparison, lastComparison };
}

/** The final reads: every key through every node, from all primaries. */
export async function finalReads(cluster: FaultCluster, history: History, keys: readonly string[]): Promise<void> {
  let next = 0;
  const reader = async (): Promise<void> => {
    while (next < keys.length) {
      const key = keys[next++]!;
      for (const node of cluster.nodes) await readKey(history, -1, node, key, 'strict', true, 'r=all&pr=all&sloppy_quorum=false');
    }
  };
  await Promise.all(Array.from({ length: 8 }, reader));
}
