// Pure BGPPeer summary: what the controller writes beside the agents'
// per-node entries (status.nodes). A printer column can show only one list
// element, so the counts the columns show are computed here: sessions
// Established over the load-balancer nodes the peer's nodeSelector selects,
// the session states counted, and the routes announced in total.

import type { BGPPeer, BGPPeerNodeStatus } from '../api/bgp-peer.ts';
import type { Condition } from '../api/meta.ts';
import { matchesSelector } from '../compile/selector.ts';
import { type ConditionInput, ConditionType, mergeConditions, Reason } from './conditions.ts';
import type { NodeView } from './status.ts';

export interface BgpPeerSummary {
  observedGeneration: number;
  conditions: Condition[];
  established: string;
  sessions: string;
  announced: number;
}

/** What a selected node counts as: its reported state, or why it reports none. */
const NOT_REPORTING = 'not reporting';
const NO_HEARTBEAT = 'no heartbeat';
const STATE_ORDER = ['Established', 'OpenConfirm', 'OpenSent', 'Active', 'Connect', 'Idle', 'Unknown', NOT_REPORTING, NO_HEARTBEAT];

/** The summary a BGPPeer's status should carry now; `now` (RFC 3339) stamps new condition transitions. */
export function bgpPeerSummary(peer: BGPPeer, nodes: readonly NodeView[], now: string): BgpPeerSummary {
  const entries = new Map<string, BGPPeerNodeStatus>((peer.status?.nodes ?? []).map((n) => [n.node, n]));
  const selected = nodes
    .filter((n) => matchesSelector(peer.spec.nodeSelector, n.node.metadata.labels))
    .sort((a, b) => (a.node.metadata.name < b.node.metadata.name ? -1 : 1));
  const states = new Map<string, string>();
  let announced = 0;
  for (const { node, live } of selected) {
    const entry = entries.get(node.metadata.name);
    // A node whose agent stopped reporting cannot vouch for its session.
    const state = !live ? NO_HEARTBEAT : entry === undefined ? NOT_REPORTING : entry.sessionState;
    states.set(node.metadata.name, state);
    if (live && entry !== undefined) announced += entry.announced;
  }
  const established = [...states.values()].filter((s) => s === 'Established').length;
  const total = selected.length;
  const generation = peer.metadata.generation ?? 0;
  const ready = readyCondition(states, established, total);
  return {
    observedGeneration: generation,
    conditions: mergeConditions(peer.status?.conditions, [ready], generation, now),
    established: `${established}/${total}`,
    sessions: sessionsText(states),
    announced,
  };
}

function sessionsText(states: ReadonlyMap<string, string>): string {
  if (states.size === 0) return 'no node selected';
  const counts = new Map<string, number>();
  for (const s of states.values()) counts.set(s, (counts.get(s) ?? 0) + 1);
  const rank = (s: string): number => (STATE_ORDER.includes(s) ? STATE_ORDER.indexOf(s) : STATE_ORDER.length);
  return [...counts].sort(([a], [b]) => rank(a) - rank(b)).map(([s, n]) => `${n} ${s}`).join(', ');
}

function readyCondition(states: ReadonlyMap<string, string>, established: number, total: number): ConditionInput {
  const type = ConditionType.Ready;
  if (total === 0) {
    return { type, status: 'False', reason: Reason.NoNodes, message: 'no LoadBalancerNode matches spec.nodeSelector, so no node peers with this router' };
  }
  if (established === total) return { type, status: 'True', reason: Reason.AllEstablished, message: `sessions established on ${total}/${total} nodes` };
  const down = [...states].filter(([, s]) => s !== 'Established').map(([n, s]) => `${n}: ${s}`);
  const shown = down.length > 20 ? [...down.slice(0, 20), `and ${down.length - 20} more`] : down;
  return { type, status: 'False', reason: Reason.NotEstablished, message: `sessions established on ${established}/${total} nodes; not established: ${shown.join(', ')}` };
}

/** True when `current` (the object's status) already carries every summary field of `next`. */
export function summaryWritten(current: BGPPeer['status'], next: BgpPeerSummary): boolean {
  return current?.established === next.established
    && current.sessions === next.sessions
    && current.announced === next.announced
    && current.observedGeneration === next.observedGeneration
    && sameConditions(current.conditions ?? [], next.conditions);
}

function sameConditions(a: readonly Condition[], b: readonly Condition[]): boolean {
  const text = (c: Condition): string => JSON.stringify([c.type, c.status, c.reason, c.message, c.lastTransitionTime, c.observedGeneration]);
  return a.length === b.length && a.every((c, i) => b[i] !== undefined && text(c) === text(b[i]));
}
