import { describe, expect, it } from 'vitest';
import { isSterletError } from '../../common/errors.ts';
import {
  DEFAULT_RING_SIZE,
  buildRing,
  hashA,
  hashB,
  isPrime,
  nearestPrimes,
  ringFingerprint,
  ringShares,
  slotsMoved,
  sortBackends,
  type MaglevBackend,
  type RingView,
} from './maglev.ts';

const utf8 = new TextEncoder();

function backends(n: number, weight: (i: number) => number = () => 1): MaglevBackend[] {
  return Array.from({ length: n }, (_, i) => ({ id: `default/web-${i}`, weight: weight(i) }));
}

function view(list: readonly MaglevBackend[], size = DEFAULT_RING_SIZE): RingView {
  return { ring: buildRing(list, size), ids: sortBackends(list).map((b) => b.id) };
}

/**
 * Textbook Maglev written the slow, obvious way: permutation entry j of a
 * backend is (offset + j * skip) mod size, computed afresh each probe. The
 * fast builder must produce exactly this table.
 */
function referenceRing(list: readonly MaglevBackend[], size: number): Uint32Array {
  const sorted = sortBackends(list);
  const active = sorted.flatMap((b, i) => (b.weight > 0 ? [{ b, i }] : []));
  const k = active.length;
  const total = active.reduce((sum, { b }) => sum + b.weight, 0);
  const table = new Array<number>(size).fill(-1);
  const next = new Array<number>(k).fill(0);
  const credit = new Array<number>(k).fill(0);
  let filled = 0;
  for (;;) {
    for (let j = 0; j < k; j++) {
      const { b, i } = active[j]!;
      const bytes = utf8.encode(b.id);
      const offset = hashA(bytes) % size;
      const skip = (hashB(bytes) % (size - 1)) + 1;
      credit[j]! += b.weight * k;
      while (credit[j]! >= total) {
        credit[j]! -= total;
        let slot: number;
        do {
          slot = (offset + next[j]! * skip) % size;
          next[j]! += 1;
        } while (table[slot] !== -1);
        table[slot] = i;
        if (++filled === size) return Uint32Array.from(table);
      }
    }
  }
}

function expectCode(fn: () => unknown, code: string): Error {
  try {
    fn();
  } catch (err) {
    expect(isSterletError(err, code), `expected ${code}, got ${String(err)}`).toBe(true);
    return err as Error;
  }
  throw new Error(`expected ${code} to be thrown`);
}

