// Rings in real indices, memoized across plans: an unchanged VIP yields the
// very same array object the live cache holds, so plan() can skip comparing
// 65537 slots for each of hundreds of VIPs on every reconcile.

import type { DesiredBackend, Limits, Ring } from './model.ts';
import { newRing } from './model.ts';

/** Maglev: slot -> position of the backend in the id-sorted input (src/agent/plan/maglev.ts). */
export type RingBuilder = (backends: readonly { id: string; weight: number }[], size: number) => Uint32Array;
/** Stable hash of a ring in terms of backend ids, equal on every node. */
export type RingFingerprinter = (positions: Uint32Array, sortedIds: readonly string[]) => string;

export interface BuiltRing {
  readonly ring: Ring;
  readonly fingerprint: string | undefined;
}

/** Fingerprint reported for a VIP without any weighted backend. */
export const EMPTY_RING_FINGERPRINT = 'empty';

export class RingCache {
  readonly #entries = new Map<string, BuiltRing>();
  readonly #used = new Set<string>();

  /** `backends` must be sorted by address (the Maglev id). */
  ring(
    backends: readonly DesiredBackend[],
    byAddress: ReadonlyMap<string, number>,
    limits: Limits,
    options: { buildRing: RingBuilder; fingerprint?: RingFingerprinter | undefined },
  ): BuiltRing {
    const weighted = backends.filter((b) => b.weight > 0);
    const indices = weighted.map((b) => byAddress.get(b.address) ?? 0);
    const signature = `${limits.ringSize}|${weighted.map((b, i) => `${b.address}=${b.weight}@${indices[i]}`).join(',')}`;
    this.#used.add(signature);
    const hit = this.#entries.get(signature);
    if (hit !== undefined) return hit;

    const ring = newRing(limits);
    let fingerprint: string | undefined = EMPTY_RING_FINGERPRINT;
    if (weighted.length > 0) {
      const input = weighted.map((b) => ({ id: b.address, weight: b.weight }));
      const positions = options.buildRing(input, limits.ringSize);
      const table = Uint32Array.from(indices);
      for (let i = 0; i < ring.length; i++) ring[i] = table[positions[i] ?? 0] ?? 0;
      fingerprint = options.fingerprint?.(positions, input.map((b) => b.id));
    }
    const built = { ring, fingerprint };
    this.#entries.set(signature, built);
    return built;
  }

  /** Drops every ring the last plan did not use (call once per plan). */
  retainUsed(): void {
    for (const key of this.#entries.keys()) if (!this.#used.has(key)) this.#entries.delete(key);
    this.#used.clear();
  }
}
