// A simulated node's process: whether it is running, paused or down, and its own clock. Every
// event that belongs to a node — a message delivered to it, one of its timers, an fsync it waits
// for — passes through `enter`, which runs it, holds it while the process is paused (as a stopped
// process leaves its sockets' bytes and its timers waiting), or drops it when the process crashed
// after the event was set up (a restarted process has none of its old timers or callbacks).
//
// The clock is the node's wall clock: the world's time, run at the node's rate, plus an offset
// that a clock step changes at once. It is what the node's coordinators stamp writes with, as
// production reads `Date.now()`. Timers, like production's `setTimeout`, and `monotonicMs` (what
// the failure detector reads, as production reads `performance.now()`) measure elapsed time only:
// at the node's rate, blind to offsets and steps.

import type { Clock, TimerHandle } from '../../actors/ports.js';
import { assert } from '../core/errors.js';
import type { SimEvent } from './event-queue.js';
import type { SimWorld } from './world.js';

export type ProcessState = 'running' | 'paused' | 'down';

/** The scheduling a node's parts need: the world's, but through the node's gate. */
export interface SimTime {
  readonly nowUs: number;
  schedule(delayUs: number, label: string | (() => string), fire: () => void): SimEvent;
}

export class NodeProcess implements Clock, SimTime {
  private stateValue: ProcessState = 'running';
  /** Bumped by every crash and restart; an event set up under an older one is dropped. */
  private generationValue = 0;
  private held: (() => void)[] = [];
  /** Wall clock = world ms × rate + offset. */
  private offsetMs = 0;
  private rate = 1;

  constructor(
    private readonly world: SimWorld,
    readonly name: string,
  ) {}

  get state(): ProcessState {
    return this.stateValue;
  }

  get generation(): number {
    return this.generationValue;
  }

  get nowUs(): number {
    return this.world.nowUs;
  }

  /** Runs `fire` if the process is running, holds it while paused, drops it if down or crashed since `generation`. */
  enter(generation: number, fire: () => void): void {
    if (generation !== this.generationValue || this.stateValue === 'down') return;
    if (this.stateValue === 'paused') {
      this.held.push(fire);
      return;
    }
    fire();
  }

  /** Schedules `fire` after `delayUs` of the node's elapsed time, through the gate. */
  schedule(delayUs: number, label: string | (() => string), fire: () => void): SimEvent {
    const generation = this.generationValue;
    return this.world.schedule(this.rate === 1 ? delayUs : delayUs / this.rate, label, () => this.enter(generation, fire));
  }

  /** Elapsed time on this node (ms, at its rate), blind to offsets and steps: production's monotonic clock. */
  monotonicMs(): number {
    return this.rate === 1 ? this.world.nowMs() : this.world.nowMs() * this.rate;
  }

  // ---- Clock (the actors' port)

  nowMs(): number {
    return this.rate === 1 && this.offsetMs === 0 ? this.world.nowMs() : this.world.nowMs() * this.rate + this.offsetMs;
  }

  setTimer(delayMs: number, fire: () => void): TimerHandle {
    return { id: this.schedule(delayMs * 1000, 'timer', fire) };
  }

  clearTimer(handle: TimerHandle): void {
    (handle.id as SimEvent).cancelled = true;
  }

  // ---- Faults

  /** Sets the clock's offset from world time and its rate (1 = true time); for the start of a run. */
  skew(offsetMs: number, rate: number): void {
    assert(rate > 0.5 && rate < 2, 'a clock rate between 0.5 and 2');
    this.rate = rate;
    this.offsetMs = offsetMs;
  }

  /** The wall clock jumps by `deltaMs` (negative: backwards), as an NTP step does. */
  step(deltaMs: number): void {
    this.offsetMs += deltaMs;
  }

  /** Stops processing: from now on the node's events wait (SIGSTOP). */
  pause(): void {
    if (this.stateValue === 'running') this.stateValue = 'paused';
  }

  /** Carries on: what waited runs now, in the order it arrived. */
  resume(): void {
    if (this.stateValue !== 'paused') return;
    this.stateValue = 'running';
    const held = this.held;
    this.held = [];
    const generation = this.generationValue;
    for (const fire of held) this.world.schedule(0, `resume ${this.name}`, () => this.enter(generation, fire));
  }

  /** The process dies: everything it had set up or held is gone. */
  crash(): void {
    this.generationValue++;
    this.stateValue = 'down';
    this.held = [];
  }

  /** A new process starts (its state comes from durable storage, which the node reloads). */
  restart(): void {
    assert(this.stateValue === 'down', 'only a process that is down restarts');
    this.generationValue++;
    this.stateValue = 'running';
  }
}
