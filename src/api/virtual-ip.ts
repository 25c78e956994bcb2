// VirtualIP (namespaced, short name vip): an address/port/protocol the
// load-balancer nodes answer for, and the Backends it spreads flows over.
import { z } from 'zod';
import { Announcement, CompiledVip } from './desired-state.ts';
import { ConnectionTracking, Encapsulation, HashMode } from './flags.ts';
import { HealthCheckSpec } from './health-check.ts';
import {
  API_VERSION,
  conditions,
  ipAddress,
  labelSelector,
  ObjectMeta,
  observedGeneration,
  Protocol,
} from './meta.ts';

export { ConnectionTracking, Encapsulation, HashMode };

/** Defaults applied when a field is omitted; `satisfies` keeps them in step with the enums. */
export const VIRTUAL_IP_DEFAULTS = {
  encapsulation: 'IPIP',
  hash: 'FiveTuple',
  connectionTracking: 'Enabled',
  quic: false,
} as const satisfies {
  encapsulation: z.infer<typeof Encapsulation>;
  hash: z.infer<typeof HashMode>;
  connectionTracking: z.infer<typeof ConnectionTracking>;
  quic: boolean;
};

export const BACKEND_REF_TARGETS = ['Endpoints', 'Nodes'] as const;

/** A Service in the VIP's namespace whose EndpointSlices (or the nodes hosting them) are the backends. */
export const BackendRef = z
  .strictObject({
    kind: z.literal('Service').meta({ description: 'Kind of the referenced object: Service.' }),
    name: z
      .string()
      .min(1)
      .max(63)
      .regex(/^[a-z]([-a-z0-9]*[a-z0-9])?$/, 'must be a Service name: lower-case alphanumerics and -, starting with a letter')
      .meta({ description: 'Name of the Service in the same namespace.' }),
    target: z.enum(BACKEND_REF_TARGETS).default('Endpoints').meta({
      description:
        "Endpoints: the EndpointSlice addresses themselves are the backends (pod IPs routable from the load-balancer nodes; ready = in, serving and terminating = weight 0). Nodes: the nodes' InternalIPs, whose kube-proxy DNATs to the pods (the Service's externalTrafficPolicy decides: Local = nodes with ready endpoints weighted by their count, Cluster = every ready schedulable backend node, equal weights). Default Endpoints.",
    }),
  })
  .meta({ description: 'Takes the backends from a Service instead of Backend objects. Exactly one of backendSelector and backendRef.' });
export type BackendRef = z.infer<typeof BackendRef>;

const HEALTH_PORT_RULE = {
  rule: "self.port != 0 || !has(self.healthCheck) || (has(self.healthCheck.type) && self.healthCheck.type == 'None') || has(self.healthCheck.port)",
  message: 'a port-less VIP (port 0) needs healthCheck.port: the port to probe on the backends (or healthCheck.type: None)',
  fieldPath: '.healthCheck.port',
  reason: 'FieldValueRequired',
};

