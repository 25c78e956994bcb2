// DataplaneIO on the balancer's real maps: every plan op becomes one batched
// map update (BPF_MAP_UPDATE_BATCH) where the map type allows it. ARRAY maps
// cannot delete, so removing a real writes the empty value.

import type { DataplaneIO } from '../plan/apply.ts';
import type { BalancerMaps } from './loader.ts';
import { emptyReal, encodeReal, encodeVipKey, encodeVipMeta, quicKey, u32, vipAddressKey, vipFlagBits } from './codec.ts';
import { VipFlag } from './layout.ts';
import { BPF_F_MMAPABLE } from '../../libbpf/libbpf.ts';
import { readLive, writeRingMapped } from './read-live.ts';
import type { Limits, LiveReal, LiveState, LiveVip, QuicEntry, Ring } from '../plan/model.ts';

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
    for (const v of vips) this.#maps.vips.delete(encodeVipKey(v.key));
  }

  putVips(vips: readonly LiveVip[]): void {
    this.#count('vips', vips.length);
    const keys = Buffer.concat(vips.map((v) => encodeVipKey(v.key)));
    const values = Buffer.concat(vips.map((v) => encodeVipMeta(vipFlagBits(v.flags), v.index)));
    this.#maps.vips.updateBatch(keys, values, vips.length);
  }

  deleteAddresses(addresses: readonly string[]): void {
    this.#count('vips', addresses.length);
    for (const a of addresses) this.#maps.vips.delete(vipAddressKey(a));
  }

  putAddresses(addresses: readonly string[]): void {
    this.#count('vips', addresses.length);
    const keys = Buffer.concat(addresses.map((a) => vipAddressKey(a)));
    const values = Buffer.concat(addresses.map(() => encodeVipMeta(VipFlag.address, 0)));
    this.#maps.vips.updateBatch(keys, values, addresses.length);
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
