// Cross-checks the packet builder's checksums against the Linux stack: frames
// are injected with AF_PACKET into one end of a veth pair (receive checksum
// offload off on the other end, inside a fresh netns) and the netns' SNMP
// counters must show a correct frame accepted (for TCP: answered with a RST)
// and a one-bit-flipped copy counted as a checksum error.
// Needs root, ethtool, nstat and python3.

import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  build,
  eth,
  icmp6Echo,
  icmp6TooBig,
  icmpEcho,
  icmpFragNeeded,
  ipv4,
  ipv6,
  tcp,
  udp,
  verifyChecksums,
  type Payload,
} from '../../src/packet/index.ts';

const tag = `${process.pid % 100000}${Math.random().toString(36).slice(2, 5)}`;
const NS = `stlpkt${tag}`;
const HOST = `stpa${tag}`; // root namespace end: frames are written here
const PEER = `stpb${tag}`; // netns end: the stack under test
const SRC_MAC = '02:00:00:00:00:01';
let peerMac = '';

const V4 = { src: '192.0.2.1', dst: '192.0.2.2' };
const V6 = { src: '2001:db8:1::1', dst: '2001:db8:1::2' };

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8' });
}

/** Absolute SNMP counters of the test netns. */
function counters(): Map<string, number> {
  const out = sh('ip', ['netns', 'exec', NS, 'nstat', '-asz']);
  const m = new Map<string, number>();
  for (const line of out.split('\n')) {
    const [name, value] = line.trim().split(/\s+/);
    if (name !== undefined && value !== undefined && /^\d+$/.test(value)) m.set(name, Number(value));
  }
  return m;
}

const SEND = `import socket, sys
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((sys.argv[1], 0))
for h in sys.argv[2:]:
    s.send(bytes.fromhex(h))`;

function inject(frames: Buffer[]): void {
  sh('python3', ['-c', SEND, HOST, ...frames.map((f) => f.toString('hex'))]);
}

/** Send `frames`, wait for the stack, return how much each counter moved. */
function deltas(frames: Buffer[], names: string[]): Record<string, number> {
  const before = counters();
  inject(frames);
  let after = counters();
  for (let i = 0; i < 20 && names.every((n) => after.get(n) === before.get(n)); i++) {
    execFileSync('sleep', ['0.05']);
    after = counters();
  }
  execFileSync('sleep', ['0.1']); // let stragglers land before the next case
  after = counters();
  return Object.fromEntries(names.map((n) => [n, (after.get(n) ?? 0) - (before.get(n) ?? 0)]));
}

function frameOf(ip: Payload): Buffer {
  return build(eth({ src: SRC_MAC, dst: peerMac }, ip));
}

function flipLast(b: Buffer): Buffer {
  const c = Buffer.from(b);
  c[c.length - 1] = c[c.length - 1]! ^ 0x01;
  return c;
}

beforeAll(() => {
  sh('ip', ['netns', 'add', NS]);
  sh('ip', ['link', 'add', HOST, 'type', 'veth', 'peer', 'name', PEER]);
  sh('ip', ['link', 'set', PEER, 'netns', NS]);
  sh('ip', ['link', 'set', HOST, 'up']);
  sh('ip', ['-n', NS, 'link', 'set', PEER, 'up']);
  sh('ip', ['-n', NS, 'addr', 'add', `${V4.dst}/24`, 'dev', PEER]);
  sh('ip', ['-n', NS, 'addr', 'add', `${V6.dst}/64`, 'dev', PEER, 'nodad']);
  // Without this veth marks frames CHECKSUM_UNNECESSARY and nothing is verified.
  sh('ip', ['netns', 'exec', NS, 'ethtool', '-K', PEER, 'rx', 'off']);
  const [link] = JSON.parse(sh('ip', ['-n', NS, '-j', 'link', 'show', PEER])) as Array<{ address: string }>;
  peerMac = link?.address ?? '';
});

afterAll(() => {
  for (const args of [['link', 'del', HOST], ['netns', 'del', NS]]) {
    try {
      execFileSync('ip', args, { stdio: 'ignore' });
    } catch {
      // already gone
    }
  }
});

const odd = Buffer.from('odd-length payload!'); // 19 bytes

describe('the kernel agrees with our checksums', () => {
  const cases: Array<[string, Payload, string, string]> = [
    ['IPv4 UDP', ipv4(V4, udp({ sport: 4000, dport: 9 }, odd)), 'UdpNoPorts', 'UdpInCsumErrors'],
    ['IPv4 TCP SYN', ipv4(V4, tcp({ sport: 4000, dport: 9, flags: 'S', seq: 1 }, odd)), 'TcpOutRsts', 'TcpInCsumErrors'],
    ['ICMP echo', ipv4(V4, icmpEcho({ id: 1, seq: 1 }, odd)), 'IcmpInEchos', 'IcmpInCsumErrors'],
    [
      'ICMP frag-needed quoting a packet',
      ipv4(V4, icmpFragNeeded(1400, ipv4({ src: V4.dst, dst: '198.51.100.9' }, tcp({ sport: 9, dport: 4000, flags: 'A' })))),
      'IcmpInDestUnreachs',
      'IcmpInCsumErrors',
    ],
    ['IPv6 UDP', ipv6(V6, udp({ sport: 4000, dport: 9 }, odd)), 'Udp6NoPorts', 'Udp6InCsumErrors'],
    ['IPv6 TCP SYN', ipv6(V6, tcp({ sport: 4000, dport: 9, flags: 'S' })), 'TcpOutRsts', 'TcpInCsumErrors'],
    ['ICMPv6 echo', ipv6(V6, icmp6Echo({ id: 2, seq: 3 }, odd)), 'Icmp6InEchos', 'Icmp6InCsumErrors'],
    [
      'ICMPv6 packet too big quoting a packet',
      ipv6(V6, icmp6TooBig(1280, ipv6({ src: V6.dst, dst: '2001:db8:9::9' }, udp({ sport: 9, dport: 4000 }, odd)))),
      'Icmp6InPktTooBigs',
      'Icmp6InCsumErrors',
    ],
  ];

  for (const [name, ip, okCounter, errCounter] of cases) {
    it(name, () => {
      const good = frameOf(ip);
      expect(verifyChecksums(good)).toEqual([]);
      expect(deltas([good], [okCounter, errCounter])).toEqual({ [okCounter]: 1, [errCounter]: 0 });
      expect(deltas([flipLast(good)], [okCounter, errCounter])).toEqual({ [okCounter]: 0, [errCounter]: 1 });
    });
  }

  it('IPv4 header checksum', () => {
    const good = frameOf(ipv4(V4, udp({ sport: 4000, dport: 9 }, odd)));
    const bad = Buffer.from(good);
    bad[14 + 8] = 63; // TTL changed, header checksum not updated
    expect(verifyChecksums(bad).map((p) => p.path)).toEqual(['eth/ipv4']);
    expect(deltas([bad], ['IpExtInCsumErrors', 'UdpNoPorts'])).toEqual({ IpExtInCsumErrors: 1, UdpNoPorts: 0 });
  });
});
