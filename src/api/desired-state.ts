// The compiled desired state: what the controller publishes and what every
// agent (in a cluster or standalone) programs. Versioned so an agent can
// refuse a state it does not understand instead of misprogramming it.
import { z } from 'zod';
import { LabelSelector, MAX_IP_LENGTH, Protocol } from './meta.ts';
import { ConnectionTracking, Encapsulation, HashMode } from './virtual-ip.ts';

export const DESIRED_STATE_VERSION = 1;

export const Family = z.enum(['IPv4', 'IPv6']);

export const DesiredBackend = z.strictObject({
  /** Canonical address text. */
  address: z.string().max(MAX_IP_LENGTH),
  family: Family,
  weight: z.int().min(0).max(1000),
  quicServerId: z.int().min(1).max(65535).optional(),
  /** Name of the Backend object (same namespace as the VIP). */
  name: z.string().max(253),
});
export type DesiredBackend = z.infer<typeof DesiredBackend>;

export const DesiredVip = z.strictObject({
  /** namespace/name of the VirtualIP; stable across updates. */
  id: z.string().min(3).max(317),
  key: z.strictObject({
    address: z.string().max(MAX_IP_LENGTH),
    family: Family,
    port: z.int().min(0).max(65535),
    protocol: Protocol,
  }),
  flags: z.strictObject({
    hash: HashMode,
    connectionTracking: ConnectionTracking,
    quic: z.boolean(),
    encapsulation: Encapsulation,
  }),
  /** metadata.generation of the VirtualIP (1 for manifests without one). */
  generation: z.int().min(0),
  /** Hash of key, flags, backends and nodeSelector: changes whenever what is programmed changes. */
  revision: z.string().regex(/^[0-9a-f]{16}$/),
  /** Sorted by address (IPv4 first, then numerically): same input, same order on every node. */
  backends: z.array(DesiredBackend),
  /** Load-balancer nodes that serve it; absent = all. */
  nodeSelector: LabelSelector.optional(),
});
export type DesiredVip = z.infer<typeof DesiredVip>;

export const DesiredState = z.strictObject({
  version: z.literal(DESIRED_STATE_VERSION),
  /** Sorted by id. */
  vips: z.array(DesiredVip),
});
export type DesiredState = z.infer<typeof DesiredState>;
