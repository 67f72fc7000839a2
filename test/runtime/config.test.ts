// Behaviour of the node configuration: defaults are valid, sources override each other in order,
// every bad value is reported naming its field, and relations between limits are checked.

import { mkdtempSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import {
  ConfigError,
  defaultConfig,
  describeConfig,
  envVarName,
  loadConfig,
  parseSize,
} from '../../src/runtime/config.js';
import type { LoadConfigInput, NodeConfig } from '../../src/runtime/config.js';

const MiB = 1024 * 1024;

function configFile(contents: unknown): string {
  const dir = mkdtempSync(join(tmpdir(), 'ringkv-config-'));
  const path = join(dir, 'ringkv.json');
  writeFileSync(path, typeof contents === 'string' ? contents : JSON.stringify(contents));
  return path;
}

/** Loads a configuration that must be rejected, and returns its problems. */
function problemsOf(t: ExecutionContext, input: LoadConfigInput): readonly string[] {
  const error = t.throws(() => loadConfig(input), { instanceOf: ConfigError });
  t.is(error?.code, 'invalid_config');
  return error?.problems ?? [];
}

function hasProblem(problems: readonly string[], pattern: RegExp): boolean {
  return problems.some((problem) => pattern.test(problem));
}

test('the defaults are a valid configuration', (t) => {
  const config = loadConfig({ flags: {}, env: {} });
  t.deepEqual(config, defaultConfig);
  t.is(config.httpPort, 8098);
  t.is(config.durability, 'fsync');
  t.is(config.partitions, 64);
  t.is(config.workers, Math.min(availableParallelism(), 64));
  t.is(config.maxRequestBodyBytes, 5 * MiB + 64 * 1024);
  t.is(config.walSegmentBytesMax, 64 * MiB);
  t.is(config.walPreallocateBytes, MiB);
  t.is(config.lmdbMapSizeBytes, 64 * 1024 * MiB);
  t.is(config.maxContentTypeBytes, 256);
  t.is(config.maxUserMetaBytes, 8 * 1024);
  t.false(config.faults.recordSyncedState);
  t.deepEqual(config.bucketTypes['default'], {
    nVal: 3, r: 'quorum', w: 'quorum', dw: 'quorum', pr: 0, pw: 0,
    allowMult: true, lastWriteWins: false, notfoundOk: true, basicQuorum: false,
  });
});

test('the loaded configuration is frozen', (t) => {
  const config = loadConfig({ flags: {}, env: {} });
  t.true(Object.isFrozen(config));
  t.true(Object.isFrozen(config.bucketTypes['default']));
});

test('flags override the environment, which overrides the config file, which overrides defaults', (t) => {
  const path = configFile({ httpPort: 1000, dataDir: '/from-file', workers: 2, logLevel: 'warn' });
  const config = loadConfig({
    configFile: path,
    env: { RINGKV_HTTP_PORT: '2000', RINGKV_DATA_DIR: '/from-env' },
    flags: { httpPort: '3000' },
  });
  t.is(config.httpPort, 3000);
  t.is(config.dataDir, '/from-env');
  t.is(config.workers, 2);
  t.is(config.logLevel, 'warn');
  t.is(config.durability, 'fsync');
});

test('flags may be typed values or strings, and empty environment variables count as unset', (t) => {
  const config = loadConfig({ flags: { workers: 4, durability: 'interval' }, env: { RINGKV_PARTITIONS: '' } });
  t.is(config.workers, 4);
  t.is(config.durability, 'interval');
  t.is(config.partitions, 64);
});

test('environment variable names are RINGKV_ and the field in SCREAMING_SNAKE case', (t) => {
  t.is(envVarName('httpPort'), 'RINGKV_HTTP_PORT');
  t.is(envVarName('walSegmentBytesMax'), 'RINGKV_WAL_SEGMENT_BYTES_MAX');
  t.is(envVarName('defaultNVal'), 'RINGKV_DEFAULT_N_VAL');
  const config = loadConfig({ flags: {}, env: { RINGKV_DURABILITY: 'none', RINGKV_DEFAULT_N_VAL: '2' } });
  t.is(config.durability, 'none');
  t.is(config.defaultNVal, 2);
  t.is(config.bucketTypes['default']?.nVal, 2);
});

test('readFanout is quorum or all; readSpeculateMs a positive integer', (t) => {
  const defaults = loadConfig({ flags: {}, env: {} });
  t.is(defaults.readFanout, 'quorum');
  t.is(defaults.readSpeculateMs, 20);
  t.is(loadConfig({ flags: {}, env: { RINGKV_READ_FANOUT: 'all', RINGKV_READ_SPECULATE_MS: '5' } }).readFanout, 'all');
  const problems = problemsOf(t, { flags: {}, env: { RINGKV_READ_FANOUT: 'some', RINGKV_READ_SPECULATE_MS: '0' } });
  t.is(problems.length, 2);
  t.regex(problems[0]!, /^readFanout: .*quorum.*all.*"some"/);
  t.regex(problems[1]!, /^readSpeculateMs: must be an integer from 1/);
});

test('walPreallocateBytes is a size from 0 (off) to 1 GiB', (t) => {
  t.is(loadConfig({ flags: {}, env: { RINGKV_WAL_PREALLOCATE_BYTES: '0' } }).walPreallocateBytes, 0);
  t.is(loadConfig({ flags: {}, env: { RINGKV_WAL_PREALLOCATE_BYTES: '4MiB' } }).walPreallocateBytes, 4 * MiB);
  const problems = problemsOf(t, { flags: {}, env: { RINGKV_WAL_PREALLOCATE_BYTES: '2GiB' } });
  t.is(problems.length, 1);
  t.regex(problems[0]!, /^walPreallocateBytes: must be a size from 0 B to 1 GiB/);
});

test('sizes accept bytes or binary units', (t) => {
  t.is(parseSize('64MiB'), 64 * MiB);
  t.is(parseSize('1.5 GiB'), 1.5 * 1024 * MiB);
  t.is(parseSize('4096'), 4096);
  t.is(parseSize('12kib'), 12 * 1024);
  t.is(parseSize('10MB'), undefined);
  t.is(parseSize('lots'), undefined);
  const config = loadConfig({ flags: {}, env: { RINGKV_WAL_SEGMENT_BYTES_MAX: '16MiB' } });
  t.is(config.walSegmentBytesMax, 16 * MiB);
});

test('a bad integer names the field, the value, what is allowed and where it came from', (t) => {
  const problems = problemsOf(t, { flags: { workers: 'abc' }, env: {} });
  t.deepEqual(problems, ['workers: must be an integer from 1 to 64, got "abc" (from flag --workers)']);
});

test('every kind of bad value is reported, all at once', (t) => {
  const problems = problemsOf(t, {
    flags: { httpPort: '70000', nodeName: 'no-host' },
    env: {
      RINGKV_DURABILITY: 'sometimes',
      RINGKV_LOG_LEVEL: 'loud',
      RINGKV_WAL_SEGMENT_BYTES_MAX: 'lots',
      RINGKV_SYNC_INTERVAL_MS: '0',
      RINGKV_FAULT_RECORD_SYNCED_STATE: 'maybe',
    },
  });
  t.is(problems.length, 7);
  t.true(hasProblem(problems, /^httpPort: must be an integer from 0 to 65535, got "70000"/));
  t.true(hasProblem(problems, /^nodeName: must look like name@host.*got "no-host"/));
  t.true(hasProblem(problems, /^durability: must be one of fsync, interval, none, got "sometimes" \(from environment variable RINGKV_DURABILITY\)/));
  t.true(hasProblem(problems, /^logLevel: must be one of fatal, error, warn, info, debug, trace, silent, got "loud"/));
  t.true(hasProblem(problems, /^walSegmentBytesMax: must be a size from 64 KiB to 4 GiB.*got "lots"/));
  t.true(hasProblem(problems, /^syncIntervalMs: must be an integer from 1 to 60000, got "0"/));
  t.true(hasProblem(problems, /^faults\.recordSyncedState: must be true or false.*got "maybe"/));
});

test('the error message lists every problem', (t) => {
  const error = t.throws(() => loadConfig({ flags: { workers: 'x', partitions: 'y' }, env: {} }), { instanceOf: ConfigError });
  t.regex(error?.message ?? '', /invalid configuration:\n {2}- workers: .*\n {2}- partitions: /);
});

test('a bad value in the config file names the file', (t) => {
  const path = configFile({ maxValueBytes: -1 });
  const problems = problemsOf(t, { flags: {}, env: {}, configFile: path });
  t.true(hasProblem(problems, new RegExp(`^maxValueBytes: must be a size .*got -1 \\(from config file ${path}\\)`)));
});

test('unknown keys in the config file are rejected, with a suggestion', (t) => {
  const path = configFile({ httpPrt: 1, data_dir: '/x', frobnicate: true });
  const problems = problemsOf(t, { flags: {}, env: {}, configFile: path });
  t.is(problems.length, 3);
  t.true(hasProblem(problems, /unknown key "httpPrt" \(did you mean "httpPort"\?\)/));
  t.true(hasProblem(problems, /unknown key "data_dir" \(did you mean "dataDir"\?\)/));
  t.true(hasProblem(problems, /unknown key "frobnicate" \(allowed keys: nodeName, dataDir, /));
});

test('a config file that is missing, not JSON or not an object is rejected', (t) => {
  t.true(hasProblem(problemsOf(t, { flags: {}, env: {}, configFile: '/nonexistent/ringkv.json' }), /cannot be read/));
  t.true(hasProblem(problemsOf(t, { flags: {}, env: {}, configFile: configFile('{ nope') }), /is not valid JSON/));
  t.true(hasProblem(problemsOf(t, { flags: {}, env: {}, configFile: configFile([1, 2]) }), /must hold a JSON object/));
});

test('the config file defines bucket types over Riak defaults, and may change the default type', (t) => {
  const path = configFile({
    defaultNVal: 2,
    bucketTypes: { default: { allowMult: false }, carts: { nVal: 5, w: 'all', dw: 1 }, flags: { lastWriteWins: true, allowMult: false, maxSiblings: 1 } },
  });
  const config = loadConfig({ flags: {}, env: {}, configFile: path });
  t.deepEqual(Object.keys(config.bucketTypes).sort(), ['carts', 'default', 'flags']);
  t.like(config.bucketTypes['default'], { nVal: 2, allowMult: false, r: 'quorum' });
  t.like(config.bucketTypes['carts'], { nVal: 5, w: 'all', dw: 1, r: 'quorum', allowMult: true });
  t.like(config.bucketTypes['flags'], { nVal: 2, lastWriteWins: true, maxSiblings: 1 });
});

test('bad bucket type properties are reported by type and property', (t) => {
  const path = configFile({
    partitions: 8,
    bucketTypes: { big: { nVal: 16 }, odd: { r: 'most', allow_mult: false }, many: { maxSiblings: 500 }, both: { lastWriteWins: true }, 'sp ace': {} },
  });
  const problems = problemsOf(t, { flags: {}, env: {}, configFile: path });
  t.true(hasProblem(problems, /^bucketTypes\.big\.nVal: must be at most partitions \(8\), got 16/));
  t.true(hasProblem(problems, /^bucketTypes\.odd\.r: must be a non-negative integer or one of one, quorum, all, got "most"/));
  t.true(hasProblem(problems, /bucketTypes\.odd .*unknown key "allow_mult" \(did you mean "allowMult"\?\)/));
  t.true(hasProblem(problems, /^bucketTypes\.many\.maxSiblings: must be at most maxSiblings \(100\), got 500/));
  t.true(hasProblem(problems, /^bucketTypes\.both: allowMult and lastWriteWins cannot both be true/));
  t.true(hasProblem(problems, /^bucketTypes: type names must be .*got "sp ace"/));
});

test('numeric quorums of a bucket type must fit its nVal', (t) => {
  const path = configFile({ bucketTypes: { strict: { nVal: 3, r: 4, w: 0, pw: 3 } } });
  const problems = problemsOf(t, { flags: {}, env: {}, configFile: path });
  t.is(problems.length, 2);
  t.true(hasProblem(problems, /^bucketTypes\.strict\.r: must be from 1 to nVal \(3\).*got 4/));
  t.true(hasProblem(problems, /^bucketTypes\.strict\.w: must be from 1 to nVal \(3\).*got 0/));
});

test('relations between limits are checked', (t) => {
  const cases: ReadonlyArray<readonly [LoadConfigInput['flags'], RegExp]> = [
    [{ maxTimeoutMs: 1000, defaultTimeoutMs: 2000 }, /^maxTimeoutMs: must be at least defaultTimeoutMs \(2000\), got 1000/],
    [{ partitions: 48 }, /^partitions: must be a power of two from 1 to 1024, got 48/],
    [{ partitions: 2048 }, /^partitions: must be an integer from 1 to 1024, got 2048/],
    [{ partitions: 4, workers: 8 }, /^workers: must be at most partitions \(4\), got 8/],
    [{ maxValueBytes: '8MiB', maxRequestBodyBytes: '4MiB' }, /^maxRequestBodyBytes: must be at least maxValueBytes \(8388608\), got 4194304/],
    [{ walSegmentBytesMax: '128MiB', checkpointWalBytes: '64MiB' }, /^checkpointWalBytes: must be at least walSegmentBytesMax/],
    [{ httpHeadersTimeoutMs: 40_000 }, /^httpHeadersTimeoutMs: must be at most httpRequestTimeoutMs \(30000\), got 40000/],
    [{ partitions: 2 }, /^defaultNVal: must be at most partitions \(2\), got 3/],
    [{ peerHost: '10.0.0.5' }, /^clusterSecret: must be set .* when the node-to-node listener is on a non-loopback address \(peerHost 10\.0\.0\.5\)/],
    [{ peerMaxFrameBytes: '64KiB' }, /^peerMaxFrameBytes: must be at least twice max\(maxRequestBodyBytes, handoffBatchBytes\)/],
    [{ peerSendQueueBytesMax: '1MiB' }, /^peerSendQueueBytesMax: must be at least twice peerMaxFrameBytes/],
    [{ peerReconnectMinMs: 10_000, peerReconnectMaxMs: 1000 }, /^peerReconnectMaxMs: must be at least peerReconnectMinMs \(10000\), got 1000/],
    [{ handoffBatchItems: 1000 }, /^handoffBatchItems: must be at most half of vnodeMailboxCapacity \(512\), got 1000/],
  ];
  for (const [flags, pattern] of cases) {
    const problems = problemsOf(t, { flags, env: {} });
    t.true(hasProblem(problems, pattern), `${JSON.stringify(flags)} gave ${JSON.stringify(problems)}`);
  }
});

test('a non-loopback peer listener is allowed with a secret, or with the peer listener off', (t) => {
  t.notThrows(() => loadConfig({ flags: { peerHost: '10.0.0.5' }, env: { RINGKV_CLUSTER_SECRET: 'sixteen-chars-at-least' } }));
  t.notThrows(() => loadConfig({ flags: { peerHost: '10.0.0.5', peerPort: 0 }, env: {} }));
  t.notThrows(() => loadConfig({ flags: { peerHost: '127.0.0.2' }, env: {} }));
  t.true(hasProblem(problemsOf(t, { flags: {}, env: { RINGKV_CLUSTER_SECRET: 'short' } }), /^clusterSecret: must be empty .* or 16 to 1024 characters/));
});

test('a relation is not reported against a field that is itself invalid', (t) => {
  const problems = problemsOf(t, { flags: { defaultTimeoutMs: 'soon' }, env: {} });
  t.is(problems.length, 1);
});

test('derived defaults follow the values they derive from', (t) => {
  const config: NodeConfig = loadConfig({ flags: { maxValueBytes: '1MiB', partitions: 1, defaultNVal: 1 }, env: {} });
  t.is(config.maxRequestBodyBytes, MiB + 64 * 1024);
  t.is(config.workers, 1);
});

test('the fault switch is off by default and set only by its environment variable or the file', (t) => {
  t.true(loadConfig({ flags: {}, env: { RINGKV_FAULT_RECORD_SYNCED_STATE: '1' } }).faults.recordSyncedState);
  t.true(loadConfig({ flags: {}, env: {}, configFile: configFile({ faults: { recordSyncedState: true } }) }).faults.recordSyncedState);
  t.false(loadConfig({ flags: {}, env: { RINGKV_FAULT_RECORD_SYNCED_STATE: '0' } }).faults.recordSyncedState);
});

test('describeConfig has one row per setting, with its default and environment variable', (t) => {
  const rows = describeConfig();
  const fields = rows.map((row) => row.field);
  for (const field of Object.keys(defaultConfig)) {
    if (field === 'faults') t.true(fields.includes('faults.recordSyncedState'));
    else t.true(fields.includes(field), field);
  }
  t.is(new Set(fields).size, fields.length);
  t.like(rows.find((row) => row.field === 'httpPort'), { defaultValue: '8098', envVar: 'RINGKV_HTTP_PORT' });
  t.like(rows.find((row) => row.field === 'walSegmentBytesMax'), { defaultValue: '64 MiB' });
  t.like(rows.find((row) => row.field === 'faults.recordSyncedState'), { envVar: 'RINGKV_FAULT_RECORD_SYNCED_STATE' });
  for (const row of rows) t.true(row.meaning.length > 0, row.field);
});

test('the soft bounds default to at most the hard ones; given explicitly above them, they are refused', (t) => {
  const low = loadConfig({ flags: {}, env: { RINGKV_MAX_SIBLINGS: '3', RINGKV_MAX_OBJECT_BYTES: '1000' } });
  t.deepEqual([low.warnSiblings, low.warnObjectBytes], [3, 1000]);
  const problems = problemsOf(t, { flags: {}, env: { RINGKV_MAX_SIBLINGS: '3', RINGKV_WARN_SIBLINGS: '4' } });
  t.true(hasProblem(problems, /warnSiblings: must be at most maxSiblings \(3\), got 4/), problems.join('\n'));
  const reap = problemsOf(t, { flags: {}, env: { RINGKV_TOMBSTONE_REAP_DELAY_MS: '999' } });
  t.true(hasProblem(reap, /tombstoneReapDelayMs/), reap.join('\n'));
});
