import { describe, expect, it } from 'vitest';
import { isSterletError } from '../common/errors.ts';
import {
  arp,
  build,
  describeFrame,
  frameDiff,
  eth,
  gue,
  icmp6Echo,
  icmp6TooBig,
  icmpEcho,
  icmpFragNeeded,
  internetChecksum,
  ipv4,
  ipv6,
  parseFrame,
  parsePacket,
  quicLong,
  quicShort,
  quicVarint,
  tcp,
  udp,
  verifyChecksums,
  type EthLayer,
  type IcmpLayer,
  type Ipv4Layer,
  type Ipv6Layer,
  type QuicLongLayer,
  type QuicShortLayer,
  type TcpLayer,
  type UdpLayer,
  type GueLayer,
} from './index.ts';

const MAC_A = '02:00:00:00:00:0a';
const MAC_B = '02:00:00:00:00:0b';
const payload = Buffer.from('hello, sterlet!'); // 15 bytes: odd length on purpose

/** An independent, byte-at-a-time RFC 1071 sum to cross-check the library. */
function referenceChecksum(bytes: Buffer): number {
  let sum = 0;
  for (let i = 0; i < bytes.length; i++) sum += i % 2 === 0 ? bytes[i]! * 256 : bytes[i]!;
  while (sum > 0xffff) sum = (sum % 0x10000) + Math.floor(sum / 0x10000);
  return 0xffff - sum;
}

function layerOf<T>(x: unknown): T {
  expect(Buffer.isBuffer(x)).toBe(false);
  return x as T;
}

describe('checksums: known answers', () => {
  it('RFC 1071 section 3 example', () => {
    // Words 0001 f203 f4f5 f6f7 sum to 0x2ddf0, folded 0xddf2, complement 0x220d.
    const b = Buffer.from('0001f203f4f5f6f7', 'hex');
    expect(internetChecksum(b)).toBe(0x220d);
    expect(referenceChecksum(b)).toBe(0x220d);
  });

  it('IPv4 header checksum of the textbook header 4500 0073 0000 4000 4011 .... c0a8 0001 c0a8 00c7 is 0xb861', () => {
    const pkt = build(ipv4({ src: '192.168.0.1', dst: '192.168.0.199', df: true, ttl: 64, proto: 17, totalLength: 0x73 }));
    expect(pkt.toString('hex')).toBe('4500007300004000' + '4011b861' + 'c0a80001c0a800c7');
  });

  it('UDP checksum 10.0.0.1:1 -> 10.0.0.2:2, empty payload, is 0xebd8', () => {
    // Pseudo-header 0a00 0001 0a00 0002 0011 0008 + header 0001 0002 0008 0000:
    // 0x0a00+0x0001+0x0a00+0x0002+0x0011+0x0008+0x0001+0x0002+0x0008 = 0x1427; ~0x1427 = 0xebd8.
    const pkt = build(ipv4({ src: '10.0.0.1', dst: '10.0.0.2' }, udp({ sport: 1, dport: 2 })));
    expect(pkt.readUInt16BE(20 + 6)).toBe(0xebd8);
  });

  it('ICMPv6 echo request fe80::1 -> fe80::2, id 0 seq 0, is 0x82b8', () => {
    // Pseudo-header fe80+0001+fe80+0002 + length 0008 + next header 003a, message 8000 0000 0000 0000:
    // 0xfe80+0x0001+0xfe80+0x0002+0x0008+0x003a+0x8000 = 0x27d45 -> 0x7d47; ~0x7d47 = 0x82b8.
    const pkt = build(ipv6({ src: 'fe80::1', dst: 'fe80::2' }, icmp6Echo({ id: 0, seq: 0 })));
    expect(pkt.readUInt16BE(40 + 2)).toBe(0x82b8);
  });

  it('agrees with the reference sum on odd-length TCP segments', () => {
    const pkt = build(ipv4({ src: '10.1.2.3', dst: '10.200.0.10' }, tcp({ sport: 40000, dport: 80, flags: 'PA', seq: 7 }, payload)));
    const seg = pkt.subarray(20);
    const pseudo = Buffer.concat([pkt.subarray(12, 20), Buffer.from([0, 6]), Buffer.from([0, seg.length])]);
    expect(referenceChecksum(Buffer.concat([pseudo, seg]))).toBe(0); // a correct checksum sums to zero
    expect(seg.length % 2).toBe(1);
  });
});

