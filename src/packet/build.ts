// Layer tree -> frame bytes. Each header is built knowing its enclosing IP
// header, which TCP/UDP/ICMPv6 need for the pseudo-header checksum.

import { SterletError } from '../common/errors.ts';
import { ipBytes, macBytes } from './addr.ts';
import { internetChecksum, pseudoHeader } from './checksum.ts';
import { buildQuicLong, buildQuicShort } from './quic.ts';
import {
  EtherType,
  ICMP_FRAG_NEEDED,
  Icmp6Type,
  IcmpType,
  IpProto,
  TcpFlag,
  type ArpLayer,
  type EthLayer,
  type GueLayer,
  type Icmp6Layer,
  type IcmpLayer,
  type Ipv4Layer,
  type Ipv6Layer,
  type Layer,
  type Payload,
  type TcpLayer,
  type UdpLayer,
} from './types.ts';

/** Source and destination of the enclosing IP header. */
interface IpContext {
  readonly src: Buffer;
  readonly dst: Buffer;
}

/** Bytes of a layer tree (any layer can be the root: a frame, an IP packet, a UDP payload...). */
export function build(layer: Payload): Buffer {
  return buildIn(layer, undefined);
}

function buildIn(layer: Payload, ip: IpContext | undefined): Buffer {
  if (Buffer.isBuffer(layer)) return layer;
  switch (layer.kind) {
    case 'eth':
      return buildEth(layer);
    case 'arp':
      return buildArp(layer);
    case 'ipv4':
      return buildIpv4(layer);
    case 'ipv6':
      return buildIpv6(layer);
    case 'tcp':
      return buildTcp(layer, need(ip, 'tcp'));
    case 'udp':
      return buildUdp(layer, need(ip, 'udp'));
    case 'gue':
      return buildGue(layer);
    case 'icmp':
      return buildIcmp(layer);
    case 'icmp6':
      return buildIcmp6(layer, need(ip, 'icmp6'));
    case 'quic-long':
      return buildQuicLong(layer);
    case 'quic-short':
      return buildQuicShort(layer);
  }
}

function need(ip: IpContext | undefined, kind: string): IpContext {
  if (ip === undefined) {
    throw new SterletError('PACKET_NO_IP_HEADER', `a ${kind} header needs an enclosing IP header`, {
      why: 'its checksum covers the IP pseudo-header',
      fix: `wrap it: ipv4({...}, ${kind}({...}))`,
    });
  }
  return ip;
}

/** EtherType for a payload. */
function etherTypeOf(p: Payload | undefined): number {
  if (p === undefined || Buffer.isBuffer(p)) return EtherType.IPV4;
  if (p.kind === 'ipv6') return EtherType.IPV6;
  if (p.kind === 'arp') return EtherType.ARP;
  return EtherType.IPV4;
}

/** IP protocol number for a payload. */
export function protoOf(p: Payload | undefined, fallback: number): number {
  if (p === undefined || Buffer.isBuffer(p)) return fallback;
  switch (p.kind) {
    case 'tcp':
      return IpProto.TCP;
    case 'udp':
      return IpProto.UDP;
    case 'icmp':
      return IpProto.ICMP;
    case 'icmp6':
      return IpProto.ICMPV6;
    case 'ipv4':
      return IpProto.IPIP;
    case 'ipv6':
      return IpProto.IPV6;
    default:
      return fallback;
  }
}

function buildEth(e: EthLayer): Buffer {
  const head = Buffer.alloc(e.vlan === undefined ? 14 : 18);
  macBytes(e.dst ?? '02:00:00:00:00:02').copy(head, 0);
  macBytes(e.src ?? '02:00:00:00:00:01').copy(head, 6);
  const type = e.etherType ?? etherTypeOf(e.payload);
  if (e.vlan !== undefined) {
    head.writeUInt16BE(EtherType.VLAN, 12);
    head.writeUInt16BE(((e.vlan.pcp ?? 0) << 13) | (e.vlan.dei === true ? 0x1000 : 0) | (e.vlan.id & 0xfff), 14);
    head.writeUInt16BE(type, 16);
  } else {
    head.writeUInt16BE(type, 12);
  }
  const parts: Buffer[] = [head];
  if (e.payload !== undefined) parts.push(buildIn(e.payload, undefined));
  if (e.trailer !== undefined) parts.push(e.trailer);
  return Buffer.concat(parts);
}

