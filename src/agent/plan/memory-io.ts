// An in-memory DataplaneIO with the maps' semantics: the reference the unit
// tests check plans against (write counting, failure injection, and a check
// that no VIP ever points at a ring slot whose real is missing).

import type { DataplaneIO } from './apply.ts';
import type { Limits, LiveReal, LiveState, LiveVip, QuicEntry, Ring } from './model.ts';
import { newRing, quicEntryId, vipKeyId } from './model.ts';

export class MemoryDataplane implements DataplaneIO {
  readonly vips = new Map<string, LiveVip>();
  readonly reals = new Map<number, LiveReal>();
  /** The whole ring array, like the BPF map: maxVips * ringSize slots. */
  readonly slots: Ring;
  readonly quic = new Map<string, QuicEntry>();
  readonly addresses = new Set<string>();
  writes = 0;
  /** Throw once the write counter would exceed this (failure injection). */
  failAfterWrites = Infinity;
  /** Set by check(): first consistency violation seen after any batch. */
  violation: string | undefined;

  readonly #limits: Limits;

  constructor(limits: Limits) {
    this.#limits = limits;
    const ring = newRing({ ...limits, ringSize: limits.ringSize * limits.maxVips });
    this.slots = ring;
  }

  readLive(): LiveState {
    const rings = new Map<number, Ring>();
    for (const v of this.vips.values()) {
      const start = v.index * this.#limits.ringSize;
      rings.set(v.index, this.slots.slice(start, start + this.#limits.ringSize));
    }
    return { vips: new Map(this.vips), reals: new Map(this.reals), rings, quic: new Map(this.quic), addresses: new Set(this.addresses) };
  }

  deleteVips(vips: readonly LiveVip[]): void {
    for (const v of vips) this.#write(() => this.vips.delete(vipKeyId(v.key)));
  }
  putVips(vips: readonly LiveVip[]): void {
    for (const v of vips) this.#write(() => this.vips.set(vipKeyId(v.key), v));
  }
  deleteAddresses(addresses: readonly string[]): void {
    for (const a of addresses) this.#write(() => this.addresses.delete(a));
  }
  putAddresses(addresses: readonly string[]): void {
    for (const a of addresses) this.#write(() => this.addresses.add(a));
  }
  putReals(reals: readonly LiveReal[]): void {
    for (const r of reals) this.#write(() => this.reals.set(r.index, r));
  }
  deleteReals(indices: readonly number[]): void {
    for (const i of indices) this.#write(() => this.reals.delete(i));
  }
  writeRing(vipIndex: number, ring: Ring, slots: Uint32Array | undefined): void {
    const base = vipIndex * this.#limits.ringSize;
    if (slots === undefined) {
      for (let i = 0; i < ring.length; i++) this.#write(() => (this.slots[base + i] = ring[i] ?? 0));
    } else {
      for (const s of slots) this.#write(() => (this.slots[base + s] = ring[s] ?? 0));
    }
  }
  putQuic(entries: readonly QuicEntry[]): void {
    for (const e of entries) this.#write(() => this.quic.set(quicEntryId(e.vipIndex, e.serverId), e));
  }
  deleteQuic(entries: readonly QuicEntry[]): void {
    for (const e of entries) this.#write(() => this.quic.delete(quicEntryId(e.vipIndex, e.serverId)));
  }

  #write(fn: () => unknown): void {
    if (this.writes >= this.failAfterWrites) {
      this.failAfterWrites = Infinity; // fail once, like a transient ENOMEM
      throw new Error(`injected failure after ${this.writes} writes`);
    }
    this.writes++;
    fn();
    this.violation ??= this.#check();
  }

  /** Every slot of every visible VIP's ring must name an existing real (or 0). */
  #check(): string | undefined {
    for (const v of this.vips.values()) {
      const base = v.index * this.#limits.ringSize;
      for (let i = 0; i < this.#limits.ringSize; i++) {
        const real = this.slots[base + i] ?? 0;
        if (real !== 0 && !this.reals.has(real)) return `${vipKeyId(v.key)} slot ${i} -> missing real ${real}`;
      }
    }
    for (const [id, e] of this.quic) if (!this.reals.has(e.realIndex)) return `quic ${id} -> missing real ${e.realIndex}`;
    return undefined;
  }
}