// Every kind of frame the fixtures use, built, parsed, rebuilt byte for byte.
const inner4 = ipv4({ src: '192.0.2.1', dst: '10.200.0.10', id: 7 }, tcp({ sport: 40000, dport: 80, flags: 'S', seq: 1000 }));
const inner6 = ipv6({ src: '2001:db8::1', dst: '2001:db8:200::10' }, tcp({ sport: 40000, dport: 443, flags: 'A' }, payload));
const big4 = ipv4({ src: '192.0.2.1', dst: '10.200.0.10', df: true }, tcp({ sport: 40000, dport: 80, flags: 'A' }, Buffer.alloc(1400, 7)));
const big6 = ipv6({ src: '2001:db8::1', dst: '2001:db8:200::10' }, udp({ sport: 5000, dport: 53 }, Buffer.alloc(1400, 9)));
const dcid = Buffer.from('0102030405060708', 'hex');

const cases: Array<[string, EthLayer]> = [
  ['IPv4 TCP SYN', eth({ src: MAC_A, dst: MAC_B }, inner4)],
  ['IPv4 TCP in 802.1Q VLAN', eth({ src: MAC_A, dst: MAC_B, vlan: { id: 100, pcp: 3 } }, inner4)],
  ['IPv4 with options', eth({}, ipv4({ src: '10.0.0.1', dst: '10.0.0.2', options: Buffer.from([0x94, 0x04, 0, 0]) }, udp({ sport: 1, dport: 2 }, payload)))],
  ['IPv4 first fragment', eth({}, ipv4({ src: '10.0.0.1', dst: '10.0.0.2', mf: true, id: 99 }, udp({ sport: 1, dport: 2, length: 3000 }, payload)))],
  ['IPv4 later fragment', eth({}, ipv4({ src: '10.0.0.1', dst: '10.0.0.2', fragOffset: 1480, id: 99, proto: 17 }, payload))],
  ['IPv6 TCP', eth({}, inner6)],
  ['IPv6 fragment', eth({}, ipv6({ src: '2001:db8::1', dst: '2001:db8::2', fragment: { offset: 0, more: true, id: 42 } }, udp({ sport: 1, dport: 2, length: 3000 }, payload)))],
  ['IPv4 UDP', eth({}, ipv4({ src: '10.0.0.1', dst: '10.200.0.10', tos: 0x10, ttl: 3 }, udp({ sport: 5353, dport: 53 }, payload)))],
  ['IPv6 UDP', eth({}, ipv6({ src: '2001:db8::1', dst: '2001:db8::2', flowLabel: 0x12345, trafficClass: 0x20 }, udp({ sport: 5353, dport: 53 }, payload)))],
  ['ARP request', eth({ dst: 'ff:ff:ff:ff:ff:ff' }, arp({ op: 1, senderMac: MAC_A, senderIp: '10.0.0.1', targetIp: '10.0.0.254' }))],
  ['ICMP echo request', eth({}, ipv4({ src: '10.0.0.1', dst: '10.200.0.10' }, icmpEcho({ id: 0x1234, seq: 1 }, payload)))],
  ['ICMP frag-needed quoting a full header + 64 bytes', eth({}, ipv4({ src: '10.0.0.254', dst: '192.0.2.1' }, icmpFragNeeded(1400, build(big4).subarray(0, 20 + 64))))],
  ['ICMP frag-needed quoting a complete packet', eth({}, ipv4({ src: '10.0.0.254', dst: '192.0.2.1' }, icmpFragNeeded(576, inner4)))],
  ['ICMPv6 echo reply', eth({}, ipv6({ src: '2001:db8::2', dst: '2001:db8::1' }, icmp6Echo({ id: 5, seq: 6, reply: true }, payload)))],
  ['ICMPv6 packet too big', eth({}, ipv6({ src: '2001:db8::fe', dst: '2001:db8::1' }, icmp6TooBig(1280, build(big6).subarray(0, 1232))))],
  ['GUE v0 carrying IPv4', eth({}, ipv4({ src: '10.0.0.1', dst: '10.0.1.11' }, udp({ sport: 31000, dport: 6080 }, gue(inner4))))],
  ['GUE v0 carrying IPv6 over IPv6', eth({}, ipv6({ src: 'fc00::1', dst: 'fc00::11' }, udp({ sport: 31000, dport: 6080 }, gue(inner6))))],
  ['GUE v1 (bare inner IP)', eth({}, ipv4({ src: '10.0.0.1', dst: '10.0.1.11' }, udp({ sport: 31000, dport: 6080 }, gue(inner4, { variant: 1 }))))],
  ['IPIP', eth({}, ipv4({ src: '10.0.0.1', dst: '10.0.1.11' }, inner4))],
  ['IP6IP6', eth({}, ipv6({ src: 'fc00::1', dst: 'fc00::11' }, inner6))],
  ['4-in-6', eth({}, ipv6({ src: 'fc00::1', dst: 'fc00::11' }, inner4))],
  ['QUIC long header (Initial)', eth({}, ipv4({ src: '192.0.2.1', dst: '10.200.0.10' }, udp({ sport: 50000, dport: 443 }, quicLong({ dcid, scid: Buffer.from('aabb', 'hex'), token: Buffer.from('t0'), packetNumber: 1, payload })))) ],
  ['QUIC short header', eth({}, ipv6({ src: '2001:db8::1', dst: '2001:db8:200::10' }, udp({ sport: 50000, dport: 443 }, quicShort({ dcid, packetNumber: 9, payload }))))],
  ['Ethernet padding after a short packet', eth({ trailer: Buffer.alloc(6) }, ipv4({ src: '10.0.0.1', dst: '10.0.0.2' }, udp({ sport: 1, dport: 2 })))],
];

