// The simulated world's time: a virtual clock and the queue of everything due to happen. It
// implements the actors' Clock port, so coordinators set their deadlines here exactly as they do
// on the real clock. Nothing in a run happens outside this queue: network deliveries, fsync
// completions, timers and client think times are all events, fired one at a time in (time,
// sequence) order. Time is kept in whole microseconds so that it prints and compares exactly.

import type { Clock, TimerHandle } from '../../actors/ports.js';
import { assert } from '../core/errors.js';
import { EventLog } from './event-log.js';
import { EventQueue, type SimEvent } from './event-queue.js';
import { SimRandom } from './random.js';

export interface WorldOptions {
  readonly seed: number;
  /** Keep every trace line in memory (for writing a failing run's trace out). */
  readonly keepTrace?: boolean;
}

export class SimWorld implements Clock {
  readonly random: SimRandom;
  readonly log: EventLog;
  private readonly queue = new EventQueue();
  private currentUs = 0;
  private nextSeq = 0;
  /** Events fired so far. */
  fired = 0;

  constructor(options: WorldOptions) {
    this.random = new SimRandom(options.seed);
    this.log = new EventLog(200, options.keepTrace ?? false);
  }

  get nowUs(): number {
    return this.currentUs;
  }

  nowMs(): number {
    return this.currentUs / 1000;
  }

  /** Schedules `fire` after `delayUs` (rounded to whole microseconds, at least 0). */
  schedule(delayUs: number, label: string | (() => string), fire: () => void): SimEvent {
    assert(Number.isFinite(delayUs), 'a finite delay');
    const event: SimEvent = { atUs: this.currentUs + Math.max(0, Math.round(delayUs)), seq: this.nextSeq++, label, fire, cancelled: false };
    this.queue.push(event);
    return event;
  }

  /** Schedules `fire` at the absolute time `atUs` (not earlier than now). */
  scheduleAt(atUs: number, label: string | (() => string), fire: () => void): SimEvent {
    return this.schedule(atUs - this.currentUs, label, fire);
  }

  // ---- Clock (the actors' port)

  setTimer(delayMs: number, fire: () => void): TimerHandle {
    return { id: this.schedule(delayMs * 1000, 'timer', fire) };
  }

  clearTimer(handle: TimerHandle): void {
    (handle.id as SimEvent).cancelled = true;
  }

  // ---- Running

  /** Fires the next event; false when none is left. */
  step(): boolean {
    const event = this.queue.pop();
    if (event === undefined) return false;
    if (event.cancelled) return true;
    assert(event.atUs >= this.currentUs, 'time never runs backwards');
    this.currentUs = event.atUs;
    this.fired++;
    this.log.record(`${event.atUs} ${typeof event.label === 'string' ? event.label : event.label()}`);
    event.fire();
    return true;
  }

  /**
   * Fires events up to and including time `untilUs` (the clock then stands at `untilUs`), or
   * until `stop` returns true. Between events it yields to the microtask queue once, so that a
   * coordinator's promise resolved by an event is seen by its caller at that event's time; the
   * order of microtasks is deterministic, so this keeps runs reproducible.
   */
  async runUntil(untilUs: number, stop: () => boolean = () => false): Promise<void> {
    for (;;) {
      if (stop()) return;
      const next = this.queue.peek();
      if (next === undefined || next.atUs > untilUs) break;
      this.step();
      await null;
    }
    if (untilUs > this.currentUs && !stop()) this.currentUs = untilUs;
  }

  /** Events still queued (cancelled timers included). */
  get queued(): number {
    return this.queue.size;
  }
}
