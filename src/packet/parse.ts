// Frame bytes -> layer tree (the shapes build() takes), checking every
// checksum it can on the way. Never throws on malformed input: what cannot
// be parsed stays raw bytes and is marked truncated.

import { ipText, macText } from './addr.ts';
import { pseudoHeader } from './checksum.ts';
import { checkSum, sub, truncated, type Ctx, type PacketProblem, type ParseOptions } from './problems.ts';
import { parseQuic } from './quic.ts';

export type { PacketProblem, ParseOptions } from './problems.ts';
import {
  EtherType,
  Icmp6Type,
  IcmpType,
  ICMP_FRAG_NEEDED,
  IpProto,
  type ArpLayer,
  type EthLayer,
  type GueLayer,
  type Icmp6Layer,
  type IcmpLayer,
  type IpLayer,
  type Ipv4Layer,
  type Ipv6Layer,
  type Payload,
  type TcpLayer,
  type UdpLayer,
} from './types.ts';


interface IpCtx {
  readonly src: Buffer;
  readonly dst: Buffer;
  /** L4 checksum cannot be checked: a fragment, or a truncated quote. */
  readonly partial: boolean;
}

/** Parse an Ethernet frame. */
export function parseFrame(buf: Buffer, opts: ParseOptions = {}): EthLayer {
  return parseEth(buf, { opts, problems: [], path: 'eth', quoted: false });
}

/** Parse a bare IP packet (no Ethernet header). */
export function parsePacket(buf: Buffer, opts: ParseOptions = {}): IpLayer | Buffer {
  return parseIpAt(buf, 0, { opts, problems: [], path: '', quoted: false });
}

/**
 * Every checksum problem (IPv4 header, TCP, UDP, ICMP, ICMPv6, inner tunnel
 * headers, quoted packets where complete) and every truncated header outside
 * ICMP quotes. Empty when the frame is consistent.
 */
export function verifyChecksums(buf: Buffer, opts: ParseOptions & { readonly from?: 'eth' | 'ip' } = {}): PacketProblem[] {
  const ctx: Ctx = { opts, problems: [], path: opts.from === 'ip' ? '' : 'eth', quoted: false };
  if (opts.from === 'ip') parseIpAt(buf, 0, ctx);
  else parseEth(buf, ctx);
  return ctx.problems;
}

function parseEth(buf: Buffer, ctx: Ctx): EthLayer {
  if (buf.length < 14) {
    truncated(ctx, 0, `frame of ${buf.length} bytes is shorter than an Ethernet header`);
    return { kind: 'eth', offset: 0, truncated: true, dst: '00:00:00:00:00:00', src: '00:00:00:00:00:00', etherType: 0, trailer: buf };
  }
  const dst = macText(buf.subarray(0, 6));
  const src = macText(buf.subarray(6, 12));
  let type = buf.readUInt16BE(12);
  let off = 14;
  let vlan: EthLayer['vlan'];
  if (type === EtherType.VLAN && buf.length >= 18) {
    const tci = buf.readUInt16BE(14);
    vlan = { id: tci & 0xfff, pcp: tci >>> 13, dei: (tci & 0x1000) !== 0 };
    type = buf.readUInt16BE(16);
    off = 18;
  }
  const rest = buf.subarray(off);
  let payload: Payload = rest;
  let used = rest.length;
  if (type === EtherType.IPV4 || type === EtherType.IPV6) {
    const parsed = parseIpAt(buf, off, ctx);
    payload = parsed;
    used = Buffer.isBuffer(parsed) ? rest.length : ipExtent(buf, off, parsed);
  } else if (type === EtherType.ARP) {
    const arp = parseArp(rest, off);
    payload = arp ?? rest;
    used = arp === undefined ? rest.length : 28;
  }
  const eth: EthLayer = { kind: 'eth', offset: 0, dst, src, etherType: type, payload };
  const withVlan = vlan === undefined ? eth : { ...eth, vlan };
  return used < rest.length ? { ...withVlan, trailer: rest.subarray(used) } : withVlan;
}

/** Bytes the IP packet at `off` occupies (its own length field, capped at what is there). */
function ipExtent(buf: Buffer, off: number, ip: IpLayer): number {
  const declared = ip.kind === 'ipv4' ? (ip.totalLength ?? 0) : 40 + (ip.payloadLength ?? 0);
  return Math.min(declared, buf.length - off);
}

