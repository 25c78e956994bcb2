// plan(desired, live) -> the ordered map operations that turn the live
// dataplane into the desired one. Pure: no I/O, same input -> same output.
//
// Order (what a packet may observe at any point in between is always valid):
//   1. VIPs removed        (packets stop matching them first), then their
//                          address entries if no other VIP uses the address
//   2. QUIC entries removed (per VIP index + server id)
//   3. reals added         (before any ring can point at them)
//   4. rings written       (only slots that differ; rings of removed VIPs cleared)
//   5. VIPs added/changed  (an added VIP becomes visible last, fully programmed),
//                          then address entries of new addresses
//   6. QUIC entries set
//   7. reals removed       (after every ring and QUIC entry that pointed at them was rewritten)
//
// A VIP (or backend) the dataplane cannot hold is left out and reported in
// `rejected` (see plan/admit.ts); the plan itself never fails because of one VIP.

import type { IpFamily } from '../../api/ip.ts';
import type { DesiredVip, Limits, LiveReal, LiveState, LiveVip, QuicEntry, Ring, VipKey } from './model.ts';
import { newRing, quicEntryId, sameFlags } from './model.ts';
import { admit, RejectionCode, type Admitted, type Rejection } from './admit.ts';
import { assignReals, type FreedReals } from './reals.ts';
import { summarizeVip, type VipSummary } from './summary.ts';
import { RingCache, type RingBuilder, type RingFingerprinter } from './rings.ts';

export type Op =
  | { readonly kind: 'vip-remove'; readonly vips: readonly LiveVip[] }
  | { readonly kind: 'address-remove'; readonly addresses: readonly string[] }
  | { readonly kind: 'quic-remove'; readonly entries: readonly QuicEntry[] }
  | { readonly kind: 'real-add'; readonly reals: readonly LiveReal[] }
  /** `slots` undefined = every slot of the ring. */
  | { readonly kind: 'ring-write'; readonly vipIndex: number; readonly ring: Ring; readonly slots?: Uint32Array }
  | { readonly kind: 'vip-set'; readonly vips: readonly LiveVip[] }
  | { readonly kind: 'address-add'; readonly addresses: readonly string[] }
  | { readonly kind: 'quic-set'; readonly entries: readonly QuicEntry[] }
  | { readonly kind: 'real-remove'; readonly indices: readonly number[] };

export interface Plan {
  readonly ops: readonly Op[];
  /** Map entries the ops write or delete; 0 when live already equals desired. */
  readonly writes: number;
  /** One per desired or removed VIP, sorted by id. */
  readonly summaries: readonly VipSummary[];
  /** Live state once every op is applied (the runtime's cache after success). */
  readonly expected: LiveState;
  /** VIP id -> ring fingerprint (from the fingerprinter option). */
  readonly fingerprints: ReadonlyMap<string, string>;
  /**
   * Backend addresses left out of this plan: the real table is full until this
   * plan's removals free their indices. Non-empty = plan again after applying.
   */
  readonly deferred: readonly string[];
  /** VIPs and backends left out of this plan, with why (sorted by VIP id); everything else is planned. */
  readonly rejected: readonly Rejection[];
}

export interface PlanOptions {
  readonly limits: Limits;
  readonly buildRing: RingBuilder;
  readonly fingerprint?: RingFingerprinter;
  /** Memo of rings across plans; makes unchanged VIPs O(1). */
  readonly cache?: RingCache;
  /** Free order of real indices (reuse the one freed longest ago); apply records into it. */
  readonly freed?: FreedReals;
}

interface Resolved extends Admitted {
  readonly live: LiveVip | undefined;
}

export function plan(desired: readonly DesiredVip[], live: LiveState, options: PlanOptions): Plan {
  const steps = planSteps(desired, live, options);
  for (;;) {
    const step = steps.next();
    if (step.done === true) return step.value;
  }
}

