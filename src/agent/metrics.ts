// The agent's Prometheus metrics (served by common/http-endpoints.ts with
// /healthz and /readyz). Dataplane counters are not copied into the
// registry on a timer: each scrape asks the agent's callback once for a fresh
// snapshot of the BPF map counters, so what Prometheus sees is what the
// program counted.

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Counter values read from the pinned maps; u64 map values may be bigints. */
export interface DataplaneCounters {
  readonly vips: readonly { readonly vip: string; readonly packets: Count; readonly bytes: Count }[];
  readonly backends: readonly {
    readonly vip: string;
    readonly backend: string;
    readonly packets: Count;
    readonly bytes: Count;
  }[];
  readonly drops: readonly { readonly reason: string; readonly packets: Count }[];
  /** `repicked`: hits whose backend had been removed, re-picked from the ring (evLruRealGone). */
  readonly lru: { readonly hits: Count; readonly misses: Count; readonly repicked?: Count };
  /** QUIC packets on QUIC VIPs by outcome (routed, unknownId, backendGone, familyMismatch, longHeader). */
  readonly quic?: readonly { readonly result: string; readonly packets: Count }[];
  /** Maglev ring fingerprint per VIP, for fleet consistency dashboards. */
  readonly rings?: readonly { readonly vip: string; readonly fingerprint: string }[];
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
  /** Adds the dataplane counter families, read once per scrape (for a reader built after the metrics). */
  collectDataplane(read: () => DataplaneCounters | Promise<DataplaneCounters>, onError?: (err: unknown) => void): void;
  /** VIPs/backends the last apply left out, by rejection code (AGENT_DUPLICATE_VIP, ...). */
  readonly rejected: Gauge<'code'>;
}

export function createAgentMetrics(options: AgentMetricsOptions = {}): AgentMetrics {
  const registry = new Registry();
  if (options.processMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: 'sterlet_agent_' });
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

  if (options.readCounters !== undefined) registerDataplaneCollectors(registry, options.readCounters, options.onReadError);
  const collectDataplane = (read: () => DataplaneCounters | Promise<DataplaneCounters>, onError?: (err: unknown) => void): void =>
    registerDataplaneCollectors(registry, read, onError);
  return { registry, applyDuration, applyErrors, desiredGeneration, appliedGeneration, collectDataplane, rejected };
}

type Snapshot = () => Promise<DataplaneCounters | undefined>;

/**
 * prom-client collects every metric concurrently; they all share the first
 * read of a scrape instead of reading the maps once per metric.
 */
function snapshotOncePerScrape(
  read: () => DataplaneCounters | Promise<DataplaneCounters>,
  onError: ((err: unknown) => void) | undefined,
): Snapshot {
  let inflight: Promise<DataplaneCounters | undefined> | undefined;
  return () => {
    inflight ??= (async () => {
      try {
        return await read();
      } catch (err) {
        onError?.(err);
        return undefined;
      } finally {
        setImmediate(() => (inflight = undefined));
      }
    })();
    return inflight;
  };
}

function registerDataplaneCollectors(
  registry: Registry,
  read: () => DataplaneCounters | Promise<DataplaneCounters>,
  onError: ((err: unknown) => void) | undefined,
): void {
  const registers = [registry];
  const readErrors = new Counter({
    name: 'sterlet_dataplane_read_errors_total',
    help: 'Scrapes where the dataplane counters could not be read from the maps.',
    registers,
    async collect(): Promise<void> {
      await snapshot(); // so a failure of this scrape is already counted
    },
  });
  const snapshot = snapshotOncePerScrape(read, (err) => {
    readErrors.inc();
    onError?.(err);
  });

  // Counters whose value is replaced from the snapshot at every scrape.
  const mirrored = <L extends string>(
    name: string,
    help: string,
    labelNames: readonly L[],
    fill: (c: Counter<L>, s: DataplaneCounters) => void,
  ): void => {
    new Counter<L>({
      name,
      help,
      labelNames,
      registers,
      async collect(this: Counter<L>): Promise<void> {
        const s = await snapshot();
        this.reset();
        if (s === undefined) return;
        fill(this, s);
      },
    });
  };
  mirrored('sterlet_vip_packets_total', 'Packets the XDP program handled per VIP.', ['vip'], (c, s) => {
    for (const v of s.vips) c.inc({ vip: v.vip }, num(v.packets));
  });
  mirrored('sterlet_vip_bytes_total', 'Bytes the XDP program handled per VIP.', ['vip'], (c, s) => {
    for (const v of s.vips) c.inc({ vip: v.vip }, num(v.bytes));
  });
  mirrored('sterlet_backend_packets_total', 'Packets sent to each backend.', ['vip', 'backend'], (c, s) => {
    for (const b of s.backends) c.inc({ vip: b.vip, backend: b.backend }, num(b.packets));
  });
  mirrored('sterlet_backend_bytes_total', 'Bytes sent to each backend.', ['vip', 'backend'], (c, s) => {
    for (const b of s.backends) c.inc({ vip: b.vip, backend: b.backend }, num(b.bytes));
  });
  mirrored('sterlet_drops_total', 'Packets dropped by the XDP program, by reason.', ['reason'], (c, s) => {
    for (const d of s.drops) c.inc({ reason: d.reason }, num(d.packets));
  });
  mirrored('sterlet_lru_hits_total', 'Connection-table lookups that found the flow.', [], (c, s) => {
    c.inc(num(s.lru.hits));
  });
  mirrored('sterlet_lru_misses_total', 'Connection-table lookups that missed (new or evicted flow).', [], (c, s) => {
    c.inc(num(s.lru.misses));
  });
  mirrored('sterlet_lru_repicked_after_backend_removal_total', 'Connection-table hits whose backend was removed: re-picked from the ring (also counted as misses).', [], (c, s) => {
    c.inc(num(s.lru.repicked ?? 0));
  });
  mirrored('sterlet_quic_packets_total', 'QUIC packets on QUIC VIPs by outcome: routed by server id, or to the ring (unknownId, backendGone, familyMismatch, longHeader).', ['result'], (c, s) => {
    for (const q of s.quic ?? []) c.inc({ result: q.result }, num(q.packets));
  });
  new Gauge({
    name: 'sterlet_ring_info',
    help: 'Always 1; the fingerprint label identifies the Maglev ring programmed for the VIP.',
    labelNames: ['vip', 'fingerprint'] as const,
    registers,
    async collect(this: Gauge<'vip' | 'fingerprint'>): Promise<void> {
      const s = await snapshot();
      this.reset();
      for (const r of s?.rings ?? []) this.set({ vip: r.vip, fingerprint: r.fingerprint }, 1);
    },
  });
}

function num(v: Count): number {
  return typeof v === 'bigint' ? Number(v) : v;
}
