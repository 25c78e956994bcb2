// What the prober reports: per-pair health for status, stats and the health file,
// and its own counters.

export interface PairSnapshot {
  readonly backend: string;
  readonly name?: string | undefined;
  readonly healthy: boolean;
  /** Health as probed now (may lead `healthy` by up to one interval). */
  readonly probedHealthy: boolean;
  readonly since: string;
  readonly probes: number;
  readonly lastError?: string | undefined;
}

export interface HealthSnapshot {
  readonly vips: readonly { readonly id: string; readonly failOpen: boolean; readonly backends: readonly PairSnapshot[] }[];
  readonly probes: number;
  readonly missed: number;
}

export interface ProberStats {
  readonly pairs: number;
  readonly probes: number;
  /** Probes that could not start in their interval (the previous one still running, or the scheduler late by more than an interval). */
  readonly missed: number;
  readonly inFlight: number;
}
