// The membership scenario: a cluster grows from one node to several, one join at a time, with
// some leaves along the way, all under a running workload; then the workload stops, the cluster
// settles, and the checkers judge the run. Everything is derived from one seed: the cluster size,
// the order of joins and leaves, the timing, every delay and every client's choices.

import { type ClusterState, memberOf } from '../core/cluster.js';
import { checkAckedWritesReadable, checkNoPhantoms, checkOwnership, checkReplicasAgree, maxSiblingsRead, strayCopies } from './checkers.js';
import { SimCluster, type SimClusterOptions, simDefaults } from './cluster.js';
import { slowLinks } from './faults.js';
import { type HandoffCounts, emptyHandoffCounts } from './handoff.js';
import { History } from './history.js';
import type { NodeMessage } from './messages.js';
import type { NetworkCounts } from './network.js';
import { Client, type WorkloadOptions, keyNames, objectKey } from './workload.js';

/** A membership change: a join, or a leave of a named node (or of one picked at random). */
export type ScriptStep = { readonly kind: 'join'; readonly node: string } | { readonly kind: 'leave'; readonly node?: string };

export interface MembershipScenarioOptions extends Omit<SimClusterOptions, 'nodes'> {
  /** Nodes that join over the run, the founding node n1 included (3 to 7 in the tests). */
  readonly nodes: number;
  /** Nodes that leave along the way; at least nVal members always remain. */
  readonly leaves: number;
  /** The membership changes in order; by default planned from the seed (joins of n2..nK, leaves among them). */
  readonly script: readonly ScriptStep[] | undefined;
  readonly workload: WorkloadOptions;
  /** Time between one membership change being committed and the next being made, [min, max]. */
  readonly stepGapMs: readonly [number, number];
  /** How long the workload runs on after the last change was committed, [min, max]. */
  readonly tailMs: readonly [number, number];
  /** How long the cluster may take to settle once the workload stopped. */
  readonly settleDeadlineMs: number;
}

export interface ScenarioReport {
  readonly seed: number;
  /**
   * What went wrong, each prefixed by the check that found it: `acked-writes`, `phantoms`,
   * `replicas`, `ownership`, `settled`, `workload` or `script`. Empty for a good run.
   */
  readonly failures: readonly string[];
  /** Identifies the run: equal for two runs of one seed, different between seeds. */
  readonly digest: string;
  readonly events: number;
  readonly simulatedMs: number;
  readonly timeline: readonly string[];
  readonly operations: Record<string, number>;
  readonly maxSiblings: number;
  readonly handoff: HandoffCounts;
  readonly network: NetworkCounts;
  /** Copies held by nodes that neither own nor receive the partition (left by abandoned transfers). */
  readonly strayCopies: number;
  /** Vnode requests refused by a node that did not serve the partition (its view disagreed). */
  readonly refused: number;
  readonly finalState: ClusterState | undefined;
  /** The last events before the end, for a failure message. */
  readonly traceTail: readonly string[];
  readonly trace: readonly string[] | undefined;
}

/** The options of the standard scenario for a seed: its cluster size and leaves come from the seed. */
export function membershipScenario(seed: number, overrides: Partial<MembershipScenarioOptions> = {}): MembershipScenarioOptions {
  const nodes = 3 + (seed % 5);
  const leaves = Math.min(nodes - 3, Math.floor(seed / 5) % 3);
  return {
    ...simDefaults,
    seed,
    nodes,
    leaves,
    script: undefined,
    workload: { clients: 4, keys: 120, thinkMinMs: 20, thinkMaxMs: 400, blindWriteChance: 0.05 },
    stepGapMs: [1_000, 30_000],
    tailMs: [0, 20_000],
    settleDeadlineMs: 300_000,
    ...overrides,
  };
}

/**
 * The standard scenario over links of very different latencies (0.1 to 300 ms each, FIFO), with
 * membership changes close together: plans and transfer completions then reach nodes in very
 * different orders, which is where races between them show.
 */
