// `sterlet stats` and the metrics collectors: counters read from the pinned
// per-CPU `stats` map (summed over CPUs), labelled with what the other maps
// say: per VIP, per backend (real), drops by reason, LRU hit ratio.

import { splitPerCpu } from '../../libbpf/libbpf.ts';
import type { BpfMap } from '../../libbpf/libbpf.ts';
import { DecapStat, EVENT_SERIES, Stat, STAT_GLOBAL_NR, STAT_VALUE_SIZE, sumPerCpu, VERDICT_SERIES, type DecapStatName, type StatName } from './counters.ts';
import type { BalancerMaps } from './loader.ts';
import { statsNames, type StatsNames } from './names-file.ts';
import type { DataplaneCounters } from '../metrics.ts';
import type { DesiredVip, LiveState, Ring, VipKey } from '../plan/model.ts';
import { ringMembers } from '../plan/reals.ts';
import { vipKeyId } from '../plan/model.ts';
import { vipIdParts } from '../../api/desired-state.ts';

export interface CounterRow {
  readonly packets: number;
  readonly bytes: number;
}

export interface StatsSnapshot {
  readonly vips: readonly (CounterRow & {
    key: string;
    /** namespace/name of the VirtualIP, when known. */
    id?: string | undefined;
    address: string;
    port: number;
    protocol: string;
    index: number;
    backends: readonly string[];
  })[];
  /** Per backend address; `names` are the Backend objects (namespace/name) that use it, when known. */
  readonly backends: readonly (CounterRow & { address: string; index: number; vips: readonly string[]; names: readonly string[] })[];
  /** Each (VIP, backend) pair of the desired state: weight and programmed ring slots. */
  readonly pairs: readonly VipBackendPair[];
  /** Every global counter (verdicts and events) by name. */
  readonly counters: Readonly<Record<StatName, CounterRow>>;
  readonly drops: readonly { reason: string; packets: number }[];
  readonly lru: {
    readonly hits: number;
    /** Of the hits, those answered by the per-CPU flow cache without a table lookup (evFlowCacheHit). */
    readonly flowCacheHits: number;
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

export interface VipBackendPair {
  /** namespace/name of the VirtualIP. */
  readonly vip: string;
  /** Name of the Backend object (same namespace), "" when the source has none. */
  readonly backend: string;
  readonly address: string;
  readonly weight: number;
  readonly slots: number;
}

export interface ReadStatsOptions {
  /** max_vips the maps were created with (per-real counters follow the per-VIP ones). */
  readonly maxVips: number;
  /** The desired state programmed: names VIPs and backends by namespace/name, and gives the (VIP, backend) pairs. */
  readonly desired?: readonly DesiredVip[];
  /** Names alone (from the agent's names file), when the desired state is not at hand. */
  readonly names?: StatsNames | undefined;
}

export function readStats(maps: BalancerMaps, live: LiveState, options: ReadStatsOptions): StatsSnapshot {
  const { maxVips } = options;
  const desired = options.desired ?? [];
  const known = options.desired === undefined ? (options.names ?? { vips: {}, backends: {} }) : statsNames(desired);
  const names = new Map(Object.entries(known.vips));
  const backendNames = new Map(Object.entries(known.backends));
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
      return { key, id: names.get(key), ...keyFields(v.key), index: v.index, backends, ...row(STAT_GLOBAL_NR + v.index) };
    });
  const backends = [...live.reals.values()]
    .sort((a, b) => a.index - b.index)
    .map((r) => ({
      address: r.address,
      index: r.index,
      vips: vipsOfReal.get(r.index) ?? [],
      names: [...(backendNames.get(r.address) ?? [])].sort(),
      ...row(STAT_GLOBAL_NR + maxVips + r.index),
    }));
  const pairs = vipBackendPairs(desired, live);

