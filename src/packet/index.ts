// Packet builder and parser for BPF fixtures, the dataplane benchmark and
// `sterlet simulate`. Layers are plain data that nest:
//
//   build(eth({ src, dst }, ipv4({ src: '10.0.0.1', dst: '10.200.0.10' },
//     tcp({ sport: 40000, dport: 80, flags: 'S' }))))
//
// parseFrame() returns the same shapes with every field filled in, and
// verifyChecksums() lists every wrong checksum, including tunnel inner
// headers and complete quoted packets inside ICMP errors.

import {
  ICMP_FRAG_NEEDED,
  Icmp6Type,
  IcmpType,
  type ArpLayer,
  type EthLayer,
  type GueLayer,
  type Icmp6Layer,
  type IcmpLayer,
  type IpLayer,
  type Ipv4Layer,
  type Ipv6Layer,
  type Payload,
  type QuicLongLayer,
  type QuicShortLayer,
  type TcpLayer,
  type UdpLayer,
} from './types.ts';

export * from './types.ts';
export { build, tcpFlagBits } from './build.ts';
export { quicVarint } from './quic.ts';
export { parseFrame, parsePacket, verifyChecksums, type PacketProblem, type ParseOptions } from './parse.ts';
export { internetChecksum, pseudoHeader } from './checksum.ts';
export { describe, describeFrame, frameDiff } from './describe.ts';
export { ipBytes, ipText, macBytes, macText } from './addr.ts';

type Fields<T> = Omit<T, 'kind' | 'payload' | 'offset' | 'truncated'>;
/** QUIC layers keep `payload`: it is their own (plaintext) payload, not a nested layer. */
type QuicFields<T> = Omit<T, 'kind' | 'offset' | 'truncated'>;

export function eth(o: Fields<EthLayer>, payload?: Payload): EthLayer {
  return payload === undefined ? { kind: 'eth', ...o } : { kind: 'eth', ...o, payload };
}

export function arp(o: Fields<ArpLayer>): ArpLayer {
  return { kind: 'arp', ...o };
}

export function ipv4(o: Fields<Ipv4Layer>, payload?: Payload): Ipv4Layer {
  return payload === undefined ? { kind: 'ipv4', ...o } : { kind: 'ipv4', ...o, payload };
}

export function ipv6(o: Fields<Ipv6Layer>, payload?: Payload): Ipv6Layer {
  return payload === undefined ? { kind: 'ipv6', ...o } : { kind: 'ipv6', ...o, payload };
}

export function tcp(o: Fields<TcpLayer>, payload?: Buffer): TcpLayer {
  return payload === undefined ? { kind: 'tcp', ...o } : { kind: 'tcp', ...o, payload };
}

export function udp(o: Fields<UdpLayer>, payload?: UdpLayer['payload']): UdpLayer {
  return payload === undefined ? { kind: 'udp', ...o } : { kind: 'udp', ...o, payload };
}

/** GUE (variant 0 by default: 4-byte header whose proto field names the inner IP version). */
export function gue(inner: IpLayer | Buffer, o: Fields<GueLayer> = {}): GueLayer {
  return { kind: 'gue', ...o, payload: inner };
}

export function icmp(o: Fields<IcmpLayer>, payload?: Payload): IcmpLayer {
  return payload === undefined ? { kind: 'icmp', ...o } : { kind: 'icmp', ...o, payload };
}

export function icmp6(o: Fields<Icmp6Layer>, payload?: Payload): Icmp6Layer {
  return payload === undefined ? { kind: 'icmp6', ...o } : { kind: 'icmp6', ...o, payload };
}

export function icmpEcho(o: { id: number; seq: number; reply?: boolean }, data: Buffer = Buffer.alloc(0)): IcmpLayer {
  return icmp({ type: o.reply === true ? IcmpType.ECHO_REPLY : IcmpType.ECHO_REQUEST, code: 0, id: o.id, seq: o.seq }, data);
}

/** Destination unreachable, fragmentation needed (type 3 code 4) quoting the packet that was too big. */
export function icmpFragNeeded(mtu: number, quoted: Payload): IcmpLayer {
  return icmp({ type: IcmpType.DEST_UNREACH, code: ICMP_FRAG_NEEDED, mtu }, quoted);
}

export function icmp6Echo(o: { id: number; seq: number; reply?: boolean }, data: Buffer = Buffer.alloc(0)): Icmp6Layer {
  return icmp6({ type: o.reply === true ? Icmp6Type.ECHO_REPLY : Icmp6Type.ECHO_REQUEST, code: 0, id: o.id, seq: o.seq }, data);
}

/** Packet too big (type 2) quoting the packet that was too big. */
export function icmp6TooBig(mtu: number, quoted: Payload): Icmp6Layer {
  return icmp6({ type: Icmp6Type.PACKET_TOO_BIG, code: 0, mtu }, quoted);
}

export function quicLong(o: QuicFields<QuicLongLayer>): QuicLongLayer {
  return { kind: 'quic-long', ...o };
}

export function quicShort(o: QuicFields<QuicShortLayer>): QuicShortLayer {
  return { kind: 'quic-short', ...o };
}
