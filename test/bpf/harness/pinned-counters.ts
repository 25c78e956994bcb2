// Writes a pinned per-CPU stats map from a test, as if the program had counted.
import { BpfMap, possibleCpus } from '../../../src/libbpf/libbpf.ts';

/** Sets one per-CPU counter of a pinned stats map: `packets` on CPU 0, 100 bytes each. */
export function setCounter(path: string, index: number, packets: number): void {
  const map = BpfMap.fromPinned(path);
  try {
    const key = Buffer.alloc(4);
    key.writeUInt32LE(index);
    const v = Buffer.alloc(16);
    v.writeBigUInt64LE(BigInt(packets), 0);
    v.writeBigUInt64LE(BigInt(packets * 100), 8);
    map.updatePerCpu(key, [v, ...Array.from({ length: possibleCpus() - 1 }, () => Buffer.alloc(16))]);
  } finally {
    map.close();
  }
}
