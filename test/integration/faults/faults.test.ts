// Five real node processes on loopback, a fault proxy between every pair, and a recorded
// multi-client workload, while nodes are SIGKILLed and restarted, SIGSTOPped and continued, and
// partitioned; then everything heals and the run is judged: acknowledged writes lost 0, strict
// stale reads 0, phantoms 0, siblings within the writers' concurrency, replicas identical after
// the heal, resurrected deletes 0. `npm test` runs the short schedule (one fault of each kind);
// `npm run test:faults` (RINGKV_FAULT_LONG=1) runs minutes of random faults. Every run prints its
// seed (RINGKV_TEST_SEED replays the fault schedule; the clients' choices also depend on timing)
// and its figures, and writes them as JSON to RINGKV_FAULT_REPORT when that is set.
// RINGKV_FAULT_READ_REPAIR=0 leaves the heal phase to the nodes alone (no read-repair passes).

import test from 'ava';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { seededRandom } from '../../../src/core/random.js';
import { fastClusterEnv } from '../cluster-harness.js';
import { appliedTwiceResurfaced, checkFinalReadsAgree, checkNoLostWrites, checkNoPhantoms, checkNoResurrection, checkSiblings, checkStrictReadsFresh, countStaleReads, learnDots } from './checkers.js';
import { converge, finalReads } from './convergence.js';
import { FaultCluster } from './fault-cluster.js';
import { Nemesis } from './nemesis.js';
import { ReplicaProbe } from './replica-probe.js';
import { Workload } from './workload.js';

const long = process.env['RINGKV_FAULT_LONG'] === '1';
/** RINGKV_FAULT_READ_REPAIR=0: no read-repair passes in the heal phase; the nodes must converge by themselves. */
const readRepairPasses = process.env['RINGKV_FAULT_READ_REPAIR'] !== '0';
const secret = 'fault-test-cluster-secret-0123456789';
const nVal = 3;

const settings = long
  ? { faultPhaseMs: 240_000, clients: 10, keysPerGroup: 40, convergeDeadlineMs: 180_000, testTimeoutMs: 20 * 60_000 }
  : { faultPhaseMs: 0, clients: 8, keysPerGroup: 20, convergeDeadlineMs: 60_000, testTimeoutMs: 170_000 };
/** Load keeps running this long after the last heal, so the heal itself happens under load. */
const tailMs = 2000;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

