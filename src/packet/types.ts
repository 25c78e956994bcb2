// Packet layers as plain data. The builder turns a tree of these into bytes;
// the parser turns bytes back into the same shapes with every field filled
// in, so build(parseFrame(bytes)) reproduces the frame exactly.

/** Anything that can follow a header: another layer or raw bytes. */
export type Payload = Layer | Buffer;

export type Layer =
  | EthLayer
  | ArpLayer
  | Ipv4Layer
  | Ipv6Layer
  | TcpLayer
  | UdpLayer
  | GueLayer
  | IcmpLayer
  | Icmp6Layer
  | QuicLongLayer
  | QuicShortLayer;

export type IpLayer = Ipv4Layer | Ipv6Layer;

/** Filled in by the parser only. */
export interface ParseInfo {
  /** Byte offset of this header in the frame. */
  readonly offset?: number;
  /** The header or its payload ended before the length fields said. */
  readonly truncated?: boolean;
}

export interface VlanTag {
  readonly id: number;
  readonly pcp?: number;
  readonly dei?: boolean;
}

export interface EthLayer extends ParseInfo {
  readonly kind: 'eth';
  /** 'aa:bb:cc:dd:ee:ff'; default 02:00:00:00:00:01. */
  readonly src?: string;
  /** Default 02:00:00:00:00:02. */
  readonly dst?: string;
  /** One 802.1Q tag. */
  readonly vlan?: VlanTag;
  /** Default: from the payload kind (IPv4, IPv6, ARP). */
  readonly etherType?: number;
  readonly payload?: Payload;
  /** Bytes after the network packet (e.g. padding to 60 bytes). */
  readonly trailer?: Buffer;
}

export interface ArpLayer extends ParseInfo {
  readonly kind: 'arp';
  /** 1 request, 2 reply. */
  readonly op: number;
  readonly senderMac: string;
  readonly senderIp: string;
  /** Default 00:00:00:00:00:00. */
  readonly targetMac?: string;
  readonly targetIp: string;
}

export interface Ipv4Layer extends ParseInfo {
  readonly kind: 'ipv4';
  readonly src: string;
  readonly dst: string;
  /** Default 64. */
  readonly ttl?: number;
  readonly id?: number;
  readonly tos?: number;
  readonly df?: boolean;
  readonly mf?: boolean;
  /** Fragment offset in bytes (a multiple of 8). */
  readonly fragOffset?: number;
  /** Raw options, padded with zeros (EOL) to a multiple of 4 bytes. */
  readonly options?: Buffer;
  /** Default: from the payload kind. */
  readonly proto?: number;
  /** Override; default computed. */
  readonly checksum?: number;
  /** Override; default header + payload. */
  readonly totalLength?: number;
  readonly payload?: Payload;
}

export interface Ipv6Fragment {
  /** Offset in bytes (a multiple of 8). */
  readonly offset: number;
  readonly more?: boolean;
  readonly id?: number;
}

export interface Ipv6Layer extends ParseInfo {
  readonly kind: 'ipv6';
  readonly src: string;
  readonly dst: string;
  /** Default 64. */
  readonly hopLimit?: number;
  readonly trafficClass?: number;
  readonly flowLabel?: number;
  /** Adds a fragment extension header. */
  readonly fragment?: Ipv6Fragment;
  /** Upper-layer protocol (after any fragment header); default from the payload kind. */
  readonly nextHeader?: number;
  /** Override; default computed. */
  readonly payloadLength?: number;
  readonly payload?: Payload;
}

export interface TcpLayer extends ParseInfo {
  readonly kind: 'tcp';
  readonly sport: number;
  readonly dport: number;
  readonly seq?: number;
  readonly ack?: number;
  /** Letters from 'FSRPAUEC' (e.g. 'SA') or the flag byte. */
  readonly flags?: string | number;
  /** Default 65535. */
  readonly window?: number;
  readonly urgent?: number;
  /** Raw options, padded with zeros to a multiple of 4 bytes. */
  readonly options?: Buffer;
  readonly checksum?: number;
  readonly payload?: Buffer;
}

