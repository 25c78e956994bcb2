// Upgrades of older pins. Layout 2 -> 3 adds vip_buckets, the mirror of vips
// (installVipBuckets); every other map, connection tables included, is kept.
//
// Upgrade of pins created by layout 1, whose QUIC table was one global ARRAY
// (`quic_servers`: server id -> real) instead of layout 2's per-VIP
// `quic_reals`. Every other map is unchanged, so the new program loads on the
// pinned maps (connection tables kept) plus a fresh quic_reals, filled here
// before the atomic program swap with what the old program routed: each old
// entry under every QUIC VIP. The first plan after start then makes them per
// VIP. Each step can be repeated after a crash (see lifecycle.ts).

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { SterletError, errorText } from '../../common/errors.ts';
import { BpfMap, unpin } from '../../libbpf/libbpf.ts';
import type { BalancerPins } from './pin-layout.ts';
import { decodeVipKey, decodeVipMeta, quicKey, u32 } from './codec.ts';
import { BalancerMap, LegacyMap, VipFlag } from './layout.ts';
import type { BalancerMaps } from './loader.ts';
import { syncVipBuckets } from './vip-buckets.ts';

/** The pinned maps layout 2 keeps as they are. */
export type KeptMaps = Omit<BalancerMaps, 'quicReals' | 'vipBuckets'>;

export interface V1Pins {
  readonly maps: KeptMaps;
  /** Layout 1's global table; undefined once an interrupted upgrade removed it. */
  readonly legacy: BpfMap | undefined;
  /** quic_reals pinned by an interrupted upgrade, to be reused. */
  readonly quicReals: BpfMap | undefined;
  /** vip_buckets pinned by an interrupted upgrade, to be reused. */
  readonly vipBuckets: BpfMap | undefined;
  close(): void;
}

const KEPT: readonly (keyof KeptMaps)[] = ['vips', 'reals', 'ring', 'connTables', 'fallbackLru', 'stats', 'settings'];

export function legacyQuicPin(pins: BalancerPins): string {
  return join(pins.dir, LegacyMap.quicServers);
}

export function openV1Pins(pins: BalancerPins): V1Pins {
  const opened: BpfMap[] = [];
  const open = (path: string): BpfMap => {
    const m = BpfMap.fromPinned(path);
    opened.push(m);
    return m;
  };
  try {
    const maps = Object.fromEntries(KEPT.map((n) => [n, open(pins.map(n))])) as unknown as KeptMaps;
    const legacy = existsSync(legacyQuicPin(pins)) ? open(legacyQuicPin(pins)) : undefined;
    const quicReals = existsSync(pins.map('quicReals')) ? open(pins.map('quicReals')) : undefined;
    const vipBuckets = existsSync(pins.map('vipBuckets')) ? open(pins.map('vipBuckets')) : undefined;
    if (legacy === undefined && quicReals === undefined) throw new Error(`neither ${LegacyMap.quicServers} nor ${BalancerMap.quicReals} is pinned`);
    return { maps, legacy, quicReals, vipBuckets, close: () => opened.forEach((m) => m.close()) };
  } catch (err) {
    opened.forEach((m) => m.close());
    throw new SterletError('AGENT_PINS_INCOMPLETE', `the layout-1 dataplane pinned under ${pins.dir} is incomplete`, {
      why: errorText(err),
      fix: `remove it with sterlet detach --bpffs ${pins.dir} --interface IF (drops connection state), then start again`,
      cause: err,
    });
  }
}

/** Writes every layout-1 server id under every QUIC VIP's index into quic_reals; returns the entries written. */
export function copyV1QuicEntries(legacy: BpfMap, vips: BpfMap, quicReals: BpfMap): number {
  const quicVips: number[] = [];
  for (const [k, v] of vips.entries()) {
    const meta = decodeVipMeta(v);
    if (decodeVipKey(k).protocol !== undefined && (meta.flags & VipFlag.quic) !== 0) quicVips.push(meta.index);
  }
  const ids: [number, number][] = [];
  const all = legacy.lookupBatch({ chunk: 8192 });
  for (let i = 0; i < all.count; i++) {
    const real = all.values.readUInt32LE(i * 4);
    if (real !== 0) ids.push([all.keys.readUInt32LE(i * 4), real]);
  }
  let written = 0;
  for (const vip of quicVips) {
    for (const [serverId, real] of ids) {
      if (serverId < 1 || serverId > 0xffff) continue;
      quicReals.update(quicKey(vip, serverId), u32(real));
      written++;
    }
  }
  return written;
}

/**
 * Layout 3's vip_buckets for pins of an older layout: filled from the pinned
 * `vips` (what the old program served) and pinned before the program swap, so
 * the new program, which takes an empty bucket for "not a VIP", finds every
 * VIP from its first packet on. Repeating it after a crash rewrites the same values.
 */
export function installVipBuckets(pins: BalancerPins, vips: BpfMap, buckets: BpfMap, pinned: boolean): void {
  syncVipBuckets(vips, buckets);
  if (!pinned) buckets.pin(pins.map('vipBuckets'));
}

/** Removes layout 1's table pin once the new program no longer uses it. */
export function removeLegacyPins(pins: BalancerPins): void {
  unpin(legacyQuicPin(pins));
}
