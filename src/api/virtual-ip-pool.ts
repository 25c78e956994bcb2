// VirtualIPPool (cluster-scoped, short name vipp): which namespaces may claim
// which VIP addresses, and which backend addresses those VIPs may send to.
// With pools in force (the controller), a VIP no pool admits is not served.
import { z } from 'zod';
import { API_VERSION, cidr, conditions, labelSelector, ObjectMeta, observedGeneration, Protocol } from './meta.ts';

export const VirtualIPPoolSpec = z
  .strictObject({
    addresses: z
      .array(cidr('A VIP address range (IPv4 or IPv6 CIDR).'))
      .min(1)
      .max(64)
      .meta({
        description:
          'VIP address ranges (CIDRs, IPv4 and/or IPv6) the selected namespaces may claim. When several pools admit a VIP, the one with the longest matching range wins (then the pool name), and its backendAddresses apply.',
      }),
    backendAddresses: z
      .array(cidr('A backend address range (IPv4 or IPv6 CIDR).'))
      .min(1)
      .max(64)
      .meta({
        description:
          'Backend address ranges (CIDRs) the admitted VIPs may send to; Backends outside them are excluded and reported. Use 0.0.0.0/0 and ::/0 to allow any.',
      }),
    namespaceSelector: labelSelector(
      'Namespaces (by Namespace labels) that may use this pool. Omitted or empty: every namespace.',
    ).optional(),
    ports: z
      .array(z.int().min(0).max(65535))
      .max(64)
      .optional()
      .meta({ description: 'Allowed VIP ports (0 = the port-less VIP). Omitted: every port.' }),
    protocols: z
      .array(Protocol)
      .max(2)
      .optional()
      .meta({ description: 'Allowed VIP protocols (TCP, UDP). Omitted: both.' }),
  })
  .meta({ description: 'Desired state of an address pool.' });
export type VirtualIPPoolSpec = z.infer<typeof VirtualIPPoolSpec>;

export const VirtualIPPoolStatus = z
  .strictObject({
    observedGeneration: observedGeneration(),
    conditions: conditions('Conditions about this pool.'),
    virtualIPs: z.int().min(0).optional().meta({ description: 'Number of VirtualIPs admitted by this pool.' }),
  })
  .meta({ description: 'Observed state of an address pool, written by the controller.' });

export const VirtualIPPool = z.strictObject({
  apiVersion: z.literal(API_VERSION),
  kind: z.literal('VirtualIPPool'),
  metadata: ObjectMeta,
  spec: VirtualIPPoolSpec,
  status: VirtualIPPoolStatus.optional(),
});
export type VirtualIPPool = z.infer<typeof VirtualIPPool>;
