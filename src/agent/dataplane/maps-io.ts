// The balancer's maps as plan() sees them: readLive reads the live state back
// with the dataplane codecs (VIPs and address entries, reals, each live VIP's
// ring, per-VIP QUIC server ids: what plan() diffs against after a restart or a
// failed apply), and MapsIO writes plan ops, each one batched map update
// (BPF_MAP_UPDATE_BATCH) where the map type allows it. ARRAY maps cannot
// delete, so removing a real writes the empty value. A ring map created
// BPF_F_MMAPABLE is read and written as memory.

import type { DataplaneIO } from '../plan/apply.ts';
import type { BalancerMaps } from './loader.ts';
import { decodeQuicKey, decodeReal, decodeVipFlags, decodeVipKey, decodeVipMeta, emptyReal, encodeReal, encodeVipKey, encodeVipMeta, quicKey, u32, vipAddressKey, vipFlagBits } from './codec.ts';
import { Size, VipFlag } from './layout.ts';
import { syncVipBuckets } from './vip-buckets.ts';
import { BPF_F_MMAPABLE } from '../../libbpf/libbpf.ts';
import { arrayElemSize, withMappedWindow } from '../../libbpf/libc.ts';
import type { Limits, LiveReal, LiveState, LiveVip, QuicEntry, Ring } from '../plan/model.ts';
import { newRing, quicEntryId, vipKeyId } from '../plan/model.ts';

export interface MapsIOOptions {
  /** Called before every batch with the map and entry count; throwing simulates a failed syscall (tests). */
  readonly beforeWrite?: (map: string, count: number) => void;
}

export class MapsIO implements DataplaneIO {
  /** Map entries written or deleted so far. */
  writes = 0;
  readonly #maps: BalancerMaps;
  readonly #limits: Limits;
  readonly #before: ((map: string, count: number) => void) | undefined;
  /** Ring slots are written as memory when the map allows it (see bpf/libc.ts). */
  readonly #mmapable: boolean;

  constructor(maps: BalancerMaps, limits: Limits, options: MapsIOOptions = {}) {
    this.#maps = maps;
    this.#limits = limits;
    this.#before = options.beforeWrite;
    this.#mmapable = (maps.ring.info().flags & BPF_F_MMAPABLE) !== 0;
  }

  readLive(hint?: LiveState): LiveState {
    return readLive(this.#maps, this.#limits, hint);
  }

  deleteVips(vips: readonly LiveVip[]): void {
    this.#count('vips', vips.length);
    this.#deleteKeys(vips.map((v) => encodeVipKey(v.key)));
  }

  putVips(vips: readonly LiveVip[]): void {
    this.#count('vips', vips.length);
    const keys = Buffer.concat(vips.map((v) => encodeVipKey(v.key)));
    const values = Buffer.concat(vips.map((v) => encodeVipMeta(vipFlagBits(v.flags), v.index)));
    this.#maps.vips.updateBatch(keys, values, vips.length);
    this.#syncBuckets();
  }

  deleteAddresses(addresses: readonly string[]): void {
    this.#count('vips', addresses.length);
    this.#deleteKeys(addresses.map((a) => vipAddressKey(a)));
  }

  putAddresses(addresses: readonly string[]): void {
    this.#count('vips', addresses.length);
    const keys = Buffer.concat(addresses.map((a) => vipAddressKey(a)));
    const values = Buffer.concat(addresses.map(() => encodeVipMeta(VipFlag.address, 0)));
    this.#maps.vips.updateBatch(keys, values, addresses.length);
    this.#syncBuckets();
  }

  /** vips keys leave the mirror (vip-buckets.ts) before they leave vips, so no lookup finds them after. */
  #deleteKeys(keys: readonly Buffer[]): void {
    this.#syncBuckets(keys);
    for (const k of keys) this.#maps.vips.delete(k);
    this.#syncBuckets();
  }

  #syncBuckets(without: readonly Buffer[] = []): void {
    if (this.#maps.vipBuckets) syncVipBuckets(this.#maps.vips, this.#maps.vipBuckets, without);
  }

  putReals(reals: readonly LiveReal[]): void {
    this.#count('reals', reals.length);
    const keys = Buffer.concat(reals.map((r) => u32(r.index)));
    const values = Buffer.concat(reals.map((r) => encodeReal(r.address)));
    this.#maps.reals.updateBatch(keys, values, reals.length);
  }

  deleteReals(indices: readonly number[]): void {
    this.#count('reals', indices.length);
    const keys = Buffer.concat(indices.map((i) => u32(i)));
    const empty = emptyReal();
    this.#maps.reals.updateBatch(keys, Buffer.concat(indices.map(() => empty)), indices.length);
  }

  writeRing(vipIndex: number, ring: Ring, slots: Uint32Array | undefined): void {
    const count = slots === undefined ? ring.length : slots.length;
    this.#count('ring', count);
    if (this.#mmapable) {
      writeRingMapped(this.#maps.ring.fd, ring, { vipIndex, ringSize: this.#limits.ringSize, slots });
      return;
    }
    const keys = new Uint32Array(count);
    const values = new Uint32Array(count);
    const base = vipIndex * this.#limits.ringSize;
    if (slots === undefined) {
      for (let i = 0; i < count; i++) {
        keys[i] = base + i;
        values[i] = ring[i] ?? 0;
      }
    } else {
      for (let i = 0; i < count; i++) {
        const s = slots[i] ?? 0;
        keys[i] = base + s;
        values[i] = ring[s] ?? 0;
      }
    }
    this.#maps.ring.updateBatch(Buffer.from(keys.buffer), Buffer.from(values.buffer), count);
  }

  putQuic(entries: readonly QuicEntry[]): void {
    this.#count('quic_reals', entries.length);
    const keys = Buffer.concat(entries.map((e) => quicKey(e.vipIndex, e.serverId)));
    const values = Buffer.concat(entries.map((e) => u32(e.realIndex)));
    this.#maps.quicReals.updateBatch(keys, values, entries.length);
  }

  deleteQuic(entries: readonly QuicEntry[]): void {
    this.#count('quic_reals', entries.length);
    for (const e of entries) this.#maps.quicReals.delete(quicKey(e.vipIndex, e.serverId));
  }

  #count(map: string, n: number): void {
    this.#before?.(map, n);
    this.writes += n;
  }
}

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
