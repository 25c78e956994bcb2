// Checking how connections spread over backends against expected shares,
// with a message that shows the whole distribution when it is off.

/** Per backend: expected count, observed count, the deviation allowed, and whether it is within it. */
export interface SpreadRow {
  readonly backend: string;
  readonly expected: number;
  readonly observed: number;
  readonly allowed: number;
  readonly ok: boolean;
}

/**
 * Standard deviations of the binomial count allowed on top of `tolerance`.
 * A fixed ±35% alone is ~2.9 sigma for 200 connections over 4 backends: a
 * correct balancer failed it about once in 60 runs (seen in CI). At 5 sigma a
 * false failure is ~1 in 10^6 per backend, while a backend that gets nothing
 * or twice its share still fails for 100 connections and more.
 */
const SIGMAS = 5;

/**
 * Compares `counts` with `shares` (relative weights per backend) over `total`
 * connections. A backend absent from `shares` must get nothing. Each count may
 * be off by ±tolerance of its expectation or 5 sigma of its binomial, whichever is wider.
 */
export function checkSpread(
  counts: Readonly<Record<string, number>>,
  shares: Readonly<Record<string, number>>,
  total: number,
  tolerance = 0.35,
): { ok: boolean; rows: SpreadRow[]; summary: string } {
  const weightSum = Object.values(shares).reduce((a, b) => a + b, 0);
  const names = [...new Set([...Object.keys(shares), ...Object.keys(counts)])].sort();
  const rows = names.map((backend) => {
    const share = (shares[backend] ?? 0) / weightSum;
    const expected = share * total;
    const observed = counts[backend] ?? 0;
    const allowed = Math.max(expected * tolerance, SIGMAS * Math.sqrt(total * share * (1 - share)));
    const ok = expected === 0 ? observed === 0 : Math.abs(observed - expected) <= allowed;
    return { backend, expected, observed, allowed, ok };
  });
  const summary = rows
    .map((r) => `${r.backend}: ${String(r.observed)} (expected ${r.expected.toFixed(0)} ±${r.allowed.toFixed(0)})${r.ok ? '' : ' <-- off'}`)
    .join('; ');
  return { ok: rows.every((r) => r.ok), rows, summary };
}
