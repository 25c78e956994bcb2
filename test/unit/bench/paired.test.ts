// The bench's paired figures: a ratio per round, then the median, so a round
// where the whole machine ran slower does not move the result.
import { describe, expect, it } from 'vitest';
import { median, medianRatio } from '../../../bench/lib/paired.ts';

describe('median', () => {
  it('takes the middle sample, the upper one of an even count', () => {
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(3);
    expect(() => median([])).toThrow(RangeError);
  });
});

describe('medianRatio', () => {
  it('pairs samples by round, so a machine that changes speed between rounds cancels', () => {
    // The floor's own rounds mostly in the machine's fast state, the class's mostly in its slow
    // one, each class sample next to a floor sample of its state: medians taken apart give
    // 200 / 68 = 2.94, the pairs 2. The same holds with the states the other way round.
    const floorRounds = [68, 68, 99, 68, 68];
    expect(median([200, 200, 136, 200, 200]) / median(floorRounds)).toBeCloseTo(2.94, 2);
    expect(medianRatio([200, 200, 136, 200, 200], [100, 100, 68, 100, 100])).toBeCloseTo(2, 9);
    expect(medianRatio([136, 136, 198, 136, 136], floorRounds)).toBeCloseTo(2, 9);
  });

  it('skips rounds without a denominator and is undefined when none has one', () => {
    expect(medianRatio([10, 20, 30], [undefined, 10, 10])).toBe(3);
    expect(medianRatio([10, 20], [undefined, undefined])).toBeUndefined();
    expect(medianRatio([], [])).toBeUndefined();
  });
});
