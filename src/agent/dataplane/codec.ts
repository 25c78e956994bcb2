// Encoders/decoders of every map key and value (byte layouts of
// bpf/include/structs.h). Multi-byte fields are little-endian host order
// unless the C type is __be16/__be32 (ports, addresses): x86-64 and arm64 only.

import { SterletError } from '../../common/errors.ts';
import { formatIp, parseIp, type IpFamily } from '../../api/ip.ts';
import type { Encapsulation, HashMode, Protocol, VipFlags } from '../plan/model.ts';
import { Family, IpProto, LAYOUT_VERSION, RealFlag, Size, VipFlag } from './layout.ts';

/** 16 address bytes (IPv4 in the first 4) and the family byte. */
export function encodeAddr(address: string): { bytes: Buffer; family: number; ipFamily: IpFamily } {
  const ip = parseIp(address);
  if (ip === undefined) {
    throw new SterletError('DATAPLANE_BAD_ADDRESS', `${JSON.stringify(address)} is not an IP address`, {
      fix: 'pass a canonical IPv4 or IPv6 address',
    });
  }
  const bytes = Buffer.alloc(16);
  bytes.set(ip.bytes, 0);
  return { bytes, family: Family[ip.family], ipFamily: ip.family };
}

export function decodeAddr(bytes: Buffer, family: number): string {
  return family === Family.IPv4
    ? formatIp({ family: 'IPv4', bytes: new Uint8Array(bytes.subarray(0, 4)) })
    : formatIp({ family: 'IPv6', bytes: new Uint8Array(bytes.subarray(0, 16)) });
}

export interface VipKeyInput {
  readonly address: string;
  /** 0 = every port. */
  readonly port: number;
  /** undefined = address entry (port 0, protocol 0). */
  readonly protocol?: Protocol | undefined;
}

/** struct vip_key. */
export function encodeVipKey(k: VipKeyInput): Buffer {
  const { bytes, family } = encodeAddr(k.address);
  const b = Buffer.alloc(Size.vipKey);
  bytes.copy(b, 0);
  b.writeUInt16BE(k.protocol === undefined ? 0 : k.port, 16);
  b.writeUInt8(k.protocol === undefined ? 0 : IpProto[k.protocol], 18);
  b.writeUInt8(family, 19);
  return b;
}

/** Key of a VIP address entry (see VipFlag.address). */
export function vipAddressKey(address: string): Buffer {
  return encodeVipKey({ address, port: 0 });
}

export function decodeVipKey(b: Buffer): { address: string; port: number; protocol: Protocol | undefined } {
  const proto = b.readUInt8(18);
  return {
    address: decodeAddr(b.subarray(0, 16), b.readUInt8(19)),
    port: b.readUInt16BE(16),
    protocol: proto === IpProto.TCP ? 'TCP' : proto === IpProto.UDP ? 'UDP' : undefined,
  };
}

export interface VipFlagInput {
  readonly hash: HashMode;
  readonly connectionTracking: boolean;
  readonly quic: boolean;
  readonly encapsulation: Encapsulation;
}

/** VIP_F_* bits of a VIP's settings. */
export function vipFlagBits(f: VipFlagInput): number {
  let bits = 0;
  if (f.hash === 'SourceAddress') bits |= VipFlag.hashSource;
  if (f.hash === 'DestinationPort') bits |= VipFlag.hashDestinationPort;
  if (!f.connectionTracking) bits |= VipFlag.noLru;
  if (f.quic) bits |= VipFlag.quic;
  if (f.encapsulation === 'GUE') bits |= VipFlag.gue;
  return bits >>> 0;
}

/** The inverse of vipFlagBits. */
export function decodeVipFlags(bits: number): VipFlags {
  return {
    hash: (bits & VipFlag.hashSource) !== 0 ? 'SourceAddress' : (bits & VipFlag.hashDestinationPort) !== 0 ? 'DestinationPort' : 'FiveTuple',
    connectionTracking: (bits & VipFlag.noLru) === 0,
    quic: (bits & VipFlag.quic) !== 0,
    encapsulation: (bits & VipFlag.gue) !== 0 ? 'GUE' : 'IPIP',
  };
}

