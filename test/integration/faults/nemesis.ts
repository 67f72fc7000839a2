// The faults of a run, in order, with a timeline of what happened when. Every fault is healed
// before the schedule ends: a killed node is restarted on its data directory and ports, a stopped
// one continued, a partition lifted. The short schedule is fixed (one of each kind); the long one
// draws faults and their lengths from a seeded random source, including overlapping ones (a kill
// during a partition, two nodes down at once) and a flapping partition.

import type { FaultCluster } from './fault-cluster.js';
import type { LinkRule } from './fault-proxy.js';

export interface TimelineEntry {
  readonly atMs: number;
  readonly event: string;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export class Nemesis {
  readonly timeline: TimelineEntry[] = [];
  /** performance.now() of the last heal: the end of the last fault. */
  lastHealMs = 0;
  readonly counts = { kills: 0, stops: 0, partitions: 0, oneWay: 0 };

  constructor(
    private readonly cluster: FaultCluster,
    private readonly startedMs: number,
  ) {}

  private note(event: string): void {
    this.timeline.push({ atMs: Math.round(performance.now() - this.startedMs), event });
  }

  private healed(event: string): void {
    this.lastHealMs = performance.now();
    this.note(event);
  }

  private name(index: number): string {
    return this.cluster.nodes[index]!.name.split('@')[0]!;
  }

  async kill(indexes: readonly number[], downMs: number): Promise<void> {
    this.counts.kills += indexes.length;
    this.note(`SIGKILL ${indexes.map((i) => this.name(i)).join(', ')}`);
    await Promise.all(indexes.map((i) => this.cluster.kill(i)));
    await sleep(downMs);
    await Promise.all(indexes.map((i) => this.cluster.restart(i)));
    this.healed(`restarted ${indexes.map((i) => this.name(i)).join(', ')}`);
  }

  async pause(indexes: readonly number[], stoppedMs: number): Promise<void> {
    this.counts.stops += indexes.length;
    this.note(`SIGSTOP ${indexes.map((i) => this.name(i)).join(', ')}`);
    for (const i of indexes) this.cluster.stop(i);
    await sleep(stoppedMs);
    for (const i of indexes) this.cluster.resume(i);
    this.healed(`SIGCONT ${indexes.map((i) => this.name(i)).join(', ')}`);
  }

  private cut(groups: readonly (readonly number[])[], rule: Exclude<LinkRule, 'pass'>): void {
    this.counts.partitions++;
    this.cluster.proxy.partition(groups.map((g) => g.map((i) => this.cluster.nodes[i]!.name)), rule);
    this.note(`partition ${groups.map((g) => g.map((i) => this.name(i)).join(' ')).join(' | ')} (${rule})`);
  }

  private heal(): void {
    this.cluster.proxy.heal();
    this.healed('heal');
  }

  async partition(groups: readonly (readonly number[])[], rule: Exclude<LinkRule, 'pass'>, lastsMs: number): Promise<void> {
    this.cut(groups, rule);
    await sleep(lastsMs);
    this.heal();
  }

  async oneWay(from: number, to: number, lastsMs: number): Promise<void> {
    this.counts.oneWay++;
    this.cluster.proxy.setRule(this.cluster.nodes[from]!.name, this.cluster.nodes[to]!.name, 'blackhole');
    this.note(`one-way: ${this.name(from)} -> ${this.name(to)} blackholed`);
    await sleep(lastsMs);
    this.heal();
  }

  /** A partition with a node of the larger side killed and restarted while it lasts. */
  async killDuringPartition(groups: readonly (readonly number[])[], victim: number, lastsMs: number): Promise<void> {
    this.cut(groups, 'blackhole');
    await sleep(lastsMs / 4);
    await this.kill([victim], lastsMs / 2);
    await sleep(lastsMs / 4);
    this.heal();
  }

  async flap(groups: readonly (readonly number[])[], times: number, periodMs: number): Promise<void> {
    for (let i = 0; i < times; i++) {
      this.cut(groups, 'blackhole');
      await sleep(periodMs);
      this.heal();
      await sleep(periodMs);
    }
  }

  /**
   * One fault of each kind, about 26 s in all. The stop and the partition outlast failure
   * detection (about 4 s) by a few seconds, so requests are routed around them and hints made.
   */
  async shortSchedule(): Promise<void> {
    await sleep(1500);
    await this.kill([1], 4000);
    await sleep(1500);
    await this.pause([2], 7000);
    await sleep(1500);
    await this.partition([[0, 1], [2, 3, 4]], 'blackhole', 8000);
  }

  /** Random faults for `durationMs`, each healed before the next begins. */
  async longSchedule(random: () => number, durationMs: number): Promise<void> {
    const size = this.cluster.nodes.length;
    const between = (min: number, max: number): number => Math.round(min + random() * (max - min));
    const shuffled = (): number[] => {
      const order = Array.from({ length: size }, (_, i) => i);
      for (let i = size - 1; i > 0; i--) {
        const j = Math.floor(random() * (i + 1));
        [order[i], order[j]] = [order[j]!, order[i]!];
      }
      return order;
    };
    const split = (minority: number): number[][] => {
      const order = shuffled();
      return [order.slice(0, minority), order.slice(minority)];
    };
    const faults: (() => Promise<void>)[] = [
      () => this.kill([shuffled()[0]!], between(2000, 8000)),
      () => this.kill(shuffled().slice(0, 2), between(3000, 6000)),
      () => this.pause([shuffled()[0]!], between(2000, 12_000)),
      () => this.pause(shuffled().slice(0, 2), between(3000, 8000)),
      () => this.partition(split(2), 'blackhole', between(3000, 10_000)),
      () => this.partition(split(1), 'drop', between(3000, 10_000)),
      () => {
        const [from, to] = shuffled();
        return this.oneWay(from!, to!, between(3000, 8000));
      },
      () => {
        const groups = split(2);
        return this.killDuringPartition(groups, groups[1]![0]!, between(6000, 12_000));
      },
      () => this.flap(split(2), 5, 700),
    ];
    const started = performance.now();
    await sleep(1500);
    while (performance.now() - started < durationMs) {
      const fault = faults[Math.floor(random() * faults.length)]!;
      await fault();
      await sleep(between(1000, 3000));
    }
  }
}
