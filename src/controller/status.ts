// Pure status computation: what a VirtualIP's and a Backend's status should say
// given the compile outcome and what the load-balancer nodes report. No I/O,
// so every condition rule is unit-tested without a cluster.

import type { CompiledVip, DesiredVip } from '../api/desired-state.ts';
import type { LoadBalancerNode } from '../api/load-balancer-node.ts';
import type { Condition } from '../api/meta.ts';
import { type Problem, ProblemEffect } from '../api/problems.ts';
import { matchesSelector } from '../compile/selector.ts';
import type { VirtualIP } from '../api/virtual-ip.ts';
import { type ConditionInput, ConditionType, mergeConditions, Reason } from './conditions.ts';
import { vipFleetHealth } from './health.ts';
import { type RingMismatch, ringMismatch } from './ring-mismatch.ts';

export interface VipStatusBody {
  observedGeneration: number;
  conditions: Condition[];
  backends?: number;
  activeBackends?: number;
  healthyBackends?: number;
  nodes?: string;
  compiled?: CompiledVip;
}

export interface VipOutcome {
  /** The VIP's entry in the compiled state; undefined when it is not served. */
  readonly desired: DesiredVip | undefined;
  /** Problems whose virtualIP is this VIP. */
  readonly problems: readonly Problem[];
  /** Pool that admitted it (pool mode). */
  readonly pool: string | undefined;
}

export interface NodeView {
  readonly node: LoadBalancerNode;
  /** False when its agent has not reported for longer than the heartbeat timeout. */
  readonly live: boolean;
}

export interface ProgrammedSummary {
  readonly total: number;
  readonly programmed: number;
  readonly condition: ConditionInput;
  /** Live nodes that still report this VIP (any revision): what the finalizer waits for. */
  readonly stillReporting: readonly string[];
  /** Set while the nodes at the current revision build different rings. */
  readonly ringMismatch?: RingMismatch;
}

/** Whether every selected live node runs the current revision with one ring fingerprint; `now` is RFC 3339. */
export function programmedSummary(vipId: string, vip: VirtualIP, desired: DesiredVip | undefined, nodes: readonly NodeView[], now: string): ProgrammedSummary {
  const stillReporting = nodes
    .filter((n) => n.live && (n.node.status?.virtualIPs ?? []).some((v) => v.id === vipId))
    .map((n) => n.node.metadata.name)
    .sort();
  const selected = nodes.filter((n) => matchesSelector(vip.spec.nodeSelector, n.node.metadata.labels));
  const live = selected.filter((n) => n.live);
  const stale = selected.filter((n) => !n.live).map((n) => n.node.metadata.name);
  const staleNote = stale.length === 0 ? '' : `; not counted (no heartbeat): ${stale.join(', ')}`;
  const total = live.length;
  if (desired === undefined) {
    return { total, programmed: 0, stillReporting, condition: { type: ConditionType.Programmed, status: 'False', reason: Reason.Withdrawn, message: 'not served: nothing is published to the load-balancer nodes (see Accepted and ResolvedRefs)' } };
  }
  if (total === 0) {
    return {
      total, programmed: 0, stillReporting,
      condition: { type: ConditionType.Programmed, status: 'False', reason: Reason.NoNodes, message: `no live LoadBalancerNode matches the nodeSelector${staleNote}` },
    };
  }
  const errors: string[] = [];
  const done: { name: string; fingerprint: string | undefined }[] = [];
  const waiting: string[] = [];
  for (const { node } of live) {
    const entry = (node.status?.virtualIPs ?? []).find((v) => v.id === vipId);
    if (entry?.error !== undefined) errors.push(`${node.metadata.name}: ${entry.error.code}: ${entry.error.message}`);
    else if (entry !== undefined && entry.revision === desired.revision) done.push({ name: node.metadata.name, fingerprint: entry.ringFingerprint });
    else waiting.push(node.metadata.name);
  }
  const programmed = done.length;
  const counts = `programmed on ${programmed}/${total} nodes`;
  let condition: ConditionInput;
  const previous = vip.status?.conditions?.find((c) => c.type === ConditionType.Programmed);
  const mismatch = errors.length === 0 && programmed === total ? ringMismatch(done, previous, now) : undefined;
  if (errors.length > 0) {
    condition = { type: ConditionType.Programmed, status: 'False', reason: Reason.NodeError, message: `${counts}; errors: ${errors.join('; ')}${staleNote}` };
  } else if (programmed < total) {
    condition = { type: ConditionType.Programmed, status: 'False', reason: Reason.Pending, message: `${counts}; waiting for revision ${desired.revision} on ${waiting.join(', ')}${staleNote}` };
  } else if (mismatch !== undefined) {
    condition = {
      type: ConditionType.Programmed, status: 'False', reason: Reason.RingMismatch, since: mismatch.since,
      message: `${counts} but their Maglev ${mismatch.text}: the same flow may reach different backends via different nodes${staleNote}`,
    };
    return { total, programmed, stillReporting, condition, ringMismatch: mismatch };
  } else {
    condition = { type: ConditionType.Programmed, status: 'True', reason: Reason.AllNodesProgrammed, message: `${counts}${staleNote}` };
  }
  return { total, programmed, stillReporting, condition };
}

