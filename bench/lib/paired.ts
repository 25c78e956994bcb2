// Paired figures of bench/dataplane.ts: medians of per-round ratios, so load
// and speed changes of the machine between rounds cancel.

/** The median (the upper middle of an even count, as the bench has always printed). */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) throw new RangeError('median of no samples');
  return [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
}

/** Median of numerator[i] / denominator[i] over the pairs that have a denominator; undefined if none. */
export function medianRatio(numerators: readonly number[], denominators: readonly (number | undefined)[]): number | undefined {
  const ratios = numerators.flatMap((n, i) => {
    const d = denominators[i];
    return d ? [n / d] : [];
  });
  return ratios.length ? median(ratios) : undefined;
}
