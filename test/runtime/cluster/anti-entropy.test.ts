// The anti-entropy scheduler and repair (src/runtime/cluster/anti-entropy.ts) on a cluster of
// four in-memory nodes: real VnodeTrees over in-memory stores, peer messages and vnode requests
// delivered on later turns, a manual clock. Replicas that missed writes, or hold concurrent
// versions, converge through exchanges alone; a peer that is down is skipped, one that does not
// answer fails the exchange at its deadline; every bound holds while the work gets done.

import test from 'ava';
import { pino } from 'pino';
import { ManualClock, turn } from '../../actors/manual-clock.js';
import { decodeObject, encodeObject, encodeStorageKey } from '../../../src/core/codec.js';
import type { VnodeReply } from '../../../src/core/messages.js';
import { type KvObject, applyWrite, emptyObject, mergeObjects, sameVersion } from '../../../src/core/object.js';
import { partitionOf, preferencePartitions } from '../../../src/core/ring.js';
import { applyReplicate } from '../../../src/core/vnode.js';
import { AntiEntropy, type AntiEntropyOptions, type TreeHost } from '../../../src/runtime/cluster/anti-entropy.js';
import type { UnnumberedRequest } from '../../../src/runtime/cluster/router.js';
import type { PeerMessage } from '../../../src/runtime/peer/messages.js';
import { type FoldSource, VnodeTrees } from '../../../src/runtime/vnode-host/vnode-trees.js';

const Q = 8;
const nVal = 3;
const names = ['n0', 'n1', 'n2', 'n3'];
const ownerOf = (partition: number): string => names[partition % names.length]!;
const ring = Array.from({ length: Q }, (_, p) => ({ owner: ownerOf(p) }));
const silent = pino({ level: 'silent' });

class MemoryStore implements FoldSource {
  readonly partitions = new Map<number, Map<string, { key: Uint8Array; value: Uint8Array }>>();

  get(partition: number, key: Uint8Array): Uint8Array | undefined {
    return this.partitions.get(partition)?.get(Buffer.from(key).toString('hex'))?.value;
  }

  put(partition: number, key: Uint8Array, value: Uint8Array): void {
    let items = this.partitions.get(partition);
    if (items === undefined) this.partitions.set(partition, (items = new Map()));
    items.set(Buffer.from(key).toString('hex'), { key, value });
  }

  remove(partition: number, key: Uint8Array): void {
    this.partitions.get(partition)?.delete(Buffer.from(key).toString('hex'));
  }

  foldBatch(partition: number, afterKey: Uint8Array | undefined, maxItems: number): ReturnType<FoldSource['foldBatch']> {
    const after = afterKey === undefined ? undefined : Buffer.from(afterKey);
    const rest = [...(this.partitions.get(partition)?.values() ?? [])].sort((a, b) => Buffer.compare(a.key, b.key)).filter((i) => after === undefined || Buffer.compare(i.key, after) > 0);
    const items = rest.slice(0, maxItems);
    const done = rest.length <= maxItems;
    return { items, done, resumeAfter: done ? undefined : items[items.length - 1]!.key };
  }
}

class FakeNode {
  readonly store = new MemoryStore();
  readonly trees = new VnodeTrees({ source: this.store, yieldTurn: turn, nowMs: () => 0, log: () => undefined });
  ae!: AntiEntropy;
  /** Reachable by the others. */
  up = true;
  /** Takes exchange requests and never answers them. */
  silentToExchanges = false;
  readsInFlight = 0;
  readsInFlightMax = 0;
  rebuildsInFlight = 0;
  rebuildsInFlightMax = 0;
  refusals: PeerMessage[] = [];

  constructor(readonly name: string) {}

  write(partition: number, key: Uint8Array, value: Uint8Array): void {
    this.store.put(partition, key, value);
    this.trees.onWrite(partition, key, value);
  }

  readonly host: TreeHost = {
    workerCount: 1,
    partitionsOf: () => Array.from({ length: Q }, (_, p) => p),
    workerIsReady: () => true,
    aaeTrack: async (_worker, config, partitions) => this.trees.track(config, partitions),
    aaeRebuild: async (partition) => {
      this.rebuildsInFlight++;
      this.rebuildsInFlightMax = Math.max(this.rebuildsInFlightMax, this.rebuildsInFlight);
      await this.trees.rebuild(partition);
      this.rebuildsInFlight--;
    },
    aaeAnswer: async (partition, tree, request) => this.trees.answer(partition, tree, request),
    aaeStats: async () => this.trees.stats(),
  };

