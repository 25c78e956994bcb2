// `sterlet stats` and the metrics collectors: counters read from the pinned
// per-CPU `stats` map (summed over CPUs), labelled with what the other maps
// say: per VIP, per backend (real), drops by reason, LRU hit ratio.

import { splitPerCpu } from '../../libbpf/libbpf.ts';
import type { BpfMap } from '../../libbpf/libbpf.ts';
import { DecapStat, Stat, STAT_GLOBAL_NR, STAT_VALUE_SIZE, sumPerCpu, type DecapStatName, type StatName } from './counters.ts';
import type { BalancerMaps } from './loader.ts';
import type { DataplaneCounters } from '../metrics.ts';
import type { LiveState } from '../plan/model.ts';
import { ringMembers } from '../plan/reals.ts';
import { vipKeyId } from '../plan/model.ts';

export interface CounterRow {
  readonly packets: number;
  readonly bytes: number;
}

export interface StatsSnapshot {
  readonly vips: readonly (CounterRow & { key: string; id?: string | undefined; index: number; backends: readonly string[] })[];
  readonly backends: readonly (CounterRow & { address: string; index: number; vips: readonly string[] })[];
  /** Every global counter (verdicts and events) by name. */
  readonly counters: Readonly<Record<StatName, CounterRow>>;
  readonly drops: readonly { reason: string; packets: number }[];
  readonly lru: {
    readonly hits: number;
    readonly misses: number;
    readonly fallback: number;
    /** Hits whose backend had been removed: re-picked from the ring (evLruRealGone; also counted as misses). */
    readonly repickedAfterBackendRemoval: number;
    readonly hitRatio: number | null;
  };
  /**
   * QUIC short/long headers on QUIC VIPs by outcome: routed by server id, or
   * through the ring because the id is unknown for that VIP, its backend is
   * gone, it names an IPv4 backend for an IPv6 VIP, or it is a long header.
   */
  readonly quic: {
    readonly routed: number;
    readonly unknownId: number;
    readonly backendGone: number;
    readonly familyMismatch: number;
    readonly longHeader: number;
  };
}

export interface ReadStatsOptions {
  /** max_vips the maps were created with (per-real counters follow the per-VIP ones). */
  readonly maxVips: number;
  /** VIP key id -> namespace/name, when the caller knows them. */
  readonly names?: ReadonlyMap<string, string>;
}

export function readStats(maps: BalancerMaps, live: LiveState, options: ReadStatsOptions): StatsSnapshot {
  const { maxVips } = options;
  const names = options.names ?? new Map<string, string>();
  const all = maps.stats.lookupBatch({ chunk: 1024 });
  const rows = new Map<number, CounterRow>();
  for (let i = 0; i < all.count; i++) {
    const index = all.keys.readUInt32LE(i * 4);
    const raw = all.values.subarray(i * maps.stats.userValueSize, (i + 1) * maps.stats.userValueSize);
    const c = sumPerCpu(splitPerCpu(raw, STAT_VALUE_SIZE));
    rows.set(index, { packets: Number(c.packets), bytes: Number(c.bytes) });
  }
  const row = (i: number): CounterRow => rows.get(i) ?? { packets: 0, bytes: 0 };

  const vipsOfReal = new Map<number, string[]>();
  const vips = [...live.vips.values()]
    .sort((a, b) => a.index - b.index)
    .map((v) => {
      const key = vipKeyId(v.key);
      const label = names.get(key) ?? key;
      const ring = live.rings.get(v.index);
      const members = ring === undefined ? [] : ringMembers(ring);
      for (const r of members) vipsOfReal.set(r, [...(vipsOfReal.get(r) ?? []), label]);
      const backends = [...members].map((r) => live.reals.get(r)?.address ?? `real#${r}`).sort();
      return { key, id: names.get(key), index: v.index, backends, ...row(STAT_GLOBAL_NR + v.index) };
    });
  const backends = [...live.reals.values()]
    .sort((a, b) => a.index - b.index)
    .map((r) => ({ address: r.address, index: r.index, vips: vipsOfReal.get(r.index) ?? [], ...row(STAT_GLOBAL_NR + maxVips + r.index) }));

  const counters = Object.fromEntries((Object.keys(Stat) as StatName[]).map((n) => [n, row(Stat[n])])) as Record<StatName, CounterRow>;
  const drops = (Object.keys(Stat) as StatName[])
    .filter((n) => n.startsWith('drop'))
    .map((n) => ({ reason: n.slice(4).replace(/^./, (ch) => ch.toLowerCase()), packets: counters[n].packets }));
  const hits = counters.evLruHit.packets;
  const misses = counters.evLruMiss.packets;
  return {
    vips,
    backends,
    counters,
    drops,
    lru: {
      hits,
      misses,
      fallback: counters.evLruFallback.packets,
      repickedAfterBackendRemoval: counters.evLruRealGone.packets,
      hitRatio: hits + misses === 0 ? null : hits / (hits + misses),
    },
    quic: {
      routed: counters.evQuicCidHit.packets,
      unknownId: counters.evQuicCidMiss.packets,
      backendGone: counters.evQuicRealGone.packets,
      familyMismatch: counters.evQuicFamily.packets,
      longHeader: counters.evQuicLong.packets,
    },
  };
}

