// The dataplane contract as TypeScript sees it: layout version, map names,
// struct sizes, flag bits and default sizes. Mirrors bpf/include/consts.h,
// structs.h and maps.h; layout.test.ts checks the mirror against the headers.

import { DEFAULT_RING_SIZE } from '../plan/maglev.ts';

/**
 * Bumped whenever a map key/value layout or the map set changes incompatibly.
 * The agent stores it in `settings.layoutVersion` when it creates the maps, so
 * an agent adopting pinned maps can tell whether they fit its program.
 */
export const LAYOUT_VERSION = 3;

/** The layout before the vip_buckets mirror of `vips`. */
export const LAYOUT_V2 = 2;

/** The layout before QUIC server ids became per VIP; lifecycle.ts migrates its pins. */
export const LAYOUT_V1 = 1;

/** Layouts whose decap maps this version adopts: the decap maps have not changed since layout 1 (only the balancer's did). */
export const DECAP_LAYOUTS: readonly number[] = [LAYOUT_V1, LAYOUT_V2, LAYOUT_VERSION];

/** Balancer map names (bpf/include/maps.h). */
export const BalancerMap = {
  vips: 'vips',
  reals: 'reals',
  ring: 'ring',
  connTables: 'conn_tables',
  fallbackLru: 'fallback_lru',
  quicReals: 'quic_reals',
  vipBuckets: 'vip_buckets',
  settings: 'settings',
  stats: 'stats',
  /** Global data holding struct lb_limits. */
  rodata: '.rodata',
} as const;

/** Global data holding jiffy_ns (bpf/include/clock.h); not pinned, set per load. */
export const CLOCK_RODATA = '.rodata.clock';

/** Global data holding flow_cache_epoch (bpf/include/flow_cache.h); bumped to drop every flow-cache slot. */
export const FLOW_CACHE_DATA = '.data.flow_cache';

/** Maps of older layouts, still named when their pins are migrated. */
export const LegacyMap = {
  /** Layout 1: u32 server id -> u32 real index, one ARRAY for all VIPs. */
  quicServers: 'quic_servers',
} as const;

/** Decap map names (bpf/include/decap_maps.h). */
export const DecapMap = {
  addrs: 'decap_addrs',
  settings: 'decap_cfg',
  stats: 'decap_stats',
} as const;

export const BALANCER_PROGRAM = 'balancer_ingress';
export const DECAP_PROGRAM = 'decap_ingress';

/** sizeof() of every shared struct. */
export const Size = {
  vipKey: 20,
  vipMeta: 8,
  realDef: 20,
  flowKey: 40,
  lruVal: 8,
  settings: 40,
  limits: 16,
  stat: 16,
  decapAddr: 20,
  quicKey: 8,
  vipBucket: 32,
  decapSettings: 8,
  u32: 4,
} as const;

/** vip_meta.flags (VIP_F_*). */
export const VipFlag = {
  hashSource: 1 << 0,
  hashDestinationPort: 1 << 1,
  noLru: 1 << 2,
  quic: 1 << 3,
  gue: 1 << 4,
  /** Address entry (port 0, protocol 0): makes the address answer echo and own drops. */
  address: 1 << 5,
} as const;

/** vip_buckets has 2^VIP_BUCKET_BITS entries; vip_bucket.state (VIP_BUCKET_*). */
export const VIP_BUCKET_BITS = 12;
export const VipBucketState = { empty: 0, one: 1, many: 2 } as const;

/** real_def.flags (REAL_F_*). */
export const RealFlag = {
  present: 1 << 0,
  v6: 1 << 1,
} as const;

export const DecapFlag = { local: 1 << 0 } as const;

/** Defaults of the `#ifndef` sizes in consts.h. */
export const Defaults = {
  maxVips: 512,
  maxReals: 4096,
  ringSize: DEFAULT_RING_SIZE,
  lruSize: 65536,
  fallbackLruSize: 65536,
  maxDecapAddrs: 64,
  maxQuicReals: 65536,
} as const;

/**
 * The agent's default sizes (its flags, and what `sterlet plan` assumes before
 * anything is pinned): the C defaults, but a much larger table per forwarding CPU.
 */
export const AGENT_SIZES = {
  maxVips: Defaults.maxVips,
  maxReals: Defaults.maxReals,
  ringSize: Defaults.ringSize,
  lruSize: 1_000_000,
  fallbackLruSize: Defaults.fallbackLruSize,
} as const;

/** LRU atime unit: 2^ATIME_SHIFT ns of bpf_ktime_get_coarse_ns(). */
export const ATIME_SHIFT = 30;

/** IP protocol numbers used in keys. */
export const IpProto = { TCP: 6, UDP: 17 } as const;

/** Family byte in keys. */
export const Family = { IPv4: 4, IPv6: 6 } as const;

/**
 * The dataplane's clock in atime units: bpf_ktime_get_coarse_ns() is
 * CLOCK_MONOTONIC at tick resolution, and process.hrtime is CLOCK_MONOTONIC.
 * Truncated to u32 like the entries' atime.
 */
export function atimeNow(): number {
  return Number((process.hrtime.bigint() >> BigInt(ATIME_SHIFT)) & 0xffffffffn);
}

/** Seconds since an entry's atime (u32 wrap-around safe). */
export function atimeAgeSeconds(atime: number, now: number = atimeNow()): number {
  return (((now - atime) >>> 0) * 2 ** ATIME_SHIFT) / 1e9;
}

/** Seconds -> atime units (rounded up, so entries never age early). */
export function secondsToAtime(seconds: number): number {
  return Math.ceil((seconds * 1e9) / 2 ** ATIME_SHIFT);
}
