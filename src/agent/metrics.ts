// The agent's Prometheus metrics (served by common/http-endpoints.ts with
// /healthz and /readyz). Dataplane counters are not copied into the
// registry on a timer: each scrape asks the agent's callback once for a fresh
// snapshot of the BPF map counters, so what Prometheus sees is what the
// program counted.

import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { registerProcessMetrics } from '../common/process-metrics.ts';
import { mirroredMetrics, num } from './mirrored.ts';

/** A VIP's stable identity as series labels (empty names when the agent does not know them). */
export interface VipLabels {
  readonly namespace: string;
  readonly name: string;
  readonly address: string;
  readonly port: string;
  readonly protocol: string;
}

/** Counter values read from the pinned maps; u64 map values may be bigints. */
export interface DataplaneCounters {
  readonly vips: readonly (VipLabels & { readonly packets: Count; readonly bytes: Count })[];
  /** Per backend address: the program counts a real once, whichever VIPs share it. */
  readonly backends: readonly { readonly address: string; readonly packets: Count; readonly bytes: Count }[];
  /** Each (VIP, backend) pair as desired (weight) and as programmed (ring slots). */
  readonly pairs?: readonly {
    readonly namespace: string;
    readonly name: string;
    readonly backend: string;
    readonly address: string;
    readonly weight: number;
    readonly slots: number;
  }[];
  /** Every packet's one verdict: `tx`/`pass`/`drop` with its reason. */
  readonly verdicts: readonly { readonly verdict: string; readonly reason: string; readonly packets: Count; readonly bytes: Count }[];
  /** Event counters (connection table, QUIC, ICMP generation). */
  readonly events: readonly { readonly event: string; readonly count: Count }[];
  /** QUIC packets on QUIC VIPs by outcome (routed, unknownId, backendGone, familyMismatch, longHeader). */
  readonly quic?: readonly { readonly result: string; readonly packets: Count }[];
  /** Maglev ring fingerprint per VIP, for fleet consistency dashboards. */
  readonly rings?: readonly { readonly namespace: string; readonly name: string; readonly fingerprint: string }[];
}
export type Count = number | bigint;

export interface AgentMetricsOptions {
  /** Reads the dataplane counters; called at most once per scrape. */
  readonly readCounters?: () => DataplaneCounters | Promise<DataplaneCounters>;
  /** Called when readCounters fails; the scrape still succeeds without them. */
  readonly onReadError?: (err: unknown) => void;
  /** Node.js process metrics (CPU, RSS, event loop lag); default true. */
  readonly processMetrics?: boolean;
}

export interface AgentMetrics {
  readonly registry: Registry;
  /** Wall time of one plan+apply; label result = "success" | "error". */
  readonly applyDuration: Histogram<'result'>;
  /** Failed applies by SterletError code ("UNKNOWN" for foreign errors). */
  readonly applyErrors: Counter<'code'>;
  readonly desiredGeneration: Gauge;
  readonly appliedGeneration: Gauge;
  /** 1 once a desired state was programmed (what /readyz answers), for alerts. */
  readonly ready: Gauge;
  /** Connection-table entries naming each backend; state = "all" | "recent" (set by the flow counter). */
  readonly backendFlows: Gauge<'backend' | 'state'>;
  /** Seconds the last flow count took. */
  readonly flowCountDuration: Gauge;
  /** Adds the dataplane counter families, read once per scrape (for a reader built after the metrics). */
  collectDataplane(read: () => DataplaneCounters | Promise<DataplaneCounters>, onError?: (err: unknown) => void): void;
  /** VIPs/backends the last apply left out, by rejection code (AGENT_DUPLICATE_VIP, ...). */
  readonly rejected: Gauge<'code'>;
}

export function createAgentMetrics(options: AgentMetricsOptions = {}): AgentMetrics {
  const registry = new Registry();
  if (options.processMetrics ?? true) registerProcessMetrics(registry, 'sterlet_agent_');
  const registers = [registry];

  const applyDuration = new Histogram({
    name: 'sterlet_agent_apply_duration_seconds',
    help: 'Time to plan and apply one desired state to the BPF maps.',
    labelNames: ['result'] as const,
    // From a one-VIP change (~ms) to a full sync of thousands of rings (s).
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers,
  });
  const applyErrors = new Counter({
    name: 'sterlet_agent_apply_errors_total',
    help: 'Applies that failed, by error code.',
    labelNames: ['code'] as const,
    registers,
  });
  const desiredGeneration = new Gauge({
    name: 'sterlet_agent_desired_generation',
    help: 'Generation of the newest desired state the agent has received.',
    registers,
  });
  const appliedGeneration = new Gauge({
    name: 'sterlet_agent_applied_generation',
    help: 'Generation of the desired state currently programmed in the maps.',
    registers,
  });

  const rejected = new Gauge({
    name: 'sterlet_agent_rejected',
    help: 'VIPs or backends the last apply left out of the dataplane (the rest is programmed), by code.',
    labelNames: ['code'] as const,
    registers,
  });
  const ready = new Gauge({
    name: 'sterlet_agent_ready',
    help: '1 once a desired state is programmed in the maps (what /readyz answers), else 0.',
    registers,
  });

  if (options.readCounters !== undefined) registerDataplaneCollectors(registry, options.readCounters, options.onReadError);
  const backendFlows = new Gauge({
    name: 'sterlet_backend_flows',
    help: 'Connection-table entries (all per-CPU tables and the fallback) naming each backend; state="recent": seen within the idle threshold. Updated every --flow-count-interval.',
    labelNames: ['backend', 'state'] as const,
    registers,
  });
  const flowCountDuration = new Gauge({
    name: 'sterlet_agent_flow_count_duration_seconds',
    help: 'Wall time of the last count of flows per backend.',
    registers,
  });
  const collectDataplane = (read: () => DataplaneCounters | Promise<DataplaneCounters>, onError?: (err: unknown) => void): void =>
    registerDataplaneCollectors(registry, read, onError);
  return { registry, applyDuration, applyErrors, desiredGeneration, appliedGeneration, ready, backendFlows, flowCountDuration, collectDataplane, rejected };
}

