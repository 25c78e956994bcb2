// A freshly loaded balancer with the world installed, plus what fixtures need:
// run a frame, snapshot counters, poke the connection tables.

import { BpfMap } from '../../../src/libbpf/libbpf.ts';
import {
  encodeFlowKey,
  encodeLruVal,
  encodeReal,
  encodeRing,
  encodeSettings,
  encodeVipKey,
  encodeVipMeta,
  quicKey,
  u32,
  vipAddressKey,
  type Settings,
} from '../../../src/agent/dataplane/codec.ts';
import { realStatIndex, Stat, STAT_GLOBAL_NR, sumPerCpu, vipStatIndex, type StatName } from '../../../src/agent/dataplane/counters.ts';
import { LAYOUT_V1, VipFlag } from '../../../src/agent/dataplane/layout.ts';
import { openBalancer, type Balancer, type OpenBalancerOptions } from '../../../src/agent/dataplane/loader.ts';
import { syncVipBuckets } from '../../../src/agent/dataplane/vip-buckets.ts';
import type { Flow } from './frames.ts';
import { QUIC_SERVERS, REALS, ringOf, SETTINGS, SIZES, VIP_ADDRESSES, VIPS, type VipDef, type VipName } from './world.ts';

export interface RunResult {
  readonly retval: number;
  readonly data: Buffer;
}

export interface Snapshot {
  readonly global: Readonly<Record<StatName, bigint>>;
  readonly vip: readonly bigint[];
  readonly real: readonly bigint[];
}

export class BalancerEnv {
  readonly lb: Balancer;

  constructor(options: Omit<OpenBalancerOptions, 'sizes'> = {}) {
    // STERLET_FIXTURE_OBJECT runs the suite against another build (e.g. the
    // object of an older commit, to see a new fixture fail before its fix).
    const objectPath = process.env.STERLET_FIXTURE_OBJECT;
    this.lb = openBalancer({ sizes: SIZES, ...(objectPath ? { objectPath, legacyLayout: true } : {}), ...options });
    try {
      this.install();
    } catch (err) {
      this.lb.close();
      throw err;
    }
  }

  private install(): void {
    const { maps } = this.lb;
    maps.settings.update(u32(0), encodeSettings(SETTINGS));
    for (const [idx, addr] of Object.entries(REALS)) maps.reals.update(u32(Number(idx)), encodeReal(addr));
    for (const v of Object.values(VIPS) as VipDef[]) {
      maps.vips.update(encodeVipKey(v), encodeVipMeta(v.flags, v.index));
      this.setRing(v, ringOf(v));
    }
    for (const a of VIP_ADDRESSES) maps.vips.update(vipAddressKey(a), encodeVipMeta(VipFlag.address, 0));
    // A layout-1 object (STERLET_FIXTURE_OBJECT of an older build) has one global
    // table by server id: the same entries, later ones winning, as it would have run.
    for (const q of QUIC_SERVERS) {
      const key = this.lb.layout === LAYOUT_V1 ? u32(q.serverId) : quicKey(VIPS[q.vip].index, q.serverId);
      maps.quicReals.update(key, u32(q.real));
    }
    this.syncBuckets();
  }

  /** Rewrites vip_buckets from `vips`, as the agent does after every write to vips; objects before layout 3 have none. */
  syncBuckets(): void {
    const { maps } = this.lb;
    if (maps.vipBuckets) syncVipBuckets(maps.vips, maps.vipBuckets);
  }

  setRing(vip: VipDef, ring: readonly number[]): void {
    const { keys, values, count } = encodeRing(vip.index, ring);
    this.lb.maps.ring.updateBatch(keys, values, count);
  }

  setSettings(s: Partial<Settings>): void {
    this.lb.maps.settings.update(u32(0), encodeSettings({ ...SETTINGS, ...s }));
  }

  /** Every connection table this program may use (per-CPU ones and the fallback). */
  tables(): BpfMap[] {
    return [...this.lb.lrus.values(), this.lb.maps.fallbackLru];
  }

  /** Put a flow in every connection table (and drop flow-cache slots, as any user-space table write must). */
  pinFlow(f: Flow, real: number, atime = 0): void {
    for (const t of this.tables()) t.update(flowKey(f), encodeLruVal(real, atime));
    this.lb.invalidateFlowCache();
  }

  /** The flow's entry in whichever table holds it. */
  lruEntry(f: Flow): Buffer | undefined {
    for (const t of this.tables()) {
      const v = t.lookup(flowKey(f));
      if (v !== undefined) return v;
    }
    return undefined;
  }

  /** The flow's entries across all tables (a pinned flow is in each; the program updates its CPU's). */
  lruEntries(f: Flow): Buffer[] {
    return this.tables().flatMap((t) => t.lookup(flowKey(f)) ?? []);
  }

  run(frame: Buffer, program?: string): RunResult {
    const r = this.lb.program(program).testRun({ data: frame });
    return { retval: r.retval, data: Buffer.from(r.data) };
  }

  snapshot(): Snapshot {
    const read = (i: number): bigint => sumPerCpu(this.lb.maps.stats.lookupPerCpu(u32(i)) ?? []).packets;
    const global = {} as Record<StatName, bigint>;
    for (const [name, i] of Object.entries(Stat)) global[name as StatName] = read(i);
    return {
      global,
      vip: Array.from({ length: SIZES.maxVips }, (_, i) => read(vipStatIndex(i))),
      real: Array.from({ length: SIZES.maxReals }, (_, i) => read(realStatIndex(i, SIZES.maxVips))),
    };
  }

  bytes(index: number): bigint {
    return sumPerCpu(this.lb.maps.stats.lookupPerCpu(u32(index)) ?? []).bytes;
  }

  close(): void {
    this.lb.close();
  }
}

export function flowKey(f: Flow): Buffer {
  return encodeFlowKey({ protocol: f.protocol, src: { address: f.src, port: f.sport }, dst: { address: f.dst, port: f.dport } });
}

/** Non-zero counter deltas between two snapshots, keyed like fixture expectations. */
export function deltas(a: Snapshot, b: Snapshot): { global: Record<string, number>; vip: Record<number, number>; real: Record<number, number> } {
  const global: Record<string, number> = {};
  for (const k of Object.keys(a.global) as StatName[]) {
    const d = Number(b.global[k] - a.global[k]);
    if (d !== 0) global[k] = d;
  }
  const diff = (x: readonly bigint[], y: readonly bigint[]): Record<number, number> => {
    const out: Record<number, number> = {};
    x.forEach((v, i) => {
      const d = Number((y[i] ?? 0n) - v);
      if (d !== 0) out[i] = d;
    });
    return out;
  };
  return { global, vip: diff(a.vip, b.vip), real: diff(a.real, b.real) };
}

export const vipIndex = (name: VipName): number => VIPS[name].index;
export { STAT_GLOBAL_NR };
