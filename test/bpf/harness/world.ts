// The fixed world every balancer fixture starts from: VIPs, reals, rings,
// settings. Fixtures name VIPs from here and compute the real a flow must reach
// with the same hash the program uses (test/bpf/harness/hash.ts).

import { secondsToAtime, VipFlag } from '../../../src/agent/dataplane/layout.ts';
import type { Settings } from '../../../src/agent/dataplane/codec.ts';
import type { BalancerSizes } from '../../../src/agent/dataplane/loader.ts';

export const CLIENT_MAC = '02:00:00:00:00:01';
export const LB_MAC = '02:00:00:00:00:02';
export const GW_MAC = 'aa:bb:cc:00:00:01';
export const GUE_PORT = 6080;
export const MTU = 1500;

export const SIZES: BalancerSizes = { maxVips: 32, maxReals: 16, ringSize: 13, lruSize: 256, fallbackLruSize: 256 };

export const SETTINGS: Settings = {
  gatewayMac: GW_MAC,
  mtu: MTU,
  gueDestinationPort: GUE_PORT,
  sourcePrefixV4: { address: '172.16.0.0', hostBits: 16 },
  sourcePrefixV6: { address: 'fc00:ffff::', hostBits: 16 },
  udpTimeout: secondsToAtime(60),
};

export interface VipDef {
  readonly address: string;
  readonly port: number;
  readonly protocol: 'TCP' | 'UDP';
  readonly index: number;
  readonly flags: number;
  /** Real indices the ring cycles through (slot i -> reals[i % n]). */
  readonly reals: readonly number[];
}

const V4 = [1, 2, 3] as const;
const V6 = [4, 5] as const;

export const VIPS = {
  web4: { address: '10.200.0.10', port: 80, protocol: 'TCP', index: 0, flags: 0, reals: V4 },
  dns4: { address: '10.200.0.10', port: 53, protocol: 'UDP', index: 1, flags: 0, reals: V4 },
  any4: { address: '10.200.0.11', port: 0, protocol: 'TCP', index: 2, flags: 0, reals: V4 },
  web6: { address: 'fd00::10', port: 80, protocol: 'TCP', index: 3, flags: 0, reals: V6 },
  src4: { address: '10.200.0.12', port: 80, protocol: 'TCP', index: 4, flags: VipFlag.hashSource, reals: V4 },
  dport4: { address: '10.200.0.13', port: 80, protocol: 'TCP', index: 5, flags: VipFlag.hashDestinationPort, reals: V4 },
  nolru4: { address: '10.200.0.14', port: 80, protocol: 'TCP', index: 6, flags: VipFlag.noLru, reals: V4 },
  gue4: { address: '10.200.0.15', port: 80, protocol: 'TCP', index: 7, flags: VipFlag.gue, reals: V4 },
  gue6: { address: 'fd00::15', port: 80, protocol: 'TCP', index: 8, flags: VipFlag.gue, reals: V6 },
  quic4: { address: '10.200.0.16', port: 443, protocol: 'UDP', index: 9, flags: VipFlag.quic, reals: V4 },
  mixed: { address: '10.200.0.17', port: 80, protocol: 'TCP', index: 10, flags: 0, reals: V6 },
  dns6: { address: 'fd00::10', port: 53, protocol: 'UDP', index: 11, flags: 0, reals: V6 },
  gueudp4: { address: '10.200.0.15', port: 53, protocol: 'UDP', index: 12, flags: VipFlag.gue, reals: V4 },
  empty4: { address: '10.200.0.18', port: 80, protocol: 'TCP', index: 13, flags: 0, reals: [] },
  gue46: { address: '10.200.0.19', port: 80, protocol: 'TCP', index: 14, flags: VipFlag.gue, reals: V6 },
  guedport6: { address: 'fd00::16', port: 80, protocol: 'TCP', index: 15, flags: VipFlag.gue | VipFlag.hashDestinationPort, reals: V6 },
  gueudp46: { address: '10.200.0.19', port: 53, protocol: 'UDP', index: 16, flags: VipFlag.gue, reals: V6 },
  /** A second QUIC VIP (another namespace's) reusing quic4's server id 7 for its own backend. */
  quic4b: { address: '10.200.0.20', port: 443, protocol: 'UDP', index: 17, flags: VipFlag.quic, reals: V4 },
  quic6: { address: 'fd00::20', port: 443, protocol: 'UDP', index: 18, flags: VipFlag.quic, reals: V6 },
} as const satisfies Record<string, VipDef>;
export type VipName = keyof typeof VIPS;

/** Addresses with an address entry (echo replies, fragment/option drops). */
export const VIP_ADDRESSES = ['10.200.0.10', 'fd00::10'] as const;

/** Real index -> address. 6 is a drained real no ring points to. */
export const REALS: Readonly<Record<number, string>> = {
  1: '10.0.1.1',
  2: '10.0.1.2',
  3: '10.0.1.3',
  4: 'fc00::1:1',
  5: 'fc00::1:2',
  6: '10.0.1.6',
};

export interface QuicServer {
  readonly vip: VipName;
  readonly serverId: number;
  readonly real: number;
}

/**
 * QUIC routing entries, per VIP. quic4 and quic4b both use id 7 (per-VIP
 * uniqueness is the API's rule); quic4's id 8 names real 7, which is not
 * present (a removed backend); quic6's id 13 names the IPv4 real 1, which the
 * agent never writes (the program must still refuse to carry IPv6 in IPv4).
 */
export const QUIC_SERVERS: readonly QuicServer[] = [
  { vip: 'quic4', serverId: 7, real: 2 },
  { vip: 'quic4', serverId: 8, real: 7 },
  { vip: 'quic4b', serverId: 7, real: 3 },
  { vip: 'quic4b', serverId: 9, real: 1 },
  { vip: 'quic6', serverId: 11, real: 4 },
  { vip: 'quic6', serverId: 13, real: 1 },
];

/** The ring of a VIP as the world installs it. */
export function ringOf(vip: VipDef, size = SIZES.ringSize): number[] {
  return Array.from({ length: size }, (_, i) => (vip.reals.length === 0 ? 0 : vip.reals[i % vip.reals.length]!));
}
