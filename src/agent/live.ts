// The live state, read back from the balancer's maps with the dataplane
// codecs: VIPs and address entries (vips), reals, each live VIP's ring, QUIC
// server ids. What plan() diffs against after a restart or a failed apply.

import type { BalancerMaps } from './dataplane/loader.ts';
import { decodeReal, decodeVipKey, decodeVipMeta } from './dataplane/codec.ts';
import { VipFlag } from './dataplane/layout.ts';
import type { Limits, LiveReal, LiveState, LiveVip, Ring, VipFlags } from './model.ts';
import { newRing, vipKeyId } from './model.ts';
import { readArrayRange } from './ring-range.ts';

export function readLive(maps: BalancerMaps, limits: Limits): LiveState {
  const vips = new Map<string, LiveVip>();
  const addresses = new Set<string>();
  for (const [k, v] of maps.vips.entries()) {
    const key = decodeVipKey(k);
    const meta = decodeVipMeta(v);
    if (key.protocol === undefined) {
      if ((meta.flags & VipFlag.address) !== 0) addresses.add(key.address);
      continue;
    }
    const vip: LiveVip = {
      key: { address: key.address, family: key.address.includes(':') ? 'IPv6' : 'IPv4', port: key.port, protocol: key.protocol },
      index: meta.index,
      flags: decodeVipFlags(meta.flags),
    };
    vips.set(vipKeyId(vip.key), vip);
  }

  const reals = new Map<number, LiveReal>();
  const all = maps.reals.lookupBatch({ chunk: 4096 });
  const valueSize = maps.reals.userValueSize;
  for (let i = 0; i < all.count; i++) {
    const index = all.keys.readUInt32LE(i * 4);
    const real = decodeReal(all.values.subarray(i * valueSize, (i + 1) * valueSize));
    if (real !== undefined && index !== 0) {
      reals.set(index, { index, address: real.address, family: real.address.includes(':') ? 'IPv6' : 'IPv4' });
    }
  }

  const rings = new Map<number, Ring>();
  for (const vip of vips.values()) rings.set(vip.index, readRing(maps, vip.index, limits));

  const quic = new Map<number, number>();
  const q = maps.quicServers.lookupBatch({ chunk: 8192 });
  for (let i = 0; i < q.count; i++) {
    const real = q.values.readUInt32LE(i * 4);
    if (real !== 0) quic.set(q.keys.readUInt32LE(i * 4), real);
  }
  return { vips, reals, rings, quic, addresses };
}

export function readRing(maps: BalancerMaps, vipIndex: number, limits: Limits): Ring {
  const raw = readArrayRange(maps.ring, vipIndex * limits.ringSize, limits.ringSize);
  const ring = newRing(limits);
  const words = new Uint32Array(raw.buffer, raw.byteOffset, limits.ringSize);
  ring.set(words);
  return ring;
}

export function decodeVipFlags(bits: number): VipFlags {
  return {
    hash: (bits & VipFlag.hashSource) !== 0 ? 'SourceAddress' : (bits & VipFlag.hashDestinationPort) !== 0 ? 'DestinationPort' : 'FiveTuple',
    connectionTracking: (bits & VipFlag.noLru) === 0,
    quic: (bits & VipFlag.quic) !== 0,
    encapsulation: (bits & VipFlag.gue) !== 0 ? 'GUE' : 'IPIP',
  };
}
