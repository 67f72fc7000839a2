// A closed-loop load generator on the ringkv protocol-buffers client: a fixed number of requests
// in flight, each followed at once by the next, over a uniform or Zipf key distribution and a
// read/write mix. It prints ops/s every second and, at the end, throughput and latency percentiles
// from an HDR histogram. It measures; it never checks what it reads.
//
// Options (flag, or environment): --node PB_LOAD_NODE (127.0.0.1:8087), --connections
// PB_LOAD_CONNECTIONS (4, the pool size), --inflight PB_LOAD_INFLIGHT (64), --keys PB_LOAD_KEYS
// (10000), --distribution PB_LOAD_DISTRIBUTION (uniform | zipf, s = 1.0), --value-bytes
// PB_LOAD_VALUE_BYTES (100), --read-ratio PB_LOAD_READ_RATIO (0.5), --duration-s
// PB_LOAD_DURATION_S (10), --bucket-type PB_LOAD_BUCKET_TYPE (default), --bucket PB_LOAD_BUCKET
// (pbload), --write-mode PB_LOAD_WRITE_MODE (blind | read-modify-write), --prefill
// PB_LOAD_PREFILL (false: write every key once before measuring), --timeout-ms PB_LOAD_TIMEOUT_MS
// (5000), --seed PB_LOAD_SEED (random; printed so a run can be repeated).
// Run: npm run build && node dist/loadtest/pb-load.js --node 127.0.0.1:8087 --duration-s 5

import hdr from 'hdr-histogram-js';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { RingkvError, type RingkvClient, connect } from '../src/client/index.js';
import { seededRandom } from '../src/core/random.js';

interface LoadOptions {
  readonly node: string;
  readonly connections: number;
  readonly inflight: number;
  readonly keys: number;
  readonly distribution: 'uniform' | 'zipf';
  readonly valueBytes: number;
  readonly readRatio: number;
  readonly durationS: number;
  readonly bucketType: string;
  readonly bucket: string;
  readonly writeMode: 'blind' | 'read-modify-write';
  readonly prefill: boolean;
  readonly timeoutMs: number;
  readonly seed: number;
}

const flags = {
  node: ['PB_LOAD_NODE', '127.0.0.1:8087'],
  connections: ['PB_LOAD_CONNECTIONS', '4'],
  inflight: ['PB_LOAD_INFLIGHT', '64'],
  keys: ['PB_LOAD_KEYS', '10000'],
  distribution: ['PB_LOAD_DISTRIBUTION', 'uniform'],
  'value-bytes': ['PB_LOAD_VALUE_BYTES', '100'],
  'read-ratio': ['PB_LOAD_READ_RATIO', '0.5'],
  'duration-s': ['PB_LOAD_DURATION_S', '10'],
  'bucket-type': ['PB_LOAD_BUCKET_TYPE', 'default'],
  bucket: ['PB_LOAD_BUCKET', 'pbload'],
  'write-mode': ['PB_LOAD_WRITE_MODE', 'blind'],
  prefill: ['PB_LOAD_PREFILL', 'false'],
  'timeout-ms': ['PB_LOAD_TIMEOUT_MS', '5000'],
  seed: ['PB_LOAD_SEED', ''],
} as const satisfies Record<string, readonly [string, string]>;

function optionsOf(argv: string[], env: NodeJS.ProcessEnv): LoadOptions {
  const parsed = parseArgs({ args: argv, options: Object.fromEntries(Object.keys(flags).map((name) => [name, { type: 'string' as const }])), strict: true });
  const value = (name: keyof typeof flags): string => (parsed.values[name] as string | undefined) ?? env[flags[name][0]] ?? flags[name][1];
  const count = (name: keyof typeof flags, min: number): number => {
    const n = Number(value(name));
    if (!Number.isFinite(n) || n < min) throw new TypeError(`--${name} must be a number >= ${min} (got ${value(name)})`);
    return n;
  };
  const distribution = value('distribution');
  if (distribution !== 'uniform' && distribution !== 'zipf') throw new TypeError(`--distribution must be uniform or zipf (got ${distribution})`);
  const writeMode = value('write-mode');
  if (writeMode !== 'blind' && writeMode !== 'read-modify-write') throw new TypeError(`--write-mode must be blind or read-modify-write (got ${writeMode})`);
  const readRatio = count('read-ratio', 0);
  if (readRatio > 1) throw new TypeError(`--read-ratio must be between 0 and 1 (got ${readRatio})`);
  const seedText = value('seed');
  return {
    node: value('node'),
    connections: Math.floor(count('connections', 1)),
    inflight: Math.floor(count('inflight', 1)),
    keys: Math.floor(count('keys', 1)),
    distribution,
    valueBytes: Math.floor(count('value-bytes', 0)),
    readRatio,
    durationS: count('duration-s', 0.1),
    bucketType: value('bucket-type'),
    bucket: value('bucket'),
    writeMode,
    prefill: value('prefill') === 'true' || value('prefill') === '1',
    timeoutMs: Math.floor(count('timeout-ms', 1)),
    seed: seedText === '' ? Math.floor(Math.random() * 2 ** 32) : Number(seedText) >>> 0,
  };
}

