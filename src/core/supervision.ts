// OTP-style restart intensity as a pure decision: a child may be restarted at most
// `maxRestarts` times within `periodMs`; one more failure in that window escalates (the node
// shuts down cleanly with the reason) instead of restarting in a loop.

export interface RestartIntensity {
  readonly maxRestarts: number;
  readonly periodMs: number;
}

export type RestartDecision =
  | { readonly action: 'restart'; readonly history: readonly number[] }
  | { readonly action: 'escalate'; readonly history: readonly number[]; readonly reason: string };

export function decideRestart(history: readonly number[], nowMs: number, intensity: RestartIntensity): RestartDecision {
  const recent = history.filter((t) => nowMs - t < intensity.periodMs);
  if (recent.length >= intensity.maxRestarts) {
    return {
      action: 'escalate',
      history: recent,
      reason: `more than ${intensity.maxRestarts} restarts within ${intensity.periodMs} ms`,
    };
  }
  return { action: 'restart', history: [...recent, nowMs] };
}
