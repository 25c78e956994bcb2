import { describe, expect, it } from 'vitest';
import type { BpfMap } from '../../libbpf/libbpf.ts';
import { DecapStat, Stat, STAT_GLOBAL_NR, VERDICT_STATS } from './counters.ts';
import type { BalancerMaps } from './loader.ts';
import { createAgentMetrics } from '../metrics.ts';
import { emptyLive, type DesiredVip, type LiveState } from '../plan/model.ts';
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
    expect(await metrics.registry.metrics()).toContain('sterlet_dataplane_events_total{event="conntrack_repicked_backend_removed"} 5');
  });

  it('exports every verdict and event counter the program keeps, one family each', async () => {
    const every = fakeStatsMap(new Map((Object.values(Stat) as number[]).map((i) => [i, [[i + 1, 10 * (i + 1)]]])));
    const s = readStats({ stats: every } as unknown as BalancerMaps, emptyLive(), { maxVips: 4 });
    const text = await createAgentMetrics({ processMetrics: false, readCounters: () => toDataplaneCounters(s) }).registry.metrics();
    const verdicts = text.split('\n').filter((l) => l.startsWith('sterlet_packets_total{'));
    const events = text.split('\n').filter((l) => l.startsWith('sterlet_dataplane_events_total{'));
    expect(verdicts).toHaveLength(VERDICT_STATS.length);
    const quic = text.split('\n').filter((l) => l.startsWith('sterlet_quic_packets_total{'));
    expect(verdicts.length + events.length + quic.length).toBe(Object.keys(Stat).length);
    expect(text).toContain(`sterlet_packets_total{verdict="tx",reason="icmp_too_big"} ${Stat.txIcmpTooBig + 1}`);
    expect(text).toContain(`sterlet_packets_total{verdict="pass",reason="not_vip"} ${Stat.passNotVip + 1}`);
    expect(text).toContain(`sterlet_bytes_total{verdict="drop",reason="no_backend"} ${10 * (Stat.dropNoReal + 1)}`);
    expect(text).toContain(`sterlet_quic_packets_total{result="routed"} ${Stat.evQuicCidHit + 1}`);
    expect(text).toContain(`sterlet_quic_packets_total{result="familyMismatch"} ${Stat.evQuicFamily + 1}`);
    expect(text).toContain(`sterlet_dataplane_events_total{event="conntrack_hit"} ${Stat.evLruHit + 1}`);
    // Labels are unique per series.
    expect(new Set(verdicts.map((l) => l.split(' ')[0])).size).toBe(verdicts.length);
    expect(s.drops.map((d) => d.reason)).toContain('ipv4_fragment');
  });

  it('names VIPs and backends by namespace/name, per (VIP, backend) pair', async () => {
    const key = { address: '10.200.0.10', family: 'IPv4', port: 80, protocol: 'TCP' } as const;
    const flags = { hash: 'FiveTuple', connectionTracking: true, quic: false, encapsulation: 'IPIP' } as const;
    const live: LiveState = {
      ...emptyLive(),
      vips: new Map([['TCP 10.200.0.10:80', { key, index: 0, flags }]]),
      reals: new Map([
        [1, { index: 1, address: '10.0.1.11', family: 'IPv4' }],
        [2, { index: 2, address: '10.0.1.12', family: 'IPv4' }],
      ]),
      rings: new Map([[0, Uint16Array.from([1, 1, 1, 2, 1, 1, 2])]]),
    };
    const desired: DesiredVip[] = [
      {
        id: 'shop/web',
        key,
        flags,
        backends: [
          { address: '10.0.1.11', family: 'IPv4', weight: 2, name: 'web-1' },
          { address: '10.0.1.12', family: 'IPv4', weight: 1, name: 'web-2' },
        ],
      },
    ];
    const maps = fakeStatsMap(new Map([[STAT_GLOBAL_NR, [[9, 900]]], [STAT_GLOBAL_NR + 4 + 1, [[6, 600]]]]));
    const s = readStats({ stats: maps } as unknown as BalancerMaps, live, { maxVips: 4, desired });
    expect(s.pairs).toEqual([
      { vip: 'shop/web', backend: 'web-1', address: '10.0.1.11', weight: 2, slots: 5 },
      { vip: 'shop/web', backend: 'web-2', address: '10.0.1.12', weight: 1, slots: 2 },
    ]);
    const table = formatStats(s);
    expect(table).toContain('shop/web (TCP 10.200.0.10:80)');
    expect(table).toMatch(/10\.0\.1\.11 \(shop\/web-1\)\s+6\s+600\s+shop\/web/);
    const text = await createAgentMetrics({ processMetrics: false, readCounters: () => toDataplaneCounters(s) }).registry.metrics();
    expect(text).toContain('sterlet_vip_packets_total{namespace="shop",name="web",address="10.200.0.10",port="80",protocol="TCP"} 9');
    expect(text).toContain('sterlet_vip_backend_ring_slots{namespace="shop",name="web",backend="web-1",address="10.0.1.11"} 5');
    expect(text).toContain('sterlet_backend_bytes_total{address="10.0.1.11"} 600');
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
