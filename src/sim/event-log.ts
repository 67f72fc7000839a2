// The trace of a simulated run: one line per event fired, folded into a SHA-256 digest that
// identifies the run. Two runs of one seed must give the same digest; that is the determinism
// check. The last lines are kept for failure messages, and every line when asked for (debugging).

import { type Hash, createHash } from 'node:crypto';

const flushLines = 512;

export class EventLog {
  private readonly hash: Hash = createHash('sha256');
  private pending: string[] = [];
  private readonly recent: string[] = [];
  private recentNext = 0;
  /** Every line, when the log was made with `keepAll` (a debugging aid; memory grows with the run). */
  readonly all: string[] | undefined;
  count = 0;

  constructor(
    private readonly recentMax = 200,
    keepAll = false,
  ) {
    this.all = keepAll ? [] : undefined;
  }

  record(line: string): void {
    this.count++;
    this.pending.push(line);
    if (this.pending.length >= flushLines) this.flush();
    if (this.recent.length < this.recentMax) this.recent.push(line);
    else this.recent[this.recentNext] = line;
    this.recentNext = (this.recentNext + 1) % this.recentMax;
    this.all?.push(line);
  }

  private flush(): void {
    if (this.pending.length === 0) return;
    this.hash.update(this.pending.join('\n'));
    this.hash.update('\n');
    this.pending = [];
  }

  /** The digest of every line so far (the log keeps going). */
  digest(): string {
    this.flush();
    return this.hash.copy().digest('hex').slice(0, 32);
  }

  /** The last lines recorded, oldest first. */
  tail(lines = this.recentMax): string[] {
    const ordered = this.recent.length < this.recentMax ? this.recent.slice() : [...this.recent.slice(this.recentNext), ...this.recent.slice(0, this.recentNext)];
    return ordered.slice(-lines);
  }
}
