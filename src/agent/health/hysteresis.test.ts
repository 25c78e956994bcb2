import { describe, expect, it } from 'vitest';
import { initialHealth, recordProbe, type PairHealth } from './hysteresis.ts';

const t = { healthyThreshold: 2, unhealthyThreshold: 3 };
const ok = { ok: true };
const bad = { ok: false, error: 'connect ECONNREFUSED' };

function run(results: { ok: boolean; error?: string }[], start: PairHealth = initialHealth(0)): { health: PairHealth; changes: number[] } {
  let health = start;
  const changes: number[] = [];
  results.forEach((r, i) => {
    const next = recordProbe(health, r, t, i + 1);
    health = next.health;
    if (next.changed) changes.push(i + 1);
  });
  return { health, changes };
}

describe('health hysteresis', () => {
  it('starts healthy and turns unhealthy only after unhealthyThreshold failures in a row', () => {
    expect(run([bad, bad]).health.healthy).toBe(true);
    const r = run([bad, bad, bad]);
    expect(r.health).toMatchObject({ healthy: false, streak: 0, since: 3, lastError: 'connect ECONNREFUSED', probes: 3 });
    expect(r.changes).toEqual([3]);
  });

  it('a success in between resets the streak', () => {
    expect(run([bad, bad, ok, bad, bad]).health.healthy).toBe(true);
  });

  it('recovers after healthyThreshold successes in a row, keeping the last failure message', () => {
    const r = run([bad, bad, bad, ok, bad, ok, ok]);
    expect(r.changes).toEqual([3, 7]);
    expect(r.health).toMatchObject({ healthy: true, lastError: 'connect ECONNREFUSED' });
  });
});