describe('build -> parse -> build round trip', () => {
  for (const [name, spec] of cases) {
    it(name, () => {
      const bytes = build(spec);
      const parsed = parseFrame(bytes);
      expect(build(parsed)).toEqual(bytes);
      expect(verifyChecksums(bytes)).toEqual([]);
    });
  }

  it('fills in the fields of a VLAN TCP frame', () => {
    const parsed = parseFrame(build(cases[1]![1]));
    expect(parsed).toMatchObject({ src: MAC_A, dst: MAC_B, vlan: { id: 100, pcp: 3, dei: false }, etherType: 0x0800 });
    const ip = layerOf<Ipv4Layer>(parsed.payload);
    expect(ip).toMatchObject({ kind: 'ipv4', src: '192.0.2.1', dst: '10.200.0.10', ttl: 64, id: 7, proto: 6, totalLength: 40 });
    expect(layerOf<TcpLayer>(ip.payload)).toMatchObject({ kind: 'tcp', sport: 40000, dport: 80, seq: 1000, flags: 0x02, window: 65535 });
  });

  it('describes GUE and the inner packet', () => {
    const parsed = parseFrame(build(cases[16]![1]));
    const outer = layerOf<Ipv6Layer>(parsed.payload);
    const u = layerOf<UdpLayer>(outer.payload);
    const g = layerOf<GueLayer>(u.payload);
    expect(g).toMatchObject({ kind: 'gue', variant: 0, proto: 41 });
    const inner = layerOf<Ipv6Layer>(g.payload);
    expect(inner).toMatchObject({ src: '2001:db8::1', dst: '2001:db8:200::10', nextHeader: 6 });
    expect(layerOf<TcpLayer>(inner.payload).payload).toEqual(payload);
  });

  it('reads the MTU and the quoted packet of ICMP errors', () => {
    const v4 = layerOf<IcmpLayer>(layerOf<Ipv4Layer>(parseFrame(build(cases[11]![1])).payload).payload);
    expect(v4).toMatchObject({ type: 3, code: 4, mtu: 1400 });
    expect(v4.quoted).toMatchObject({ kind: 'ipv4', src: '192.0.2.1', dst: '10.200.0.10', totalLength: 1440, truncated: true });
    const v6 = layerOf<IcmpLayer>(layerOf<Ipv6Layer>(parseFrame(build(cases[14]![1])).payload).payload);
    expect(v6).toMatchObject({ kind: 'icmp6', type: 2, mtu: 1280 });
    expect(v6.quoted).toMatchObject({ kind: 'ipv6', dst: '2001:db8:200::10', truncated: true });
  });

  it('reads fragment fields', () => {
    const f4 = layerOf<Ipv4Layer>(parseFrame(build(cases[4]![1])).payload);
    expect(f4).toMatchObject({ fragOffset: 1480, mf: false, id: 99 });
    expect(Buffer.isBuffer(f4.payload)).toBe(true);
    const f6 = layerOf<Ipv6Layer>(parseFrame(build(cases[6]![1])).payload);
    expect(f6).toMatchObject({ nextHeader: 17, fragment: { offset: 0, more: true, id: 42 } });
  });

  it('reads QUIC connection ids', () => {
    const long = layerOf<QuicLongLayer>(layerOf<UdpLayer>(layerOf<Ipv4Layer>(parseFrame(build(cases[21]![1])).payload).payload).payload);
    expect(long).toMatchObject({ kind: 'quic-long', packetType: 0, version: 1, dcid, scid: Buffer.from('aabb', 'hex') });
    // Initial body: token length 2, "t0", length varint (1 + 15), packet number 1, payload.
    expect(long.body).toEqual(Buffer.concat([Buffer.from([2]), Buffer.from('t0'), quicVarint(16), Buffer.from([1]), payload]));
    const short = layerOf<QuicShortLayer>(layerOf<UdpLayer>(layerOf<Ipv6Layer>(parseFrame(build(cases[22]![1])).payload).payload).payload);
    expect(short).toMatchObject({ kind: 'quic-short', firstByte: 0x40, dcid });
  });

  it('parses a bare IP packet and an ARP frame', () => {
    expect(parsePacket(build(inner6))).toMatchObject({ kind: 'ipv6', hopLimit: 64 });
    expect(parseFrame(build(cases[9]![1])).payload).toMatchObject({ kind: 'arp', op: 1, senderIp: '10.0.0.1', targetMac: '00:00:00:00:00:00' });
  });

  it('encodes QUIC varints in their shortest form', () => {
    expect(quicVarint(37).toString('hex')).toBe('25');
    expect(quicVarint(15293).toString('hex')).toBe('7bbd'); // RFC 9000 A.1 examples
    expect(quicVarint(494878333).toString('hex')).toBe('9d7f3e7d');
  });
});

