// Cost of counting flows per backend (src/agent/dataplane/flows.ts) over two
// 1M-entry connection tables, like two forwarding CPUs at the default
// --lru-size: wall time of one count, and how long the event loop was held
// (the count yields between slices; the agent keeps serving /metrics, the
// API watch and applies meanwhile). CPU ms is this process's user+system
// time (the figure to trust on a shared machine; wall includes waiting for a
// CPU). Real kernel LRU_HASH maps, filled through
// batch updates. Median of BENCH_RUNS runs. Usage: npm run bench:flows
//   env: BENCH_RUNS (5), BENCH_ENTRIES (1000000: table size), BENCH_FILL
//   (entries written per table, default BENCH_ENTRIES; a count scans every
//   bucket, so a nearly empty table still costs), BENCH_TABLES (2)

import { monitorEventLoopDelay } from 'node:perf_hooks';
import { BpfMap, MapType } from '../src/libbpf/libbpf.ts';
import { encodeFlowKey, encodeLruVal } from '../src/agent/dataplane/codec.ts';
import { countFlows } from '../src/agent/dataplane/flows.ts';
import { atimeNow, Size } from '../src/agent/dataplane/layout.ts';

const runs = Number(process.env['BENCH_RUNS'] ?? 5);
const perTable = Number(process.env['BENCH_ENTRIES'] ?? 1_000_000);
const tableCount = Number(process.env['BENCH_TABLES'] ?? 2);
const fillCount = Math.min(perTable, Number(process.env['BENCH_FILL'] ?? perTable));
const REALS = 64;

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
}

/** A table of `n` flows to 4 VIPs x 64 reals, with last-seen times spread over 10 minutes. */
function fill(table: BpfMap, n: number, salt: number): void {
  const chunk = 65536;
  const now = atimeNow();
  for (let start = 0; start < n; start += chunk) {
    const count = Math.min(chunk, n - start);
    const keys = Buffer.alloc(count * Size.flowKey);
    const values = Buffer.alloc(count * Size.lruVal);
    for (let i = 0; i < count; i++) {
      const j = start + i;
      const src = `10.${salt}.${(j >> 8) & 0xff}.${j & 0xff}`;
      encodeFlowKey({ protocol: 'TCP', src: { address: src, port: 1024 + (j >> 16) }, dst: { address: `10.200.0.${10 + (j % 4)}`, port: 80 } }).copy(keys, i * Size.flowKey);
      encodeLruVal(1 + (j % REALS), now - (j % 600)).copy(values, i * Size.lruVal);
    }
    table.updateBatch(keys, values, count);
  }
}

const tables: BpfMap[] = [];
try {
  for (let t = 0; t < tableCount; t++) {
    const m = BpfMap.create({ type: MapType.LRU_HASH, name: `bench_lru${t}`, keySize: Size.flowKey, valueSize: Size.lruVal, maxEntries: perTable });
    tables.push(m);
    fill(m, fillCount, t + 1);
  }
  const rows: string[][] = [];
  for (const byDestination of [false, true]) {
    const wall: number[] = [];
    const slices: number[] = [];
    const loopMax: number[] = [];
    const cpu: number[] = [];
    let entries = 0;
    for (let r = 0; r < runs; r++) {
      const h = monitorEventLoopDelay({ resolution: 1 });
      h.enable();
      const cpu0 = process.cpuUsage();
      const c = await countFlows(tables, { recentSeconds: 60, byDestination });
      const used = process.cpuUsage(cpu0);
      h.disable();
      cpu.push((used.user + used.system) / 1000);
      wall.push(c.durationMs);
      slices.push(c.longestSliceMs);
      loopMax.push(h.max / 1e6);
      entries = c.entries;
    }
    rows.push([
      byDestination ? 'per real and per VIP (sterlet stats)' : 'per real (agent status, metric)',
      String(entries),
      median(wall).toFixed(0),
      median(cpu).toFixed(0),
      ((median(cpu) * 1e6) / entries).toFixed(0),
      median(slices).toFixed(1),
      median(loopMax).toFixed(1),
    ]);
  }
  const head = ['count', 'entries', 'wall ms', 'CPU ms', 'CPU ns/entry', 'longest slice ms', 'event-loop max delay ms'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const fmt = (r: string[]): string => r.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ');
  console.log(`flows per backend over ${tableCount} tables of ${perTable} entries, ${fillCount} filled each (LRU_HASH, BPF_MAP_LOOKUP_BATCH 8192), median of ${runs} runs`);
  console.log(fmt(head));
  for (const r of rows) console.log(fmt(r));
} finally {
  for (const t of tables) t.close();
}
