// Request counters and latency histograms for /v1/stats (and later /metrics). Latencies are
// recorded in microseconds in HDR histograms, so percentiles are exact to two significant
// digits at any load without keeping samples.

import hdr from 'hdr-histogram-js';
import type { KvErrorCode } from '../core/errors.js';

export type Operation = 'get' | 'put' | 'delete';

interface OperationStats {
  count: number;
  errors: Partial<Record<KvErrorCode, number>>;
  readonly latencyUs: hdr.Histogram;
}

export interface LatencySummary {
  readonly count: number;
  readonly errors: Partial<Record<KvErrorCode, number>>;
  readonly latencyMs: { readonly p50: number; readonly p99: number; readonly p999: number; readonly max: number; readonly mean: number };
}

export class NodeStats {
  private readonly operations = new Map<Operation, OperationStats>();
  readonly startedAtMs: number;
  /** Client writes that left an object above warnSiblings / warnObjectBytes (written all the same). */
  siblingsWarnings = 0;
  objectSizeWarnings = 0;

  constructor(nowMs: number) {
    this.startedAtMs = nowMs;
    for (const op of ['get', 'put', 'delete'] as const) {
      this.operations.set(op, {
        count: 0,
        errors: {},
        latencyUs: hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: 2 }),
      });
    }
  }

  record(op: Operation, latencyUs: number, error: KvErrorCode | undefined): void {
    const stats = this.operations.get(op)!;
    stats.count++;
    stats.latencyUs.recordValue(Math.max(1, Math.round(latencyUs)));
    if (error !== undefined) stats.errors[error] = (stats.errors[error] ?? 0) + 1;
  }

  summary(): Record<Operation, LatencySummary> {
    const out = {} as Record<Operation, LatencySummary>;
    for (const [op, stats] of this.operations) {
      const h = stats.latencyUs;
      const ms = (us: number): number => Math.round(us) / 1000;
      out[op] = {
        count: stats.count,
        errors: { ...stats.errors },
        latencyMs: {
          p50: ms(h.getValueAtPercentile(50)),
          p99: ms(h.getValueAtPercentile(99)),
          p999: ms(h.getValueAtPercentile(99.9)),
          max: ms(h.maxValue),
          mean: ms(h.mean),
        },
      };
    }
    return out;
  }
}
