import { describe, expect, it } from 'vitest';
import { mtuInForce } from './main.ts';

describe('mtuInForce', () => {
  it('defaults to the interface MTU, capped at the largest IP packet (lo reports 65536, which the settings map cannot hold)', () => {
    expect(mtuInForce(undefined, 1500)).toBe(1500);
    expect(mtuInForce(undefined, 65536)).toBe(65535);
  });

  it('takes --mtu as given (0 = too-big generation off)', () => {
    expect(mtuInForce(9000, 1500)).toBe(9000);
    expect(mtuInForce(0, 65536)).toBe(0);
  });
});
