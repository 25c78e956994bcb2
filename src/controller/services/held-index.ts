// The addresses Services hold, per family, as a sorted array of integers, so
// the allocator finds the lowest free address of a range by binary search
// instead of walking every held one. In a sorted array of distinct integers
// `held[k] - k` never decreases, so "the first k where the run of consecutive
// held addresses starting at `from` breaks" is itself a binary search.
import type { IpFamily, ParsedIp } from '../../api/ip.ts';

export function ipToBig(ip: ParsedIp): bigint {
  let n = 0n;
  for (const b of ip.bytes) n = (n << 8n) | BigInt(b);
  return n;
}

export function bigToIp(n: bigint, family: IpFamily): ParsedIp {
  const bytes = new Uint8Array(family === 'IPv4' ? 4 : 16);
  for (let i = bytes.length - 1; i >= 0; i--) {
    bytes[i] = Number(n & 0xffn);
    n >>= 8n;
  }
  return { family, bytes };
}

/** Index of the first element >= x. */
function lowerBound(xs: readonly bigint[], x: bigint, from = 0): number {
  let lo = from;
  let hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((xs[mid] as bigint) < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export class HeldIndex {
  readonly #held: Record<IpFamily, bigint[]> = { IPv4: [], IPv6: [] };

  add(ip: ParsedIp): void {
    const xs = this.#held[ip.family];
    const n = ipToBig(ip);
    const at = lowerBound(xs, n);
    if (xs[at] !== n) xs.splice(at, 0, n);
  }

  delete(ip: ParsedIp): void {
    const xs = this.#held[ip.family];
    const n = ipToBig(ip);
    const at = lowerBound(xs, n);
    if (xs[at] === n) xs.splice(at, 1);
  }

  has(ip: ParsedIp): boolean {
    const xs = this.#held[ip.family];
    const n = ipToBig(ip);
    return xs[lowerBound(xs, n)] === n;
  }

  /** The lowest integer >= from that is not held (may exceed the range: the caller checks). O(log n). */
  firstFree(family: IpFamily, from: bigint): bigint {
    const xs = this.#held[family];
    const k0 = lowerBound(xs, from);
    if (xs[k0] !== from) return from;
    // held[k0..j-1] = from, from+1, ...; the first j where held[j] - j > from - k0 ends the run.
    const offset = from - BigInt(k0);
    let lo = k0;
    let hi = xs.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((xs[mid] as bigint) - BigInt(mid) > offset) hi = mid;
      else lo = mid + 1;
    }
    return from + BigInt(lo - k0);
  }
}
