// A Clock (actors/ports.ts) for tests: time moves only when the test says so, firing the timers
// that fall due in order and letting messages and promises run between steps (`turn`: one
// event-loop turn).

import type { Clock, TimerHandle } from '../../actors/ports.js';

export const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export class ManualClock implements Clock {
  now = 1_000_000;
  private nextId = 1;
  private readonly timers = new Map<number, { atMs: number; fire: () => void }>();

  nowMs(): number {
    return this.now;
  }

  setTimer(delayMs: number, fire: () => void): TimerHandle {
    const id = this.nextId++;
    this.timers.set(id, { atMs: this.now + delayMs, fire });
    return { id };
  }

  clearTimer(handle: TimerHandle): void {
    this.timers.delete(handle.id as number);
  }

  /** Timers set and neither fired nor cleared. */
  get pendingTimers(): number {
    return this.timers.size;
  }

  /** Moves time on in 10 ms steps, firing due timers and letting messages and promises run. */
  async advance(ms: number, onStep: () => void = () => undefined): Promise<void> {
    const end = this.now + ms;
    while (this.now < end) {
      this.now = Math.min(end, this.now + 10);
      for (;;) {
        const due = [...this.timers].filter(([, t]) => t.atMs <= this.now).sort((a, b) => a[1].atMs - b[1].atMs)[0];
        if (due === undefined) break;
        this.timers.delete(due[0]);
        due[1].fire();
      }
      for (let i = 0; i < 4; i++) await turn();
      onStep();
    }
  }
}
