// Which VIP routes this node should announce, and what to change in the
// speaker to get there: pure functions, level-based (the speaker's RIB is read
// back every time, so a restarted speaker gets everything re-announced).
//
// A route is one prefix (the VIP address /32 or /128); several VIPs on one
// address (ports, protocols) share it: the prefix is announced while at least
// one of them may be served, since routing cannot tell ports apart.

import type { DesiredVip } from '../plan/model.ts';
import type { Route, RouteFamily } from './gobgp.ts';

/** Why the node announces nothing at all (each wins over per-VIP reasons). */
export type NodeGate = 'NotReady' | 'Detached' | 'Draining';
/** Why one VIP is not announced. */
export type VipGate = NodeGate | 'NotProgrammed' | 'NoUsableBackend' | 'FamilyNotPeered';

export interface AnnounceInput {
  /** The agent applied a desired state successfully (and the last apply did not fail). */
  readonly ready: boolean;
  /** The XDP program the agent attached is still the one on the interface. */
  readonly attached: boolean;
  /** Graceful shutdown in progress: withdraw everything, keep forwarding. */
  readonly draining: boolean;
  /** What the source wants this node to serve now. */
  readonly desired: readonly DesiredVip[];
  /** VIP id -> revision programmed in the maps (the last successful apply). */
  readonly programmed: ReadonlyMap<string, string | undefined>;
  /** Families some established-or-configured peer carries. */
  readonly families: ReadonlySet<RouteFamily>;
}

export interface AnnouncePlan {
  /** By prefix. */
  readonly routes: ReadonlyMap<string, Route>;
  /** VIP id -> why it is not announced (absent = announced). */
  readonly held: ReadonlyMap<string, VipGate>;
}

export function nodeGate(input: Pick<AnnounceInput, 'ready' | 'attached' | 'draining'>): NodeGate | undefined {
  if (input.draining) return 'Draining';
  if (!input.ready) return 'NotReady';
  if (!input.attached) return 'Detached';
  return undefined;
}

export function vipGate(vip: DesiredVip, input: AnnounceInput): VipGate | undefined {
  const node = nodeGate(input);
  if (node !== undefined) return node;
  if (!input.programmed.has(vip.id) || input.programmed.get(vip.id) !== vip.revision) return 'NotProgrammed';
  if (!vip.backends.some((b) => b.weight > 0)) return 'NoUsableBackend';
  if (!input.families.has(vip.key.family)) return 'FamilyNotPeered';
  return undefined;
}

export function planRoutes(input: AnnounceInput): AnnouncePlan {
  const routes = new Map<string, Route>();
  const held = new Map<string, VipGate>();
  // By id, so the attributes of a shared prefix come from a stable VIP.
  for (const vip of [...input.desired].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))) {
    const gate = vipGate(vip, input);
    if (gate !== undefined) {
      held.set(vip.id, gate);
      continue;
    }
    const prefix = `${vip.key.address}/${vip.key.family === 'IPv4' ? 32 : 128}`;
    if (routes.has(prefix)) continue;
    const localPreference = vip.announcement?.localPreference;
    routes.set(prefix, {
      prefix,
      family: vip.key.family,
      communities: (vip.announcement?.communities ?? []).map(communityValue).sort((a, b) => a - b),
      ...(localPreference === undefined ? {} : { localPreference }),
    });
  }
  return { routes, held };
}

export interface RouteDiff {
  readonly announce: readonly Route[];
  readonly withdraw: readonly Route[];
}

/** Changed attributes are re-announced (an implicit withdraw of the old path in BGP). */
export function diffRoutes(want: ReadonlyMap<string, Route>, have: readonly Route[]): RouteDiff {
  const current = new Map(have.map((r) => [r.prefix, r]));
  const announce = [...want.values()].filter((r) => {
    const old = current.get(r.prefix);
    return old === undefined || !sameAttributes(old, r);
  });
  const withdraw = have.filter((r) => !want.has(r.prefix));
  return { announce, withdraw };
}

function sameAttributes(a: Route, b: Route): boolean {
  const ca = [...a.communities].sort((x, y) => x - y);
  const cb = [...b.communities].sort((x, y) => x - y);
  return a.localPreference === b.localPreference && ca.length === cb.length && ca.every((c, i) => c === cb[i]);
}

/** `65001:100` -> 65001 * 65536 + 100 (the schema already checked the form). */
export function communityValue(text: string): number {
  const [high, low] = text.split(':').map(Number);
  return (high ?? 0) * 65536 + (low ?? 0);
}