describe('verifyChecksums', () => {
  const flip = (b: Buffer, at: number): Buffer => {
    const c = Buffer.from(b);
    c[at] = c[at]! ^ 0x01;
    return c;
  };

  it('catches a flipped byte in the IPv4 header', () => {
    const problems = verifyChecksums(flip(build(cases[0]![1]), 14 + 8)); // TTL
    expect(problems.map((p) => [p.path, p.kind])).toEqual([['eth/ipv4', 'checksum']]);
  });

  it('catches a flipped payload byte in TCP, UDP, ICMP and ICMPv6', () => {
    for (const [i, path] of [[5, 'eth/ipv6/tcp'], [7, 'eth/ipv4/udp'], [10, 'eth/ipv4/icmp'], [13, 'eth/ipv6/icmp6']] as const) {
      const bytes = build(cases[i]![1]);
      const problems = verifyChecksums(flip(bytes, bytes.length - 1));
      expect(problems.map((p) => p.path)).toEqual([path]);
      expect(problems[0]?.found).not.toBe(problems[0]?.expected);
    }
  });

  it('catches a flipped byte inside a GUE tunnel and inside IPIP', () => {
    const g = build(cases[15]![1]);
    const gp = verifyChecksums(flip(g, g.length - 1)).map((p) => p.path);
    // Outer first: the outer UDP checksum covers the same byte as the inner TCP one.
    expect(gp).toEqual(['eth/ipv4/udp', 'eth/ipv4/udp/gue/ipv4/tcp']);
    const ipip = build(cases[18]![1]);
    expect(verifyChecksums(flip(ipip, 14 + 20 + 8)).map((p) => p.path)).toEqual(['eth/ipv4/ipv4']);
  });

  it('checks the header of a quoted packet', () => {
    const bytes = build(cases[11]![1]);
    const quotedTtl = 14 + 20 + 8 + 8;
    const paths = verifyChecksums(flip(bytes, quotedTtl)).map((p) => p.path);
    expect(paths).toEqual(['eth/ipv4/icmp', 'eth/ipv4/icmp/quoted-ipv4']);
  });

  it('checks the transport checksum of a complete quoted packet', () => {
    const bytes = build(cases[12]![1]);
    const paths = verifyChecksums(flip(bytes, bytes.length - 1)).map((p) => p.path);
    expect(paths).toEqual(['eth/ipv4/icmp', 'eth/ipv4/icmp/quoted-ipv4/tcp']);
  });

  it('reports the value a wrong checksum should have', () => {
    const good = build(cases[7]![1]);
    const bad = build(eth({}, ipv4({ src: '10.0.0.1', dst: '10.200.0.10', tos: 0x10, ttl: 3, checksum: 0xdead }, udp({ sport: 5353, dport: 53, checksum: 0xbeef }, payload))));
    const problems = verifyChecksums(bad);
    expect(problems).toHaveLength(2);
    expect(problems[0]).toMatchObject({ path: 'eth/ipv4', found: 0xdead, expected: good.readUInt16BE(14 + 10) });
    expect(problems[1]).toMatchObject({ path: 'eth/ipv4/udp', found: 0xbeef, expected: good.readUInt16BE(14 + 20 + 6) });
    expect(problems[1]?.message).toContain('0xbeef');
  });

  it('reports truncation outside ICMP quotes', () => {
    const bytes = build(cases[0]![1]);
    const problems = verifyChecksums(bytes.subarray(0, bytes.length - 4));
    expect(problems.map((p) => [p.path, p.kind])).toEqual([['eth/ipv4', 'truncated']]);
    expect(verifyChecksums(Buffer.alloc(10))[0]?.kind).toBe('truncated');
  });

  it('flags a zero UDP checksum over IPv6 unless allowed', () => {
    const bytes = build(eth({}, ipv6({ src: 'fc00::1', dst: 'fc00::2' }, udp({ sport: 1, dport: 6080, checksum: 0 }, gue(inner4)))));
    expect(verifyChecksums(bytes).map((p) => p.kind)).toEqual(['zero-checksum']);
    expect(verifyChecksums(bytes, { allowZeroUdp6Checksum: true })).toEqual([]);
    // Over IPv4 a zero UDP checksum means "none" and is fine.
    expect(verifyChecksums(build(eth({}, ipv4({ src: '10.0.0.1', dst: '10.0.0.2' }, udp({ sport: 1, dport: 2, checksum: 0 }, payload)))))).toEqual([]);
  });

  it('verifies a bare IP packet', () => {
    const bytes = build(inner4);
    expect(verifyChecksums(bytes, { from: 'ip' })).toEqual([]);
    expect(verifyChecksums(flip(bytes, bytes.length - 1), { from: 'ip' }).map((p) => p.path)).toEqual(['ipv4/tcp']);
  });
});

