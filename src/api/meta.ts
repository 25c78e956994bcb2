// Building blocks shared by every Sterlet kind: the API group, object
// metadata, label selectors, conditions and IP/CIDR string fields. Every
// field carries a description (it becomes `kubectl explain` text) and the CEL
// rule the CRD enforces in the API server; zod enforces the same rule for
// manifests read without Kubernetes.
import { z } from 'zod';
import { isCidr, isGlobalUnicast, isIp, parseIp } from './ip.ts';

export const GROUP = 'sterlet.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;
/** Where a namespaced object without metadata.namespace lives (as kubectl assumes). */
export const DEFAULT_NAMESPACE = 'default';

/** Longest textual IPv6 address is 45 characters; bounds keep CEL cost estimates low. */
export const MAX_IP_LENGTH = 45;
export const MAX_CIDR_LENGTH = 49;

const UNICAST_MESSAGE =
  'must be a unicast address: not unspecified (0.0.0.0, ::), loopback, multicast, link-local or broadcast';

export function ipAddress(description: string): z.ZodString {
  return z
    .string()
    .min(2)
    .max(MAX_IP_LENGTH)
    .refine(isIp, {
      message: 'must be an IPv4 or IPv6 address such as 10.200.0.10 or 2001:db8::10 (no zone, no ::ffff: form)',
    })
    .refine((text) => { const ip = parseIp(text); return ip === undefined || isGlobalUnicast(ip); }, {
      message: UNICAST_MESSAGE,
    })
    .meta({
      description,
      'x-kubernetes-validations': [
        { rule: 'isIP(self)', message: 'must be an IPv4 or IPv6 address such as 10.200.0.10 or 2001:db8::10' },
        // `||` short-circuits, so ip() never sees a malformed string (the rule above reports it).
        { rule: '!isIP(self) || ip(self).isGlobalUnicast()', message: UNICAST_MESSAGE },
      ],
    });
}

export function cidr(description: string): z.ZodString {
  return z
    .string()
    .min(4)
    .max(MAX_CIDR_LENGTH)
    .refine(isCidr, { message: 'must be a CIDR such as 10.200.0.0/24 or 2001:db8::/64' })
    .meta({
      description,
      'x-kubernetes-validations': [
        { rule: 'isCIDR(self)', message: 'must be a CIDR such as 10.200.0.0/24 or 2001:db8::/64' },
      ],
    });
}

export const Protocol = z.enum(['TCP', 'UDP']);
export type Protocol = z.infer<typeof Protocol>;

/** Labels as Kubernetes allows them (qualified key, value up to 63 characters). */
export const LabelMap = z.record(
  z.string().min(1).max(317),
  z
    .string()
    .max(63)
    .regex(/^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/, 'label values are up to 63 alphanumerics, -, _ or .'),
);
export type Labels = z.infer<typeof LabelMap>;

export const LabelSelectorRequirement = z
  .strictObject({
    key: z.string().min(1).max(317).meta({ description: 'The label key the requirement applies to.' }),
    operator: z
      .enum(['In', 'NotIn', 'Exists', 'DoesNotExist'])
      .meta({ description: 'How the key relates to the values: In, NotIn, Exists or DoesNotExist.' }),
    values: z
      .array(z.string().max(63))
      .max(64)
      .optional()
      .meta({ description: 'Label values; non-empty for In and NotIn, empty for Exists and DoesNotExist.' }),
  })
  .refine((r) => (r.operator === 'In' || r.operator === 'NotIn') === (r.values !== undefined && r.values.length > 0), {
    message: 'values must be non-empty for In and NotIn and empty for Exists and DoesNotExist',
    path: ['values'],
  })
  .meta({
    'x-kubernetes-validations': [
      {
        rule: "(self.operator == 'In' || self.operator == 'NotIn') == (has(self.values) && size(self.values) > 0)",
        message: 'values must be non-empty for In and NotIn and empty for Exists and DoesNotExist',
        fieldPath: '.values',
      },
    ],
  });

export function labelSelector(description: string) {
  return z
    .strictObject({
      matchLabels: LabelMap.optional().meta({
        description: 'Labels that must all be present with these values (ANDed with matchExpressions).',
      }),
      matchExpressions: z
        .array(LabelSelectorRequirement)
        .max(32)
        .optional()
        .meta({ description: 'Label requirements that must all hold (ANDed with matchLabels).' }),
    })
    .meta({ description });
}
export const LabelSelector = labelSelector('A Kubernetes label selector; an empty selector matches everything.');
export type LabelSelector = z.infer<typeof LabelSelector>;

/** metav1.Condition, as the API conventions define it. */
export const Condition = z
  .strictObject({
    type: z
      .string()
      .min(1)
      .max(316)
      .regex(/^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$/)
      .meta({ description: 'Condition type in CamelCase, e.g. Accepted, ResolvedRefs, Programmed, Ready.' }),
    status: z.enum(['True', 'False', 'Unknown']).meta({ description: 'True, False or Unknown.' }),
    observedGeneration: z
      .int()
      .min(0)
      .optional()
      .meta({ description: 'The metadata.generation the condition was computed from.' }),
    lastTransitionTime: z.iso
      .datetime()
      .meta({ description: 'When the status last changed (RFC 3339).' }),
    reason: z
      .string()
      .min(1)
      .max(1024)
      .regex(/^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/)
      .meta({ description: 'Programmatic CamelCase identifier of the last transition.' }),
    message: z.string().max(32768).meta({ description: 'Human-readable details of the last transition.' }),
  })
  .meta({ description: 'One aspect of the current state, following Kubernetes API conventions.' });
export type Condition = z.infer<typeof Condition>;

export function conditions(description: string) {
  return z
    .array(Condition)
    .max(16)
    .optional()
    .meta({ description, 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] });
}

export function observedGeneration() {
  return z
    .int()
    .min(0)
    .optional()
    .meta({ description: 'The metadata.generation this status was computed from.' });
}

const timestamp = z.union([z.string(), z.date()]).transform((t) => (t instanceof Date ? t.toISOString() : t));

/** The metadata fields Sterlet reads; everything else the API server sends is kept as is. */
export const ObjectMeta = z.looseObject({
  name: z
    .string()
    .min(1)
    .max(253)
    .regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'must be a DNS subdomain name: lower-case alphanumerics, - and .'),
  namespace: z.string().min(1).max(63).optional(),
  labels: LabelMap.optional(),
  annotations: z.record(z.string(), z.string()).optional(),
  generation: z.int().min(0).optional(),
  creationTimestamp: timestamp.optional(),
  uid: z.string().optional(),
  resourceVersion: z.string().optional(),
});
export type ObjectMeta = z.infer<typeof ObjectMeta>;

/** Names one object; `namespace` is absent for cluster-scoped kinds. */
export interface ObjectRef {
  readonly kind: string;
  readonly namespace?: string;
  readonly name: string;
}

export function formatRef(ref: ObjectRef): string {
  return ref.namespace === undefined ? `${ref.kind}/${ref.name}` : `${ref.kind} ${ref.namespace}/${ref.name}`;
}
