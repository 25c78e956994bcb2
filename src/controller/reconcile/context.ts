// What every reconciler shares: the clients and caches, the per-VIP compile
// outcome (always recomputed from the cache, never remembered between
// reconciles, so status does not depend on the order queues drain), node
// liveness, and the one status writer.

import type { Log } from '../../common/log.ts';
import { compile, type CompileOptions } from '../../compile/compile.ts';
import type { LoadBalancerNode } from '../../api/load-balancer-node.ts';
import { DEFAULT_NAMESPACE } from '../../api/meta.ts';
import type { VirtualIP } from '../../api/virtual-ip.ts';
import { type KubeClient, type KubeObject, Resources } from '../../kube/client.ts';
import { mergePatchFor } from '../../kube/merge-patch.ts';
import type { ControllerCache } from '../cache.ts';
import type { EventRecorder } from '../events.ts';
import type { ControllerMetrics } from '../metrics.ts';
import type { NodeView, VipOutcome } from '../status.ts';
import { backendFleetHealth, fleetUnhealthy, vipFleetHealth } from '../health.ts';
import type { Enqueue } from '../work.ts';

export interface ReconcileContext {
  readonly client: KubeClient;
  readonly cache: ControllerCache;
  readonly events: EventRecorder;
  readonly metrics: ControllerMetrics;
  readonly log: Log;
  readonly enqueue: Enqueue;
  /** A node whose agent has not reported for this long no longer counts. */
  readonly heartbeatMs: number;
  /** Resolves spec.backendRef (Services); absent: a backendRef VIP is reported as unresolvable. */
  readonly resolveRef?: CompileOptions['resolveRef'];
}

export function vipId(vip: VirtualIP): string {
  return `${vip.metadata.namespace ?? DEFAULT_NAMESPACE}/${vip.metadata.name}`;
}

/** The compile outcome of one VIP, identical to compiling the whole cluster. */
export function vipOutcome(ctx: ReconcileContext, vip: VirtualIP): VipOutcome {
  const { cache } = ctx;
  const id = vipId(vip);
  const group = cache.claimGroup(id);
  const selected = cache.selectedBackends(vip.metadata.namespace ?? DEFAULT_NAMESPACE, vip.spec.backendSelector);
  // The fleet's health decision from the nodes' reports goes into the compiled state.
  const health = vipFleetHealth(id, nodeViews(ctx));
  const result = compile([...(group.some((v) => v === vip) ? group : [...group, vip]), ...selected], {
    admission: { mode: 'Pools', pools: cache.poolList(), namespaceLabels: cache.namespaceLabels() },
    ...(ctx.resolveRef === undefined ? {} : { resolveRef: ctx.resolveRef }),
    ...(health.failing.size === 0 ? {} : { unhealthy: (_vip: string, address: string) => fleetUnhealthy(backendFleetHealth(health, address)) }),
  });
  return {
    desired: result.state.vips.find((v) => v.id === id),
    problems: result.problems.filter((p) => p.virtualIP === id),
    pool: result.admittedBy.get(id),
  };
}

/** The pool that admits a VIP; admission depends on the claim group, not on backends. */
export function admittingPool(ctx: ReconcileContext, vip: VirtualIP): string | undefined {
  const { cache } = ctx;
  const id = vipId(vip);
  const result = compile(cache.claimGroup(id), {
    admission: { mode: 'Pools', pools: cache.poolList(), namespaceLabels: cache.namespaceLabels() },
  });
  return result.admittedBy.get(id);
}

export function nodeViews(ctx: ReconcileContext, now = Date.now()): NodeView[] {
  return ctx.cache.nodeList().map((node) => ({ node, live: now - heartbeat(node) <= ctx.heartbeatMs }));
}

/** When the node's agent last reported: lastAppliedTime, else when the node registered. */
export function heartbeat(node: LoadBalancerNode): number {
  const t = node.status?.lastAppliedTime ?? node.metadata.creationTimestamp;
  const ms = t === undefined ? Number.NaN : Date.parse(t);
  return Number.isNaN(ms) ? 0 : ms;
}

export type StatusKind = 'VirtualIP' | 'Backend' | 'VirtualIPPool';

/** Merge-patches status when it differs (fields that disappeared, at any depth, are sent as null); true when it wrote. */
export async function writeStatus(ctx: ReconcileContext, raw: KubeObject, next: object, kind: StatusKind): Promise<boolean> {
  const current = (raw['status'] ?? {}) as Record<string, unknown>;
  if (stableJson(pick(current, next)) === stableJson(next) && !hasExtra(current, next)) return false;
  const patch = mergePatchFor(current, next as Record<string, unknown>);
  const { cache } = ctx;
  const target = kind === 'VirtualIP' ? { ref: Resources.virtualIP, informer: cache.vips }
    : kind === 'Backend' ? { ref: Resources.backend, informer: cache.backends }
    : { ref: Resources.virtualIPPool, informer: cache.pools };
  const written = await ctx.client.patchStatus(target.ref, raw.metadata.name, patch, raw.metadata.namespace);
  ctx.metrics.statusWrites.inc({ kind });
  target.informer.upsert(written);
  return true;
}

function pick(current: Record<string, unknown>, next: object): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(next)) if (k in current) out[k] = current[k];
  return out;
}

function hasExtra(current: Record<string, unknown>, next: object): boolean {
  return Object.keys(current).some((k) => !(k in next));
}

function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value).filter(([, v]) => v !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}
