// Rings in real indices, memoized across plans: an unchanged VIP yields the
// very same array object the live cache holds, so plan() can skip comparing
// 65537 slots for each of hundreds of VIPs on every reconcile. Rings built
// elsewhere (ring-pool.ts, off the event loop) are handed in before a plan:
// missing() lists the Maglev inputs no cached ring covers, addPrebuilt()
// takes their positions, and ring() then only maps positions to indices.

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

/** One Maglev input: weighted backend ids sorted as buildRing sorts them, and their weights. */
export interface RingInput {
  readonly key: string;
  readonly ids: readonly string[];
  readonly weights: readonly number[];
}

/** What buildRing and ringFingerprint give for one input. */
export interface PrebuiltRing {
  readonly positions: Uint32Array;
  readonly fingerprint: string | undefined;
}

/** The weighted backends of a VIP, sorted by address (the Maglev id). */
function weightedSorted(backends: readonly DesiredBackend[]): DesiredBackend[] {
  return backends.filter((b) => b.weight > 0).sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
}

function inputKey(weighted: readonly DesiredBackend[], ringSize: number): string {
  return `${ringSize}|${weighted.map((b) => `${b.address}=${b.weight}`).join(',')}`;
}

/** Fingerprint reported for a VIP without any weighted backend. */
export const EMPTY_RING_FINGERPRINT = 'empty';

export class RingCache {
  readonly #entries = new Map<string, BuiltRing & { readonly input: string }>();
  readonly #used = new Set<string>();
  /** Input keys of the cached rings. */
  readonly #inputs = new Set<string>();
  /** Handed in for the next plan; dropped by retainUsed(). */
  readonly #prebuilt = new Map<string, PrebuiltRing>();

  /** The Maglev inputs of these VIPs that no cached ring covers, each once. */
  missing(vips: readonly { readonly backends: readonly DesiredBackend[] }[], ringSize: number): RingInput[] {
    const out = new Map<string, RingInput>();
    for (const vip of vips) {
      const weighted = weightedSorted(vip.backends);
      if (weighted.length === 0) continue;
      const key = inputKey(weighted, ringSize);
      if (this.#inputs.has(key) || this.#prebuilt.has(key) || out.has(key)) continue;
      out.set(key, { key, ids: weighted.map((b) => b.address), weights: weighted.map((b) => b.weight) });
    }
    return [...out.values()];
  }

  /** Rings built elsewhere for inputs missing() listed; used by the next plan. */
  addPrebuilt(rings: ReadonlyMap<string, PrebuiltRing>): void {
    for (const [key, ring] of rings) this.#prebuilt.set(key, ring);
  }

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
    const input = inputKey(weighted, limits.ringSize);
    if (weighted.length > 0) {
      const ids = weighted.map((b) => b.address);
      const pre = this.#prebuilt.get(input);
      const positions = pre?.positions ?? options.buildRing(weighted.map((b) => ({ id: b.address, weight: b.weight })), limits.ringSize);
      const table = Uint32Array.from(indices);
      for (let i = 0; i < ring.length; i++) ring[i] = table[positions[i] ?? 0] ?? 0;
      fingerprint = options.fingerprint === undefined ? undefined : pre !== undefined ? pre.fingerprint : options.fingerprint(positions, ids);
    }
    const built = { ring, fingerprint, input };
    this.#entries.set(signature, built);
    this.#inputs.add(input);
    return built;
  }

  /** Drops every ring the last plan did not use, and what was handed in for it (call once per plan). */
  retainUsed(): void {
    for (const key of this.#entries.keys()) if (!this.#used.has(key)) this.#entries.delete(key);
    this.#used.clear();
    this.#inputs.clear();
    for (const e of this.#entries.values()) this.#inputs.add(e.input);
    this.#prebuilt.clear();
  }
}