export interface UdpLayer extends ParseInfo {
  readonly kind: 'udp';
  readonly sport: number;
  readonly dport: number;
  /** Override; default header + payload. */
  readonly length?: number;
  /** Override; default computed (0 means "no checksum" on IPv4). */
  readonly checksum?: number;
  readonly payload?: Buffer | GueLayer | QuicLongLayer | QuicShortLayer;
}

/** Generic UDP Encapsulation. Variant 0: 4-byte header with the inner protocol; variant 1: bare inner IP. */
export interface GueLayer extends ParseInfo {
  readonly kind: 'gue';
  /** Default 0. */
  readonly variant?: 0 | 1;
  /** Variant 0 protocol field; default from the inner packet (4 or 41). */
  readonly proto?: number;
  /** Variant 0 flags field. */
  readonly flags?: number;
  readonly payload: IpLayer | Buffer;
}

interface IcmpCommon extends ParseInfo {
  readonly type: number;
  readonly code?: number;
  /** Echo identifier and sequence. */
  readonly id?: number;
  readonly seq?: number;
  /** Next-hop MTU of frag-needed / packet-too-big. */
  readonly mtu?: number;
  /** The 4 bytes after the checksum; when set, id/seq/mtu are ignored. */
  readonly rest?: Buffer;
  readonly checksum?: number;
  /** Echo data, or the quoted packet of an error message. */
  readonly payload?: Payload;
  /** Parser only: the quoted packet of an error message, possibly truncated. */
  readonly quoted?: IpLayer;
}

export interface IcmpLayer extends IcmpCommon {
  readonly kind: 'icmp';
}

export interface Icmp6Layer extends IcmpCommon {
  readonly kind: 'icmp6';
}

/** QUIC long header (RFC 9000 17.2): only the fields a load balancer reads are structured. */
export interface QuicLongLayer extends ParseInfo {
  readonly kind: 'quic-long';
  /** Whole first byte; default 0xc0 | packetType << 4 (1-byte packet number). */
  readonly firstByte?: number;
  /** 0 Initial, 1 0-RTT, 2 Handshake, 3 Retry. Default 0. */
  readonly packetType?: number;
  /** Default 1. */
  readonly version?: number;
  readonly dcid: Buffer;
  readonly scid?: Buffer;
  /** Everything after the SCID, verbatim; when unset the builder writes token/length/pn/payload. */
  readonly body?: Buffer;
  /** Initial only. */
  readonly token?: Buffer;
  readonly packetNumber?: number;
  readonly payload?: Buffer;
}

/** QUIC short header (1-RTT): fixed bit, DCID of a length both ends agree on, then packet number + payload. */
export interface QuicShortLayer extends ParseInfo {
  readonly kind: 'quic-short';
  readonly dcid: Buffer;
  /** Default 0x40 (fixed bit set, 1-byte packet number). */
  readonly firstByte?: number;
  /** Everything after the DCID, verbatim; when unset: packet number byte + payload. */
  readonly body?: Buffer;
  readonly packetNumber?: number;
  readonly payload?: Buffer;
}

export const EtherType = { IPV4: 0x0800, ARP: 0x0806, VLAN: 0x8100, IPV6: 0x86dd } as const;
export const IpProto = { ICMP: 1, IPIP: 4, TCP: 6, UDP: 17, IPV6: 41, FRAGMENT: 44, ICMPV6: 58 } as const;
export const TcpFlag = { F: 0x01, S: 0x02, R: 0x04, P: 0x08, A: 0x10, U: 0x20, E: 0x40, C: 0x80 } as const;
export const IcmpType = { ECHO_REPLY: 0, DEST_UNREACH: 3, ECHO_REQUEST: 8, TIME_EXCEEDED: 11 } as const;
export const Icmp6Type = { DEST_UNREACH: 1, PACKET_TOO_BIG: 2, TIME_EXCEEDED: 3, ECHO_REQUEST: 128, ECHO_REPLY: 129 } as const;
/** ICMP dest-unreachable code "fragmentation needed and DF set". */
export const ICMP_FRAG_NEEDED = 4;
