// The live state, read back from the balancer's maps with the dataplane
// codecs: VIPs and address entries (vips), reals, each live VIP's ring, QUIC
// server ids. What plan() diffs against after a restart or a failed apply.

import type { BalancerMaps } from './loader.ts';
import { decodeQuicKey, decodeReal, decodeVipKey, decodeVipMeta } from './codec.ts';
import { VipFlag } from './layout.ts';
import type { Limits, LiveReal, LiveState, LiveVip, QuicEntry, Ring, VipFlags } from '../plan/model.ts';
import { newRing, quicEntryId, vipKeyId } from '../plan/model.ts';
import { BPF_F_MMAPABLE } from '../../libbpf/libbpf.ts';
import { arrayElemSize, withMappedWindow } from '../../libbpf/libc.ts';
import { Size } from './layout.ts';

export function readLive(maps: BalancerMaps, limits: Limits, hint?: LiveState): LiveState {
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
  const scratch = newRing(limits);
  for (const vip of vips.values()) {
    const expected = hint?.rings.get(vip.index);
    if (expected === undefined || expected.length !== limits.ringSize) {
      rings.set(vip.index, readRing(maps, vip.index, limits));
      continue;
    }
    // Read into a scratch ring; keep the hint's array when they match.
    readRing(maps, vip.index, limits, scratch);
    rings.set(vip.index, sameRing(scratch, expected) ? expected : scratch.slice());
  }

  const quic = new Map<string, QuicEntry>();
  for (const [k, v] of maps.quicReals.entries()) {
    const { vipIndex, serverId } = decodeQuicKey(k);
    quic.set(quicEntryId(vipIndex, serverId), { vipIndex, serverId, realIndex: v.readUInt32LE(0) });
  }
  return { vips, reals, rings, quic, addresses };
}

export function readRing(maps: BalancerMaps, vipIndex: number, limits: Limits, into?: Ring): Ring {
  if ((maps.ring.info().flags & BPF_F_MMAPABLE) !== 0) return readRingMapped(maps.ring.fd, vipIndex, limits, into);
  const raw = maps.ring.lookupRange(vipIndex * limits.ringSize, limits.ringSize);
  const ring = into ?? newRing(limits);
  const words = new Uint32Array(raw.buffer, raw.byteOffset, limits.ringSize);
  ring.set(words);
  return ring;
}

// An mmapable ring map is read and written as memory: element i at i * 8
// (array values are 8-byte aligned), the u32 real index in its low half.
const ELEM_WORDS = arrayElemSize(Size.u32) / 4;

function sameRing(a: Ring, b: Ring): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function readRingMapped(fd: number, vipIndex: number, limits: Limits, into?: Ring): Ring {
  const ring = into ?? newRing(limits);
  const stride = ELEM_WORDS * 4;
  withMappedWindow(fd, vipIndex * limits.ringSize * stride, limits.ringSize * stride, (bytes) => {
    const words = new Uint32Array(bytes.buffer, bytes.byteOffset, limits.ringSize * ELEM_WORDS);
    for (let i = 0; i < ring.length; i++) ring[i] = words[i * ELEM_WORDS] ?? 0;
  });
  return ring;
}

export function writeRingMapped(fd: number, ring: Ring, at: { vipIndex: number; ringSize: number; slots: Uint32Array | undefined }): void {
  const { vipIndex, ringSize, slots } = at;
  const stride = ELEM_WORDS * 4;
  withMappedWindow(fd, vipIndex * ringSize * stride, ringSize * stride, (bytes) => {
    const words = new Uint32Array(bytes.buffer, bytes.byteOffset, ringSize * ELEM_WORDS);
    if (slots === undefined) {
      for (let i = 0; i < ringSize; i++) words[i * ELEM_WORDS] = ring[i] ?? 0;
    } else {
      for (let j = 0; j < slots.length; j++) {
        const s = slots[j] ?? 0;
        words[s * ELEM_WORDS] = ring[s] ?? 0;
      }
    }
  });
}

export function decodeVipFlags(bits: number): VipFlags {
  return {
    hash: (bits & VipFlag.hashSource) !== 0 ? 'SourceAddress' : (bits & VipFlag.hashDestinationPort) !== 0 ? 'DestinationPort' : 'FiveTuple',
    connectionTracking: (bits & VipFlag.noLru) === 0,
    quic: (bits & VipFlag.quic) !== 0,
    encapsulation: (bits & VipFlag.gue) !== 0 ? 'GUE' : 'IPIP',
  };
}
