// Pure status of a VirtualIPPool: observedGeneration, how many VirtualIPs it
// admits (counted by the reconciler from each VIP's last compile) and which
// other pools' address ranges overlap it. Overlap is legal (the longest
// matching range wins) but worth a visible condition, since it decides which
// backend ranges apply to a VIP.

import type { Condition } from '../api/meta.ts';
import { cidrContains, formatCidr, type ParsedCidr, parseCidr } from '../api/ip.ts';
import type { VirtualIPPool } from '../api/virtual-ip-pool.ts';
import { type ConditionInput, ConditionType, mergeConditions } from './conditions.ts';

export const PoolReason = {
  Ready: 'Ready',
  Overlaps: 'OverlapsOtherPools',
  NoOverlap: 'NoOverlap',
} as const;

export interface PoolStatusBody {
  observedGeneration: number;
  conditions: Condition[];
  virtualIPs: number;
}

/** Two ranges overlap exactly when one contains the other's network address. */
function overlaps(a: ParsedCidr, b: ParsedCidr): boolean {
  return a.family === b.family && (cidrContains(a, b) || cidrContains(b, a));
}

/** "other: 10.0.0.0/24 overlaps 10.0.0.0/16" for each overlapping pair, other pools by name. */
export function poolOverlaps(pool: VirtualIPPool, others: readonly VirtualIPPool[]): string[] {
  const own = pool.spec.addresses.map(parseCidr).filter((c): c is ParsedCidr => c !== undefined);
  const out: string[] = [];
  for (const other of [...others].sort((x, y) => (x.metadata.name < y.metadata.name ? -1 : x.metadata.name > y.metadata.name ? 1 : 0))) {
    if (other.metadata.name === pool.metadata.name) continue;
    for (const theirs of other.spec.addresses.map(parseCidr)) {
      if (theirs === undefined) continue;
      for (const mine of own) {
        if (overlaps(mine, theirs)) out.push(`${other.metadata.name}: ${formatCidr(theirs)} overlaps ${formatCidr(mine)}`);
      }
    }
  }
  return out;
}

export function poolStatus(pool: VirtualIPPool, others: readonly VirtualIPPool[], admitted: number, now: string): PoolStatusBody {
  const generation = pool.metadata.generation ?? 1;
  const overlap = poolOverlaps(pool, others);
  const inputs: ConditionInput[] = [
    {
      type: ConditionType.Ready, status: 'True', reason: PoolReason.Ready,
      message: `in force; admits ${admitted} VirtualIP${admitted === 1 ? '' : 's'}`,
    },
    overlap.length === 0
      ? { type: ConditionType.Overlapping, status: 'False', reason: PoolReason.NoOverlap, message: 'no other VirtualIPPool claims these addresses' }
      : {
        type: ConditionType.Overlapping, status: 'True', reason: PoolReason.Overlaps,
        message: `address ranges overlap other pools (${overlap.join('; ')}); a VIP in both goes to the pool with the longest matching range (then the pool name), whose namespaceSelector and backendAddresses apply`,
      },
  ];
  return { observedGeneration: generation, conditions: mergeConditions(pool.status?.conditions, inputs, generation, now), virtualIPs: admitted };
}
