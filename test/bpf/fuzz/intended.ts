// Differences between the reference build (test/bpf/fuzz/base-rev) and this
// one that are intended: each names its reason and matches only the frames it
// explains. Any other difference in verdict or output bytes fails the suite.

import { MTU } from '../harness/world.ts';

export interface Outcome {
  readonly retval: number;
  readonly data: Buffer;
}

export interface IntendedDifference {
  readonly name: string;
  readonly why: string;
  readonly matches: (input: Buffer, base: Outcome, next: Outcome) => boolean;
}

const XDP_TX = 3;

export const INTENDED: readonly IntendedDifference[] = [
  {
    name: 'outer hash: outer source, GUE source port, IPv6 flow label',
    why: 'the outer fields take a cheap per-flow fold of the five-tuple (outer_hash) instead of the ring hash, so an established flow costs no ring hash; backend RSS spread is checked in test/unit/outer-hash.test.ts. Only those fields and the checksums covering them may differ',
    matches: (_input, base, next) => base.retval === XDP_TX && next.retval === XDP_TX && base.data.length === next.data.length && maskOuter(base.data).equals(maskOuter(next.data)),
  },
  {
    name: 'trailing bytes trimmed at the MTU',
    why: 'bytes after the IP packet (Ethernet padding, junk) that would push the encapsulated frame over the MTU are cut off: the frame is sent within the MTU instead of being dropped by the link',
    matches: (_input, base, next) =>
      base.retval === XDP_TX && next.retval === XDP_TX && next.data.length < base.data.length && maskOuter(base.data).subarray(0, next.data.length).equals(maskOuter(next.data)) && base.data.length - l3(base.data) > MTU,
  },
  {
    name: 'echo request shorter than its IP length dropped',
    why: 'an ICMP echo request whose IP length exceeds the frame was answered in place with a reply claiming bytes it does not carry; it is now DROP_BAD_IP, like any other VIP packet whose IP length exceeds the frame',
    matches: (input, base, next) => base.retval === XDP_TX && next.retval === XDP_DROP && isEcho(input) && ipLength(input) > input.length - l3(input),
  },
  {
    name: 'L4 header beyond the IP length dropped',
    why: 'a TCP/UDP header that starts inside the IP packet but ends after its IP length (read from the padding) was parsed and the packet forwarded with ports the packet does not carry; it is now DROP_TRUNCATED',
    matches: (input, base, next) => base.retval !== XDP_DROP && next.retval === XDP_DROP && l4EndsAfterIpLength(input),
  },
  {
    name: 'ICMP error quoting ports beyond its IP length dropped',
    why: 'an ICMP error whose quoted ports lie after its IP length (in padding) was forwarded as if it quoted that flow; it is now DROP_TRUNCATED',
    matches: (input, base, next) => base.retval === XDP_TX && next.retval === XDP_DROP && quoteEndsAfterIpLength(input),
  },
  {
    name: 'ICMP of the other family passes',
    why: 'IPv6 with next header 1 (ICMPv4) or IPv4 with protocol 58 (ICMPv6) was handled as ICMP of the packet\'s own family (echo replies, errors forwarded with a GUE checksum over the wrong pseudo-header); it is now PASS_OTHER_PROTO like any protocol the balancer does not serve',
    matches: (input, _base, next) => next.retval === XDP_PASS && otherFamilyIcmp(input),
  },
];

const XDP_PASS = 2;
function otherFamilyIcmp(b: Buffer): boolean {
  const o = l3(b);
  if (b.length < o + 40) return false;
  return b[o]! >> 4 === 4 ? b[o + 9] === 58 : b[o + 6] === 1;
}

function quoteEndsAfterIpLength(b: Buffer): boolean {
  const o = l3(b);
  if (b.length < o + 1) return false;
  const v4 = b[o]! >> 4 === 4;
  const hlen = v4 ? (b[o]! & 15) * 4 : 40;
  const proto = v4 ? b[o + 9] : b[o + 6];
  if (proto !== (v4 ? 1 : 58)) return false;
  return hlen + 8 + (v4 ? 20 : 40) + 4 > ipLength(b);
}

const XDP_DROP = 1;
function l4EndsAfterIpLength(b: Buffer): boolean {
  const o = l3(b);
  if (b.length < o + 1) return false;
  const v4 = b[o]! >> 4 === 4;
  if (b.length < o + (v4 ? 20 : 40)) return false;
  const proto = v4 ? b[o + 9] : b[o + 6];
  const hdr = proto === 6 ? 20 : proto === 17 ? 8 : 0;
  return hdr > 0 && (v4 ? 20 : 40) + hdr > ipLength(b);
}
function isEcho(b: Buffer): boolean {
  const o = l3(b);
  if (b.length < o + 1) return false;
  if (b[o]! >> 4 === 4) return b.length > o + (b[o]! & 15) * 4 && b[o + 9] === 1 && b[o + (b[o]! & 15) * 4] === 8;
  return b.length > o + 40 && b[o + 6] === 58 && b[o + 40] === 128;
}
function ipLength(b: Buffer): number {
  const o = l3(b);
  return b[o]! >> 4 === 4 ? b.readUInt16BE(o + 2) : 40 + b.readUInt16BE(o + 4);
}

/** The frame with the outer fields the outer hash decides (and the checksums over them) zeroed. */
function maskOuter(b: Buffer): Buffer {
  const c = Buffer.from(b);
  const o = l3(c);
  if (c.length < o + 40) return c;
  let udp = -1;
  if (c[o]! >> 4 === 4) {
    c.fill(0, o + 10, o + 16); // header checksum, source
    if (c[o + 9] === 17) udp = o + 20;
  } else {
    c[o + 1]! &= 0xf0; // flow label
    c.fill(0, o + 2, o + 4);
    c.fill(0, o + 8, o + 24); // source
    if (c[o + 6] === 17) udp = o + 40;
  }
  if (udp > 0 && c.length >= udp + 8) {
    c.fill(0, udp, udp + 2); // GUE source port
    c.fill(0, udp + 6, udp + 8); // UDP checksum
  }
  return c;
}

const l3 = (b: Buffer): number => (b.length >= 18 && b.readUInt16BE(12) === 0x8100 ? 18 : 14);
