// Facts about maps that need no map handle: the possible-CPU count that
// sizes per-CPU values, struct bpf_map_info of any fd, and per-CPU value layout.

import { check } from './call.ts';
import { c } from './ffi.ts';

export interface MapInfo {
  readonly id: number;
  readonly type: number;
  readonly name: string;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
  readonly flags: number;
}

let cpuCount: number | undefined;

/** Number of possible CPUs: the slot count of per-CPU map values. */
export function possibleCpus(): number {
  cpuCount ??= check('libbpf_num_possible_cpus', () => c.numPossibleCpus() as number);
  return cpuCount;
}

const MAP_INFO_SIZE = 88; // sizeof(struct bpf_map_info)

/** struct bpf_map_info of any map fd. */
export function mapInfoByFd(fd: number): MapInfo {
  const buf = Buffer.alloc(MAP_INFO_SIZE);
  const len = [MAP_INFO_SIZE];
  check('bpf_obj_get_info_by_fd', () => c.objGetInfoByFd(fd, buf, len) as number);
  const nameRaw = buf.subarray(24, 40);
  const nul = nameRaw.indexOf(0);
  return {
    type: buf.readUInt32LE(0),
    id: buf.readUInt32LE(4),
    keySize: buf.readUInt32LE(8),
    valueSize: buf.readUInt32LE(12),
    maxEntries: buf.readUInt32LE(16),
    flags: buf.readUInt32LE(20),
    name: nameRaw.subarray(0, nul < 0 ? 16 : nul).toString('utf8'),
  };
}

/** Join per-CPU slices (each valueSize bytes) into the layout the kernel expects. */
export function joinPerCpu(values: readonly Buffer[], valueSize: number): Buffer {
  const slot = roundUp8(valueSize);
  const out = Buffer.alloc(slot * possibleCpus());
  values.forEach((v, i) => v.copy(out, i * slot, 0, Math.min(v.length, valueSize)));
  return out;
}

export function splitPerCpu(raw: Buffer, valueSize: number): Buffer[] {
  const slot = roundUp8(valueSize);
  const out: Buffer[] = [];
  for (let off = 0; off + slot <= raw.length; off += slot) out.push(raw.subarray(off, off + valueSize));
  return out;
}

export function roundUp8(n: number): number {
  return (n + 7) & ~7;
}
