// prom-client's Node.js process metrics under a component prefix, minus the
// three gauges it names `*_total` (nodejs_active_{handles,requests,resources}_total):
// a `_total` suffix promises a counter, so `promtool check metrics` rejects them.
// Nothing is lost: the same values, by type, stay as nodejs_active_* (sum them).

import { collectDefaultMetrics, type Registry } from 'prom-client';

const GAUGES_NAMED_LIKE_COUNTERS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'] as const;

export function registerProcessMetrics(registry: Registry, prefix: string): void {
  collectDefaultMetrics({ register: registry, prefix });
  for (const name of GAUGES_NAMED_LIKE_COUNTERS) registry.removeSingleMetric(`${prefix}${name}`);
}