describe('buildRing', () => {
  it.each([
    ['3 equal backends, tiny ring', backends(3), 13],
    ['7 weighted backends', backends(7, (i) => 1 + (i % 4)), 101],
    ['one dominant weight', backends(20, (i) => (i === 5 ? 1000 : 1)), 4099],
    ['100 equal backends, default size', backends(100), DEFAULT_RING_SIZE],
    ['1000 mixed weights with drained ones', backends(1000, (i) => i % 5), DEFAULT_RING_SIZE],
    [
      'non-ASCII and very long ids',
      [
        { id: 'café/wéb-1', weight: 1 },
        { id: 'ns/バックエンド', weight: 2 },
        { id: `long/${'x'.repeat(300)}`, weight: 1 },
        { id: 'plain', weight: 1 },
      ],
      1009,
    ],
  ])('equals the textbook Maglev table: %s', (_name, list, size) => {
    expect(buildRing(list, size)).toEqual(referenceRing(list, size));
  });

  it('fills every slot with a backend position', () => {
    const ring = buildRing(backends(10), 4099);
    expect(ring.length).toBe(4099);
    expect(Math.max(...ring)).toBeLessThan(10);
  });

  it('does not depend on input order', () => {
    const list = backends(50, (i) => 1 + (i % 3));
    const shuffled = [...list].reverse();
    shuffled.push(shuffled.shift()!);
    expect(buildRing(shuffled)).toEqual(buildRing(list));
  });

  it('is pinned to fixed hash values (same ring on every platform and run)', () => {
    expect(hashA(utf8.encode('default/web-1'))).toBe(3781158998);
    expect(hashB(utf8.encode('default/web-1'))).toBe(166126421);
    const list = [
      { id: 'default/web-1', weight: 2 },
      { id: 'default/web-2', weight: 1 },
      { id: 'default/web-3', weight: 1 },
    ];
    expect(Array.from(buildRing(list, 13)).join(',')).toBe('1,0,1,0,0,0,0,2,2,1,2,0,0');
    expect(ringFingerprint(buildRing(list), sortBackends(list))).toBe('b18edc9e143ff0e1');
  });

  it('balances equal weights to within one slot', () => {
    const shares = ringShares(buildRing(backends(100)), 100);
    expect(Math.max(...shares) - Math.min(...shares)).toBeLessThanOrEqual(1);
  });

  it('gives slots proportional to weights (2:1:1 and 1000:1)', () => {
    const shares = ringShares(buildRing(backends(3, (i) => (i === 0 ? 2 : 1))), 3);
    expect(shares[0]! / DEFAULT_RING_SIZE).toBeCloseTo(0.5, 3);
    expect(shares[1]! / DEFAULT_RING_SIZE).toBeCloseTo(0.25, 3);
    const skewed = ringShares(buildRing(backends(100, (i) => (i === 0 ? 1000 : 1))), 100);
    expect(skewed[0]! / DEFAULT_RING_SIZE).toBeCloseTo(1000 / 1099, 2);
    for (let i = 1; i < 100; i++) expect(Math.abs(skewed[i]! - DEFAULT_RING_SIZE / 1099)).toBeLessThan(3);
  });

  it('depends only on weight ratios', () => {
    const list = backends(30, (i) => 1 + (i % 3));
    expect(buildRing(list.map((b) => ({ ...b, weight: b.weight * 7 })))).toEqual(buildRing(list));
  });

  it('gives weight-0 backends no slots but keeps their sorted position', () => {
    const list = [
      { id: 'a', weight: 1 },
      { id: 'b', weight: 0 },
      { id: 'c', weight: 1 },
    ];
    const shares = ringShares(buildRing(list, 101), 3);
    expect(shares[1]).toBe(0);
    expect(shares[0]! + shares[2]!).toBe(101);
  });

  it('returns an empty ring when no backend has weight', () => {
    expect(buildRing([{ id: 'a', weight: 0 }]).length).toBe(0);
    expect(buildRing([]).length).toBe(0);
  });

  it('rejects non-prime sizes and names the nearest primes', () => {
    const err = expectCode(() => buildRing(backends(2), 65536), 'MAGLEV_RING_SIZE_NOT_PRIME');
    expect(err.message).toContain('65536');
    expect(err.message).toContain('65521 or 65537');
    expectCode(() => buildRing(backends(2), 1), 'MAGLEV_RING_SIZE_OUT_OF_RANGE');
    expectCode(() => buildRing(backends(2), 101.5), 'MAGLEV_RING_SIZE_OUT_OF_RANGE');
  });

  it('rejects bad weights, duplicate and empty ids, and more backends than slots', () => {
    expectCode(() => buildRing([{ id: 'a', weight: -1 }]), 'MAGLEV_INVALID_WEIGHT');
    expectCode(() => buildRing([{ id: 'a', weight: 1.5 }]), 'MAGLEV_INVALID_WEIGHT');
    expectCode(() => buildRing([{ id: 'a', weight: 1 }, { id: 'a', weight: 2 }]), 'MAGLEV_DUPLICATE_BACKEND');
    expectCode(() => buildRing([{ id: '', weight: 1 }]), 'MAGLEV_INVALID_BACKEND_ID');
    expectCode(() => buildRing(backends(20), 13), 'MAGLEV_TOO_MANY_BACKENDS');
  });
});

