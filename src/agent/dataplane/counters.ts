// Counter numbering mirrored from bpf/include/counters.h (checked by
// layout.test.ts). Numbers are stable: retired ones are never reused.

import { Size } from './layout.ts';

/** Balancer global counters; every packet increments exactly one verdict (tx/pass/drop). */
export const Stat = {
  txForward: 0,
  txIcmpEcho: 1,
  txIcmpTooBig: 2,
  txIcmpErrFwd: 3,
  passNonIp: 4,
  passNotVip: 5,
  passOtherProto: 6,
  passIcmp: 7,
  dropTruncated: 8,
  dropBadIp: 9,
  dropV4Options: 10,
  dropV4Frag: 11,
  dropV6Frag: 12,
  dropNoReal: 13,
  dropAdjust: 14,
  dropBadVip: 15,
  evLruHit: 16,
  evLruMiss: 17,
  evLruFallback: 18,
  evLruSkip: 19,
  evLruExpired: 20,
  evQuicCidHit: 21,
  evQuicCidMiss: 22,
  evQuicLong: 23,
  evIcmpGenerated: 24,
  evLruInsertFail: 25,
  evLruRealGone: 26,
  evQuicRealGone: 27,
  evQuicFamily: 28,
  evFlowCacheHit: 29,
} as const;
export type StatName = keyof typeof Stat;

/** Number of global slots; per-VIP counters start here. */
export const STAT_GLOBAL_NR = 32;

/** Counters that are verdicts (exactly one per packet). */
export const VERDICT_STATS: readonly StatName[] = (Object.keys(Stat) as StatName[]).filter((n) => !n.startsWith('ev'));

/** Decap counters. */
export const DecapStat = {
  ipip: 0,
  ip6ip6: 1,
  v4InV6: 2,
  v6InV4: 3,
  gue4: 4,
  gue6: 5,
  passNotTunnel: 6,
  passNotLocal: 7,
  dropTruncated: 8,
  dropAdjust: 9,
  passGueOther: 10,
} as const;
export type DecapStatName = keyof typeof DecapStat;
export const DSTAT_NR = 16;

/** Slot of a VIP's counter in `stats`. */
export function vipStatIndex(vipIndex: number): number {
  return STAT_GLOBAL_NR + vipIndex;
}

/** Slot of a real's counter in `stats` (needs the loaded maxVips). */
export function realStatIndex(realIndex: number, maxVips: number): number {
  return STAT_GLOBAL_NR + maxVips + realIndex;
}

/** Entries of the `stats` map for the given sizes. */
export function statsEntries(maxVips: number, maxReals: number): number {
  return STAT_GLOBAL_NR + maxVips + maxReals;
}

export interface Counter {
  packets: bigint;
  bytes: bigint;
}

/** Sum the per-CPU struct lb_stat slots of one counter. */
export function sumPerCpu(perCpu: readonly Buffer[]): Counter {
  let packets = 0n;
  let bytes = 0n;
  for (const b of perCpu) {
    packets += b.readBigUInt64LE(0);
    bytes += b.readBigUInt64LE(8);
  }
  return { packets, bytes };
}

export const STAT_VALUE_SIZE = Size.stat;

/** How a verdict counter is exported: `verdict` is the XDP action taken, `reason` why. */
export interface VerdictSeries {
  readonly verdict: 'tx' | 'pass' | 'drop';
  readonly reason: string;
}

// Label values are snake_case and stable: dashboards and alerts key on them.
export const VERDICT_SERIES: Readonly<Record<Exclude<StatName, `ev${string}`>, VerdictSeries>> = {
  txForward: { verdict: 'tx', reason: 'forwarded' },
  txIcmpEcho: { verdict: 'tx', reason: 'icmp_echo_reply' },
  txIcmpTooBig: { verdict: 'tx', reason: 'icmp_too_big' },
  txIcmpErrFwd: { verdict: 'tx', reason: 'icmp_error_forwarded' },
  passNonIp: { verdict: 'pass', reason: 'non_ip' },
  passNotVip: { verdict: 'pass', reason: 'not_vip' },
  passOtherProto: { verdict: 'pass', reason: 'other_protocol' },
  passIcmp: { verdict: 'pass', reason: 'icmp_unhandled' },
  dropTruncated: { verdict: 'drop', reason: 'truncated' },
  dropBadIp: { verdict: 'drop', reason: 'bad_ip_header' },
  dropV4Options: { verdict: 'drop', reason: 'ipv4_options' },
  dropV4Frag: { verdict: 'drop', reason: 'ipv4_fragment' },
  dropV6Frag: { verdict: 'drop', reason: 'ipv6_fragment' },
  dropNoReal: { verdict: 'drop', reason: 'no_backend' },
  dropAdjust: { verdict: 'drop', reason: 'adjust_failed' },
  dropBadVip: { verdict: 'drop', reason: 'bad_vip_index' },
};

/** Event counters (on top of the one verdict per packet), by `event` label; QUIC outcomes have their own family (sterlet_quic_packets_total). */
export const EVENT_SERIES: Readonly<Record<Exclude<Extract<StatName, `ev${string}`>, `evQuic${string}`>, string>> = {
  evLruHit: 'conntrack_hit',
  evLruMiss: 'conntrack_miss',
  evLruFallback: 'conntrack_fallback_table',
  evLruSkip: 'conntrack_bypassed',
  evLruExpired: 'conntrack_expired',
  evLruInsertFail: 'conntrack_insert_failed',
  evLruRealGone: 'conntrack_repicked_backend_removed',
  evFlowCacheHit: 'conntrack_hit_flow_cache',
  evIcmpGenerated: 'icmp_generated',
};

/** Decap counters as `verdict` (decapsulated / pass / drop) and `reason`. */
export const DECAP_SERIES: Readonly<Record<DecapStatName, { readonly verdict: 'decapsulated' | 'pass' | 'drop'; readonly reason: string }>> = {
  ipip: { verdict: 'decapsulated', reason: 'ipv4_in_ipv4' },
  ip6ip6: { verdict: 'decapsulated', reason: 'ipv6_in_ipv6' },
  v4InV6: { verdict: 'decapsulated', reason: 'ipv4_in_ipv6' },
  v6InV4: { verdict: 'decapsulated', reason: 'ipv6_in_ipv4' },
  gue4: { verdict: 'decapsulated', reason: 'gue_over_ipv4' },
  gue6: { verdict: 'decapsulated', reason: 'gue_over_ipv6' },
  passNotTunnel: { verdict: 'pass', reason: 'not_tunnel' },
  passNotLocal: { verdict: 'pass', reason: 'not_local' },
  passGueOther: { verdict: 'pass', reason: 'gue_other' },
  dropTruncated: { verdict: 'drop', reason: 'truncated' },
  dropAdjust: { verdict: 'drop', reason: 'adjust_failed' },
};
