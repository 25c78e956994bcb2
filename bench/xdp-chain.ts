// What --xdp-chain costs per packet: the balancer alone against the same
// balancer behind the chain's root (bpf/chain.bpf.c), and behind root + a
// filter stage (test/e2e/progs/xdp_filter_stage.bpf.c), through
// BPF_PROG_TEST_RUN, with a trivial XDP_PASS program as the floor of the same
// run. The frame is a TCP packet to an address that is no VIP: every program
// passes it unchanged, so `repeat` re-runs the original frame (the tail-call
// overhead does not depend on the path the balancer takes). Each run must
// move the balancer's passNotVip counter by exactly `repeat` (or, for the
// blocked source, leave it alone), else the benchmark fails. Medians of
// interleaved runs, pinned to one CPU (re-executes itself under taskset).
// Usage: node bench/xdp-chain.ts   env: BENCH_CPU (last CPU), BENCH_RUNS (9), BENCH_REPEAT (20000)

import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BpfMap, BpfObject, BpfProgram, isBpfError, MapType, XdpAction } from '../src/libbpf/libbpf.ts';
import { u32 } from '../src/agent/dataplane/codec.ts';
import { Stat } from '../src/agent/dataplane/counters.ts';
import { BALANCER_SLOT, CHAIN_PROGRAM, DEFAULT_CHAIN_OBJECT, STAGE_SLOTS, STAGES_MAP, UPSTREAM_SLOT } from '../src/agent/dataplane/chain.ts';
import { openBalancer } from '../src/agent/dataplane/loader.ts';
import { build } from '../src/packet/build.ts';

const cpu = Number(process.env.BENCH_CPU ?? availableParallelism() - 1);
const runs = Number(process.env.BENCH_RUNS ?? 9);
const repeat = Number(process.env.BENCH_REPEAT ?? 20000);
const root = fileURLToPath(new URL('..', import.meta.url));

if (process.env.STERLET_BENCH_PINNED !== String(cpu)) {
  const r = spawnSync('taskset', ['-c', String(cpu), process.execPath, fileURLToPath(import.meta.url)], {
    stdio: 'inherit',
    env: { ...process.env, BENCH_CPU: String(cpu), STERLET_BENCH_PINNED: String(cpu) },
  });
  process.exit(r.status ?? 1);
}

function compile(source: string, out: string): string {
  const arch = execFileSync('gcc', ['-dumpmachine']).toString().trim();
  execFileSync('clang', ['-O2', '-g', '-target', 'bpf', '-mcpu=v3', '-I', 'bpf/include', '-I', 'build/libbpf/include', '-I', `/usr/include/${arch}`, '-c', source, '-o', out], { cwd: root });
  return out;
}

function loadOne(path: string, reuseStages?: number): { program: BpfProgram; close(): void } {
  const obj = BpfObject.open(path);
  if (reuseStages !== undefined) obj.map(STAGES_MAP).reuseFd(reuseStages);
  obj.load();
  const program = obj.program(obj.programs()[0] ?? '').asProgram();
  obj.close();
  return { program, close: () => program.close() };
}

const frame = (src: string): Buffer =>
  build({ kind: 'eth', src: '02:00:00:00:00:01', dst: '02:00:00:00:00:02', payload: { kind: 'ipv4', src, dst: '198.51.100.9', payload: { kind: 'tcp', sport: 40000, dport: 80, flags: 'A' } } });

const scratch = mkdtempSync(join(tmpdir(), 'sterlet-bench-chain-'));
try {
  const balancer = openBalancer({ sizes: { maxVips: 4, maxReals: 17, ringSize: 13, lruSize: 1024, fallbackLruSize: 1024 } });
  const floor = loadOne(compile('test/e2e/progs/xdp_pass.bpf.c', join(scratch, 'xdp_pass.bpf.o')));
  // Two chains on two stage arrays: root -> balancer, and root -> filter -> balancer.
  const arrays = [0, 1].map(() => BpfMap.create({ type: MapType.PROG_ARRAY, name: STAGES_MAP, keySize: 4, valueSize: 4, maxEntries: STAGE_SLOTS }));
  const [bare, filtered] = arrays as [BpfMap, BpfMap];
  const roots = arrays.map((a) => loadOne(DEFAULT_CHAIN_OBJECT, a.fd));
  const filter = loadOne(compile('test/e2e/progs/xdp_filter_stage.bpf.c', join(scratch, 'filter.bpf.o')), filtered.fd);
  bare.update(u32(BALANCER_SLOT), u32(balancer.program().fd));
  filtered.update(u32(BALANCER_SLOT), u32(balancer.program().fd));
  filtered.update(u32(UPSTREAM_SLOT), u32(filter.program.fd));

  const passed = (): number => (balancer.maps.stats.lookupPerCpu(u32(Stat.passNotVip)) ?? []).reduce((s, v) => s + Number(v.readBigUInt64LE(0)), 0);
  const cases = [
    { name: 'floor: XDP_PASS program', program: floor.program, src: '192.0.2.7', verdict: XdpAction.PASS, balancerSees: false },
    { name: 'balancer alone', program: balancer.program(), src: '192.0.2.7', verdict: XdpAction.PASS, balancerSees: true },
    { name: `${CHAIN_PROGRAM} -> balancer`, program: roots[0]!.program, src: '192.0.2.7', verdict: XdpAction.PASS, balancerSees: true },
    { name: `${CHAIN_PROGRAM} -> filter -> balancer`, program: roots[1]!.program, src: '192.0.2.7', verdict: XdpAction.PASS, balancerSees: true },
    { name: `${CHAIN_PROGRAM} -> filter (drops)`, program: roots[1]!.program, src: '10.111.0.66', verdict: XdpAction.DROP, balancerSees: false },
  ];
  const samples = cases.map(() => [] as number[]);
  for (let r = 0; r < runs; r++) {
    cases.forEach((c, i) => {
      let before = passed();
      let out;
      // A signal pending in this thread ends a long test run with EINTR after some repeats: run it again.
      for (let attempt = 1; ; attempt++) {
        try {
          out = c.program.testRun({ data: frame(c.src), repeat });
          break;
        } catch (err) {
          if (!isBpfError(err) || err.errnoName !== 'EINTR' || attempt === 5) throw err;
          before = passed();
        }
      }
      if (out.retval !== c.verdict) throw new Error(`${c.name}: verdict ${out.retval}, expected ${c.verdict}`);
      const moved = passed() - before;
      if (moved !== (c.balancerSees ? repeat : 0)) throw new Error(`${c.name}: passNotVip moved by ${moved}, expected ${c.balancerSees ? repeat : 0}`);
      samples[i]!.push(out.durationNs);
    });
  }
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
  const alone = median(samples[1]!);
  console.log(`xdp chain cost, CPU ${cpu}, ${runs} runs x ${repeat} repeats, medians (load: ${execFileSync('uptime').toString().trim()})`);
  console.log('| path | ns/packet | vs balancer alone |');
  console.log('|---|---:|---:|');
  cases.forEach((c, i) => {
    const m = median(samples[i]!);
    console.log(`| ${c.name} | ${m.toFixed(1)} | ${(m - alone >= 0 ? '+' : '') + (m - alone).toFixed(1)} ns |`);
  });
  filter.close();
  for (const r of roots) r.close();
  for (const a of arrays) a.close();
  floor.close();
  balancer.close();
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
