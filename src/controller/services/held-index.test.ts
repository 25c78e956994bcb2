import { describe, expect, it } from 'vitest';
import { parseIp } from '../../api/ip.ts';
import { HeldIndex, ipToBig } from './held-index.ts';

const ip = (s: string) => parseIp(s) ?? (() => { throw new Error(s); })();
const n = (s: string): bigint => ipToBig(ip(s));

describe('HeldIndex', () => {
  it('finds the first free integer after runs and holes, per family', () => {
    const h = new HeldIndex();
    for (const a of ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.5', '10.0.0.6', '2001:db8::1']) h.add(ip(a));
    expect(h.firstFree('IPv4', n('10.0.0.1'))).toBe(n('10.0.0.4'));
    expect(h.firstFree('IPv4', n('10.0.0.4'))).toBe(n('10.0.0.4'));
    expect(h.firstFree('IPv4', n('10.0.0.5'))).toBe(n('10.0.0.7'));
    expect(h.firstFree('IPv4', n('10.0.0.0'))).toBe(n('10.0.0.0'));
    expect(h.firstFree('IPv6', n('2001:db8::1'))).toBe(n('2001:db8::2'));
    h.delete(ip('10.0.0.2'));
    expect(h.firstFree('IPv4', n('10.0.0.1'))).toBe(n('10.0.0.2'));
    h.add(ip('10.0.0.4'));
    h.add(ip('10.0.0.4'));
    h.add(ip('10.0.0.2'));
    expect(h.firstFree('IPv4', n('10.0.0.1'))).toBe(n('10.0.0.7'));
    expect(h.has(ip('10.0.0.4'))).toBe(true);
    h.delete(ip('10.0.0.4'));
    expect(h.has(ip('10.0.0.4'))).toBe(false);
  });

  it('agrees with a linear scan over random adds and deletes', () => {
    let seed = 7;
    const rand = (m: number): number => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed % m; };
    const h = new HeldIndex();
    const held = new Set<number>();
    for (let step = 0; step < 3000; step++) {
      const x = rand(300);
      const addr = ip(`10.1.${x >> 8}.${x & 255}`);
      if (rand(3) === 0) { h.delete(addr); held.delete(x); } else { h.add(addr); held.add(x); }
      const from = rand(300);
      let want = from;
      while (held.has(want)) want++;
      expect(h.firstFree('IPv4', n('10.1.0.0') + BigInt(from))).toBe(n('10.1.0.0') + BigInt(want));
    }
  });
});
