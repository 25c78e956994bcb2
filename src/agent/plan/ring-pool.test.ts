// Rings built off the event loop: the worker pool gives exactly what
// buildRing and ringFingerprint give on this thread, and a RingCache handed
// those rings plans the same rings without building any itself.
import { afterAll, describe, expect, it } from 'vitest';
import { buildRing, ringFingerprint, DEFAULT_RING_SIZE } from './maglev.ts';
import type { DesiredBackend, DesiredVip, Limits } from './model.ts';
import { emptyLive } from './model.ts';
import { plan } from './plan.ts';
import { ringPool } from './ring-pool.ts';
import { RingCache } from './rings.ts';

const limits: Limits = { maxVips: 8, maxReals: 64, ringSize: DEFAULT_RING_SIZE };
const be = (address: string, weight = 1): DesiredBackend => ({ address, family: 'IPv4', weight, quicServerId: undefined });
const vip = (n: number, backends: DesiredBackend[]): DesiredVip => ({
  id: `ns/v${String(n)}`,
  key: { address: `10.200.0.${String(n)}`, family: 'IPv4', port: 80, protocol: 'TCP' },
  flags: { hash: 'FiveTuple', connectionTracking: true, quic: false, encapsulation: 'IPIP' },
  backends,
});
// Backends out of address order, mixed weights, a drained one, and a VIP with nothing weighted.
const state = [
  vip(1, [be('10.0.0.3', 2), be('10.0.0.1'), be('10.0.0.2', 0)]),
  vip(2, [be('10.0.1.1', 5), be('10.0.1.2', 1), be('10.0.1.3', 3)]),
  vip(3, [be('10.0.0.1'), be('10.0.0.3', 2)]), // the same Maglev input as VIP 1 without its drained backend
  vip(4, [be('10.0.2.1', 0)]),
];
const noBuild = (): Uint32Array => {
  throw new Error('buildRing called although the ring was handed in');
};

describe('ringPool', () => {
  const pool = ringPool({ workers: 2 });
  afterAll(() => pool.close());

  it('builds on worker threads what buildRing and ringFingerprint build here', async () => {
    const inputs = new RingCache().missing(state, limits.ringSize);
    expect(inputs.map((i) => i.ids)).toEqual([['10.0.0.1', '10.0.0.3'], ['10.0.1.1', '10.0.1.2', '10.0.1.3']]);
    const built = await pool.build(inputs, limits.ringSize);
    for (const input of inputs) {
      const here = buildRing(input.ids.map((id, i) => ({ id, weight: input.weights[i] ?? 0 })), limits.ringSize);
      expect(built.get(input.key)?.positions).toEqual(here);
      expect(built.get(input.key)?.fingerprint).toBe(ringFingerprint(here, input.ids));
    }
  });

  it('lets a RingCache plan the same rings and fingerprints without building one', async () => {
    const reference = plan(state, emptyLive(), { limits, buildRing, fingerprint: ringFingerprint });
    const cache = new RingCache();
    cache.addPrebuilt(await pool.build(cache.missing(state, limits.ringSize), limits.ringSize));
    const handed = plan(state, emptyLive(), { limits, buildRing: noBuild, fingerprint: ringFingerprint, cache });
    expect(handed.expected.rings).toEqual(reference.expected.rings);
    expect(handed.fingerprints).toEqual(reference.fingerprints);
    // Once planned, the rings are cached: nothing is missing, and the handed-in positions are gone.
    expect(cache.missing(state, limits.ringSize)).toEqual([]);
    const reweighted = [vip(1, [be('10.0.0.3', 3), be('10.0.0.1')])];
    expect(cache.missing(reweighted, limits.ringSize).map((i) => i.weights)).toEqual([[1, 3]]);
  });
});
