// Drained: whether a weight-0 Backend still carries traffic, from the flows
// per backend every live load-balancer node reports (status.backendFlows). A
// flow is recent when its node saw a packet within that node's idle threshold;
// idle entries stay in the connection tables until evicted and do not count.
// Pure, so every rule is unit-tested without a cluster.

import { type ConditionInput, ConditionType, Reason } from './conditions.ts';
import type { NodeView } from './status.ts';

/** The Drained condition of a Backend; undefined when it has weight > 0 (not draining: no condition). */
export function drainedCondition(backend: { address: string; weight: number }, nodes: readonly NodeView[]): ConditionInput | undefined {
  if (backend.weight > 0) return undefined;
  const type = ConditionType.Drained;
  const live = nodes.filter((n) => n.live);
  const silent = live.filter((n) => n.node.status?.backendFlows === undefined).map((n) => n.node.metadata.name).sort();
  const holding: string[] = [];
  let recent = 0;
  let idle = 0;
  const thresholds = new Set<number>();
  for (const n of live) {
    const flows = n.node.status?.backendFlows;
    if (flows === undefined) continue;
    thresholds.add(flows.recentSeconds);
    const entry = flows.backends.find((b) => b.address === backend.address);
    if (entry === undefined) continue;
    idle += entry.flows - entry.recent;
    if (entry.recent > 0) {
      recent += entry.recent;
      holding.push(`${n.node.metadata.name} (${entry.recent})`);
    }
  }
  const window = thresholds.size === 0 ? '' : ` in the last ${[...thresholds].sort((a, b) => a - b).join('/')} s`;
  if (recent > 0) {
    return { type, status: 'False', reason: Reason.FlowsRemaining, message: `${recent} flows seen${window} on ${holding.sort().join(', ')}` };
  }
  if (silent.length > 0) {
    return {
      type,
      status: 'Unknown',
      reason: Reason.FlowsUnknown,
      message: `no flows reported by ${silent.join(', ')} (agent older than flows per backend, or --flow-count-interval 0)`,
    };
  }
  const idleNote = idle === 0 ? '' : ` (${idle} idle entries remain until evicted)`;
  return { type, status: 'True', reason: Reason.NoRecentFlows, message: `weight 0 and no live load-balancer node holds a flow seen${window}${idleNote}` };
}
