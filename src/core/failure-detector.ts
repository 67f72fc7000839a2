// Phi-accrual failure detection (Hayashibara et al. 2004, as in Akka and Cassandra): instead of a
// yes/no timeout, each peer gets a suspicion level phi that grows continuously with the time since
// its last heartbeat, scaled by how regular its heartbeats have been. This module only computes;
// time comes in as arguments (monotonic milliseconds) and it sets no timers, sends nothing and
// decides nothing irreversible. What suspicion does is the caller's business (docs/failure-detection.md).

import { assert } from './errors.js';

export interface PhiOptions {
  /** Phi at and above which a peer is suspected (unavailable). 8 means a ~1e-8 chance of error under the model. */
  readonly threshold: number;
  /** How many recent heartbeat intervals are kept; older ones fall out. */
  readonly windowSize: number;
  /** Floor of the standard deviation, so very regular heartbeats do not make phi hair-trigger. */
  readonly minStdDevMs: number;
  /** Added to the mean interval: a pause this long beyond the usual costs almost no phi (GC, load). */
  readonly acceptableHeartbeatPauseMs: number;
  /** Seeds the window (mean this, deviation a quarter of it) so a new peer is not convicted at once. */
  readonly firstHeartbeatEstimateMs: number;
  /**
   * An interval longer than this multiple of the window's mean is recorded as that multiple. One
   * long outage (a stopped process, a partition) would otherwise inflate the mean and deviation
   * for the next `windowSize` heartbeats and slow detection of the next failure; a genuine change
   * of the heartbeat rate is still learned, by up to this factor per window.
   */
  readonly maxSampleMeanMultiple: number;
}

export const defaultPhiOptions: PhiOptions = {
  threshold: 8,
  windowSize: 200,
  minStdDevMs: 100,
  // A blocked event loop on either side (GC, a busy machine) delays a heartbeat by the length of
  // the stall: 2.5 s stalls on a 1 s period give gaps of up to 3.8 s, which 1 s would convict.
  acceptableHeartbeatPauseMs: 2500,
  firstHeartbeatEstimateMs: 1000,
  maxSampleMeanMultiple: 3,
};

export function checkPhiOptions(options: PhiOptions): void {
  assert(Number.isFinite(options.threshold) && options.threshold > 0, 'threshold > 0');
  assert(Number.isInteger(options.windowSize) && options.windowSize >= 2 && options.windowSize <= 100_000, 'windowSize in 2..100000');
  assert(Number.isFinite(options.minStdDevMs) && options.minStdDevMs > 0, 'minStdDevMs > 0');
  assert(Number.isFinite(options.acceptableHeartbeatPauseMs) && options.acceptableHeartbeatPauseMs >= 0, 'acceptableHeartbeatPauseMs >= 0');
  assert(Number.isFinite(options.firstHeartbeatEstimateMs) && options.firstHeartbeatEstimateMs > 0, 'firstHeartbeatEstimateMs > 0');
  assert(Number.isFinite(options.maxSampleMeanMultiple) && options.maxSampleMeanMultiple >= 1, 'maxSampleMeanMultiple >= 1');
}

/**
 * Phi for a silence of `silenceMs`, given the expected interval and its deviation:
 * phi = -log10(1 - F(silence)), with F the normal CDF approximated by the logistic function Akka
 * uses, 1 - F ≈ e / (1 + e), e = exp(-y·(1.5976 + 0.070566·y²)), y = (silence - mean) / stdDev.
 * Computed as log10(1 + exp(z)) in a form that neither overflows nor loses precision, so it is
 * finite for every finite input, never NaN, at least 0, and non-decreasing in `silenceMs`.
 */
export function phiOf(silenceMs: number, meanMs: number, stdDevMs: number): number {
  assert(stdDevMs > 0, 'stdDevMs > 0');
  const y = (silenceMs - meanMs) / stdDevMs;
  const z = y * (1.5976 + 0.070566 * y * y);
  if (Number.isNaN(z)) return 0;
  // log(1 + exp(z)) = max(z, 0) + log1p(exp(-|z|)), which is exact enough on both tails.
  return (Math.max(z, 0) + Math.log1p(Math.exp(-Math.abs(z)))) / Math.LN10;
}

export interface PhiStats {
  /** Intervals in the window, the two seed samples included. */
  readonly samples: number;
  readonly meanIntervalMs: number;
  readonly stdDevMs: number;
  readonly lastHeartbeatMs: number | undefined;
}

