// Maglev consistent hashing (Eisenbud et al., NSDI 2016), built in user space
// so the XDP program only does `ring[hash % size]`. Everything here is a pure
// function of the backend ids, weights and ring size: every load-balancer node
// computes the same ring whatever order its inputs arrive in.

import { createHash } from 'node:crypto';
import { SterletError } from '../../common/errors.ts';
import { fillRing } from './maglev-fill.ts';

export interface MaglevBackend {
  readonly id: string;
  /** Relative weight, integer 0..MAX_WEIGHT; 0 = drain (no slots). */
  readonly weight: number;
}

/** A ring together with the sorted ids its slot values index into. */
export interface RingView {
  readonly ring: Uint32Array;
  readonly ids: readonly string[];
}

export const DEFAULT_RING_SIZE = 65537;
export const MIN_RING_SIZE = 3;
/** 2^24 slots = 64 MiB of u32 per VIP already; larger rings are a mistake. */
export const MAX_RING_SIZE = 16_777_213;
export const MAX_WEIGHT = 1_000_000;
/** A slot value no ring holds: marks a backend absent from the other ring. */
const ABSENT = 0xffff_ffff;

/**
 * Builds a Maglev lookup table of `size` slots. Slot values are positions in
 * the backends sorted by id (code-unit order, locale independent), including
 * weight-0 backends, so indices are the same on every node.
 *
 * Returns a zero-length array when no backend has a positive weight: the VIP
 * has nothing to send new flows to, which callers must handle explicitly.
 */
export function buildRing(backends: readonly MaglevBackend[], size: number = DEFAULT_RING_SIZE): Uint32Array {
  validateRingSize(size);
  const sorted = sortBackends(backends);
  const activeIdx: number[] = [];
  for (let i = 0; i < sorted.length; i++) if (sorted[i]!.weight > 0) activeIdx.push(i);
  const k = activeIdx.length;
  if (k === 0) return new Uint32Array(0);
  if (k > size) {
    throw new SterletError('MAGLEV_TOO_MANY_BACKENDS', `${k} weighted backends do not fit a ring of ${size} slots`, {
      why: 'every backend needs at least one slot, and Maglev balances well only when the ring is ~100x the backend count',
      fix: `use a ring size of at least ${nearestPrimes(k * 100).above ?? MAX_RING_SIZE}`,
    });
  }

  // Per active backend: where its permutation currently points, its stride,
  // and its weight. Int32 everywhere keeps V8 on its fast integer paths.
  const pos = new Int32Array(k);
  const skip = new Int32Array(k);
  const perRound = new Float64Array(k);
  let totalWeight = 0;
  for (let j = 0; j < k; j++) {
    const b = sorted[activeIdx[j]!]!;
    const bytes = idBytes(b.id);
    pos[j] = hashA(bytes) % size;
    skip[j] = (hashB(bytes) % (size - 1)) + 1; // 1..size-1: coprime with a prime size
    perRound[j] = b.weight * k;
    totalWeight += b.weight;
  }
  return fillRing(size, activeIdx, pos, skip, perRound, totalWeight);
}

/** Validates and sorts backends by id (code-unit order). */
export function sortBackends<T extends MaglevBackend>(backends: readonly T[]): T[] {
  for (const b of backends) {
    if (typeof b.id !== 'string' || b.id.length === 0) {
      throw new SterletError('MAGLEV_INVALID_BACKEND_ID', `backend id ${JSON.stringify(b.id)} is not a non-empty string`, {
        why: 'ring slots are assigned from a hash of the id',
        fix: 'give every backend a stable, unique, non-empty id (e.g. namespace/name)',
      });
    }
    if (!Number.isInteger(b.weight) || b.weight < 0 || b.weight > MAX_WEIGHT) {
      throw new SterletError('MAGLEV_INVALID_WEIGHT', `backend ${b.id} has weight ${b.weight}`, {
        why: `weights are relative integers from 0 (drain) to ${MAX_WEIGHT}`,
        fix: `set an integer weight between 0 and ${MAX_WEIGHT}`,
      });
    }
  }
  const sorted = [...backends].sort((a, b) => compareIds(a.id, b.id));
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i]!.id === sorted[i - 1]!.id) {
      throw new SterletError('MAGLEV_DUPLICATE_BACKEND', `backend id ${sorted[i]!.id} appears twice`, {
        why: 'two backends with one id would share one permutation and make the ring ambiguous',
        fix: 'deduplicate the backend list',
      });
    }
  }
  return sorted;
}