/** struct vip_meta: flags (VIP_F_*) and the VIP's index (ring and counter slot). */
export function encodeVipMeta(flags: number, index: number): Buffer {
  const b = Buffer.alloc(Size.vipMeta);
  b.writeUInt32LE(flags >>> 0, 0);
  b.writeUInt32LE(index, 4);
  return b;
}

export function decodeVipMeta(b: Buffer): { flags: number; index: number } {
  return { flags: b.readUInt32LE(0), index: b.readUInt32LE(4) };
}

/** struct real_def; always marked present. */
export function encodeReal(address: string): Buffer {
  const { bytes, ipFamily } = encodeAddr(address);
  const b = Buffer.alloc(Size.realDef);
  bytes.copy(b, 0);
  b.writeUInt32LE(RealFlag.present | (ipFamily === 'IPv6' ? RealFlag.v6 : 0), 16);
  return b;
}

/** An absent real (deleted slot). */
export function emptyReal(): Buffer {
  return Buffer.alloc(Size.realDef);
}

export function decodeReal(b: Buffer): { address: string; present: boolean } | undefined {
  const flags = b.readUInt32LE(16);
  if ((flags & RealFlag.present) === 0) return undefined;
  return { address: decodeAddr(b.subarray(0, 16), flags & RealFlag.v6 ? Family.IPv6 : Family.IPv4), present: true };
}

/** u32 key/value (ring slot, real index, quic server id, cpu). */
export function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0, 0);
  return b;
}

/** struct quic_key: (VIP index, server id from the CID, 1..65535, see bpf/include/quic.h); value = u32(real index). */
export function quicKey(vipIndex: number, serverId: number): Buffer {
  if (!Number.isInteger(serverId) || serverId < 1 || serverId > 0xffff) {
    throw new SterletError('DATAPLANE_BAD_QUIC_SERVER_ID', `QUIC server id ${serverId} is out of range`, {
      why: 'the connection id carries a 16-bit server id and 0 means none',
      fix: 'use a server id from 1 to 65535',
    });
  }
  const b = Buffer.alloc(Size.quicKey);
  b.writeUInt32LE(vipIndex >>> 0, 0);
  b.writeUInt32LE(serverId, 4);
  return b;
}

export function decodeQuicKey(b: Buffer): { vipIndex: number; serverId: number } {
  return { vipIndex: b.readUInt32LE(0), serverId: b.readUInt32LE(4) };
}


/** Batch buffers (keys, values) writing a whole ring of real indices for one VIP. */
export function encodeRing(vipIndex: number, ring: ArrayLike<number>): { keys: Buffer; values: Buffer; count: number } {
  const keys = Buffer.alloc(ring.length * 4);
  const values = Buffer.alloc(ring.length * 4);
  const base = vipIndex * ring.length;
  for (let i = 0; i < ring.length; i++) {
    keys.writeUInt32LE(base + i, i * 4);
    values.writeUInt32LE(ring[i] ?? 0, i * 4);
  }
  return { keys, values, count: ring.length };
}

export interface FlowInput {
  readonly protocol: Protocol;
  readonly src: { readonly address: string; readonly port: number };
  readonly dst: { readonly address: string; readonly port: number };
}

/** struct flow_key (client -> VIP). */
export function encodeFlowKey(f: FlowInput): Buffer {
  const src = encodeAddr(f.src.address);
  const dst = encodeAddr(f.dst.address);
  const b = Buffer.alloc(Size.flowKey);
  src.bytes.copy(b, 0);
  dst.bytes.copy(b, 16);
  b.writeUInt16BE(f.src.port, 32);
  b.writeUInt16BE(f.dst.port, 34);
  b.writeUInt8(IpProto[f.protocol], 36);
  b.writeUInt8(src.family, 37);
  return b;
}

