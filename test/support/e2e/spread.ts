// Checking how connections spread over backends against expected shares,
// with a message that shows the whole distribution when it is off.

/** Per backend: expected count, observed count, and whether it is within ±tolerance of expected. */
export interface SpreadRow {
  readonly backend: string;
  readonly expected: number;
  readonly observed: number;
  readonly ok: boolean;
}

/**
 * Compares `counts` with `shares` (relative weights per backend) over `total`
 * connections. A backend absent from `shares` must get nothing.
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
    const expected = ((shares[backend] ?? 0) / weightSum) * total;
    const observed = counts[backend] ?? 0;
    const ok = expected === 0 ? observed === 0 : Math.abs(observed - expected) <= expected * tolerance;
    return { backend, expected, observed, ok };
  });
  const summary = rows
    .map((r) => `${r.backend}: ${String(r.observed)} (expected ${r.expected.toFixed(0)} ±${String(tolerance * 100)}%)${r.ok ? '' : ' <-- off'}`)
    .join('; ');
  return { ok: rows.every((r) => r.ok), rows, summary };
}
