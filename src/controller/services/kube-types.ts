// The parts of core Kubernetes objects the Service support reads: Service,
// EndpointSlice (discovery.k8s.io/v1) and Node. Parsed once at the edge
// (the cache), loosely, so fields Sterlet does not read never make an object
// unreadable.
import { z } from 'zod';

const Meta = z.looseObject({
  name: z.string(),
  namespace: z.string().optional(),
  uid: z.string().optional(),
  labels: z.record(z.string(), z.string()).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
  creationTimestamp: z.string().optional(),
  deletionTimestamp: z.string().optional(),
});

export const ServicePort = z.looseObject({
  name: z.string().optional(),
  port: z.int().min(1).max(65535),
  protocol: z.string().default('TCP'),
});
export type ServicePort = z.infer<typeof ServicePort>;

export const Service = z.looseObject({
  metadata: Meta,
  spec: z.looseObject({
    type: z.string().optional(),
    loadBalancerClass: z.string().optional(),
    loadBalancerIP: z.string().optional(),
    externalTrafficPolicy: z.string().optional(),
    ipFamilies: z.array(z.string()).optional(),
    ipFamilyPolicy: z.string().optional(),
    ports: z.array(ServicePort).optional(),
  }).default({}),
  status: z.looseObject({
    loadBalancer: z.looseObject({
      ingress: z.array(z.looseObject({ ip: z.string().optional(), ipMode: z.string().optional() })).optional(),
    }).optional(),
  }).optional(),
});
export type Service = z.infer<typeof Service>;

const EndpointConditions = z.looseObject({
  ready: z.boolean().nullish(),
  serving: z.boolean().nullish(),
  terminating: z.boolean().nullish(),
});

export const EndpointSlice = z.looseObject({
  metadata: Meta,
  addressType: z.string(),
  endpoints: z.array(z.looseObject({
    addresses: z.array(z.string()),
    conditions: EndpointConditions.nullish(),
    nodeName: z.string().nullish(),
    targetRef: z.looseObject({ name: z.string().optional() }).nullish(),
  })).nullish(),
});
export type EndpointSlice = z.infer<typeof EndpointSlice>;
export type Endpoint = NonNullable<EndpointSlice['endpoints']>[number];

export const Node = z.looseObject({
  metadata: Meta,
  spec: z.looseObject({ unschedulable: z.boolean().optional() }).default({}),
  status: z.looseObject({
    conditions: z.array(z.looseObject({ type: z.string(), status: z.string() })).optional(),
    addresses: z.array(z.looseObject({ type: z.string(), address: z.string() })).optional(),
  }).default({}),
});
export type Node = z.infer<typeof Node>;

/** The label EndpointSlice controllers put on every slice of a Service. */
export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
