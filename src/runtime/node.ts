// The composition root of one ringkv node: it locks the data directory, checks that the
// directory's layout matches the configuration, starts the supervisor (and with it the vnode
// hosts), the coordinators, the key-value service and the listeners, and stops them in the
// reverse order. Every long-lived object is made here and passed down; nothing is global.

import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rm, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Logger } from 'pino';
import { CoordinatorActor } from '../../actors/coordinator.js';
import type { Clock, TimerHandle, VnodeRouter } from '../../actors/ports.js';
import type { BucketProps } from '../core/bucket.js';
import type { NodeConfig } from './config.js';
import { type HttpFrontEnd, startHttpFrontEnd } from './http/server.js';
import { BucketTypes } from './bucket-types.js';
import { ClusterNode } from './cluster/cluster-node.js';
import { KvNodeService } from './kv-service.js';
import { startPbFrontEnd } from './pb/server.js';
import { startRespFrontEnd } from './resp/front-end.js';
import type { TcpFrontEnd } from './wire/tcp-front-end.js';
import { chooseLogFormat } from './log.js';
import { NodeStats } from './stats.js';
import { Supervisor } from './vnode-host/supervisor.js';
import { WriteWarningReporter, writeWarningLogIntervalMs } from './write-warnings.js';

export interface RunningNode {
  readonly addresses: { readonly http?: string; readonly resp?: string; readonly pb?: string; readonly peer?: string };
  readonly dataDir: string;
  readonly kv: KvNodeService;
  /** For fault tests and the control plane. */
  readonly supervisor: Supervisor;
  readonly cluster: ClusterNode;
  /** What GET /v1/stats answers. */
  stats(): Promise<unknown>;
  stop(reason: string): Promise<void>;
  readonly stopped: Promise<{ reason: string; exitCode: number }>;
}

export class NodeStartError extends Error {
  readonly code = 'node_start_failed';
}

const layoutFormatVersion = 1;

/** What a data directory was created with; a restart must match it. */
interface DataDirLayout {
  readonly formatVersion: number;
  readonly partitions: number;
  readonly workers: number;
}

const realClock: Clock = {
  nowMs: () => Date.now(),
  setTimer: (delayMs, fire) => ({ id: setTimeout(fire, delayMs) }),
  clearTimer: (handle: TimerHandle) => clearTimeout(handle.id as NodeJS.Timeout),
};

async function lockDataDir(dataDir: string): Promise<() => Promise<void>> {
  const path = `${dataDir}/LOCK`;
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const file = await open(path, 'wx');
      await file.writeFile(String(process.pid));
      await file.close();
      return () => rm(path, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const pid = Number((await readFile(path, 'utf8').catch(() => '')).trim());
      if (Number.isInteger(pid) && pid > 0 && isAlive(pid)) {
        throw new NodeStartError(`data directory ${dataDir} is in use by process ${pid}; stop it or choose another --data-dir`);
      }
      await rm(path, { force: true }); // stale: its process is gone
    }
  }
  throw new NodeStartError(`could not lock data directory ${dataDir}`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function checkLayout(dataDir: string, config: NodeConfig): Promise<void> {
  const path = `${dataDir}/ringkv.json`;
  const wanted: DataDirLayout = { formatVersion: layoutFormatVersion, partitions: config.partitions, workers: config.workers };
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    await writeFile(path, JSON.stringify(wanted, null, 2) + '\n');
    return;
  }
  const found = JSON.parse(text) as DataDirLayout;
  if (found.formatVersion !== layoutFormatVersion) {
    throw new NodeStartError(`data directory ${dataDir} has layout format ${found.formatVersion}; this version reads format ${layoutFormatVersion}`);
  }
  if (found.partitions !== config.partitions) {
    throw new NodeStartError(`data directory ${dataDir} was created with ${found.partitions} partitions; the partition count is fixed, so start with --partitions ${found.partitions}`);
  }
  if (found.workers !== config.workers) {
    throw new NodeStartError(
      `data directory ${dataDir} was created with ${found.workers} workers; partitions are stored per worker, so start with --workers ${found.workers} (moving data between worker layouts is not supported yet)`,
    );
  }
}

