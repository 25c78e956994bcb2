// The benchmark rig: the bench object (bpf/bench/bench.bpf.c) loaded with a
// realistic world (65537-slot Maglev rings), a frame slot the program restores
// every run, and counter checks so each measured run is proven to have taken
// the intended path.

import { BPF_F_NO_COMMON_LRU, BpfMap, BpfObject, MapType, type BpfProgram } from '../../src/libbpf/libbpf.ts';
import {
  encodeReal,
  encodeRing,
  encodeSettings,
  encodeVipKey,
  encodeVipMeta,
  quicKey,
  u32,
} from '../../src/agent/dataplane/codec.ts';
import { Stat, sumPerCpu, type StatName } from '../../src/agent/dataplane/counters.ts';
import { Size, VipFlag } from '../../src/agent/dataplane/layout.ts';
import { openBalancer, type Balancer } from '../../src/agent/dataplane/loader.ts';
import { buildRing } from '../../src/agent/plan/maglev.ts';
import { syncVipBuckets } from '../../src/agent/dataplane/vip-buckets.ts';

export const BENCH_OBJECT = new URL('../../build/bpf/bench/bench.bpf.o', import.meta.url).pathname;
export const Programs = {
  trivial: 'bench_trivial',
  restore: 'bench_restore_only',
  encap: 'bench_encap_only',
  balancer: 'bench_balancer',
  balancerFlows: 'bench_balancer_flows',
  stepParse: 'bench_step_parse',
  stepVip: 'bench_step_vip',
  stepHash: 'bench_step_hash',
  stepLru: 'bench_step_lru',
  stepReal: 'bench_step_real',
  stepEncap: 'bench_step_encap',
} as const;
export type ProgramName = keyof typeof Programs;

const FRAME_MAX = 256;
const FRAME_VALUE = 16 + FRAME_MAX;

export const VIP = {
  web4: { address: '10.200.0.10', port: 80, protocol: 'TCP', index: 0, reals: [1, 2, 3] },
  dns4: { address: '10.200.0.10', port: 53, protocol: 'UDP', index: 1, reals: [1, 2, 3] },
  web6: { address: 'fd00::10', port: 80, protocol: 'TCP', index: 2, reals: [4, 5] },
  quic4: { address: '10.200.0.20', port: 443, protocol: 'UDP', index: 3, reals: [1, 2, 3] },
} as const;
/** quic4's backends mint connection ids with these server ids (per VIP: quic_reals key). */
export const QUIC_IDS: Readonly<Record<number, number>> = { 7: 2 };
const REALS: Record<number, string> = { 1: '10.0.1.1', 2: '10.0.1.2', 3: '10.0.1.3', 4: 'fc00::1:1', 5: 'fc00::1:2' };

function programNames(objectPath: string): string[] {
  const obj = BpfObject.open(objectPath);
  try {
    return obj.programs();
  } finally {
    obj.close();
  }
}

export interface RigOptions {
  /** Bench object to load; default build/bpf/bench/bench.bpf.o (another build: e.g. an older commit's, to compare in one run). */
  readonly objectPath?: string;
  readonly cpu: number;
  readonly lruSize: number;
  readonly ringSize: number;
  readonly noCommonLru: boolean;
}

export class Rig {
  readonly lb: Balancer;
  readonly options: RigOptions;
  /** Entries this object has (an older build may lack the step ladder). */
  readonly programs: ReadonlySet<ProgramName>;
  readonly #frames: BpfMap;
  #table: BpfMap | undefined;

