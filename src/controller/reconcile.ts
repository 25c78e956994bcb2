// Level-triggered reconcile of one key, always recomputed from the caches:
// VirtualIP -> compile (its claim group and selected backends only, which
// gives exactly the cluster-wide result for it) -> status with conditions and
// status.compiled -> Events on transitions; the finalizer holds deletion until
// no live node reports the VIP. Backend -> which VIPs use it. Invalid input is
// a condition, never an error: only API failures are retried with backoff.

import type { Logger } from 'pino';
import { z } from 'zod';
import { Backend } from '../api/backend.ts';
import { compile } from '../compile/compile.ts';
import type { LoadBalancerNode } from '../api/load-balancer-node.ts';
import { API_VERSION, type Condition } from '../api/meta.ts';
import type { Problem } from '../api/problems.ts';
import { VirtualIP } from '../api/virtual-ip.ts';
import { type KubeClient, type KubeObject, Resources } from '../kube/client.ts';
import { VirtualIPPool } from '../api/virtual-ip-pool.ts';
import { BACKEND_PREFIX, type ControllerCache, FINALIZER_PREFIX, POOL_PREFIX } from './cache.ts';
import { ConditionType, EventReason, transitions } from './conditions.ts';
import type { EventRecorder } from './events.ts';
import type { ControllerMetrics } from './metrics.ts';
import { poolStatus } from './pool-status.ts';
import { backendStatus, type NodeView, type VipOutcome, vipStatus } from './status.ts';

export const FINALIZER = 'sterlet.dev/dataplane';
/** Server-side apply field manager of the controller's own metadata (the finalizer). */
export const FIELD_MANAGER = 'sterlet-controller';

export interface ReconcilerOptions {
  readonly client: KubeClient;
  readonly cache: ControllerCache;
  readonly events: EventRecorder;
  readonly metrics: ControllerMetrics;
  readonly log: Pick<Logger, 'debug' | 'info' | 'warn'>;
  readonly enqueue: (key: string) => void;
  /** A node whose agent has not reported for this long no longer counts (default 90 s). */
  readonly heartbeatTimeoutMs?: number;
}

/** What a reconcile asks of the queue besides "done". */
export interface ReconcileResult {
  readonly requeueAfterMs?: number;
}

interface Usage {
  readonly namespace: string;
  readonly backends: ReadonlySet<string>;
  readonly backendProblems: readonly Problem[];
  readonly conflict: boolean;
  /** VirtualIPPool that admitted it (counted in that pool's status). */
  readonly pool: string | undefined;
}

export class Reconciler {
  readonly #o: ReconcilerOptions;
  readonly #heartbeatMs: number;
  /** Last outcome per VIP key: which Backends it uses and which it excluded. */
  readonly #usage = new Map<string, Usage>();

  constructor(options: ReconcilerOptions) {
    this.#o = options;
    this.#heartbeatMs = options.heartbeatTimeoutMs ?? 90_000;
  }

  #liveNodes = '';

  /** True when the set of live nodes changed since the last call (heartbeats expire with time, not events). */
  livenessChanged(): boolean {
    const live = this.nodeViews().filter((n) => n.live).map((n) => n.node.metadata.name).sort().join(',');
    const changed = live !== this.#liveNodes;
    this.#liveNodes = live;
    return changed;
  }

  nodeViews(now = Date.now()): NodeView[] {
    return this.#o.cache.nodeList().map((node) => ({ node, live: now - heartbeat(node) <= this.#heartbeatMs }));
  }

  /** The compile outcome of one VIP, identical to compiling the whole cluster. */
  outcome(vip: VirtualIP): VipOutcome {
    const { cache } = this.#o;
    const id = `${vip.metadata.namespace ?? 'default'}/${vip.metadata.name}`;
    const group = cache.claimGroup(id);
    const selected = cache.selectedBackends(vip.metadata.namespace ?? 'default', vip.spec.backendSelector);
    const result = compile([...(group.some((v) => v === vip) ? group : [...group, vip]), ...selected], {
      admission: { mode: 'Pools', pools: cache.poolList(), namespaceLabels: cache.namespaceLabels() },
    });
    return {
      desired: result.state.vips.find((v) => v.id === id),
      problems: result.problems.filter((p) => p.virtualIP === id),
      pool: result.admittedBy.get(id),
    };
  }

