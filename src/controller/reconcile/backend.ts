// Backend: which VirtualIPs use it and which excluded it, derived from the
// cache (the VIPs whose selector matches its labels, each compiled as the VIP
// reconciler compiles it), so the answer is the same whatever ran first.

import { z } from 'zod';
import { Backend } from '../../api/backend.ts';
import { DEFAULT_NAMESPACE } from '../../api/meta.ts';
import type { Problem } from '../../api/problems.ts';
import { backendFleetHealth, vipFleetHealth } from '../health.ts';
import { backendStatus, type BackendHealthView } from '../status.ts';
import type { ReconcileResult } from '../work.ts';
import { drainedCondition } from '../drain.ts';
import { nodeViews, vipId, vipOutcome, writeStatus, type ReconcileContext } from './context.ts';

export async function reconcileBackend(ctx: ReconcileContext, key: string): Promise<ReconcileResult> {
  const { cache } = ctx;
  const raw = cache.backends.get(key);
  if (raw === undefined) return {};
  const parsed = cache.parse(Backend, raw);
  if (parsed instanceof z.ZodError) return {};
  const ns = parsed.metadata.namespace ?? DEFAULT_NAMESPACE;
  const name = parsed.metadata.name;
  const usedBy: string[] = [];
  const problems: Problem[] = [];
  const health: BackendHealthView[] = [];
  const nodes = nodeViews(ctx);
  for (const vipKey of cache.vipsSelecting(ns, parsed.metadata.labels)) {
    const vip = cache.vip(vipKey);
    if (vip === undefined || vip.metadata.deletionTimestamp !== undefined) continue;
    const outcome = vipOutcome(ctx, vip);
    const served = outcome.desired?.backends.find((b) => b.name === name);
    if (served !== undefined) usedBy.push(vip.metadata.name);
    const checked = served !== undefined && served.unchecked !== true && (served.healthCheck ?? outcome.desired?.healthCheck) !== undefined;
    if (checked) health.push({ vip: vip.metadata.name, ...backendFleetHealth(vipFleetHealth(vipId(vip), nodes), served.address) });
    problems.push(...outcome.problems.filter((p) => p.object.kind === 'Backend' && p.object.name === name));
  }
  usedBy.sort();
  const drained = drainedCondition(parsed.spec, nodeViews(ctx));
  health.sort((a, b) => (a.vip < b.vip ? -1 : 1));
  const status = backendStatus(parsed, usedBy, problems, new Date().toISOString(), drained, health);
  await writeStatus(ctx, raw, status, 'Backend');
  return {};
}