/** Locale-independent id order; the ring depends on it, so it never changes. */
export function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * A stable 16-hex-digit fingerprint of the ring content expressed in backend
 * ids: equal on two nodes iff they send every slot to the same backend,
 * whatever real indices each node uses locally. `backendsSorted` are the ids
 * (or backends) the slot values index into, sorted as buildRing sorts them.
 */
export function ringFingerprint(
  ring: Uint32Array,
  backendsSorted: readonly (string | { readonly id: string })[],
): string {
  const ids = backendsSorted.map((b) => (typeof b === 'string' ? b : b.id));
  for (let i = 1; i < ids.length; i++) {
    if (compareIds(ids[i - 1]!, ids[i]!) >= 0) {
      throw new SterletError('MAGLEV_UNSORTED_BACKENDS', `backend ids are not sorted at position ${i} (${ids[i - 1]} before ${ids[i]})`, {
        why: 'the fingerprint maps slot values to ids through the sorted list',
        fix: 'pass the list returned by sortBackends()',
      });
    }
  }
  // Renumber into the ids that actually own slots, so drained (weight-0)
  // backends, which shift sorted positions but own nothing, do not change it.
  const used = new Uint8Array(ids.length);
  for (let s = 0; s < ring.length; s++) {
    const v = ring[s]!;
    if (v >= ids.length) {
      throw new SterletError('MAGLEV_RING_INDEX_OUT_OF_RANGE', `ring slot ${s} holds ${v} but only ${ids.length} backends were given`, {
        why: 'the ring and the backend list do not belong together',
        fix: 'fingerprint a ring with the sorted backend list it was built from',
      });
    }
    used[v] = 1;
  }
  const compact = new Uint32Array(ids.length);
  const usedIds: string[] = [];
  for (let i = 0; i < ids.length; i++) {
    if (used[i] === 1) {
      compact[i] = usedIds.length;
      usedIds.push(ids[i]!);
    }
  }
  const body = new Uint32Array(ring.length);
  for (let s = 0; s < ring.length; s++) body[s] = compact[ring[s]!]!;
  const h = createHash('sha256');
  h.update(`sterlet-maglev-v1\0${ring.length}\0${usedIds.length}\0`);
  for (const id of usedIds) h.update(`${id}\0`);
  h.update(new Uint8Array(body.buffer, body.byteOffset, body.byteLength));
  return h.digest('hex').slice(0, 16);
}

/**
 * Number of slots whose backend (by id) differs between two rings. Rings of
 * different sizes share no slot meaning, so every slot counts as moved.
 */
export function slotsMoved(a: RingView, b: RingView): number {
  if (a.ring.length !== b.ring.length) return Math.max(a.ring.length, b.ring.length);
  const indexInB = new Map<string, number>();
  b.ids.forEach((id, i) => indexInB.set(id, i));
  // Translate a's slot values into b's numbering once per backend, then the
  // per-slot comparison is integer only.
  const translate = new Uint32Array(a.ids.length);
  for (let i = 0; i < a.ids.length; i++) translate[i] = indexInB.get(a.ids[i]!) ?? ABSENT;
  let moved = 0;
  for (let s = 0; s < a.ring.length; s++) if (translate[a.ring[s]!] !== b.ring[s]) moved++;
  return moved;
}