export function decodeFlowKey(b: Buffer): FlowInput {
  const family = b.readUInt8(37);
  return {
    protocol: b.readUInt8(36) === IpProto.UDP ? 'UDP' : 'TCP',
    src: { address: decodeAddr(b.subarray(0, 16), family), port: b.readUInt16BE(32) },
    dst: { address: decodeAddr(b.subarray(16, 32), family), port: b.readUInt16BE(34) },
  };
}

/** struct lru_val. */
export function encodeLruVal(real: number, atime = 0): Buffer {
  const b = Buffer.alloc(Size.lruVal);
  b.writeUInt32LE(real, 0);
  b.writeUInt32LE(atime >>> 0, 4);
  return b;
}

export function decodeLruVal(b: Buffer): { real: number; atime: number } {
  return { real: b.readUInt32LE(0), atime: b.readUInt32LE(4) };
}

export interface Settings {
  readonly gatewayMac: string;
  /** L3 bytes a forwarded packet may have incl. encapsulation; 0 = never send too-big. */
  readonly mtu: number;
  readonly gueDestinationPort: number;
  /** Outer IPv4 source: prefix; host bits (32 - prefixLength) come from the flow hash. */
  readonly sourcePrefixV4: { readonly address: string; readonly hostBits: number };
  /** Outer IPv6 source: host bits (<= 32) of the last word come from the flow hash. */
  readonly sourcePrefixV6: { readonly address: string; readonly hostBits: number };
  /** UDP connection-table entry lifetime in atime units (secondsToAtime); 0 = never. */
  readonly udpTimeout: number;
  readonly layoutVersion?: number;
}

export function parseMac(mac: string): Buffer {
  const parts = mac.split(':');
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{2}$/.test(p))) {
    throw new SterletError('DATAPLANE_BAD_MAC', `${JSON.stringify(mac)} is not a MAC address`, { fix: 'write it as aa:bb:cc:dd:ee:ff' });
  }
  return Buffer.from(parts.map((p) => parseInt(p, 16)));
}

/** struct lb_settings. */
export function encodeSettings(s: Settings): Buffer {
  const b = Buffer.alloc(Size.settings);
  b.writeUInt32LE(s.layoutVersion ?? LAYOUT_VERSION, 0);
  parseMac(s.gatewayMac).copy(b, 4);
  b.writeUInt16LE(s.mtu, 10);
  b.writeUInt16BE(s.gueDestinationPort, 12);
  b.writeUInt8(s.sourcePrefixV4.hostBits, 14);
  b.writeUInt8(s.sourcePrefixV6.hostBits, 15);
  encodeAddr(s.sourcePrefixV4.address).bytes.copy(b, 16, 0, 4);
  encodeAddr(s.sourcePrefixV6.address).bytes.copy(b, 20, 0, 16);
  b.writeUInt32LE(s.udpTimeout >>> 0, 36);
  return b;
}

/** Layout version stored in a settings value (0 if the maps were never initialised). */
export function settingsLayoutVersion(b: Buffer): number {
  return b.readUInt32LE(0);
}

/** struct lb_limits (rodata). */
export function encodeLimits(l: { maxVips: number; maxReals: number; ringSize: number }): Buffer {
  const b = Buffer.alloc(Size.limits);
  b.writeUInt32LE(l.maxVips, 0);
  b.writeUInt32LE(l.maxReals, 4);
  b.writeUInt32LE(l.ringSize, 8);
  b.writeUInt32LE(LAYOUT_VERSION, 12);
  return b;
}

/** struct decap_addr. */
export function encodeDecapAddr(address: string): Buffer {
  const { bytes, family } = encodeAddr(address);
  const b = Buffer.alloc(Size.decapAddr);
  bytes.copy(b, 0);
  b.writeUInt8(family, 16);
  return b;
}

/** struct decap_settings. */
export function encodeDecapSettings(s: { gueDestinationPort: number }): Buffer {
  const b = Buffer.alloc(Size.decapSettings);
  b.writeUInt32LE(LAYOUT_VERSION, 0);
  b.writeUInt16BE(s.gueDestinationPort, 4);
  return b;
}
