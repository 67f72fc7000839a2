// The node's configuration: every limit and default of a running node lives here, in one table,
// together with the relations between them, which are checked once at start-up. Values merge as
// defaults < JSON config file < environment (RINGKV_*) < command-line flags; every problem found is
// collected into one ConfigError. This module only reads the config file; it starts nothing.

import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { datatypes, riakDefaultProps } from '../core/bucket.js';
import type { BucketProps, Datatype, QuorumSetting } from '../core/bucket.js';
import { ttlMsMax } from '../core/kv.js';

export type Durability = 'fsync' | 'interval' | 'none';
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
export type { QuorumSetting };

/**
 * The properties of a bucket type, as the core defines them (Riak's bucket props). Per-request
 * options override them; a type's maxSiblings may only lower the node-wide maxSiblings.
 */
export type BucketTypeProps = BucketProps;

/** Fault-injection switches. Used only by the crash tests; never set them in production. */
export interface FaultConfig {
  /** Record, after every sync, what the storage layer claims is durable, so a crash test can
   *  check it against what survives a kill. Env: RINGKV_FAULT_RECORD_SYNCED_STATE=1. */
  readonly recordSyncedState: boolean;
  /** Let tests inject storage faults (a failing fdatasync) into a running node's workers.
   *  Env: RINGKV_FAULT_INJECTION=1. */
  readonly injection: boolean;
}

export interface NodeConfig {
  readonly nodeName: string;
  readonly dataDir: string;
  readonly workers: number;
  /** Where the vnode hosts run: each on a worker thread of its own (the default), or all on the
   *  main thread (fewer thread crossings on a machine with few cores; no restart isolation). */
  readonly vnodeHost: 'worker-threads' | 'main-thread';
  /** Q, the number of partitions of the ring; fixed when the cluster is created. */
  readonly partitions: number;
  readonly httpHost: string;
  /** 0 disables the HTTP listener. */
  readonly httpPort: number;
  readonly logLevel: LogLevel;
  readonly durability: Durability;
  readonly syncIntervalMs: number;
  readonly walSegmentBytesMax: number;
  readonly walPreallocateBytes: number;
  readonly checkpointWalBytes: number;
  readonly lmdbMapSizeBytes: number;
  readonly commitBatchRecordsMax: number;
  readonly maxKeyBytes: number;
  readonly maxBucketBytes: number;
  readonly maxValueBytes: number;
  readonly maxContentTypeBytes: number;
  /** All user metadata of one value together, keys and values. */
  readonly maxUserMetaBytes: number;
  readonly maxSiblings: number;
  /** Siblings above which a client write is logged and counted (it still succeeds). */
  readonly warnSiblings: number;
  /** Encoded size of a whole object (all siblings) above which a client write is refused. */
  readonly maxObjectBytes: number;
  /** Encoded object size above which a client write is logged and counted. */
  readonly warnObjectBytes: number;
  readonly maxRequestBodyBytes: number;
  readonly defaultTimeoutMs: number;
  readonly maxTimeoutMs: number;
  readonly vnodeMailboxCapacity: number;
  /** Requests in flight to one worker before new ones are answered with `overload`. */
  readonly workerInflightMax: number;
  /** Replicas a read asks at first: as many as it needs ('quorum') or all of them ('all'). */
  readonly readFanout: 'quorum' | 'all';
  /** With readFanout 'quorum': the wait after which a read still unanswered asks the other replicas. */
  readonly readSpeculateMs: number;
  readonly restartMaxRestarts: number;
  readonly restartPeriodMs: number;
  readonly shutdownTimeoutMs: number;
  /** 0 disables the Riak-compatible protocol-buffers listener. */
  readonly pbHost: string;
  readonly pbPort: number;
  /** 0 disables the Redis-protocol (RESP2) listener. */
  readonly respHost: string;
  readonly respPort: number;
  /** The bucket type and bucket that Redis-protocol keys live in. */
  readonly respBucketType: string;
  readonly respBucket: string;
  /** Redis-protocol parser and command limits. */
  readonly respMaxArrayElements: number;
  readonly respMaxLineBytes: number;
  readonly respKeyOpsInFlightMax: number;
  /** Limits of the binary front ends (protocol buffers and RESP), per connection and in total. */
  readonly clientMaxConnections: number;
  readonly clientMaxInflightPerConnection: number;
  readonly clientMaxUnsentBytes: number;
  readonly clientIdleTimeoutMs: number;
  /** Once the first byte of a frame arrives, the whole frame must arrive within this. */
  readonly clientFrameTimeoutMs: number;
  readonly httpMaxConnections: number;
  readonly httpIdleTimeoutMs: number;
  readonly httpHeadersTimeoutMs: number;
  readonly httpRequestTimeoutMs: number;
  readonly defaultNVal: number;
  /** The node-to-node listener; 0 disables it (the node then cannot form or join a cluster). */
  readonly peerHost: string;
  readonly peerPort: number;
  /** host:port other nodes should dial to reach this node ('' = the address the listener bound). */
  readonly peerAdvertiseAddress: string;
  /** Nodes only talk to nodes of the same cluster name and secret. */
  readonly clusterName: string;
  /** Shared secret of the cluster ('' = the development default, allowed on loopback only). */
  readonly clusterSecret: string;
  /** Failure-domain label; claim spreads replicas over distinct zones where it can ('' = none). */
  readonly zone: string;
  /** host:port of a member's peer listener: join its cluster on start and commit the change. */
  readonly join: string;
  readonly peerMaxFrameBytes: number;
  readonly peerSendQueueBytesMax: number;
  readonly peerConnectTimeoutMs: number;
  readonly peerHandshakeTimeoutMs: number;
  readonly peerReconnectMinMs: number;
  readonly peerReconnectMaxMs: number;
  readonly gossipIntervalMs: number;
  /** How often this node tells every member it is alive (the failure detector's heartbeat). */
  readonly heartbeatIntervalMs: number;
  /** Phi at which a peer is suspected and routed around (phi-accrual failure detection). */
  readonly phiThreshold: number;
  /** How often the node looks for objects it holds for partitions it does not own (hints). */
  readonly handoffScanIntervalMs: number;
  /** Hints held longer than this for an owner that is still down are dropped (logged, counted). */
  readonly hintMaxAgeMs: number;
  /** Objects this node holds as hints before it refuses to be a fallback for more writes. */
  readonly hintMaxObjects: number;
  /** Partitions this node sends to new owners at once. */
  readonly handoffConcurrency: number;
  readonly handoffBatchItems: number;
  readonly handoffBatchBytes: number;
  /** How long an old owner keeps (and forwards writes for) a partition after handing it off. */
  readonly handoffGraceMs: number;
  /** Wait before retrying a failed transfer. */
  readonly handoffRetryMs: number;
  /** Active anti-entropy: Merkle trees in the workers, compared between replicas on a schedule. */
  readonly aaeEnabled: boolean;
  /** How often each replica compares each of its trees with the next replica's. */
  readonly aaeExchangeIntervalMs: number;
  /** Exchanges (comparison and repairs) this node runs at once. */
  readonly aaeExchangeConcurrency: number;
  readonly aaeExchangeTimeoutMs: number;
  readonly aaeMaxKeysPerExchange: number;
  /** Keys being repaired (both replicas read, the merge written back) at once on this node. */
  readonly aaeRepairsInFlightMax: number;
  /** Vnodes whose trees are rebuilt from storage at once on this node. */
  readonly aaeRebuildConcurrency: number;
  /** Keys a worker reads and hashes per rebuild step before it serves its mailboxes again. */
  readonly aaeRebuildChunkKeys: number;
  /** How often the tombstone reaper walks the owned partitions (0: tombstones are never reaped). */
  readonly tombstoneReapIntervalMs: number;
  /** A tombstone is reaped only once it is this old, every replica holds it, and no member holds hints of it. */
  readonly tombstoneReapDelayMs: number;
  readonly tombstoneReapBatchKeys: number;
  readonly tombstoneReapInFlightMax: number;
  /** Dead objects whose first confirmation the reaper remembers at once; the rest wait. */
  readonly tombstoneReapTrackedMax: number;
  /** Always has a `default` entry. */
  readonly bucketTypes: Readonly<Record<string, BucketTypeProps>>;
  /** Used only by crash tests. */
  readonly faults: FaultConfig;
}

