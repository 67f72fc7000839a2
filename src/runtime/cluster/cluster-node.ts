// The cluster side of one node, put together: the node-to-node transport, this node's view of the
// cluster (membership and gossip), the router that sends vnode requests to their owners, and
// ownership handoff. It also answers the admin operations (status, ring, join, leave, plan,
// commit) that the HTTP API and the `ringkv cluster` command expose.
//
// With the peer listener disabled (peerPort 0) the node is a cluster of one: the same router
// sends every request to the local vnode hosts, and join is refused with the reason.

import type { Logger } from 'pino';
import {
  type NewMember,
  activeMembers,
  claimantOf,
  memberOf,
  partitionsOwnedBy,
  pendingTransfers,
  preferenceList,
  ringVersion,
  seedBucketTypes,
  singletonCluster,
  updateMemberInfo,
} from '../../core/cluster.js';
import { type Result, fail, ok } from '../../core/errors.js';
import { FailureDetectors, defaultFailureDetectorOptions } from '../../core/failure-detector.js';
import { preferencePartitions } from '../../core/ring.js';
import type { Placement } from '../../../actors/coordinator.js';
import type { VnodeReply } from '../../core/messages.js';
import type { NodeConfig } from '../config.js';
import { isLoopback } from '../config.js';
import type { PeerMessage } from '../peer/messages.js';
import { PeerTransport } from '../peer/transport.js';
import type { Supervisor } from '../vnode-host/supervisor.js';
import { AntiEntropy, antiEntropyFromConfig, unrefClock } from './anti-entropy.js';
import { Reaper } from '../../../actors/reaper.js';
import { Handoff } from './handoff.js';
import { Membership, type MembershipTransport } from './membership.js';
import { ClusterRouter } from './router.js';
import { ClusterStateFile, loadClusterState } from './state-file.js';

/** The failure detectors run on monotonic time: a wall clock stepped back or forward must not blind or alarm them. */
/** How long one attempt of `--join` may take before the next starts (a hung attempt is left behind). */
const joinAttemptMs = 30_000;

function monotonicMs(): number {
  return performance.now();
}

function round2(value: number): number {
  return Math.round(value * 100) / 100;
}

/** Used when no clusterSecret is configured; loopback only (checked by the config). */
const developmentSecret = 'ringkv-development-secret-loopback-only';

export class ClusterStartError extends Error {}

export interface ClusterNodeDeps {
  readonly config: NodeConfig;
  readonly dataDir: string;
  readonly supervisor: Supervisor;
  readonly toCoordinators: (reply: VnodeReply) => void;
  readonly nVal: number;
  readonly log: Logger;
}

export interface ClusterAdmin {
  status(): Promise<unknown>;
  ring(): unknown;
  plan(): unknown;
  join(seed: string): Promise<Result<unknown>>;
  leave(node: string | undefined): Result<unknown>;
  commit(): Promise<Result<unknown>>;
  clear(): unknown;
}

const noPeers = {
  send: (): 'unreachable' => 'unreachable',
  setPeerAddress: (): void => undefined,
  connect: (): void => undefined,
  removePeer: (): void => undefined,
  dial: (): Promise<string> => Promise.reject(new Error('the node-to-node listener is disabled (peerPort 0); this node cannot join a cluster')),
};

/** How often the set of nodes believed down is recomputed from the detectors. */
const livenessTickMs = 100;
/** A liveness check later than this after the previous one means this node itself stalled. */
const livenessStallMs = 1000;

export class ClusterNode implements ClusterAdmin {
  private downNodes: ReadonlySet<string> = new Set();
  private antiEntropy: AntiEntropy | undefined;
  private reaper: Reaper | undefined;

  private constructor(
    readonly router: ClusterRouter,
    readonly membership: Membership,
    readonly handoff: Handoff,
    private readonly transport: PeerTransport | undefined,
    private readonly deps: ClusterNodeDeps,
    private readonly timers: readonly NodeJS.Timeout[],
    private readonly detectors: FailureDetectors,
  ) {}

  /** Whether a node is believed reachable: its link is up or being opened, and it is not suspected. */
  isUp(node: string): boolean {
    return !this.downNodes.has(node);
  }

