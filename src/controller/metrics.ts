// Controller metrics (prom-client, own registry), served with /healthz
// (process alive) and /readyz (caches synced, or a standby replica waiting for
// the Lease: both are healthy states) by common/http-endpoints.ts.

import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { registerProcessMetrics } from '../common/process-metrics.ts';
import { SterletError } from '../common/errors.ts';
import { parseHostPort, startEndpoints } from '../common/http-endpoints.ts';
import { vipIdParts } from '../api/desired-state.ts';

export class ControllerMetrics {
  readonly registry = new Registry();
  readonly reconciles = new Counter({
    name: 'sterlet_controller_reconcile_total',
    help: 'Reconciles by kind and result (success, error, requeue).',
    labelNames: ['kind', 'result'] as const,
    registers: [this.registry],
  });
  readonly reconcileSeconds = new Histogram({
    name: 'sterlet_controller_reconcile_duration_seconds',
    help: 'Time to reconcile one object, including API writes.',
    labelNames: ['kind'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  readonly queueDepth = new Gauge({
    name: 'sterlet_controller_queue_depth',
    help: 'Keys waiting in the work queue.',
    registers: [this.registry],
  });
  readonly conflicts = new Gauge({
    name: 'sterlet_controller_vip_conflicts',
    help: 'VirtualIPs not accepted because an older VirtualIP claims the same address, port and protocol.',
    registers: [this.registry],
  });
  readonly apiConflicts = new Counter({
    name: 'sterlet_controller_api_conflicts_total',
    help: 'Writes refused with 409 Conflict (stale resourceVersion); the key is retried.',
    registers: [this.registry],
  });
  readonly statusWrites = new Counter({
    name: 'sterlet_controller_status_writes_total',
    help: 'Status patches written, by kind (unchanged statuses are not written).',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly leader = new Gauge({
    name: 'sterlet_controller_leader',
    help: '1 while this replica holds the leader Lease.',
    registers: [this.registry],
  });
  /** What the Programmed condition counts, per VIP: alerts compare programmed with selected. */
  readonly vipNodes = new Gauge({
    name: 'sterlet_controller_vip_nodes',
    help: 'Load-balancer nodes per VirtualIP: state="selected" (live nodes its nodeSelector matches) and state="programmed" (those running its current revision).',
    labelNames: ['namespace', 'name', 'state'] as const,
    registers: [this.registry],
  });

  /** Alert on `time() - this > N`: how long the nodes serving a VIP have built different Maglev rings. */
  readonly ringMismatchStart = new Gauge({
    name: 'sterlet_controller_vip_ring_mismatch_start_time_seconds',
    help: 'Unix time since which the nodes serving a VirtualIP at its current revision report different Maglev ring fingerprints (the Programmed=False/RingMismatch condition); absent while their rings agree.',
    labelNames: ['namespace', 'name'] as const,
    registers: [this.registry],
  });

  /** Records when a VIP's ring mismatch began (RFC 3339); `undefined` removes its series (rings agree, or VIP gone). */
  setRingMismatch(key: string, since: string | undefined): void {
    const id = vipIdParts(key);
    if (since === undefined) this.ringMismatchStart.remove(id);
    else this.ringMismatchStart.set(id, Date.parse(since) / 1000);
  }

  /** Records a VIP's node counts; `undefined` removes its series (VIP gone). */
  setVipNodes(key: string, counts: { selected: number; programmed: number } | undefined): void {
    const id = vipIdParts(key);
    if (counts === undefined) {
      this.vipNodes.remove({ ...id, state: 'selected' });
      this.vipNodes.remove({ ...id, state: 'programmed' });
      return;
    }
    this.vipNodes.set({ ...id, state: 'selected' }, counts.selected);
    this.vipNodes.set({ ...id, state: 'programmed' }, counts.programmed);
  }

  constructor() {
    registerProcessMetrics(this.registry, 'sterlet_controller_');
  }
}

export interface MetricsServer {
  readonly address: string;
  close(): Promise<void>;
}

/** Serves /metrics, /healthz and /readyz on `addr` (host:port; port 0 picks a free one). */
export async function serveMetrics(addr: string, metrics: ControllerMetrics, ready: () => boolean): Promise<MetricsServer> {
  const parsed = parseHostPort(addr);
  if (parsed === undefined) {
    throw new SterletError('CONTROLLER_METRICS_ADDR_INVALID', `--metrics-addr ${addr} is not host:port`, { fix: 'pass e.g. --metrics-addr 0.0.0.0:8080' });
  }
  const server = await startEndpoints({ ...parsed, registry: metrics.registry, ready });
  return { address: `${parsed.host}:${server.port}`, close: () => server.close() };
}