/** The fields that hold one plain value and can come from a flag or an environment variable. */
export type ScalarField = Exclude<keyof NodeConfig, 'bucketTypes' | 'faults'>;

/** Overrides from the command line: typed values, or the strings a flag parser hands over. */
export type ConfigFlags = { readonly [K in ScalarField]?: NodeConfig[K] | string };

export interface LoadConfigInput {
  readonly flags: ConfigFlags;
  readonly env: NodeJS.ProcessEnv;
  readonly configFile?: string;
}

export class ConfigError extends Error {
  readonly code = 'invalid_config' as const;
  readonly problems: readonly string[];

  constructor(problems: readonly string[]) {
    super(`invalid configuration:\n${problems.map((problem) => `  - ${problem}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

// ---------------------------------------------------------------------------------------------
// Sizes

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;
const TiB = 1024 * GiB;
const sizeUnits: Readonly<Record<string, number>> = { b: 1, kib: KiB, mib: MiB, gib: GiB, tib: TiB };

/** Parses a byte size: a plain integer, or a number with B, KiB, MiB, GiB or TiB ('64MiB', '1.5 GiB'). */
export function parseSize(text: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(text.trim());
  if (match === null) return undefined;
  const unit = (match[2] ?? '').toLowerCase();
  const multiplier = unit === '' ? 1 : sizeUnits[unit];
  if (multiplier === undefined) return undefined;
  const bytes = Number(match[1]) * multiplier;
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}

/** Formats a byte count in the largest binary unit that divides it exactly: 67108864 → '64 MiB'. */
export function formatSize(bytes: number): string {
  for (const [unit, multiplier] of [['TiB', TiB], ['GiB', GiB], ['MiB', MiB], ['KiB', KiB]] as const) {
    if (bytes >= multiplier && bytes % multiplier === 0) return `${bytes / multiplier} ${unit}`;
  }
  return `${bytes} B`;
}

// ---------------------------------------------------------------------------------------------
// Value parsers: each accepts a JSON value or the string from an environment variable or flag.

type Parsed<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly expected: string };
type Parser<T> = (raw: unknown) => Parsed<T>;

function integerFrom(raw: unknown): number | undefined {
  if (typeof raw === 'number') return Number.isSafeInteger(raw) ? raw : undefined;
  if (typeof raw === 'string' && /^\s*[+-]?\d+\s*$/.test(raw)) {
    const value = Number(raw);
    return Number.isSafeInteger(value) ? value : undefined;
  }
  return undefined;
}

function integer(min: number, max: number): Parser<number> {
  return (raw) => {
    const value = integerFrom(raw);
    return value !== undefined && value >= min && value <= max
      ? { ok: true, value }
      : { ok: false, expected: `must be an integer from ${min} to ${max}` };
  };
}

function size(min: number, max: number): Parser<number> {
  return (raw) => {
    const value = typeof raw === 'string' ? parseSize(raw) : integerFrom(raw);
    return value !== undefined && value >= min && value <= max
      ? { ok: true, value }
      : {
          ok: false,
          expected: `must be a size from ${formatSize(min)} to ${formatSize(max)} (bytes, or a number with B, KiB, MiB, GiB or TiB)`,
        };
  };
}

function oneOf<T extends string>(values: readonly T[]): Parser<T> {
  return (raw) =>
    typeof raw === 'string' && (values as readonly string[]).includes(raw)
      ? { ok: true, value: raw as T }
      : { ok: false, expected: `must be one of ${values.join(', ')}` };
}

function text(pattern: RegExp, expected: string): Parser<string> {
  return (raw) => (typeof raw === 'string' && pattern.test(raw) ? { ok: true, value: raw } : { ok: false, expected });
}

const booleanParser: Parser<boolean> = (raw) => {
  if (typeof raw === 'boolean') return { ok: true, value: raw };
  if (raw === '1' || raw === 'true') return { ok: true, value: true };
  if (raw === '0' || raw === 'false') return { ok: true, value: false };
  return { ok: false, expected: 'must be true or false (or 1 or 0)' };
};

const quorumParser: Parser<QuorumSetting> = (raw) => {
  if (raw === 'one' || raw === 'quorum' || raw === 'all') return { ok: true, value: raw };
  const value = integerFrom(raw);
  return value !== undefined && value >= 0
    ? { ok: true, value }
    : { ok: false, expected: 'must be a non-negative integer or one of one, quorum, all' };
};

// ---------------------------------------------------------------------------------------------
// The table of fields: default, allowed values and meaning. Help text and docs derive from it.

const workersMax = 64;
const partitionsMax = 1024;
const partitionsDefault = 64;
const requestBodyOverheadBytes = 64 * KiB;
const logLevels: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

interface FieldSpec<T> {
  readonly defaultValue: T;
  /** How the default is described when it is derived from other values. */
  readonly defaultText?: string;
  readonly parse: Parser<T>;
  readonly isSize?: true;
  readonly meaning: string;
}

const oneHourMs = 3_600_000;
const millions = 1_000_000;

const fieldSpecs: { readonly [K in ScalarField]: FieldSpec<NodeConfig[K]> } = {
  nodeName: {
    defaultValue: 'ringkv@127.0.0.1',
    parse: text(/^[A-Za-z0-9_.-]+@[A-Za-z0-9_.:-]+$/, 'must look like name@host (letters, digits, _ . - and : in the host)'),
    meaning: 'the name of this node in the cluster, as name@host',
  },
  dataDir: {
    defaultValue: './data',
    parse: text(/\S/, 'must be a non-empty path'),
    meaning: 'directory for the write-ahead logs and LMDB files',
  },
  workers: {
    defaultValue: Math.min(availableParallelism(), workersMax, partitionsDefault),
    defaultText: `os.availableParallelism(), at most ${workersMax} and at most partitions`,
    parse: integer(1, workersMax),
    meaning: 'vnode hosts (each with its own WAL and LMDB environment), one worker thread each unless vnodeHost is main-thread',
  },
  vnodeHost: {
    defaultValue: 'worker-threads',
    parse: oneOf<NodeConfig['vnodeHost']>(['worker-threads', 'main-thread']),
    meaning: 'where the vnode hosts run: worker-threads (one thread each, restarted when one dies) or main-thread (no thread crossings; a host failure stops the node)',
  },
  partitions: {
    defaultValue: partitionsDefault,
    parse: integer(1, partitionsMax),
    meaning: 'Q, partitions of the ring (a power of two, fixed when the cluster is created)',
  },
  httpHost: { defaultValue: '127.0.0.1', parse: text(/\S/, 'must be a non-empty host name or address'), meaning: 'address the HTTP API listens on' },
  httpPort: { defaultValue: 8098, parse: integer(0, 65535), meaning: 'port of the HTTP API (0 disables it)' },
  logLevel: { defaultValue: 'info', parse: oneOf(logLevels), meaning: 'least severe log level written' },
  durability: {
    defaultValue: 'fsync',
    parse: oneOf<Durability>(['fsync', 'interval', 'none']),
    meaning: 'when writes are acknowledged: after fsync of their batch, after at most syncIntervalMs, or without syncing',
  },
  syncIntervalMs: { defaultValue: 100, parse: integer(1, 60_000), meaning: "how often the WAL is synced under durability 'interval'" },
  walSegmentBytesMax: { defaultValue: 64 * MiB, parse: size(64 * KiB, 4 * GiB), isSize: true, meaning: 'size at which a WAL segment is closed and a new one started' },
  walPreallocateBytes: {
    defaultValue: MiB,
    parse: size(0, GiB),
    isSize: true,
    meaning: 'zeros kept written ahead of the WAL, so that most fsyncs need not commit a new file size (0: off)',
  },
  checkpointWalBytes: { defaultValue: 256 * MiB, parse: size(64 * KiB, 64 * GiB), isSize: true, meaning: 'WAL bytes written since the last checkpoint that trigger a checkpoint' },
  lmdbMapSizeBytes: { defaultValue: 64 * GiB, parse: size(MiB, 16 * TiB), isSize: true, meaning: 'LMDB map size of each worker (address space, not disk)' },
  commitBatchRecordsMax: { defaultValue: 4096, parse: integer(1, millions), meaning: 'records in one group commit (one fsync, one LMDB transaction)' },
  maxKeyBytes: { defaultValue: 256, parse: size(1, 440), isSize: true, meaning: 'largest key accepted (LMDB keys hold type, bucket and key in 511 bytes)' },
  maxBucketBytes: { defaultValue: 128, parse: size(1, 440), isSize: true, meaning: 'largest bucket name accepted' },
  maxValueBytes: { defaultValue: 5 * MiB, parse: size(1, 512 * MiB), isSize: true, meaning: 'largest value accepted' },
  maxContentTypeBytes: { defaultValue: 256, parse: size(1, 4 * KiB), isSize: true, meaning: 'longest content type accepted' },
  maxUserMetaBytes: {
    defaultValue: 8 * KiB,
    parse: size(0, MiB),
    isSize: true,
    meaning: "largest user metadata of one value, keys and values together (HTTP carries it in headers, which Node limits to 16 KiB)",
  },
  maxSiblings: { defaultValue: 100, parse: integer(1, 10_000), meaning: 'most siblings an object may have; a write that would exceed it fails with too_many_siblings' },
  warnSiblings: { defaultValue: 25, defaultText: '25, at most maxSiblings', parse: integer(1, 10_000), meaning: 'siblings above which a client write is logged and counted (soft bound; repair is never refused)' },
  maxObjectBytes: {
    defaultValue: 50 * MiB,
    parse: size(1, 60 * MiB),
    isSize: true,
    meaning: 'largest stored object (all siblings, encoded) a client write may leave; larger fails with object_too_large (repair, handoff and anti-entropy are never refused)',
  },
  warnObjectBytes: { defaultValue: MiB, defaultText: '1 MiB, at most maxObjectBytes', parse: size(1, 60 * MiB), isSize: true, meaning: 'stored object size above which a client write is logged and counted (soft bound)' },
  maxRequestBodyBytes: {
    defaultValue: 5 * MiB + requestBodyOverheadBytes,
    defaultText: `maxValueBytes + ${formatSize(requestBodyOverheadBytes)}`,
    parse: size(1, 513 * MiB),
    isSize: true,
    meaning: 'largest request body a front end reads (at least maxValueBytes)',
  },
  defaultTimeoutMs: { defaultValue: 5000, parse: integer(1, oneHourMs), meaning: 'request timeout when the client gives none' },
  maxTimeoutMs: { defaultValue: 60_000, parse: integer(1, oneHourMs), meaning: 'largest request timeout a client may ask for' },
  vnodeMailboxCapacity: { defaultValue: 1024, parse: integer(1, millions), meaning: 'messages queued for one vnode before it answers overload' },
  workerInflightMax: { defaultValue: 10_000, parse: integer(1, millions), meaning: 'requests in flight to one worker before new ones are answered with overload' },
  readFanout: {
    defaultValue: 'quorum',
    parse: oneOf<'quorum' | 'all'>(['quorum', 'all']),
    meaning: 'replicas a read asks at first: quorum asks max(r, pr), local ones first, and the others only when one fails, they disagree, or readSpeculateMs pass; all asks every replica at once (as Riak does)',
  },
  readSpeculateMs: { defaultValue: 20, parse: integer(1, oneHourMs), meaning: 'with readFanout quorum: how long a read waits for the replicas it asked before asking the others too' },
  restartMaxRestarts: { defaultValue: 5, parse: integer(0, 1000), meaning: 'worker restarts allowed within restartPeriodMs before the node gives up and stops' },
  restartPeriodMs: { defaultValue: 60_000, parse: integer(1, oneHourMs), meaning: 'window over which worker restarts are counted' },
  shutdownTimeoutMs: { defaultValue: 10_000, parse: integer(1, oneHourMs), meaning: 'time a graceful stop may take before the node stops hard' },
  pbHost: { defaultValue: '127.0.0.1', parse: text(/\S/, 'must be a non-empty host name or address'), meaning: 'address the Riak-compatible protocol-buffers API listens on' },
  pbPort: { defaultValue: 8087, parse: integer(0, 65535), meaning: 'port of the protocol-buffers API (0 disables it)' },
  respHost: { defaultValue: '127.0.0.1', parse: text(/\S/, 'must be a non-empty host name or address'), meaning: 'address the Redis-protocol (RESP2) API listens on' },
  respPort: { defaultValue: 6379, parse: integer(0, 65535), meaning: 'port of the Redis-protocol API (0 disables it)' },
  respBucketType: { defaultValue: 'default', parse: text(/^[A-Za-z0-9_.-]{1,64}$/, 'must be a bucket type name'), meaning: 'bucket type of the keys the Redis protocol reads and writes' },
  respBucket: { defaultValue: 'redis', parse: text(/^.{1,128}$/, 'must be 1 to 128 characters'), meaning: 'bucket of the keys the Redis protocol reads and writes' },
  respMaxArrayElements: { defaultValue: 1024 * 1024, parse: integer(1, 64 * 1024 * 1024), meaning: 'arguments one Redis-protocol command may have; more is a protocol error' },
  respMaxLineBytes: { defaultValue: 64 * KiB, parse: size(16, 64 * MiB), isSize: true, meaning: 'longest Redis-protocol line (inline command or header) without CRLF; longer is a protocol error' },
  respKeyOpsInFlightMax: { defaultValue: 16, parse: integer(1, 4096), meaning: 'keys a multi-key Redis command (MGET, MSET, DEL, EXISTS) works on at once' },
  clientMaxConnections: { defaultValue: 4096, parse: integer(1, millions), meaning: 'open connections accepted at once by each binary listener (protocol buffers, Redis protocol)' },
  clientMaxInflightPerConnection: { defaultValue: 256, parse: integer(1, millions), meaning: 'requests one binary-protocol connection may have unanswered (pipelined) before the node stops reading from it' },
  clientMaxUnsentBytes: { defaultValue: 8 * MiB, parse: size(1024, 1024 * MiB), isSize: true, meaning: 'replies queued for a client that does not read them before the node stops reading its requests, and closes it past twice this' },
  clientIdleTimeoutMs: { defaultValue: 600_000, parse: integer(1, 24 * oneHourMs), meaning: 'binary-protocol connections idle this long are closed' },
  clientFrameTimeoutMs: { defaultValue: 30_000, parse: integer(1, oneHourMs), meaning: 'a started binary-protocol frame must be complete within this, or the connection is closed' },
  httpMaxConnections: { defaultValue: 1024, parse: integer(1, millions), meaning: 'open HTTP connections accepted at once' },
  httpIdleTimeoutMs: { defaultValue: 60_000, parse: integer(1, oneHourMs), meaning: 'idle keep-alive HTTP connections are closed after this' },
  httpHeadersTimeoutMs: { defaultValue: 10_000, parse: integer(1, oneHourMs), meaning: 'time allowed to receive the request headers' },
  httpRequestTimeoutMs: { defaultValue: 30_000, parse: integer(1, oneHourMs), meaning: 'time allowed to receive a whole request' },
  defaultNVal: { defaultValue: 3, parse: integer(1, partitionsMax), meaning: 'n_val of bucket types that do not set nVal' },
  peerHost: { defaultValue: '127.0.0.1', parse: text(/\S/, 'must be a non-empty host name or address'), meaning: 'address the node-to-node listener binds and other nodes reach this node at' },
  peerPort: { defaultValue: 8099, parse: integer(0, 65535), meaning: 'port of the node-to-node listener (0 disables it: the node cannot form or join a cluster)' },
  peerAdvertiseAddress: {
    defaultValue: '',
    defaultText: '(the bound peer address)',
    parse: text(/^(|[^\s:]+:\d{1,5})$/, 'must be empty or host:port'),
    meaning: 'address other nodes dial to reach this node, when it differs from where it listens (NAT, a proxy)',
  },
  clusterName: { defaultValue: 'ringkv', parse: text(/^[A-Za-z0-9_.-]{1,64}$/, 'must be 1 to 64 letters, digits, _ . -'), meaning: 'name of the cluster; nodes of other clusters are refused' },
  clusterSecret: {
    defaultValue: '',
    defaultText: '(development default, loopback only)',
    parse: text(/^(|.{16,1024})$/s, 'must be empty (development default, loopback only) or 16 to 1024 characters'),
    meaning: 'shared secret nodes prove to each other (never sent); required when peerHost is not a loopback address',
  },
  zone: { defaultValue: '', parse: text(/^[A-Za-z0-9_.-]{0,64}$/, 'must be up to 64 letters, digits, _ . -'), meaning: 'failure-domain label (rack, zone); replicas are spread over distinct zones where possible' },
  join: { defaultValue: '', parse: text(/^(|[^\s:]+:\d{1,5})$/, 'must be empty or host:port of a member\'s peer listener'), meaning: 'on start, join the cluster of the member at this peer address and commit the change' },
  peerMaxFrameBytes: { defaultValue: 16 * MiB, parse: size(64 * KiB, GiB), isSize: true, meaning: 'largest node-to-node frame; a larger length header closes the connection' },
  peerSendQueueBytesMax: { defaultValue: 64 * MiB, parse: size(64 * KiB, 16 * GiB), isSize: true, meaning: 'bytes queued for one peer before sends to it are answered with overload' },
  peerConnectTimeoutMs: { defaultValue: 3000, parse: integer(1, oneHourMs), meaning: 'time allowed to open a connection to a peer' },
  peerHandshakeTimeoutMs: { defaultValue: 3000, parse: integer(1, oneHourMs), meaning: 'time allowed for the mutual authentication of a new peer connection' },
  peerReconnectMinMs: { defaultValue: 100, parse: integer(1, oneHourMs), meaning: 'first wait before reconnecting to a peer; doubles per failure' },
  peerReconnectMaxMs: { defaultValue: 5000, parse: integer(1, oneHourMs), meaning: 'longest wait between reconnection attempts' },
  gossipIntervalMs: { defaultValue: 1000, parse: integer(10, oneHourMs), meaning: 'how often the node sends its view of the cluster to a random member' },
  heartbeatIntervalMs: { defaultValue: 1000, parse: integer(10, 60_000), meaning: 'how often the node sends every member a heartbeat for failure detection' },
  phiThreshold: { defaultValue: 8, parse: integer(1, 64), meaning: 'phi-accrual suspicion level at which a peer is routed around (higher: slower to suspect, fewer false suspicions)' },
  handoffScanIntervalMs: { defaultValue: 10_000, parse: integer(10, oneHourMs), meaning: 'how often the node looks for objects it holds for partitions it does not own (hints) to hand to their owners' },
  hintMaxAgeMs: { defaultValue: 7 * 24 * oneHourMs, parse: integer(1000, 365 * 24 * oneHourMs), meaning: 'hints held longer than this for an owner still down are dropped, with an error log and the hint_objects_dropped metric (anti-entropy must then repair)' },
  hintMaxObjects: { defaultValue: 10_000_000, parse: integer(1, 1_000_000_000), meaning: 'objects held as hints before the node refuses to be a fallback for more writes (overload)' },
  handoffConcurrency: { defaultValue: 2, parse: integer(1, 64), meaning: 'partitions this node transfers to new owners at once' },
  handoffBatchItems: { defaultValue: 256, parse: integer(1, 100_000), meaning: 'objects per handoff batch' },
  handoffBatchBytes: { defaultValue: MiB, parse: size(KiB, 256 * MiB), isSize: true, meaning: 'bytes per handoff batch (about; one object may exceed it)' },
  handoffGraceMs: { defaultValue: 10_000, parse: integer(0, oneHourMs), meaning: 'how long an old owner keeps serving, and forwarding writes for, a partition after handing it off' },
  handoffRetryMs: { defaultValue: 2000, parse: integer(1, oneHourMs), meaning: 'wait before retrying a failed partition transfer' },
  aaeEnabled: { defaultValue: true, parse: booleanParser, meaning: 'active anti-entropy: workers keep Merkle trees of the partitions this node owns, and replicas compare them on a schedule and repair what differs' },
  aaeExchangeIntervalMs: { defaultValue: 60_000, parse: integer(100, 24 * oneHourMs), meaning: 'how often each replica compares each of its trees with the next replica of that preference list' },
  aaeExchangeConcurrency: { defaultValue: 2, parse: integer(1, 64), meaning: 'anti-entropy exchanges (comparison and repairs) this node runs at once' },
  aaeExchangeTimeoutMs: { defaultValue: 10_000, parse: integer(100, oneHourMs), meaning: 'time the comparison of an anti-entropy exchange may take before it fails (a replica not answering)' },
  aaeMaxKeysPerExchange: { defaultValue: 1000, parse: integer(1, 100_000), meaning: 'differing keys one anti-entropy exchange repairs; the rest are left to the next exchange, which follows at once' },
  aaeRepairsInFlightMax: { defaultValue: 32, parse: integer(1, 10_000), meaning: 'keys this node repairs at once for anti-entropy (both replicas read, the merge written back)' },
  aaeRebuildConcurrency: { defaultValue: 2, parse: integer(1, 64), meaning: 'vnodes whose anti-entropy trees are rebuilt from storage at once on this node (after a start, or on gaining a partition)' },
  aaeRebuildChunkKeys: { defaultValue: 500, parse: integer(1, 100_000), meaning: 'keys a worker reads and hashes per tree-rebuild step before it serves its mailboxes again' },
  tombstoneReapIntervalMs: { defaultValue: 60_000, parse: integer(0, 24 * oneHourMs), meaning: 'how often the tombstone reaper walks the partitions this node owns; 0 never reaps' },
  tombstoneReapDelayMs: {
    defaultValue: oneHourMs,
    parse: integer(1000, 365 * 24 * oneHourMs),
    meaning: 'age a dead object (tombstone, or expired value) must reach before it is reaped, and the time the reaper waits, by its own clock, between confirming that every replica holds it and reaping it; reaped only if no member holds hints or stray copies of its partitions',
  },
  tombstoneReapBatchKeys: { defaultValue: 1000, parse: integer(1, 100_000), meaning: 'keys the reaper has a worker judge per step of a partition' },
  tombstoneReapInFlightMax: { defaultValue: 16, parse: integer(1, 1000), meaning: 'tombstones the reaper confirms and reaps at once' },
  tombstoneReapTrackedMax: {
    defaultValue: 1_000_000,
    parse: integer(1, 100_000_000),
    meaning: 'dead objects whose first confirmation the reaper remembers at once (about 100 bytes each); beyond it, the rest wait for a later pass',
  },
};

const scalarFields = Object.keys(fieldSpecs) as ScalarField[];

/** Riak's default bucket props, with the node's default n_val. */
function defaultBucketTypeProps(nVal: number): BucketTypeProps {
  return { ...riakDefaultProps, nVal };
}

const bucketTypeParsers: { readonly [K in keyof BucketTypeProps]-?: Parser<NonNullable<BucketTypeProps[K]>> } = {
  nVal: integer(1, partitionsMax),
  r: quorumParser,
  w: quorumParser,
  dw: quorumParser,
  pr: quorumParser,
  pw: quorumParser,
  allowMult: booleanParser,
  lastWriteWins: booleanParser,
  notfoundOk: booleanParser,
  basicQuorum: booleanParser,
  maxSiblings: integer(1, 10_000),
  warnSiblings: integer(1, 10_000),
  maxObjectBytes: size(1, 60 * MiB),
  warnObjectBytes: size(1, 60 * MiB),
  datatype: oneOf<Datatype>(datatypes),
  ttlMs: integer(0, ttlMsMax),
};


function deepFreeze<T extends object>(config: T): T {
  for (const value of Object.values(config)) if (typeof value === 'object' && value !== null) deepFreeze(value);
  return Object.freeze(config);
}

/** The configuration of a node given no file, environment or flags. */
export const defaultConfig: NodeConfig = deepFreeze({
  ...(Object.fromEntries(scalarFields.map((field) => [field, fieldSpecs[field].defaultValue])) as Pick<NodeConfig, ScalarField>),
  bucketTypes: { default: defaultBucketTypeProps(fieldSpecs.defaultNVal.defaultValue) },
  faults: { recordSyncedState: false, injection: false },
});

/** RINGKV_ + the SCREAMING_SNAKE form of a field name: httpPort → RINGKV_HTTP_PORT. */
export function envVarName(field: ScalarField): string {
  return `RINGKV_${field.replace(/[A-Z]/g, (letter) => `_${letter}`).toUpperCase()}`;
}

/** The command-line flag of a field: httpPort → --http-port. */
export function flagName(field: ScalarField): string {
  return `--${field.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`)}`;
}

// ---------------------------------------------------------------------------------------------
// Relations between fields, checked after every field parsed on its own.

interface Relation {
  readonly fields: readonly ScalarField[];
  readonly rule: string;
  readonly holds: (config: NodeConfig) => boolean;
  readonly problem: (config: NodeConfig) => string;
}

/** True for addresses only this machine can reach. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

const isPowerOfTwo = (value: number): boolean => value > 0 && (value & (value - 1)) === 0;

const relations: readonly Relation[] = [
  {
    // LMDB keys are at most 511 bytes; the storage key holds the type name (up to 64 bytes), the
    // bucket, the key and their length prefixes.
    fields: ['maxKeyBytes', 'maxBucketBytes'],
    rule: 'maxKeyBytes + maxBucketBytes <= 440',
    holds: (c) => c.maxKeyBytes + c.maxBucketBytes <= 440,
    problem: (c) => `maxKeyBytes + maxBucketBytes: must be at most 440 bytes together (storage keys are limited to 511 bytes), got ${c.maxKeyBytes} + ${c.maxBucketBytes}`,
  },
  {
    fields: ['partitions'],
    rule: 'partitions is a power of two',
    holds: (c) => isPowerOfTwo(c.partitions),
    problem: (c) => `partitions: must be a power of two from 1 to ${partitionsMax}, got ${c.partitions}`,
  },
  {
    fields: ['partitions', 'workers'],
    rule: 'partitions >= workers',
    holds: (c) => c.partitions >= c.workers,
    problem: (c) => `workers: must be at most partitions (${c.partitions}), got ${c.workers}`,
  },
  {
    fields: ['maxTimeoutMs', 'defaultTimeoutMs'],
    rule: 'maxTimeoutMs >= defaultTimeoutMs',
    holds: (c) => c.maxTimeoutMs >= c.defaultTimeoutMs,
    problem: (c) => `maxTimeoutMs: must be at least defaultTimeoutMs (${c.defaultTimeoutMs}), got ${c.maxTimeoutMs}`,
  },
  {
    fields: ['warnSiblings', 'maxSiblings'],
    rule: 'warnSiblings <= maxSiblings',
    holds: (c) => c.warnSiblings <= c.maxSiblings,
    problem: (c) => `warnSiblings: must be at most maxSiblings (${c.maxSiblings}), got ${c.warnSiblings}`,
  },
  {
    fields: ['warnObjectBytes', 'maxObjectBytes'],
    rule: 'warnObjectBytes <= maxObjectBytes',
    holds: (c) => c.warnObjectBytes <= c.maxObjectBytes,
    problem: (c) => `warnObjectBytes: must be at most maxObjectBytes (${c.maxObjectBytes}), got ${c.warnObjectBytes}`,
  },
  {
    fields: ['maxRequestBodyBytes', 'maxValueBytes'],
    rule: 'maxRequestBodyBytes >= maxValueBytes',
    holds: (c) => c.maxRequestBodyBytes >= c.maxValueBytes,
    problem: (c) => `maxRequestBodyBytes: must be at least maxValueBytes (${c.maxValueBytes}), got ${c.maxRequestBodyBytes}`,
  },
  {
    // WAL space is reclaimed by whole segments, so a checkpoint before one segment fills frees nothing.
    fields: ['checkpointWalBytes', 'walSegmentBytesMax'],
    rule: 'checkpointWalBytes >= walSegmentBytesMax',
    holds: (c) => c.checkpointWalBytes >= c.walSegmentBytesMax,
    problem: (c) => `checkpointWalBytes: must be at least walSegmentBytesMax (${c.walSegmentBytesMax}), got ${c.checkpointWalBytes}`,
  },
  {
    // Node's http server rejects a headers timeout longer than the request timeout.
    fields: ['httpHeadersTimeoutMs', 'httpRequestTimeoutMs'],
    rule: 'httpHeadersTimeoutMs <= httpRequestTimeoutMs',
    holds: (c) => c.httpHeadersTimeoutMs <= c.httpRequestTimeoutMs,
    problem: (c) => `httpHeadersTimeoutMs: must be at most httpRequestTimeoutMs (${c.httpRequestTimeoutMs}), got ${c.httpHeadersTimeoutMs}`,
  },
  {
    fields: ['peerReconnectMinMs', 'peerReconnectMaxMs'],
    rule: 'peerReconnectMinMs <= peerReconnectMaxMs',
    holds: (c) => c.peerReconnectMinMs <= c.peerReconnectMaxMs,
    problem: (c) => `peerReconnectMaxMs: must be at least peerReconnectMinMs (${c.peerReconnectMinMs}), got ${c.peerReconnectMaxMs}`,
  },
  {
    // A handoff batch or a replicated object must fit in one node-to-node frame.
    fields: ['peerMaxFrameBytes', 'maxRequestBodyBytes', 'handoffBatchBytes'],
    rule: 'peerMaxFrameBytes >= 2 x max(maxRequestBodyBytes, handoffBatchBytes)',
    holds: (c) => c.peerMaxFrameBytes >= 2 * Math.max(c.maxRequestBodyBytes, c.handoffBatchBytes),
    problem: (c) => `peerMaxFrameBytes: must be at least twice max(maxRequestBodyBytes, handoffBatchBytes) (${2 * Math.max(c.maxRequestBodyBytes, c.handoffBatchBytes)}), got ${c.peerMaxFrameBytes}`,
  },
  {
    fields: ['peerSendQueueBytesMax', 'peerMaxFrameBytes'],
    rule: 'peerSendQueueBytesMax >= 2 x peerMaxFrameBytes',
    holds: (c) => c.peerSendQueueBytesMax >= 2 * c.peerMaxFrameBytes,
    problem: (c) => `peerSendQueueBytesMax: must be at least twice peerMaxFrameBytes (${2 * c.peerMaxFrameBytes}), got ${c.peerSendQueueBytesMax}`,
  },
  {
    // A handoff batch goes to one vnode's mailbox at once on the receiving node.
    fields: ['handoffBatchItems', 'vnodeMailboxCapacity'],
    rule: 'handoffBatchItems <= vnodeMailboxCapacity / 2',
    holds: (c) => c.handoffBatchItems * 2 <= c.vnodeMailboxCapacity,
    problem: (c) => `handoffBatchItems: must be at most half of vnodeMailboxCapacity (${Math.floor(c.vnodeMailboxCapacity / 2)}), got ${c.handoffBatchItems}`,
  },
  {
    fields: ['clusterSecret', 'peerHost', 'peerPort'],
    rule: 'clusterSecret is set when peerHost is not a loopback address',
    holds: (c) => c.peerPort === 0 || c.clusterSecret !== '' || isLoopback(c.peerHost),
    problem: (c) => `clusterSecret: must be set (16 or more characters, in the config file or RINGKV_CLUSTER_SECRET) when the node-to-node listener is on a non-loopback address (peerHost ${c.peerHost}); the development default is for loopback only`,
  },
  {
    fields: ['defaultNVal', 'partitions'],
    rule: 'defaultNVal <= partitions',
    holds: (c) => c.defaultNVal <= c.partitions,
    problem: (c) => `defaultNVal: must be at most partitions (${c.partitions}), got ${c.defaultNVal}`,
  },
];

/** The relations checked at start-up, as text, for the docs. */
export function describeConfigRelations(): readonly string[] {
  return [
    ...relations.map((relation) => relation.rule),
    'bucketTypes.*.nVal <= partitions; numeric r, w <= nVal and >= 1; numeric dw, pr, pw <= nVal',
    'bucketTypes.*.maxSiblings <= maxSiblings; allowMult and lastWriteWins are not both true',
    'bucketTypes.*.maxObjectBytes <= maxObjectBytes; warnSiblings <= maxSiblings and warnObjectBytes <= maxObjectBytes (the type\'s own or the node\'s)',
    'bucketTypes.*.datatype needs allowMult true and lastWriteWins false',
  ];
}

function bucketTypeProblems(name: string, props: BucketTypeProps, config: NodeConfig): string[] {
  const problems: string[] = [];
  const at = `bucketTypes.${name}`;
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(name)) problems.push(`${at}: a bucket type name is 1 to 64 letters, digits, '_', '.' or '-'`);
  if (props.nVal > config.partitions) problems.push(`${at}.nVal: must be at most partitions (${config.partitions}), got ${props.nVal}`);
  for (const field of ['r', 'w', 'dw', 'pr', 'pw'] as const) {
    const value = props[field];
    const min = field === 'r' || field === 'w' ? 1 : 0;
    if (typeof value === 'number' && (value < min || value > props.nVal)) {
      problems.push(`${at}.${field}: must be from ${min} to nVal (${props.nVal}) or one of one, quorum, all, got ${value}`);
    }
  }
  if (props.maxSiblings !== undefined && props.maxSiblings > config.maxSiblings) {
    problems.push(`${at}.maxSiblings: must be at most maxSiblings (${config.maxSiblings}), got ${props.maxSiblings}`);
  }
  if (props.allowMult && props.lastWriteWins) problems.push(`${at}: allowMult and lastWriteWins cannot both be true`);
  if (props.maxObjectBytes !== undefined && props.maxObjectBytes > config.maxObjectBytes) {
    problems.push(`${at}.maxObjectBytes: must be at most maxObjectBytes (${config.maxObjectBytes}), got ${props.maxObjectBytes}`);
  }
  const maxSiblings = props.maxSiblings ?? config.maxSiblings;
  if (props.warnSiblings !== undefined && props.warnSiblings > maxSiblings) problems.push(`${at}.warnSiblings: must be at most maxSiblings (${maxSiblings}), got ${props.warnSiblings}`);
  const maxObjectBytes = props.maxObjectBytes ?? config.maxObjectBytes;
  if (props.warnObjectBytes !== undefined && props.warnObjectBytes > maxObjectBytes) {
    problems.push(`${at}.warnObjectBytes: must be at most maxObjectBytes (${maxObjectBytes}), got ${props.warnObjectBytes}`);
  }
  if (props.datatype !== undefined && (!props.allowMult || props.lastWriteWins)) {
    problems.push(`${at}: a datatype (${props.datatype}) type needs allowMult true and lastWriteWins false (concurrent updates are kept as siblings and merged)`);
  }
  return problems;
}

/**
 * A bucket type's properties changed at run time (`ringkv bucket-type create|update`, HTTP, protocol
 * buffers): `raw` holds the properties to set, over `base` (the type's current properties, or the
 * defaults for a new type), checked with the same parsers and rules as the config file.
 */
export function checkBucketTypeChange(name: string, raw: unknown, base: BucketTypeProps, config: NodeConfig): { ok: true; props: BucketTypeProps } | { ok: false; problems: string[] } {
  const problems: string[] = [];
  if (!isRecord(raw)) return { ok: false, problems: [`the properties must be a JSON object, got ${show(raw)}`] };
  const allowedProps = Object.keys(bucketTypeParsers);
  const props: Record<string, unknown> = { ...base };
  for (const [prop, value] of Object.entries(raw)) {
    const parser = (bucketTypeParsers as Readonly<Record<string, Parser<unknown>>>)[prop];
    if (parser === undefined) {
      problems.push(unknownKeyProblem(`bucket type ${name}`, prop, allowedProps));
      continue;
    }
    const parsed = parser(value);
    if (parsed.ok) props[prop] = parsed.value;
    else problems.push(`${prop}: ${parsed.expected}, got ${show(value)}`);
  }
  if (problems.length === 0) problems.push(...bucketTypeProblems(name, props as unknown as BucketTypeProps, config).map((p) => p.replace(/^bucketTypes\./, '')));
  return problems.length === 0 ? { ok: true, props: props as unknown as BucketTypeProps } : { ok: false, problems };
}

/** The properties of a new bucket type before any are given: Riak's defaults with defaultNVal. */
export function newBucketTypeProps(config: NodeConfig): BucketTypeProps {
  return defaultBucketTypeProps(config.defaultNVal);
}

// ---------------------------------------------------------------------------------------------
// Loading

interface Candidate {
  readonly raw: unknown;
  readonly source: string;
}

function show(raw: unknown): string {
  return JSON.stringify(raw) ?? String(raw);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, index) => index);
  for (let i = 1; i <= a.length; i += 1) {
    const current = [i];
    for (let j = 1; j <= b.length; j += 1) {
      const substitution = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

function unknownKeyProblem(where: string, key: string, allowed: readonly string[]): string {
  const camel = key.replace(/_([a-z])/g, (_, letter: string) => letter.toUpperCase());
  const suggestion = allowed.includes(camel)
    ? camel
    : allowed.find((name) => editDistance(name.toLowerCase(), key.toLowerCase()) <= 2);
  const hint = suggestion === undefined ? `allowed keys: ${allowed.join(', ')}` : `did you mean "${suggestion}"?`;
  return `${where}: unknown key "${key}" (${hint})`;
}

function readConfigFile(path: string, problems: string[]): Record<string, unknown> {
  let contents: string;
  try {
    contents = readFileSync(path, 'utf8');
  } catch (error) {
    problems.push(`config file ${path}: cannot be read (${(error as Error).message})`);
    return {};
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(contents);
  } catch (error) {
    problems.push(`config file ${path}: is not valid JSON (${(error as Error).message})`);
    return {};
  }
  if (!isRecord(parsed)) {
    problems.push(`config file ${path}: must hold a JSON object, got ${show(parsed)}`);
    return {};
  }
  const allowed = [...scalarFields, 'bucketTypes', 'faults'];
  for (const key of Object.keys(parsed)) {
    if (!allowed.includes(key)) problems.push(unknownKeyProblem(`config file ${path}`, key, allowed));
  }
  return parsed;
}

function parseBucketTypes(raw: unknown, source: string, defaultNVal: number, problems: string[]): Record<string, BucketTypeProps> {
  const bucketTypes: Record<string, BucketTypeProps> = { default: defaultBucketTypeProps(defaultNVal) };
  if (raw === undefined) return bucketTypes;
  if (!isRecord(raw)) {
    problems.push(`bucketTypes: must be an object of bucket type names to properties, got ${show(raw)} (from ${source})`);
    return bucketTypes;
  }
  const allowedProps = Object.keys(bucketTypeParsers);
  for (const [name, rawProps] of Object.entries(raw)) {
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(name)) {
      problems.push(`bucketTypes: type names must be 1 to 64 letters, digits, '_', '.' or '-', got ${show(name)} (from ${source})`);
      continue;
    }
    if (!isRecord(rawProps)) {
      problems.push(`bucketTypes.${name}: must be an object of properties, got ${show(rawProps)} (from ${source})`);
      continue;
    }
    const props: Record<string, unknown> = { ...defaultBucketTypeProps(defaultNVal) };
    for (const [prop, value] of Object.entries(rawProps)) {
      const parser = (bucketTypeParsers as Readonly<Record<string, Parser<unknown>>>)[prop];
      if (parser === undefined) {
        problems.push(unknownKeyProblem(`bucketTypes.${name} (from ${source})`, prop, allowedProps));
        continue;
      }
      const parsed = parser(value);
      if (parsed.ok) props[prop] = parsed.value;
      else problems.push(`bucketTypes.${name}.${prop}: ${parsed.expected}, got ${show(value)} (from ${source})`);
    }
    bucketTypes[name] = props as unknown as BucketTypeProps;
  }
  return bucketTypes;
}

const faultSwitches = {
  recordSyncedState: 'RINGKV_FAULT_RECORD_SYNCED_STATE',
  injection: 'RINGKV_FAULT_INJECTION',
} as const satisfies Record<keyof FaultConfig, string>;

function parseFaults(fileFaults: unknown, fileSource: string, env: NodeJS.ProcessEnv, problems: string[]): FaultConfig {
  const faults: { -readonly [K in keyof FaultConfig]: boolean } = { recordSyncedState: false, injection: false };
  const names = Object.keys(faultSwitches) as (keyof FaultConfig)[];
  if (fileFaults !== undefined) {
    if (!isRecord(fileFaults)) {
      problems.push(`faults: must be an object, got ${show(fileFaults)} (from ${fileSource})`);
    } else {
      for (const [key, value] of Object.entries(fileFaults)) {
        if (!(names as string[]).includes(key)) {
          problems.push(unknownKeyProblem(`faults (from ${fileSource})`, key, names));
          continue;
        }
        const parsed = booleanParser(value);
        if (parsed.ok) faults[key as keyof FaultConfig] = parsed.value;
        else problems.push(`faults.${key}: ${parsed.expected}, got ${show(value)} (from ${fileSource})`);
      }
    }
  }
  for (const name of names) {
    const envVar = faultSwitches[name];
    const envValue = env[envVar];
    if (envValue === undefined || envValue === '') continue;
    const parsed = booleanParser(envValue);
    if (parsed.ok) faults[name] = parsed.value;
    else problems.push(`faults.${name}: ${parsed.expected}, got ${show(envValue)} (from environment variable ${envVar})`);
  }
  return faults;
}

/** The highest-precedence value given for a field, if any: flag, then environment, then file. */
function candidateFor(field: ScalarField, input: LoadConfigInput, file: Record<string, unknown>): Candidate | undefined {
  const flag = input.flags[field];
  if (flag !== undefined) return { raw: flag, source: `flag ${flagName(field)}` };
  const envValue = input.env[envVarName(field)];
  if (envValue !== undefined && envValue !== '') return { raw: envValue, source: `environment variable ${envVarName(field)}` };
  if (file[field] !== undefined) return { raw: file[field], source: `config file ${input.configFile ?? ''}` };
  return undefined;
}

/**
 * Builds the node configuration from defaults < config file < environment < flags, and checks
 * every field and every relation. Throws a ConfigError listing all problems found.
 */
export function loadConfig(input: LoadConfigInput): NodeConfig {
  const problems: string[] = [];
  const file = input.configFile === undefined ? {} : readConfigFile(input.configFile, problems);
  const values: Record<string, unknown> = {};
  const invalid = new Set<ScalarField>();
  const given = new Set<ScalarField>();

  for (const field of scalarFields) {
    const spec: FieldSpec<unknown> = fieldSpecs[field];
    const candidate = candidateFor(field, input, file);
    values[field] = spec.defaultValue;
    if (candidate === undefined) continue;
    given.add(field);
    const parsed = spec.parse(candidate.raw);
    if (parsed.ok) values[field] = parsed.value;
    else {
      invalid.add(field);
      problems.push(`${field}: ${parsed.expected}, got ${show(candidate.raw)} (from ${candidate.source})`);
    }
  }
  // Defaults derived from other values, used only when the field was not given at all.
  if (!given.has('workers')) values['workers'] = Math.min(fieldSpecs.workers.defaultValue, values['partitions'] as number);
  if (!given.has('maxRequestBodyBytes')) values['maxRequestBodyBytes'] = (values['maxValueBytes'] as number) + requestBodyOverheadBytes;
  if (!given.has('warnSiblings')) values['warnSiblings'] = Math.min(fieldSpecs.warnSiblings.defaultValue, values['maxSiblings'] as number);
  if (!given.has('warnObjectBytes')) values['warnObjectBytes'] = Math.min(fieldSpecs.warnObjectBytes.defaultValue, values['maxObjectBytes'] as number);

  const fileSource = `config file ${input.configFile ?? ''}`;
  const scalars = values as Pick<NodeConfig, ScalarField>;
  const config: NodeConfig = {
    ...scalars,
    bucketTypes: parseBucketTypes(file['bucketTypes'], fileSource, scalars.defaultNVal, problems),
    faults: parseFaults(file['faults'], fileSource, input.env, problems),
  };

  for (const relation of relations) {
    if (relation.fields.some((field) => invalid.has(field))) continue;
    if (!relation.holds(config)) problems.push(relation.problem(config));
  }
  if (!invalid.has('partitions') && !invalid.has('maxSiblings')) {
    for (const [name, props] of Object.entries(config.bucketTypes)) problems.push(...bucketTypeProblems(name, props, config));
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return deepFreeze(config);
}

// ---------------------------------------------------------------------------------------------
// Description, for help text and for checking the docs.

export interface ConfigFieldDescription {
  /** The key in the config file (dotted for nested keys). */
  readonly field: string;
  readonly defaultValue: string;
  readonly envVar: string | undefined;
  readonly meaning: string;
}

/** One row per setting: field, default, environment variable and meaning. */
export function describeConfig(): readonly ConfigFieldDescription[] {
  const rows: ConfigFieldDescription[] = scalarFields.map((field) => {
    const spec: FieldSpec<unknown> = fieldSpecs[field];
    const value = spec.defaultValue;
    const defaultValue =
      spec.defaultText ?? (spec.isSize === true && typeof value === 'number' ? formatSize(value) : String(value));
    return { field, defaultValue, envVar: envVarName(field), meaning: spec.meaning };
  });
  rows.push(
    {
      field: 'bucketTypes',
      defaultValue: '{ default: { nVal: defaultNVal, r/w/dw: quorum, pr/pw: 0, allowMult: true, lastWriteWins: false, notfoundOk: true, basicQuorum: false } }',
      envVar: undefined,
      meaning: 'bucket types and their properties (config file only); `default` always exists',
    },
    {
      field: 'faults.recordSyncedState',
      defaultValue: 'false',
      envVar: faultSwitches.recordSyncedState,
      meaning: 'crash tests only: record what storage reports as synced',
    },
    {
      field: 'faults.injection',
      defaultValue: 'false',
      envVar: faultSwitches.injection,
      meaning: 'fault tests only: allow injecting a failing fdatasync into a running node',
    },
  );
  return rows;
}