export function slowLinksScenario(seed: number, overrides: Partial<MembershipScenarioOptions> = {}): MembershipScenarioOptions {
  return membershipScenario(seed, {
    linkPolicies: [slowLinks<NodeMessage>(100, 300_000)],
    stepGapMs: [200, 5_000],
    handoff: { ...simDefaults.handoff, batchPauseMs: 500 },
    ...overrides,
  });
}

/** Joins of n2..nK in order, with the leaves placed where more than nVal members are in service. */
function planSteps(options: MembershipScenarioOptions, chance: (p: number) => boolean): ScriptStep[] {
  const steps: ScriptStep[] = [];
  let members = 1;
  let leavesLeft = options.leaves;
  for (let i = 2; i <= options.nodes; i++) {
    steps.push({ kind: 'join', node: `n${i}` });
    members++;
    const joinsLeft = options.nodes - i;
    // Leave now with a chance that rises as the joins run out, so every planned leave happens.
    while (leavesLeft > 0 && members > options.nVal && (joinsLeft < leavesLeft || chance(0.4))) {
      steps.push({ kind: 'leave' });
      members--;
      leavesLeft--;
    }
  }
  return steps;
}

export async function runMembershipScenario(options: MembershipScenarioOptions): Promise<ScenarioReport> {
  const cluster = new SimCluster({ ...options, nodes: Array.from({ length: options.nodes }, (_, i) => `n${i + 1}`) });
  const { world } = cluster;
  const history = new History();
  const failures: string[] = [];
  const timeline: string[] = [];
  const note = (text: string): void => {
    timeline.push(`${(world.nowUs / 1e6).toFixed(3)}s ${text}`);
  };
  const inService: string[] = ['n1'];
  const expectedMembers = new Set<string>(['n1']);
  const anyInService = (): string => world.random.pick(inService);

  cluster.found('n1');
  note('n1 founds the cluster');
  const keys = keyNames(options.workload.keys);
  const clients = Array.from({ length: options.workload.clients }, (_, i) => new Client(i, world, history, () => cluster.node(anyInService()), keys, options.workload));
  for (const c of clients) c.start();

  // The membership script: each step starts a gap after the previous one was committed.
  const steps = options.script ?? planSteps(options, (p) => world.random.chance(p));
  for (const step of steps) {
    await cluster.runFor(world.random.int(options.stepGapMs[0], options.stepGapMs[1]));
    const changed = step.kind === 'join' ? await join(step.node) : leave(step.node);
    if (changed === undefined || !(await commit(changed, step.kind))) break;
  }

  async function join(name: string): Promise<string | undefined> {
    const via = anyInService();
    const joined = await cluster.until(cluster.join(name, via));
    if (!joined.ok) {
      failures.push(`script: join of ${name} via ${via} failed: ${joined.error.message}`);
      return undefined;
    }
    note(`${name} joins via ${via} (staged)`);
    inService.push(name);
    expectedMembers.add(name);
    return name;
  }

  function leave(named: string | undefined): string | undefined {
    const name = named ?? anyInService();
    const staged = cluster.stageLeave(name);
    if (!staged.ok) {
      failures.push(`script: leave of ${name} failed: ${staged.error.message}`);
      return undefined;
    }
    note(`${name} leaves (staged)`);
    inService.splice(inService.indexOf(name), 1);
    expectedMembers.delete(name);
    return name;
  }

  // The operator commits through a node in service; the claimant may not have heard of the
  // change yet, so a refusal is retried each second until the change shows as committed.
  async function commit(changed: string, kind: 'join' | 'leave'): Promise<boolean> {
    for (let attempt = 1; attempt <= 60; attempt++) {
      const via = anyInService();
      const outcome = await cluster.until(cluster.commit(via));
      const member = outcome.state === undefined ? undefined : memberOf(outcome.state, changed);
      const committed = member !== undefined && !member.staged && (kind === 'join' ? member.status !== 'joining' : member.status === 'leaving' || member.status === 'left');
      if (outcome.ok || committed) {
        note(`commit for ${changed} via ${via}: ${outcome.message}`);
        return true;
      }
      await cluster.runFor(1_000);
    }
    failures.push(`script: the change of ${changed} was never committed`);
    return false;
  }

  // Let the workload run on a little, then stop it and wait for the operations in flight.
  await cluster.runFor(world.random.int(options.tailMs[0], options.tailMs[1]));
  for (const c of clients) c.stop();
  note('workload stops');
  await world.runUntil(world.nowUs + 4 * options.requestTimeoutMs * 1000, () => history.inFlight === 0);
  if (history.inFlight > 0) failures.push(`workload: ${history.inFlight} operations never completed`);

  const unsettled = await cluster.settle(options.settleDeadlineMs);
  if (unsettled.length > 0) failures.push(...unsettled.map((v) => `settled: not after ${options.settleDeadlineMs} ms: ${v}`));
  else note('settled');

  const state = cluster.node(inService[0]!).state;
  if (state !== undefined) {
    failures.push(...tagged('ownership', checkOwnership(state, [...expectedMembers], options.nVal)));
    // Before the final reads, whose read repair would hide a replica that missed a write.
    failures.push(...tagged('replicas', checkReplicasAgree(cluster.nodes, state, keys, options.nVal)));
  }

  // The final reads, one per key, through nodes in service.
  for (const key of keys) {
    const node = cluster.node(anyInService());
    const op = history.invokeGet({ client: -1, node: node.name, key, invokeUs: world.nowUs, final: true });
    void node.get(objectKey(key)).then((result) => {
      op.completeUs = world.nowUs;
      op.outcome = result.ok ? 'ok' : 'failed';
      if (result.ok) op.values = SimCluster.values(result.value);
      else op.error = `${result.error.code}: ${result.error.message}`;
    });
  }
  await world.runUntil(world.nowUs + 2 * options.requestTimeoutMs * 1000, () => history.inFlight === 0);
  failures.push(...tagged('acked-writes', checkAckedWritesReadable(history)), ...tagged('phantoms', checkNoPhantoms(history)));

  return {
    seed: options.seed,
    failures,
    digest: world.log.digest(),
    events: world.fired,
    simulatedMs: world.nowMs(),
    timeline,
    operations: history.summary(),
    maxSiblings: maxSiblingsRead(history),
    handoff: sumCounts(cluster.all.map((n) => n.handoffCounts)),
    network: { ...cluster.network.counts },
    strayCopies: state === undefined ? 0 : strayCopies(cluster.all, state).length,
    refused: cluster.all.reduce((sum, n) => sum + n.counts.refused, 0),
    finalState: state,
    traceTail: world.log.tail(60),
    trace: world.log.all,
  };
}

