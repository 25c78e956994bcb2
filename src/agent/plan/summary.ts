// Human summary of what a plan changes for one VIP: backends added, removed,
// drained and reweighted, flag changes and the share of ring slots that move.
// Live weights are not stored in the maps, so "before" shares come from the
// live ring's slot counts (Maglev fills slots in proportion to weight, within
// one slot per backend, so the estimate is exact enough to spot reweights).

import type { DesiredVip, LiveState, LiveVip, Ring, VipFlags } from './model.ts';
import { vipKeyId } from './model.ts';

export interface Reweight {
  readonly address: string;
  /** Share of the ring's slots before and after, 0..1. */
  readonly before: number;
  readonly after: number;
}

export interface VipSummary {
  /** namespace/name, or the key text for a live VIP the desired state no longer has. */
  readonly id: string;
  readonly key: string;
  readonly change: 'added' | 'removed' | 'changed' | 'unchanged';
  readonly backendsAdded: readonly string[];
  readonly backendsRemoved: readonly string[];
  readonly drained: readonly string[];
  readonly reweighted: readonly Reweight[];
  readonly flagsChanged: readonly string[];
  /** Fraction of ring slots whose backend changes, 0..1. */
  readonly slotsMoved: number;
}

/** A weight share must move by more than this (relative) to count as a reweight. */
const REWEIGHT_TOLERANCE = 0.1;

export interface SummaryInput {
  /** The desired VIP; undefined when it is being removed. */
  readonly vip: DesiredVip | undefined;
  readonly live: LiveVip | undefined;
  readonly liveRing: Ring | undefined;
  /** The ring to program; undefined on removal. */
  readonly ring: Ring | undefined;
  /** Slots that differ (undefined = every slot is written). */
  readonly changed: Uint32Array | undefined;
}

export function summarizeVip(input: SummaryInput, state: LiveState, byAddress: ReadonlyMap<string, number>): VipSummary {
  const { vip, live, liveRing, ring, changed } = input;
  const key = vipKeyId((vip?.key ?? live?.key)!);
  const id = vip?.id ?? key;
  const addressOf = (index: number): string => state.reals.get(index)?.address ?? `real#${index}`;
  const base = { id, key, drained: [], reweighted: [], flagsChanged: [] };

  if (vip === undefined) {
    const gone = liveRing === undefined ? [] : [...slotCounts(liveRing).keys()];
    return { ...base, change: 'removed', backendsAdded: [], backendsRemoved: gone.map(addressOf).sort(), slotsMoved: 1 };
  }
  const weighted = vip.backends.filter((b) => b.weight > 0).map((b) => b.address).sort();
  if (live === undefined) {
    return { ...base, change: 'added', backendsAdded: weighted, backendsRemoved: [], slotsMoved: 1 };
  }
  const flagsChanged = diffFlags(live.flags, vip.flags);
  // Unchanged rings (the common case on every reconcile) cost nothing here.
  if (liveRing !== undefined && changed !== undefined && changed.length === 0) {
    return { ...base, flagsChanged, change: flagsChanged.length > 0 ? 'changed' : 'unchanged', backendsAdded: [], backendsRemoved: [], slotsMoved: 0 };
  }
  const before = liveRing === undefined ? new Map<number, number>() : slotCounts(liveRing);

  const after = ring === undefined ? new Map<number, number>() : slotCounts(ring);
  const desiredIndex = new Map(vip.backends.map((b) => [b.address, byAddress.get(b.address) ?? 0]));
  const backendsAdded = weighted.filter((a) => !before.has(desiredIndex.get(a) ?? 0));
  const liveAddresses = [...before.keys()].map(addressOf);
  const backendsRemoved = liveAddresses.filter((a) => !desiredIndex.has(a)).sort();
  const drained = vip.backends
    .filter((b) => b.weight === 0 && before.has(desiredIndex.get(b.address) ?? 0))
    .map((b) => b.address)
    .sort();

  // Reweights: compare shares among backends present before and after, so an
  // added or removed backend does not make every other one look reweighted.
  const common = vip.backends.filter((b) => b.weight > 0 && before.has(desiredIndex.get(b.address) ?? 0));
  const liveTotal = common.reduce((s, b) => s + (before.get(desiredIndex.get(b.address) ?? 0) ?? 0), 0);
  const wantTotal = common.reduce((s, b) => s + b.weight, 0);
  const reweighted: Reweight[] = [];
  for (const b of common) {
    const index = desiredIndex.get(b.address) ?? 0;
    const liveShare = (before.get(index) ?? 0) / liveTotal;
    const wantShare = b.weight / wantTotal;
    if (Math.abs(liveShare - wantShare) > REWEIGHT_TOLERANCE * wantShare) {
      const size = ring?.length ?? 1;
      reweighted.push({ address: b.address, before: (before.get(index) ?? 0) / size, after: (after.get(index) ?? 0) / size });
    }
  }
  reweighted.sort((a, b) => (a.address < b.address ? -1 : 1));
  const slotsMoved = changed === undefined ? 1 : changed.length / (ring?.length ?? 1);
  return { id, key, change: 'changed', backendsAdded, backendsRemoved, drained, reweighted, flagsChanged, slotsMoved };
}

function slotCounts(ring: Ring): Map<number, number> {
  let max = 0;
  for (let i = 0; i < ring.length; i++) if ((ring[i] ?? 0) > max) max = ring[i] ?? 0;
  const counts = new Uint32Array(max + 1);
  for (let i = 0; i < ring.length; i++) counts[ring[i] ?? 0]!++;
  const out = new Map<number, number>();
  for (let v = 1; v <= max; v++) if ((counts[v] ?? 0) > 0) out.set(v, counts[v] ?? 0);
  return out;
}

function diffFlags(a: VipFlags, b: VipFlags): string[] {
  const out: string[] = [];
  for (const k of ['hash', 'connectionTracking', 'quic', 'encapsulation'] as const) {
    if (a[k] !== b[k]) out.push(`${k}: ${String(a[k])} -> ${String(b[k])}`);
  }
  return out;
}

/** Multi-line text for `sterlet plan`. */
export function formatSummaries(summaries: readonly VipSummary[]): string {
  const lines: string[] = [];
  const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;
  for (const s of summaries) {
    if (s.change === 'unchanged') continue;
    lines.push(`${s.change.padEnd(9)} ${s.id} (${s.key})${s.change === 'changed' ? `: ${pct(s.slotsMoved)} of ring slots move` : ''}`);
    for (const a of s.backendsAdded) lines.push(`    + backend ${a}`);
    for (const a of s.backendsRemoved) lines.push(`    - backend ${a}`);
    for (const a of s.drained) lines.push(`    ~ backend ${a} drained (weight 0: established flows stay)`);
    for (const r of s.reweighted) lines.push(`    ~ backend ${r.address} reweighted: ${pct(r.before)} -> ${pct(r.after)} of slots`);
    for (const f of s.flagsChanged) lines.push(`    ~ ${f}`);
  }
  const unchanged = summaries.filter((s) => s.change === 'unchanged').length;
  if (lines.length === 0) lines.push('no changes');
  if (unchanged > 0) lines.push(`${unchanged} VIP(s) unchanged`);
  return lines.join('\n');
}