function acceptedCondition(outcome: VipOutcome): ConditionInput {
  const blocking = outcome.problems.find((p) => p.effect === ProblemEffect.VirtualIPExcluded && p.code !== 'NO_BACKENDS' && p.code !== 'BACKEND_REF_NOT_FOUND');
  if (blocking !== undefined) {
    return { type: ConditionType.Accepted, status: 'False', reason: blocking.reason, message: blocking.message };
  }
  const pool = outcome.pool === undefined ? '' : ` by VirtualIPPool ${outcome.pool}`;
  return { type: ConditionType.Accepted, status: 'True', reason: Reason.Valid, message: `valid, admitted${pool}, no conflicting VirtualIP` };
}

function resolvedRefsCondition(outcome: VipOutcome, accepted: boolean): ConditionInput {
  const type = ConditionType.ResolvedRefs;
  if (!accepted) return { type, status: 'Unknown', reason: Reason.NotAccepted, message: 'backends are not resolved for a VirtualIP that is not accepted' };
  const none = outcome.problems.find((p) => p.code === 'NO_BACKENDS' || p.code === 'BACKEND_REF_NOT_FOUND');
  if (none !== undefined) return { type, status: 'False', reason: none.reason, message: none.message };
  const backends = outcome.desired?.backends ?? [];
  const active = backends.filter((b) => b.weight > 0).length;
  const counts = `${backends.length} backends selected, ${active} with weight > 0`;
  const excluded = outcome.problems.filter((p) => p.effect === ProblemEffect.BackendExcluded);
  const first = excluded[0];
  if (first !== undefined) {
    return { type, status: 'False', reason: first.reason, message: `${counts}; ${excluded.length} excluded: ${excluded.map((p) => p.message).join(' ')}` };
  }
  return { type, status: 'True', reason: Reason.Resolved, message: counts };
}

/** kstatus conditions: Ready, plus abnormal-true Reconciling or Stalled while not Ready. */
function kstatusConditions(accepted: ConditionInput, resolved: ConditionInput, programmed: ConditionInput, deleting: boolean): ConditionInput[] {
  const ready = (status: 'True' | 'False', reason: string, message: string): ConditionInput => ({ type: ConditionType.Ready, status, reason, message });
  if (deleting) {
    return [ready('False', Reason.Deleting, 'being deleted: waiting until no load-balancer node serves it'), { type: ConditionType.Reconciling, status: 'True', reason: Reason.Deleting, message: 'withdrawing from the load-balancer nodes' }];
  }
  if (accepted.status !== 'True') {
    return [ready('False', accepted.reason, accepted.message), { type: ConditionType.Stalled, status: 'True', reason: accepted.reason, message: accepted.message }];
  }
  if (resolved.reason === Reason.NoBackends || resolved.reason === Reason.BackendNotFound) {
    return [ready('False', resolved.reason, resolved.message), { type: ConditionType.Stalled, status: 'True', reason: resolved.reason, message: resolved.message }];
  }
  if (programmed.status === 'True') return [ready('True', Reason.Ready, programmed.message)];
  if (programmed.reason === Reason.NodeError || programmed.reason === Reason.RingMismatch || programmed.reason === Reason.NoNodes) {
    return [ready('False', programmed.reason, programmed.message), { type: ConditionType.Stalled, status: 'True', reason: programmed.reason, message: programmed.message }];
  }
  return [ready('False', Reason.Progressing, programmed.message), { type: ConditionType.Reconciling, status: 'True', reason: Reason.Progressing, message: programmed.message }];
}

export interface VipStatusResult {
  readonly status: VipStatusBody;
  /** The condition inputs, for transition Events. */
  readonly inputs: readonly ConditionInput[];
  readonly summary: ProgrammedSummary;
}

/** The full status a VirtualIP should have now. `now` is an RFC 3339 time for new transitions. */
export function vipStatus(vipId: string, vip: VirtualIP, outcome: VipOutcome, nodes: readonly NodeView[], options: { deleting: boolean; now: string }): VipStatusResult {
  const accepted = acceptedCondition(outcome);
  const resolved = resolvedRefsCondition(outcome, accepted.status === 'True');
  const desired = options.deleting ? undefined : outcome.desired;
  const summary = programmedSummary(vipId, vip, desired, nodes, options.now);
  const healthy = desired === undefined ? undefined : healthyCondition(desired, vipFleetHealth(vipId, nodes).checked);
  const inputs = [
    accepted,
    resolved,
    summary.condition,
    ...(healthy === undefined ? [] : [healthy.condition]),
    ...kstatusConditions(accepted, resolved, summary.condition, options.deleting),
  ];
  const generation = vip.metadata.generation ?? 0;
  const status: VipStatusBody = {
    observedGeneration: generation,
    conditions: mergeConditions(vip.status?.conditions, inputs, generation, options.now),
  };
  if (outcome.desired !== undefined) {
    status.backends = outcome.desired.backends.length;
    status.activeBackends = outcome.desired.backends.filter((b) => b.weight > 0).length;
    status.healthyBackends = healthy?.healthy ?? status.activeBackends;
  }
  if (desired !== undefined) {
    status.nodes = `${summary.programmed}/${summary.total}`;
    const { id: _id, ...compiled } = desired;
    status.compiled = compiled satisfies CompiledVip;
  }
  return { status, inputs, summary };
}

