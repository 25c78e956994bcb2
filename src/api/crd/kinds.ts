// What each CRD is besides its schema: names, scope, printer columns.
import type { z } from 'zod';
import { BackendSpec, BackendStatus } from '../backend.ts';
import { BGPPeerSpec, BGPPeerStatus } from '../bgp-peer.ts';
import { LoadBalancerNodeStatus } from '../load-balancer-node.ts';
import { VirtualIPSpec, VirtualIPStatus } from '../virtual-ip.ts';
import { VirtualIPPoolSpec, VirtualIPPoolStatus } from '../virtual-ip-pool.ts';

export interface PrinterColumn {
  readonly name: string;
  readonly type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  readonly jsonPath: string;
  readonly description?: string;
  readonly priority?: number;
}

export interface KindDefinition {
  readonly kind: string;
  readonly plural: string;
  readonly singular: string;
  readonly shortNames: readonly string[];
  readonly scope: 'Namespaced' | 'Cluster';
  readonly description: string;
  readonly spec?: z.ZodType;
  readonly status: z.ZodType;
  readonly columns: readonly PrinterColumn[];
}

const condition = (type: string, field: 'status' | 'reason' = 'status'): string =>
  `.status.conditions[?(@.type=="${type}")].${field}`;
const age: PrinterColumn = { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' };

export const KINDS: readonly KindDefinition[] = [
  {
    kind: 'VirtualIP',
    plural: 'virtualips',
    singular: 'virtualip',
    shortNames: ['vip'],
    scope: 'Namespaced',
    description:
      'A virtual IP (address, port, protocol) that the XDP load-balancer nodes serve, spreading flows over the Backends it selects with Maglev consistent hashing.',
    spec: VirtualIPSpec,
    status: VirtualIPStatus,
    columns: [
      { name: 'Address', type: 'string', jsonPath: '.spec.address' },
      { name: 'Port', type: 'integer', jsonPath: '.spec.port' },
      { name: 'Protocol', type: 'string', jsonPath: '.spec.protocol' },
      { name: 'Backends', type: 'integer', jsonPath: '.status.backends', description: 'Backends selected and usable.' },
      { name: 'Healthy', type: 'integer', jsonPath: '.status.healthyBackends', description: 'Backends with weight > 0 the fleet considers healthy.' },
      { name: 'Active', type: 'integer', jsonPath: '.status.activeBackends', description: 'Backends with weight > 0.', priority: 1 },
      { name: 'Programmed', type: 'string', jsonPath: condition('Programmed'), description: 'Programmed on every selected node.' },
      { name: 'Nodes', type: 'string', jsonPath: '.status.nodes', description: 'Nodes programmed / selected.' },
      { name: 'Reason', type: 'string', jsonPath: condition('Accepted', 'reason'), priority: 1 },
      age,
    ],
  },
  {
    kind: 'Backend',
    plural: 'backends',
    singular: 'backend',
    shortNames: ['be'],
    scope: 'Namespaced',
    description: 'A real server that VirtualIPs in the same namespace select by label and encapsulate packets to.',
    spec: BackendSpec,
    status: BackendStatus,
    columns: [
      { name: 'Address', type: 'string', jsonPath: '.spec.address' },
      { name: 'Weight', type: 'integer', jsonPath: '.spec.weight' },
      { name: 'QUIC-ID', type: 'integer', jsonPath: '.spec.quicServerId', priority: 1 },
      age,
    ],
  },
  {
    kind: 'VirtualIPPool',
    plural: 'virtualippools',
    singular: 'virtualippool',
    shortNames: ['vipp', 'vippool'],
    scope: 'Cluster',
    description:
      'An address pool: which namespaces may claim which VIP addresses, and which backend addresses those VIPs may use. With pools enforced, a VIP no pool admits is not served.',
    spec: VirtualIPPoolSpec,
    status: VirtualIPPoolStatus,
    columns: [
      { name: 'Addresses', type: 'string', jsonPath: '.spec.addresses' },
      { name: 'Backend-Addresses', type: 'string', jsonPath: '.spec.backendAddresses', priority: 1 },
      { name: 'VIPs', type: 'integer', jsonPath: '.status.virtualIPs' },
      age,
    ],
  },
  {
    kind: 'LoadBalancerNode',
    plural: 'loadbalancernodes',
    singular: 'loadbalancernode',
    shortNames: ['lbn'],
    scope: 'Cluster',
    description:
      "A load-balancer node's dataplane as its agent reports it: attached program, CPUs, and what it programmed per VIP.",
    status: LoadBalancerNodeStatus,
    columns: [
      { name: 'Interface', type: 'string', jsonPath: '.status.interface' },
      { name: 'Mode', type: 'string', jsonPath: '.status.xdpMode' },
      { name: 'Program', type: 'integer', jsonPath: '.status.programId', priority: 1 },
      { name: 'Ready', type: 'string', jsonPath: condition('Ready') },
      age,
    ],
  },
  {
    kind: 'BGPPeer',
    plural: 'bgppeers',
    singular: 'bgppeer',
    shortNames: ['bgpp'],
    scope: 'Cluster',
    description:
      "A BGP session from the load-balancer nodes' speaker to a router, over which each node announces the VIPs it is ready to serve (and withdraws them when it is not).",
    spec: BGPPeerSpec,
    status: BGPPeerStatus,
    columns: [
      { name: 'Peer', type: 'string', jsonPath: '.spec.peerAddress' },
      { name: 'Peer-ASN', type: 'integer', jsonPath: '.spec.peerASN' },
      { name: 'Local-ASN', type: 'integer', jsonPath: '.spec.localASN' },
      { name: 'Established', type: 'string', jsonPath: '.status.established', description: 'Nodes with an established session / nodes the nodeSelector selects.' },
      { name: 'Announced', type: 'integer', jsonPath: '.status.announced', description: 'VIP routes announced to this peer, summed over its nodes.' },
      { name: 'Sessions', type: 'string', jsonPath: '.status.sessions', description: 'Session states of the selected nodes, counted.' },
      { name: 'Hold', type: 'integer', jsonPath: '.spec.holdTimeSeconds', priority: 1 },
      age,
    ],
  },
];