  private lastLivenessMs: number | undefined;

  private refreshLiveness(): void {
    const now = monotonicMs();
    const sinceLastMs = now - (this.lastLivenessMs ?? now);
    const late = sinceLastMs > livenessStallMs;
    this.lastLivenessMs = now;
    if (late) {
      // This node's own event loop stalled (a pause, SIGSTOP, a long GC): the heartbeats its peers
      // sent meanwhile are still unread in its sockets, so the silence is its own. Raise no new
      // suspicion on this tick; the next one, after the sockets are read, judges fairly.
      this.deps.log.debug({ stalledMs: Math.round(sinceLastMs) }, 'liveness check ran late: not judging peers this tick');
      return;
    }
    const down = new Set<string>();
    for (const m of activeMembers(this.membership.state)) {
      if (m.name === this.deps.config.nodeName) continue;
      const linked = this.transport !== undefined && (this.transport.isConnected(m.name) || this.transport.isConnecting(m.name));
      const status = this.detectors.status(m.name, now);
      if (!linked || (status !== undefined && status !== 'up')) down.add(m.name);
    }
    const before = this.downNodes;
    this.downNodes = down;
    for (const name of down) if (!before.has(name)) this.deps.log.warn({ peer: name, phi: this.detectors.phi(name, now) }, 'peer suspected: routing requests around it');
    for (const name of before) if (!down.has(name)) this.deps.log.info({ peer: name }, 'peer reachable again');
  }

  /**
   * The replicas of a key whose partition is `first`: with sloppy quorum, a primary on a node
   * believed down is replaced by the next healthy node round the ring (a fallback, which keeps
   * the write as a hint for the owner).
   */
  replicas(first: number, nVal: number, sloppyQuorum: boolean): { partitions: readonly number[]; placement?: Placement } {
    const state = this.membership.state;
    if (this.downNodes.size === 0 || !sloppyQuorum) return { partitions: preferencePartitions(first, nVal, state.partitions) };
    const entries = preferenceList(state, first, nVal, (node) => this.isUp(node));
    const fallbacks = new Map<number, string>();
    for (const e of entries) if (!e.primary) fallbacks.set(e.partition, e.node);
    return fallbacks.size === 0 ? { partitions: entries.map((e) => e.partition) } : { partitions: entries.map((e) => e.partition), placement: { fallbacks } };
  }