  /** What this node's vnode does with a request from anti-entropy: read, or merge. */
  handle(request: UnnumberedRequest): VnodeReply {
    const base = { requestId: -1, partition: request.partition };
    if (request.type === 'VnodeGet') return { type: 'VnodeGetReply', ...base, object: this.store.get(request.partition, request.storageKey) };
    if (request.type !== 'VnodeReplicate') throw new Error(`unexpected ${request.type}`);
    const merged = applyReplicate(this.store.get(request.partition, request.storageKey), request.object);
    if (merged !== undefined) this.write(request.partition, request.storageKey, merged);
    return { type: 'VnodeReplicateReply', ...base, changed: merged !== undefined };
  }
}

class FakeCluster {
  readonly clock = new ManualClock();
  readonly nodes = new Map<string, FakeNode>();
  private seed = 42;

  constructor(private readonly overrides: Partial<AntiEntropyOptions> = {}) {
    for (const name of names) this.nodes.set(name, new FakeNode(name));
    for (const node of this.nodes.values()) node.ae = new AntiEntropy(this.options(node));
  }

  options(node: FakeNode): AntiEntropyOptions {
    return {
      self: node.name,
      partitionCount: Q,
      typeNVals: () => ({ default: nVal }),
      shape: { segments: 256, width: 16 },
      ring: () => ring,
      isUp: (peer) => this.node(peer).up,
      host: node.host,
      send: (to, message) => this.send(node.name, to, message),
      vnodeRequest: (to, request, onReply) => this.vnodeRequest(node, to, request, onReply),
      intervalMs: 1000,
      concurrency: 2,
      timeoutMs: 2000,
      maxKeysPerExchange: 1000,
      repairsInFlightMax: 8,
      rebuildConcurrency: 2,
      rebuildChunkKeys: 20,
      random: () => {
        this.seed = (Math.imul(this.seed, 1103515245) + 12345) >>> 0;
        return this.seed / 2 ** 32;
      },
      clock: this.clock,
      log: silent,
      ...this.overrides,
    };
  }

  node(name: string): FakeNode {
    return this.nodes.get(name)!;
  }

  private send(from: string, to: string, message: PeerMessage): 'queued' | 'unreachable' {
    const target = this.node(to);
    if (!target.up || !this.node(from).up) return 'unreachable';
    setImmediate(() => {
      if (message.kind === 'aaeRequest' && target.silentToExchanges) return;
      if (message.kind === 'aaeRequest' || message.kind === 'aaeAnswer') target.ae.onPeerMessage(from, message);
    });
    return 'queued';
  }

  private vnodeRequest(from: FakeNode, to: string, request: UnnumberedRequest, onReply: (reply: VnodeReply) => void): void {
    const target = this.node(to);
    if (request.type === 'VnodeGet') {
      from.readsInFlight++;
      from.readsInFlightMax = Math.max(from.readsInFlightMax, from.readsInFlight);
    }
    setImmediate(() => {
      if (request.type === 'VnodeGet') from.readsInFlight--;
      if (!target.up) onReply({ type: 'VnodeFailed', requestId: -1, partition: request.partition, error: { code: 'worker_unavailable', message: `${to} is down` } });
      else onReply(target.handle(request));
    });
  }

  start(): void {
    for (const node of this.nodes.values()) node.ae.start();
  }

  stop(): void {
    for (const node of this.nodes.values()) node.ae.stop();
  }

  /**
   * Writes `count` keys to their three replicas, except that `skip(i, position)` replicas miss
   * them, and `concurrent(i)` keys get a second, concurrent version on their second replica.
   * Returns, per key, the object every replica should end with: the merge of all it was given.
   */
  write(count: number, skip: (i: number, position: number) => boolean, concurrent: (i: number) => boolean = () => false): Map<string, KvObject> {
    const expected = new Map<string, KvObject>();
    for (let i = 0; i < count; i++) {
      const key = encodeStorageKey({ type: 'default', bucket: new TextEncoder().encode('b'), key: new TextEncoder().encode(`key-${i}`) });
      const partitions = preferencePartitions(partitionOf(key, Q), nVal, Q);
      const first = applyWrite(emptyObject, { context: [], content: { value: new TextEncoder().encode(`v${i}`), contentType: 'text/plain', userMeta: [] }, deleted: false }, 'writer-a', 1000 + i);
      const other = applyWrite(emptyObject, { context: [], content: { value: new TextEncoder().encode(`w${i}`), contentType: 'text/plain', userMeta: [] }, deleted: false }, 'writer-b', 2000 + i);
      let all = first;
      partitions.forEach((partition, position) => {
        if (skip(i, position)) return;
        const object = concurrent(i) && position === 1 ? other : first;
        if (object === other) all = mergeObjects(all, other);
        this.node(ownerOf(partition)).write(partition, key, encodeObject(object));
      });
      expected.set(Buffer.from(key).toString('hex'), all);
    }
    return expected;
  }

