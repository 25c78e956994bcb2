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