  static async start(deps: ClusterNodeDeps): Promise<ClusterNode> {
    const { config, log } = deps;
    let loaded = await loadClusterState(deps.dataDir);
    if (loaded !== undefined && loaded.clusterName !== config.clusterName) {
      throw new ClusterStartError(`data directory ${deps.dataDir} belongs to cluster "${loaded.clusterName}", not "${config.clusterName}"; start with --cluster-name ${loaded.clusterName} or another --data-dir`);
    }
    if (loaded !== undefined && loaded.partitions !== config.partitions) {
      throw new ClusterStartError(`data directory ${deps.dataDir} holds a ring of ${loaded.partitions} partitions, not ${config.partitions}`);
    }
    if (loaded !== undefined && !loaded.members.some((m) => m.name === config.nodeName)) {
      throw new ClusterStartError(`data directory ${deps.dataDir} belongs to a cluster in which this node (${config.nodeName}) is not a member; was --node-name changed?`);
    }

    // The late-bound parts: messages can arrive as soon as the transport listens.
    let onMessage: (from: string, message: PeerMessage) => void = () => undefined;
    let onPeerDown: (name: string, reason: string) => void = () => undefined;
    let transport: PeerTransport | undefined;
    if (config.peerPort !== 0) {
      if (config.clusterSecret === '') {
        log.warn({ peerHost: config.peerHost }, 'no clusterSecret configured: using the development default, which is only allowed on loopback addresses');
      }
      if (config.clusterSecret === '' && !isLoopback(config.peerHost)) throw new ClusterStartError('clusterSecret must be set when peerHost is not a loopback address');
      try {
        transport = await PeerTransport.start({
          nodeName: config.nodeName,
          clusterName: config.clusterName,
          secret: config.clusterSecret === '' ? developmentSecret : config.clusterSecret,
          host: config.peerHost,
          port: config.peerPort,
          maxFrameBytes: config.peerMaxFrameBytes,
          sendQueueBytesMax: config.peerSendQueueBytesMax,
          connectTimeoutMs: config.peerConnectTimeoutMs,
          handshakeTimeoutMs: config.peerHandshakeTimeoutMs,
          reconnectMinMs: config.peerReconnectMinMs,
          reconnectMaxMs: config.peerReconnectMaxMs,
          log,
          onMessage: (from, message) => onMessage(from, message),
          onPeerDown: (name, reason) => onPeerDown(name, reason),
        });
      } catch (error) {
        throw new ClusterStartError(`cannot listen for peers on ${config.peerHost}:${config.peerPort}: ${(error as Error).message} (start with --peer-port 0 to run without clustering)`);
      }
    }

    const self: NewMember = {
      name: config.nodeName,
      peerAddress: config.peerAdvertiseAddress !== '' ? config.peerAdvertiseAddress : transport?.address ?? '',
      zone: config.zone === '' ? undefined : config.zone,
      httpAddress: '',
      pbAddress: '',
    };
    loaded ??= singletonCluster(config.clusterName, config.partitions, self, config.bucketTypes);
    // Bucket types from the configuration that the cluster does not know yet join it (version 0:
    // any change made in the cluster wins over a configuration file).
    loaded = seedBucketTypes(loaded, config.bucketTypes, self.name);
    const initial = updateMemberInfo(loaded, { ...self, httpAddress: memberOf(loaded, self.name)?.httpAddress ?? '', pbAddress: memberOf(loaded, self.name)?.pbAddress ?? '' }, self.name);
    const file = new ClusterStateFile(deps.dataDir);
    await file.save(initial);

    const peers: MembershipTransport = transport === undefined ? noPeers : transport;
    // eslint-disable-next-line prefer-const -- the router's view needs the handoff, which needs the router
    let handoff: Handoff;
    let clusterNodeRef: ClusterNode | undefined;
    const detectors = new FailureDetectors({ ...defaultFailureDetectorOptions, threshold: config.phiThreshold });
    // eslint-disable-next-line prefer-const
    let membership: Membership;
    const router = new ClusterRouter(deps.supervisor, peers, {
      self: config.nodeName,
      ownerOf: (p) => membership.state.ring[p]!.owner,
      serves: (p) => {
        const entry = membership.state.ring[p]!;
        return entry.owner === config.nodeName || entry.next === config.nodeName || handoff.holds(p);
      },
      acceptsHints: () => handoff.acceptsHints(),
    }, deps.toCoordinators);
    router.internalTimeoutMs = Math.max(config.maxTimeoutMs, 30_000);
    membership = new Membership({
      self,
      initial,
      nVal: deps.nVal,
      gossipIntervalMs: config.gossipIntervalMs,
      controlTimeoutMs: 10_000,
      file,
      transport: peers,
      log,
      random: Math.random,
      holdsNoData: async () => {
        for (let p = 0; p < config.partitions; p++) if ((await deps.supervisor.countKeys(p)) > 0) return false;
        return true;
      },
    });
    handoff = new Handoff({
      membership,
      router,
      send: (to, message) => peers.send(to, message),
      host: deps.supervisor,
      concurrency: config.handoffConcurrency,
      batchItems: config.handoffBatchItems,
      batchBytes: config.handoffBatchBytes,
      graceMs: config.handoffGraceMs,
      retryMs: config.handoffRetryMs,
      ackTimeoutMs: 30_000,
      scanIntervalMs: config.handoffScanIntervalMs,
      isUp: (node) => node === config.nodeName || clusterNodeRef?.isUp(node) === true,
      hintMaxAgeMs: config.hintMaxAgeMs,
      hintMaxObjects: config.hintMaxObjects,
      log,
    });
    membership.onChange((state, previous) => {
      handoff.reconcile();
      const me = memberOf(state, config.nodeName);
      if (me?.status === 'left' && memberOf(previous, config.nodeName)?.status !== 'left') {
        log.warn('this node has left the cluster and owns no partitions; it can be stopped');
      }
    });
    let antiEntropy: AntiEntropy | undefined;
    onMessage = (from, message) => {
      // Any message is a sign of life; heartbeats, sent every second whatever else flows, are
      // also the samples of the interval phi is scaled by.
      if (message.kind === 'heartbeat') detectors.heartbeat(from, monotonicMs());
      else detectors.signOfLife(from, monotonicMs());
      switch (message.kind) {
        case 'heartbeat':
          return;
        case 'vnodeRequest':
          router.onPeerRequest(from, message.request);
          return;
        case 'vnodeReply':
          router.onPeerReply(from, message.reply);
          return;
        case 'gossip':
          membership.onGossip(from, message.state);
          return;
        case 'handoffBatch':
          handoff.onBatch(from, message);
          return;
        case 'handoffAck':
          handoff.onAck(from, message);
          return;
        case 'control':
          membership.onControl(from, message.requestId, message.body);
          return;
        case 'controlReply':
          membership.onControlReply(message.requestId, message.body);
          return;
        case 'aaeRequest':
          if (antiEntropy === undefined) peers.send(from, AntiEntropy.refuse(config.nodeName, message));
          else antiEntropy.onPeerMessage(from, message);
          return;
        case 'aaeAnswer':
          antiEntropy?.onPeerMessage(from, message);
          return;
      }
    };
    onPeerDown = (name, reason) => {
      log.info({ peer: name, reason }, 'peer connection down');
      router.onPeerDown(name, reason);
    };
    const watchMembers = (): void => {
      const now = monotonicMs();
      for (const m of membership.state.members) {
        if (m.name === config.nodeName) continue;
        if (m.status === 'left') detectors.remove(m.name);
        else detectors.watch(m.name, now);
      }
    };
    watchMembers();
    membership.onChange(watchMembers);
    const sweepTimer = setInterval(() => router.sweep(Date.now()), 1000);
    const heartbeatTimer = setInterval(() => {
      for (const m of activeMembers(membership.state)) if (m.name !== config.nodeName) peers.send(m.name, { kind: 'heartbeat' });
    }, config.heartbeatIntervalMs);
    const livenessTimer = setInterval(() => clusterNodeRef?.refreshLiveness(), livenessTickMs);
    for (const timer of [sweepTimer, heartbeatTimer, livenessTimer]) timer.unref();
    const node = new ClusterNode(router, membership, handoff, transport, deps, [sweepTimer, heartbeatTimer, livenessTimer], detectors);
    clusterNodeRef = node;
    antiEntropy = antiEntropyFromConfig(config, {
      host: deps.supervisor,
      ring: () => membership.state.ring,
      // The cluster's bucket types (those of the config file seed them), so a type created at run time is covered.
      typeNVals: () => Object.fromEntries(membership.state.bucketTypes.map((t) => [t.name, t.props.nVal])),
      isUp: (peer) => node.isUp(peer),
      send: (to, message) => peers.send(to, message),
      vnodeRequest: (to, request, onReply) => router.sendToPeerInternal(to, request, onReply),
      log,
    });
    node.antiEntropy = antiEntropy;
    membership.foreignPartitions = () => handoff.foreignPartitions();
    if (config.tombstoneReapIntervalMs > 0) {
      node.reaper = new Reaper({
        self: config.nodeName,
        partitionCount: config.partitions,
        ring: () => membership.state.ring,
        isUp: (peer) => node.isUp(peer),
        nValOf: (type) => membership.state.bucketTypes.find((t) => t.name === type)?.props.nVal,
        host: deps.supervisor,
        foreignPartitions: async () => {
          const own = handoff.foreignPartitions();
          if (own === undefined) return 'this node has not yet scanned for copies it holds';
          const others = activeMembers(membership.state).filter((m) => m.name !== config.nodeName);
          const answers = await Promise.all(others.map((m) => membership.foreignPartitionsOf(m.name)));
          const unknown = answers.find((a): a is string => typeof a === 'string');
          return unknown ?? new Set([...own, ...answers.flatMap((a) => a as readonly number[])]);
        },
        vnodeRequest: (to, request, onReply) => router.sendToPeerInternal(to, request, onReply),
        clock: unrefClock,
        nowMs: () => Date.now(),
        monotonicMs,
        intervalMs: config.tombstoneReapIntervalMs,
        delayMs: config.tombstoneReapDelayMs,
        batchKeys: config.tombstoneReapBatchKeys,
        inFlightMax: config.tombstoneReapInFlightMax,
        trackedMax: config.tombstoneReapTrackedMax,
        requestTimeoutMs: config.defaultTimeoutMs,
        log,
      });
    }
    membership.start();
    handoff.start();
    antiEntropy?.start();
    node.reaper?.start();
    log.info({ cluster: config.clusterName, peer: transport?.address ?? 'disabled', members: activeMembers(initial).length }, 'cluster services started');
    return node;
  }

