// The probe tunnel: the health-check tc egress program (bpf/healthcheck.bpf.c)
// on the balancer's interface, and the socket marks that name a real in it.
// A probe socket marked with markFor(real) leaves encapsulated toward that
// real exactly as the balancer's traffic does (same outer family, IPIP or
// GUE, same GUE port and outer source prefix), addressed to VIP:port inside.
// The tcx link lives as long as this process: no probe, no encapsulation.

import { fileURLToPath } from 'node:url';
import { formatIp } from '../../api/ip.ts';
import { BpfObject, BpfMap, tcxAttach, type TcxLink } from '../../libbpf/libbpf.ts';
import { encodeAddr, u32 } from '../dataplane/codec.ts';
import type { Encapsulation } from '../plan/model.ts';

export const DEFAULT_HEALTHCHECK_OBJECT = fileURLToPath(new URL('../../../build/bpf/healthcheck.bpf.o', import.meta.url));
export const HEALTHCHECK_PROGRAM = 'healthcheck_egress';

/** First mark handed out; marks are MARK_BASE + n. Chosen far from the low bits kube-proxy and CNIs use. */
export const MARK_BASE = 0x5354_0000;
const MAX_MARKS = 65536;

/** HC_F_* and struct sizes of bpf/include/healthcheck.h. */
const HcFlag = { v6: 1 << 0, gue: 1 << 1 } as const;
const HC_REAL_SIZE = 20;
const HC_SETTINGS_SIZE = 24;
export const HcStat = { encap: 0, noReal: 1, errAdjust: 2, errFamily: 3 } as const;

export interface TunnelSettings {
  /** Outer IPv4 source (the balancer's --outer-source-v4 prefix, host part 1). */
  readonly sourceV4: string;
  readonly sourceV6: string;
  readonly gueDestinationPort: number;
}

export interface RealRef {
  readonly address: string;
  readonly encapsulation: Encapsulation;
}

export function encodeHcReal(real: RealRef): Buffer {
  const { bytes, ipFamily } = encodeAddr(real.address);
  const b = Buffer.alloc(HC_REAL_SIZE);
  bytes.copy(b, 0);
  b.writeUInt32LE((ipFamily === 'IPv6' ? HcFlag.v6 : 0) | (real.encapsulation === 'GUE' ? HcFlag.gue : 0), 16);
  return b;
}

export function encodeHcSettings(s: TunnelSettings): Buffer {
  const b = Buffer.alloc(HC_SETTINGS_SIZE);
  encodeAddr(s.sourceV4).bytes.copy(b, 0, 0, 4);
  encodeAddr(s.sourceV6).bytes.copy(b, 4, 0, 16);
  b.writeUInt16BE(s.gueDestinationPort, 20);
  return b;
}

const realKey = (r: RealRef): string => `${r.encapsulation} ${r.address}`;

/** Mark allocation, pure: a real keeps its mark while it is wanted; freed marks are reused last. */
export class MarkTable {
  readonly #marks = new Map<string, number>();
  readonly #free: number[] = [];
  #next = 0;

  get size(): number {
    return this.#marks.size;
  }

  markFor(real: RealRef): number | undefined {
    return this.#marks.get(realKey(real));
  }