test.serial(`five nodes under SIGKILL, SIGSTOP and partitions lose no acknowledged write and converge after the heal (${long ? 'long' : 'short'} schedule)`, async (t) => {
  t.timeout(settings.testTimeoutMs);
  const seed = Number(process.env['RINGKV_TEST_SEED'] ?? Date.now() % 100_000);
  t.log(`seed ${seed}`);
  // Separate streams: the fault schedule replays exactly from the seed; the clients' choices
  // also depend on how fast the nodes answer.
  const faultRandom = seededRandom(seed);
  const clientRandom = seededRandom(seed + 1);
  const startedAt = performance.now();
  const cluster = await FaultCluster.start({
    size: 5,
    partitions: 32,
    workers: 1,
    secret,
    env: { ...fastClusterEnv, RINGKV_HANDOFF_SCAN_INTERVAL_MS: '2000' },
  });
  const probe = await ReplicaProbe.start('ringkv', secret);
  try {
    const formedMs = performance.now() - startedAt;
    const workload = new Workload(
      { clients: settings.clients, keysPerGroup: settings.keysPerGroup, strictShare: 0.5, blindWriteShare: 0.05, deleteShare: 0.08, thinkMsMax: 20 },
      () => cluster.inService(),
      clientRandom,
    );
    const loadStarted = performance.now();
    const nemesis = new Nemesis(cluster, loadStarted);
    workload.start();
    try {
      if (long) await nemesis.longSchedule(faultRandom, settings.faultPhaseMs);
      else await nemesis.shortSchedule();
      await sleep(tailMs);
    } finally {
      await workload.stop();
      await cluster.reviveAll();
    }
    const loadStoppedMs = performance.now();
    const loadMs = loadStoppedMs - loadStarted;
    const history = workload.history;
    const keys = [...history.byKey().keys()];
    const convergence = await converge(cluster, probe, keys, nemesis.lastHealMs, settings.convergeDeadlineMs, nVal, readRepairPasses);
    await finalReads(cluster, history, keys);

    const dotViolations = learnDots(history);
    const resurfaced = appliedTwiceResurfaced(history);
    const lost = checkNoLostWrites(history);
    const strictStale = checkStrictReadsFresh(history);
    const stale = countStaleReads(history);
    const phantoms = checkNoPhantoms(history);
    const siblings = checkSiblings(history);
    const resurrection = checkNoResurrection(history);
    const finalDisagreements = checkFinalReadsAgree(history);
    const summary = history.summary();
    const figures = {
      schedule: long ? 'long' : 'short',
      readRepairInHealPhase: readRepairPasses,
      seed,
      clusterFormedMs: Math.round(formedMs),
      loadMs: Math.round(loadMs),
      faults: nemesis.counts,
      operations: summary.operations,
      reads: summary.reads,
      writes: summary.writes,
      deletes: summary.deletes,
      acknowledged: summary.writes.ok + summary.deletes.ok,
      unknown: summary.writes.unknown + summary.deletes.unknown,
      keys: keys.length,
      keysAbandoned: workload.abandonedKeys(),
      lost: lost.length,
      strictStaleReads: strictStale.length,
      staleReadsAnyMode: stale.stale,
      readsJudged: stale.reads,
      phantoms: phantoms.length,
      maxSiblings: siblings.maxSiblings,
      maxSiblingsKey: siblings.maxSiblingsKey,
      concurrentWritesOfThatKey: siblings.widthOfMaxKey,
      readsWithSiblings: siblings.readsWithSiblings,
      siblingViolations: siblings.violations.length,
      appliedTwice: dotViolations.length,
      appliedTwiceResurfaced: resurfaced.length,
      ackedDeletes: resurrection.ackedDeletes,
      resurrected: resurrection.violations.length,
      finalReadDisagreements: finalDisagreements.length,
      converged: convergence.converged,
      allUpAfterHealMs: Math.round(convergence.allUpAfterMs),
      convergedAfterHealMs: Math.round(convergence.convergedAfterMs),
      loadRanAfterHealMs: Math.round(loadStoppedMs - nemesis.lastHealMs),
      readRepairPasses: convergence.readRepairPasses,
      keysDifferingBeforeReadRepair: convergence.firstComparison.disagreements.length,
      hintsHeldAtFirstCheck: convergence.firstComparison.hints.length,
      keysDifferingAtEnd: convergence.lastComparison.disagreements.length,
      hintsHeldAtEnd: convergence.lastComparison.hints.length,
      proxy: cluster.proxy.counts,
      timeline: nemesis.timeline,
    };
    t.log(JSON.stringify(figures, null, 2));
    const reportPath = process.env['RINGKV_FAULT_REPORT'];
    if (reportPath !== undefined && reportPath !== '') writeFileSync(reportPath, JSON.stringify(figures, null, 2));

    const show = (name: string, violations: readonly string[]): void => {
      if (violations.length > 0) t.log(`${name} (${violations.length}):\n  ${violations.slice(0, 20).join('\n  ')}`);
    };
    show('lost', lost);
    show('strict stale reads', strictStale);
    show('phantoms', phantoms);
    show('siblings', siblings.violations);
    show('writes applied twice', dotViolations);
    show('values applied twice that came back after being replaced', resurfaced);
    show('resurrected', resurrection.violations);
    show('final reads differ', finalDisagreements);
    show('replicas differ at the end', convergence.lastComparison.disagreements);
    show('hints still held at the end', convergence.lastComparison.hints);
    const violated = lost.length + strictStale.length + phantoms.length + siblings.violations.length + resurrection.violations.length + finalDisagreements.length + dotViolations.length > 0;
    if (violated || !convergence.converged) {
      for (const line of cluster.logLines(/"level":(50|60)/).slice(0, 40)) t.log(line);
      const path = join(tmpdir(), `ringkv-fault-history-${seed}.json`);
      writeFileSync(path, JSON.stringify(history.ops));
      t.log(`the history is in ${path}`);
    }

    t.true(summary.writes.ok > 100, `the workload made progress: ${summary.writes.ok} acknowledged writes`);
    t.is(lost.length, 0, 'acknowledged writes lost');
    t.is(strictStale.length, 0, 'stale strict-quorum reads');
    t.is(phantoms.length, 0, 'phantom values');
    t.is(dotViolations.length, 0, 'writes applied twice (one write, two dots: see duplicate-apply.test.ts)');
    t.is(siblings.violations.length, 0, 'sibling violations');
    t.is(resurrection.violations.length, 0, 'resurrected deletes');
    t.true(convergence.converged, 'replicas identical and hints handed off after the heal');
    t.is(finalDisagreements.length, 0, 'final reads differ between nodes');
  } finally {
    await probe.close();
    await cluster.shutdown();
  }
});