  /** Records the client-facing addresses once the front ends listen. */
  setClientAddresses(httpAddress: string, pbAddress: string): void {
    const me = memberOf(this.membership.state, this.deps.config.nodeName);
    if (me === undefined) return;
    this.membership.update(updateMemberInfo(this.membership.state, { name: me.name, peerAddress: me.peerAddress, zone: me.zone, httpAddress, pbAddress }, me.name), true);
  }

  get peerAddress(): string | undefined {
    return this.transport?.address;
  }

  /** Sends the peer messages queued so far now rather than at the end of the turn (PeerTransport.flushNow). */
  flushPeers(): void {
    this.transport?.flushNow();
  }

  /** Whether this node is in a cluster of more than itself. */
  isMemberOfCluster(): boolean {
    return activeMembers(this.membership.state).length > 1;
  }

  /**
   * Joins on start (`--join`): retried until it works or the node stops, then committed.
   * `onJoined` runs once the node is a member (at once if it already was); `onRefused` when the
   * seed refuses it for good (another cluster, a node holding data).
   */
  async joinOnStart(seed: string, stopped: () => boolean, onJoined: () => void = () => {}, onRefused: (reason: string) => void = () => {}): Promise<void> {
    const { log } = this.deps;
    if (this.isMemberOfCluster()) {
      log.info({ seed }, 'already a member of a cluster; --join has nothing to do');
      onJoined();
      return;
    }
    let delayMs = 200;
    while (!stopped()) {
      // An earlier attempt that was given up on may have got through meanwhile.
      if (this.isMemberOfCluster()) break;
      // A throw (a worker restarting while the node checks it holds no data, say) or an attempt
      // that hangs is retried like a timeout: a node started with --join must not stay alone.
      const attempt = this.membership.join(seed).catch((error: unknown) => fail('insufficient_vnodes', `the join failed: ${(error as Error).message}`));
      let timer: NodeJS.Timeout | undefined;
      const gaveUp = new Promise<Result<unknown>>((resolve) => {
        timer = setTimeout(() => resolve(fail('timeout', `no outcome within ${joinAttemptMs} ms`)), joinAttemptMs);
      });
      const joined = await Promise.race([attempt, gaveUp]);
      clearTimeout(timer);
      if (joined.ok) break;
      if (joined.error.code === 'invalid_request') {
        if (this.isMemberOfCluster()) break;
        log.error({ seed, reason: joined.error.message }, 'cannot join the cluster');
        onRefused(joined.error.message);
        return;
      }
      log.warn({ seed, reason: joined.error.message, retryMs: delayMs }, 'join failed; retrying');
      await new Promise((r) => setTimeout(r, delayMs));
      delayMs = Math.min(delayMs * 2, 5000);
    }
    if (stopped()) return;
    onJoined();
    delayMs = 200;
    while (!stopped()) {
      if (memberOf(this.membership.state, this.deps.config.nodeName)?.staged !== true) return; // someone committed it
      const committed = await this.membership.commit();
      if (committed.ok) {
        log.info({ moves: committed.value.moves.length }, 'joined and committed the plan');
        return;
      }
      log.warn({ reason: committed.error.message, retryMs: delayMs }, 'commit after join failed; retrying');
      await new Promise((r) => setTimeout(r, delayMs));
      delayMs = Math.min(delayMs * 2, 5000);
    }
  }

