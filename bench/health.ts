// Health-check scheduler at scale, printed as a table (not a pass/fail test).
//   npm run bench:health [-- --vips 512 --backends 100 --interval 5 --seconds 30 --connect sockets,node]
// 512 VIPs x 100 backends = 51,200 (VIP, backend) pairs probed every 5 s is
// 10,240 TCP connects/s from one agent. Targets are loopback addresses (one
// 127.x address per VIP, as the VIP is the probe's destination inside the
// tunnel) served by a separate process, so "agent CPU" is the prober's alone.
// The tunnel (marks + tc encapsulation) is not in this loop: it costs one
// setsockopt per probe and a tc program per packet, measured by the e2e and
// BPF tests. Reports probes/s achieved, missed intervals (a probe that could
// not start within its interval), how many probes the window fell short of
// the target (a starved process falls behind before it counts a miss) and
// the prober process's CPU in cores.
// Two rows: targets answered by a listening process (a healthy check: its
// accept rate on a loaded 2-core machine can be the limit), and a closed port
// (the kernel answers RST: a failing check, no target process at all), which
// isolates the prober's own cost. Each row runs once per TCP connect path:
// `sockets` (raw non-blocking sockets reaped in batches, the agent's default)
// and `node` (a net.Socket per probe, the HTTP path and the earlier TCP one).
// The agent's per-probe metrics (metrics.ts) run in the loop, as in the agent.

import { fork } from 'node:child_process';
import net from 'node:net';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import type { DesiredVip } from '../src/agent/plan/model.ts';
import { Registry } from 'prom-client';
import { HealthProber } from '../src/agent/health/prober.ts';
import { healthMetrics } from '../src/agent/health/metrics.ts';

const { values } = parseArgs({
  options: {
    vips: { type: 'string', default: '512' },
    backends: { type: 'string', default: '100' },
    interval: { type: 'string', default: '5' },
    seconds: { type: 'string', default: '30' },
    port: { type: 'string', default: '18080' },
    target: { type: 'boolean', default: false },
    connect: { type: 'string', default: 'sockets,node' },
  },
});
const port = Number(values.port);

if (values.target) {
  // The target process: accept and close, as a backend answering a TCP check.
  // Probes close with an RST (sockets path): ignore the resets.
  const server = net.createServer((s) => s.on('error', () => undefined).destroy());
  server.maxConnections = 100_000;
  server.listen({ port, host: '0.0.0.0', backlog: 65535 }, () => process.send?.('ready'));
} else {
  await main();
}

async function main(): Promise<void> {
  const rows: Record<string, unknown>[] = [];
  for (const connect of values.connect.split(',') as Connect[]) {
    if (connect !== 'sockets' && connect !== 'node') throw new Error(`--connect: ${String(connect)} is neither sockets nor node`);
    rows.push(await measure('listening target', connect), await measure('closed port (RST)', connect));
  }
  console.log(`health-check scheduler, ${values.seconds} s measured after one interval of warm-up per row; load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  console.table(rows);
}

type Connect = 'sockets' | 'node';

async function measure(mode: 'listening target' | 'closed port (RST)', connect: Connect): Promise<Record<string, unknown>> {
  const vips = Number(values.vips);
  const backends = Number(values.backends);
  const interval = Number(values.interval);
  const seconds = Number(values.seconds);
  const target = mode === 'listening target' ? fork(new URL(import.meta.url).pathname, ['--target', '--port', String(port)], { stdio: 'inherit' }) : undefined;
  if (target !== undefined) await new Promise<void>((resolve) => target.once('message', () => resolve()));
  const check = { type: 'TCP' as const, port, intervalSeconds: interval, timeoutSeconds: Math.max(1, interval - 1), healthyThreshold: 2, unhealthyThreshold: 3 };
  const state: DesiredVip[] = Array.from({ length: vips }, (_, v) => ({
    id: `bench/vip-${v}`,
    key: { address: `127.${10 + (v >> 8)}.${v & 255}.1`, family: 'IPv4', port, protocol: 'TCP' },
    flags: { hash: 'FiveTuple', connectionTracking: true, quic: false, encapsulation: 'IPIP' },
    backends: Array.from({ length: backends }, (_, b) => ({ address: `10.${b}.${v >> 8}.${v & 255}`, family: 'IPv4', weight: 1 })),
    healthCheck: check,
  }));
  let failures = 0;
  const errors = new Map<string, number>();
  const log = { info: () => undefined, warn: () => undefined, error: () => undefined, debug: () => undefined };
  const metrics = healthMetrics(new Registry(), () => prober);
  const prober: HealthProber = new HealthProber({
    socketFor: () => new net.Socket(),
    tcpConnect: connect,
    log,
    onChange: () => undefined,
    hooks: {
      ...metrics,
      onProbe: (v, b, r) => {
        metrics.onProbe?.(v, b, r);
        if (r.ok === (mode === 'listening target')) return;
        failures++;
        errors.set(r.error ?? '?', (errors.get(r.error ?? '?') ?? 0) + 1);
      },
    },
  });
  prober.setTargets(state);
  prober.start();
  // Warm-up: one interval, so every pair has its phase and the JIT is warm.
  await new Promise((r) => setTimeout(r, interval * 1000));
  const s0 = prober.stats();
  const f0 = failures;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let lagMax = 0;
  let last = performance.now();
  const lagTimer = setInterval(() => {
    const now = performance.now();
    lagMax = Math.max(lagMax, now - last - 100);
    last = now;
  }, 100);
  await new Promise((r) => setTimeout(r, seconds * 1000));
  clearInterval(lagTimer);
  const elapsed = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const s1 = prober.stats();
  prober.stop();
  target?.kill();
  const pairs = vips * backends;
  const row = {
    connect,
    targets: mode,
    pairs,
    interval: `${interval} s`,
    'target probes/s': Math.round(pairs / interval),
    'probes/s': Math.round((s1.probes - s0.probes) / elapsed),
    'missed intervals': s1.missed - s0.missed,
    // Probes the window should have held but did not (a starved process falls behind before it counts a miss).
    'short of target': Math.max(0, Math.round((pairs / interval) * elapsed - (s1.probes - s0.probes))),
    'unexpected results': failures - f0,
    'agent CPU (cores)': Math.round(((cpu.user + cpu.system) / 1e6 / elapsed) * 100) / 100,
    // On loopback the kernel runs both ends of every handshake in the prober's syscalls.
    'of it kernel': Math.round((cpu.system / 1e6 / elapsed) * 100) / 100,
    'CPU µs/probe': Math.round((cpu.user + cpu.system) / Math.max(1, s1.probes - s0.probes)),
    'max event-loop lag ms': Math.round(lagMax),
    'RSS MiB': Math.round(process.memoryUsage().rss / 2 ** 20),
  };
  if (errors.size > 0) console.log(`${mode}: unexpected results by error:`, Object.fromEntries(errors));
  await new Promise((r) => setTimeout(r, 1000)); // let the last sockets close before the next row
  return row;
}