  /** Exactly `reals` get marks; returns what to write and what to delete. */
  sync(reals: readonly RealRef[]): { added: { mark: number; real: RealRef }[]; removed: number[] } {
    const wanted = new Map(reals.map((r) => [realKey(r), r]));
    const removed: number[] = [];
    for (const [key, mark] of this.#marks) {
      if (wanted.has(key)) continue;
      this.#marks.delete(key);
      this.#free.push(mark);
      removed.push(mark);
    }
    const added: { mark: number; real: RealRef }[] = [];
    for (const [key, real] of wanted) {
      if (this.#marks.has(key)) continue;
      const n = this.#next < MAX_MARKS ? this.#next++ : this.#free.shift();
      if (n === undefined) break; // more than 65536 distinct reals: the rest stay unprobed (fail safe: healthy)
      const mark = n >= MARK_BASE ? n : MARK_BASE + n;
      this.#marks.set(key, mark);
      added.push({ mark, real });
    }
    return { added, removed };
  }
}

/** Gives exactly `wanted` marks in `table` and the hc_reals map `reals`. */
export function syncMarks(table: MarkTable, reals: BpfMap, wanted: readonly RealRef[]): void {
  const { added, removed } = table.sync(wanted);
  for (const mark of removed) reals.delete(u32(mark));
  writeMarks(reals, added);
}

/** Writes mark -> real entries in batches: 51,200 single updates held the event loop for ~200 ms. */
function writeMarks(reals: BpfMap, added: readonly { mark: number; real: RealRef }[]): void {
  const chunk = 4096;
  for (let start = 0; start < added.length; start += chunk) {
    const part = added.slice(start, start + chunk);
    const keys = Buffer.alloc(part.length * 4);
    const values = Buffer.alloc(part.length * HC_REAL_SIZE);
    part.forEach(({ mark, real }, i) => {
      keys.writeUInt32LE(mark, i * 4);
      encodeHcReal(real).copy(values, i * HC_REAL_SIZE);
    });
    reals.updateBatch(keys, values, part.length);
  }
}

export interface ProbeTunnel {
  markFor(real: RealRef): number | undefined;
  /** Marks exactly these reals (map entries written and deleted). */
  sync(reals: readonly RealRef[]): void;
  /** Counters by HcStat index, summed over CPUs (packets). */
  counters(): number[];
  close(): void;
}

export interface OpenTunnelOptions {
  readonly ifindex: number;
  readonly settings: TunnelSettings;
  readonly objectPath?: string | undefined;
}

export interface ProbeProgram {
  readonly reals: BpfMap;
  readonly cfg: BpfMap;
  readonly stats: BpfMap;
  /** Owned by the object: valid until close(). */
  readonly programFd: number;
  close(): void;
}

/** Loads bpf/healthcheck.bpf.o (not attached): the tunnel and the fixture tests use it. */
export function loadProbeProgram(objectPath?: string): ProbeProgram {
  const obj = BpfObject.open(objectPath ?? DEFAULT_HEALTHCHECK_OBJECT);
  try {
    obj.load();
    const borrow = (name: string): BpfMap => new BpfMap(obj.map(name).fd, { owned: false });
    return {
      reals: borrow('hc_reals'),
      cfg: borrow('hc_cfg'),
      stats: borrow('hc_stats'),
      programFd: obj.program(HEALTHCHECK_PROGRAM).fd,
      close: () => obj.close(),
    };
  } catch (err) {
    obj.close();
    throw err;
  }
}

export function openProbeTunnel(o: OpenTunnelOptions): ProbeTunnel {
  const prog = loadProbeProgram(o.objectPath);
  let link: TcxLink | undefined;
  try {
    prog.cfg.update(u32(0), encodeHcSettings(o.settings));
    link = tcxAttach(o.ifindex, prog.programFd, 'egress');
    const table = new MarkTable();
    const attached = link;
    return {
      markFor: (real) => table.markFor(real),
      sync: (wanted) => syncMarks(table, prog.reals, wanted),
      counters: () =>
        Object.values(HcStat).map((i) => (prog.stats.lookupPerCpu(u32(i)) ?? []).reduce((sum, v) => sum + Number(v.readBigUInt64LE(0)), 0)),
      close: () => {
        attached.close();
        prog.close();
      },
    };
  } catch (err) {
    link?.close();
    prog.close();
    throw err;
  }
}

/** The outer source the probes use: the balancer's prefix with host part 1 (a prefix address is rarely a usable source). */
export function probeSource(prefix: { readonly address: string; readonly hostBits: number }): string {
  if (prefix.hostBits === 0) return prefix.address;
  const { bytes, ipFamily } = encodeAddr(prefix.address);
  const len = ipFamily === 'IPv4' ? 4 : 16;
  bytes[len - 1] = (bytes[len - 1] ?? 0) | 1;
  return formatIp({ family: ipFamily, bytes: new Uint8Array(bytes.subarray(0, len)) });
}
