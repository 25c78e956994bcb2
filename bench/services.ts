// The per-reconcile work of Services, printed as a table: address allocation
// (claim) as the allocator fills up, and turning EndpointSlices + Nodes into
// weighted node backends (Local and Cluster) or endpoint backends.
//   npm run bench:services [-- --runs 50] [-- --compare REV]
// --compare REV also times the allocator of git revision REV (its src/ tree
// extracted under build/bench-rev/), in the same run: before/after figures.
// Median and min of `runs` calls after a warm-up; "cpu µs" is process CPU per
// call (wall-clock medians on a shared machine include descheduled time).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { loadavg } from 'node:os';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { preparePools } from '../src/compile/pools.ts';
import { VirtualIPPool } from '../src/api/virtual-ip-pool.ts';
import { AddressAllocator } from '../src/controller/services/allocator.ts';
import { endpointBackends, nodeBackends } from '../src/controller/services/backends.ts';
import { type EndpointSlice, Node, Service } from '../src/controller/services/kube-types.ts';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '50' }, compare: { type: 'string' } } });
const runs = Number(values.runs);

function time(fn: () => unknown): { min: number; median: number; cpu: number } {
  for (let i = 0; i < 5; i++) fn();
  const samples: number[] = [];
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    fn();
    samples.push(performance.now() - t0);
  }
  const cpu = process.cpuUsage(cpu0);
  samples.sort((a, b) => a - b);
  return { min: samples[0] ?? 0, median: samples[Math.floor(samples.length / 2)] ?? 0, cpu: (cpu.user + cpu.system) / runs };
}

const rows: string[][] = [['case', 'min µs', 'median µs', 'cpu µs']];
const row = (name: string, t: { min: number; median: number; cpu: number }): void => {
  rows.push([name, (t.min * 1000).toFixed(1), (t.median * 1000).toFixed(1), t.cpu.toFixed(1)]);
};

// Allocation: one more Service when `held` addresses of a /16 are taken (lowest free first).
type Allocator = Pick<AddressAllocator, 'claim' | 'release'>;
interface AllocatorBuild { label: string; make: () => Allocator; preparePools: typeof preparePools }

/** The allocator of another revision, from its src/ tree under build/bench-rev/REV. */
async function allocatorAt(rev: string): Promise<AllocatorBuild> {
  const root = resolve(import.meta.dirname, '..');
  const sha = execFileSync('git', ['-C', root, 'rev-parse', '--short', rev], { encoding: 'utf8' }).trim();
  const dir = resolve(root, 'build/bench-rev', sha);
  if (!existsSync(resolve(dir, 'src'))) {
    mkdirSync(dir, { recursive: true });
    execFileSync('sh', ['-c', `git -C "${root}" archive ${sha} src | tar -x -C "${dir}"`]);
  }
  const mod = await import(resolve(dir, 'src/controller/services/allocator.ts')) as { AddressAllocator: new () => Allocator };
  const pools = await import(resolve(dir, 'src/compile/pools.ts')) as { preparePools: typeof preparePools };
  return { label: `${rev} (${sha})`, make: () => new mod.AddressAllocator(), preparePools: pools.preparePools };
}

const builds: AllocatorBuild[] = [{ label: 'this tree', make: () => new AddressAllocator(), preparePools }];
if (values.compare !== undefined) builds.push(await allocatorAt(values.compare));
const pool = VirtualIPPool.parse({ apiVersion: 'sterlet.dev/v1alpha1', kind: 'VirtualIPPool', metadata: { name: 'p' }, spec: { addresses: ['10.200.0.0/16'], backendAddresses: ['10.0.0.0/8'], allocation: {} } });
const request = (i: number) => ({ service: `team/s${String(i)}`, namespace: 'team', family: 'IPv4' as const, ports: [{ port: 80, protocol: 'TCP' as const }] });
for (const held of [0, 1_000, 10_000]) {
  for (const build of builds) {
    const ctx = { pools: build.preparePools([pool]), admission: { mode: 'Pools' as const, pools: [pool], namespaceLabels: new Map() }, usedBy: () => undefined };
    const a = build.make();
    for (let i = 0; i < held; i++) a.claim(request(i), ctx);
    const tag = builds.length > 1 ? `, ${build.label}` : '';
    row(`allocate with ${String(held)} held${tag}`, time(() => { a.claim(request(held), ctx); a.release(`team/s${String(held)}`); }));
    row(`re-validate a held address (${String(held)} held${tag})`, time(() => a.claim(request(0), ctx)));
  }
}

// Backends: `pods` endpoints spread over `nodes` nodes.
function world(pods: number, nodeCount: number): { slices: EndpointSlice[]; nodes: Node[] } {
  const slices: EndpointSlice[] = [];
  for (let s = 0; s * 100 < pods; s++) {
    slices.push({ metadata: { name: `s${String(s)}`, namespace: 'team' }, addressType: 'IPv4', endpoints: Array.from({ length: Math.min(100, pods - s * 100) }, (_, i) => {
      const n = s * 100 + i;
      return { addresses: [`10.244.${String(n >> 8)}.${String(n & 255)}`], nodeName: `node-${String(n % nodeCount)}`, conditions: { ready: n % 10 !== 0, serving: true, terminating: n % 10 === 0 } };
    }) });
  }
  const nodes = Array.from({ length: nodeCount }, (_, i) => Node.parse({ metadata: { name: `node-${String(i)}` }, status: { conditions: [{ type: 'Ready', status: 'True' }], addresses: [{ type: 'InternalIP', address: `10.0.${String(i >> 8)}.${String(i & 255)}` }] } }));
  return { slices, nodes };
}
const svc = (policy: string) => Service.parse({ metadata: { name: 'web', namespace: 'team' }, spec: { type: 'LoadBalancer', externalTrafficPolicy: policy } });
for (const [pods, nodeCount] of [[10, 3], [1_000, 100], [10_000, 1_000]] as const) {
  const w = world(pods, nodeCount);
  const label = `${String(pods)} endpoints / ${String(nodeCount)} nodes`;
  row(`Local: ${label}`, time(() => nodeBackends(svc('Local'), w.slices, w.nodes, 'IPv4', { nodeSelector: undefined })));
  row(`Cluster: ${label}`, time(() => nodeBackends(svc('Cluster'), w.slices, w.nodes, 'IPv4', { nodeSelector: undefined })));
  row(`Endpoints: ${String(pods)} endpoints`, time(() => endpointBackends('team/web', w.slices, 'IPv4')));
}

const widths = (rows[0] ?? []).map((_, col) => Math.max(...rows.map((r) => (r[col] ?? '').length)));
for (const [i, r] of rows.entries()) {
  console.log(r.map((cell, col) => (col === 0 ? cell.padEnd(widths[col] ?? 0) : cell.padStart(widths[col] ?? 0))).join('  '));
  if (i === 0) console.log(widths.map((w) => '-'.repeat(w)).join('  '));
}
console.log(`\nruns ${String(runs)}; load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