describe('minimal disruption', () => {
  // Removing one of N backends must move its own 1/N of the slots; Maglev
  // trades a little extra churn for perfect balance, because the freed slots
  // change the order in which others reach their preferences. The paper
  // reports the extra churn stays small when size >> N; measured here:
  // N=10 -> 1.02/N, N=100 -> ~1.6/N. Bound: 2/N, checked for several removed
  // backends so one lucky id cannot pass it.
  it.each([10, 100])('removing 1 of %i backends moves about 1/N of the slots', (n) => {
    const list = backends(n);
    const before = view(list);
    for (const removed of [0, Math.floor(n / 3), n - 1]) {
      const after = view(list.filter((_, i) => i !== removed));
      const moved = slotsMoved(before, after) / DEFAULT_RING_SIZE;
      const owned = ringShares(before.ring, n)[removed]! / DEFAULT_RING_SIZE;
      expect(moved).toBeGreaterThanOrEqual(owned);
      expect(moved).toBeLessThan(2 / n);
    }
  });

  it('adding a backend takes about 1/(N+1) of the slots', () => {
    const list = backends(100);
    const after = view([...list, { id: 'default/web-new', weight: 1 }]);
    expect(slotsMoved(view(list), after) / DEFAULT_RING_SIZE).toBeLessThan(2 / 101);
  });

  it('reweighting moves slots only in proportion to the change', () => {
    const list = backends(10);
    const heavier = list.map((b, i) => (i === 0 ? { ...b, weight: 2 } : b));
    const moved = slotsMoved(view(list), view(heavier)) / DEFAULT_RING_SIZE;
    // web-0 grows from 1/10 to 2/11 of the ring: at least 0.082 must move.
    expect(moved).toBeGreaterThan(0.08);
    expect(moved).toBeLessThan(0.2);
  });
});

describe('slotsMoved', () => {
  it('is 0 for the same ring and counts by id, not by position', () => {
    const a = view(backends(5), 101);
    expect(slotsMoved(a, a)).toBe(0);
    // Same content, different sorted positions: a drained backend 'aaa' shifts every index.
    const b = view([{ id: 'aaa', weight: 0 }, ...backends(5)], 101);
    expect(slotsMoved(a, b)).toBe(0);
  });

  it('counts every slot when sizes differ', () => {
    expect(slotsMoved(view(backends(3), 13), view(backends(3), 17))).toBe(17);
  });
});

describe('ringFingerprint', () => {
  it('is stable, and changes when the ring changes', () => {
    const list = backends(10);
    const a = ringFingerprint(buildRing(list), sortBackends(list));
    expect(a).toMatch(/^[0-9a-f]{16}$/);
    expect(ringFingerprint(buildRing([...list].reverse()), sortBackends(list))).toBe(a);
    const fewer = list.slice(1);
    expect(ringFingerprint(buildRing(fewer), sortBackends(fewer))).not.toBe(a);
  });

  it('ignores drained backends, which own no slots', () => {
    const list = backends(4);
    const drained = [...list, { id: 'default/web-9', weight: 0 }, { id: 'a-first', weight: 0 }];
    expect(ringFingerprint(buildRing(drained), sortBackends(drained))).toBe(
      ringFingerprint(buildRing(list), sortBackends(list)),
    );
  });

  it('accepts ids and rejects unsorted or mismatched lists', () => {
    const list = backends(3);
    const ids = sortBackends(list).map((b) => b.id);
    const ring = buildRing(list, 13);
    expect(ringFingerprint(ring, ids)).toBe(ringFingerprint(ring, sortBackends(list)));
    expectCode(() => ringFingerprint(ring, [...ids].reverse()), 'MAGLEV_UNSORTED_BACKENDS');
    expectCode(() => ringFingerprint(ring, ids.slice(0, 1)), 'MAGLEV_RING_INDEX_OUT_OF_RANGE');
  });

  it('fingerprints the empty ring', () => {
    expect(ringFingerprint(new Uint32Array(0), [])).toMatch(/^[0-9a-f]{16}$/);
  });
});

describe('primes', () => {
  it('knows the default and its neighbours', () => {
    expect(isPrime(DEFAULT_RING_SIZE)).toBe(true);
    expect(isPrime(65535)).toBe(false);
    expect(nearestPrimes(65536)).toEqual({ below: 65521, above: 65537 });
    expect(nearestPrimes(4)).toEqual({ below: 3, above: 5 });
  });
});
