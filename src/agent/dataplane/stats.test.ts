import { describe, expect, it } from 'vitest';
import type { BpfMap } from '../../libbpf/libbpf.ts';
import { DecapStat, Stat } from './counters.ts';
import type { BalancerMaps } from './loader.ts';
import { createAgentMetrics } from '../metrics.ts';
import { emptyLive } from '../plan/model.ts';
import { formatDecapStats, formatStats, readDecapStats, readStats, toDataplaneCounters } from './stats.ts';

const CPUS = 2;

/** A per-CPU counter map as lookupBatch returns it: {packets, bytes} per CPU per key. */
function fakeStatsMap(values: ReadonlyMap<number, readonly [number, number][]>): BpfMap {
  const userValueSize = 16 * CPUS;
  const keys = Buffer.alloc(4 * values.size);
  const vals = Buffer.alloc(userValueSize * values.size);
  [...values].forEach(([key, perCpu], i) => {
    keys.writeUInt32LE(key, i * 4);
    perCpu.forEach(([packets, bytes], cpu) => {
      vals.writeBigUInt64LE(BigInt(packets), i * userValueSize + cpu * 16);
      vals.writeBigUInt64LE(BigInt(bytes), i * userValueSize + cpu * 16 + 8);
    });
  });
  return { userValueSize, lookupBatch: () => ({ keys, values: vals, count: values.size }) } as unknown as BpfMap;
}

describe('balancer stats', () => {
  const stats = fakeStatsMap(
    new Map([
      [Stat.evLruHit, [[90, 0], [10, 0]]],
      [Stat.evLruMiss, [[3, 0], [4, 0]]],
      [Stat.evLruRealGone, [[2, 0], [3, 0]]],
      [Stat.evQuicCidHit, [[8, 0], [1, 0]]],
      [Stat.evQuicCidMiss, [[4, 0], [0, 0]]],
      [Stat.evQuicRealGone, [[0, 0], [3, 0]]],
      [Stat.evQuicFamily, [[2, 0], [0, 0]]],
    ]),
  );
  const snapshot = readStats({ stats } as unknown as BalancerMaps, emptyLive(), { maxVips: 4 });

  it('reports evLruRealGone as re-picked after backend removal (table, JSON, metrics)', async () => {
    expect(snapshot.counters.evLruRealGone.packets).toBe(5);
    expect(snapshot.lru).toMatchObject({ hits: 100, misses: 7, repickedAfterBackendRemoval: 5 });
    expect(JSON.parse(JSON.stringify(snapshot)).lru.repickedAfterBackendRemoval).toBe(5);
    expect(formatStats(snapshot)).toContain('re-picked after backend removal 5');
    const metrics = createAgentMetrics({ processMetrics: false, readCounters: () => toDataplaneCounters(snapshot) });
    expect(await metrics.registry.metrics()).toContain('sterlet_lru_repicked_after_backend_removal_total 5');
  });

  it('reports QUIC outcomes: routed by server id, or to the ring and why (table, JSON, metrics)', async () => {
    expect(snapshot.quic).toEqual({ routed: 9, unknownId: 4, backendGone: 3, familyMismatch: 2, longHeader: 0 });
    expect(formatStats(snapshot)).toContain('QUIC: routed by server id 9; to the ring: unknown id for the VIP 4, backend gone 3, IPv4 backend for IPv6 VIP 2, long header 0');
    const text = await createAgentMetrics({ processMetrics: false, readCounters: () => toDataplaneCounters(snapshot) }).registry.metrics();
    expect(text).toContain('sterlet_quic_packets_total{result="routed"} 9');
    expect(text).toContain('sterlet_quic_packets_total{result="backendGone"} 3');
    expect(text).toContain('sterlet_quic_packets_total{result="familyMismatch"} 2');
  });
});

describe('decap stats', () => {
  it('names every decap counter, summed over CPUs', () => {
    const s = readDecapStats(
      fakeStatsMap(
        new Map([
          [DecapStat.ipip, [[4, 400], [6, 600]]],
          [DecapStat.passNotLocal, [[1, 60], [0, 0]]],
        ]),
      ),
    );
    expect(s.counters.ipip).toEqual({ packets: 10, bytes: 1000 });
    expect(s.counters.passNotLocal).toEqual({ packets: 1, bytes: 60 });
    expect(s.counters.gue6).toEqual({ packets: 0, bytes: 0 });
    expect(Object.keys(s.counters).sort()).toEqual(Object.keys(DecapStat).sort());
    const table = formatDecapStats(s);
    expect(table).toMatch(/decapsulated IPv4 in IPv4\s+10\s+1000/);
    expect(table).toMatch(/passed: tunnel to a non-local address\s+1\s+60/);
  });
});