/** Slots owned by each sorted position (length `backendCount`). */
export function ringShares(ring: Uint32Array, backendCount: number): Uint32Array {
  const shares = new Uint32Array(backendCount);
  for (let s = 0; s < ring.length; s++) shares[ring[s]!]! += 1;
  return shares;
}

export function validateRingSize(size: number): void {
  if (!Number.isInteger(size) || size < MIN_RING_SIZE || size > MAX_RING_SIZE) {
    throw new SterletError('MAGLEV_RING_SIZE_OUT_OF_RANGE', `ring size ${size} is outside ${MIN_RING_SIZE}..${MAX_RING_SIZE}`, {
      why: 'the ring is a prime-sized array the XDP program indexes by hash',
      fix: `use a prime in range; ${DEFAULT_RING_SIZE} is the default`,
    });
  }
  if (!isPrime(size)) {
    const { below, above } = nearestPrimes(size);
    const options = [below, above].filter((p): p is number => p !== undefined).join(' or ');
    throw new SterletError('MAGLEV_RING_SIZE_NOT_PRIME', `ring size ${size} is not prime`, {
      why: 'Maglev permutations only visit every slot when the size is prime',
      fix: `use ${options} (nearest primes), or the default ${DEFAULT_RING_SIZE}`,
    });
  }
}

export function isPrime(n: number): boolean {
  if (!Number.isInteger(n) || n < 2) return false;
  if (n % 2 === 0) return n === 2;
  for (let d = 3; d * d <= n; d += 2) if (n % d === 0) return false;
  return true;
}

/** Closest primes strictly below and above `n`, within the allowed range. */
export function nearestPrimes(n: number): { below: number | undefined; above: number | undefined } {
  let below: number | undefined;
  for (let c = Math.min(Math.ceil(n) - 1, MAX_RING_SIZE); c >= MIN_RING_SIZE; c--) {
    if (isPrime(c)) {
      below = c;
      break;
    }
  }
  let above: number | undefined;
  for (let c = Math.max(Math.floor(n) + 1, MIN_RING_SIZE); c <= MAX_RING_SIZE; c++) {
    if (isPrime(c)) {
      above = c;
      break;
    }
  }
  return { below, above };
}

const utf8 = new TextEncoder();
const asciiScratch = new Uint8Array(256);

/**
 * UTF-8 bytes of an id. Ids are almost always ASCII (namespace/name or an
 * address); copying char codes into a scratch buffer gives the same bytes
 * as TextEncoder without allocating per id. Callers use the view at once.
 */
function idBytes(id: string): Uint8Array {
  if (id.length > asciiScratch.length) return utf8.encode(id);
  for (let i = 0; i < id.length; i++) {
    const c = id.charCodeAt(i);
    if (c > 0x7f) return utf8.encode(id);
    asciiScratch[i] = c;
  }
  return asciiScratch.subarray(0, id.length);
}

// Two independent 32-bit hashes of the id bytes: different per-byte mixing
// (FNV-1a style xor-multiply vs. multiply-rotate) and different finalizers,
// so offset and skip are uncorrelated. Math.imul and >>> are exact 32-bit
// integer operations in every JS engine, so results never vary by platform.

/** Offset hash. */
export function hashA(bytes: Uint8Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i]!, 0x01000193);
  return avalanche(h, 0x7feb352d, 0x846ca68b);
}

/** Skip hash. */
export function hashB(bytes: Uint8Array): number {
  let h = 0x9e3779b9 ^ bytes.length;
  for (let i = 0; i < bytes.length; i++) {
    h = Math.imul(h + bytes[i]! + 0x165667b1, 0xc2b2ae3d);
    h = (h << 13) | (h >>> 19);
  }
  return avalanche(h, 0xa136aaad, 0x9f6d62d7);
}

function avalanche(h: number, m1: number, m2: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, m1);
  h ^= h >>> 15;
  h = Math.imul(h, m2);
  h ^= h >>> 16;
  return h >>> 0;
}
