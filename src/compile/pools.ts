// Pool admission (issue 6): which VIPs a namespace may claim and which
// backend addresses they may send to. The controller enforces pools; the
// standalone agent admits everything, and says so by passing ADMIT_ALL.
import { cidrContains, formatCidr, parseCidr, type ParsedCidr, type ParsedIp } from '../api/ip.ts';
import type { Labels, Protocol } from '../api/meta.ts';
import { matchesSelector } from './selector.ts';
import type { VirtualIPPool } from '../api/virtual-ip-pool.ts';

/** Every VIP and backend is admitted: the standalone agent, where the file's author is the operator. */
export const ADMIT_ALL = { mode: 'AdmitAll' } as const;

/** Pools are enforced; no admitting pool means not served (secure by default). */
export interface PoolAdmission {
  readonly mode: 'Pools';
  readonly pools: readonly VirtualIPPool[];
  /** Labels of each namespace; a namespace missing here has only kubernetes.io/metadata.name. */
  readonly namespaceLabels: ReadonlyMap<string, Labels>;
}

export type Admission = typeof ADMIT_ALL | PoolAdmission;

export interface PreparedPool {
  readonly name: string;
  readonly source: VirtualIPPool;
  readonly addresses: readonly ParsedCidr[];
  readonly backendAddresses: readonly ParsedCidr[];
}

export interface VipClaim {
  readonly namespace: string;
  readonly ip: ParsedIp;
  readonly address: string;
  readonly port: number;
  readonly protocol: Protocol;
}

export type AdmitResult = { readonly pool: PreparedPool } | { readonly denied: string };

function parseAll(ranges: readonly string[]): ParsedCidr[] {
  // The schema already rejected malformed CIDRs; skipping here keeps this total.
  return ranges.map(parseCidr).filter((c): c is ParsedCidr => c !== undefined);
}

export function preparePools(pools: readonly VirtualIPPool[]): PreparedPool[] {
  return [...pools]
    .sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0))
    .map((p) => ({
      name: p.metadata.name,
      source: p,
      addresses: parseAll(p.spec.addresses),
      backendAddresses: parseAll(p.spec.backendAddresses),
    }));
}

function namespaceLabels(admission: PoolAdmission, namespace: string): Labels {
  return admission.namespaceLabels.get(namespace) ?? { 'kubernetes.io/metadata.name': namespace };
}

/** Longest matching VIP prefix wins (like a route), then the pool name: deterministic for overlaps. */
export function admitVip(claim: VipClaim, pools: readonly PreparedPool[], admission: PoolAdmission): AdmitResult {
  if (pools.length === 0) {
    return {
      denied:
        'no VirtualIPPool exists and pools are enforced, so nothing is admitted. A cluster admin must create a VirtualIPPool whose addresses cover it and whose namespaceSelector selects this namespace',
    };
  }
  const labels = namespaceLabels(admission, claim.namespace);
  const reasons: string[] = [];
  let best: { pool: PreparedPool; prefix: number } | undefined;
  for (const pool of pools) {
    if (!matchesSelector(pool.source.spec.namespaceSelector, labels)) {
      reasons.push(`${pool.name}: namespace ${claim.namespace} not selected`);
      continue;
    }
    const ranges = pool.addresses.filter((r) => cidrContains(r, claim.ip));
    if (ranges.length === 0) {
      reasons.push(`${pool.name}: ${claim.address} outside ${pool.addresses.map(formatCidr).join(', ')}`);
      continue;
    }
    const ports = pool.source.spec.ports;
    if (ports !== undefined && !ports.includes(claim.port)) {
      reasons.push(`${pool.name}: port ${claim.port} not in ${ports.join(', ')}`);
      continue;
    }
    const protocols = pool.source.spec.protocols;
    if (protocols !== undefined && !protocols.includes(claim.protocol)) {
      reasons.push(`${pool.name}: protocol ${claim.protocol} not in ${protocols.join(', ')}`);
      continue;
    }
    const prefix = Math.max(...ranges.map((r) => r.prefixLength));
    if (best === undefined || prefix > best.prefix) best = { pool, prefix };
  }
  if (best !== undefined) return { pool: best.pool };
  return {
    denied: `no VirtualIPPool admits it (${reasons.join('; ')}). Use an address from a pool that selects namespace ${claim.namespace}, or ask a cluster admin to extend one`,
  };
}

export function backendAllowed(pool: PreparedPool, ip: ParsedIp): boolean {
  return pool.backendAddresses.some((r) => cidrContains(r, ip));
}
