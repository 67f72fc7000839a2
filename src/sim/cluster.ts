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
import { type ClusterState, type NewMember, claimantOf, commitPlan, completeTransfer, pendingTransfers, singletonCluster, stageJoin } from '../core/cluster.js';
import { contentsValue } from '../core/datatype.js';
import { type Result, assert } from '../core/errors.js';
import type { GetReply, NewContent, PutReply, ReadOptions, WriteOptions } from '../core/kv.js';
import { checkSettled } from './checkers.js';
import type { HandoffOptions } from './handoff.js';
import { describeMessage, type NodeMessage } from './messages.js';
import { type LinkPolicy, type NetworkOptions, SimNetwork } from './network.js';
import { type CommitOutcome, type LivenessOptions, type PlantedBug, type ReapingOptions, SimNode, type SimNodeOptions } from './node.js';
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
  /** Failure detection, sloppy quorum and hinted handoff (off: every node is believed up). */
  readonly liveness: LivenessOptions | undefined;
  /** A bug planted on purpose, to check that the checkers find it. */
  readonly plantedBug?: PlantedBug;
  /** Tombstone reaping on every node (off: tombstones are kept). */
  readonly reaping?: ReapingOptions;
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
  liveness: undefined,
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
      liveness: options.liveness,
      ...(options.plantedBug === undefined ? {} : { plantedBug: options.plantedBug }),
      ...(options.reaping === undefined ? {} : { reaping: options.reaping }),
    };
    for (const name of options.nodes) this.nodes.set(name, new SimNode(name, this.world, this.network, nodeOptions));
    this.network.incarnations = {
      current: (name) => this.nodes.get(name)?.process.generation ?? 0,
      connection: (from, to) => {
        const receiver = this.nodes.get(to);
        if (receiver === undefined) return 0;
        return this.nodes.get(from)?.connectionTo(to, receiver.process.generation, receiver.process.state !== 'down') ?? receiver.process.generation;
      },
    };
    // A request that reaches a host whose process is down is refused: the sender's connection fails it.
    this.network.onUndeliverable = (from, to, message) => {
      if (message.type !== 'VnodeRequestMsg') return;
      const { requestId, partition } = message.request;
      this.network.send(to, from, { type: 'Unreachable', reply: { type: 'VnodeFailed', requestId, partition, error: { code: 'worker_unavailable', message: `node ${to} refused the connection` } } });
    };
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

  /**
   * Forms a cluster of `names` at once, without running the joins: the state the joins, the
   * claimant's commit and every (empty) transfer would lead to, built with the same core functions
   * and given to every node. For runs that are about something else than membership.
   */
  bootstrap(names: readonly string[] = [...this.nodes.keys()]): ClusterState {
    assert(names.length > 0, 'a cluster has members');
    const member = (name: string): NewMember => this.node(name).member;
    let state = singletonCluster('sim', this.options.partitions, member(names[0]!));
    for (const name of names.slice(1)) {
      const staged = stageJoin(state, member(name), names[0]!);
      assert(staged.ok, `${name} can join`);
      state = staged.value;
    }
    const committed = commitPlan(state, this.options.nVal, claimantOf(state)!);
    assert(committed.ok, 'the joins commit');
    state = committed.value.state;
    for (const t of pendingTransfers(state)) state = completeTransfer(state, t.partition, t.from, t.to, t.from);
    for (const name of names) this.node(name).bootstrap(state);
    return state;
  }

  // ---- Faults on nodes

  /** The node's process dies (unsynced writes lost); its peers' connections to it are reset. */
  crash(name: string, wipe = false): void {
    const node = this.node(name);
    if (node.process.state === 'down') return;
    if (wipe) node.wipe();
    else node.crash();
    for (const other of this.nodes.keys()) if (other !== name) this.network.send(name, other, { type: 'ConnectionReset' });
  }

  restart(name: string): void {
    this.node(name).restart();
  }

  pause(name: string): void {
    this.node(name).process.pause();
  }

  resume(name: string): void {
    this.node(name).process.resume();
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

  get(via: string, key: string, options: ReadOptions = {}): Promise<Result<GetReply>> {
    return this.node(via).get(objectKey(key), options);
  }

  put(via: string, key: string, value: string, context: Uint8Array | undefined, options: WriteOptions & { readonly overwrite?: boolean } = {}): Promise<Result<PutReply>> {
    const content: NewContent = { value: encoder.encode(value), contentType: 'text/plain', userMeta: [] };
    return this.node(via).put(objectKey(key), content, context, true, options);
  }

  delete(via: string, key: string, context: Uint8Array | undefined, options: WriteOptions = {}): Promise<Result<PutReply>> {
    return this.node(via).delete(objectKey(key), context, options);
  }

  /** Adds `amount` to the counter at `key` (its siblings are counter states; see counterOf). */
  increment(via: string, key: string, amount: number, options: WriteOptions = {}): Promise<Result<PutReply>> {
    return this.node(via).updateDatatype(objectKey(key), { datatype: 'counter', increment: amount, adds: [], removes: [], context: undefined }, options);
  }

  /** The counter a get's answer holds: the merge of its siblings' states (0 when not found). */
  static counterOf(reply: GetReply): number {
    const value = contentsValue(reply.found ? reply.contents : [], 'counter');
    assert(value.ok, 'the key holds counter states');
    return value.value?.type === 'counter' ? value.value.value : 0;
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

