// BGPPeer (cluster-scoped): a BGP session every selected load-balancer node's
// speaker (gobgpd beside the agent) opens to a router, over which the node
// announces the VIPs it is ready to serve. Agents report each node's session
// state and announced VIPs in status.nodes.
import { z } from 'zod';
import { API_VERSION, conditions, ipAddress, labelSelector, ObjectMeta, observedGeneration } from './meta.ts';

/** 4-byte ASNs (RFC 6793); 0 and 4294967295 are reserved (RFC 7300). */
function asn(description: string): z.ZodInt {
  return z.int().min(1).max(4294967294).meta({ description });
}

export const AddressFamily = z.enum(['IPv4', 'IPv6']);
export type AddressFamily = z.infer<typeof AddressFamily>;

export const BGP_PEER_DEFAULTS = {
  holdTimeSeconds: 90,
  port: 179,
  addressFamilies: ['IPv4', 'IPv6'],
} as const satisfies { holdTimeSeconds: number; port: number; addressFamilies: readonly AddressFamily[] };

export const BGPPeerSpec = z
  .strictObject({
    peerAddress: ipAddress('Address of the router to peer with (IPv4 or IPv6), reachable from the load-balancer nodes.'),
    peerASN: asn('Autonomous system number of the router, 1-4294967294.'),
    localASN: asn('Autonomous system number the load-balancer nodes speak as, 1-4294967294 (equal to peerASN: iBGP).'),
    port: z.int().min(1).max(65535).default(BGP_PEER_DEFAULTS.port).meta({ description: 'TCP port of the router. Default 179.' }),
    holdTimeSeconds: z
      .int()
      .min(0)
      .max(65535)
      .default(BGP_PEER_DEFAULTS.holdTimeSeconds)
      .meta({
        description:
          'BGP hold time in seconds: 0 (no keepalives) or 3-65535; keepalives go every third of it. How long the router keeps routes of a node that died silently. Default 90.',
      }),
    nodeSelector: labelSelector(
      'Load-balancer nodes (by Node labels) that peer with this router. Omitted or empty: every load-balancer node.',
    ).optional(),
    addressFamilies: z
      .array(AddressFamily)
      .min(1)
      .max(2)
      .default([...BGP_PEER_DEFAULTS.addressFamilies])
      .meta({ description: 'Address families of the session: IPv4 and/or IPv6 unicast VIPs. Default both.' }),
    passwordSecretRef: z
      .strictObject({
        name: z.string().min(1).max(253).meta({ description: 'Name of the Secret.' }),
        namespace: z.string().min(1).max(63).meta({ description: 'Namespace of the Secret.' }),
        key: z.string().min(1).max(253).default('password').meta({ description: 'Key in the Secret. Default password.' }),
      })
      .optional()
      .meta({ description: 'TCP MD5 password (RFC 2385) of the session, read by the agent from a Secret.' }),
  })
  .meta({
    description: 'Desired state of a BGP session.',
    'x-kubernetes-validations': [
      {
        rule: '!has(self.holdTimeSeconds) || self.holdTimeSeconds == 0 || self.holdTimeSeconds >= 3',
        message: 'holdTimeSeconds must be 0 or 3-65535 (RFC 4271)',
        fieldPath: '.holdTimeSeconds',
        reason: 'FieldValueInvalid',
      },
      {
        rule: '!has(self.addressFamilies) || self.addressFamilies.size() < 2 || self.addressFamilies[0] != self.addressFamilies[1]',
        message: 'addressFamilies must not repeat a family',
        fieldPath: '.addressFamilies',
        reason: 'FieldValueDuplicate',
      },
    ],
  })
  .refine((s) => s.holdTimeSeconds === 0 || s.holdTimeSeconds >= 3, {
    message: 'holdTimeSeconds must be 0 or 3-65535 (RFC 4271)',
    path: ['holdTimeSeconds'],
  })
  .refine((s) => new Set(s.addressFamilies).size === s.addressFamilies.length, {
    message: 'addressFamilies must not repeat a family',
    path: ['addressFamilies'],
  });
export type BGPPeerSpec = z.infer<typeof BGPPeerSpec>;

export const SessionState = z.enum(['Unknown', 'Idle', 'Connect', 'Active', 'OpenSent', 'OpenConfirm', 'Established']);

export const BGPPeerNodeStatus = z
  .strictObject({
    node: z.string().min(1).max(253).meta({ description: 'Load-balancer node name.' }),
    sessionState: SessionState.meta({ description: 'BGP finite-state-machine state of this node\'s session.' }),
    announced: z.int().min(0).meta({ description: 'VIP prefixes this node announces.' }),
    lastTransitionTime: z.iso.datetime().optional().meta({ description: 'When sessionState last changed.' }),
  })
  .meta({ description: 'One node\'s session with this peer.' });
export type BGPPeerNodeStatus = z.infer<typeof BGPPeerNodeStatus>;

export const BGPPeerStatus = z
  .strictObject({
    observedGeneration: observedGeneration(),
    conditions: conditions('Conditions about this peer.'),
    nodes: z
      .array(BGPPeerNodeStatus)
      .max(5000)
      .optional()
      .meta({
        description: 'Per node: session state and VIPs announced (written by each node\'s agent).',
        'x-kubernetes-list-type': 'map',
        'x-kubernetes-list-map-keys': ['node'],
      }),
    established: z
      .string()
      .max(32)
      .regex(/^[0-9]+\/[0-9]+$/)
      .optional()
      .meta({
        description:
          'Load-balancer nodes whose session is Established / load-balancer nodes the nodeSelector selects, e.g. 2/3 (written by the controller; a node whose agent stopped reporting does not count as established).',
      }),
    sessions: z
      .string()
      .max(256)
      .optional()
      .meta({ description: 'Session states of the selected nodes, counted, e.g. "2 Established, 1 Active" (written by the controller).' }),
    announced: z
      .int()
      .min(0)
      .optional()
      .meta({ description: 'VIP routes announced to this peer, summed over the selected nodes (written by the controller).' }),
  })
  .meta({ description: 'Observed state of a BGP session: status.nodes by each node\'s agent, the summary fields and conditions by the controller.' });
export type BGPPeerStatus = z.infer<typeof BGPPeerStatus>;

export const BGPPeer = z.strictObject({
  apiVersion: z.literal(API_VERSION),
  kind: z.literal('BGPPeer'),
  metadata: ObjectMeta,
  spec: BGPPeerSpec,
  status: BGPPeerStatus.optional(),
});
export type BGPPeer = z.infer<typeof BGPPeer>;
export type BGPPeerInput = z.input<typeof BGPPeer>;
