// What a Service of Sterlet's loadBalancerClass turns into: an allocation
// request, and one VirtualIP per Service port (owned by the Service) whose
// backendRef names the Service with target Nodes. Pure.
import { API_VERSION, type LabelSelector, type Protocol } from '../../api/meta.ts';
import { type IpFamily, parseIp } from '../../api/ip.ts';
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

export interface AllocationPlan {
  /** One request per family, the Service's primary family first. */
  readonly requests: readonly AllocationRequest[];
  /** spec.ipFamilyPolicy RequireDualStack with two families: both or none. */
  readonly requireBoth: boolean;
}

/**
 * What the Service asks for. Requested addresses (annotation, comma-separated,
 * one per family; else spec.loadBalancerIP) decide their own families.
 * Otherwise one address per spec.ipFamilies entry when spec.ipFamilyPolicy
 * is PreferDualStack or RequireDualStack, else of the first family only.
 */
export function allocationPlan(service: Service, ports: ServicePorts['ports']): AllocationPlan {
  const annotations = service.metadata.annotations ?? {};
  const annotated = annotations[ADDRESS_ANNOTATION];
  const lbIp = service.spec.loadBalancerIP;
  const field = annotated !== undefined && annotated !== '' ? `metadata.annotations[${ADDRESS_ANNOTATION}]` : 'spec.loadBalancerIP';
  const asked = (annotated !== undefined && annotated !== '' ? annotated.split(',') : lbIp !== undefined && lbIp !== '' ? [lbIp] : [])
    .map((a) => a.trim()).filter((a) => a !== '');
  const pool = annotations[POOL_ANNOTATION];
  const base = {
    service: serviceKey(service),
    namespace: service.metadata.namespace ?? 'default',
    pool: pool === undefined || pool === '' ? undefined : pool,
    ports,
  };
  const listed = (service.spec.ipFamilies ?? []).filter((f): f is IpFamily => f === 'IPv4' || f === 'IPv6');
  const families: IpFamily[] = listed.length === 0 ? ['IPv4'] : [...new Set(listed)];
  const policy = service.spec.ipFamilyPolicy;
  const dual = (policy === 'PreferDualStack' || policy === 'RequireDualStack') && families.length > 1;
  if (asked.length > 0) {
    // An unparsable address keeps the primary family; #requested then names the field.
    const requests = asked.map((value) => ({ ...base, address: { value, field }, family: parseIp(value)?.family ?? (families[0] as IpFamily) }));
    return { requests, requireBoth: dual && policy === 'RequireDualStack' };
  }
  const wanted = dual ? families : families.slice(0, 1);
  return { requests: wanted.map((family) => ({ ...base, address: undefined, family })), requireBoth: dual && policy === 'RequireDualStack' };
}

/** Name of the VirtualIP serving one port: `<service>-<tcp|udp>-<port>`, `-ipv4`/`-ipv6` appended for a dual-stack Service's second family. */
export function derivedName(service: string, port: { port: number; protocol: Protocol }, secondFamily?: IpFamily): string {
  return `${service}-${port.protocol.toLowerCase()}-${port.port}${secondFamily === undefined ? '' : `-${secondFamily.toLowerCase()}`}`;
}

/** The VirtualIPs (server-side apply bodies) that serve the Service: one per (address, port); `addresses[0]` is of the primary family. */
export function derivedVips(service: Service, addresses: readonly string[], ports: ServicePorts['ports'], primary: IpFamily): KubeObject[] {
  const namespace = service.metadata.namespace ?? 'default';
  return addresses.flatMap((address) => {
    const family = parseIp(address)?.family ?? primary;
    return ports.map((p) => ({
      apiVersion: API_VERSION,
      kind: 'VirtualIP',
      metadata: {
        name: derivedName(service.metadata.name, p, family === primary ? undefined : family),
        namespace,
        labels: { [SERVICE_LABEL]: service.metadata.name, 'app.kubernetes.io/managed-by': 'sterlet-controller' },
        // Garbage collection removes them with the Service even if the controller is down.
        ...(service.metadata.uid === undefined ? {} : {
          ownerReferences: [{ apiVersion: 'v1', kind: 'Service', name: service.metadata.name, uid: service.metadata.uid, controller: true, blockOwnerDeletion: false }],
        }),
      },
      spec: { address, port: p.port, protocol: p.protocol, backendRef: { kind: 'Service', name: service.metadata.name, target: 'Nodes' } },
    }));
  });
}

/** True when a cached VirtualIP was derived from this Service (label and, when known, owner uid). */
export function derivedFrom(vip: KubeObject, service: { name: string; uid?: string | undefined }): boolean {
  if (vip.metadata.labels?.[SERVICE_LABEL] !== service.name) return false;
  const owners = (vip.metadata as { ownerReferences?: { kind?: string; uid?: string }[] }).ownerReferences ?? [];
  return service.uid === undefined || owners.some((o) => o.kind === 'Service' && o.uid === service.uid);
}