/** The detector for one peer. */
export class PhiAccrualDetector {
  private readonly intervals: number[];
  /** Ring-buffer position of the next interval to overwrite once the window is full. */
  private next = 0;
  /** The last sign of life of any kind: phi grows with the silence since it. */
  private last: number | undefined;
  /** The last heartbeat: intervals are sampled between heartbeats only. */
  private lastHeartbeat: number | undefined;
  private mean = 0;
  private stdDev = 0;

  constructor(private readonly options: PhiOptions = defaultPhiOptions) {
    checkPhiOptions(options);
    const estimate = options.firstHeartbeatEstimateMs;
    this.intervals = [estimate - estimate / 4, estimate + estimate / 4];
    this.recompute();
  }

  /** A heartbeat from the peer arrived at `nowMs`: a sign of life and a sample of the interval. */
  heartbeat(nowMs: number): void {
    assert(Number.isFinite(nowMs), 'nowMs is a finite number');
    if (this.lastHeartbeat !== undefined && nowMs > this.lastHeartbeat) {
      this.record(Math.min(nowMs - this.lastHeartbeat, this.mean * this.options.maxSampleMeanMultiple));
    }
    // A clock that stepped backwards counts as no time passing; the runtime should pass a monotonic clock.
    this.lastHeartbeat = this.lastHeartbeat === undefined ? nowMs : Math.max(this.lastHeartbeat, nowMs);
    this.signOfLife(nowMs);
  }

  /**
   * Any other message from the peer arrived at `nowMs`: it proves the peer alive, so phi restarts
   * from it, but it is no sample of the heartbeat interval. Data messages arrive microseconds
   * apart; sampling them would shrink the mean and deviation to nothing (and, at a window of 200,
   * cost two passes over it for every message: measured at ~5 % of a node's main thread under load).
   */
  signOfLife(nowMs: number): void {
    assert(Number.isFinite(nowMs), 'nowMs is a finite number');
    this.last = this.last === undefined ? nowMs : Math.max(this.last, nowMs);
  }

  /** Suspicion at `nowMs`: 0 before the first heartbeat, then growing with silence; drops at each heartbeat. */
  phi(nowMs: number): number {
    if (this.last === undefined) return 0;
    return phiOf(Math.max(0, nowMs - this.last), this.mean + this.options.acceptableHeartbeatPauseMs, Math.max(this.stdDev, this.options.minStdDevMs));
  }

  isAvailable(nowMs: number): boolean {
    return this.phi(nowMs) < this.options.threshold;
  }

  /**
   * The earliest time at which phi reaches `phiLevel` (default: the threshold) if no heartbeat
   * arrives first, to within 1e-6 ms; undefined before the first heartbeat. Lets the caller set one
   * timer instead of polling.
   */
  reachesPhiAtMs(phiLevel: number = this.options.threshold): number | undefined {
    if (this.last === undefined) return undefined;
    const last = this.last;
    let low = 0;
    let high = this.mean + this.options.acceptableHeartbeatPauseMs + Math.max(this.stdDev, this.options.minStdDevMs);
    for (let i = 0; i < 200 && this.phi(last + high) < phiLevel; i++) high *= 2;
    for (let i = 0; i < 200 && high - low > 1e-6; i++) {
      const middle = (low + high) / 2;
      if (this.phi(last + middle) >= phiLevel) high = middle;
      else low = middle;
    }
    return last + high;
  }

  get stats(): PhiStats {
    return { samples: this.intervals.length, meanIntervalMs: this.mean, stdDevMs: this.stdDev, lastHeartbeatMs: this.last };
  }

  private record(intervalMs: number): void {
    if (this.intervals.length < this.options.windowSize) this.intervals.push(intervalMs);
    else {
      this.intervals[this.next] = intervalMs;
      this.next = (this.next + 1) % this.options.windowSize;
    }
    this.recompute();
  }

  /** Two passes over at most windowSize numbers per heartbeat: exact, and no drift from running sums. */
  private recompute(): void {
    let sum = 0;
    for (const x of this.intervals) sum += x;
    const mean = sum / this.intervals.length;
    let squares = 0;
    for (const x of this.intervals) squares += (x - mean) * (x - mean);
    this.mean = mean;
    this.stdDev = Math.sqrt(squares / this.intervals.length);
  }
}

/**
 * up: phi below the threshold. suspect: phi at or above it; requests are routed around the peer.
 * down: suspected and silent for at least downAfterMs; a label for operators and slower policies.
 * Every status is revoked by the next heartbeat: none is final, and nothing here removes a member.
 */
