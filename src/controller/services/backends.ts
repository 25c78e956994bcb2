// Backends of a VIP whose spec.backendRef names a Service, from its
// EndpointSlices and the Nodes: pure, so every mapping rule is unit-tested.
//   target Endpoints: each endpoint address is a backend.
//   target Nodes + externalTrafficPolicy Local: nodes hosting ready endpoints,
//     weighted by how many (traffic splits per pod, not per node).
//   target Nodes + Cluster: every eligible node, equal weights (kube-proxy spreads).
// Endpoint conditions: ready -> in; serving and terminating -> weight 0 (drain:
// established flows stay); anything else -> out. A node that is NotReady,
// cordoned or not selected by the backend-node selector is out.
import type { RefBackend, RefResolution } from '../../compile/compile.ts';
import { formatIp, type IpFamily, parseIp } from '../../api/ip.ts';
import type { LabelSelector } from '../../api/meta.ts';
import { matchesSelector } from '../../compile/selector.ts';
import { MAX_WEIGHT } from '../../api/backend.ts';
import type { Endpoint, EndpointSlice, Node, Service } from './kube-types.ts';

export interface NodeSettings {
  /** Nodes that may be backends (they run the decap program); undefined = every node. */
  readonly nodeSelector: LabelSelector | undefined;
}

type EndpointState = 'ready' | 'draining' | 'out';

/** EndpointConditions semantics: ready/serving nil mean ready (unknown); terminating nil means false. */
export function endpointState(endpoint: Endpoint): EndpointState {
  const c = endpoint.conditions ?? {};
  const ready = c.ready ?? true;
  if (c.terminating === true) return (c.serving ?? ready) ? 'draining' : 'out';
  return ready ? 'ready' : 'out';
}

/**
 * The slices whose family the VIP uses: its own family, else (an IPv4 VIP)
 * IPv6 slices (4-in-6). Dual-stack Services list every pod once per family,
 * so mixing families would count each pod twice.
 */
function slicesFor(slices: readonly EndpointSlice[], family: IpFamily): EndpointSlice[] {
  const same = slices.filter((s) => s.addressType === family);
  if (same.length > 0 || family === 'IPv6') return same;
  return slices.filter((s) => s.addressType === 'IPv6');
}

const RANK: Record<EndpointState, number> = { out: 0, draining: 1, ready: 2 };

/** Endpoint addresses as backends (routable pod IPs). */
export function endpointBackends(service: string, slices: readonly EndpointSlice[], family: IpFamily): RefResolution {
  const best = new Map<string, { name: string; state: EndpointState }>();
  for (const slice of slicesFor(slices, family)) {
    for (const endpoint of slice.endpoints ?? []) {
      const state = endpointState(endpoint);
      for (const text of endpoint.addresses) {
        const ip = parseIp(text);
        if (ip === undefined) continue;
        const address = formatIp(ip);
        const prev = best.get(address);
        // During a rollout one endpoint can sit in two slices: the better state wins.
        if (prev === undefined || RANK[state] > RANK[prev.state]) best.set(address, { name: endpoint.targetRef?.name ?? address, state });
      }
    }
  }
  const backends: RefBackend[] = [];
  for (const [address, { name, state }] of best) {
    if (state !== 'out') backends.push({ name, address, weight: state === 'ready' ? 1 : 0 });
  }
  return backends.length > 0 ? { backends } : { backends, emptyBecause: `Service ${service} has no ready or serving ${family === 'IPv4' ? 'IPv4 (or IPv6)' : 'IPv6'} endpoints.` };
}

/** Why a node cannot be a backend, or undefined when it can. */
export function nodeUnfit(node: Node, settings: NodeSettings): string | undefined {
  const ready = node.status.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
  if (!ready) return 'NotReady';
  if (node.spec.unschedulable === true) return 'cordoned';
  if (!matchesSelector(settings.nodeSelector, node.metadata.labels)) return 'not selected as a backend node';
  return undefined;
}

/** The node's InternalIP of the VIP's family; an IPv6 one for an IPv4 VIP (4-in-6) when it has no IPv4. */
export function nodeAddress(node: Node, family: IpFamily): string | undefined {
  const internal = (node.status.addresses ?? [])
    .filter((a) => a.type === 'InternalIP')
    .map((a) => parseIp(a.address))
    .filter((ip) => ip !== undefined);
  const pick = internal.find((ip) => ip.family === family) ?? (family === 'IPv4' ? internal.find((ip) => ip.family === 'IPv6') : undefined);
  return pick === undefined ? undefined : formatIp(pick);
}

/** Nodes as backends; kube-proxy on each node DNATs the VIP to a pod. */
export function nodeBackends(
  service: Service,
  slices: readonly EndpointSlice[],
  nodes: readonly Node[],
  family: IpFamily,
  settings: NodeSettings,
): RefResolution {
  const id = `${service.metadata.namespace ?? 'default'}/${service.metadata.name}`;
  const local = service.spec.externalTrafficPolicy === 'Local';
  const perNode = new Map<string, { ready: number; draining: number }>();
  let ready = 0;
  let draining = 0;
  for (const slice of slicesFor(slices, family)) {
    for (const endpoint of slice.endpoints ?? []) {
      const state = endpointState(endpoint);
      if (state === 'out') continue;
      if (state === 'ready') ready++;
      else draining++;
      const name = endpoint.nodeName;
      if (name === undefined || name === null) continue;
      const count = perNode.get(name) ?? { ready: 0, draining: 0 };
      if (state === 'ready') count.ready++;
      else count.draining++;
      perNode.set(name, count);
    }
  }
  const unfit: string[] = [];
  const backends: RefBackend[] = [];
  for (const node of [...nodes].sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1))) {
    const name = node.metadata.name;
    let weight: number;
    if (local) {
      const count = perNode.get(name);
      if (count === undefined) continue;
      weight = Math.min(count.ready, MAX_WEIGHT);
    } else {
      if (ready === 0 && draining === 0) break;
      weight = ready > 0 ? 1 : 0;
    }
    const why = nodeUnfit(node, settings);
    const address = why === undefined ? nodeAddress(node, family) : undefined;
    if (why !== undefined || address === undefined) {
      unfit.push(`${name} (${why ?? `no ${family} InternalIP`})`);
      continue;
    }
    backends.push({ name, address, weight });
  }
  if (backends.length > 0) return { backends };
  const policy = local ? 'Local' : 'Cluster';
  const because = ready + draining === 0
    ? `Service ${id} has no ready or serving endpoints.`
    : unfit.length > 0
      ? `no node can carry Service ${id} (externalTrafficPolicy ${policy}): ${unfit.join(', ')}.`
      : local ? `no endpoint of Service ${id} names a known node (externalTrafficPolicy Local).` : `no Node exists to carry Service ${id}.`;
  return { backends, emptyBecause: because };
}