/** Key index chooser: uniform, or Zipf (s = 1.0) by binary search in a precomputed CDF. */
function keyChooser(options: LoadOptions, random: () => number): () => number {
  if (options.distribution === 'uniform') return () => Math.floor(random() * options.keys);
  const cdf = new Float64Array(options.keys);
  let total = 0;
  for (let rank = 0; rank < options.keys; rank++) cdf[rank] = total += 1 / (rank + 1);
  for (let rank = 0; rank < options.keys; rank++) cdf[rank]! /= total;
  return () => {
    const u = random();
    let low = 0;
    let high = options.keys - 1;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (cdf[mid]! < u) low = mid + 1;
      else high = mid;
    }
    return low;
  };
}

interface Tally {
  reads: number;
  writes: number;
  notFound: number;
  errors: Map<string, number>;
  /** The first message seen for each error code, to say what the errors were. */
  firstMessages: Map<string, string>;
}

async function oneOperation(client: RingkvClient, options: LoadOptions, key: string, isRead: boolean, value: Buffer, tally: Tally): Promise<void> {
  const common = { type: options.bucketType, timeoutMs: options.timeoutMs };
  if (isRead) {
    const reply = await client.get(options.bucket, key, common);
    tally.reads++;
    if (!reply.found) tally.notFound++;
    return;
  }
  if (options.writeMode === 'read-modify-write') {
    const read = await client.get(options.bucket, key, common);
    await client.put(options.bucket, key, value, { ...common, context: read.context });
  } else {
    await client.put(options.bucket, key, value, common);
  }
  tally.writes++;
}

async function prefill(client: RingkvClient, options: LoadOptions, value: Buffer): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < options.keys) await client.put(options.bucket, `key-${next++}`, value, { type: options.bucketType, timeoutMs: options.timeoutMs });
  };
  await Promise.all(Array.from({ length: options.inflight }, worker));
  console.log(`prefilled ${options.keys} keys`);
}

async function main(): Promise<void> {
  const options = optionsOf(process.argv.slice(2), process.env);
  console.log(`pb-load: ${JSON.stringify(options)}`);
  const random = seededRandom(options.seed);
  const chooseKey = keyChooser(options, random);
  const value = Buffer.alloc(options.valueBytes, 'x');
  const client = await connect({ nodes: [options.node], poolSize: options.connections, timeoutMs: options.timeoutMs, maxInflightPerConnection: Math.max(1, Math.ceil(options.inflight / options.connections)) });
  await client.ping();
  if (options.prefill) await prefill(client, options, value);

  // Latency in microseconds, 1 µs to 60 s, 3 significant digits.
  const histogram = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });
  const tally: Tally = { reads: 0, writes: 0, notFound: 0, errors: new Map(), firstMessages: new Map() };
  const startMs = performance.now();
  const endMs = startMs + options.durationS * 1000;
  let completed = 0;
  let lastCompleted = 0;
  const progress = setInterval(() => {
    const elapsedS = (performance.now() - startMs) / 1000;
    console.log(`${elapsedS.toFixed(1)} s: ${completed - lastCompleted} ops in the last second, ${Math.round(completed / elapsedS)} ops/s so far, ${[...tally.errors.values()].reduce((a, b) => a + b, 0)} errors`);
    lastCompleted = completed;
  }, 1000);

  const loop = async (): Promise<void> => {
    while (performance.now() < endMs) {
      const key = `key-${chooseKey()}`;
      const isRead = random() < options.readRatio;
      const began = performance.now();
      try {
        await oneOperation(client, options, key, isRead, value, tally);
        histogram.recordValue(Math.max(1, Math.round((performance.now() - began) * 1000)));
      } catch (error) {
        const code = error instanceof RingkvError ? error.code : 'unexpected';
        tally.errors.set(code, (tally.errors.get(code) ?? 0) + 1);
        if (!tally.firstMessages.has(code)) tally.firstMessages.set(code, (error as Error).message);
        if (code === 'unexpected') console.error(error);
      }
      completed++;
    }
  };
  await Promise.all(Array.from({ length: options.inflight }, loop));
  clearInterval(progress);
  const elapsedS = (performance.now() - startMs) / 1000;
  await client.close();

  const ms = (percentile: number): string => (histogram.getValueAtPercentile(percentile) / 1000).toFixed(2);
  console.log(`done: ${completed} ops in ${elapsedS.toFixed(2)} s = ${Math.round(completed / elapsedS)} ops/s (reads ${tally.reads}, of which not found ${tally.notFound}; writes ${tally.writes})`);
  console.log(`latency ms: p50 ${ms(50)}  p99 ${ms(99)}  p99.9 ${ms(99.9)}  max ${(histogram.maxValue / 1000).toFixed(2)}  (${histogram.totalCount} successful)`);
  if (tally.errors.size > 0) console.log(`errors: ${JSON.stringify(Object.fromEntries(tally.errors))}; first of each: ${JSON.stringify(Object.fromEntries(tally.firstMessages))}`);
  console.log(`seed ${options.seed}`);
  histogram.destroy();
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