function parseArp(b: Buffer, offset: number): ArpLayer | undefined {
  if (b.length < 28 || b.readUInt16BE(0) !== 1 || b.readUInt16BE(2) !== EtherType.IPV4 || b[4] !== 6 || b[5] !== 4) return undefined;
  return {
    kind: 'arp',
    offset,
    op: b.readUInt16BE(6),
    senderMac: macText(b.subarray(8, 14)),
    senderIp: ipText(b.subarray(14, 18)),
    targetMac: macText(b.subarray(18, 24)),
    targetIp: ipText(b.subarray(24, 28)),
  };
}

/** An IP packet starting at buf[off]; raw bytes if its version nibble is neither 4 nor 6. */
function parseIpAt(buf: Buffer, off: number, parent: Ctx): IpLayer | Buffer {
  const version = off < buf.length ? buf[off]! >>> 4 : 0;
  if (version === 4) return parseIpv4(buf, off, sub(parent, parent.quoted ? 'quoted-ipv4' : 'ipv4'));
  if (version === 6) return parseIpv6(buf, off, sub(parent, parent.quoted ? 'quoted-ipv6' : 'ipv6'));
  truncated(parent, off, `expected an IP header, found version ${version}`);
  return buf.subarray(off);
}

function parseIpv4(buf: Buffer, off: number, ctx: Ctx): Ipv4Layer | Buffer {
  const avail = buf.length - off;
  const ihl = ((buf[off] ?? 0) & 0x0f) * 4;
  if (avail < 20 || ihl < 20 || avail < ihl) {
    truncated(ctx, off, `IPv4 header needs ${Math.max(ihl, 20)} bytes, ${avail} present`);
    return buf.subarray(off);
  }
  const h = buf.subarray(off, off + ihl);
  const totalLength = h.readUInt16BE(2);
  const fragWord = h.readUInt16BE(6);
  const checksum = h.readUInt16BE(10);
  checkSum(ctx, off, checksum, [h], 10);
  const end = off + Math.min(Math.max(totalLength, ihl), avail);
  const isTruncated = totalLength > avail;
  if (isTruncated) truncated(ctx, off, `IPv4 total length ${totalLength}, ${avail} bytes present`);
  const src = h.subarray(12, 16);
  const dst = h.subarray(16, 20);
  const fragOffset = (fragWord & 0x1fff) * 8;
  const mf = (fragWord & 0x2000) !== 0;
  const proto = h[9]!;
  const body = buf.subarray(off + ihl, end);
  const ip: IpCtx = { src, dst, partial: mf || fragOffset > 0 || isTruncated };
  const payload = fragOffset > 0 ? body : parseL4(buf, off + ihl, end, proto, ip, ctx);
  const layer: Ipv4Layer = {
    kind: 'ipv4',
    offset: off,
    src: ipText(src),
    dst: ipText(dst),
    tos: h[1]!,
    totalLength,
    id: h.readUInt16BE(4),
    df: (fragWord & 0x4000) !== 0,
    mf,
    fragOffset,
    ttl: h[8]!,
    proto,
    checksum,
    payload,
    ...(ihl > 20 ? { options: Buffer.from(h.subarray(20)) } : {}),
    ...(isTruncated ? { truncated: true } : {}),
  };
  return layer;
}

function parseIpv6(buf: Buffer, off: number, ctx: Ctx): Ipv6Layer | Buffer {
  const avail = buf.length - off;
  if (avail < 40) {
    truncated(ctx, off, `IPv6 header needs 40 bytes, ${avail} present`);
    return buf.subarray(off);
  }
  const word0 = buf.readUInt32BE(off);
  const payloadLength = buf.readUInt16BE(off + 4);
  const src = buf.subarray(off + 8, off + 24);
  const dst = buf.subarray(off + 24, off + 40);
  const isTruncated = 40 + payloadLength > avail;
  if (isTruncated) truncated(ctx, off, `IPv6 payload length ${payloadLength}, ${avail - 40} bytes present`);
  const end = off + Math.min(40 + payloadLength, avail);
  let nextHeader = buf[off + 6]!;
  let l4 = off + 40;
  let fragment: Ipv6Layer['fragment'];
  if (nextHeader === IpProto.FRAGMENT && end - l4 >= 8) {
    const word = buf.readUInt16BE(l4 + 2);
    fragment = { offset: word & ~7, more: (word & 1) !== 0, id: buf.readUInt32BE(l4 + 4) };
    nextHeader = buf[l4]!;
    l4 += 8;
  }
  const ip: IpCtx = { src, dst, partial: isTruncated || (fragment !== undefined && (fragment.more === true || fragment.offset > 0)) };
  const payload = fragment !== undefined && fragment.offset > 0 ? buf.subarray(l4, end) : parseL4(buf, l4, end, nextHeader, ip, ctx);
  const layer: Ipv6Layer = {
    kind: 'ipv6',
    offset: off,
    src: ipText(src),
    dst: ipText(dst),
    trafficClass: (word0 >>> 20) & 0xff,
    flowLabel: word0 & 0xfffff,
    payloadLength,
    nextHeader,
    hopLimit: buf[off + 7]!,
    payload,
    ...(fragment !== undefined ? { fragment } : {}),
    ...(isTruncated ? { truncated: true } : {}),
  };
  return layer;
}

