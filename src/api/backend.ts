// Backend (namespaced, short name be): one real server address that
// VirtualIPs in the same namespace select by label.
import { z } from 'zod';
import { BackendHealthCheck } from './health-check.ts';
import { API_VERSION, conditions, ipAddress, ObjectMeta, observedGeneration } from './meta.ts';

export const MAX_WEIGHT = 1000;
export const BACKEND_DEFAULTS = { weight: 1 } as const satisfies { weight: number };

export const BackendSpec = z
  .strictObject({
    address: ipAddress(
      'Address packets are encapsulated to: IPv4 or IPv6. An IPv6 backend may serve an IPv4 VIP (4-in-6); an IPv4 backend cannot serve an IPv6 VIP.',
    ),
    weight: z
      .int()
      .min(0)
      .max(MAX_WEIGHT)
      .default(BACKEND_DEFAULTS.weight)
      .meta({
        description:
          'Relative share of new flows, 0-1000. 0 drains: no new flows, established flows stay until they end. Default 1.',
      }),
    quicServerId: z
      .int()
      .min(1)
      .max(65535)
      .optional()
      .meta({
        description:
          'Server id (1-65535) the backend writes into QUIC connection ids, so QUIC VIPs route its packets to it; unique among the Backends of a VIP.',
      }),
    healthCheck: BackendHealthCheck.optional(),
  })
  .meta({ description: 'Desired state of a backend.' });
export type BackendSpec = z.infer<typeof BackendSpec>;

export const BackendStatus = z
  .strictObject({
    observedGeneration: observedGeneration(),
    conditions: conditions('Conditions about this backend, e.g. Accepted=False when a VIP cannot use it.'),
    usedBy: z
      .array(z.string().max(253))
      .max(1024)
      .optional()
      .meta({ description: 'Names of the VirtualIPs in this namespace that send flows to this backend.' }),
  })
  .meta({ description: 'Observed state of a backend, written by the controller.' });
export type BackendStatus = z.infer<typeof BackendStatus>;

export const Backend = z.strictObject({
  apiVersion: z.literal(API_VERSION),
  kind: z.literal('Backend'),
  metadata: ObjectMeta,
  spec: BackendSpec,
  status: BackendStatus.optional(),
});
export type Backend = z.infer<typeof Backend>;
export type BackendInput = z.input<typeof Backend>;