export const VirtualIPSpec = z
  .strictObject({
    address: ipAddress('The virtual address clients connect to: IPv4 (10.200.0.10) or IPv6 (2001:db8::10).'),
    port: z
      .int()
      .min(0)
      .max(65535)
      .meta({ description: 'Destination port, 1-65535; 0 serves every port of the address (a port-less VIP).' }),
    protocol: Protocol.meta({ description: 'Transport protocol: TCP or UDP.' }),
    backendSelector: labelSelector(
      'Selects the Backends in this namespace that serve the VIP (matchLabels and matchExpressions, like a Deployment selector); an empty selector selects every Backend in the namespace. Exactly one of backendSelector and backendRef.',
    ).optional(),
    backendRef: BackendRef.optional(),
    encapsulation: Encapsulation.default(VIRTUAL_IP_DEFAULTS.encapsulation).meta({
      description:
        'How packets reach backends: IPIP (IPIP, IP6IP6 or 4-in-6 by address family) or GUE (UDP encapsulation that spreads over backend RX queues). Default IPIP.',
    }),
    hash: HashMode.default(VIRTUAL_IP_DEFAULTS.hash).meta({
      description:
        'What the Maglev hash covers: FiveTuple (addresses, ports, protocol), SourceAddress (client address only: sticky per client) or DestinationPort (destination port only). Default FiveTuple.',
    }),
    connectionTracking: ConnectionTracking.default(VIRTUAL_IP_DEFAULTS.connectionTracking).meta({
      description:
        'Enabled keeps established flows on their backend through backend changes (per-CPU LRU table); Disabled hashes every packet (no LRU memory). Default Enabled.',
    }),
    quic: z.boolean().default(VIRTUAL_IP_DEFAULTS.quic).meta({
      description:
        'Route QUIC packets by the server id in their connection id (Backend spec.quicServerId), falling back to the hash. Requires protocol UDP. Default false.',
    }),
    nodeSelector: labelSelector(
      'Selects the load-balancer nodes (by Node labels) that serve this VIP. Omitted or empty: every load-balancer node.',
    ).optional(),
    announcement: Announcement.optional(),
    healthCheck: HealthCheckSpec.optional(),
  })
  .refine((s) => (s.backendSelector === undefined) !== (s.backendRef === undefined), {
    message: 'set exactly one of backendSelector (Backends by label) and backendRef (a Service)',
    path: ['backendRef'],
  })
  .refine((s) => s.port !== 0 || s.healthCheck === undefined || s.healthCheck.type === 'None' || s.healthCheck.port !== undefined, {
    message: HEALTH_PORT_RULE.message,
    path: ['healthCheck', 'port'],
  })
  .meta({
    description: 'Desired state of a virtual IP.',
    'x-kubernetes-validations': [
      {
        rule: "!has(self.quic) || !self.quic || self.protocol == 'UDP'",
        message: 'quic: true requires protocol: UDP (QUIC runs over UDP)',
        fieldPath: '.quic',
        reason: 'FieldValueInvalid',
      },
      {
        rule: 'has(self.backendSelector) != has(self.backendRef)',
        message: 'set exactly one of backendSelector (Backends by label) and backendRef (a Service)',
        fieldPath: '.backendRef',
        reason: 'FieldValueInvalid',
      },
      HEALTH_PORT_RULE,
    ],
  });
export type VirtualIPSpec = z.infer<typeof VirtualIPSpec>;

export const VirtualIPStatus = z
  .strictObject({
    observedGeneration: observedGeneration(),
    conditions: conditions('Accepted, ResolvedRefs, Programmed and Ready (kstatus) conditions.'),
    backends: z.int().min(0).optional().meta({ description: 'Number of Backends selected and usable.' }),
    activeBackends: z
      .int()
      .min(0)
      .optional()
      .meta({ description: 'Number of selected Backends with weight > 0 (receiving new flows).' }),
    healthyBackends: z
      .int()
      .min(0)
      .optional()
      .meta({ description: 'Number of selected Backends with weight > 0 that the fleet considers healthy (equal to activeBackends without health checks).' }),
    nodes: z
      .string()
      .max(32)
      .regex(/^[0-9]+\/[0-9]+$/)
      .optional()
      .meta({ description: 'Load-balancer nodes that programmed the current revision / nodes selected, e.g. 3/3.' }),
    compiled: CompiledVip.optional(),
  })
  .meta({ description: 'Observed state of a virtual IP, written by the controller.' });
export type VirtualIPStatus = z.infer<typeof VirtualIPStatus>;

export const VirtualIP = z.strictObject({
  apiVersion: z.literal(API_VERSION),
  kind: z.literal('VirtualIP'),
  metadata: ObjectMeta,
  spec: VirtualIPSpec,
  status: VirtualIPStatus.optional(),
});
export type VirtualIP = z.infer<typeof VirtualIP>;
export type VirtualIPInput = z.input<typeof VirtualIP>;
