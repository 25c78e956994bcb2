import { describe, expect, it } from 'vitest';
import { canonicalIp, cidrContains, compareIp, formatCidr, isCidr, isGlobalUnicast, isIp, parseCidr, parseIp } from './ip.ts';

describe('parseIp', () => {
  it.each([
    ['10.200.0.10', '10.200.0.10', 'IPv4'],
    ['0.0.0.0', '0.0.0.0', 'IPv4'],
    ['2001:DB8:0:0:0:0:0:10', '2001:db8::10', 'IPv6'],
    ['2001:db8::', '2001:db8::', 'IPv6'],
    ['::', '::', 'IPv6'],
    ['::1', '::1', 'IPv6'],
    ['2001:db8:0:1:0:0:0:1', '2001:db8:0:1::1', 'IPv6'],
    ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1', 'IPv6'],
    ['2001:0:0:1:1:0:0:1', '2001::1:1:0:0:1', 'IPv6'],
    ['2001:db8:1:1:1:1:0:1', '2001:db8:1:1:1:1:0:1', 'IPv6'],
    ['64:ff9b::192.0.2.1', '64:ff9b::c000:201', 'IPv6'],
  ])('accepts %s as %s (%s)', (text, canonical, family) => {
    expect(canonicalIp(text)).toBe(canonical);
    expect(parseIp(text)?.family).toBe(family);
  });

  it.each([
    '', '10.0.0', '10.0.0.256', '010.0.0.1', '10.0.0.1/24', 'fe80::1%eth0', '::ffff:10.0.0.1',
    '1:2:3:4:5:6:7:8:9', '1::2::3', '12345::', 'g::1', 'web.example', ' 10.0.0.1',
    '10.0.0.1.', '.10.0.0.1', '10..0.1', '10.0.0.1.2', '10.0.0.00', '10.0.0.1000', '1e1.0.0.1', '10.0.0.-1',
  ])('rejects %j', (text) => {
    expect(isIp(text)).toBe(false);
  });
});

describe('CIDRs', () => {
  it('parses, masks host bits and tests membership', () => {
    const net = parseCidr('10.1.2.3/16');
    expect(net && formatCidr(net)).toBe('10.1.0.0/16');
    const v4 = (s: string) => parseIp(s) ?? expect.fail(s);
    expect(net && cidrContains(net, v4('10.1.255.1'))).toBe(true);
    expect(net && cidrContains(net, v4('10.2.0.1'))).toBe(false);
    const odd = parseCidr('192.168.0.0/23');
    expect(odd && cidrContains(odd, v4('192.168.1.9'))).toBe(true);
    expect(odd && cidrContains(odd, v4('192.168.2.9'))).toBe(false);
    const six = parseCidr('2001:db8::/32');
    expect(six && cidrContains(six, v4('2001:db8:ffff::1'))).toBe(true);
    expect(six && cidrContains(six, v4('10.1.0.1'))).toBe(false);
    const all = parseCidr('0.0.0.0/0');
    expect(all && cidrContains(all, v4('255.255.255.255'))).toBe(true);
  });

  it.each(['10.0.0.0', '10.0.0.0/33', '::/129', '10.0.0.0/08', '/8', 'x/8'])('rejects %j', (text) => {
    expect(isCidr(text)).toBe(false);
  });
});

describe('compareIp', () => {
  it('orders IPv4 before IPv6, then numerically', () => {
    const sorted = ['2001:db8::2', '10.0.0.10', '10.0.0.9', '2001:db8::1', '9.255.255.255']
      .map((s) => parseIp(s) ?? expect.fail(s))
      .sort(compareIp)
      .map((ip) => canonicalIp(ip.family === 'IPv4' ? Array.from(ip.bytes).join('.') : formatV6(ip.bytes)));
    expect(sorted).toEqual(['9.255.255.255', '10.0.0.9', '10.0.0.10', '2001:db8::1', '2001:db8::2']);
  });
});

function formatV6(bytes: Uint8Array): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0)).toString(16));
  return groups.join(':');
}

describe('isGlobalUnicast', () => {
  const unicast = (s: string): boolean => isGlobalUnicast(parseIp(s) ?? expect.fail(s));
  it.each(['10.0.0.1', '192.0.2.1', '1.1.1.1', '0.1.2.3', '240.0.0.1', '2001:db8::1', 'fd00::1', '::2'])('%s is unicast', (s) => {
    expect(unicast(s)).toBe(true);
  });
  it.each(['0.0.0.0', '127.0.0.1', '127.255.0.9', '224.0.0.1', '239.1.1.1', '169.254.1.1', '255.255.255.255', '::', '::1', 'ff02::1', 'fe80::1', 'febf::1'])(
    '%s is not',
    (s) => {
      expect(unicast(s)).toBe(false);
    },
  );
});
