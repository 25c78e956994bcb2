// The capture maps' byte layouts (bpf/include/capture.h) and how to find
// them: they belong to the loaded program (no pins), so `sterlet dump` looks
// them up among the attached program's maps by name.

import { BpfMap } from '../../libbpf/libbpf.ts';
import { SterletError } from '../../common/errors.ts';

export const CAPTURE_SNAP_MAX = 512;
const REC_HEADER = 24;

export interface CaptureConfig {
  readonly on: boolean;
  readonly snaplen: number;
  /** Bit per verdict counter number (0-15). */
  readonly verdicts: number;
  /** Records per CPU per ~1.07 s; 0 = unbounded. */
  readonly rate: number;
}

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

export function encodeCaptureConfig(c: CaptureConfig): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt32LE(c.on ? 1 : 0, 0);
  b.writeUInt32LE(Math.min(c.snaplen, CAPTURE_SNAP_MAX), 4);
  b.writeUInt32LE(c.verdicts >>> 0, 8);
  b.writeUInt32LE(c.rate >>> 0, 12);
  return b;
}

export function decodeCaptureRecord(b: Buffer): CaptureRecord {
  const capLen = Math.min(b.readUInt32LE(16), CAPTURE_SNAP_MAX, b.length - REC_HEADER);
  return { tsNs: b.readBigUInt64LE(0), verdict: b.readUInt32LE(8), len: b.readUInt32LE(12), cpu: b.readUInt32LE(20), data: b.subarray(REC_HEADER, REC_HEADER + capLen) };
}

/** What the capture missed, summed over CPUs: ring full (reader behind) and over the rate bound. */
export function captureMissed(cpuMap: BpfMap): { lost: number; limited: number } {
  const key = Buffer.alloc(4);
  const values = cpuMap.lookupPerCpu(key) ?? [];
  let lost = 0;
  let limited = 0;
  for (const v of values) {
    lost += Number(v.readBigUInt64LE(16));
    limited += Number(v.readBigUInt64LE(24));
  }
  return { lost, limited };
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