  // ---- ClusterAdmin

  async status(): Promise<unknown> {
    const state = this.membership.state;
    const transfers = pendingTransfers(state);
    const peers = new Map((this.transport?.peers() ?? []).map((p) => [p.name, p]));
    return {
      cluster: state.clusterName,
      node: this.deps.config.nodeName,
      claimant: claimantOf(state) ?? null,
      partitions: state.partitions,
      ringVersion: ringVersion(state),
      members: state.members.map((m) => ({
        name: m.name,
        status: m.status,
        staged: m.staged,
        zone: m.zone ?? null,
        peerAddress: m.peerAddress,
        httpAddress: m.httpAddress,
        pbAddress: m.pbAddress,
        partitionsOwned: partitionsOwnedBy(state, m.name).length,
        partitionsIncoming: transfers.filter((t) => t.to === m.name).length,
        partitionsOutgoing: transfers.filter((t) => t.from === m.name).length,
        connected: m.name === this.deps.config.nodeName ? true : peers.get(m.name)?.connected ?? false,
        liveness: m.name === this.deps.config.nodeName ? 'up' : m.status === 'left' ? 'left' : this.isUp(m.name) ? 'up' : (this.detectors.status(m.name, monotonicMs()) ?? 'down') === 'up' ? 'unreachable' : this.detectors.status(m.name, monotonicMs()),
        phi: m.name === this.deps.config.nodeName ? 0 : round2(this.detectors.phi(m.name, monotonicMs()) ?? 0),
      })),
      pendingTransfers: transfers.length,
      transfers: this.handoff.status(),
      hints: this.handoff.hints(),
      staged: this.membership.plan(),
      antiEntropy: this.antiEntropy?.status() ?? { enabled: false },
      tombstones: this.reaper?.status() ?? { enabled: false },
    };
  }