/** plan() pausing after each VIP's ring (reconcileAsync lets the event loop run there). */
export function* planSteps(desired: readonly DesiredVip[], live: LiveState, options: PlanOptions): Generator<void, Plan, void> {
  const { limits } = options;
  const cache = options.cache ?? new RingCache();
  const admission = admit(desired, limits);
  yield;
  const rejected = [...admission.rejected];
  let resolved: Resolved[] = admission.admitted.map((a) => ({ ...a, live: live.vips.get(a.keyId) }));

  const desiredKeys = new Set(resolved.map((r) => r.keyId));
  const removedVips = [...live.vips.entries()]
    .filter(([id]) => !desiredKeys.has(id))
    .map(([, v]) => v)
    .sort((a, b) => a.index - b.index);
  const indexOf = allocateVipIndices(resolved, live, removedVips, limits, rejected);
  resolved = resolved.filter((r) => indexOf.has(r.keyId));

  // Reals: every backend address of every desired VIP, drained ones included.
  const wanted = new Map<string, IpFamily>();
  for (const r of resolved) for (const b of r.backends) wanted.set(b.address, b.family);
  yield;
  const reals = assignReals(wanted, live, { maxReals: limits.maxReals, freed: options.freed });
  yield;
  if (reals.deferred.length > 0) {
    const later = new Set(reals.deferred);
    resolved = resolved.map((r) => ({ ...r, backends: r.backends.filter((b) => !later.has(b.address)) }));
  }

  const ringOps: Op[] = []; // by VIP id; their order among themselves does not matter
  const vipSets: LiveVip[] = [];
  const summaries: VipSummary[] = [];
  const fingerprints = new Map<string, string>();
  const expectedVips = new Map<string, LiveVip>();
  const expectedRings = new Map<number, Ring>();
  let writes = 0;

  for (const r of resolved) {
    const index = indexOf.get(r.keyId) ?? 0;
    const built = cache.ring(r.backends, reals.byAddress, limits, options);
    if (built.fingerprint !== undefined) fingerprints.set(r.vip.id, built.fingerprint);
    const liveRing = r.live !== undefined && r.live.index === index ? live.rings.get(index) : undefined;
    // The memo hands back the very array the cache holds when nothing changed.
    const slots = liveRing === undefined ? undefined : liveRing === built.ring ? NO_SLOTS : changedSlots(liveRing, built.ring);
    if (liveRing === undefined) {
      ringOps.push({ kind: 'ring-write', vipIndex: index, ring: built.ring });
      writes += limits.ringSize;
    } else if (slots !== undefined && slots.length > 0) {
      ringOps.push({ kind: 'ring-write', vipIndex: index, ring: built.ring, slots });
      writes += slots.length;
    }
    const vip: LiveVip = { key: r.vip.key, index, flags: r.vip.flags };
    if (r.live === undefined || r.live.index !== index || !sameFlags(r.live.flags, r.vip.flags)) vipSets.push(vip);
    expectedVips.set(r.keyId, vip);
    expectedRings.set(index, built.ring);
    summaries.push(summarizeVip({ vip: r.vip, live: r.live, liveRing, ring: built.ring, changed: slots }, live, reals.byAddress));
    yield;
  }
  cache.retainUsed();

  // Rings of removed VIPs are cleared unless a new VIP took the index over.
  for (const v of removedVips) {
    summaries.push(summarizeVip({ vip: undefined, live: v, liveRing: live.rings.get(v.index), ring: undefined, changed: undefined }, live, reals.byAddress));
    const old = live.rings.get(v.index);
    if (old === undefined || expectedRings.has(v.index)) continue;
    const slots = nonZeroSlots(old);
    if (slots.length === 0) continue;
    ringOps.push({ kind: 'ring-write', vipIndex: v.index, ring: newRing(limits), slots });
    writes += slots.length;
  }

  const quic = desiredQuic(resolved, indexOf, reals.byAddress);
  const quicRemoved = [...live.quic.entries()].filter(([id]) => !quic.has(id)).map(([, e]) => e).sort(byQuicKey);
  const quicSet = [...quic.entries()]
    .filter(([id, e]) => live.quic.get(id)?.realIndex !== e.realIndex)
    .map(([, e]) => e)
    .sort(byQuicKey);

  const addresses = new Set(resolved.map((r) => r.vip.key.address));
  const addressesRemoved = [...live.addresses].filter((a) => !addresses.has(a)).sort();
  const addressesAdded = [...addresses].filter((a) => !live.addresses.has(a)).sort();

  const ops: Op[] = [];
  if (removedVips.length > 0) ops.push({ kind: 'vip-remove', vips: removedVips });
  if (addressesRemoved.length > 0) ops.push({ kind: 'address-remove', addresses: addressesRemoved });
  if (quicRemoved.length > 0) ops.push({ kind: 'quic-remove', entries: quicRemoved });
  if (reals.added.length > 0) ops.push({ kind: 'real-add', reals: reals.added });
  ops.push(...ringOps);
  if (vipSets.length > 0) ops.push({ kind: 'vip-set', vips: vipSets.sort((a, b) => a.index - b.index) });
  if (addressesAdded.length > 0) ops.push({ kind: 'address-add', addresses: addressesAdded });
  if (quicSet.length > 0) ops.push({ kind: 'quic-set', entries: quicSet });
  if (reals.removed.length > 0) ops.push({ kind: 'real-remove', indices: reals.removed });
  writes += addressesRemoved.length + addressesAdded.length;
  writes += removedVips.length + quicRemoved.length + reals.added.length + vipSets.length + quicSet.length + reals.removed.length;

  const expectedReals = new Map<number, LiveReal>();
  const removedSet = new Set(reals.removed);
  for (const [i, real] of live.reals) if (!removedSet.has(i)) expectedReals.set(i, real);
  for (const real of reals.added) expectedReals.set(real.index, real);

  summaries.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return {
    ops,
    writes,
    summaries,
    expected: { vips: expectedVips, reals: expectedReals, rings: expectedRings, quic, addresses },
    fingerprints,
    deferred: reals.deferred,
    rejected: rejected.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)),
  };
}