function buildArp(a: ArpLayer): Buffer {
  const b = Buffer.alloc(28);
  b.writeUInt16BE(1, 0); // Ethernet
  b.writeUInt16BE(EtherType.IPV4, 2);
  b[4] = 6;
  b[5] = 4;
  b.writeUInt16BE(a.op, 6);
  macBytes(a.senderMac).copy(b, 8);
  ipBytes(a.senderIp, 4).copy(b, 14);
  macBytes(a.targetMac ?? '00:00:00:00:00:00').copy(b, 18);
  ipBytes(a.targetIp, 4).copy(b, 24);
  return b;
}

function pad4(b: Buffer | undefined): Buffer {
  if (b === undefined) return Buffer.alloc(0);
  const len = (b.length + 3) & ~3;
  return len === b.length ? b : Buffer.concat([b, Buffer.alloc(len - b.length)]);
}

function buildIpv4(h: Ipv4Layer): Buffer {
  const src = ipBytes(h.src, 4);
  const dst = ipBytes(h.dst, 4);
  const options = pad4(h.options);
  const payload = h.payload === undefined ? Buffer.alloc(0) : buildIn(h.payload, { src, dst });
  const head = Buffer.alloc(20 + options.length);
  head[0] = 0x40 | (head.length / 4);
  head[1] = h.tos ?? 0;
  head.writeUInt16BE(h.totalLength ?? head.length + payload.length, 2);
  head.writeUInt16BE(h.id ?? 0, 4);
  const frag = ((h.fragOffset ?? 0) >>> 3) | (h.df === true ? 0x4000 : 0) | (h.mf === true ? 0x2000 : 0);
  head.writeUInt16BE(frag, 6);
  head[8] = h.ttl ?? 64;
  head[9] = h.proto ?? protoOf(h.payload, 0);
  src.copy(head, 12);
  dst.copy(head, 16);
  options.copy(head, 20);
  head.writeUInt16BE(h.checksum ?? internetChecksum(head), 10);
  return Buffer.concat([head, payload]);
}

function buildIpv6(h: Ipv6Layer): Buffer {
  const src = ipBytes(h.src, 6);
  const dst = ipBytes(h.dst, 6);
  const upper = h.nextHeader ?? protoOf(h.payload, 59 /* no next header */);
  const payload = h.payload === undefined ? Buffer.alloc(0) : buildIn(h.payload, { src, dst });
  let ext: Buffer = Buffer.alloc(0);
  if (h.fragment !== undefined) {
    ext = Buffer.alloc(8);
    ext[0] = upper;
    ext.writeUInt16BE((h.fragment.offset & ~7) | (h.fragment.more === true ? 1 : 0), 2);
    ext.writeUInt32BE(h.fragment.id ?? 0, 4);
  }
  const head = Buffer.alloc(40);
  head.writeUInt32BE(((6 << 28) | ((h.trafficClass ?? 0) << 20) | ((h.flowLabel ?? 0) & 0xfffff)) >>> 0, 0);
  head.writeUInt16BE(h.payloadLength ?? ext.length + payload.length, 4);
  head[6] = h.fragment !== undefined ? IpProto.FRAGMENT : upper;
  head[7] = h.hopLimit ?? 64;
  src.copy(head, 8);
  dst.copy(head, 24);
  return Buffer.concat([head, ext, payload]);
}

/** Flag byte from 'SA'-style letters or a number. */
export function tcpFlagBits(flags: string | number | undefined): number {
  if (flags === undefined) return 0;
  if (typeof flags === 'number') return flags & 0xff;
  let bits = 0;
  for (const ch of flags.toUpperCase()) {
    const bit = TcpFlag[ch as keyof typeof TcpFlag];
    if (bit === undefined) throw new SterletError('PACKET_BAD_TCP_FLAGS', `unknown TCP flag ${JSON.stringify(ch)}`, { fix: 'use letters from FSRPAUEC' });
    bits |= bit;
  }
  return bits;
}

function l4Checksum(ip: IpContext, proto: number, segment: Buffer): number {
  return internetChecksum(pseudoHeader(ip.src, ip.dst, proto, segment.length), segment);
}

