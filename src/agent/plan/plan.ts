// plan(desired, live) -> the ordered map operations that turn the live
// dataplane into the desired one. Pure: no I/O, same input -> same output.
//
// Order (what a packet may observe at any point in between is always valid):
//   1. VIPs removed        (packets stop matching them first), then their
//                          address entries if no other VIP uses the address
//   2. QUIC ids removed
//   3. reals added         (before any ring can point at them)
//   4. rings written       (only slots that differ; rings of removed VIPs cleared)
//   5. VIPs added/changed  (an added VIP becomes visible last, fully programmed),
//                          then address entries of new addresses
//   6. QUIC ids set
//   7. reals removed       (after every ring that pointed at them was rewritten)

import { SterletError } from '../../common/errors.ts';
import type { IpFamily } from '../../api/ip.ts';
import type { DesiredBackend, DesiredVip, Limits, LiveReal, LiveState, LiveVip, Ring, VipKey } from './model.ts';
import { newRing, sameFlags, vipKeyId } from './model.ts';
import { assignReals, type FreedReals } from './reals.ts';
import { summarizeVip, type VipSummary } from './summary.ts';
import { RingCache, type RingBuilder, type RingFingerprinter } from './rings.ts';

export type Op =
  | { readonly kind: 'vip-remove'; readonly vips: readonly LiveVip[] }
  | { readonly kind: 'address-remove'; readonly addresses: readonly string[] }
  | { readonly kind: 'quic-remove'; readonly serverIds: readonly number[] }
  | { readonly kind: 'real-add'; readonly reals: readonly LiveReal[] }
  /** `slots` undefined = every slot of the ring. */
  | { readonly kind: 'ring-write'; readonly vipIndex: number; readonly ring: Ring; readonly slots?: Uint32Array }
  | { readonly kind: 'vip-set'; readonly vips: readonly LiveVip[] }
  | { readonly kind: 'address-add'; readonly addresses: readonly string[] }
  | { readonly kind: 'quic-set'; readonly entries: readonly { serverId: number; realIndex: number }[] }
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

interface Resolved {
  readonly vip: DesiredVip;
  readonly keyId: string;
  readonly backends: readonly DesiredBackend[];
  readonly live: LiveVip | undefined;
}

export function plan(desired: readonly DesiredVip[], live: LiveState, options: PlanOptions): Plan {
  const { limits } = options;
  const cache = options.cache ?? new RingCache();
  let resolved = validate(desired, live, limits);

  // Reals: every backend address of every desired VIP, drained ones included.
  const wanted = new Map<string, IpFamily>();
  for (const r of resolved) for (const b of r.backends) wanted.set(b.address, b.family);
  const reals = assignReals(wanted, live, { maxReals: limits.maxReals, freed: options.freed });
  if (reals.deferred.length > 0) {
    const later = new Set(reals.deferred);
    resolved = resolved.map((r) => ({ ...r, backends: r.backends.filter((b) => !later.has(b.address)) }));
  }

  const desiredKeys = new Set(resolved.map((r) => r.keyId));
  const removedVips = [...live.vips.entries()]
    .filter(([id]) => !desiredKeys.has(id))
    .map(([, v]) => v)
    .sort((a, b) => a.index - b.index);
  const indexOf = allocateVipIndices(resolved, live, removedVips, limits);

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

  const quic = desiredQuic(resolved, reals.byAddress);
  const quicRemoved = [...live.quic.keys()].filter((id) => !quic.has(id)).sort((a, b) => a - b);
  const quicSet = [...quic.entries()]
    .filter(([id, index]) => live.quic.get(id) !== index)
    .sort(([a], [b]) => a - b)
    .map(([serverId, realIndex]) => ({ serverId, realIndex }));

  const addresses = new Set(resolved.map((r) => r.vip.key.address));
  const addressesRemoved = [...live.addresses].filter((a) => !addresses.has(a)).sort();
  const addressesAdded = [...addresses].filter((a) => !live.addresses.has(a)).sort();

  const ops: Op[] = [];
  if (removedVips.length > 0) ops.push({ kind: 'vip-remove', vips: removedVips });
  if (addressesRemoved.length > 0) ops.push({ kind: 'address-remove', addresses: addressesRemoved });
  if (quicRemoved.length > 0) ops.push({ kind: 'quic-remove', serverIds: quicRemoved });
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
  };
}

function validate(desired: readonly DesiredVip[], live: LiveState, limits: Limits): Resolved[] {
  if (desired.length > limits.maxVips) {
    throw new SterletError('AGENT_VIPS_CAPACITY', `the desired state has ${desired.length} VIPs`, {
      why: `the dataplane was loaded with --max-vips ${limits.maxVips}`,
      fix: 'raise --max-vips (the agent reloads the dataplane on restart) or serve fewer VIPs on this node',
    });
  }
  const seen = new Map<string, string>();
  const out: Resolved[] = [];
  for (const vip of [...desired].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))) {
    const keyId = vipKeyId(vip.key);
    const other = seen.get(keyId);
    if (other !== undefined) {
      throw new SterletError('AGENT_DUPLICATE_VIP', `VirtualIPs ${other} and ${vip.id} both claim ${keyId}`, {
        why: 'one address/port/protocol can be programmed once',
        fix: `change or delete one of them`,
      });
    }
    seen.set(keyId, vip.id);
    for (const b of vip.backends) {
      if (vip.key.family === 'IPv6' && b.family === 'IPv4') {
        throw new SterletError('AGENT_FAMILY_MISMATCH', `VirtualIP ${vip.id}: IPv4 backend ${b.address} for IPv6 VIP ${vip.key.address}`, {
          why: 'an IPv4 packet cannot carry an IPv6 client flow',
          fix: 'use an IPv6 backend address',
        });
      }
    }
    const backends = [...vip.backends].sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
    out.push({ vip, keyId, backends, live: live.vips.get(keyId) });
  }
  return out;
}

function allocateVipIndices(
  resolved: readonly Resolved[],
  live: LiveState,
  removed: readonly LiveVip[],
  limits: Limits,
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
      throw new SterletError('AGENT_VIPS_CAPACITY', `no free VIP index for ${r.vip.id}`, {
        why: `--max-vips is ${limits.maxVips}`,
        fix: 'raise --max-vips or serve fewer VIPs on this node',
      });
    }
    out.set(r.keyId, index);
  }
  return out;
}

function desiredQuic(resolved: readonly Resolved[], byAddress: ReadonlyMap<string, number>): Map<number, number> {
  const out = new Map<number, number>();
  const owner = new Map<number, string>();
  for (const r of resolved) {
    if (!r.vip.flags.quic) continue;
    for (const b of r.backends) {
      if (b.quicServerId === undefined) continue;
      const index = byAddress.get(b.address) ?? 0;
      const prev = out.get(b.quicServerId);
      if (prev !== undefined && prev !== index) {
        throw new SterletError('AGENT_QUIC_SERVER_ID_CONFLICT', `QUIC server id ${b.quicServerId} maps to two backends`, {
          why: `${owner.get(b.quicServerId)} and ${r.vip.id}/${b.address} use it; the server-id table is shared by all VIPs`,
          fix: 'give every QUIC backend a unique quicServerId',
        });
      }
      out.set(b.quicServerId, index);
      owner.set(b.quicServerId, `${r.vip.id}/${b.address}`);
    }
  }
  return out;
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
