// Which seeds the simulation tests run, from the environment: SIM_SEEDS=N runs seeds 1..N
// (default: each file's own count), SIM_SEED=s runs only seed s, and SIM_TRACE=path writes that
// seed's full event trace to a file. Every failure names its seed and the command to rerun it.

import { writeFileSync } from 'node:fs';
import type { ScenarioReport } from '../../src/sim/scenario.js';
import { formatReport } from '../../src/sim/scenario.js';

export function seedsToRun(defaultCount: number): number[] {
  const only = process.env.SIM_SEED;
  if (only !== undefined && only !== '') return [Number(only)];
  const count = process.env.SIM_SEEDS === undefined ? defaultCount : Number(process.env.SIM_SEEDS);
  return Array.from({ length: count }, (_, i) => i + 1);
}

/** Whether to keep the whole trace (only when one seed is rerun with SIM_TRACE). */
export function keepTrace(): boolean {
  return process.env.SIM_TRACE !== undefined && process.env.SIM_SEED !== undefined;
}

/** The message of a failing (or traced) run: the report, and how to run the seed again. */
export function explain(report: ScenarioReport, testFile: string): string {
  if (report.trace !== undefined && process.env.SIM_TRACE !== undefined) writeFileSync(process.env.SIM_TRACE, `${report.trace.join('\n')}\n`);
  return `${formatReport(report)}\nrerun: SIM_SEED=${report.seed} npx ava ${testFile} (add SIM_TRACE=/tmp/trace.txt for the full event trace)`;
}
