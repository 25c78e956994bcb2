// Every condition type, reason and Event reason the controller writes, in one
// place (kubebuilder's conditions.go): tests, docs, alerts and GitOps health
// checks match on these strings, so they never change once released.

import type { Condition } from '../api/meta.ts';
import { PROBLEM_REASONS } from '../api/problems.ts';

export const ConditionType = {
  /** The spec is valid, admitted by a pool and not in conflict. */
  Accepted: 'Accepted',
  /** Backends were selected and resolved. */
  ResolvedRefs: 'ResolvedRefs',
  /** Every selected load-balancer node programmed the current revision. */
  Programmed: 'Programmed',
  /** kstatus: the object reached its desired state. */
  Ready: 'Ready',
  /** kstatus: the controller is working towards the desired state (abnormal-true). */
  Reconciling: 'Reconciling',
  /** kstatus: progress is blocked until the input changes (abnormal-true). */
  Stalled: 'Stalled',
  /** VirtualIP: its backends pass their health checks; Backend: healthy on the nodes that probe it. */
  Healthy: 'Healthy',
  /** VirtualIPPool: another pool claims part of the same addresses (informational). */
  Overlapping: 'Overlapping',
  /** Backend with weight 0: no live load-balancer node holds a recent flow to it (safe to remove). */
  Drained: 'Drained',
} as const;
export type ConditionType = (typeof ConditionType)[keyof typeof ConditionType];

export const Reason = {
  // Accepted
  Valid: 'Valid',
  Conflict: PROBLEM_REASONS.DUPLICATE_VIP,
  Invalid: PROBLEM_REASONS.QUIC_REQUIRES_UDP,
  AddressNotAllowed: PROBLEM_REASONS.ADDRESS_NOT_ALLOWED,
  NoBackends: PROBLEM_REASONS.NO_BACKENDS,
  // ResolvedRefs
  Resolved: 'Resolved',
  BackendNotAllowed: PROBLEM_REASONS.BACKEND_NOT_ALLOWED,
  BackendNotFound: PROBLEM_REASONS.BACKEND_REF_NOT_FOUND,
  BackendsExcluded: 'BackendsExcluded',
  NotAccepted: 'NotAccepted',
  // Programmed
  AllNodesProgrammed: 'AllNodesProgrammed',
  Pending: 'Pending',
  RingMismatch: 'RingMismatch',
  NodeError: 'NodeError',
  NoNodes: 'NoNodes',
  Withdrawn: 'Withdrawn',
  // Drained
  NoRecentFlows: 'NoRecentFlows',
  FlowsRemaining: 'FlowsRemaining',
  FlowsUnknown: 'FlowsUnknown',
  // Healthy
  AllHealthy: 'AllHealthy',
  BackendsUnhealthy: 'BackendsUnhealthy',
  FailOpen: 'FailOpen',
  Unhealthy: 'Unhealthy',
  NotChecked: 'NotChecked',
  // BGPPeer Ready
  AllEstablished: 'AllEstablished',
  NotEstablished: 'NotEstablished',
  // Ready / Reconciling / Stalled
  Ready: 'Ready',
  Progressing: 'Progressing',
  Deleting: 'Deleting',
} as const;
export type Reason = (typeof Reason)[keyof typeof Reason];

/** Event reasons (Normal unless marked). */
export const EventReason = {
  Accepted: 'Accepted',
  /** Warning: the VIP is not served; the message says why. */
  NotAccepted: 'NotAccepted',
  Programmed: 'Programmed',
  /** Warning: some node reports an error for this VIP. */
  ProgrammingFailed: 'ProgrammingFailed',
  Withdrawn: 'Withdrawn',
  BackendsExcluded: 'BackendsExcluded',
  // On Services (MetalLB's names where one exists):
  /** An address was assigned (or kept) and written to status.loadBalancer.ingress. */
  IPAllocated: 'IPAllocated',
  /** Warning: no address; the note starts with the allocator's reason (NoPool, PoolExhausted, AddressNotAllowed, ...). */
  AllocationFailed: 'AllocationFailed',
  /** The Service left Sterlet's class or type LoadBalancer; its address is free. */
  IPReleased: 'IPReleased',
  /** Warning: a VirtualIP with a derived name exists and belongs to someone else. */
  VirtualIPNameTaken: 'VirtualIPNameTaken',
  /** Warning: a backend left the ring: a majority of the nodes probing it see it failing. */
  BackendUnhealthy: 'BackendUnhealthy',
  /** Warning: every backend is unhealthy; all are kept in the ring. */
  FailOpen: 'FailOpen',
  /** The VIP's backends are all healthy again. */
  Healthy: 'Healthy',
} as const;

export type ConditionStatus = 'True' | 'False' | 'Unknown';

export interface ConditionInput {
  readonly type: ConditionType;
  readonly status: ConditionStatus;
  readonly reason: string;
  readonly message: string;
  /** Overrides the transition time: when the state this condition reports began (a RingMismatch's start). */
  readonly since?: string;
}

/**
 * The new condition list: each input replaces the condition of its type,
 * keeping lastTransitionTime when the status did not change (API conventions);
 * types not in `next` are dropped, so abnormal-true kstatus conditions vanish
 * once resolved.
 */
export function mergeConditions(
  previous: readonly Condition[] | undefined,
  next: readonly ConditionInput[],
  generation: number,
  now: string,
): Condition[] {
  return next.map((c) => {
    const old = previous?.find((p) => p.type === c.type);
    const lastTransitionTime = c.since ?? (old !== undefined && old.status === c.status ? old.lastTransitionTime : now);
    return { type: c.type, status: c.status, observedGeneration: generation, lastTransitionTime, reason: c.reason, message: truncate(c.message) };
  });
}

/** Conditions whose status or reason differ: what deserves an Event. */
export function transitions(previous: readonly Condition[] | undefined, next: readonly ConditionInput[]): ConditionInput[] {
  return next.filter((c) => {
    const old = previous?.find((p) => p.type === c.type);
    return old === undefined || old.status !== c.status || old.reason !== c.reason;
  });
}


function truncate(message: string): string {
  return message.length <= 32_000 ? message : `${message.slice(0, 31_990)} (cut)`;
}