  constructor(options: RigOptions) {
    this.options = options;
    const objectPath = options.objectPath ?? BENCH_OBJECT;
    const present = new Set(programNames(objectPath));
    this.programs = new Set((Object.keys(Programs) as ProgramName[]).filter((n) => present.has(Programs[n])));
    this.lb = openBalancer({
      objectPath,
      programs: [...this.programs].map((n) => Programs[n]),
      sizes: { maxVips: 4, maxReals: 8, ringSize: options.ringSize, lruSize: options.lruSize, fallbackLruSize: 1024 },
      forwardingCpus: [{ cpu: options.cpu, ...(options.noCommonLru ? {} : { numaNode: 0 }) }],
      noCommonLru: options.noCommonLru,
      legacyLayout: true, // BENCH_COMPARE may name an older layout's build
    });
    this.#frames = this.lb.object.map('bench_frames').asMap();
    this.#install();
  }

  #install(): void {
    const m = this.lb.maps;
    m.settings.update(
      u32(0),
      encodeSettings({
        gatewayMac: 'aa:bb:cc:00:00:01',
        mtu: 1500,
        gueDestinationPort: 6080,
        sourcePrefixV4: { address: '172.16.0.0', hostBits: 16 },
        sourcePrefixV6: { address: 'fc00:ffff::', hostBits: 16 },
        udpTimeout: 0,
      }),
    );
    for (const [i, a] of Object.entries(REALS)) m.reals.update(u32(Number(i)), encodeReal(a));
    for (const v of Object.values(VIP)) {
      m.vips.update(encodeVipKey(v), encodeVipMeta(v === VIP.quic4 ? VipFlag.quic : 0, v.index));
      const ids = v.reals.map((r) => ({ id: `real-${r}`, weight: 1 }));
      const ring = Array.from(buildRing(ids, this.options.ringSize), (pos) => v.reals[pos]!);
      const { keys, values, count } = encodeRing(v.index, ring);
      m.ring.updateBatch(keys, values, count);
    }
    for (const [id, real] of Object.entries(QUIC_IDS)) m.quicReals.update(quicKey(VIP.quic4.index, Number(id)), u32(real));
    if (m.vipBuckets) syncVipBuckets(m.vips, m.vipBuckets); // as the agent does after writing vips
  }

  /**
   * The frame every run restores; `seqOffset` gets a fresh u32 per run (a new
   * flow), which bench_balancer_flows wraps after `flows` runs (flows in turn).
   */
  setFrame(frame: Buffer, seqOffset = 0, flows = 0): void {
    if (frame.length > FRAME_MAX) throw new RangeError(`bench frames are at most ${FRAME_MAX} bytes`);
    const v = Buffer.alloc(FRAME_VALUE);
    v.writeUInt32LE(frame.length, 0);
    v.writeUInt32LE(seqOffset, 4);
    v.writeUInt32LE(0x0a000000, 8);
    v.writeUInt32LE(flows, 12);
    frame.copy(v, 16);
    this.#frames.update(u32(0), v);
  }

  /** Swap in an empty connection table for the benchmark CPU. */
  freshTable(): void {
    const t = BpfMap.create({ type: MapType.LRU_HASH, name: 'bench_lru', keySize: Size.flowKey, valueSize: Size.lruVal, maxEntries: this.options.lruSize, ...(this.options.noCommonLru ? { flags: BPF_F_NO_COMMON_LRU } : { numaNode: 0 }) });
    this.lb.maps.connTables.update(u32(this.options.cpu), u32(t.fd));
    this.lb.invalidateFlowCache();
    this.#table?.close();
    this.#table = t;
  }

  /** The flow's entry in the benchmark CPU's table, if any. */
  lruEntry(key: Buffer): Buffer | undefined {
    return this.#table?.lookup(key);
  }

  program(name: ProgramName): BpfProgram {
    return this.lb.program(Programs[name]);
  }

  counters(): Record<StatName, bigint> {
    const out = {} as Record<StatName, bigint>;
    for (const [n, i] of Object.entries(Stat)) out[n as StatName] = sumPerCpu(this.lb.maps.stats.lookupPerCpu(u32(i)) ?? []).packets;
    return out;
  }

  close(): void {
    this.#table?.close();
    this.#frames.close();
    this.lb.close();
  }
}