/**
 * The VIP's Healthy condition from the fleet's decision in its compiled entry
 * (backends marked unhealthy). Undefined for a VIP without health checks.
 */
export function healthyCondition(desired: DesiredVip, probingNodes = 1): { condition: ConditionInput; healthy: number } | undefined {
  if (desired.healthCheck === undefined && !desired.backends.some((b) => b.healthCheck !== undefined)) return undefined;
  const type = ConditionType.Healthy;
  const weighted = desired.backends.filter((b) => b.weight > 0);
  const down = weighted.filter((b) => b.unhealthy === true);
  if (probingNodes === 0) {
    return { healthy: weighted.length, condition: { type, status: 'Unknown', reason: Reason.NotChecked, message: 'no load-balancer node has reported probing its backends yet' } };
  }
  if (down.length === 0) {
    return { healthy: weighted.length, condition: { type, status: 'True', reason: Reason.AllHealthy, message: `${weighted.length}/${weighted.length} backends healthy` } };
  }
  const names = down.map((b) => b.name).join(', ');
  if (down.length === weighted.length) {
    return {
      healthy: 0,
      condition: {
        type,
        status: 'False',
        reason: Reason.FailOpen,
        message: `every backend with weight > 0 (${names}) fails its health check on a majority of nodes: all are kept in the ring (fail open) rather than dropping every new flow`,
      },
    };
  }
  return {
    healthy: weighted.length - down.length,
    condition: {
      type,
      status: 'False',
      reason: Reason.BackendsUnhealthy,
      message: `${weighted.length - down.length}/${weighted.length} backends healthy; out of the ring for new flows (established flows stay): ${names}`,
    },
  };
}

/** One VIP's view of a backend's health, for the Backend's Healthy condition. */
export interface BackendHealthView {
  readonly vip: string;
  readonly checked: number;
  readonly failing: number;
  readonly message?: string | undefined;
}

/** A Backend's Healthy condition: per VIP that probes it, on how many nodes it passes. */
export function backendHealthCondition(views: readonly BackendHealthView[]): ConditionInput | undefined {
  const type = ConditionType.Healthy;
  const checked = views.filter((v) => v.checked > 0);
  if (views.length === 0) return undefined;
  if (checked.length === 0) return { type, status: 'Unknown', reason: Reason.NotChecked, message: 'no load-balancer node has reported probing it yet' };
  const text = (v: BackendHealthView): string => `healthy on ${v.checked - v.failing}/${v.checked} nodes`;
  const message = checked.length === 1 && checked[0] !== undefined ? text(checked[0]) : checked.map((v) => `${v.vip}: ${text(v)}`).join('; ');
  const unhealthy = checked.filter((v) => v.failing * 2 > v.checked);
  const last = checked.find((v) => v.message !== undefined)?.message;
  if (unhealthy.length === 0) return { type, status: 'True', reason: Reason.AllHealthy, message: last === undefined ? message : `${message}; last failure: ${last}` };
  return { type, status: 'False', reason: Reason.Unhealthy, message: `${message}; out of the ring for new flows; last failure: ${last ?? 'unknown'}` };
}

export interface BackendStatusBody {
  observedGeneration: number;
  conditions: Condition[];
  usedBy: string[];
}

/** A Backend's status: the VIPs sending to it, and Accepted=False when some VIP had to leave it out. */
export function backendStatus(
  backend: { metadata: { name: string; generation?: number | undefined }; status?: { conditions?: Condition[] | undefined } | undefined },
  usedBy: readonly string[],
  problems: readonly Problem[],
  now: string,
  drained?: ConditionInput,
  health: readonly BackendHealthView[] = [],
): BackendStatusBody {
  const generation = backend.metadata.generation ?? 0;
  const first = problems[0];
  const input: ConditionInput = first === undefined
    ? { type: ConditionType.Accepted, status: 'True', reason: Reason.Valid, message: usedBy.length === 0 ? 'valid; no VirtualIP selects it' : `used by ${usedBy.length} VirtualIPs` }
    : { type: ConditionType.Accepted, status: 'False', reason: first.reason, message: problems.map((p) => p.message).join(' ') };
  return {
    observedGeneration: generation,
    conditions: mergeConditions(backend.status?.conditions, [input, ...optional(drained), ...optional(backendHealthCondition(health))], generation, now),
    usedBy: [...usedBy].sort().slice(0, 1024),
  };
}

function optional<T>(x: T | undefined): T[] {
  return x === undefined ? [] : [x];
}
