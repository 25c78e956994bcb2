// Differences between the reference build (test/bpf/fuzz/base-rev) and this
// one that are intended: each names its reason and matches only the frames it
// explains. Any other difference in verdict or output bytes fails the suite.

import { MTU, VIPS } from '../harness/world.ts';
import { QUIC6 } from './generate.ts';

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

/** (family, protocol, destination address bytes, destination port) of a client frame, read by offset. */
function flowOf(b: Buffer): { v6: boolean; proto: number; dst: string; dport: number } | undefined {
  const l3 = b.length >= 18 && b.readUInt16BE(12) === 0x8100 ? 18 : 14;
  if (b.length < l3 + 40) return undefined;
  const type = b.readUInt16BE(l3 - 2);
  if (type === 0x0800) {
    const ihl = (b[l3]! & 15) * 4;
    const dst = [...b.subarray(l3 + 16, l3 + 20)].join('.');
    return { v6: false, proto: b[l3 + 9]!, dst, dport: b.length >= l3 + ihl + 4 ? b.readUInt16BE(l3 + ihl + 2) : -1 };
  }
  if (type === 0x86dd) {
    const words = Array.from({ length: 8 }, (_, i) => b.readUInt16BE(l3 + 24 + 2 * i).toString(16));
    return { v6: true, proto: b[l3 + 6]!, dst: words.join(':'), dport: b.length >= l3 + 44 ? b.readUInt16BE(l3 + 42) : -1 };
  }
  return undefined;
}

const QUIC_VIPS = [VIPS.quic4, QUIC6].map((v) => ({ dst: v.address.includes(':') ? expand6(v.address) : v.address, port: v.port }));
function expand6(a: string): string {
  const [head, tail = ''] = a.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  return [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t].map((w) => parseInt(w, 16).toString(16)).join(':');
}

export const INTENDED: readonly IntendedDifference[] = [
  {
    name: 'outer hash: outer source, GUE source port, IPv6 flow label',
    why: 'the outer fields take a cheap per-flow fold of the five-tuple (outer_hash) instead of the ring hash, so an established flow costs no ring hash; backend RSS spread is checked in test/unit/outer-hash.test.ts. Only those fields and the checksums covering them may differ',
    matches: (_input, base, next) => base.retval === XDP_TX && next.retval === XDP_TX && base.data.length === next.data.length && maskOuter(base.data).equals(maskOuter(next.data)),
  },
  {
    name: 'QUIC server-id routing',
    why: 'issue 18 makes server ids per VIP (fall back to the ring for another VIP\'s, another family\'s or a removed backend\'s id): QUIC VIP frames may reach another backend or be forwarded instead of dropped',
    matches: (input) => {
      const f = flowOf(input);
      return f !== undefined && f.proto === 17 && QUIC_VIPS.some((q) => q.dst === f.dst && q.port === f.dport);
    },
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