function registerDataplaneCollectors(
  registry: Registry,
  read: () => DataplaneCounters | Promise<DataplaneCounters>,
  onError: ((err: unknown) => void) | undefined,
): void {
  const m = mirroredMetrics({ registry, read, readErrorsName: 'sterlet_dataplane_read_errors_total', onError });
  const mirrored = m.counter;
  const mirroredGauge = m.gauge;
  const vipLabels = ['namespace', 'name', 'address', 'port', 'protocol'] as const;
  const vipOf = (v: VipLabels): Record<(typeof vipLabels)[number], string> => ({
    namespace: v.namespace,
    name: v.name,
    address: v.address,
    port: v.port,
    protocol: v.protocol,
  });
  mirrored('sterlet_vip_packets_total', 'Packets the XDP program forwarded per VIP.', vipLabels, (c, s) => {
    for (const v of s.vips) c.inc(vipOf(v), num(v.packets));
  });
  mirrored('sterlet_vip_bytes_total', 'Bytes the XDP program forwarded per VIP.', vipLabels, (c, s) => {
    for (const v of s.vips) c.inc(vipOf(v), num(v.bytes));
  });
  mirrored('sterlet_backend_packets_total', 'Packets sent to each backend address (all VIPs it serves).', ['address'], (c, s) => {
    for (const b of s.backends) c.inc({ address: b.address }, num(b.packets));
  });
  mirrored('sterlet_backend_bytes_total', 'Bytes sent to each backend address (all VIPs it serves).', ['address'], (c, s) => {
    for (const b of s.backends) c.inc({ address: b.address }, num(b.bytes));
  });
  mirrored('sterlet_packets_total', 'Packets by the verdict the XDP program gave (tx, pass, drop) and its reason.', ['verdict', 'reason'], (c, s) => {
    for (const v of s.verdicts) c.inc({ verdict: v.verdict, reason: v.reason }, num(v.packets));
  });
  mirrored('sterlet_bytes_total', 'Bytes by the verdict the XDP program gave (tx, pass, drop) and its reason.', ['verdict', 'reason'], (c, s) => {
    for (const v of s.verdicts) c.inc({ verdict: v.verdict, reason: v.reason }, num(v.bytes));
  });
  mirrored('sterlet_dataplane_events_total', 'Dataplane events on top of the verdicts: connection-table hits/misses/re-picks, QUIC routing, ICMP generated.', ['event'], (c, s) => {
    for (const e of s.events) c.inc({ event: e.event }, num(e.count));
  });
  mirrored('sterlet_quic_packets_total', 'QUIC packets on QUIC VIPs by outcome: routed by server id, or to the ring (unknownId, backendGone, familyMismatch, longHeader).', ['result'], (c, s) => {
    for (const q of s.quic ?? []) c.inc({ result: q.result }, num(q.packets));
  });
  const pairLabels = ['namespace', 'name', 'backend', 'address'] as const;
  mirroredGauge('sterlet_vip_backend_weight', 'Weight of each backend of a VIP as desired (0 = draining).', pairLabels, (g, s) => {
    for (const p of s.pairs ?? []) g.set({ namespace: p.namespace, name: p.name, backend: p.backend, address: p.address }, p.weight);
  });
  mirroredGauge('sterlet_vip_backend_ring_slots', 'Maglev ring slots of each backend of a VIP as programmed (share of new flows = slots / ring size).', pairLabels, (g, s) => {
    for (const p of s.pairs ?? []) g.set({ namespace: p.namespace, name: p.name, backend: p.backend, address: p.address }, p.slots);
  });
  mirroredGauge('sterlet_ring_info', 'Always 1; the fingerprint label identifies the Maglev ring programmed for the VIP.', ['namespace', 'name', 'fingerprint'], (g, s) => {
    for (const r of s.rings ?? []) g.set({ namespace: r.namespace, name: r.name, fingerprint: r.fingerprint }, 1);
  });
}