describe('builder errors', () => {
  const code = (fn: () => unknown): string | undefined => {
    try {
      fn();
    } catch (err) {
      return isSterletError(err) ? err.code : 'other';
    }
    return undefined;
  };

  it('needs an IP header around TCP/UDP and valid addresses and flags', () => {
    expect(code(() => build(tcp({ sport: 1, dport: 2 })))).toBe('PACKET_NO_IP_HEADER');
    expect(code(() => build(ipv4({ src: '10.0.0.300', dst: '10.0.0.1' })))).toBe('PACKET_BAD_ADDRESS');
    expect(code(() => build(ipv6({ src: '10.0.0.1', dst: '::1' })))).toBe('PACKET_BAD_ADDRESS');
    expect(code(() => build(eth({ src: 'nope' })))).toBe('PACKET_BAD_ADDRESS');
    expect(code(() => build(ipv4({ src: '10.0.0.1', dst: '10.0.0.2' }, tcp({ sport: 1, dport: 2, flags: 'SX' }))))).toBe('PACKET_BAD_TCP_FLAGS');
  });
});

describe('describe and frameDiff', () => {
  it('prints one line per frame, tcpdump style', () => {
    expect(describeFrame(build(cases[1]![1]))).toBe(
      'eth 02:00:00:00:00:0a > 02:00:00:00:00:0b vlan 100 | ipv4 192.0.2.1 > 10.200.0.10 ttl 64 | tcp 40000 > 80 [S] seq 1000',
    );
    expect(describeFrame(build(cases[16]![1]))).toBe(
      'eth 02:00:00:00:00:01 > 02:00:00:00:00:02 | ipv6 fc00::1 > fc00::11 hlim 64 | udp 31000 > 6080 | gue v0 | ipv6 2001:db8::1 > 2001:db8:200::10 hlim 64 | tcp 40000 > 443 [A] seq 0 | 15 bytes',
    );
    expect(describeFrame(build(cases[11]![1]))).toContain('icmp type 3 code 4 mtu 1400 quoting [ipv4 192.0.2.1 > 10.200.0.10 ttl 64 DF (truncated) | tcp 40000 > 80 [A] seq 0');
  });

  it('says where two frames differ', () => {
    const want = build(cases[15]![1]);
    expect(frameDiff(want, Buffer.from(want))).toBeUndefined();
    const got = Buffer.from(want);
    got[14 + 20 + 8 + 4 + 8] = 9; // inner IPv4 TTL
    const diff = frameDiff(cases[15]![1], got) ?? '';
    expect(diff).toContain('frames differ at byte 54: 0x40 vs 0x09 (in eth/ipv4/udp/gue/ipv4)');
    expect(diff).toContain('actual:   eth');
    expect(frameDiff(want, want.subarray(0, 20))).toContain('length');
  });
});
