// Which desired VIPs (and backends) the dataplane can hold, decided per
// object: a conflicting or unrepresentable VIP is left out and reported, and
// every other VIP is still planned. One object must never make the whole plan
// fail on every agent (the compile step follows the same rule upstream).
// Deterministic over the desired state alone (VIP id order), so every node
// leaves out the same objects whatever it had programmed before.

import { Defaults } from '../dataplane/layout.ts';
import type { DesiredBackend, DesiredVip, Limits } from './model.ts';
import { vipKeyId } from './model.ts';

export const RejectionCode = {
  /** Two VIPs claim one address/port/protocol: the lower id keeps it. */
  duplicateVip: 'AGENT_DUPLICATE_VIP',
  /** An IPv4 backend of an IPv6 VIP: the backend is left out. */
  familyMismatch: 'AGENT_FAMILY_MISMATCH',
  /** Two backends of one QUIC VIP with the same server id: the second (by address) is left out. */
  duplicateQuicServerId: 'AGENT_DUPLICATE_QUIC_SERVER_ID',
  /** More VIPs than --max-vips: VIPs without a free index are left out. */
  vipsCapacity: 'AGENT_VIPS_CAPACITY',
  /** More distinct backend addresses than --max-reals: VIPs that do not fit are left out. */
  realsCapacity: 'AGENT_REALS_CAPACITY',
  /** More QUIC server ids over all QUIC VIPs than quic_reals holds: QUIC VIPs that do not fit are left out. */
  quicCapacity: 'AGENT_QUIC_CAPACITY',
} as const;
export type RejectionCode = (typeof RejectionCode)[keyof typeof RejectionCode];

export interface Rejection {
  /** id (namespace/name) of the VIP concerned. */
  readonly id: string;
  readonly code: RejectionCode;
  /** The whole VIP is not programmed, or it is programmed without one backend. */
  readonly effect: 'VirtualIPExcluded' | 'BackendExcluded';
  /** What happened, why, and what to do. */
  readonly message: string;
}

export interface Admitted {
  readonly vip: DesiredVip;
  readonly keyId: string;
  /** Usable backends, sorted by address. */
  readonly backends: readonly DesiredBackend[];
}

export interface Admission {
  /** Sorted by VIP id. */
  readonly admitted: readonly Admitted[];
  /** Sorted by VIP id, in the order they were found. */
  readonly rejected: readonly Rejection[];
}

const byText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** Admits what fits; VIP-index capacity is decided by plan() (it depends on live indices). */
export function admit(desired: readonly DesiredVip[], limits: Pick<Limits, 'maxReals' | 'maxQuicReals'>): Admission {
  const maxQuic = limits.maxQuicReals ?? Defaults.maxQuicReals;
  let quicUsed = 0;
  const rejected: Rejection[] = [];
  const owners = new Map<string, string>();
  const addresses = new Set<string>();
  const admitted: Admitted[] = [];
  for (const vip of [...desired].sort((a, b) => byText(a.id, b.id))) {
    const keyId = vipKeyId(vip.key);
    const owner = owners.get(keyId);
    if (owner !== undefined) {
      rejected.push({
        id: vip.id,
        code: RejectionCode.duplicateVip,
        effect: 'VirtualIPExcluded',
        message: `VirtualIP ${vip.id} claims ${keyId}, already programmed for VirtualIP ${owner}; one address/port/protocol can be programmed once, so ${vip.id} is left out. Change or delete one of them.`,
      });
      continue;
    }
    const backends = usableBackends(vip, rejected);
    const fresh = new Set(backends.map((b) => b.address).filter((a) => !addresses.has(a)));
    if (addresses.size + fresh.size > limits.maxReals) {
      rejected.push({
        id: vip.id,
        code: RejectionCode.realsCapacity,
        effect: 'VirtualIPExcluded',
        message: `VirtualIP ${vip.id} needs ${fresh.size} more backend address(es) but the real table holds ${limits.maxReals} and ${addresses.size} are used by VIPs before it (by id), so it is left out. Raise --max-reals (the maps are sized at creation: detach and restart) or serve fewer backends on this node.`,
      });
      continue;
    }
    const quicIds = vip.flags.quic ? backends.filter((b) => b.quicServerId !== undefined).length : 0;
    if (quicUsed + quicIds > maxQuic) {
      rejected.push({
        id: vip.id,
        code: RejectionCode.quicCapacity,
        effect: 'VirtualIPExcluded',
        message: `QUIC VirtualIP ${vip.id} has ${quicIds} server ids but the QUIC table holds ${maxQuic} over all VIPs and ${quicUsed} are used by VIPs before it (by id), so it is left out. Serve fewer QUIC backends on this node.`,
      });
      continue;
    }
    quicUsed += quicIds;
    for (const a of fresh) addresses.add(a);
    owners.set(keyId, vip.id);
    admitted.push({ vip, keyId, backends });
  }
  return { admitted, rejected };
}

/** The VIP's backends by address, without those the dataplane cannot serve for it (reported). */
function usableBackends(vip: DesiredVip, rejected: Rejection[]): DesiredBackend[] {
  const out: DesiredBackend[] = [];
  const quicOwners = new Map<number, string>();
  for (const b of [...vip.backends].sort((x, y) => byText(x.address, y.address))) {
    if (vip.key.family === 'IPv6' && b.family === 'IPv4') {
      rejected.push({
        id: vip.id,
        code: RejectionCode.familyMismatch,
        effect: 'BackendExcluded',
        message: `VirtualIP ${vip.id}: IPv4 backend ${b.address} cannot serve IPv6 VIP ${vip.key.address} (an IPv4 packet cannot carry an IPv6 client flow), so it is left out. Use an IPv6 backend address.`,
      });
      continue;
    }
    if (vip.flags.quic && b.quicServerId !== undefined) {
      const holder = quicOwners.get(b.quicServerId);
      if (holder !== undefined) {
        rejected.push({
          id: vip.id,
          code: RejectionCode.duplicateQuicServerId,
          effect: 'BackendExcluded',
          message: `VirtualIP ${vip.id}: backends ${holder} and ${b.address} both have QUIC server id ${b.quicServerId}; packets could not tell them apart, so ${b.address} is left out. Give each backend of the VIP a unique quicServerId.`,
        });
        continue;
      }
      quicOwners.set(b.quicServerId, b.address);
    }
    out.push(b);
  }
  return out;
}
