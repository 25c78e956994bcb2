// VirtualIP: compile (its claim group and selected backends only, which gives
// exactly the cluster-wide result for it) -> status with conditions and
// status.compiled -> Events on transitions; the finalizer holds deletion until
// no live node reports the VIP. Invalid input is a condition, never an error:
// only API failures are retried with backoff.

import { z } from 'zod';
import { DEFAULT_NAMESPACE, type Condition } from '../../api/meta.ts';
import { VirtualIP } from '../../api/virtual-ip.ts';
import { Resources } from '../../kube/client.ts';
import type { KubeObject } from '../../kube/client.ts';
import { ConditionType, EventReason, Reason, transitions } from '../conditions.ts';
import { vipStatus } from '../status.ts';
import type { ReconcileResult } from '../work.ts';
import { nodeViews, vipOutcome, writeStatus, type ReconcileContext } from './context.ts';
import { vipFleetHealth } from '../health.ts';

/** Per context: the last node health view of each VIP, so its Backends are re-reconciled only when it moves. */
const healthSeen = new WeakMap<ReconcileContext, Map<string, string>>();

function healthMoved(ctx: ReconcileContext, key: string): boolean {
  const seen = healthSeen.get(ctx) ?? new Map<string, string>();
  healthSeen.set(ctx, seen);
  const h = vipFleetHealth(key, nodeViews(ctx));
  const text = h.checked === 0 ? '' : `${h.checked}|${[...h.failing].map(([a, f]) => `${a}=${f.count}:${f.message}`).sort().join(',')}`;
  if (seen.get(key) === text) return false;
  seen.set(key, text);
  return true;
}

export const FINALIZER = 'sterlet.dev/dataplane';

export async function reconcileVirtualIP(ctx: ReconcileContext, key: string, conflicts: Set<string>): Promise<ReconcileResult> {
  const { cache, client } = ctx;
  const raw = cache.vips.get(key);
  if (raw === undefined) {
    setConflict(ctx, conflicts, key, false);
    ctx.metrics.setVipNodes(key, undefined);
    ctx.metrics.setRingMismatch(key, undefined);
    return {};
  }
  const parsed = cache.parse(VirtualIP, raw);
  if (parsed instanceof z.ZodError) {
    ctx.log.warn({ vip: key, err: parsed.message }, 'VirtualIP does not parse; the CRD schema should have rejected it');
    return {};
  }
  const deleting = raw.metadata.deletionTimestamp !== undefined;
  const finalizers = raw.metadata.finalizers ?? [];
  if (deleting && !finalizers.includes(FINALIZER)) return {};

  const outcome = vipOutcome(ctx, parsed);
  const result = vipStatus(key, parsed, outcome, nodeViews(ctx), { deleting, now: new Date().toISOString() });
  ctx.metrics.setVipNodes(key, { selected: result.summary.total, programmed: result.summary.programmed });
  ctx.metrics.setRingMismatch(key, result.summary.ringMismatch?.since);
  const previous = parsed.status?.conditions;
  // One write on the critical path: status (what agents program from). The finalizer
  // is added from a lower-priority queue that waits while VIPs are pending, so an
  // initial sync publishes every VIP before spending writes on finalizers; a delete
  // before the finalizer lands is seen by agents as a delete.
  await writeStatus(ctx, raw, result.status, 'VirtualIP');
  if (!deleting && !finalizers.includes(FINALIZER)) ctx.enqueue('Finalizer', key);
  emitTransitions(ctx, raw, previous, result.inputs);
  setConflict(ctx, conflicts, key, !deleting && outcome.problems.some((p) => p.code === 'DUPLICATE_VIP'));
  // Backend and pool status are derived from what this VIP resolves to: recompute
  // them when that moved (the backends it serves, its ResolvedRefs or Accepted condition).
  const ns = parsed.metadata.namespace ?? DEFAULT_NAMESPACE;
  const nextBackends = deleting ? [] : (outcome.desired?.backends.map((b) => b.name) ?? []);
  const condition = (list: readonly { type: string; message: string }[] | undefined, type: string): string | undefined =>
    list?.find((c) => c.type === type)?.message;
  if (
    healthMoved(ctx, key) ||
    !sameNames(compiledBackendNames(raw), nextBackends) ||
    condition(previous, ConditionType.ResolvedRefs) !== condition(result.inputs, ConditionType.ResolvedRefs)
  ) {
    const names = new Set<string>([
      ...compiledBackendNames(raw),
      ...nextBackends,
      ...outcome.problems.filter((p) => p.object.kind === 'Backend').map((p) => p.object.name),
      ...cache.selectedBackends(ns, parsed.spec.backendSelector).map((b) => b.metadata.name),
    ]);
    for (const name of names) ctx.enqueue('Backend', `${ns}/${name}`);
  }
  if (deleting || condition(previous, ConditionType.Accepted) !== condition(result.inputs, ConditionType.Accepted)) cache.enqueueAllPools();

  if (deleting) {
    if (result.summary.stillReporting.length > 0) {
      ctx.log.debug({ vip: key, nodes: result.summary.stillReporting }, 'waiting for nodes to withdraw the VIP');
      return { requeueAfterMs: 2_000 };
    }
    const current = cache.vips.get(key) ?? raw;
    const remaining = (current.metadata.finalizers ?? []).filter((f) => f !== FINALIZER);
    await client.mergePatch(Resources.virtualIP, raw.metadata.name,
      { metadata: { finalizers: remaining.length === 0 ? null : remaining, resourceVersion: current.metadata.resourceVersion } },
      { namespace: raw.metadata.namespace });
    ctx.log.info({ vip: key }, 'withdrawn from every live node; finalizer removed');
  }
  // Pending nodes report through LoadBalancerNode events; nothing to poll. A ring
  // mismatch is re-checked so its message keeps saying for how long.
  const mismatch = result.summary.ringMismatch;
  return mismatch === undefined ? {} : { requeueAfterMs: mismatch.refreshAfterMs };
}

