// Resolves a VirtualIP's spec.backendRef from the controller's caches: the
// Service, its EndpointSlices and (target Nodes) the Kubernetes Nodes.
import type { RefResolution } from '../../compile/compile.ts';
import type { IpFamily } from '../../api/ip.ts';
import type { VirtualIP } from '../../api/virtual-ip.ts';
import type { ControllerCache } from '../cache.ts';
import { endpointBackends, nodeBackends, type NodeSettings } from './backends.ts';

export function refResolver(cache: ControllerCache, settings: NodeSettings): (vip: VirtualIP, family: IpFamily) => RefResolution {
  return (vip, family) => {
    const ref = vip.spec.backendRef;
    const ns = vip.metadata.namespace ?? 'default';
    if (ref === undefined) return { backends: [] };
    const key = `${ns}/${ref.name}`;
    const service = cache.service(key);
    if (service === undefined) {
      return { notFound: `no such Service exists in namespace ${ns}. Create it, or fix spec.backendRef.name.` };
    }
    const slices = cache.slicesOf(key);
    return ref.target === 'Nodes'
      ? nodeBackends(service, slices, cache.kubeNodeList(), family, settings)
      : endpointBackends(key, slices, family);
  };
}
