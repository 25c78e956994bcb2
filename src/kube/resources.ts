// Where each kind Sterlet reads or writes lives in the API. Sterlet's own
// kinds are derived from their definitions in src/api/crd/kinds.ts (the same
// source as the CRD YAML), so a plural or scope is written down once.

import { KINDS } from '../api/crd/kinds.ts';
import { GROUP, VERSION } from '../api/meta.ts';

/** Where a kind lives in the API. */
export interface ResourceRef {
  readonly group: string;
  readonly version: string;
  readonly plural: string;
  readonly kind: string;
  readonly namespaced: boolean;
}

function sterletKind(kind: string): ResourceRef {
  const def = KINDS.find((k) => k.kind === kind);
  if (def === undefined) throw new Error(`no kind definition for ${kind} in src/api/crd/kinds.ts`);
  return { group: GROUP, version: VERSION, plural: def.plural, kind, namespaced: def.scope === 'Namespaced' };
}

/** The kinds Sterlet reads and writes. */
export const Resources = {
  virtualIP: sterletKind('VirtualIP'),
  backend: sterletKind('Backend'),
  virtualIPPool: sterletKind('VirtualIPPool'),
  loadBalancerNode: sterletKind('LoadBalancerNode'),
  bgpPeer: sterletKind('BGPPeer'),
  secret: { group: '', version: 'v1', plural: 'secrets', kind: 'Secret', namespaced: true },
  lease: { group: 'coordination.k8s.io', version: 'v1', plural: 'leases', kind: 'Lease', namespaced: true },
  event: { group: 'events.k8s.io', version: 'v1', plural: 'events', kind: 'Event', namespaced: true },
  node: { group: '', version: 'v1', plural: 'nodes', kind: 'Node', namespaced: false },
  service: { group: '', version: 'v1', plural: 'services', kind: 'Service', namespaced: true },
  endpointSlice: { group: 'discovery.k8s.io', version: 'v1', plural: 'endpointslices', kind: 'EndpointSlice', namespaced: true },
  namespace: { group: '', version: 'v1', plural: 'namespaces', kind: 'Namespace', namespaced: false },
} as const satisfies Record<string, ResourceRef>;