function parseL4(buf: Buffer, off: number, end: number, proto: number, ip: IpCtx, ctx: Ctx): Payload {
  const v6 = ip.src.length === 16;
  switch (proto) {
    case IpProto.TCP:
      return parseTcp(buf, off, end, ip, sub(ctx, 'tcp'));
    case IpProto.UDP:
      return parseUdp(buf, off, end, ip, sub(ctx, 'udp'));
    case IpProto.ICMP:
      return v6 ? buf.subarray(off, end) : parseIcmp(buf, off, end, ip, sub(ctx, 'icmp'), 'icmp');
    case IpProto.ICMPV6:
      return v6 ? parseIcmp(buf, off, end, ip, sub(ctx, 'icmp6'), 'icmp6') : buf.subarray(off, end);
    case IpProto.IPIP:
    case IpProto.IPV6:
      return parseIpAt(buf.subarray(0, end), off, ctx);
    default:
      return buf.subarray(off, end);
  }
}

function l4Check(ctx: Ctx, ip: IpCtx, proto: number, seg: Buffer, off: number, found: number, fieldAt: number): void {
  if (ip.partial) return;
  checkSum(ctx, off, found, [pseudoHeader(ip.src, ip.dst, proto, seg.length), seg], fieldAt);
}

function parseTcp(buf: Buffer, off: number, end: number, ip: IpCtx, ctx: Ctx): TcpLayer | Buffer {
  const seg = buf.subarray(off, end);
  const doff = seg.length >= 13 ? (seg[12]! >>> 4) * 4 : 0;
  if (seg.length < 20 || doff < 20 || seg.length < doff) {
    if (!ip.partial) truncated(ctx, off, `TCP header incomplete (${seg.length} bytes)`);
    return seg;
  }
  const checksum = seg.readUInt16BE(16);
  l4Check(ctx, ip, IpProto.TCP, seg, off, checksum, 16);
  return {
    kind: 'tcp',
    offset: off,
    sport: seg.readUInt16BE(0),
    dport: seg.readUInt16BE(2),
    seq: seg.readUInt32BE(4),
    ack: seg.readUInt32BE(8),
    flags: seg[13]!,
    window: seg.readUInt16BE(14),
    checksum,
    urgent: seg.readUInt16BE(18),
    payload: seg.subarray(doff),
    ...(doff > 20 ? { options: Buffer.from(seg.subarray(20, doff)) } : {}),
  };
}

function parseUdp(buf: Buffer, off: number, end: number, ip: IpCtx, ctx: Ctx): UdpLayer | Buffer {
  const seg = buf.subarray(off, end);
  if (seg.length < 8) {
    if (!ip.partial) truncated(ctx, off, `UDP header incomplete (${seg.length} bytes)`);
    return seg;
  }
  const length = seg.readUInt16BE(4);
  const checksum = seg.readUInt16BE(6);
  const lenOk = length >= 8 && length <= seg.length;
  if (!lenOk && !ip.partial) truncated(ctx, off, `UDP length ${length}, ${seg.length} bytes present`);
  const dgram = lenOk ? seg.subarray(0, length) : seg;
  const v6 = ip.src.length === 16;
  if (checksum === 0) {
    if (v6 && ctx.opts.allowZeroUdp6Checksum !== true && !ip.partial) {
      ctx.problems.push({ path: ctx.path, offset: off, kind: 'zero-checksum', found: 0, message: `${ctx.path}: zero UDP checksum over IPv6` });
    }
  } else if (lenOk) {
    l4Check(ctx, ip, IpProto.UDP, dgram, off, checksum, 6);
  }
  const sport = seg.readUInt16BE(0);
  const dport = seg.readUInt16BE(2);
  const data = dgram.subarray(8);
  let payload: UdpLayer['payload'] = data;
  if ((ctx.opts.guePorts ?? [6080]).includes(dport)) payload = parseGue(buf.subarray(0, off + dgram.length), off + 8, ctx);
  else if (quicPort(ctx.opts, sport, dport)) payload = parseQuic(data, off + 8, ctx.opts.quicDcidLength ?? 8);
  return { kind: 'udp', offset: off, sport, dport, length, checksum, payload };
}