export type PeerStatus = 'up' | 'suspect' | 'down';

export interface FailureDetectorOptions extends PhiOptions {
  /** Silence after which a suspected peer is reported down. */
  readonly downAfterMs: number;
  /** Most peers watched at once; heartbeats from further peers are refused ('full'). */
  readonly maxPeers: number;
}

export const defaultFailureDetectorOptions: FailureDetectorOptions = {
  ...defaultPhiOptions,
  downAfterMs: 10_000,
  maxPeers: 1024,
};

export interface PeerHealth {
  readonly peer: string;
  readonly status: PeerStatus;
  readonly phi: number;
  readonly silenceMs: number;
  readonly meanIntervalMs: number;
  readonly stdDevMs: number;
  readonly samples: number;
}

/** The status rule, as a pure function of phi and silence. */
export function statusOf(phi: number, silenceMs: number, options: Pick<FailureDetectorOptions, 'threshold' | 'downAfterMs'>): PeerStatus {
  if (phi < options.threshold) return 'up';
  return silenceMs >= options.downAfterMs ? 'down' : 'suspect';
}

/** One detector per peer, by name. */
export class FailureDetectors {
  private readonly detectors = new Map<string, PhiAccrualDetector>();

  constructor(private readonly options: FailureDetectorOptions = defaultFailureDetectorOptions) {
    checkPhiOptions(options);
    assert(Number.isFinite(options.downAfterMs) && options.downAfterMs > 0, 'downAfterMs > 0');
    assert(Number.isInteger(options.maxPeers) && options.maxPeers > 0, 'maxPeers > 0');
  }

  /** Records a heartbeat; 'full' when the peer is new and maxPeers are already watched. */
  heartbeat(peer: string, nowMs: number): 'recorded' | 'full' {
    const detector = this.detectorFor(peer);
    if (detector === undefined) return 'full';
    detector.heartbeat(nowMs);
    return 'recorded';
  }

  /** Records a message other than a heartbeat (see PhiAccrualDetector.signOfLife). */
  signOfLife(peer: string, nowMs: number): 'recorded' | 'full' {
    const detector = this.detectorFor(peer);
    if (detector === undefined) return 'full';
    detector.signOfLife(nowMs);
    return 'recorded';
  }

  /**
   * Starts watching a peer not heard from yet, as if it had sent a heartbeat at `nowMs`, so a peer
   * that is dead from the start is suspected like one that stopped. Does nothing for a watched peer.
   */
  watch(peer: string, nowMs: number): 'recorded' | 'full' {
    if (this.detectors.has(peer)) return 'recorded';
    return this.heartbeat(peer, nowMs);
  }

  /** Forgets a peer (it left the cluster). */
  remove(peer: string): void {
    this.detectors.delete(peer);
  }

  /** Undefined for a peer not watched. */
  phi(peer: string, nowMs: number): number | undefined {
    return this.detectors.get(peer)?.phi(nowMs);
  }

  /** Undefined for a peer not watched. */
  status(peer: string, nowMs: number): PeerStatus | undefined {
    const health = this.health(peer, nowMs);
    return health?.status;
  }

  /** When the peer will be suspected if it stays silent, for the caller's next check timer. */
  suspectAtMs(peer: string): number | undefined {
    return this.detectors.get(peer)?.reachesPhiAtMs();
  }

  health(peer: string, nowMs: number): PeerHealth | undefined {
    const detector = this.detectors.get(peer);
    if (detector === undefined) return undefined;
    const stats = detector.stats;
    const phi = detector.phi(nowMs);
    const silenceMs = Math.max(0, nowMs - (stats.lastHeartbeatMs ?? nowMs));
    return { peer, status: statusOf(phi, silenceMs, this.options), phi, silenceMs, meanIntervalMs: stats.meanIntervalMs, stdDevMs: stats.stdDevMs, samples: stats.samples };
  }

  /** Every watched peer, sorted by name. */
  snapshot(nowMs: number): PeerHealth[] {
    return [...this.detectors.keys()].sort().map((peer) => this.health(peer, nowMs)!);
  }

  private detectorFor(peer: string): PhiAccrualDetector | undefined {
    const have = this.detectors.get(peer);
    if (have !== undefined) return have;
    if (this.detectors.size >= this.options.maxPeers) return undefined;
    const detector = new PhiAccrualDetector(this.options);
    this.detectors.set(peer, detector);
    return detector;
  }
}
