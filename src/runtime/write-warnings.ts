// Reports client writes that left an object above a soft bound (warnSiblings, warnObjectBytes):
// every one counts in the node's stats (siblingsWarnings, objectSizeWarnings in /v1/stats and
// /metrics), and a log line names the key, at most once per interval for each kind of warning, so
// a hot key cannot flood the log. It never refuses or delays a write; the hard bounds do that.

import type { ObjectKey, WriteWarning } from '../core/kv.js';
import type { Logger } from './log.js';
import type { NodeStats } from './stats.js';

/** At most one log line per kind of warning in this interval; the counters count every one. */
export const writeWarningLogIntervalMs = 10_000;

export class WriteWarningReporter {
  private readonly lastLoggedMs = new Map<WriteWarning['kind'], number>();
  private readonly suppressed = new Map<WriteWarning['kind'], number>();

  constructor(
    private readonly log: Pick<Logger, 'warn'>,
    private readonly stats: NodeStats,
    private readonly logIntervalMs: number,
  ) {}

  report(key: ObjectKey, warnings: readonly WriteWarning[], nowMs: number): void {
    for (const warning of warnings) {
      if (warning.kind === 'siblings') this.stats.siblingsWarnings++;
      else this.stats.objectSizeWarnings++;
      const last = this.lastLoggedMs.get(warning.kind);
      if (last !== undefined && nowMs - last < this.logIntervalMs) {
        this.suppressed.set(warning.kind, (this.suppressed.get(warning.kind) ?? 0) + 1);
        continue;
      }
      const suppressed = this.suppressed.get(warning.kind) ?? 0;
      this.lastLoggedMs.set(warning.kind, nowMs);
      this.suppressed.set(warning.kind, 0);
      this.log.warn(
        { ...warning, type: key.type, bucket: printable(key.bucket), key: printable(key.key), similarWarningsNotLogged: suppressed },
        warning.kind === 'siblings'
          ? 'a write left an object with more siblings than warnSiblings; its writers should read and write back with the context'
          : 'a write left an object larger than warnObjectBytes',
      );
    }
  }
}

/** A key for a log line: UTF-8 when it is printable text, else base64. */
function printable(bytes: Uint8Array): string {
  const text = Buffer.from(bytes).toString('utf8');
  return /^[\x20-\x7e]*$/.test(text) && text.length <= 200 ? text : `base64:${Buffer.from(bytes).toString('base64').slice(0, 200)}`;
}
