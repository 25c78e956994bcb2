// Cost of the libbpf adapter itself (koffi + syscall), so callers know what a
// per-packet BPF_PROG_TEST_RUN or a per-entry map update costs before any
// dataplane work. Median of BENCH_RUNS runs, pinned to one CPU with taskset.
// Usage: make build/test/adapter_test.bpf.o && taskset -c 1 node_modules/.bin/node bench/libbpf-adapter.ts
//   env: BENCH_RUNS (5)

import { fileURLToPath } from 'node:url';
import { BpfMap, BpfObject, MapType, XdpAction } from '../src/libbpf/libbpf.ts';

const runs = Number(process.env['BENCH_RUNS'] ?? 5);
const OBJ = fileURLToPath(new URL('../build/test/adapter_test.bpf.o', import.meta.url));
const N = 65536;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
}

/** Median ns per item of `fn` doing `items` items, over `runs` runs. */
function measure(items: number, fn: () => void): number {
  const out: number[] = [];
  for (let r = 0; r < runs; r++) {
    const t0 = process.hrtime.bigint();
    fn();
    out.push(Number(process.hrtime.bigint() - t0) / items);
  }
  return median(out);
}

const obj = BpfObject.open(OBJ);
obj.map('outer').setInnerMap({ type: MapType.HASH, name: 'tmpl', keySize: 4, valueSize: 8, maxEntries: 8 });
obj.load();
const prog = obj.program('xdp_pass').asProgram();
const frame = Buffer.alloc(64, 1);
const rows: Array<[string, string]> = [];

const calls = 20000;
rows.push([
  'testRun, 64-byte frame, one call per packet (wall)',
  `${measure(calls, () => {
    for (let i = 0; i < calls; i++) if (prog.testRun({ data: frame }).retval !== XdpAction.PASS) throw new Error('wrong verdict');
  }).toFixed(0)} ns/call`,
]);
const kernel: number[] = [];
for (let r = 0; r < runs; r++) kernel.push(prog.testRun({ data: frame, repeat: 1_000_000 }).durationNs);
rows.push(['testRun repeat=1e6, kernel-measured per iteration', `${median(kernel)} ns`]);

const keys = Buffer.alloc(4 * N);
const values = Buffer.alloc(8 * N);
for (let i = 0; i < N; i++) {
  keys.writeUInt32LE(i, i * 4);
  values.writeBigUInt64LE(BigInt(i), i * 8);
}
const hash = BpfMap.create({ type: MapType.HASH, name: 'bench', keySize: 4, valueSize: 8, maxEntries: N });
rows.push([
  `HASH update, ${N} entries one by one`,
  `${measure(N, () => {
    for (let i = 0; i < N; i++) hash.update(keys.subarray(i * 4, i * 4 + 4), values.subarray(i * 8, i * 8 + 8));
  }).toFixed(0)} ns/entry`,
]);
rows.push([`HASH updateBatch, ${N} entries`, `${measure(N, () => hash.updateBatch(keys, values, N)).toFixed(0)} ns/entry`]);
rows.push([
  `HASH lookupBatch (whole map)`,
  `${measure(N, () => {
    if (hash.lookupBatch().count !== N) throw new Error('short read');
  }).toFixed(0)} ns/entry`,
]);
rows.push([
  `HASH keys() iteration`,
  `${measure(N, () => {
    let n = 0;
    for (const _ of hash.keys()) n++;
    if (n !== N) throw new Error('short iteration');
  }).toFixed(0)} ns/key`,
]);
const ringSize = 65537;
const ring = BpfMap.create({ type: MapType.ARRAY, name: 'ring', keySize: 4, valueSize: 4, maxEntries: ringSize * 4 });
rows.push([`ARRAY lookupRange, one ${ringSize}-slot ring from the middle`, `${(measure(1, () => ring.lookupRange(ringSize * 2, ringSize)) / 1e6).toFixed(2)} ms`]);

hash.close();
ring.close();
prog.close();
obj.close();

const width = Math.max(...rows.map(([k]) => k.length));
console.log(`libbpf adapter costs (median of ${runs} runs)`);
for (const [k, v] of rows) console.log(`  ${k.padEnd(width)}  ${v}`);
