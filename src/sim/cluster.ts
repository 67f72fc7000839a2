// A simulated cluster: the world, the network and the nodes, with the operations a test or a
// scenario performs on them as an operator or a client would — found, join, leave, commit, get,
// put, delete — each returning a promise that the world's events settle. `until` runs the world
// until such a promise settles, so a directed test reads as a script:
//
//   const c = new SimCluster({ ...simDefaults, seed: 1, nodes: ['n1', 'n2', 'n3'] });
//   c.found('n1');
//   await c.until(c.join('n2', 'n1'));
//   await c.until(c.commit('n1'));
//   await c.settle();

import { riakDefaultProps } from '../core/bucket.js';
import type { Result } from '../core/errors.js';
import type { GetReply, NewContent, PutReply } from '../core/kv.js';
import { checkSettled } from './checkers.js';
import type { HandoffOptions } from './handoff.js';
import { describeMessage, type NodeMessage } from './messages.js';
import { type LinkPolicy, type NetworkOptions, SimNetwork } from './network.js';
import { type CommitOutcome, SimNode, type SimNodeOptions } from './node.js';
import type { StorageOptions } from './storage.js';
import { objectKey } from './workload.js';
import { SimWorld } from './world.js';

export interface SimClusterOptions {
  readonly seed: number;
  /** Every node that may take part, joined or not. */
  readonly nodes: readonly string[];
  readonly partitions: number;
  readonly nVal: number;
  readonly gossipIntervalMs: number;
  readonly requestTimeoutMs: number;
  readonly network: NetworkOptions;
  readonly storage: StorageOptions;
  readonly handoff: HandoffOptions;
  /** Faults in force from the start (more can be added with `network.addPolicy`). */
  readonly linkPolicies: readonly LinkPolicy<NodeMessage>[];
  /** Pass cluster states through the wire codec on every send (slower; exercises the codec). */
  readonly wireCodec: boolean;
  /** Keep the whole trace in memory (to write out a failing run's trace). */
  readonly keepTrace: boolean;
}

/** Defaults for everything but the seed and the nodes: a LAN-like network, an SSD-like fsync. */
export const simDefaults: Omit<SimClusterOptions, 'seed' | 'nodes'> = {
  partitions: 64,
  nVal: 3,
  gossipIntervalMs: 1_000,
  requestTimeoutMs: 5_000,
  network: { minDelayUs: 100, maxDelayUs: 2_000, localDelayUs: 20 },
  storage: { fsyncMinUs: 200, fsyncMaxUs: 3_000 },
  handoff: { batchItems: 4, concurrency: 2, graceMs: 10_000, stallTimeoutMs: 30_000, batchPauseMs: 250 },
  linkPolicies: [],
  wireCodec: false,
  keepTrace: false,
};

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class SimCluster {
  readonly world: SimWorld;
  readonly network: SimNetwork<NodeMessage>;
  readonly nodes = new Map<string, SimNode>();

  constructor(readonly options: SimClusterOptions) {
    this.world = new SimWorld({ seed: options.seed, keepTrace: options.keepTrace });
    this.network = new SimNetwork<NodeMessage>(this.world, options.network, describeMessage);
    for (const policy of options.linkPolicies) this.network.addPolicy(policy);
    const nodeOptions: SimNodeOptions = {
      clusterName: 'sim',
      partitions: options.partitions,
      nVal: options.nVal,
      gossipIntervalMs: options.gossipIntervalMs,
      requestTimeoutMs: options.requestTimeoutMs,
      bucketProps: { ...riakDefaultProps, nVal: options.nVal },
      handoff: options.handoff,
      storage: options.storage,
      wireCodec: options.wireCodec,
    };
    for (const name of options.nodes) this.nodes.set(name, new SimNode(name, this.world, this.network, nodeOptions));
  }

  node(name: string): SimNode {
    const node = this.nodes.get(name);
    if (node === undefined) throw new Error(`no node ${name} in this cluster`);
    return node;
  }

  get all(): SimNode[] {
    return [...this.nodes.values()];
  }

  // ---- Operator

  found(name: string): void {
    this.node(name).found();
  }

  join(name: string, via: string): Promise<Result<void>> {
    return new Promise((resolve) => this.node(name).join(via, resolve));
  }

  /** Stages the leave of `name` on `via`'s copy (its own by default). */
  stageLeave(name: string, via: string = name): Result<void> {
    return this.node(via).stageLeave(name);
  }

  commit(via: string): Promise<CommitOutcome> {
    return new Promise((resolve) => this.node(via).commit(resolve));
  }

  // ---- Client, on string keys and values in one bucket

  get(via: string, key: string): Promise<Result<GetReply>> {
    return this.node(via).get(objectKey(key));
  }

  put(via: string, key: string, value: string, context: Uint8Array | undefined): Promise<Result<PutReply>> {
    const content: NewContent = { value: encoder.encode(value), contentType: 'text/plain', userMeta: [] };
    return this.node(via).put(objectKey(key), content, context, true);
  }

  delete(via: string, key: string, context: Uint8Array | undefined): Promise<Result<PutReply>> {
    return this.node(via).delete(objectKey(key), context);
  }

  /** The live values of a get's answer, sorted. */
  static values(reply: GetReply): string[] {
    return reply.found ? reply.contents.map((c) => decoder.decode(c.value)).sort() : [];
  }

  // ---- Running

  /** Runs the world until `promise` settles; fails it if `deadlineMs` of simulated time pass first. */
  async until<T>(promise: Promise<T>, deadlineMs = 60_000): Promise<T> {
    let settled = false;
    const watched = promise.finally(() => {
      settled = true;
    });
    await this.world.runUntil(this.world.nowUs + deadlineMs * 1000, () => settled);
    if (!settled) throw new Error(`not settled within ${deadlineMs} simulated ms`);
    return watched;
  }

  async runFor(ms: number): Promise<void> {
    await this.world.runUntil(this.world.nowUs + ms * 1000);
  }

  /** Runs until every member agrees and nothing moves (checked each simulated second); returns what still does not. */
  async settle(deadlineMs = 300_000): Promise<string[]> {
    const deadlineUs = this.world.nowUs + deadlineMs * 1000;
    let unsettled = checkSettled(this.all);
    while (unsettled.length > 0 && this.world.nowUs < deadlineUs) {
      await this.runFor(1_000);
      unsettled = checkSettled(this.all);
    }
    return unsettled;
  }
}

/** A result's error as text, for test messages. */
export function errorOf(result: Result<unknown>): string {
  return result.ok ? 'ok' : `${result.error.code}: ${result.error.message}`;
}

