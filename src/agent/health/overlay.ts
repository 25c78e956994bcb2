// Health applied to desired state: an unhealthy backend keeps its real (so
// established flows stay on it) but gets weight 0, i.e. no ring slots and no
// new flows, exactly like a drain. If that would leave a VIP with no weighted
// backend, nothing is taken out ("fail open"): sending flows to backends that
// may be dead beats dropping all of them, and the caller says so loudly. Pure.

import type { DesiredVip } from '../plan/model.ts';

/** false = unhealthy; true or undefined (not probed) = healthy. */
export type HealthLookup = (vipId: string, address: string) => boolean | undefined;

export interface OverlayResult {
  readonly vips: readonly DesiredVip[];
  /** VIP ids whose every weighted backend is unhealthy: kept as they are. */
  readonly failOpen: readonly string[];
  /** Per VIP id: backends taken out of the ring. */
  readonly excluded: ReadonlyMap<string, readonly string[]>;
}

export function applyHealth(vips: readonly DesiredVip[], healthy: HealthLookup): OverlayResult {
  const failOpen: string[] = [];
  const excluded = new Map<string, string[]>();
  const out = vips.map((vip) => {
    if (vip.healthCheck === undefined && !vip.backends.some((b) => b.healthCheck !== undefined)) return vip;
    const weighted = vip.backends.filter((b) => b.weight > 0);
    const down = weighted.filter((b) => !b.unchecked && healthy(vip.id, b.address) === false);
    if (down.length === 0) return vip;
    if (down.length === weighted.length) {
      failOpen.push(vip.id);
      return vip;
    }
    const gone = new Set(down.map((b) => b.address));
    excluded.set(vip.id, [...gone]);
    return { ...vip, backends: vip.backends.map((b) => (gone.has(b.address) ? { ...b, weight: 0 } : b)) };
  });
  return { vips: out, failOpen, excluded };
}