function buildTcp(t: TcpLayer, ip: IpContext): Buffer {
  const options = pad4(t.options);
  const payload = t.payload ?? Buffer.alloc(0);
  const seg = Buffer.alloc(20 + options.length + payload.length);
  seg.writeUInt16BE(t.sport, 0);
  seg.writeUInt16BE(t.dport, 2);
  seg.writeUInt32BE((t.seq ?? 0) >>> 0, 4);
  seg.writeUInt32BE((t.ack ?? 0) >>> 0, 8);
  seg[12] = ((20 + options.length) / 4) << 4;
  seg[13] = tcpFlagBits(t.flags);
  seg.writeUInt16BE(t.window ?? 65535, 14);
  seg.writeUInt16BE(t.urgent ?? 0, 18);
  options.copy(seg, 20);
  payload.copy(seg, 20 + options.length);
  seg.writeUInt16BE(t.checksum ?? l4Checksum(ip, IpProto.TCP, seg), 16);
  return seg;
}

function buildUdp(u: UdpLayer, ip: IpContext): Buffer {
  const payload = u.payload === undefined ? Buffer.alloc(0) : buildIn(u.payload, ip);
  const seg = Buffer.alloc(8 + payload.length);
  seg.writeUInt16BE(u.sport, 0);
  seg.writeUInt16BE(u.dport, 2);
  seg.writeUInt16BE(u.length ?? seg.length, 4);
  payload.copy(seg, 8);
  let sum = u.checksum;
  if (sum === undefined) {
    sum = l4Checksum(ip, IpProto.UDP, seg);
    if (sum === 0) sum = 0xffff; // 0 means "no checksum" (RFC 768)
  }
  seg.writeUInt16BE(sum, 6);
  return seg;
}

function buildGue(g: GueLayer): Buffer {
  const inner = buildIn(g.payload, undefined);
  if (g.variant === 1) return inner;
  const head = Buffer.alloc(4);
  head[0] = 0; // version 0, C=0, hlen=0
  head[1] = g.proto ?? protoOf(g.payload, 0);
  head.writeUInt16BE(g.flags ?? 0, 2);
  return Buffer.concat([head, inner]);
}

/** The 4 bytes after an ICMP checksum, from id/seq or mtu when `rest` is not given. */
function icmpRest(l: IcmpLayer | Icmp6Layer): Buffer {
  if (l.rest !== undefined) {
    if (l.rest.length !== 4) throw new SterletError('PACKET_BAD_ICMP', `ICMP rest-of-header must be 4 bytes, got ${l.rest.length}`, { fix: 'pass 4 bytes' });
    return l.rest;
  }
  const b = Buffer.alloc(4);
  const echo =
    l.kind === 'icmp'
      ? l.type === IcmpType.ECHO_REQUEST || l.type === IcmpType.ECHO_REPLY
      : l.type === Icmp6Type.ECHO_REQUEST || l.type === Icmp6Type.ECHO_REPLY;
  if (echo) {
    b.writeUInt16BE(l.id ?? 0, 0);
    b.writeUInt16BE(l.seq ?? 0, 2);
  } else if (l.kind === 'icmp' && l.type === IcmpType.DEST_UNREACH && (l.code ?? 0) === ICMP_FRAG_NEEDED) {
    b.writeUInt16BE(l.mtu ?? 0, 2);
  } else if (l.kind === 'icmp6' && l.type === Icmp6Type.PACKET_TOO_BIG) {
    b.writeUInt32BE(l.mtu ?? 0, 0);
  }
  return b;
}

function icmpMessage(l: IcmpLayer | Icmp6Layer): Buffer {
  const body = l.payload === undefined ? Buffer.alloc(0) : buildIn(l.payload, undefined);
  const msg = Buffer.alloc(8 + body.length);
  msg[0] = l.type;
  msg[1] = l.code ?? 0;
  icmpRest(l).copy(msg, 4);
  body.copy(msg, 8);
  return msg;
}

function buildIcmp(l: IcmpLayer): Buffer {
  const msg = icmpMessage(l);
  msg.writeUInt16BE(l.checksum ?? internetChecksum(msg), 2);
  return msg;
}

function buildIcmp6(l: Icmp6Layer, ip: IpContext): Buffer {
  const msg = icmpMessage(l);
  msg.writeUInt16BE(l.checksum ?? l4Checksum(ip, IpProto.ICMPV6, msg), 2);
  return msg;
}
