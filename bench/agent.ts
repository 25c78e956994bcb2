// Agent benchmark: full sync of 512 VIPs x 4096 backends (8 per VIP) with
// 65537-slot rings into a really loaded balancer, then a one-backend change
// in one VIP end to end (plan + apply through the maps), and the agent's RSS
// at that size; then the standalone cold start phase by phase: 512 VIPs x 100
// Backends as 51,712 YAML documents read, parsed, validated, compiled,
// planned and written (bench/lib/cold-start-phases.ts; the real agent process
// is timed by bench/cold-start.ts). Prints a table; targets from issues 3 §9
// and 15 §5.
//
//   npm run bench:agent        (root; needs make bpf)

import { cpus, loadavg } from 'node:os';
import { coldStartPhases } from './lib/cold-start-phases.ts';
import { reconcile } from '../src/agent/plan/apply.ts';
import { openBalancer } from '../src/agent/dataplane/loader.ts';
import { trimHeap } from '../src/libbpf/libc.ts';
import { createRingMap } from '../src/agent/dataplane/startup.ts';
import { buildRing, ringFingerprint } from '../src/agent/plan/maglev.ts';
import { MapsIO } from '../src/agent/dataplane/maps-io.ts';
import type { DesiredVip } from '../src/agent/plan/model.ts';
import { RingCache } from '../src/agent/plan/rings.ts';

const VIPS = 512;
const PER_VIP = 8;
const RING = 65537;
const sizes = { maxVips: VIPS, maxReals: VIPS * PER_VIP + 1, ringSize: RING, lruSize: 1024, fallbackLruSize: 1024 };
const limits = { maxVips: VIPS, maxReals: VIPS * PER_VIP, ringSize: RING };

function desired(changedBackend: number): DesiredVip[] {
  return Array.from({ length: VIPS }, (_, v) => ({
    id: `bench/vip-${String(v).padStart(3, '0')}`,
    key: { address: `10.200.${v >> 8}.${v & 255}`, family: 'IPv4' as const, port: 80, protocol: 'TCP' as const },
    flags: { hash: 'FiveTuple' as const, connectionTracking: true, quic: false, encapsulation: 'IPIP' as const },
    backends: Array.from({ length: PER_VIP }, (_, b) => {
      const n = v * PER_VIP + b;
      // The changed state swaps one backend of VIP 0 for a new address.
      const address = v === 0 && b === 0 && changedBackend > 0 ? `10.9.0.${changedBackend}` : `10.1.${n >> 8}.${n & 255}`;
      return { address, family: 'IPv4' as const, weight: 1 };
    }),
  }));
}