  /** Keys whose replicas do not all hold exactly the expected object. */
  diverged(expected: Map<string, KvObject>): string[] {
    const out: string[] = [];
    for (const [hex, object] of expected) {
      const key = Buffer.from(hex, 'hex');
      for (const partition of preferencePartitions(partitionOf(key, Q), nVal, Q)) {
        const stored = this.node(ownerOf(partition)).store.get(partition, key);
        if (stored === undefined || !sameVersion(decodeObject(stored), object)) out.push(`${hex}@${partition}`);
      }
    }
    return out;
  }

  /** Every preference list's replicas report the same root for its tree. */
  rootsAgree(): boolean {
    const roots = new Map<string, Set<string>>();
    for (const node of this.nodes.values()) {
      for (const vnode of node.trees.stats().partitions) {
        for (const tree of vnode.trees) {
          const id = `${tree.primaryPartition}/${tree.nVal}`;
          if (!roots.has(id)) roots.set(id, new Set());
          roots.get(id)!.add(tree.root);
        }
      }
    }
    return roots.size === Q && [...roots.values()].every((set) => set.size === 1);
  }

  sum(field: 'keysRepaired' | 'keysDiffering' | 'exchangesCompleted' | 'exchangesTruncated' | 'exchangesSkippedPeerDown'): number {
    return [...this.nodes.values()].reduce((total, node) => total + node.ae.counts[field], 0);
  }

  failures(reason: string): number {
    return [...this.nodes.values()].reduce((total, node) => total + (node.ae.counts.exchangesFailed[reason] ?? 0), 0);
  }
}

test('replicas that missed writes or hold concurrent versions converge through exchanges alone, and stay quiet after', async (t) => {
  const cluster = new FakeCluster();
  // A third of the keys miss their third replica, a few miss two; every seventh has a concurrent sibling.
  const expected = cluster.write(90, (i, position) => (i % 3 === 0 && position === 2) || (i % 10 === 1 && position > 0), (i) => i % 7 === 0);
  const before = cluster.diverged(expected).length;
  t.true(before > 40, `${before} replicas start out wrong`);
  cluster.start();
  let convergedAtMs: number | undefined;
  const startMs = cluster.clock.now;
  await cluster.clock.advance(8000, () => {
    if (convergedAtMs === undefined && cluster.diverged(expected).length === 0) convergedAtMs = cluster.clock.now - startMs;
  });
  t.deepEqual(cluster.diverged(expected), []);
  t.true(cluster.rootsAgree(), 'the trees of every preference list agree');
  t.log(`${before} diverged replicas repaired in ${convergedAtMs} ms (interval 1000 ms, first exchanges spread over it); keys repaired ${cluster.sum('keysRepaired')}`);
  t.true(cluster.sum('keysRepaired') >= 40);
  // Nothing differs any more: further exchanges compare roots and find nothing.
  const differing = cluster.sum('keysDiffering');
  const completed = cluster.sum('exchangesCompleted');
  await cluster.clock.advance(3000);
  t.is(cluster.sum('keysDiffering'), differing);
  t.true(cluster.sum('exchangesCompleted') > completed + 40, 'exchanges keep running');
  const stats = cluster.node('n0').ae.stats() as { trees: { ready: number; partitions: number }; schedule: { oldestExchangeAgeMs: number | null; neverExchanged: number } };
  t.like(stats.trees, { ready: 2, partitions: 2 });
  t.is(stats.schedule.neverExchanged, 0);
  t.true(stats.schedule.oldestExchangeAgeMs! <= 1500);
  cluster.stop();
});

test('exchanges skip a peer that is down, and repair what it missed once it is back', async (t) => {
  const cluster = new FakeCluster();
  cluster.node('n3').up = false;
  // n3 owns partitions 3 and 7: every key whose list includes them misses that replica.
  const expected = cluster.write(60, (i, position) => {
    const key = encodeStorageKey({ type: 'default', bucket: new TextEncoder().encode('b'), key: new TextEncoder().encode(`key-${i}`) });
    return ownerOf(preferencePartitions(partitionOf(key, Q), nVal, Q)[position]!) === 'n3';
  });
  cluster.start();
  await cluster.clock.advance(3000);
  t.true(cluster.sum('exchangesSkippedPeerDown') > 0);
  t.true(cluster.diverged(expected).length > 0, 'n3 cannot be repaired while it is down');
  cluster.node('n3').up = true;
  await cluster.clock.advance(10_000);
  t.deepEqual(cluster.diverged(expected), []);
  cluster.stop();
});

