// Health-check metrics: probe results and latency, healthy gauge per (VIP,
// backend address), transitions, fail-open VIPs, missed intervals. VIPs are
// labelled namespace + name like the agent's other per-VIP series.

import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { vipIdParts } from '../../api/desired-state.ts';
import type { HealthProber, ProberHooks } from './prober.ts';

export function healthMetrics(registry: Registry, prober: () => HealthProber | undefined): ProberHooks {
  const registers = [registry];
  const probes = new Counter({
    name: 'sterlet_agent_health_probes_total',
    help: 'Health probes through the tunnel, by VIP and result (success | failure).',
    labelNames: ['namespace', 'name', 'result'] as const,
    registers,
  });
  const latency = new Histogram({
    name: 'sterlet_agent_health_probe_duration_seconds',
    help: 'Time from connect to a completed health check, per VIP.',
    labelNames: ['namespace', 'name'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers,
  });
  // Read from the prober when scraped, not set per probe (10k probes/s at scale).
  new Gauge({
    name: 'sterlet_agent_backend_healthy',
    help: '1 when the backend passes its health check from this node (as probed), 0 when not.',
    labelNames: ['namespace', 'name', 'address'] as const,
    registers,
    collect() {
      this.reset();
      prober()?.forEachProbed((vip, backend, ok) => this.set({ ...vipIdParts(vip), address: backend }, ok ? 1 : 0));
    },
  });
  const transitions = new Counter({
    name: 'sterlet_agent_health_transitions_total',
    help: 'Backends that became healthy or unhealthy, by VIP and direction (to = healthy | unhealthy).',
    labelNames: ['namespace', 'name', 'to'] as const,
    registers,
  });
  const failOpen = new Gauge({
    name: 'sterlet_agent_vip_fail_open',
    help: '1 while every backend of the VIP is unhealthy and all are kept in the ring (fail open).',
    labelNames: ['namespace', 'name'] as const,
    registers,
  });
  new Gauge({
    name: 'sterlet_agent_health_missed_intervals',
    help: 'Probes that could not start within their interval since the agent started (scheduler overloaded or probe still running).',
    registers,
    collect() {
      this.set(prober()?.stats().missed ?? 0);
    },
  });
  let open = new Set<string>();
  return {
    onProbe: (vip, _backend, result) => {
      probes.inc({ ...vipIdParts(vip), result: result.ok ? 'success' : 'failure' });
      if (result.ok) latency.observe(vipIdParts(vip), result.latencyMs / 1000);
    },
    onTransition: (vip, _backend, isHealthy) => transitions.inc({ ...vipIdParts(vip), to: isHealthy ? 'healthy' : 'unhealthy' }),
    onFailOpen: (ids) => {
      const now = new Set(ids);
      for (const id of open) if (!now.has(id)) failOpen.set(vipIdParts(id), 0);
      for (const id of now) failOpen.set(vipIdParts(id), 1);
      open = now;
    },
  };
}