const mib = (n: number): string => `${(n / 2 ** 20).toFixed(0)} MiB`;
const rows: [string, string, string, string][] = [];
// BENCH_PART=cold-start runs only the cold-start rows.
if (process.env['BENCH_PART'] !== 'cold-start') {
  // The ring map the agent creates: BPF_F_MMAPABLE, written as memory.
  const ringMap = createRingMap(sizes);
  const balancer = openBalancer({
    sizes,
    forwardingCpus: [{ cpu: 0 }],
    reuseMaps: { ring: ringMap.fd },
    ...(process.env['STERLET_BPF_OBJECT'] === undefined ? {} : { objectPath: process.env['STERLET_BPF_OBJECT'] }),
  });
  ringMap.close();
  try {
    const io = new MapsIO(balancer.maps, limits);
    const cache = new RingCache();
    const options = { limits, buildRing, fingerprint: ringFingerprint, cache };

    const baseline = process.memoryUsage().rss;
    let t = performance.now();
    const full = reconcile(desired(0), io, options);
    const fullMs = performance.now() - t;
    rows.push(['full sync from empty (512 VIPs, 4096 backends, 65537 slots)', `${fullMs.toFixed(0)} ms`, '≤ 5000 ms', `${full.writes} map writes`]);

    t = performance.now();
    const again = reconcile(desired(0), io, { ...options, live: full.live });
    rows.push(['same state again (cached live state)', `${(performance.now() - t).toFixed(1)} ms`, '-', `${again.writes} map writes`]);

    const changes: number[] = [];
    let live = again.live;
    let writes = 0;
    for (let i = 1; i <= 9; i++) {
      t = performance.now();
      const r = reconcile(desired(i), io, { ...options, live });
      changes.push(performance.now() - t);
      live = r.live;
      writes = r.writes;
    }
    changes.sort((a, b) => a - b);
    rows.push([
      'one backend replaced in one VIP, real table full (2 passes, median of 9)',
      `${changes[4]?.toFixed(1)} ms`,
      '≤ 50 ms',
      `${writes} map writes, max ${changes.at(-1)?.toFixed(1)} ms`,
    ]);

    // Remove one backend of VIP 2, then add a new one (the freed index): single passes.
    const removedOne = (extra: string | undefined): DesiredVip[] =>
      desired(9).map((v, i) =>
        i === 2 ? { ...v, backends: [...v.backends.slice(1), ...(extra === undefined ? [] : [{ address: extra, family: 'IPv4' as const, weight: 1 }])] } : v,
      );
    const removals: number[] = [];
    const additions: number[] = [];
    for (let i = 1; i <= 5; i++) {
      t = performance.now();
      live = reconcile(removedOne(undefined), io, { ...options, live }).live;
      removals.push(performance.now() - t);
      t = performance.now();
      live = reconcile(removedOne(`10.8.0.${i}`), io, { ...options, live }).live;
      additions.push(performance.now() - t);
    }
    const median = (xs: number[]): string => `${[...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]?.toFixed(1)} ms`;
    rows.push(['one backend removed from one VIP (median of 5)', median(removals), '≤ 50 ms', 'ring slots of that backend + its real']);
    rows.push(['one backend added to one VIP (median of 5)', median(additions), '≤ 50 ms', 'reuses the index freed by the removal']);
    live = reconcile(desired(9), io, { ...options, live }).live;

    const reweighted = desired(9).map((v, i) => (i === 1 ? { ...v, backends: v.backends.map((b, j) => (j === 0 ? { ...b, weight: 3 } : b)) } : v));
    t = performance.now();
    const rw = reconcile(reweighted, io, { ...options, live });
    rows.push(['one backend reweighted 1 -> 3 in one VIP (plan + apply)', `${(performance.now() - t).toFixed(1)} ms`, '≤ 50 ms', `${rw.writes} map writes`]);
    live = rw.live;

    t = performance.now();
    const resync = reconcile(reweighted, io, { ...options, live: undefined, hint: live });
    rows.push(['re-sync: read every map back + plan (no change, agent cache as hint)', `${(performance.now() - t).toFixed(0)} ms`, '-', `${resync.writes} map writes`]);

    // A full collection (V8's memory reducer does this in an idle agent), then
    // what the agent does after a large apply.
    for (let i = 0; i < 3; i++) globalThis.gc?.();
    trimHeap();
    const mem = process.memoryUsage();
    rows.push([
      'agent RSS at that size',
      mib(mem.rss),
      '≤ 200 MiB',
      `${mib(baseline)} before the sync; heap ${mib(mem.heapUsed)} of ${mib(mem.heapTotal)}, array buffers ${mib(mem.arrayBuffers)}`,
    ]);
  } finally {
    balancer.close();
  }
}

// --- standalone cold start: manifests -> desired state -> maps, per phase ---
const phases = await coldStartPhases();
rows.push(...phases);
const load = loadavg().map((l) => l.toFixed(1)).join(' ');
console.log(`${cpus().length} CPUs, load average ${load} (other work on the machine inflates the times)\n`);
const widths = [0, 1, 2, 3].map((i) => Math.max(...[['case', 'result', 'target', 'notes'], ...rows].map((r) => r[i]?.length ?? 0)));
const line = (r: readonly string[]): string => r.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ');
console.log(line(['case', 'result', 'target', 'notes']));
console.log(widths.map((w) => '-'.repeat(w)).join('-|-'));
for (const r of rows) console.log(line(r));
