import { describe, expect, it } from 'vitest';
import type { DesiredVip } from '../plan/model.ts';
import { applyHealth } from './overlay.ts';

const check = { type: 'TCP' as const, port: 80, intervalSeconds: 5, timeoutSeconds: 2, healthyThreshold: 2, unhealthyThreshold: 3 };
const vip = (id: string, weights: number[], withCheck = true): DesiredVip => ({
  id,
  key: { address: '10.200.0.10', family: 'IPv4', port: 80, protocol: 'TCP' },
  flags: { hash: 'FiveTuple', connectionTracking: true, quic: false, encapsulation: 'IPIP' },
  backends: weights.map((weight, i) => ({ address: `10.0.1.${11 + i}`, family: 'IPv4', weight })),
  ...(withCheck ? { healthCheck: check } : {}),
});

describe('applyHealth', () => {
  it('gives unhealthy backends weight 0 (kept as reals: established flows stay) and leaves the rest alone', () => {
    const down = new Set(['a|10.0.1.12']);
    const r = applyHealth([vip('a', [1, 2, 1]), vip('b', [1, 1])], (v, addr) => !down.has(`${v}|${addr}`));
    expect(r.vips[0]?.backends.map((b) => b.weight)).toEqual([1, 0, 1]);
    expect(r.vips[1]).toBe(r.vips[1]);
    expect(r.excluded.get('a')).toEqual(['10.0.1.12']);
    expect(r.failOpen).toEqual([]);
  });

  it('fails open when every weighted backend is unhealthy; drained backends do not count', () => {
    const r = applyHealth([vip('a', [1, 1, 0])], (_v, addr) => addr === '10.0.1.13');
    expect(r.failOpen).toEqual(['a']);
    expect(r.vips[0]?.backends.map((b) => b.weight)).toEqual([1, 1, 0]);
  });

  it('ignores unknown health, unchecked backends and VIPs without checks', () => {
    const unchecked: DesiredVip = { ...vip('a', [1, 1]), backends: [{ address: '10.0.1.11', family: 'IPv4', weight: 1, unchecked: true }, { address: '10.0.1.12', family: 'IPv4', weight: 1 }] };
    expect(applyHealth([unchecked], () => false).vips[0]?.backends.map((b) => b.weight)).toEqual([1, 0]);
    const none = vip('b', [1, 1], false);
    expect(applyHealth([none], () => false).vips[0]).toBe(none);
    expect(applyHealth([vip('c', [1, 1])], () => undefined).vips[0]?.backends.map((b) => b.weight)).toEqual([1, 1]);
  });
});