export async function startNode(config: NodeConfig, log: Logger): Promise<RunningNode> {
  const dataDir = resolve(config.dataDir);
  await mkdir(dataDir, { recursive: true });
  const unlock = await lockDataDir(dataDir);
  try {
    await checkLayout(dataDir, config);
  } catch (error) {
    await unlock();
    throw error;
  }
  const stats = new NodeStats(Date.now());
  let resolveStopped!: (outcome: { reason: string; exitCode: number }) => void;
  const stopped = new Promise<{ reason: string; exitCode: number }>((r) => (resolveStopped = r));
  let stopping: Promise<void> | undefined;
  let storageFailure: string | undefined;

  // eslint-disable-next-line prefer-const -- the supervisor's callbacks need it before it exists
  let coordinators: CoordinatorActor;
  let cluster: ClusterNode | undefined;
  const supervisor = new Supervisor({
    workers: config.workers,
    vnodeHost: config.vnodeHost,
    partitions: config.partitions,
    dataDir,
    workerInflightMax: config.workerInflightMax,
    intensity: { maxRestarts: config.restartMaxRestarts, periodMs: config.restartPeriodMs },
    workerInit: {
      vnodeMailboxCapacity: config.vnodeMailboxCapacity,
      logLevel: config.logLevel,
      logFormat: chooseLogFormat(process.env, process.stdout.isTTY === true),
      nodeName: config.nodeName,
      faultInjection: config.faults.injection,
      store: {
        durability: config.durability,
        syncIntervalMs: config.syncIntervalMs,
        walSegmentBytesMax: config.walSegmentBytesMax,
        walPreallocateBytes: config.walPreallocateBytes,
        checkpointWalBytes: config.checkpointWalBytes,
        lmdbMapSizeBytes: config.lmdbMapSizeBytes,
        commitBatchRecordsMax: config.commitBatchRecordsMax,
        recordSyncedState: config.faults.recordSyncedState,
      },
    },
    onReply: (reply) => (cluster === undefined ? coordinators.onReply(reply) : cluster.router.onLocalReply(reply)),
    // The replies of a drain go to the peers now, not a whole event-loop iteration later.
    onDrained: () => cluster?.flushPeers(),
    onEscalate: (reason) => void stop(reason, 1),
    onStorageFailed: (worker, reason) => {
      storageFailure ??= `worker ${worker}: ${reason}`;
      log.error({ worker, reason }, 'storage failed; this node no longer acknowledges writes to the partitions of that worker');
    },
    log,
  });
  // Requests go to the local vnode hosts until the cluster router takes over (before any client can connect).
  let route: VnodeRouter = supervisor;
  coordinators = new CoordinatorActor({ send: (r, node) => route.send(r, node), hostOf: (p) => route.hostOf(p) }, realClock, config.workers * config.workerInflightMax, {
    first: config.readFanout,
    speculateMs: config.readSpeculateMs,
  });
  try {
    await supervisor.start();
  } catch (error) {
    await supervisor.stop();
    await unlock();
    throw new NodeStartError(`the vnode hosts failed to start: ${(error as Error).message}`);
  }
  try {
    cluster = await ClusterNode.start({
      config,
      dataDir,
      supervisor,
      toCoordinators: (reply) => coordinators.onReply(reply),
      nVal: Math.max(...Object.values(config.bucketTypes).map((t) => t.nVal)),
      log,
    });
  } catch (error) {
    await supervisor.stop();
    await unlock();
    throw new NodeStartError((error as Error).message);
  }
  route = cluster.router;
  const clusterNode = cluster;

  const bucketTypes = new Map<string, BucketProps>(Object.entries(config.bucketTypes));
  const startedAt = process.hrtime.bigint();
  const kv = new KvNodeService({
    coordinators,
    replicas: (first, nVal, sloppy) => clusterNode.replicas(first, nVal, sloppy),
    bucketTypes,
    stats,
    writeWarnings: new WriteWarningReporter(log, stats, writeWarningLogIntervalMs),
    limits: {
      maxKeyBytes: config.maxKeyBytes,
      maxBucketBytes: config.maxBucketBytes,
      maxValueBytes: config.maxValueBytes,
      maxContentTypeBytes: config.maxContentTypeBytes,
      maxUserMetaBytes: config.maxUserMetaBytes,
      maxSiblings: config.maxSiblings,
      warnSiblings: config.warnSiblings,
      maxObjectBytes: config.maxObjectBytes,
      warnObjectBytes: config.warnObjectBytes,
      defaultTimeoutMs: config.defaultTimeoutMs,
      maxTimeoutMs: config.maxTimeoutMs,
      partitions: config.partitions,
    },
    nowMs: () => Date.now(),
    monotonicUs: () => Number(process.hrtime.bigint() - startedAt) / 1000,
  });
  // A node started with --join serves no request until it has joined: a write taken meanwhile
  // would land in its own one-node ring, and a node holding data may not join a cluster.
  if (config.join !== '' && !clusterNode.isMemberOfCluster()) {
    kv.refuseRequests(`this node is joining the cluster at ${config.join} (--join) and serves requests once it has joined; ask another node`);
  }

  const types = new BucketTypes(clusterNode.membership, bucketTypes, config, () => kv);

  const statsSnapshot = async (): Promise<unknown> => ({
    node: config.nodeName,
    uptimeMs: Date.now() - stats.startedAtMs,
    durability: config.durability,
    storageFailure: storageFailure ?? null,
    requests: stats.summary(),
    siblingsWarnings: stats.siblingsWarnings,
    objectSizeWarnings: stats.objectSizeWarnings,
    inflight: coordinators.inflight,
    vnodeHost: config.vnodeHost,
    workerRestarts: supervisor.restarts,
    workers: await supervisor.stats(),
    cluster: clusterNode.stats(),
  });

  let http: HttpFrontEnd | undefined;
  if (config.httpPort !== 0) {
    try {
      http = await startHttpFrontEnd(
        {
          host: config.httpHost,
          port: config.httpPort,
          maxRequestBodyBytes: config.maxRequestBodyBytes,
          maxConnections: config.httpMaxConnections,
          idleTimeoutMs: config.httpIdleTimeoutMs,
          headersTimeoutMs: config.httpHeadersTimeoutMs,
          requestTimeoutMs: config.httpRequestTimeoutMs,
        },
        { kv, stats: statsSnapshot, cluster: clusterNode, bucketTypes: types, generateKey: () => randomBytes(15).toString('base64url'), log },
      );
    } catch (error) {
      await clusterNode.stop();
      await supervisor.stop();
      await unlock();
      throw new NodeStartError(`cannot listen for HTTP on ${config.httpHost}:${config.httpPort}: ${(error as Error).message}`);
    }
  }

  // The limits every binary front end (RESP, protocol buffers) applies, each to its own connections.
  const clientLimits = {
    maxConnections: config.clientMaxConnections,
    maxInflightPerConnection: config.clientMaxInflightPerConnection,
    maxUnsentBytes: config.clientMaxUnsentBytes,
    idleTimeoutMs: config.clientIdleTimeoutMs,
    frameTimeoutMs: config.clientFrameTimeoutMs,
  };

  let resp: TcpFrontEnd | undefined;
  if (config.respPort !== 0) {
    try {
      if (config.bucketTypes[config.respBucketType] === undefined) {
        throw new NodeStartError(`respBucketType "${config.respBucketType}" is not a bucket type defined in bucketTypes; define it, choose another, or start with --resp-port 0`);
      }
      resp = await startRespFrontEnd(
        {
          host: config.respHost,
          port: config.respPort,
          limits: clientLimits,
          maxFrameBytes: config.maxRequestBodyBytes,
          bucketType: config.respBucketType,
          bucket: config.respBucket,
          protocol: {
            maxArrayElements: config.respMaxArrayElements,
            maxLineBytes: config.respMaxLineBytes,
            keyOpsInFlightMax: config.respKeyOpsInFlightMax,
          },
          log,
        },
        { kv, startedAtMs: stats.startedAtMs, nodeName: config.nodeName },
      );
    } catch (error) {
      await http?.close();
      await clusterNode.stop();
      await supervisor.stop();
      await unlock();
      if (error instanceof NodeStartError) throw error;
      throw new NodeStartError(`cannot listen for the Redis protocol on ${config.respHost}:${config.respPort}: ${(error as Error).message} (start with --resp-port 0 to disable it)`);
    }
  }

  let pb: TcpFrontEnd | undefined;
  if (config.pbPort !== 0) {
    try {
      pb = await startPbFrontEnd(
        {
          host: config.pbHost,
          port: config.pbPort,
          limits: clientLimits,
          maxFrameBytes: config.maxRequestBodyBytes,
          log,
        },
        { kv, bucketTypes, nodeName: config.nodeName, partitions: config.partitions, ownerOf: (p) => clusterNode.membership.state.ring[p]!.owner, changeBucketType: (name, props) => types.change(name, props, 'update'), generateKey: () => randomBytes(15).toString('base64url') },
      );
    } catch (error) {
      await resp?.close();
      await http?.close();
      await clusterNode.stop();
      await supervisor.stop();
      await unlock();
      throw new NodeStartError(`cannot listen for protocol buffers on ${config.pbHost}:${config.pbPort}: ${(error as Error).message} (start with --pb-port 0 to disable it)`);
    }
  }

  async function stop(reason: string, exitCode = 0): Promise<void> {
    stopping ??= (async () => {
      log.info({ reason }, 'node stopping');
      kv.stopAccepting();
      const deadline = setTimeout(() => {
        log.error({ reason, shutdownTimeoutMs: config.shutdownTimeoutMs }, 'shutdown took too long; exiting');
        resolveStopped({ reason: `${reason} (shutdown timed out)`, exitCode: exitCode || 1 });
      }, config.shutdownTimeoutMs);
      deadline.unref();
      await pb?.close().catch((err: Error) => log.error({ err }, 'closing the protocol-buffers listener failed'));
      await resp?.close().catch((err: Error) => log.error({ err }, 'closing the Redis-protocol listener failed'));
      await http?.close().catch((err: Error) => log.error({ err }, 'closing the HTTP listener failed'));
      await clusterNode.stop().catch((err: Error) => log.error({ err }, 'stopping the cluster services failed'));
      await supervisor.stop();
      await unlock();
      clearTimeout(deadline);
      log.info({ reason }, 'node stopped');
      resolveStopped({ reason, exitCode });
    })();
    return stopping;
  }

  clusterNode.setClientAddresses(http?.url ?? '', pb?.address ?? '');
  if (config.join !== '') {
    void clusterNode.joinOnStart(
      config.join,
      () => stopping !== undefined,
      () => kv.acceptRequests(),
      (reason) => kv.refuseRequests(`this node could not join the cluster at ${config.join} (--join): ${reason}; it serves no requests until restarted without --join or with a seed that accepts it`),
    );
  }

  log.info({ node: config.nodeName, dataDir, workers: config.workers, vnodeHost: config.vnodeHost, partitions: config.partitions, durability: config.durability }, 'node started');
  const peerAddress = clusterNode.peerAddress;
  return {
    addresses: {
      ...(http === undefined ? {} : { http: http.url }),
      ...(resp === undefined ? {} : { resp: resp.address }),
      ...(pb === undefined ? {} : { pb: pb.address }),
      ...(peerAddress === undefined ? {} : { peer: peerAddress }),
    },
    dataDir,
    kv,
    supervisor,
    cluster: clusterNode,
    stats: statsSnapshot,
    stop: (reason) => stop(reason, 0),
    stopped,
  };
}
