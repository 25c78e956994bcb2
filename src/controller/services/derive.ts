// What a Service of Sterlet's loadBalancerClass turns into: an allocation
// request, and one VirtualIP per Service port (owned by the Service) whose
// backendRef names the Service with target Nodes. Pure.
import { API_VERSION, type LabelSelector, type Protocol } from '../../api/meta.ts';
import type { IpFamily } from '../../api/ip.ts';
import type { KubeObject } from '../../kube/client.ts';
import type { AllocationRequest } from './allocator.ts';
import type { Service } from './kube-types.ts';

export const DEFAULT_LOAD_BALANCER_CLASS = 'sterlet.dev/xdp';
/** On derived VirtualIPs: the name of the Service they belong to (same namespace). */
export const SERVICE_LABEL = 'sterlet.dev/service';
export const ADDRESS_ANNOTATION = 'sterlet.dev/address';
export const POOL_ANNOTATION = 'sterlet.dev/pool';
/**
 * Server-side apply manager of derived VirtualIPs. Not the finalizer's manager:
 * an apply names every field its manager owns, so sharing one would make the
 * finalizer apply (metadata only) drop the spec.
 */
export const SERVICE_FIELD_MANAGER = 'sterlet-controller-services';

export interface ServiceSettings {
  /** spec.loadBalancerClass Sterlet serves. */
  readonly loadBalancerClass: string;
  /** Also serve LoadBalancer Services without a class (Sterlet is the cluster default). */
  readonly defaultClass: boolean;
  /** Nodes that may be backends (kube-proxy + decap); undefined = every node. */
  readonly nodeSelector: LabelSelector | undefined;
}

export const DEFAULT_SERVICE_SETTINGS: ServiceSettings = { loadBalancerClass: DEFAULT_LOAD_BALANCER_CLASS, defaultClass: false, nodeSelector: undefined };

export function isOurs(service: Service, settings: ServiceSettings): boolean {
  if (service.spec.type !== 'LoadBalancer' || service.metadata.deletionTimestamp !== undefined) return false;
  const cls = service.spec.loadBalancerClass;
  return cls === settings.loadBalancerClass || (cls === undefined && settings.defaultClass);
}

export function serviceKey(service: Service): string {
  return `${service.metadata.namespace ?? 'default'}/${service.metadata.name}`;
}

export interface ServicePorts {
  readonly ports: readonly { readonly port: number; readonly protocol: Protocol }[];
  /** Ports Sterlet cannot serve (SCTP), for an Event. */
  readonly skipped: readonly string[];
}

export function servicePorts(service: Service): ServicePorts {
  const ports: { port: number; protocol: Protocol }[] = [];
  const skipped: string[] = [];
  for (const p of service.spec.ports ?? []) {
    if (p.protocol === 'TCP' || p.protocol === 'UDP') ports.push({ port: p.port, protocol: p.protocol });
    else skipped.push(`${p.protocol}/${p.port}`);
  }
  return { ports, skipped };
}

export function allocationRequest(service: Service, ports: ServicePorts['ports']): AllocationRequest {
  const annotations = service.metadata.annotations ?? {};
  const annotated = annotations[ADDRESS_ANNOTATION];
  const lbIp = service.spec.loadBalancerIP;
  const address = annotated !== undefined && annotated !== ''
    ? { value: annotated.trim(), field: `metadata.annotations[${ADDRESS_ANNOTATION}]` }
    : lbIp !== undefined && lbIp !== '' ? { value: lbIp.trim(), field: 'spec.loadBalancerIP' } : undefined;
  const pool = annotations[POOL_ANNOTATION];
  const family: IpFamily = service.spec.ipFamilies?.[0] === 'IPv6' ? 'IPv6' : 'IPv4';
  return {
    service: serviceKey(service),
    namespace: service.metadata.namespace ?? 'default',
    address,
    pool: pool === undefined || pool === '' ? undefined : pool,
    family,
    ports,
  };
}

/** Name of the VirtualIP serving one port: `<service>-<tcp|udp>-<port>`. */
export function derivedName(service: string, port: { port: number; protocol: Protocol }): string {
  return `${service}-${port.protocol.toLowerCase()}-${port.port}`;
}

/** The VirtualIPs (server-side apply bodies) that serve the Service at `address`. */
export function derivedVips(service: Service, address: string, ports: ServicePorts['ports']): KubeObject[] {
  const namespace = service.metadata.namespace ?? 'default';
  return ports.map((p) => ({
    apiVersion: API_VERSION,
    kind: 'VirtualIP',
    metadata: {
      name: derivedName(service.metadata.name, p),
      namespace,
      labels: { [SERVICE_LABEL]: service.metadata.name, 'app.kubernetes.io/managed-by': 'sterlet-controller' },
      // Garbage collection removes them with the Service even if the controller is down.
      ...(service.metadata.uid === undefined ? {} : {
        ownerReferences: [{ apiVersion: 'v1', kind: 'Service', name: service.metadata.name, uid: service.metadata.uid, controller: true, blockOwnerDeletion: false }],
      }),
    },
    spec: { address, port: p.port, protocol: p.protocol, backendRef: { kind: 'Service', name: service.metadata.name, target: 'Nodes' } },
  }));
}

/** True when a cached VirtualIP was derived from this Service (label and, when known, owner uid). */
export function derivedFrom(vip: KubeObject, service: { name: string; uid?: string | undefined }): boolean {
  if (vip.metadata.labels?.[SERVICE_LABEL] !== service.name) return false;
  const owners = (vip.metadata as { ownerReferences?: { kind?: string; uid?: string }[] }).ownerReferences ?? [];
  return service.uid === undefined || owners.some((o) => o.kind === 'Service' && o.uid === service.uid);
}