function allocateVipIndices(
  resolved: readonly Resolved[],
  live: LiveState,
  removed: readonly LiveVip[],
  limits: Limits,
  rejected: Rejection[],
): Map<string, number> {
  const out = new Map<string, number>();
  const used = new Set<number>();
  for (const v of live.vips.values()) used.add(v.index);
  for (const r of resolved) if (r.live !== undefined) out.set(r.keyId, r.live.index);
  // Prefer never-used indices; take over a just-removed VIP's index only when full.
  const free: number[] = [];
  for (let i = 0; i < limits.maxVips; i++) if (!used.has(i)) free.push(i);
  free.push(...removed.map((v) => v.index));
  let next = 0;
  for (const r of resolved) {
    if (out.has(r.keyId)) continue;
    const index = free[next++];
    if (index === undefined) {
      rejected.push({
        id: r.vip.id,
        code: RejectionCode.vipsCapacity,
        effect: 'VirtualIPExcluded',
        message: `VirtualIP ${r.vip.id} gets no VIP index: all ${limits.maxVips} (--max-vips) are held by programmed VIPs and VIPs before it (by id), so it is left out. Raise --max-vips (the agent reloads the dataplane on restart) or serve fewer VIPs on this node.`,
      });
      continue;
    }
    out.set(r.keyId, index);
  }
  return out;
}

/** QUIC entries of every QUIC VIP: its backends' server ids under its own index (admit() made them unique per VIP). */
function desiredQuic(
  resolved: readonly Resolved[],
  indexOf: ReadonlyMap<string, number>,
  byAddress: ReadonlyMap<string, number>,
): Map<string, QuicEntry> {
  const out = new Map<string, QuicEntry>();
  for (const r of resolved) {
    const vipIndex = indexOf.get(r.keyId);
    if (!r.vip.flags.quic || vipIndex === undefined) continue;
    for (const b of r.backends) {
      const realIndex = byAddress.get(b.address);
      if (b.quicServerId === undefined || realIndex === undefined) continue;
      out.set(quicEntryId(vipIndex, b.quicServerId), { vipIndex, serverId: b.quicServerId, realIndex });
    }
  }
  return out;
}

function byQuicKey(a: QuicEntry, b: QuicEntry): number {
  return a.vipIndex - b.vipIndex || a.serverId - b.serverId;
}

const NO_SLOTS = new Uint32Array(0);

function changedSlots(a: Ring, b: Ring): Uint32Array {
  let n = 0;
  for (let i = 0; i < b.length; i++) if (a[i] !== b[i]) n++;
  const out = new Uint32Array(n);
  let j = 0;
  for (let i = 0; i < b.length; i++) if (a[i] !== b[i]) out[j++] = i;
  return out;
}

function nonZeroSlots(ring: Ring): Uint32Array {
  const out: number[] = [];
  for (let i = 0; i < ring.length; i++) if (ring[i] !== 0) out.push(i);
  return Uint32Array.from(out);
}

export type { VipKey, VipSummary };
