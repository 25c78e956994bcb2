// The end of a "nothing may notice" step under continuous load (restart,
// kill -9, upgrade): stop the load, record its figures, and assert no failed
// request, no reset and none as slow as a retransmission (a dropped SYN or
// segment costs >= 1 s).
import { expect } from 'vitest';
import type { TrafficStats } from './client.ts';
import type { AgentWorld } from './world.ts';

export function loadFigures(stats: TrafficStats): object {
  const { total, ok, failures, resets, slow, maxLatencyMs, durationMs } = stats;
  return { total, ok, failures, resets, slowOver900ms: slow, maxLatencyMs, durationMs };
}

export async function stopLoadHitless(w: AgentWorld, figure: string): Promise<TrafficStats> {
  const stats = await w.client.stopLoad();
  w.figures[figure] = loadFigures(stats);
  expect(stats.failures, w.failureReport(stats)).toBe(0);
  expect(stats.resets).toBe(0);
  expect(stats.slow, `requests slower than 900 ms: ${w.failureReport(stats)}`).toBe(0);
  return stats;
}
