// The agent's own vocabulary for desired and live dataplane state. plan()
// works only on these shapes, so it stays pure and independent of the map
// byte layouts (those live in src/agent/dataplane and are used by live.ts and
// apply.ts).

import type { CompiledHealthCheck } from '../../api/health-check.ts';
import type { IpFamily } from '../../api/ip.ts';

export type Protocol = 'TCP' | 'UDP';
export type HashMode = 'FiveTuple' | 'SourceAddress' | 'DestinationPort';
export type Encapsulation = 'IPIP' | 'GUE';

export interface VipKey {
  /** Canonical text (RFC 5952 for IPv6). */
  readonly address: string;
  readonly family: IpFamily;
  /** 0 = every port of the address. */
  readonly port: number;
  readonly protocol: Protocol;
}

export interface VipFlags {
  readonly hash: HashMode;
  readonly connectionTracking: boolean;
  readonly quic: boolean;
  readonly encapsulation: Encapsulation;
}

export interface DesiredBackend {
  readonly address: string;
  readonly family: IpFamily;
  /** Relative weight; 0 = drain (kept as a real, no ring slots). */
  readonly weight: number;
  readonly quicServerId?: number | undefined;
  /** Name of the Backend object (the VIP's namespace): labels stats and metrics only. */
  readonly name?: string | undefined;
  /** This backend's own health check when it overrides the VIP's; not programmed. */
  readonly healthCheck?: CompiledHealthCheck | undefined;
  /** Never probed, always counts as healthy. */
  readonly unchecked?: boolean | undefined;
  /** The fleet's decision (cluster mode): out of the ring for new flows unless every backend is. */
  readonly unhealthy?: boolean | undefined;
}

export interface DesiredVip {
  /** namespace/name of the VirtualIP. */
  readonly id: string;
  readonly key: VipKey;
  readonly flags: VipFlags;
  readonly backends: readonly DesiredBackend[];
  /** Stable hash of the compiled content, when the source provides one. */
  readonly revision?: string | undefined;
  /** BGP attributes of the VIP's route (communities as ASN:VALUE). */
  readonly announcement?: { readonly communities?: readonly string[] | undefined; readonly localPreference?: number | undefined } | undefined;
  /** How this node probes the backends (absent: no health checks); not programmed. */
  readonly healthCheck?: CompiledHealthCheck | undefined;
}

/** Real indices per ring slot. Uint16 when every index fits: halves memory at 512 x 65537. */
export type Ring = Uint16Array | Uint32Array;

export interface LiveVip {
  readonly key: VipKey;
  /** Position of the VIP's ring and counters in the dataplane. */
  readonly index: number;
  readonly flags: VipFlags;
}

export interface LiveReal {
  /** 1..maxReals; 0 is reserved for "no backend". */
  readonly index: number;
  readonly address: string;
  readonly family: IpFamily;
}

/** One QUIC routing entry: within VIP `vipIndex`, server id `serverId` names real `realIndex`. */
export interface QuicEntry {
  readonly vipIndex: number;
  /** 1..65535, from the connection id. */
  readonly serverId: number;
  readonly realIndex: number;
}

/** Key of a QUIC entry in LiveState.quic, e.g. `3/7`: server ids are per VIP. */
export function quicEntryId(vipIndex: number, serverId: number): string {
  return `${vipIndex}/${serverId}`;
}

/** What the pinned maps hold, decoded. */
export interface LiveState {
  /** By vipKeyId(). */
  readonly vips: ReadonlyMap<string, LiveVip>;
  readonly reals: ReadonlyMap<number, LiveReal>;
  /** Ring of each live VIP, by VIP index. */
  readonly rings: ReadonlyMap<number, Ring>;
  /** QUIC routing entries by quicEntryId(). */
  readonly quic: ReadonlyMap<string, QuicEntry>;
  /** VIP addresses with an address entry (ICMP echo, drop accounting): one per distinct VIP address. */
  readonly addresses: ReadonlySet<string>;
}

export interface Limits {
  readonly maxVips: number;
  /** Usable real indices are 1..maxReals. */
  readonly maxReals: number;
  /** Prime number of slots per VIP ring. */
  readonly ringSize: number;
  /** (VIP, QUIC server id) entries of all QUIC VIPs together; default the map's fixed size. */
  readonly maxQuicReals?: number | undefined;
}

export function emptyLive(): LiveState {
  return { vips: new Map(), reals: new Map(), rings: new Map(), quic: new Map(), addresses: new Set() };
}

/** A stable text id of a VIP key, e.g. `TCP 10.0.0.1:80` or `UDP [fd00::1]:443`. */
export function vipKeyId(key: VipKey): string {
  const host = key.family === 'IPv6' ? `[${key.address}]` : key.address;
  return `${key.protocol} ${host}:${key.port}`;
}

export function newRing(limits: Limits): Ring {
  return limits.maxReals < 0xffff ? new Uint16Array(limits.ringSize) : new Uint32Array(limits.ringSize);
}

export function sameFlags(a: VipFlags, b: VipFlags): boolean {
  return (
    a.hash === b.hash &&
    a.connectionTracking === b.connectionTracking &&
    a.quic === b.quic &&
    a.encapsulation === b.encapsulation
  );
}
