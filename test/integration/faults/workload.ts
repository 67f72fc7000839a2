// The clients of a fault run. Each client loops over keys it shares with one neighbour (client c
// uses the key groups c and c+1, so every key has two writers and concurrent writes make
// siblings): read the key, then write a new unique value with the context the read returned, or
// now and then delete what it read, or write blind. Every operation is strict or sloppy at random
// and goes to a random node among those in service (a killed or stopped node is taken out, as a
// load balancer's health check would). A client whose write or delete had an unknown outcome
// leaves that key alone from then on, so every key's history stays checkable; the key's slot in
// its group gets a fresh key, so a long run does not run out of keys.

import { type Mode, History } from './history.js';
import { type Target, contextHeaderOf, deleteKey, readKey, writeKey } from './http-ops.js';

export interface WorkloadOptions {
  readonly clients: number;
  /** Keys in use in each group at any time; a client chooses among the keys of its two groups. */
  readonly keysPerGroup: number;
  readonly strictShare: number;
  readonly blindWriteShare: number;
  readonly deleteShare: number;
  readonly thinkMsMax: number;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function keyName(group: number, index: number): string {
  return `g${group}-k${index}`;
}

export class Workload {
  readonly history = new History();
  private running = false;
  private loops: Promise<void>[] = [];
  private valueSeq = 0;
  /** Keys each client no longer touches after an unknown outcome. */
  private readonly avoided: Set<string>[];
  /** The keys in use, per group and slot; a slot whose key was given up on gets a fresh key. */
  private readonly slots: string[][];
  private readonly nextKeyIndex: number[];

  constructor(
    private readonly options: WorkloadOptions,
    private readonly inService: () => readonly Target[],
    private readonly random: () => number,
  ) {
    this.avoided = Array.from({ length: options.clients }, () => new Set<string>());
    this.slots = Array.from({ length: options.clients }, (_, g) => Array.from({ length: options.keysPerGroup }, (_, i) => keyName(g, i)));
    this.nextKeyIndex = this.slots.map(() => options.keysPerGroup);
  }

  /** Client-key pairs given up on after an unknown outcome. */
  abandonedKeys(): number {
    return this.avoided.reduce((sum, s) => sum + s.size, 0);
  }

  start(): void {
    this.running = true;
    this.loops = Array.from({ length: this.options.clients }, (_, client) => this.run(client));
  }

  /** No new operations; resolves when the ones in flight have completed. */
  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }

  private pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.random() * items.length)]!;
  }

  private chooseKey(client: number): { group: number; slot: number; key: string } | undefined {
    const group = (client + (this.random() < 0.5 ? 0 : 1)) % this.options.clients;
    const slot = Math.floor(this.random() * this.options.keysPerGroup);
    const key = this.slots[group]![slot]!;
    return this.avoided[client]!.has(key) ? undefined : { group, slot, key };
  }

  /** The client gives the key up; its slot gets a fresh key for both clients of the group. */
  private abandon(client: number, at: { group: number; slot: number; key: string }): void {
    this.avoided[client]!.add(at.key);
    if (this.slots[at.group]![at.slot] === at.key) this.slots[at.group]![at.slot] = keyName(at.group, this.nextKeyIndex[at.group]!++);
  }

  private async run(client: number): Promise<void> {
    while (this.running) {
      await sleep(this.random() * this.options.thinkMsMax);
      const at = this.chooseKey(client);
      const targets = this.inService();
      if (at === undefined || targets.length === 0) continue;
      const mode: Mode = this.random() < this.options.strictShare ? 'strict' : 'sloppy';
      if ((await this.step(client, at.key, mode, targets)) === 'unknown') this.abandon(client, at);
    }
  }

  /** One read-then-write (or delete, or blind write); 'unknown' when a write's outcome is unknown. */
  private async step(client: number, key: string, mode: Mode, targets: readonly Target[]): Promise<'unknown' | 'known'> {
    const history = this.history;
    const value = `c${client}-${this.valueSeq++}`;
    if (this.random() < this.options.blindWriteShare) {
      const write = await writeKey(history, client, this.pick(targets), key, value, null, mode);
      return write.outcome === 'unknown' ? 'unknown' : 'known';
    }
    const read = await readKey(history, client, this.pick(targets), key, mode);
    if (read.outcome !== 'ok' || !this.running) return 'known';
    const context = contextHeaderOf(read.context);
    // Writes and deletes go through a node picked afresh, as independent requests would.
    const through = this.inService();
    if (through.length === 0) return 'known';
    if (context !== null && read.siblings!.length > 0 && this.random() < this.options.deleteShare) {
      const deleted = await deleteKey(history, client, this.pick(through), key, context, mode);
      return deleted.outcome === 'unknown' ? 'unknown' : 'known';
    }
    const write = await writeKey(history, client, this.pick(through), key, value, context, mode);
    return write.outcome === 'unknown' ? 'unknown' : 'known';
  }
}