  async reconcileVip(key: string): Promise<ReconcileResult> {
    const { cache, client } = this.#o;
    const raw = cache.vips.get(key);
    if (raw === undefined) {
      this.#setUsage(key, undefined);
      return {};
    }
    const parsed = cache.parse(VirtualIP, raw);
    if (parsed instanceof z.ZodError) {
      this.#o.log.warn({ vip: key, err: parsed.message }, 'VirtualIP does not parse; the CRD schema should have rejected it');
      return {};
    }
    const deleting = raw.metadata.deletionTimestamp !== undefined;
    const finalizers = raw.metadata.finalizers ?? [];
    if (deleting && !finalizers.includes(FINALIZER)) return {};

    const outcome = this.outcome(parsed);
    const nodes = this.nodeViews();
    const result = vipStatus(key, parsed, outcome, nodes, { deleting, now: new Date().toISOString() });
    const previous = parsed.status?.conditions;
    // One write on the critical path: status (what agents program from). The finalizer
    // is added from a lower-priority queue that waits while VIPs are pending, so an
    // initial sync publishes every VIP before spending writes on finalizers; a delete
    // before the finalizer lands is seen by agents as a delete.
    await this.#writeStatus(raw, result.status, 'VirtualIP');
    if (!deleting && !finalizers.includes(FINALIZER)) this.#o.enqueue(`${FINALIZER_PREFIX}${key}`);
    this.#emitTransitions(raw, previous, result.inputs);
    this.#setUsage(key, deleting ? undefined : {
      namespace: parsed.metadata.namespace ?? 'default',
      backends: new Set(outcome.desired?.backends.map((b) => b.name) ?? []),
      backendProblems: outcome.problems.filter((p) => p.object.kind === 'Backend'),
      conflict: outcome.problems.some((p) => p.code === 'DUPLICATE_VIP'),
      pool: outcome.pool,
    });

    if (deleting) {
      if (result.summary.stillReporting.length > 0) {
        this.#o.log.debug({ vip: key, nodes: result.summary.stillReporting }, 'waiting for nodes to withdraw the VIP');
        return { requeueAfterMs: 2_000 };
      }
      const current = cache.vips.get(key) ?? raw;
      const remaining = (current.metadata.finalizers ?? []).filter((f) => f !== FINALIZER);
      await client.mergePatch(Resources.virtualIP, raw.metadata.name,
        { metadata: { finalizers: remaining.length === 0 ? null : remaining, resourceVersion: current.metadata.resourceVersion } },
        { namespace: raw.metadata.namespace });
      this.#o.log.info({ vip: key }, 'withdrawn from every live node; finalizer removed');
      return {};
    }
    // Pending nodes report through LoadBalancerNode events; this only bounds staleness.
    return {};
  }

  async reconcileBackend(key: string): Promise<ReconcileResult> {
    const { cache } = this.#o;
    const raw = cache.backends.get(key);
    if (raw === undefined) return {};
    const parsed = cache.parse(Backend, raw);
    if (parsed instanceof z.ZodError) return {};
    const ns = parsed.metadata.namespace ?? 'default';
    const usedBy: string[] = [];
    const problems: Problem[] = [];
    for (const vipKey of cache.vipKeysIn(ns)) {
      const usage = this.#usage.get(vipKey);
      if (usage === undefined) continue;
      if (usage.backends.has(parsed.metadata.name)) usedBy.push(vipKey.slice(ns.length + 1));
      problems.push(...usage.backendProblems.filter((p) => p.object.name === parsed.metadata.name));
    }
    const status = backendStatus(parsed, usedBy, problems, new Date().toISOString());
    await this.#writeStatus(raw, status, 'Backend');
    return {};
  }

  /**
   * Adds the finalizer with a server-side apply that names only our entry and no
   * resourceVersion, so it never conflicts with a concurrent status write.
   */
  async reconcileFinalizer(key: string): Promise<ReconcileResult> {
    const { cache, client } = this.#o;
    const raw = cache.vips.get(key);
    if (raw === undefined || raw.metadata.deletionTimestamp !== undefined || (raw.metadata.finalizers ?? []).includes(FINALIZER)) return {};
    const applied = await client.apply(Resources.virtualIP, {
      apiVersion: API_VERSION, kind: 'VirtualIP',
      // The uid is a precondition: never touch a VIP deleted and re-made meanwhile.
      metadata: { name: raw.metadata.name, ...(raw.metadata.namespace === undefined ? {} : { namespace: raw.metadata.namespace }),
        ...(raw.metadata.uid === undefined ? {} : { uid: raw.metadata.uid }), finalizers: [FINALIZER] },
    }, FIELD_MANAGER);
    cache.vips.upsert(applied);
    return {};
  }

  /** Writes a pool's status: how many VIPs it admits (from the last VIP reconciles) and its overlaps. */
  async reconcilePool(name: string): Promise<ReconcileResult> {
    const { cache } = this.#o;
    const raw = cache.pools.get(name);
    if (raw === undefined || raw.metadata.deletionTimestamp !== undefined) return {};
    const parsed = cache.parse(VirtualIPPool, raw);
    if (parsed instanceof z.ZodError) return {};
    let admitted = 0;
    for (const u of this.#usage.values()) if (u.pool === name) admitted++;
    const status = poolStatus(parsed, cache.poolList(), admitted, new Date().toISOString());
    await this.#writeStatus(raw, status, 'VirtualIPPool');
    return {};
  }

  /** VIPs currently refused with Conflict (for the metric). */
  conflictCount(): number {
    let n = 0;
    for (const u of this.#usage.values()) if (u.conflict) n++;
    return n;
  }

  #setUsage(key: string, next: Usage | undefined): void {
    const prev = this.#usage.get(key);
    if (next === undefined) this.#usage.delete(key);
    else this.#usage.set(key, next);
    const ns = next?.namespace ?? prev?.namespace;
    if (prev?.pool !== next?.pool) {
      for (const pool of [prev?.pool, next?.pool]) if (pool !== undefined) this.#o.enqueue(`${POOL_PREFIX}${pool}`);
    }
    if (ns === undefined) return;
    const touched = new Set<string>([...(prev?.backends ?? []), ...(next?.backends ?? [])]);
    for (const p of [...(prev?.backendProblems ?? []), ...(next?.backendProblems ?? [])]) touched.add(p.object.name);
    for (const name of touched) {
      const was = prev?.backends.has(name) === true || prev?.backendProblems.some((p) => p.object.name === name) === true;
      const is = next?.backends.has(name) === true || next?.backendProblems.some((p) => p.object.name === name) === true;
      if (was !== is || prev === undefined || next === undefined) this.#o.enqueue(`${BACKEND_PREFIX}${ns}/${name}`);
    }
    this.#o.metrics.conflicts.set(this.conflictCount());
  }

  /** Merge-patches status when it differs; fields that disappeared are sent as null. */
  async #writeStatus(raw: KubeObject, next: object, kind: 'VirtualIP' | 'Backend' | 'VirtualIPPool'): Promise<void> {
    const current = (raw['status'] ?? {}) as Record<string, unknown>;
    if (stableJson(pick(current, next)) === stableJson(next) && !hasExtra(current, next)) return;
    const patch: Record<string, unknown> = { ...next };
    for (const k of Object.keys(current)) if (!(k in next)) patch[k] = null;
    const { cache } = this.#o;
    const target = kind === 'VirtualIP' ? { ref: Resources.virtualIP, informer: cache.vips }
      : kind === 'Backend' ? { ref: Resources.backend, informer: cache.backends }
      : { ref: Resources.virtualIPPool, informer: cache.pools };
    const written = await this.#o.client.patchStatus(target.ref, raw.metadata.name, patch, raw.metadata.namespace);
    this.#o.metrics.statusWrites.inc({ kind });
    target.informer.upsert(written);
  }

  /** Queues Events for condition transitions; never waits for them (they are best effort). */
  #emitTransitions(raw: KubeObject, previous: readonly Condition[] | undefined, inputs: readonly { type: string; status: string; reason: string; message: string }[]): void {
    const changed = transitions(previous, inputs.filter((c) => c.type === ConditionType.Accepted || c.type === ConditionType.Programmed || c.type === ConditionType.ResolvedRefs) as never);
    for (const c of changed) {
      const event = eventFor(c.type, c.status, c.reason, c.message, previous !== undefined);
      if (event !== undefined) this.#o.events.record(raw, event);
    }
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
  if (type === ConditionType.ResolvedRefs && status === 'False') {
    return { type: 'Warning', reason: EventReason.BackendsExcluded, note: `${reason}: ${message}` };
  }
  return undefined;
}

/** When the node's agent last reported: lastAppliedTime, else when the node registered. */
export function heartbeat(node: LoadBalancerNode): number {
  const t = node.status?.lastAppliedTime ?? node.metadata.creationTimestamp;
  const ms = t === undefined ? Number.NaN : Date.parse(t);
  return Number.isNaN(ms) ? 0 : ms;
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