function tagged(check: string, violations: readonly string[]): string[] {
  return violations.map((v) => `${check}: ${v}`);
}

export function sumCounts(counts: readonly HandoffCounts[]): HandoffCounts {
  const out: HandoffCounts = emptyHandoffCounts();
  for (const c of counts) for (const k of Object.keys(out) as (keyof HandoffCounts)[]) out[k] += c[k];
  return out;
}

/** A report as text: the lines a failing test prints. */
export function formatReport(report: ScenarioReport): string {
  const lines = [
    `seed ${report.seed}: ${report.failures.length === 0 ? 'ok' : `${report.failures.length} failures`}, digest ${report.digest}, ${report.events} events, ${(report.simulatedMs / 1000).toFixed(1)} simulated s`,
    `operations: ${JSON.stringify(report.operations)}; max siblings read ${report.maxSiblings}`,
    `handoff: ${JSON.stringify(report.handoff)}; stray copies ${report.strayCopies}; requests refused ${report.refused}`,
    `network: ${JSON.stringify(report.network)}`,
    'timeline:',
    ...report.timeline.map((t) => `  ${t}`),
  ];
  if (report.failures.length > 0) {
    lines.push('failures:', ...report.failures.slice(0, 30).map((f) => `  ${f}`));
    if (report.failures.length > 30) lines.push(`  ... and ${report.failures.length - 30} more`);
    lines.push('last events:', ...report.traceTail.map((t) => `  ${t}`));
  }
  return lines.join('\n');
}