test('an exchange whose peer never answers fails at its deadline and is retried', async (t) => {
  const cluster = new FakeCluster({ timeoutMs: 500 });
  cluster.node('n1').silentToExchanges = true;
  const expected = cluster.write(30, (i, position) => i % 2 === 0 && position === 0);
  cluster.start();
  await cluster.clock.advance(4000);
  t.true(cluster.failures('timeout') > 0, JSON.stringify(cluster.node('n0').ae.counts.exchangesFailed));
  cluster.node('n1').silentToExchanges = false;
  await cluster.clock.advance(10_000);
  t.deepEqual(cluster.diverged(expected), []);
  cluster.stop();
});

test('bounds: repairs in flight, keys per exchange (a truncated exchange is followed at once), rebuilds at once', async (t) => {
  const cluster = new FakeCluster({ maxKeysPerExchange: 5, repairsInFlightMax: 2, rebuildConcurrency: 1 });
  const expected = cluster.write(200, (_i, position) => position === 2);
  cluster.start();
  let repairsMax = 0;
  await cluster.clock.advance(20_000, () => {
    for (const node of cluster.nodes.values()) repairsMax = Math.max(repairsMax, (node.ae.stats() as { keys: { repairsInFlight: number } }).keys.repairsInFlight);
  });
  t.deepEqual(cluster.diverged(expected), []);
  t.true(repairsMax <= 2 && repairsMax > 0, `${repairsMax} repairs in flight at most`);
  for (const node of cluster.nodes.values()) {
    t.true(node.readsInFlightMax <= 4, `${node.name}: ${node.readsInFlightMax} replica reads at once (two per repair)`);
    t.is(node.rebuildsInFlightMax, 1, `${node.name} rebuilt one vnode at a time`);
  }
  t.true(cluster.sum('exchangesTruncated') > 5, `${cluster.sum('exchangesTruncated')} truncated exchanges`);
  cluster.stop();
});

test('a node answers exchange requests only for partitions it owns', async (t) => {
  const cluster = new FakeCluster();
  const n1 = cluster.node('n1');
  const replies: PeerMessage[] = [];
  const ae = new AntiEntropy({ ...cluster.options(n1), send: (_to, message) => (replies.push(message), 'queued') });
  const request = { type: 'TreeHashesRequest' as const, exchangeId: 9, round: 1, side: 'b' as const, shape: { segments: 256, width: 16 }, depth: 0, indexes: [0] };
  ae.onPeerMessage('n0', { kind: 'aaeRequest', requestId: 5, partition: 2, tree: { primaryPartition: 0, nVal: 3 }, request });
  t.like(replies[0], { kind: 'aaeAnswer', requestId: 5, answer: { type: 'ExchangeSideFailed', reason: 'unavailable', exchangeId: 9, round: 1, side: 'b' } });
  ae.onPeerMessage('n0', { kind: 'aaeRequest', requestId: 6, partition: 1, tree: { primaryPartition: 0, nVal: 3 }, request });
  await turn();
  t.like(replies[1], { kind: 'aaeAnswer', requestId: 6, answer: { reason: 'unavailable' } }, 'owned, but its trees are not tracked yet');
  t.like(AntiEntropy.refuse('n9', { kind: 'aaeRequest', requestId: 7, partition: 1, tree: { primaryPartition: 0, nVal: 3 }, request }), { answer: { reason: 'unavailable', message: 'anti-entropy is off on n9' } });
});

test('an expired object spreads like any other, so every replica holds it for reaping, and the exchanges go quiet', async (t) => {
  const cluster = new FakeCluster();
  const expiresAtMs = cluster.clock.now + 500;
  const keys: Uint8Array[] = [];
  for (let i = 0; i < 12; i++) {
    const key = encodeStorageKey({ type: 'default', bucket: new TextEncoder().encode('b'), key: new TextEncoder().encode(`ttl-${i}`) });
    keys.push(key);
    const object = applyWrite(emptyObject, { context: [], content: { value: new TextEncoder().encode('v'), contentType: 'text/plain', userMeta: [] }, deleted: false, expiresAtMs }, 'writer', 1000);
    // Only the first replica got the write (the others missed it).
    const first = preferencePartitions(partitionOf(key, Q), nVal, Q)[0]!;
    cluster.node(ownerOf(first)).write(first, key, encodeObject(object));
  }
  await cluster.clock.advance(600);
  cluster.start();
  await cluster.clock.advance(6000);
  const held = keys.map((key) => [...cluster.nodes.values()].reduce((n, node) => n + [...node.store.partitions.keys()].filter((p) => node.store.get(p, key) !== undefined).length, 0));
  t.deepEqual(held, keys.map(() => nVal), 'every replica of every key holds the expired object (reaping confirms it on all, then removes it)');
  t.true(cluster.rootsAgree());
  const differing = cluster.sum('keysDiffering');
  await cluster.clock.advance(3000);
  t.is(cluster.sum('keysDiffering'), differing, 'no endless repairs');
  cluster.stop();
});
