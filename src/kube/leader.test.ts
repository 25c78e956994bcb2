import { describe, expect, it } from 'vitest';
import { microTime } from './leader.ts';

describe('microTime', () => {
  it('has exactly six fractional digits', () => {
    expect(microTime()).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/);
  });
  it('keeps the microseconds', () => {
    // 2026-11-26T08:15:42.123456Z
    const us = BigInt(Date.UTC(2026, 10, 26, 8, 15, 42, 123)) * 1000n + 456n;
    expect(microTime(us)).toBe('2026-11-26T08:15:42.123456Z');
  });
});
