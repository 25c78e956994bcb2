import { describe, expect, it } from 'vitest';
import type { Condition } from '../api/meta.ts';
import { formatDuration, refreshAfterMs, ringMismatch } from './ring-mismatch.ts';

const T0 = '2026-11-26T08:00:00Z';
const was = (reason: string, at: string, status: Condition['status'] = 'False'): Condition => ({ type: 'Programmed', status, reason, message: '', lastTransitionTime: at });

describe('ringMismatch', () => {
  it('is undefined while every node has one fingerprint', () => {
    expect(ringMismatch([{ name: 'a', fingerprint: 'f' }, { name: 'b', fingerprint: 'f' }], undefined, T0)).toBeUndefined();
    expect(ringMismatch([], undefined, T0)).toBeUndefined();
  });

  it('names the nodes that differ from the majority ring', () => {
    const m = ringMismatch([{ name: 'c', fingerprint: 'x' }, { name: 'a', fingerprint: 'f' }, { name: 'b', fingerprint: 'f' }], undefined, T0);
    expect(m?.text).toBe('rings differ on 1/3 nodes for 0s (c has fingerprint x; the other 2 have f)');
  });

  it('breaks a tie by the first node name, and reports a node without a fingerprint', () => {
    expect(ringMismatch([{ name: 'b', fingerprint: 'g' }, { name: 'a', fingerprint: 'f' }], undefined, T0)?.text).toBe('rings differ on 1/2 nodes for 0s (b has fingerprint g; a has f)');
    expect(ringMismatch([{ name: 'a', fingerprint: 'f' }, { name: 'b', fingerprint: undefined }], undefined, T0)?.text).toContain('b has fingerprint none');
  });

  it('counts from the start of the mismatch the previous condition recorded, not from other False states', () => {
    const rings = [{ name: 'a', fingerprint: 'f' }, { name: 'b', fingerprint: 'g' }];
    expect(ringMismatch(rings, was('RingMismatch', '2026-11-26T07:55:00Z'), T0)).toMatchObject({ since: '2026-11-26T07:55:00Z', seconds: 300, refreshAfterMs: 60_000 });
    expect(ringMismatch(rings, was('Pending', '2026-11-26T07:55:00Z'), T0)).toMatchObject({ since: T0, seconds: 0 });
    expect(ringMismatch(rings, was('AllNodesProgrammed', '2026-11-26T07:55:00Z', 'True'), T0)?.since).toBe(T0);
  });

  it('lists at most ten differing nodes', () => {
    const rings = Array.from({ length: 30 }, (_, i) => ({ name: `n${String(i).padStart(2, '0')}`, fingerprint: i < 18 ? 'f' : `g${i}` }));
    const m = ringMismatch(rings, undefined, T0);
    expect(m?.text).toMatch(/^rings differ on 12\/30 nodes for 0s \(/);
    expect(m?.text).toContain('2 more; the other 18 have f)');
  });
});

describe('formatDuration and refreshAfterMs', () => {
  it('is precise while fresh and coarser as the mismatch ages', () => {
    expect([0, 42, 60, 312, 3600, 11_040, 86_400 * 2 + 3600 * 5].map(formatDuration)).toEqual(['0s', '42s', '1m', '5m12s', '1h0m', '3h4m', '2d5h']);
    expect([0, 59, 60, 3599, 3600].map(refreshAfterMs)).toEqual([10_000, 10_000, 60_000, 60_000, 600_000]);
  });
});
