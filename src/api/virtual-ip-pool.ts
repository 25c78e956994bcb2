// VirtualIPPool (cluster-scoped, short name vipp): which namespaces may claim
// which VIP addresses, and which backend addresses those VIPs may send to.
// With pools in force (the controller), a VIP no pool admits is not served.
import { z } from 'zod';
import { Announcement } from './desired-state.ts';
import { cidrWithin, parseCidr } from './ip.ts';
import { API_VERSION, cidr, conditions, labelSelector, ObjectMeta, observedGeneration, Protocol } from './meta.ts';

export const POOL_ALLOCATION_DEFAULTS = { autoAssign: true } as const satisfies { autoAssign: boolean };

/** Addresses this pool hands to Services of type LoadBalancer (Sterlet's loadBalancerClass). */
export const PoolAllocation = z
  .strictObject({
    addresses: z
      .array(cidr('An allocation range (IPv4 or IPv6 CIDR) inside spec.addresses.'))
      .min(1)
      .max(16)
      .optional()
      .meta({
        description:
          'Ranges Service addresses are allocated from, each inside one of spec.addresses (the rest of the pool stays for hand-written VirtualIPs). Omitted: all of spec.addresses. Addresses are allocated lowest first, skipping any address a VirtualIP already uses.',
      }),
    autoAssign: z.boolean().default(POOL_ALLOCATION_DEFAULTS.autoAssign).meta({
      description:
        'true: Services that ask for no particular address or pool may get one from here. false: only Services that request an address in these ranges (annotation sterlet.dev/address or spec.loadBalancerIP) or this pool (annotation sterlet.dev/pool). Default true.',
    }),
  })
  .meta({ description: 'Service address allocation from this pool; omitted: the pool gives no addresses to Services.' });
export type PoolAllocation = z.infer<typeof PoolAllocation>;

const ALLOCATION_INSIDE_MESSAGE = 'every allocation.addresses range must lie inside one of spec.addresses';

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
    allocation: PoolAllocation.optional(),
    announcement: Announcement.optional().meta({
      description:
        'BGP attributes of the routes of every VIP this pool admits (Services\' VIPs included). A VirtualIP\'s own spec.announcement overrides them field by field: its communities replace the pool\'s, its localPreference replaces the pool\'s. Applies in a cluster only (a standalone agent enforces no pools).',
    }),
  })
  .refine((s) => allocationInside(s.allocation?.addresses, s.addresses), { message: ALLOCATION_INSIDE_MESSAGE, path: ['allocation', 'addresses'] })
  .meta({
    description: 'Desired state of an address pool.',
    'x-kubernetes-validations': [
      {
        // isCIDR guards keep cidr() from failing on a malformed entry (its own rule reports it).
        rule: '!has(self.allocation) || !has(self.allocation.addresses) || self.allocation.addresses.all(a, !isCIDR(a) || self.addresses.exists(p, isCIDR(p) && cidr(p).containsCIDR(a)))',
        message: ALLOCATION_INSIDE_MESSAGE,
        fieldPath: '.allocation.addresses',
        reason: 'FieldValueInvalid',
      },
    ],
  });

function allocationInside(ranges: readonly string[] | undefined, addresses: readonly string[]): boolean {
  const outer = addresses.map(parseCidr);
  return (ranges ?? []).every((text) => {
    const inner = parseCidr(text);
    return inner === undefined || outer.some((o) => o !== undefined && cidrWithin(inner, o));
  });
}
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
