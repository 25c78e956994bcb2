// Prometheus metrics of `sterlet decap --foreground` (backend nodes): the
// decap program's counters, one family with verdict/reason labels, read from
// its pinned map once per scrape, plus the process metrics.

import { Registry } from 'prom-client';
import type { Log } from '../../common/log.ts';
import { startEndpoints } from '../../common/http-endpoints.ts';
import { registerProcessMetrics } from '../../common/process-metrics.ts';
import { BpfMap, xdpQuery } from '../../libbpf/libbpf.ts';
import { DECAP_SERIES, type DecapStatName } from './counters.ts';
import { decapPins } from './pin-layout.ts';
import { readDecapStats, type DecapStatsSnapshot } from './stats.ts';
import { mirroredMetrics, num } from '../mirrored.ts';

export interface DecapMetricsOptions {
  readonly readCounters: () => DecapStatsSnapshot | Promise<DecapStatsSnapshot>;
  readonly onReadError?: (err: unknown) => void;
  /** Node.js process metrics; default true. */
  readonly processMetrics?: boolean;
}

export function createDecapMetrics(options: DecapMetricsOptions): Registry {
  const registry = new Registry();
  if (options.processMetrics ?? true) registerProcessMetrics(registry, 'sterlet_decap_');
  const m = mirroredMetrics({ registry, read: options.readCounters, readErrorsName: 'sterlet_decap_read_errors_total', onError: options.onReadError });
  const names = Object.keys(DECAP_SERIES) as DecapStatName[];
  m.counter('sterlet_decap_packets_total', 'Packets the decap program handled, by verdict (decapsulated, pass, drop) and reason.', ['verdict', 'reason'], (c, s) => {
    for (const n of names) c.inc({ ...DECAP_SERIES[n] }, num(s.counters[n].packets));
  });
  m.counter('sterlet_decap_bytes_total', 'Bytes the decap program handled, by verdict (decapsulated, pass, drop) and reason.', ['verdict', 'reason'], (c, s) => {
    for (const n of names) c.inc({ ...DECAP_SERIES[n] }, num(s.counters[n].bytes));
  });
  return registry;
}

export interface ServeDecapOptions {
  readonly bpffs: string;
  readonly ifindex: number;
  readonly programId: number;
  readonly listen: { host: string; port: number } | undefined;
  readonly log: Log;
}

/** Serves the decap counters until SIGTERM/SIGINT; ready while our program is the one attached. */
export async function serveDecapUntilStopped(o: ServeDecapOptions): Promise<void> {
  const stats = o.listen === undefined ? undefined : BpfMap.fromPinned(decapPins(o.bpffs).map('stats'));
  const controller = new AbortController();
  try {
    const server =
      stats === undefined || o.listen === undefined
        ? undefined
        : await startEndpoints({
            port: o.listen.port,
            host: o.listen.host,
            registry: createDecapMetrics({
              readCounters: () => readDecapStats(stats),
              onReadError: (err) => o.log.warn({ err }, 'reading decap counters failed'),
            }),
            ready: () => xdpQuery(o.ifindex).progId === o.programId,
            signal: controller.signal,
          });
    if (server !== undefined) o.log.info({ metrics: server.url }, 'serving decap metrics');
    const signal = await new Promise<string>((resolve) => {
      // Signal listeners do not keep Node's event loop alive (with no metrics
      // server the process would end at once, exit 13): this timer does.
      const keepAlive = setInterval(() => undefined, 2 ** 30);
      const stop = (name: string): void => {
        clearInterval(keepAlive);
        resolve(name);
      };
      process.once('SIGTERM', () => stop('SIGTERM'));
      process.once('SIGINT', () => stop('SIGINT'));
    });
    controller.abort();
    await server?.close();
    o.log.info({ signal }, 'stopping; the decap program stays attached');
  } finally {
    stats?.close();
  }
}
