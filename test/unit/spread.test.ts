// checkSpread: wide enough that a fair balancer does not fail by chance, narrow
// enough that a backend left out or given twice its share still fails.
import { describe, expect, it } from 'vitest';
import { checkSpread } from '../support/e2e/spread.ts';

const four = { a: 1, b: 1, c: 1, d: 1 };

describe('checkSpread', () => {
  it('accepts what a fair balancer gives by chance (the CI failure: 70 of 200 over four)', () => {
    const r = checkSpread({ a: 39, b: 43, c: 48, d: 70 }, four, 200);
    expect(r.ok, r.summary).toBe(true);
    expect(r.summary).toContain('d: 70 (expected 50 ±31)');
  });

  it('rejects a backend with nothing, one with twice its share, and one outside the shares', () => {
    expect(checkSpread({ a: 0, b: 67, c: 67, d: 66 }, four, 200).ok).toBe(false);
    expect(checkSpread({ a: 100, b: 34, c: 33, d: 33 }, four, 200).ok).toBe(false);
    const stray = checkSpread({ a: 50, b: 50, c: 50, d: 49, e: 1 }, four, 200);
    expect(stray.ok).toBe(false);
    expect(stray.summary).toContain('e: 1 (expected 0 ±0) <-- off');
  });

  it('keeps the relative tolerance where it is the wider bound (weights 2:1:1 over 1,000)', () => {
    const r = checkSpread({ a: 640, b: 180, c: 180 }, { a: 2, b: 1, c: 1 }, 1000);
    expect(r.rows.find((x) => x.backend === 'a')?.allowed).toBeCloseTo(175, 5);
    expect(r.ok, r.summary).toBe(true);
    expect(checkSpread({ a: 700, b: 150, c: 150 }, { a: 2, b: 1, c: 1 }, 1000).ok).toBe(false);
  });
});