  const counters = Object.fromEntries((Object.keys(Stat) as StatName[]).map((n) => [n, row(Stat[n])])) as Record<StatName, CounterRow>;
  const drops = (Object.keys(Stat) as StatName[])
    .filter((n) => n.startsWith('drop'))
    .map((n) => ({ reason: VERDICT_SERIES[n as keyof typeof VERDICT_SERIES].reason, packets: counters[n].packets }));
  const hits = counters.evLruHit.packets;
  const misses = counters.evLruMiss.packets;
  return {
    vips,
    backends,
    pairs,
    counters,
    drops,
    lru: {
      hits,
      flowCacheHits: counters.evFlowCacheHit.packets,
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

function keyFields(key: VipKey): { address: string; port: number; protocol: string } {
  return { address: key.address, port: key.port, protocol: key.protocol };
}

// Slot counts per real index, memoized per ring: rings are replaced, never
// mutated, when an apply changes them, so a scrape recounts only new rings.
const slotsMemo = new WeakMap<Ring, ReadonlyMap<number, number>>();
function slotCounts(ring: Ring): ReadonlyMap<number, number> {
  const hit = slotsMemo.get(ring);
  if (hit !== undefined) return hit;
  const counts = new Map<number, number>();
  for (let i = 0; i < ring.length; i++) {
    const r = ring[i] ?? 0;
    counts.set(r, (counts.get(r) ?? 0) + 1);
  }
  slotsMemo.set(ring, counts);
  return counts;
}

function vipBackendPairs(desired: readonly DesiredVip[], live: LiveState): VipBackendPair[] {
  const realIndex = new Map([...live.reals.values()].map((r) => [r.address, r.index]));
  const pairs: VipBackendPair[] = [];
  for (const v of desired) {
    const lv = live.vips.get(vipKeyId(v.key));
    const ring = lv === undefined ? undefined : live.rings.get(lv.index);
    const counts = ring === undefined ? new Map<number, number>() : slotCounts(ring);
    for (const b of v.backends) {
      const index = realIndex.get(b.address);
      pairs.push({ vip: v.id, backend: b.name ?? '', address: b.address, weight: b.weight, slots: index === undefined ? 0 : (counts.get(index) ?? 0) });
    }
  }
  return pairs;
}

function splitId(id: string | undefined): { namespace: string; name: string } {
  return id === undefined ? { namespace: '', name: '' } : vipIdParts(id);
}

/** The shape metrics.ts exposes to Prometheus. */
export function toDataplaneCounters(s: StatsSnapshot, fingerprints: ReadonlyMap<string, string> = new Map()): DataplaneCounters {
  const verdicts = (Object.keys(VERDICT_SERIES) as (keyof typeof VERDICT_SERIES)[]).map((n) => ({ ...VERDICT_SERIES[n], ...s.counters[n] }));
  const events = (Object.keys(EVENT_SERIES) as (keyof typeof EVENT_SERIES)[]).map((n) => ({ event: EVENT_SERIES[n], count: s.counters[n].packets }));
  return {
    vips: s.vips.map((v) => ({ ...splitId(v.id), address: v.address, port: String(v.port), protocol: v.protocol, packets: v.packets, bytes: v.bytes })),
    backends: s.backends.map((b) => ({ address: b.address, packets: b.packets, bytes: b.bytes })),
    pairs: s.pairs.map((p) => ({ ...splitId(p.vip), backend: p.backend, address: p.address, weight: p.weight, slots: p.slots })),
    verdicts,
    events,
    quic: Object.entries(s.quic).map(([result, packets]) => ({ result, packets })),
    rings: s.vips.flatMap((v) => {
      const fingerprint = v.id === undefined ? undefined : fingerprints.get(v.id);
      return fingerprint === undefined ? [] : [{ ...splitId(v.id), fingerprint }];
    }),
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
    s.backends.map((b) => [b.names.length === 0 ? b.address : `${b.address} (${b.names.join(', ')})`, String(b.packets), String(b.bytes), b.vips.join(',')]),
  );
  const ratio = s.lru.hitRatio === null ? 'n/a' : `${(s.lru.hitRatio * 100).toFixed(1)}%`;
  lines.push(
    `LRU: ${s.lru.hits} hits (${s.lru.flowCacheHits} from the flow cache), ${s.lru.misses} misses, hit ratio ${ratio}, fallback table used ${s.lru.fallback} times, re-picked after backend removal ${s.lru.repickedAfterBackendRemoval}`,
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