  ring(): unknown {
    const state = this.membership.state;
    return {
      partitions: state.partitions,
      ringVersion: ringVersion(state),
      owners: state.ring.map((e, partition) => ({ partition, owner: e.owner, next: e.next ?? null })),
    };
  }

  plan(): unknown {
    return this.membership.plan();
  }

  async join(seed: string): Promise<Result<unknown>> {
    if (!/^[^\s:]+:\d{1,5}$/.test(seed)) return fail('invalid_request', `the seed must be host:port of a member's peer listener, got "${seed}"`);
    const joined = await this.membership.join(seed);
    if (!joined.ok) return joined;
    return ok({ joined: true, members: activeMembers(joined.value).map((m) => m.name), staged: true });
  }

  leave(node: string | undefined): Result<unknown> {
    const left = this.membership.leave(node);
    if (!left.ok) return left;
    return ok({ staged: true, leaving: node ?? this.deps.config.nodeName });
  }

  async commit(): Promise<Result<unknown>> {
    return this.membership.commit();
  }

  clear(): unknown {
    this.membership.clear();
    return { cleared: true };
  }

  stats(): unknown {
    return {
      ringVersion: ringVersion(this.membership.state),
      members: activeMembers(this.membership.state).length,
      router: this.router.counts,
      gossip: this.membership.counts,
      handoff: this.handoff.counts,
      hints: this.handoff.hints(),
      transfers: this.handoff.status(),
      peers: this.transport?.peers() ?? [],
      liveness: this.detectors.snapshot(monotonicMs()).map((h) => ({ ...h, phi: round2(h.phi), up: this.isUp(h.peer) })),
      antiEntropy: this.antiEntropy?.stats() ?? { enabled: false },
      tombstones: this.reaper === undefined ? { enabled: false } : { enabled: true, awaiting: this.reaper.status().awaiting, ...this.reaper.counts },
    };
  }

  async stop(): Promise<void> {
    for (const timer of this.timers) clearInterval(timer);
    this.antiEntropy?.stop();
    this.reaper?.stop();
    this.handoff.stop();
    await this.membership.stop();
    await this.transport?.close();
  }
}