function quicPort(opts: ParseOptions, sport: number, dport: number): boolean {
  const ports = opts.quicPorts ?? [443];
  return ports.includes(sport) || ports.includes(dport);
}

function parseGue(buf: Buffer, off: number, parent: Ctx): GueLayer | Buffer {
  const ctx = sub(parent, 'gue');
  const first = buf[off];
  if (first === undefined) return buf.subarray(off);
  if (first >>> 6 === 1) return { kind: 'gue', offset: off, variant: 1, payload: parseIpAt(buf, off, ctx) };
  if (first >>> 6 !== 0 || (first & 0x1f) !== 0 || buf.length - off < 4) return buf.subarray(off); // optional fields: keep raw
  const proto = buf[off + 1]!;
  const inner: IpLayer | Buffer = proto === IpProto.IPIP || proto === IpProto.IPV6 ? parseIpAt(buf, off + 4, ctx) : buf.subarray(off + 4);
  return { kind: 'gue', offset: off, variant: 0, proto, flags: buf.readUInt16BE(off + 2), payload: inner };
}

const ICMP4_ERRORS: ReadonlySet<number> = new Set([IcmpType.DEST_UNREACH, 4, 5, IcmpType.TIME_EXCEEDED, 12]);
const ICMP6_ERRORS: ReadonlySet<number> = new Set([Icmp6Type.DEST_UNREACH, Icmp6Type.PACKET_TOO_BIG, Icmp6Type.TIME_EXCEEDED, 4]);

function parseIcmp(buf: Buffer, off: number, end: number, ip: IpCtx, ctx: Ctx, kind: 'icmp' | 'icmp6'): IcmpLayer | Icmp6Layer | Buffer {
  const msg = buf.subarray(off, end);
  if (msg.length < 8) {
    if (!ip.partial) truncated(ctx, off, `ICMP header incomplete (${msg.length} bytes)`);
    return msg;
  }
  const checksum = msg.readUInt16BE(2);
  if (!ip.partial) {
    if (kind === 'icmp') checkSum(ctx, off, checksum, [msg], 2);
    else l4Check(ctx, ip, IpProto.ICMPV6, msg, off, checksum, 2);
  }
  const type = msg[0]!;
  const code = msg[1]!;
  const rest = Buffer.from(msg.subarray(4, 8));
  const body = msg.subarray(8);
  const base = { offset: off, type, code, checksum, rest, payload: body };
  const isEcho =
    kind === 'icmp' ? type === IcmpType.ECHO_REQUEST || type === IcmpType.ECHO_REPLY : type === Icmp6Type.ECHO_REQUEST || type === Icmp6Type.ECHO_REPLY;
  const isError = (kind === 'icmp' ? ICMP4_ERRORS : ICMP6_ERRORS).has(type);
  const extra: { id?: number; seq?: number; mtu?: number; quoted?: IpLayer } = {};
  if (isEcho) {
    extra.id = rest.readUInt16BE(0);
    extra.seq = rest.readUInt16BE(2);
  }
  if (kind === 'icmp' && type === IcmpType.DEST_UNREACH && code === ICMP_FRAG_NEEDED) extra.mtu = rest.readUInt16BE(2);
  if (kind === 'icmp6' && type === Icmp6Type.PACKET_TOO_BIG) extra.mtu = rest.readUInt32BE(0);
  if (isError && body.length > 0) {
    const quoted = parseIpAt(buf.subarray(0, end), off + 8, { ...ctx, quoted: true });
    if (!Buffer.isBuffer(quoted)) extra.quoted = quoted;
  }
  return { kind, ...base, ...extra };
}
