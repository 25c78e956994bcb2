// The fleet's health decision, from what the load-balancer nodes report in
// their LoadBalancerNode status. Pure. Every node must program the same ring
// for a VIP (ECMP may move a flow to any of them), so no node decides alone:
// a backend is unhealthy for the fleet once a strict majority of the live
// nodes probing the VIP see it failing; the controller publishes that in the
// compiled state and every agent applies it (with the same fail-open rule).

import type { LoadBalancerNode } from '../api/load-balancer-node.ts';

/** A node and whether its agent still reports (status.ts's NodeView; declared here so the two files do not import each other). */
interface NodeView {
  readonly node: LoadBalancerNode;
  readonly live: boolean;
}

export interface BackendFleetHealth {
  /** Live nodes probing this VIP. */
  readonly checked: number;
  /** Of those, the nodes that see this backend failing. */
  readonly failing: number;
  /** A failure message one of them reported (the first by node name). */
  readonly message?: string;
}

export interface VipFleetHealth {
  /** Live nodes probing this VIP (0: no health information). */
  readonly checked: number;
  /** By backend address; backends nobody reports failing are absent. */
  readonly failing: ReadonlyMap<string, { readonly count: number; readonly message: string }>;
}

export function vipFleetHealth(vipId: string, nodes: readonly NodeView[]): VipFleetHealth {
  let checked = 0;
  const failing = new Map<string, { count: number; message: string }>();
  const sorted = [...nodes].sort((a, b) => (a.node.metadata.name < b.node.metadata.name ? -1 : 1));
  for (const { node, live } of sorted) {
    if (!live) continue;
    const applied = node.status?.virtualIPs?.find((v) => v.id === vipId);
    if (applied?.healthChecked !== true) continue;
    checked++;
    for (const u of applied.unhealthyBackends ?? []) {
      const entry = failing.get(u.address);
      if (entry === undefined) failing.set(u.address, { count: 1, message: `${node.metadata.name}: ${u.message}` });
      else entry.count++;
    }
  }
  return { checked, failing };
}

export function backendFleetHealth(h: VipFleetHealth, address: string): BackendFleetHealth {
  const f = h.failing.get(address);
  return f === undefined ? { checked: h.checked, failing: 0 } : { checked: h.checked, failing: f.count, message: f.message };
}

/** The fleet rule: unhealthy when a strict majority of the probing nodes see it failing. */
export function fleetUnhealthy(h: BackendFleetHealth): boolean {
  return h.checked > 0 && h.failing * 2 > h.checked;
}

/** "healthy on 2/3 nodes". */
export function healthyOn(h: BackendFleetHealth): string {
  return `healthy on ${h.checked - h.failing}/${h.checked} nodes`;
}
