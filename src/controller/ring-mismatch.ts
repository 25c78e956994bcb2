// ECMP consistency as a checked property: the nodes serving a VIP at one
// revision must build the same Maglev ring, or a flow that ECMP moves between
// them reaches another backend. Pure: which nodes differ from the majority,
// since when (carried by the Programmed condition's lastTransitionTime across
// reconciles and leader changes), and when to refresh the message.

import type { Condition } from '../api/meta.ts';

export interface NodeRing {
  readonly name: string;
  readonly fingerprint: string | undefined;
}

export interface RingMismatch {
  /** RFC 3339: when the nodes' rings started to differ. */
  readonly since: string;
  /** Whole seconds from `since` to now. */
  readonly seconds: number;
  /** Text for the condition, e.g. "rings differ on 1/2 nodes for 42s (n2 has fingerprint b; n1 has a)". */
  readonly text: string;
  /** When to reconcile again to refresh the duration in the message. */
  readonly refreshAfterMs: number;
}

const SHOWN = 10;

/**
 * Undefined when every node has one fingerprint. `previous` is the VIP's last
 * Programmed condition: while it already said RingMismatch, its
 * lastTransitionTime is when the mismatch began.
 */
export function ringMismatch(rings: readonly NodeRing[], previous: Condition | undefined, now: string): RingMismatch | undefined {
  const groups = new Map<string, string[]>();
  for (const r of [...rings].sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const fp = r.fingerprint ?? 'none';
    groups.set(fp, [...(groups.get(fp) ?? []), r.name]);
  }
  if (groups.size < 2) return undefined;
  // The majority ring is the reference; a tie goes to the ring of the first node by name.
  const [reference, ...others] = [...groups].sort(([, a], [, b]) => b.length - a.length || (a[0]! < b[0]! ? -1 : 1));
  const differing = others.flatMap(([fp, names]) => names.map((n) => `${n} has fingerprint ${fp}`));
  const shown = differing.length > SHOWN ? [...differing.slice(0, SHOWN), `${differing.length - SHOWN} more`] : differing;
  const [refFp, refNodes] = reference!;
  const refText = refNodes.length === 1 ? `${refNodes[0]} has ${refFp}` : `the other ${refNodes.length} have ${refFp}`;
  const since = previous?.reason === 'RingMismatch' && previous.status === 'False' ? previous.lastTransitionTime : now;
  const seconds = Math.max(0, Math.floor((Date.parse(now) - Date.parse(since)) / 1000));
  return {
    since,
    seconds,
    text: `rings differ on ${differing.length}/${rings.length} nodes for ${formatDuration(seconds)} (${shown.join(', ')}; ${refText})`,
    refreshAfterMs: refreshAfterMs(seconds),
  };
}

/** 42s, 5m12s, 3h4m, 2d5h: precise while fresh, coarser as it ages. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${s % 60 === 0 ? '' : `${s % 60}s`}`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86_400)}d${Math.floor((s % 86_400) / 3600)}h`;
}

/** Every 10 s in the first minute, every minute in the first hour, then every 10 minutes: status writes stay few. */
export function refreshAfterMs(seconds: number): number {
  if (seconds < 60) return 10_000;
  if (seconds < 3600) return 60_000;
  return 600_000;
}
