// The capture maps' byte layouts (bpf/include/capture.h) and how to find
// them: they belong to the loaded program (no pins), so `sterlet dump` looks
// them up among the attached program's maps by name.

import { BpfMap } from '../../libbpf/libbpf.ts';
import { SterletError } from '../../common/errors.ts';
import { parseIp } from '../../api/ip.ts';
import type { FlowFilter } from './filter.ts';

export const CAPTURE_SNAP_MAX = 512;
const REC_HEADER = 24;

export interface CaptureConfig {
  readonly on: boolean;
  readonly snaplen: number;
  /** Bit per verdict counter number (0-15). */
  readonly verdicts: number;
  /** Records per CPU per ~1.07 s; 0 = unbounded. */
  readonly rate: number;
  /** Checked in the kernel before the ring buffer is touched (programs whose config has room for it). */
  readonly filter?: FlowFilter | undefined;
  /** GUE destination port, so the kernel filter sees through GUE as frame-view.ts does. */
  readonly guePort?: number | undefined;
}

/** struct capture_cfg without the kernel-side filter (builds before it) and with it. */
export const CAPTURE_CFG_BASE = 16;
export const CAPTURE_CFG_FILTERED = 64;

/** CAP_M_* of capture.h. */
const Match = { client: 1, vip: 2, vipPort: 4, vipProto: 8, port: 16, proto: 32 } as const;

export interface CaptureRecord {
  readonly tsNs: bigint;
  readonly verdict: number;
  /** Frame length as the program left it. */
  readonly len: number;
  readonly cpu: number;
  readonly data: Buffer;
}

export interface CaptureMaps {
  readonly cfg: BpfMap;
  readonly cpu: BpfMap;
  readonly ring: BpfMap;
  close(): void;
}

/** The config value for a map of `size` bytes (CAPTURE_CFG_BASE: no kernel filter; user space filters alone). */
export function encodeCaptureConfig(c: CaptureConfig, size = CAPTURE_CFG_FILTERED): Buffer {
  const b = Buffer.alloc(size);
  b.writeUInt32LE(c.on ? 1 : 0, 0);
  b.writeUInt32LE(Math.min(c.snaplen, CAPTURE_SNAP_MAX), 4);
  b.writeUInt32LE(c.verdicts >>> 0, 8);
  b.writeUInt32LE(c.rate >>> 0, 12);
  if (size >= CAPTURE_CFG_FILTERED && c.filter !== undefined) writeFilter(b, c.filter, c.guePort ?? 0);
  return b;
}

function writeFilter(b: Buffer, f: FlowFilter, guePort: number): void {
  let match = 0;
  if (f.client !== undefined) {
    match |= Match.client;
    b.writeUInt8(f.client.family === 'IPv4' ? 4 : 6, 20);
    b.writeUInt8(f.client.prefixLength, 21);
    Buffer.from(f.client.bytes).copy(b, 24);
  }
  if (f.vip !== undefined) {
    match |= Match.vip;
    const v6 = f.vip.address.includes(':');
    b.writeUInt8(v6 ? 6 : 4, 22);
    addressBytes(f.vip.address, v6).copy(b, 40);
    if (f.vip.port !== undefined) {
      match |= Match.vipPort;
      b.writeUInt16BE(f.vip.port, 56);
    }
    if (f.vip.proto !== undefined) {
      match |= Match.vipProto;
      b.writeUInt8(f.vip.proto, 23);
    }
  }
  if (f.port !== undefined) {
    match |= Match.port;
    b.writeUInt16BE(f.port, 58);
  }
  if (f.proto !== undefined) {
    match |= Match.proto;
    b.writeUInt8(f.proto, 60);
  }
  b.writeUInt16BE(guePort, 62);
  b.writeUInt32LE(match, 16);
}

function addressBytes(address: string, v6: boolean): Buffer {
  const parsed = parseIp(address);
  if (parsed === undefined || (parsed.family === 'IPv6') !== v6) throw new SterletError('DUMP_BAD_FILTER', `--vip address ${address} cannot be parsed`, { fix: 'pass an IPv4 or IPv6 address' });
  return Buffer.from(parsed.bytes);
}

export function decodeCaptureRecord(b: Buffer): CaptureRecord {
  const capLen = Math.min(b.readUInt32LE(16), CAPTURE_SNAP_MAX, b.length - REC_HEADER);
  return { tsNs: b.readBigUInt64LE(0), verdict: b.readUInt32LE(8), len: b.readUInt32LE(12), cpu: b.readUInt32LE(20), data: b.subarray(REC_HEADER, REC_HEADER + capLen) };
}

/** What the capture missed, summed over CPUs: ring full (reader behind), over the rate bound, and filtered out in the kernel. */
export function captureMissed(cpuMap: BpfMap): { lost: number; limited: number; filtered: number } {
  const key = Buffer.alloc(4);
  const values = cpuMap.lookupPerCpu(key) ?? [];
  let lost = 0;
  let limited = 0;
  let filtered = 0;
  for (const v of values) {
    lost += Number(v.readBigUInt64LE(16));
    limited += Number(v.readBigUInt64LE(24));
    if (v.length >= 40) filtered += Number(v.readBigUInt64LE(32));
  }
  return { lost, limited, filtered };
}

/** The capture maps among a program's maps (by id), or a clear error for a build without capture. */
export function captureMapsOf(mapIds: readonly number[], program = 'balancer'): CaptureMaps {
  const found = new Map<string, BpfMap>();
  for (const id of mapIds) {
    const m = BpfMap.fromId(id);
    if (m.name === 'capture_cfg' || m.name === 'capture_cpu' || m.name === 'capture_ring') found.set(m.name, m);
    else m.close();
  }
  const close = (): void => {
    for (const m of found.values()) m.close();
  };
  const cfg = found.get('capture_cfg');
  const cpu = found.get('capture_cpu');
  const ring = found.get('capture_ring');
  if (cfg === undefined || cpu === undefined || ring === undefined) {
    close();
    throw new SterletError('CAPTURE_UNSUPPORTED', `the attached ${program} program has no capture maps`, {
      why: `it was built before sterlet dump${program === 'decap' ? ' --decap' : ''} existed`,
      fix: `upgrade the ${program === 'decap' ? 'decap program (run sterlet decap of this version)' : 'agent (its program build carries the capture hook)'}, then run sterlet dump again`,
    });
  }
  return { cfg, cpu, ring, close };
}