/** The shape metrics.ts exposes to Prometheus. */
export function toDataplaneCounters(s: StatsSnapshot, fingerprints: ReadonlyMap<string, string> = new Map()): DataplaneCounters {
  return {
    vips: s.vips.map((v) => ({ vip: v.id ?? v.key, packets: v.packets, bytes: v.bytes })),
    // A real shared by several VIPs has one counter: its vip label names them all.
    backends: s.backends.map((b) => ({ vip: b.vips.join(','), backend: b.address, packets: b.packets, bytes: b.bytes })),
    drops: s.drops,
    lru: { hits: s.lru.hits, misses: s.lru.misses, repicked: s.lru.repickedAfterBackendRemoval },
    quic: Object.entries(s.quic).map(([result, packets]) => ({ result, packets })),
    rings: s.vips.filter((v) => v.id !== undefined && fingerprints.has(v.id)).map((v) => ({ vip: v.id ?? v.key, fingerprint: fingerprints.get(v.id ?? '') ?? '' })),
  };
}

export function formatStats(s: StatsSnapshot): string {
  const lines: string[] = [];
  const table = (head: string[], body: string[][]): void => {
    const widths = head.map((h, i) => Math.max(h.length, ...body.map((r) => (r[i] ?? '').length)));
    const fmt = (r: string[]): string => r.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ');
    lines.push(fmt(head), ...body.map(fmt), '');
  };
  table(
    ['VIP', 'packets', 'bytes', 'backends'],
    s.vips.map((v) => [v.id === undefined ? v.key : `${v.id} (${v.key})`, String(v.packets), String(v.bytes), String(v.backends.length)]),
  );
  table(
    ['BACKEND', 'packets', 'bytes', 'VIPs'],
    s.backends.map((b) => [b.address, String(b.packets), String(b.bytes), b.vips.join(',')]),
  );
  const ratio = s.lru.hitRatio === null ? 'n/a' : `${(s.lru.hitRatio * 100).toFixed(1)}%`;
  lines.push(
    `LRU: ${s.lru.hits} hits, ${s.lru.misses} misses, hit ratio ${ratio}, fallback table used ${s.lru.fallback} times, re-picked after backend removal ${s.lru.repickedAfterBackendRemoval}`,
  );
  const c = s.counters;
  lines.push(
    `verdicts: forwarded ${c.txForward.packets}, echo replies ${c.txIcmpEcho.packets}, too-big sent ${c.txIcmpTooBig.packets}, ICMP errors forwarded ${c.txIcmpErrFwd.packets}, passed ${c.passNonIp.packets + c.passNotVip.packets + c.passOtherProto.packets + c.passIcmp.packets}`,
  );
  const q = s.quic;
  lines.push(
    `QUIC: routed by server id ${q.routed}; to the ring: unknown id for the VIP ${q.unknownId}, backend gone ${q.backendGone}, IPv4 backend for IPv6 VIP ${q.familyMismatch}, long header ${q.longHeader}`,
  );
  lines.push(`drops: ${s.drops.map((d) => `${d.reason} ${d.packets}`).join(', ')}`);
  return lines.join('\n');
}

/** The decap program's counters (`decap_stats`, summed over CPUs) by name. */
export interface DecapStatsSnapshot {
  readonly counters: Readonly<Record<DecapStatName, CounterRow>>;
}

export function readDecapStats(stats: BpfMap): DecapStatsSnapshot {
  const all = stats.lookupBatch({ chunk: 64 });
  const rows = new Map<number, CounterRow>();
  for (let i = 0; i < all.count; i++) {
    const raw = all.values.subarray(i * stats.userValueSize, (i + 1) * stats.userValueSize);
    const c = sumPerCpu(splitPerCpu(raw, STAT_VALUE_SIZE));
    rows.set(all.keys.readUInt32LE(i * 4), { packets: Number(c.packets), bytes: Number(c.bytes) });
  }
  const names = Object.keys(DecapStat) as DecapStatName[];
  return { counters: Object.fromEntries(names.map((n) => [n, rows.get(DecapStat[n]) ?? { packets: 0, bytes: 0 }])) as Record<DecapStatName, CounterRow> };
}

const DECAP_LABELS: Readonly<Record<DecapStatName, string>> = {
  ipip: 'decapsulated IPv4 in IPv4',
  ip6ip6: 'decapsulated IPv6 in IPv6',
  v4InV6: 'decapsulated IPv4 in IPv6',
  v6InV4: 'decapsulated IPv6 in IPv4',
  gue4: 'decapsulated GUE over IPv4',
  gue6: 'decapsulated GUE over IPv6',
  passNotTunnel: 'passed: not a tunnel',
  passNotLocal: 'passed: tunnel to a non-local address',
  passGueOther: 'passed: GUE of another kind',
  dropTruncated: 'dropped: truncated',
  dropAdjust: 'dropped: header removal failed',
};

export function formatDecapStats(s: DecapStatsSnapshot): string {
  const names = Object.keys(DecapStat) as DecapStatName[];
  const body = names.map((n) => [DECAP_LABELS[n], String(s.counters[n].packets), String(s.counters[n].bytes)]);
  const head = ['DECAP COUNTER', 'packets', 'bytes'];
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((r) => (r[i] ?? '').length)));
  const fmt = (r: string[]): string => r.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ');
  return [fmt(head), ...body.map(fmt)].join('\n');
}
