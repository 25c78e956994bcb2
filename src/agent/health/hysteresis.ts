// Health of one (VIP, backend) pair from its probe results: a healthy pair
// turns unhealthy after `unhealthyThreshold` failures in a row, an unhealthy
// one healthy after `healthyThreshold` successes in a row. Pure.
// A new pair starts healthy: an agent restart or a new backend must not empty
// a ring before the first round of probes has run.

export interface Thresholds {
  readonly healthyThreshold: number;
  readonly unhealthyThreshold: number;
}

export interface PairHealth {
  readonly healthy: boolean;
  /** Consecutive results that disagree with `healthy` (resets on agreement). */
  readonly streak: number;
  readonly lastError?: string | undefined;
  /** Date.now() of the last transition (or of creation). */
  readonly since: number;
  readonly probes: number;
}

export function initialHealth(now: number): PairHealth {
  return { healthy: true, streak: 0, since: now, probes: 0 };
}

/** The pair after one probe; `changed` when it crossed a threshold. */
export function recordProbe(
  h: PairHealth,
  result: { readonly ok: boolean; readonly error?: string | undefined },
  t: Thresholds,
  now: number,
): { health: PairHealth; changed: boolean } {
  const probes = h.probes + 1;
  const lastError = result.ok ? h.lastError : result.error;
  if (result.ok === h.healthy) return { health: { ...h, streak: 0, probes, lastError }, changed: false };
  const streak = h.streak + 1;
  const needed = h.healthy ? t.unhealthyThreshold : t.healthyThreshold;
  if (streak < needed) return { health: { ...h, streak, probes, lastError }, changed: false };
  return { health: { healthy: result.ok, streak: 0, since: now, probes, lastError }, changed: true };
}
