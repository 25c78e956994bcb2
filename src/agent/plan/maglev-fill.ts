// The Maglev fill engine behind buildRing (maglev.ts): given each backend's
// permutation (offset, skip) and weight, hands out turns and claims slots.
// Kept apart because it is the hot loop: typed arrays only, no allocation
// inside the loops, and every trick here is checked against a textbook
// implementation in maglev.test.ts.

/**
 * The fill proper. Weighted, turn based: each round every backend earns
 * `weight * k` credit and takes one turn per `totalWeight` of credit. The
 * turn price is the mean weight, so a round hands out ~k turns whatever the
 * skew and the bookkeeping costs O(size + k). A "one turn per round at most,
 * priced at the max weight" scheme spins through mostly idle rounds when one
 * weight dwarfs the others (O(N*M)); Katran-style expansion (w copies of each
 * backend) grows with the weights. Credit arithmetic stays on integers below
 * 2^53, so it is exact and identical on every platform.
 *
 * A turn takes the backend's next unfilled slot in its permutation
 * offset, offset+skip, ... (mod size). Walking costs size/empty probes, which
 * dominates near the end (sum is size*ln(size)); once few slots are empty it
 * is cheaper to look at each empty slot q and compute where it sits in the
 * permutation, t = (q - p) * skip^-1 mod size, taking the smallest t. Both
 * give exactly the same slot, so the ring is plain Maglev either way.
 */
export function fillRing(
  size: number,
  activeIdx: readonly number[],
  pos: Int32Array,
  skip: Int32Array,
  perRound: Float64Array,
  totalWeight: number,
): Uint32Array {
  const k = pos.length;
  // Filled as Int32 with -1 for "empty": V8 keeps int32 loads and compares in
  // registers, while u32 values above 2^31 would be boxed as doubles.
  const fill = new Int32Array(size).fill(-1);
  const values = Int32Array.from(activeIdx);
  // skip^-1 per backend, computed on its first scan-phase turn (0 = not yet;
  // an inverse is never 0): most backends of a large set never need it.
  const inverse = new Float64Array(k);
  // Walking costs size/empty probes per turn, scanning costs `empty` (dearer)
  // modular products: the crossover is near sqrt(size); sqrt(size)/2 measured
  // fastest for 65537 (2.9 -> 2.4 ms for 100 backends vs. walking to the end).
  const scanBelow = Math.min(size - 1, Math.ceil(Math.sqrt(size) / 2));
  const empties = new Int32Array(scanBelow);
  // Allocation stays out of runTurns so V8 optimizes the loop undisturbed.
  runTurns({ fill, size, values, pos, skip, inverse, perRound, credit: new Float64Array(k), totalWeight, empties });
  return new Uint32Array(fill.buffer);
}

interface FillState {
  readonly fill: Int32Array;
  readonly size: number;
  readonly values: Int32Array;
  readonly pos: Int32Array;
  readonly skip: Int32Array;
  readonly inverse: Float64Array;
  readonly perRound: Float64Array;
  readonly credit: Float64Array;
  readonly totalWeight: number;
  readonly empties: Int32Array;
}

function runTurns(st: FillState): void {
  const { fill, size, values, pos, skip, inverse, perRound, credit, totalWeight, empties } = st;
  const k = pos.length;
  const scanBelow = empties.length;
  let remaining = size;
  let e = -1; // number of entries in `empties`; -1 while walking
  for (;;) {
    for (let j = 0; j < k; j++) {
      let c = credit[j]! + perRound[j]!;
      while (c >= totalWeight) {
        c -= totalWeight;
        const s = skip[j]!;
        let q: number;
        if (e < 0) {
          q = walk(fill, pos[j]!, s, size);
        } else {
          let inv = inverse[j]!;
          if (inv === 0) inverse[j] = inv = modInverse(s, size);
          const i = scanBest(empties, e, pos[j]!, inv, size);
          q = empties[i]!;
          empties[i] = empties[--e]!;
        }
        fill[q] = values[j]!;
        // Every slot of this permutation before q is filled and stays filled.
        const next = (q + s - size) | 0;
        pos[j] = (next + ((next >> 31) & size)) | 0;
        if (--remaining === 0) return;
        if (remaining === scanBelow) {
          e = 0;
          for (let x = 0; x < size; x++) if (fill[x] === -1) empties[e++] = x;
        }
      }
      credit[j] = c;
    }
  }
}

/**
 * First unfilled slot of the permutation p, p+s, p+2s, ... (mod size). The
 * wrap is a sign mask, not a branch: whether p+s wraps is random per probe,
 * and mispredicting it cost ~13% of the whole build.
 */
function walk(fill: Int32Array, p: number, s: number, size: number): number {
  const step = (s - size) | 0; // negative; adding size back when p goes below 0
  while (fill[p] !== -1) {
    p = (p + step) | 0;
    p = (p + ((p >> 31) & size)) | 0;
  }
  return p;
}

/**
 * Index in `empties` of the slot that comes first in the permutation starting
 * at p with stride s, i.e. the smallest t = (q - p) * s^-1 mod size.
 */
function scanBest(empties: Int32Array, e: number, p: number, inv: number, size: number): number {
  const recip = 1 / size; // multiply, not divide: the quotient may be off by one, fixed below
  let best = 0;
  let bestT = size;
  for (let i = 0; i < e; i++) {
    let d = empties[i]! - p;
    if (d < 0) d += size;
    const x = d * inv; // below 2^48: exact in a double
    let t = x - Math.floor(x * recip) * size;
    if (t < 0) t += size;
    else if (t >= size) t -= size;
    if (t < bestT) {
      bestT = t;
      best = i;
    }
  }
  return best;
}

/** skip^-1 mod size for prime size (extended Euclid). */
function modInverse(a: number, m: number): number {
  let r0 = a;
  let r1 = m;
  let s0 = 1;
  let s1 = 0;
  while (r1 !== 0) {
    const q = Math.floor(r0 / r1);
    const r2 = r0 - q * r1;
    r0 = r1;
    r1 = r2;
    const s2 = s0 - q * s1;
    s0 = s1;
    s1 = s2;
  }
  return ((s0 % m) + m) % m;
}
