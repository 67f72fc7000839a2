// Load drivers for the cluster benchmark (loadtest/cluster-bench.ts): autocannon spread over
// several HTTP endpoints — one autocannon instance per endpoint, all running at once in this
// process, every response's latency recorded into one shared HDR histogram so percentiles are
// exact over all endpoints — and the same closed loop over the ringkv protocol-buffers client.
// They measure; they never check what they read, and they start or stop no servers.

import autocannon from 'autocannon';
import hdr from 'hdr-histogram-js';
import { performance } from 'node:perf_hooks';
import { RingkvError, type RingkvClient, connect } from '../src/client/index.js';

/** What one measured run produced. Latencies are of successful (2xx / no error) requests only. */
export interface RunFigures {
  readonly okCount: number;
  readonly elapsedS: number;
  readonly opsPerS: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly p999Ms: number;
  readonly maxMs: number;
  /** Connection errors and timeouts (HTTP), or thrown client errors (protocol buffers). */
  readonly errors: number;
  /** HTTP responses outside 2xx; always 0 for protocol buffers. */
  readonly non2xx: number;
  /** The first few distinct error descriptions, to say what the errors were. */
  readonly errorSamples: readonly string[];
}

export interface HttpRequestShape {
  readonly path: string;
  readonly body?: string;
}

export interface HttpWorkload {
  readonly method: 'GET' | 'PUT' | 'POST';
  readonly headers: Readonly<Record<string, string>>;
  /** The next request; the caller chooses the key (from its own seeded random). */
  readonly next: () => HttpRequestShape;
}

const errorSamplesMax = 5;

/** Latency in microseconds, 1 µs to 60 s, 3 significant digits. */
function latencyHistogram(): hdr.Histogram {
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });
}

function figuresOf(histogram: hdr.Histogram, elapsedS: number, errors: number, non2xx: number, errorSamples: readonly string[]): RunFigures {
  const ms = (percentile: number): number => histogram.getValueAtPercentile(percentile) / 1000;
  const okCount = histogram.totalCount;
  return { okCount, elapsedS, opsPerS: okCount / elapsedS, p50Ms: ms(50), p99Ms: ms(99), p999Ms: ms(99.9), maxMs: histogram.maxValue / 1000, errors, non2xx, errorSamples };
}

/** Splits `total` into `parts` near-equal whole shares (17, 17, 16 for 50 over 3). */
export function shares(total: number, parts: number): number[] {
  return Array.from({ length: parts }, (_, i) => Math.floor(total / parts) + (i < total % parts ? 1 : 0));
}

/**
 * One autocannon instance per base URL, each with its share of `connections` (pipelining 1),
 * all for `durationS`. Throughput is the sum of 2xx responses over the wall time of the whole
 * run; percentiles come from one histogram fed by every instance's `response` event.
 */
export async function runAutocannonSpread(baseUrls: readonly string[], connections: number, durationS: number, workload: HttpWorkload): Promise<RunFigures> {
  const histogram = latencyHistogram();
  let non2xx = 0;
  const errorSamples = new Set<string>();
  const began = performance.now();
  const results = await Promise.all(
    baseUrls.map((url, i) => {
      let settle!: { resolve: (result: autocannon.Result) => void; reject: (error: unknown) => void };
      const done = new Promise<autocannon.Result>((resolve, reject) => (settle = { resolve, reject }));
      // The callback form: it returns the instance, whose events carry each response's latency.
      const instance = autocannon({
        url,
        connections: shares(connections, baseUrls.length)[i]!,
        pipelining: 1,
        duration: durationS,
        headers: { ...workload.headers },
        requests: [
          {
            method: workload.method,
            // A string body: autocannon hangs on a Buffer body returned from setupRequest.
            setupRequest: (request) => ({ ...request, ...workload.next() }),
          },
        ],
      }, (error: unknown, result: autocannon.Result) => (error ? settle.reject(error) : settle.resolve(result)));
      instance.on('response', (_client: unknown, statusCode: number, _bytes: number, responseTimeMs: number) => {
        if (statusCode >= 200 && statusCode < 300) histogram.recordValue(Math.max(1, Math.round(responseTimeMs * 1000)));
        else {
          non2xx++;
          if (errorSamples.size < errorSamplesMax) errorSamples.add(`HTTP ${statusCode}`);
        }
      });
      instance.on('reqError', (error: Error) => {
        if (errorSamples.size < errorSamplesMax) errorSamples.add(error.message);
      });
      return done;
    }),
  );
  const elapsedS = (performance.now() - began) / 1000;
  const errors = results.reduce((sum, r) => sum + r.errors + r.timeouts, 0);
  const figures = figuresOf(histogram, elapsedS, errors, non2xx, [...errorSamples]);
  histogram.destroy();
  return figures;
}

export interface PbLoadOptions {
  readonly nodes: readonly string[];
  readonly connectionsPerNode: number;
  /** Requests in flight at once over all nodes (the closed loop's concurrency). */
  readonly inflight: number;
  readonly durationS: number;
  readonly timeoutMs: number;
  /** One request; the caller chooses the key (from its own seeded random). */
  readonly operation: (client: RingkvClient) => Promise<unknown>;
}

/**
 * A closed loop of `inflight` requests over one client whose pools cover every node (the client
 * sends requests to the nodes round-robin), each followed at once by the next, for `durationS`.
 */
export async function runPbLoad(options: PbLoadOptions): Promise<RunFigures> {
  const client = await connect({
    nodes: options.nodes,
    poolSize: options.connectionsPerNode,
    timeoutMs: options.timeoutMs,
    maxInflightPerConnection: Math.max(1, Math.ceil(options.inflight / (options.nodes.length * options.connectionsPerNode))),
  });
  const histogram = latencyHistogram();
  let errors = 0;
  const errorSamples = new Set<string>();
  try {
    await client.ping();
    const began = performance.now();
    const endMs = began + options.durationS * 1000;
    const loop = async (): Promise<void> => {
      while (performance.now() < endMs) {
        const start = performance.now();
        try {
          await options.operation(client);
          histogram.recordValue(Math.max(1, Math.round((performance.now() - start) * 1000)));
        } catch (error) {
          errors++;
          const code = error instanceof RingkvError ? error.code : 'unexpected';
          if (errorSamples.size < errorSamplesMax) errorSamples.add(`${code}: ${(error as Error).message}`);
        }
      }
    };
    await Promise.all(Array.from({ length: options.inflight }, loop));
    const elapsedS = (performance.now() - began) / 1000;
    return figuresOf(histogram, elapsedS, errors, 0, [...errorSamples]);
  } finally {
    histogram.destroy();
    await client.close();
  }
}

/** Runs `task` over the items with at most `concurrency` at once (for preloading keys). */
export async function forEachLimited<T>(items: readonly T[], concurrency: number, task: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await task(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
}
