// Seeded frame generator for the differential fuzz suite: valid frames of
// every class the dataplane handles (VIP flows of every VIP, QUIC headers,
// ICMP echo and errors, IPv4 options and fragments, IPv6 extension headers,
// VLAN, tunnels to decap, tiny and jumbo frames), then mutated or truncated.
// The project's packet builder makes the valid frames; what judges outputs is
// the independent oracle (oracle.py), never this file.

import { build } from '../../../src/packet/build.ts';
import type { EthLayer, IpLayer, Layer, Payload } from '../../../src/packet/types.ts';
import { LOCAL4, LOCAL6 } from '../harness/decap-env.ts';
import { CLIENT_MAC, GUE_PORT, LB_MAC, MTU, VIP_ADDRESSES, VIPS, type VipDef } from '../harness/world.ts';

/** mulberry32: small, fast, and the same sequence for the same seed everywhere. */
export class Rng {
  #s: number;
  constructor(seed: number) {
    this.#s = seed >>> 0;
  }
  next(): number {
    let t = (this.#s = (this.#s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
  bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }
}

/** Every VIP of the fixture world (incl. its QUIC VIPs of both families, whose server ids are per VIP). */
export const FUZZ_VIPS: readonly (VipDef & { readonly name: string })[] = Object.entries(VIPS).map(([name, v]) => ({ name, ...(v as VipDef) }));

export interface Generated {
  readonly frame: Buffer;
  /** Generator class, for the report. */
  readonly kind: string;
  /** Also run through the decap program. */
  readonly decap?: boolean;
}

const v6 = (a: string): boolean => a.includes(':');
const client4 = (r: Rng): string => `${r.pick(['192.0.2', '198.51.100', '203.0.113'])}.${r.range(1, 254)}`;
const client6 = (r: Rng): string => `2001:db8::${r.range(1, 0xffff).toString(16)}`;
const clientOf = (r: Rng, dst: string): string => (v6(dst) ? client6(r) : client4(r));

function eth(r: Rng, payload: Payload, o: { trailer?: Buffer } = {}): EthLayer {
  return {
    kind: 'eth',
    src: CLIENT_MAC,
    dst: LB_MAC,
    payload,
    ...(r.chance(0.15) ? { vlan: { id: r.range(1, 4094), pcp: r.int(8) } } : {}),
    ...(o.trailer ? { trailer: o.trailer } : {}),
  };
}

function ip(r: Rng, src: string, dst: string, payload: Payload, o: { proto?: number } = {}): IpLayer {
  return v6(dst)
    ? { kind: 'ipv6', src, dst, trafficClass: r.chance(0.3) ? r.int(256) : 0, flowLabel: r.chance(0.2) ? r.int(0x100000) : 0, payload, ...(o.proto !== undefined ? { nextHeader: o.proto } : {}) }
    : { kind: 'ipv4', src, dst, tos: r.chance(0.3) ? r.int(256) : 0, id: r.int(65536), df: r.chance(0.5), payload, ...(o.proto !== undefined ? { proto: o.proto } : {}) };
}

/** Payload length: mostly small, sometimes right at the MTU edge for any encapsulation, sometimes jumbo. */
function payloadLen(r: Rng, hdrs: number): number {
  const x = r.next();
  if (x < 0.6) return r.int(64);
  if (x < 0.75) return r.int(1400);
  if (x < 0.95) return Math.max(0, MTU - hdrs - r.pick([20, 32, 40, 52]) + r.range(-2, 2));
  return r.range(1500, 3300);
}

function trailer(r: Rng): Buffer | undefined {
  return r.chance(0.15) ? r.bytes(r.range(1, 24)) : undefined;
}

const TCP_FLAGS = ['A', 'A', 'PA', 'S', 'SA', 'R', 'FA', 'RA'];

/** A packet of a flow to a VIP (or a near miss: wrong port, wrong protocol). */
function vipFlow(r: Rng): Generated {
  const v = r.pick(FUZZ_VIPS);
  const src = clientOf(r, v.address);
  const dport = v.port === 0 || r.chance(0.05) ? r.range(1, 65535) : v.port;
  const proto = r.chance(0.05) ? (v.protocol === 'TCP' ? 'UDP' : 'TCP') : v.protocol;
  const hdrs = (v6(v.address) ? 40 : 20) + (proto === 'TCP' ? 20 : 8);
  const data = r.bytes(payloadLen(r, hdrs));
  const l4: Layer =
    proto === 'TCP'
      ? { kind: 'tcp', sport: r.range(1024, 65535), dport, seq: r.int(2 ** 32), ack: r.int(2 ** 32), flags: r.chance(0.05) ? r.int(256) : r.pick(TCP_FLAGS), payload: data }
      : { kind: 'udp', sport: r.range(1024, 65535), dport, payload: data, ...(r.chance(0.15) && !v6(v.address) ? { checksum: 0 } : {}) };
  const t = trailer(r);
  return { frame: build(eth(r, ip(r, src, v.address, l4), t ? { trailer: t } : {})), kind: 'vip-flow' };
}

function quic(r: Rng): Generated {
  const v = r.pick(FUZZ_VIPS.filter((x) => x.flags & 8));
  const dcid = r.bytes(r.pick([0, 1, 3, 4, 8, 20, r.int(21)]));
  if (dcid.length >= 3 && r.chance(0.7)) {
    dcid[0] = 0x40 | (dcid[0]! & 0x3f); // CID layout version 01
    dcid.writeUInt16BE(r.pick([7, 8, 9, 11, 13, 0, r.int(65536)]), 1); // the world's ids: per VIP, cross-VIP, removed, other family
  }
  const payload: Layer | Buffer = r.chance(0.5)
    ? { kind: 'quic-long', dcid, scid: r.bytes(r.int(21)), packetType: r.int(4), payload: r.bytes(r.int(64)) }
    : r.chance(0.8)
      ? { kind: 'quic-short', dcid, payload: r.bytes(r.int(64)) }
      : r.bytes(r.int(4)); // odd lengths: 0-3 bytes of UDP payload
  const l4: Layer = { kind: 'udp', sport: r.range(1024, 65535), dport: v.port, payload: payload as Buffer };
  return { frame: build(eth(r, ip(r, clientOf(r, v.address), v.address, l4))), kind: 'quic' };
}

function echo(r: Rng): Generated {
  const dst = r.chance(0.7) ? r.pick(VIP_ADDRESSES) : r.pick(['10.200.0.15', '10.9.9.9', 'fd00::99']);
  const data = r.bytes(payloadLen(r, 28));
  const l4: Layer = v6(dst) ? { kind: 'icmp6', type: 128, id: r.int(65536), seq: r.int(65536), payload: data } : { kind: 'icmp', type: 8, id: r.int(65536), seq: r.int(65536), payload: data };
  const t = trailer(r);
  return { frame: build(eth(r, ip(r, clientOf(r, dst), dst, l4), t ? { trailer: t } : {})), kind: 'icmp-echo' };
}

/** An ICMP error from a router about the reply of a flow (VIP -> client), quoting VIP or non-VIP flows. */
function icmpError(r: Rng): Generated {
  const v = r.pick(FUZZ_VIPS);
  const vip = r.chance(0.8) ? v.address : v6(v.address) ? 'fd00::99' : '10.9.9.9';
  const client = clientOf(r, vip);
  const proto = r.chance(0.9) ? v.protocol : 'TCP';
  const sport = v.port === 0 ? r.range(1, 65535) : v.port;
  const ql4: Layer = proto === 'TCP' ? { kind: 'tcp', sport, dport: r.range(1024, 65535), flags: 'SA' } : { kind: 'udp', sport, dport: r.range(1024, 65535), payload: r.bytes(r.int(16)) };
  let quote: Buffer = build(ip(r, vip, client, ql4));
  if (r.chance(0.2)) quote = quote.subarray(0, r.int(quote.length));
  const router = v6(vip) ? 'fc00::fe' : '172.16.9.1';
  const l4: Layer = v6(vip)
    ? { kind: 'icmp6', type: r.pick([1, 2, 2, 3, 4]), code: r.int(5), mtu: r.range(1280, 1500), payload: quote }
    : { kind: 'icmp', type: r.pick([3, 3, 11, 12]), code: r.pick([4, 4, 1, 3, r.int(16)]), mtu: r.range(576, 1500), payload: quote };
  return { frame: build(eth(r, ip(r, router, vip, l4))), kind: 'icmp-error' };
}

/** IPv4 options, IPv4 and IPv6 fragments, IPv6 extension headers, to VIP addresses and others. */
function ipOddities(r: Rng): Generated {
  const dsts = ['10.200.0.10', '10.200.0.15', '10.9.9.9', 'fd00::10', 'fd00::15', 'fd00::99'];
  const dst = r.pick(dsts);
  const l4: Layer = { kind: 'tcp', sport: r.range(1024, 65535), dport: 80, flags: 'A', payload: r.bytes(r.int(64)) };
  const src = clientOf(r, dst);
  if (!v6(dst)) {
    const o = r.int(3);
    const base = ip(r, src, dst, l4) as Extract<IpLayer, { kind: 'ipv4' }>;
    const odd: IpLayer = o === 0 ? { ...base, options: r.bytes(4 * r.range(1, 10)) } : o === 1 ? { ...base, mf: true } : { ...base, fragOffset: 8 * r.range(1, 100), mf: r.chance(0.5) };
    return { frame: build(eth(r, odd)), kind: 'ipv4-options-frag' };
  }
  if (r.chance(0.5)) {
    return { frame: build(eth(r, { kind: 'ipv6', src, dst, fragment: { offset: 8 * r.int(10), more: r.chance(0.5), id: r.int(2 ** 32) }, payload: l4 })), kind: 'ipv6-frag' };
  }
  // Hop-by-hop / routing / destination options before TCP (not walked by the balancer).
  const ext = Buffer.concat([Buffer.from([6, 0]), r.bytes(6), build({ kind: 'ipv6', src, dst, payload: l4 }).subarray(40)]);
  return { frame: build(eth(r, { kind: 'ipv6', src, dst, nextHeader: r.pick([0, 43, 60]), payload: ext })), kind: 'ipv6-ext' };
}

/** IPIP / IP6IP6 / 4-in-6 / 6-in-4 / GUE frames, the decap program's input. */
function tunnel(r: Rng): Generated {
  const outerV6 = r.chance(0.5);
  const dst = r.chance(0.8) ? (outerV6 ? LOCAL6 : LOCAL4) : outerV6 ? 'fc00::1:99' : '10.0.1.99';
  const innerDst = r.pick(['10.200.0.10', 'fd00::10']);
  const inner = ip(r, clientOf(r, innerDst), innerDst, { kind: 'tcp', sport: r.range(1024, 65535), dport: 80, flags: 'A', payload: r.bytes(r.int(128)) });
  const kind = r.int(3);
  const payload: Layer =
    kind === 0
      ? inner
      : { kind: 'udp', sport: r.range(49152, 65535), dport: r.chance(0.9) ? GUE_PORT : r.range(1, 65535), payload: { kind: 'gue', variant: kind === 2 ? 1 : 0, payload: inner } };
  const src = outerV6 ? 'fc00:ffff::102' : '172.16.1.2';
  const outer: IpLayer = outerV6 ? { kind: 'ipv6', src, dst, payload } : { kind: 'ipv4', src, dst, payload };
  return { frame: build(eth(r, outer)), kind: 'tunnel', decap: true };
}

function nonVip(r: Rng): Generated {
  const dst = r.pick(['10.9.9.9', '172.16.0.1', 'fd00::99', '10.200.0.99']);
  const l4: Layer = { kind: 'tcp', sport: r.range(1024, 65535), dport: r.range(1, 65535), flags: 'A', payload: r.bytes(r.int(64)) };
  return { frame: build(eth(r, ip(r, clientOf(r, dst), dst, l4))), kind: 'non-vip' };
}

function tiny(r: Rng): Generated {
  const b = r.bytes(r.range(14, 60));
  if (r.chance(0.7)) b.writeUInt16BE(r.pick([0x0800, 0x86dd, 0x8100, 0x88a8]), 12);
  return { frame: b, kind: 'tiny' };
}

const GENERATORS: readonly [number, (r: Rng) => Generated][] = [
  [40, vipFlow],
  [10, quic],
  [8, echo],
  [12, icmpError],
  [10, ipOddities],
  [8, tunnel],
  [6, nonVip],
  [6, tiny],
];
const TOTAL = GENERATORS.reduce((s, [w]) => s + w, 0);

/** Header offsets worth corrupting: version/IHL, total length, fragment bits, protocol, ports, lengths, flags. */
function mutate(r: Rng, frame: Buffer): Buffer {
  let b = Buffer.from(frame);
  const l3 = b.length > 13 && b.readUInt16BE(12) === 0x8100 ? 18 : 14;
  for (let n = r.range(1, 3); n > 0; n--) {
    const m = r.int(5);
    if (m === 0 && b.length > 0) b[r.int(b.length)] = r.int(256);
    else if (m === 1) {
      const off = l3 + r.pick([0, 2, 3, 4, 6, 9, 20, 21, 22, 23, 24, 25, 33, 40, 41, 42, 43, 44, 45, 53]);
      if (off < b.length) b[off] = r.chance(0.5) ? r.int(256) : b[off]! ^ (1 << r.int(8));
    } else if (m === 2 && b.length > 14) b = b.subarray(0, r.range(14, b.length - 1));
    else if (m === 3) b = Buffer.concat([b, r.bytes(r.range(1, 40))]);
    else if (m === 4 && b.length > l3 + 4) b.writeUInt16BE(r.int(65536), l3 + 2); // IPv4 total length / IPv6 payload length
  }
  return b;
}

/** `count` frames from `seed`; about a third of them mutated. */
export function* frames(seed: number, count: number): Generator<Generated> {
  const r = new Rng(seed);
  for (let i = 0; i < count; i++) {
    let x = r.int(TOTAL);
    const gen = GENERATORS.find(([w]) => (x -= w) < 0)![1];
    const g = gen(r);
    yield r.chance(0.35) ? { ...g, frame: mutate(r, g.frame), kind: `${g.kind}+mutated` } : g;
  }
}
