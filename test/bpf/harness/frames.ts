// Frame helpers for fixtures: client packets toward a VIP, and the exact frame
// the balancer must emit for them (encapsulation, ICMP replies).

import { encodeFlowKey } from '../../../src/agent/dataplane/codec.ts';
import { VipFlag } from '../../../src/agent/dataplane/layout.ts';
import { flowHash, gueSourcePort, hashHostBits, outerFlowLabel, outerHash, ringSlot } from './hash.ts';
import { ipBytes, ipText } from '../../../src/packet/addr.ts';
import type { EthLayer, IpLayer, Ipv4Layer, Ipv6Layer, Layer, TcpLayer, UdpLayer, VlanTag } from '../../../src/packet/types.ts';
import { CLIENT_MAC, GUE_PORT, GW_MAC, LB_MAC, REALS, ringOf, SETTINGS, SIZES, VIPS, type VipDef, type VipName } from './world.ts';

export interface Flow {
  readonly protocol: 'TCP' | 'UDP';
  readonly src: string;
  readonly sport: number;
  readonly dst: string;
  readonly dport: number;
}

/** A client flow to a VIP of the world (port-less VIPs: pass dport). */
export function flowTo(vip: VipName, src: string, sport: number, dport?: number): Flow {
  const v: VipDef = VIPS[vip];
  return { protocol: v.protocol, src, sport, dst: v.address, dport: dport ?? v.port };
}

export function isV6(addr: string): boolean {
  return addr.includes(':');
}

export interface L4Options {
  readonly flags?: string;
  readonly payload?: Buffer | Layer;
  readonly udpChecksum?: number;
}

export interface FrameOptions extends L4Options {
  readonly vlan?: VlanTag;
  readonly tos?: number;
  readonly ttl?: number;
  readonly trailer?: Buffer;
  readonly df?: boolean;
}

/** The L4 header of a flow's packet. */
export function l4(f: Flow, o: L4Options = {}): TcpLayer | UdpLayer {
  if (f.protocol === 'TCP') {
    return { kind: 'tcp', sport: f.sport, dport: f.dport, seq: 1000, ack: o.flags?.includes('A') ? 2000 : 0, flags: o.flags ?? 'A', ...(Buffer.isBuffer(o.payload) ? { payload: o.payload } : {}) };
  }
  const payload = o.payload as UdpLayer['payload'];
  return { kind: 'udp', sport: f.sport, dport: f.dport, ...(payload !== undefined ? { payload } : {}), ...(o.udpChecksum !== undefined ? { checksum: o.udpChecksum } : {}) };
}

/** The IP packet of a flow. */
export function ipOf(f: Flow, payload: Layer | Buffer, o: { tos?: number; ttl?: number; df?: boolean } = {}): IpLayer {
  return isV6(f.src)
    ? { kind: 'ipv6', src: f.src, dst: f.dst, trafficClass: o.tos ?? 0, hopLimit: o.ttl ?? 64, payload }
    : { kind: 'ipv4', src: f.src, dst: f.dst, tos: o.tos ?? 0, ttl: o.ttl ?? 64, df: o.df ?? false, payload };
}

/** Client frame as it reaches the load balancer. */
export function clientFrame(f: Flow, o: FrameOptions = {}): EthLayer {
  return eth(ipOf(f, l4(f, o), o), { ...(o.vlan ? { vlan: o.vlan } : {}), ...(o.trailer ? { trailer: o.trailer } : {}) });
}

export function eth(payload: Layer, o: { vlan?: VlanTag; trailer?: Buffer; src?: string; dst?: string; etherType?: number } = {}): EthLayer {
  return { kind: 'eth', src: o.src ?? CLIENT_MAC, dst: o.dst ?? LB_MAC, payload, ...(o.vlan ? { vlan: o.vlan } : {}), ...(o.trailer ? { trailer: o.trailer } : {}), ...(o.etherType !== undefined ? { etherType: o.etherType } : {}) };
}

/** The program's hash of a flow under a VIP's flags. */
export function hashOf(f: Flow, vipFlags: number): number {
  return flowHash(encodeFlowKey({ protocol: f.protocol, src: { address: f.src, port: f.sport }, dst: { address: f.dst, port: f.dport } }), vipFlags);
}

/** The hash the program puts in a flow's outer headers (five-tuple, whatever the VIP's mode). */
export function outerHashOf(f: Flow): number {
  return outerHash(encodeFlowKey({ protocol: f.protocol, src: { address: f.src, port: f.sport }, dst: { address: f.dst, port: f.dport } }));
}

/** Real index the world's ring gives a flow of a VIP. */
export function ringReal(vip: VipName, f: Flow): number {
  const v: VipDef = VIPS[vip];
  return ringOf(v)[ringSlot(hashOf(f, v.flags), SIZES.ringSize)]!;
}

function withHostBits(prefix: string, hash: number, bits: number): string {
  const b = ipBytes(prefix);
  const off = b.length - 4;
  b.writeUInt32BE((b.readUInt32BE(off) | hashHostBits(hash, bits)) >>> 0, off);
  return ipText(b);
}

export interface EncapOptions {
  /** The flow's five-tuple hash (outerHashOf): outer source, GUE port, flow label. */
  readonly hash: number;
  readonly gue?: boolean;
  /** Override of the outer UDP checksum (0 when the inner UDP has none). */
  readonly udpChecksum?: number;
}

/** The frame the balancer sends to `real` for the client frame `input`. */
export function encapsulated(input: EthLayer, real: number, o: EncapOptions): EthLayer {
  const inner = input.payload as IpLayer;
  const dst = REALS[real]!;
  const tos = inner.kind === 'ipv4' ? (inner.tos ?? 0) : (inner.trafficClass ?? 0);
  const payload: Layer = o.gue
    ? { kind: 'udp', sport: gueSourcePort(o.hash), dport: GUE_PORT, payload: { kind: 'gue', payload: inner }, ...(o.udpChecksum !== undefined ? { checksum: o.udpChecksum } : {}) }
    : inner;
  const outer: Ipv4Layer | Ipv6Layer = isV6(dst)
    ? { kind: 'ipv6', src: withHostBits(SETTINGS.sourcePrefixV6.address, o.hash, SETTINGS.sourcePrefixV6.hostBits), dst, hopLimit: 64, trafficClass: tos, flowLabel: outerFlowLabel(o.hash), payload }
    : { kind: 'ipv4', src: withHostBits(SETTINGS.sourcePrefixV4.address, o.hash, SETTINGS.sourcePrefixV4.hostBits), dst, ttl: 64, tos, payload };
  return { kind: 'eth', dst: GW_MAC, src: input.dst ?? LB_MAC, payload: outer, ...(input.vlan ? { vlan: input.vlan } : {}), ...(input.trailer ? { trailer: input.trailer } : {}) };
}

/** Encapsulation of a client frame of `vip` to the real the ring picks (or `real`). */
export function forwarded(vip: VipName, f: Flow, input: EthLayer, o: { real?: number; udpChecksum?: number } = {}): EthLayer {
  const v: VipDef = VIPS[vip];
  const hash = outerHashOf(f);
  return encapsulated(input, o.real ?? ringReal(vip, f), { hash, gue: (v.flags & VipFlag.gue) !== 0, ...(o.udpChecksum !== undefined ? { udpChecksum: o.udpChecksum } : {}) });
}