function setConflict(ctx: ReconcileContext, conflicts: Set<string>, key: string, conflict: boolean): void {
  if (conflict) conflicts.add(key);
  else conflicts.delete(key);
  ctx.metrics.conflicts.set(conflicts.size);
}

function sameNames(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && [...a].sort().join('\0') === [...b].sort().join('\0');
}

/** Backend names in the status.compiled the VIP had before this reconcile. */
function compiledBackendNames(raw: KubeObject): string[] {
  const compiled = (raw['status'] as { compiled?: { backends?: { name?: unknown }[] } } | undefined)?.compiled;
  return (compiled?.backends ?? []).map((b) => b.name).filter((n): n is string => typeof n === 'string');
}

/** Queues Events for condition transitions; never waits for them (they are best effort). */
function emitTransitions(ctx: ReconcileContext, raw: KubeObject, previous: readonly Condition[] | undefined, inputs: readonly { type: string; status: string; reason: string; message: string }[]): void {
  const changed = transitions(previous, inputs.filter((c) => c.type === ConditionType.Accepted || c.type === ConditionType.Programmed || c.type === ConditionType.ResolvedRefs || c.type === ConditionType.Healthy) as never);
  for (const c of changed) {
    const event = eventFor(c.type, c.status, c.reason, c.message, previous !== undefined);
    if (event !== undefined) ctx.events.record(raw, event);
  }
}

function eventFor(type: string, status: string, reason: string, message: string, hadStatus: boolean): { type: 'Normal' | 'Warning'; reason: string; note: string } | undefined {
  if (type === ConditionType.Accepted) {
    return status === 'True'
      ? { type: 'Normal', reason: EventReason.Accepted, note: message }
      : { type: 'Warning', reason: EventReason.NotAccepted, note: `${reason}: ${message}` };
  }
  if (type === ConditionType.Programmed) {
    if (status === 'True') return { type: 'Normal', reason: EventReason.Programmed, note: message };
    if (reason === 'NodeError' || reason === 'RingMismatch') return { type: 'Warning', reason: EventReason.ProgrammingFailed, note: `${reason}: ${message}` };
    if (reason === 'Withdrawn' && hadStatus) return { type: 'Normal', reason: EventReason.Withdrawn, note: message };
    return undefined; // Pending is progress, not news
  }
  if (type === ConditionType.Healthy) {
    if (reason === Reason.FailOpen) return { type: 'Warning', reason: EventReason.FailOpen, note: message };
    if (status === 'False') return { type: 'Warning', reason: EventReason.BackendUnhealthy, note: message };
    return hadStatus ? { type: 'Normal', reason: EventReason.Healthy, note: message } : undefined;
  }
  if (type === ConditionType.ResolvedRefs && status === 'False') {
    return { type: 'Warning', reason: EventReason.BackendsExcluded, note: `${reason}: ${message}` };
  }
  return undefined;
}
