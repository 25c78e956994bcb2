// The compiled desired state: what the controller publishes (each VIP's entry
// in its VirtualIP's status.compiled) and what every agent, in a cluster or
// standalone, programs. Versioned so an agent refuses a state it does not
// understand instead of misprogramming it.
import { z } from 'zod';
import { ConnectionTracking, Encapsulation, Family, HashMode } from './flags.ts';
import { CompiledHealthCheck } from './health-check.ts';
import { labelSelector, MAX_IP_LENGTH, Protocol } from './meta.ts';

export const DESIRED_STATE_VERSION = 1;

const U16 = '([0-9]|[1-9][0-9]{1,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])';

/** How a VIP's route is announced over BGP (spec.announcement, compiled as given). */
export const Announcement = z
  .strictObject({
    communities: z
      .array(
        z
          .string()
          .max(11)
          .regex(new RegExp(`^${U16}:${U16}$`), { message: 'must be a BGP community ASN:VALUE, each 0-65535, e.g. 65001:100' })
          .meta({ description: 'A standard BGP community (RFC 1997) as ASN:VALUE, e.g. 65001:100.' }),
      )
      .max(32)
      .optional()
      .meta({ description: 'Communities attached to the VIP route.' }),
    localPreference: z
      .int()
      .min(0)
      .max(4294967295)
      .optional()
      .meta({ description: 'LOCAL_PREF of the VIP route (iBGP sessions only; eBGP routers ignore it).' }),
  })
  .meta({ description: 'BGP attributes of the VIP route that nodes announce (see BGPPeer).' });
export type Announcement = z.infer<typeof Announcement>;

export const DesiredBackend = z
  .strictObject({
    address: z.string().max(MAX_IP_LENGTH).meta({ description: 'Backend address, canonical text.' }),
    family: Family.meta({ description: 'Address family of the backend: IPv4 or IPv6.' }),
    weight: z.int().min(0).max(1000).meta({ description: 'Relative weight; 0 = draining.' }),
    quicServerId: z
      .int()
      .min(1)
      .max(65535)
      .optional()
      .meta({ description: 'QUIC server id; present only on QUIC VIPs.' }),
    name: z.string().max(253).meta({ description: 'Name of the Backend object (same namespace as the VIP).' }),
    healthCheck: CompiledHealthCheck.optional().meta({
      description: "This backend's own check, when its Backend overrides the VIP's (absent: the VIP's healthCheck).",
    }),
    unhealthy: z
      .boolean()
      .optional()
      .meta({
        description:
          'true: a majority of the nodes probing this backend see it failing (published by the controller): every node takes it out of the ring for new flows (weight 0), unless every backend is (fail open).',
      }),
    unchecked: z
      .boolean()
      .optional()
      .meta({ description: 'true: the Backend sets healthCheck.type None: never probed, always counts as healthy.' }),
  })
  .meta({ description: 'One backend as programmed.' });
export type DesiredBackend = z.infer<typeof DesiredBackend>;

const compiledFields = {
  key: z
    .strictObject({
      address: z.string().max(MAX_IP_LENGTH).meta({ description: 'VIP address, canonical text.' }),
      family: Family.meta({ description: 'Address family of the VIP: IPv4 or IPv6.' }),
      port: z.int().min(0).max(65535).meta({ description: 'Port; 0 = every port.' }),
      protocol: Protocol.meta({ description: 'TCP or UDP.' }),
    })
    .meta({ description: 'The VIP lookup key in the dataplane.' }),
  flags: z
    .strictObject({
      hash: HashMode.meta({ description: 'Maglev hash input.' }),
      connectionTracking: ConnectionTracking.meta({ description: 'Whether the per-CPU LRU is used.' }),
      quic: z.boolean().meta({ description: 'QUIC connection-id routing.' }),
      encapsulation: Encapsulation.meta({ description: 'IPIP or GUE.' }),
    })
    .meta({ description: 'Per-VIP dataplane behaviour.' }),
  generation: z
    .int()
    .min(0)
    .meta({ description: 'metadata.generation of the VirtualIP compiled (1 for manifests without one).' }),
  revision: z
    .string()
    .regex(/^[0-9a-f]{16}$/)
    .meta({
      description:
        'Hash of key, flags, backends and nodeSelector: changes whenever what is programmed changes (Backend edits do not bump the VIP generation). Agents report it back.',
    }),
  backends: z
    .array(DesiredBackend)
    .meta({ description: 'Backends in programming order: by address, IPv4 first, then numerically.' }),
  nodeSelector: labelSelector('Load-balancer nodes that serve the VIP; absent = all.').optional(),
  announcement: Announcement.optional(),
  healthCheck: CompiledHealthCheck.optional().meta({
    description: 'The health check every serving node runs against each backend; absent = no checks (every backend counts as healthy).',
  }),
};

/** A VIP's compiled form without its id: what the controller writes to VirtualIP status.compiled. */
export const CompiledVip = z
  .strictObject(compiledFields)
  .meta({ description: 'What the load-balancer nodes program for this VIP, as compiled by the controller.' });
export type CompiledVip = z.infer<typeof CompiledVip>;

export const DesiredVip = z.strictObject({
  /** namespace/name of the VirtualIP; stable across updates. */
  id: z.string().min(3).max(317),
  ...compiledFields,
});
export type DesiredVip = z.infer<typeof DesiredVip>;

/** The namespace and name in a DesiredVip id ("namespace/name"; an id without a slash is a name alone). */
export function vipIdParts(id: string): { namespace: string; name: string } {
  const slash = id.indexOf('/');
  return slash < 0 ? { namespace: '', name: id } : { namespace: id.slice(0, slash), name: id.slice(slash + 1) };
}

export const DesiredState = z.strictObject({
  version: z.literal(DESIRED_STATE_VERSION),
  /** Sorted by id. */
  vips: z.array(DesiredVip),
});
export type DesiredState = z.infer<typeof DesiredState>;
