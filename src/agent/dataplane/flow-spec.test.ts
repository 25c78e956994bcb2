import { describe, expect, it } from 'vitest';
import { parseFlow } from './flow-spec.ts';

describe('parseFlow', () => {
  it('parses IPv4 and bracketed IPv6 flows', () => {
    expect(parseFlow('tcp 192.0.2.7:5555 -> 10.200.0.10:80')).toEqual({
      protocol: 'TCP',
      family: 'IPv4',
      src: { address: '192.0.2.7', port: 5555 },
      dst: { address: '10.200.0.10', port: 80 },
    });
    expect(parseFlow('UDP [2001:DB8:0::7]:5555->[fd00::10]:443')).toMatchObject({
      protocol: 'UDP',
      family: 'IPv6',
      src: { address: '2001:db8::7' },
      dst: { address: 'fd00::10', port: 443 },
    });
  });

  it('explains what is wrong', () => {
    expect(() => parseFlow('icmp 1.2.3.4:1 -> 5.6.7.8:2')).toThrow(/PROTO SRC:PORT -> DST:PORT/);
    expect(() => parseFlow('tcp 1.2.3.4:1 -> [fd00::1]:2')).toThrow(/IPv4 but destination is IPv6/);
    expect(() => parseFlow('tcp fd00::1:1 -> fd00::2:2')).toThrow(/\[ADDRESS\]:PORT/);
    expect(() => parseFlow('tcp 1.2.3.4:0 -> 5.6.7.8:2')).toThrow(/outside 1-65535/);
    expect(() => parseFlow('tcp 1.2.3.999:1 -> 5.6.7.8:2')).toThrow(/not an IP address/);
  });
});
