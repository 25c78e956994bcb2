import { describe, expect, it } from 'vitest';
import { VirtualIPPool } from '../api/virtual-ip-pool.ts';
import { poolOverlaps, poolStatus } from './pool-status.ts';

function pool(name: string, addresses: string[], generation = 3): VirtualIPPool {
  return VirtualIPPool.parse({
    apiVersion: 'sterlet.dev/v1alpha1', kind: 'VirtualIPPool',
    metadata: { name, generation }, spec: { addresses, backendAddresses: ['10.0.0.0/8'] },
  });
}

describe('VirtualIPPool status', () => {
  it('reports observedGeneration, Ready and the number of admitted VIPs', () => {
    const p = pool('a', ['10.200.0.0/24']);
    const st = poolStatus(p, [p, pool('b', ['10.201.0.0/24', 'fd00::/64'])], 2, '2026-01-01T00:00:00Z');
    expect(st.observedGeneration).toBe(3);
    expect(st.virtualIPs).toBe(2);
    expect(st.conditions.find((c) => c.type === 'Ready')).toMatchObject({ status: 'True', message: 'in force; admits 2 VirtualIPs' });
    expect(st.conditions.find((c) => c.type === 'Overlapping')).toMatchObject({ status: 'False', reason: 'NoOverlap' });
  });

  it('names each other pool whose ranges overlap (either containing the other), same family only', () => {
    const wide = pool('wide', ['10.200.0.0/16', 'fd00::/48']);
    const narrow = pool('narrow', ['10.200.3.0/24']);
    const v6 = pool('v6', ['fd00:0:0:1::/64']);
    const apart = pool('apart', ['10.201.0.0/16']);
    const all = [wide, narrow, v6, apart];
    expect(poolOverlaps(wide, all)).toEqual(['narrow: 10.200.3.0/24 overlaps 10.200.0.0/16', 'v6: fd00:0:0:1::/64 overlaps fd00::/48']);
    expect(poolOverlaps(narrow, all)).toEqual(['wide: 10.200.0.0/16 overlaps 10.200.3.0/24']);
    expect(poolOverlaps(apart, all)).toEqual([]);
    const st = poolStatus(narrow, all, 0, '2026-01-01T00:00:00Z');
    expect(st.conditions.find((c) => c.type === 'Overlapping')).toMatchObject({ status: 'True', reason: 'OverlapsOtherPools' });
    expect(st.conditions.find((c) => c.type === 'Overlapping')?.message).toContain('wide: 10.200.0.0/16 overlaps 10.200.3.0/24');
  });

  it('keeps lastTransitionTime while a condition keeps its status', () => {
    const p = pool('a', ['10.200.0.0/24']);
    const first = poolStatus(p, [p], 1, '2026-01-01T00:00:00Z');
    const again = poolStatus({ ...p, status: first }, [p], 4, '2026-01-02T00:00:00Z');
    expect(again.conditions.map((c) => c.lastTransitionTime)).toEqual(['2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z']);
  });
});
