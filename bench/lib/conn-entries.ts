// Where given flows sit in a pinned balancer's connection tables: each key is
// looked up in every per-CPU table (conn_tables names them by CPU) and in the
// fallback table. A syscall lookup does not refresh an LRU entry, so asking
// does not change what a flood would evict. Used by bench-pps to tell whether
// established connections' entries survived a SYN flood.
import { decodeLruVal, encodeFlowKey, type FlowInput } from '../../src/agent/dataplane/codec.ts';
import { openPinnedBalancer } from '../../src/agent/dataplane/startup.ts';
import { BpfMap } from '../../src/libbpf/libbpf.ts';

export interface FlowEntry {
  /** 'cpuN' for a per-CPU table, 'fallback' for the shared one. */
  readonly table: string;
  /** The real (backend index) the entry names. */
  readonly real: number;
}

/** For each flow (in order), every table entry that holds it; an empty list = no entry anywhere. */
export function lookUpFlows(bpffs: string, flows: readonly FlowInput[]): FlowEntry[][] {
  const pinned = openPinnedBalancer(bpffs);
  if (pinned === undefined) throw new Error(`BENCH_PPS: no balancer is pinned under ${bpffs}`);
  const tables: { name: string; map: BpfMap; own: boolean }[] = [];
  try {
    for (const [key, value] of pinned.maps.connTables.entries()) {
      const id = value.readUInt32LE(0);
      if (id !== 0) tables.push({ name: `cpu${String(key.readUInt32LE(0))}`, map: BpfMap.fromId(id), own: true });
    }
    tables.push({ name: 'fallback', map: pinned.maps.fallbackLru, own: false });
    return flows.map((flow) => {
      const key = encodeFlowKey(flow);
      const found: FlowEntry[] = [];
      for (const t of tables) {
        const value = t.map.lookup(key);
        if (value !== undefined) found.push({ table: t.name, real: decodeLruVal(value).real });
      }
      return found;
    });
  } finally {
    for (const t of tables) if (t.own) t.map.close();
    pinned.close();
  }
}
