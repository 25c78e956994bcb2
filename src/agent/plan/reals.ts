// Real-index allocation. A real (backend address) keeps its index for as long
// as any desired VIP lists it (weight 0 included: drained backends still own
// connection-table entries). A freed index is reused only once nothing in the
// live maps refers to it: removals happen at the end of an apply, after the
// ring rewrites that dropped the real, so an index freed by one apply becomes
// allocatable in the next one, never in the same one.
//
// Reuse order: a stale connection-table entry may still name a freed index
// (its flow outlives the backend until the LRU evicts it), so the index freed
// longest ago is reused first. Free indices the agent never saw freed (never
// used, or freed before this process started) count as the oldest and go first,
// lowest first; then those freed while running, oldest first (FIFO).

import { SterletError } from '../../common/errors.ts';
import type { IpFamily } from '../../api/ip.ts';
import type { LiveReal, LiveState, Ring } from './model.ts';

export interface RealAssignment {
  /** Address -> index for every desired real. */
  readonly byAddress: ReadonlyMap<string, number>;
  readonly added: readonly LiveReal[];
  /** Live indices no desired VIP refers to any more (removed last). */
  readonly removed: readonly number[];
  /**
   * New addresses that get no index in this apply because every free index is
   * still held by a real being removed: they are programmed by the next pass,
   * once this apply has freed those indices (a full table can still swap backends).
   */
  readonly deferred: readonly string[];
}

/** The order real indices were freed in, oldest first (kept across applies by the runtime). */
export class FreedReals {
  readonly #order = new Map<number, true>(); // insertion order = free order

  /** Records indices whose real entries were just deleted. */
  record(indices: readonly number[]): void {
    for (const i of indices) {
      this.#order.delete(i);
      this.#order.set(i, true);
    }
  }

  /** Freed indices, the one freed longest ago first. */
  order(): readonly number[] {
    return [...this.#order.keys()];
  }
}

export function assignReals(
  wanted: ReadonlyMap<string, IpFamily>,
  live: LiveState,
  options: { maxReals: number; freed?: FreedReals | undefined },
): RealAssignment {
  const byAddress = new Map<string, number>();
  const liveByAddress = new Map<string, number>();
  for (const real of live.reals.values()) liveByAddress.set(real.address, real.index);

  const fresh: string[] = [];
  for (const address of wanted.keys()) {
    const index = liveByAddress.get(address);
    if (index === undefined) fresh.push(address);
    else byAddress.set(address, index);
  }
  fresh.sort(); // new addresses get indices in a deterministic order

  const busy = new Set<number>(live.reals.keys());
  if (fresh.length > 0) {
    // An index a live ring or QUIC entry still points at is busy even if its
    // real entry is gone (tampering, or an apply interrupted by a crash).
    for (const ring of live.rings.values()) for (const index of ringMembers(ring)) busy.add(index);
    for (const e of live.quic.values()) busy.add(e.realIndex);
  }

  const added: LiveReal[] = [];
  const deferred: string[] = [];
  if (wanted.size > options.maxReals) {
    throw new SterletError('AGENT_REALS_CAPACITY', `the desired state has ${wanted.size} distinct backend addresses`, {
      why: `--max-reals is ${options.maxReals}`,
      fix: 'raise --max-reals (the maps are sized at creation: detach and restart) or serve fewer backends on this node',
      details: { maxReals: options.maxReals, desired: wanted.size },
    });
  }
  const candidates = fresh.length === 0 ? [] : freeIndices(busy, options.maxReals, options.freed);
  let next = 0;
  for (const address of fresh) {
    const index = candidates[next++];
    if (index === undefined) {
      deferred.push(address);
      continue;
    }
    byAddress.set(address, index);
    added.push({ index, address, family: wanted.get(address) ?? 'IPv4' });
  }

  const removed: number[] = [];
  for (const real of live.reals.values()) if (!wanted.has(real.address)) removed.push(real.index);
  removed.sort((a, b) => a - b);
  return { byAddress, added, removed, deferred };
}

/** Allocatable indices 1..maxReals in reuse order (see the header). */
function freeIndices(busy: ReadonlySet<number>, maxReals: number, freed: FreedReals | undefined): number[] {
  const recent = (freed?.order() ?? []).filter((i) => i >= 1 && i <= maxReals && !busy.has(i));
  const recentSet = new Set(recent);
  const out: number[] = [];
  for (let i = 1; i <= maxReals; i++) if (!busy.has(i) && !recentSet.has(i)) out.push(i);
  return out.concat(recent);
}

// Rings are never mutated once built or read, so their members are memoized:
// a steady-state plan does not rescan hundreds of 65537-slot rings.
const membersMemo = new WeakMap<ArrayLike<number>, readonly number[]>();

/** Distinct real indices of a ring, 0 excluded, ascending. */
export function ringMembers(ring: Ring): readonly number[] {
  const hit = membersMemo.get(ring);
  if (hit !== undefined) return hit;
  let max = 0;
  for (let i = 0; i < ring.length; i++) if ((ring[i] ?? 0) > max) max = ring[i] ?? 0;
  const seen = new Uint8Array(max + 1);
  for (let i = 0; i < ring.length; i++) seen[ring[i] ?? 0] = 1;
  const out: number[] = [];
  for (let v = 1; v <= max; v++) if (seen[v] === 1) out.push(v);
  membersMemo.set(ring, out);
  return out;
}
