// The controller's view of the cluster: one informer per kind, parsed objects
// (memoised per resourceVersion), and the indexes that turn any change into
// the set of keys to reconcile: a Backend change queues the VIPs whose
// selector matches its old or new labels; a VIP change queues every VIP that
// claims the same address/port/protocol (conflicts move); a pool change queues
// every VIP and every pool (overlaps); a node change queues the VIPs it reports or could serve.

import type { Log } from '../common/log.ts';
import { z } from 'zod';
import { Backend } from '../api/backend.ts';
import { BGPPeer } from '../api/bgp-peer.ts';
import { formatIp, parseIp } from '../api/ip.ts';
import { LoadBalancerNode } from '../api/load-balancer-node.ts';
import { Condition, DEFAULT_NAMESPACE, type Labels } from '../api/meta.ts';
import { matchesSelector } from '../compile/selector.ts';
import { VirtualIP } from '../api/virtual-ip.ts';
import { VirtualIPPool } from '../api/virtual-ip-pool.ts';
import { type KubeClient, type KubeObject, objectKey, Resources } from '../kube/client.ts';
import { Informer, type InformerHandler } from '../kube/informer.ts';
import { SERVICE_LABEL } from './services/derive.ts';
import { EndpointSlice, Node, Service, SERVICE_NAME_LABEL } from './services/kube-types.ts';
import type { Enqueue } from './work.ts';
import { claimKey, flowsOf, indexAdd, labelKey, nodeDigest, nodeEntries, sameLabels, sameSpecAndMeta, selectorOf, serviceInputs } from './cache-keys.ts';


type Schema = typeof VirtualIP | typeof Backend | typeof VirtualIPPool | typeof LoadBalancerNode | typeof BGPPeer;
const Conditions = z.array(Condition);

/**
 * Parses the parts the controller reads. Status is parsed separately and
 * leniently (only its conditions), so a status field added by a newer version
 * never makes an object unreadable.
 */
function parseObject<S extends Schema>(schema: S, raw: KubeObject): z.infer<S> | z.ZodError {
  const { status, ...rest } = raw;
  const result = schema.safeParse(rest);
  if (!result.success) return result.error;
  if (status !== undefined && status !== null && typeof status === 'object') {
    const conditions = Conditions.safeParse((status as { conditions?: unknown }).conditions);
    // Statuses agents write are read whole; the controller's own only for their conditions.
    const keep = schema === LoadBalancerNode ? LoadBalancerNode.shape.status.safeParse(status)
      : schema === BGPPeer ? BGPPeer.shape.status.safeParse(status) : undefined;
    if (keep?.success === true && keep.data !== undefined) (result.data as { status?: unknown }).status = keep.data;
    else if (conditions.success) (result.data as { status?: unknown }).status = { conditions: conditions.data };
  }
  return result.data as z.infer<S>;
}

export interface ControllerCacheOptions {
  readonly log: Log;
  /** Receives every object that needs a reconcile. */
  readonly enqueue: Enqueue;
  /** Watch Services, EndpointSlices and Nodes (default true). */
  readonly services?: boolean;
}

export class ControllerCache {
  readonly vips: Informer;
  readonly backends: Informer;
  readonly pools: Informer;
  readonly nodes: Informer;
  readonly namespaces: Informer;
  readonly bgpPeers: Informer;
  readonly services: Informer;
  readonly endpointSlices: Informer;
  /** Kubernetes Nodes (backend nodes of Services), not LoadBalancerNodes. */
  readonly kubeNodes: Informer;
  readonly #enqueue: Enqueue;
  readonly #watchServices: boolean;
  readonly #parsed = new WeakMap<KubeObject, unknown>();
  /** claim key (address|port|protocol) -> VIP keys, and the reverse. */
  readonly #claims = new Map<string, Set<string>>();
  readonly #claimOf = new Map<string, string>();
  /** namespace -> Backend keys. */
  readonly #backendsByNs = new Map<string, Set<string>>();
  /** namespace -> VirtualIP keys. */
  readonly #vipsByNs = new Map<string, Set<string>>();
  /**
   * Label indexes that keep 1,000 VIPs x 10,000 Backends linear: Backends by
   * "ns/key=value" of each label; VIPs by the first matchLabels pair of their
   * backendSelector (or in `#scanVips` when the selector has none).
   */
  readonly #backendsByLabel = new Map<string, Set<string>>();
  readonly #vipsBySelector = new Map<string, Set<string>>();
  readonly #scanVips = new Map<string, Set<string>>();
  readonly #vipSelectorKey = new Map<string, string | undefined>();
  /** "ns/service" -> VIP keys whose backendRef names it; VIPs whose backendRef targets Nodes. */
  readonly #vipsByRef = new Map<string, Set<string>>();
  readonly #vipRef = new Map<string, string>();
  readonly #nodeTargetVips = new Set<string>();
  /** canonical address -> VIP keys using it (any port): what Service allocation must skip. */
  readonly #vipsByAddress = new Map<string, Set<string>>();
  readonly #vipAddress = new Map<string, string>();
  /** "ns/service" -> EndpointSlice keys. */
  readonly #slicesByService = new Map<string, Set<string>>();
  readonly #sliceService = new Map<string, string>();
  /** Node name -> what Service backends depend on (readiness, cordon, labels, addresses). */
  readonly #nodeDigest = new Map<string, string>();

  constructor(client: KubeClient, options: ControllerCacheOptions) {
    this.#enqueue = options.enqueue;
    this.#watchServices = options.services ?? true;
    const log = options.log;
    const make = (ref: (typeof Resources)[keyof typeof Resources], onChange: InformerHandler, optional = false): Informer =>
      new Informer(client, ref, { log, onChange, optional });
    this.vips = make(Resources.virtualIP, (ev, obj, old) => this.#onVip(ev, obj, old));
    this.backends = make(Resources.backend, (ev, obj, old) => this.#onBackend(ev, obj, old));
    // Any pool change can move VIPs between pools and changes the overlaps of every pool.
    // Pools also decide which addresses Services may get.
    this.pools = make(Resources.virtualIPPool, () => { this.enqueueAllVips(); this.enqueueAllPools(); this.enqueueAllServices(); });
    this.nodes = make(Resources.loadBalancerNode, (ev, obj, old) => this.#onNode(ev, obj, old));
    // Optional: a controller without BGPPeer RBAC (or CRD) still serves VIPs.
    this.bgpPeers = make(Resources.bgpPeer, (_ev, obj) => this.#enqueue('BGPPeer', obj.metadata.name), true);
    this.namespaces = make(Resources.namespace, (ev, obj, old) => {
      if (ev === 'update' && sameLabels(obj.metadata.labels, old?.metadata.labels)) return;
      for (const k of this.#vipsByNs.get(obj.metadata.name) ?? []) this.#enqueue('VirtualIP', k);
    }, true); // without list/watch on namespaces, pools can still select by kubernetes.io/metadata.name
    // Optional: without RBAC for them (services.enabled=false) the rest works as before.
    this.services = make(Resources.service, (ev, obj, old) => this.#onService(ev, obj, old), true);
    this.endpointSlices = make(Resources.endpointSlice, (ev, obj, old) => this.#onSlice(ev, obj, old), true);
    this.kubeNodes = make(Resources.node, (ev, obj) => this.#onKubeNode(ev, obj), true);
  }

  get informers(): Informer[] {
    const core = [this.vips, this.backends, this.pools, this.nodes, this.namespaces, this.bgpPeers];
    return this.#watchServices ? [...core, this.services, this.endpointSlices, this.kubeNodes] : core;
  }

  #core<S extends typeof Service | typeof EndpointSlice | typeof Node>(schema: S, raw: KubeObject | undefined): z.infer<S> | undefined {
    if (raw === undefined) return undefined;
    const hit = this.#parsed.get(raw);
    if (hit !== undefined) return hit instanceof z.ZodError ? undefined : (hit as z.infer<S>);
    const parsed = schema.safeParse(raw);
    this.#parsed.set(raw, parsed.success ? parsed.data : parsed.error);
    return parsed.success ? (parsed.data as z.infer<S>) : undefined;
  }

  service(key: string): Service | undefined {
    return this.#core(Service, this.services.get(key));
  }

  serviceList(): Service[] {
    return this.services.list().map((raw) => this.#core(Service, raw)).filter((s): s is Service => s !== undefined);
  }

  /** EndpointSlices of the Service `ns/name`. */
  slicesOf(serviceKey: string): EndpointSlice[] {
    return [...(this.#slicesByService.get(serviceKey) ?? [])]
      .map((k) => this.#core(EndpointSlice, this.endpointSlices.get(k)))
      .filter((s): s is EndpointSlice => s !== undefined);
  }

  kubeNodeList(): Node[] {
    return this.kubeNodes.list().map((raw) => this.#core(Node, raw)).filter((n): n is Node => n !== undefined);
  }

  /** Cached VirtualIPs whose spec.address is `address` (canonical), any port. */
  vipsAt(address: string): KubeObject[] {
    return [...(this.#vipsByAddress.get(address) ?? [])].map((k) => this.vips.get(k)).filter((v): v is KubeObject => v !== undefined);
  }

  /** Cached VirtualIPs labelled as derived from the Service `ns/name`. */
  derivedVips(serviceKey: string): KubeObject[] {
    const slash = serviceKey.indexOf('/');
    const ns = serviceKey.slice(0, slash);
    const name = serviceKey.slice(slash + 1);
    return [...(this.#vipsByNs.get(ns) ?? [])].map((k) => this.vips.get(k)).filter((v): v is KubeObject => v !== undefined && v.metadata.labels?.[SERVICE_LABEL] === name);
  }

  enqueueAllServices(): void {
    for (const raw of this.services.list()) this.#enqueue('Service', objectKey(raw));
  }

  #onService(ev: string, obj: KubeObject, old: KubeObject | undefined): void {
    const key = objectKey(obj);
    // Our own status writes change nothing we read from the spec side.
    if (ev === 'update' && old !== undefined && serviceInputs(obj) === serviceInputs(old)) return;
    this.#enqueue('Service', key);
    for (const k of this.#vipsByRef.get(key) ?? []) this.#enqueue('VirtualIP', k);
  }

  #onSlice(ev: string, obj: KubeObject, old: KubeObject | undefined): void {
    const key = objectKey(obj);
    const ns = obj.metadata.namespace ?? DEFAULT_NAMESPACE;
    const name = obj.metadata.labels?.[SERVICE_NAME_LABEL];
    const before = this.#sliceService.get(key);
    const after = ev === 'delete' || name === undefined ? undefined : `${ns}/${name}`;
    if (before !== undefined && before !== after) indexAdd(this.#slicesByService, before, key, false);
    if (after !== undefined) { indexAdd(this.#slicesByService, after, key, true); this.#sliceService.set(key, after); }
    else this.#sliceService.delete(key);
    if (ev === 'update' && old !== undefined && before === after && JSON.stringify([obj['addressType'], obj['endpoints']]) === JSON.stringify([old['addressType'], old['endpoints']])) return;
    for (const svc of new Set([before, after])) {
      if (svc === undefined) continue;
      for (const k of this.#vipsByRef.get(svc) ?? []) this.#enqueue('VirtualIP', k);
    }
  }

  #onKubeNode(ev: string, obj: KubeObject): void {
    const name = obj.metadata.name;
    const digest = ev === 'delete' ? undefined : nodeDigest(obj);
    if (digest === this.#nodeDigest.get(name)) return; // heartbeats change nothing backends depend on
    if (digest === undefined) this.#nodeDigest.delete(name);
    else this.#nodeDigest.set(name, digest);
    for (const k of this.#nodeTargetVips) this.#enqueue('VirtualIP', k);
  }

  #indexVipRefs(key: string, ns: string, obj: KubeObject | undefined): void {
    const spec = obj?.['spec'] as { address?: unknown; backendRef?: { name?: unknown; target?: unknown } } | undefined;
    const ref = typeof spec?.backendRef?.name === 'string' ? `${ns}/${spec.backendRef.name}` : undefined;
    const before = this.#vipRef.get(key);
    if (before !== undefined && before !== ref) indexAdd(this.#vipsByRef, before, key, false);
    if (ref === undefined) this.#vipRef.delete(key);
    else { indexAdd(this.#vipsByRef, ref, key, true); this.#vipRef.set(key, ref); }
    if (ref !== undefined && spec?.backendRef?.target === 'Nodes') this.#nodeTargetVips.add(key);
    else this.#nodeTargetVips.delete(key);
    const ip = typeof spec?.address === 'string' ? parseIp(spec.address) : undefined;
    const address = ip === undefined ? undefined : formatIp(ip);
    const was = this.#vipAddress.get(key);
    if (was !== undefined && was !== address) indexAdd(this.#vipsByAddress, was, key, false);
    if (address === undefined) this.#vipAddress.delete(key);
    else { indexAdd(this.#vipsByAddress, address, key, true); this.#vipAddress.set(key, address); }
  }

  /** Parsed object (memoised per cached version); a ZodError when it does not parse. */
  parse<S extends Schema>(schema: S, raw: KubeObject): z.infer<S> | z.ZodError {
    const hit = this.#parsed.get(raw);
    if (hit !== undefined) return hit as z.infer<S> | z.ZodError;
    const parsed = parseObject(schema, raw);
    this.#parsed.set(raw, parsed);
    return parsed;
  }

  vip(key: string): VirtualIP | undefined {
    const raw = this.vips.get(key);
    if (raw === undefined) return undefined;
    const parsed = this.parse(VirtualIP, raw);
    return parsed instanceof z.ZodError ? undefined : parsed;
  }

  /** Every VIP claiming the same address/port/protocol as `key` (itself included). */
  claimGroup(key: string): VirtualIP[] {
    const claim = this.#claimOf.get(key);
    const keys = claim === undefined ? [key] : [...(this.#claims.get(claim) ?? [])];
    return keys.map((k) => this.vip(k)).filter((v): v is VirtualIP => v !== undefined);
  }

  /** Backends of `namespace` the selector matches; none without a selector (a backendRef VIP). */
  selectedBackends(namespace: string, selector: VirtualIP['spec']['backendSelector']): Backend[] {
    const out: Backend[] = [];
    if (selector === undefined) return out;
    const first = Object.entries(selector.matchLabels ?? {})[0];
    const candidates = first === undefined
      ? this.#backendsByNs.get(namespace)
      : this.#backendsByLabel.get(labelKey(namespace, first[0], first[1]));
    for (const k of candidates ?? []) {
      const raw = this.backends.get(k);
      if (raw === undefined || !matchesSelector(selector, raw.metadata.labels)) continue;
      const parsed = this.parse(Backend, raw);
      if (!(parsed instanceof z.ZodError)) out.push(parsed);
    }
    return out;
  }

  /** Keys of the VIPs in `namespace` whose backendSelector matches `labels` (through the selector index). */
  vipsSelecting(namespace: string, labels: Labels | undefined): string[] {
    const candidates = new Set<string>(this.#scanVips.get(namespace));
    for (const [k, v] of Object.entries(labels ?? {})) for (const vk of this.#vipsBySelector.get(labelKey(namespace, k, v)) ?? []) candidates.add(vk);
    return [...candidates].filter((vk) => {
      const selector = selectorOf(this.vips.get(vk));
      return selector !== undefined && matchesSelector(selector, labels);
    });
  }

  /** Every VIP that parses. */
  vipList(): VirtualIP[] {
    return this.vips.list().map((raw) => this.parse(VirtualIP, raw)).filter((v): v is VirtualIP => !(v instanceof z.ZodError));
  }

  poolList(): VirtualIPPool[] {
    return this.pools.list().map((raw) => this.parse(VirtualIPPool, raw)).filter((p): p is VirtualIPPool => !(p instanceof z.ZodError));
  }

  nodeList(): LoadBalancerNode[] {
    return this.nodes.list().map((raw) => this.parse(LoadBalancerNode, raw)).filter((n): n is LoadBalancerNode => !(n instanceof z.ZodError));
  }

  namespaceLabels(): Map<string, Labels> {
    return new Map(this.namespaces.list().map((ns) => [ns.metadata.name, ns.metadata.labels ?? {}]));
  }

  enqueueAllVips(): void {
    for (const raw of this.vips.list()) this.#enqueue('VirtualIP', objectKey(raw));
  }

  enqueueAllPools(): void {
    for (const raw of this.pools.list()) this.#enqueue('VirtualIPPool', raw.metadata.name);
  }

  /** BGPPeer summaries count the selected nodes: any node added, removed, relabelled or gone silent. */
  enqueueAllPeers(): void {
    for (const raw of this.bgpPeers.list()) this.#enqueue('BGPPeer', raw.metadata.name);
  }

  enqueueAllBackends(): void {
    for (const raw of this.backends.list()) this.#enqueue('Backend', objectKey(raw));
  }

  #onVip(ev: string, obj: KubeObject, old: KubeObject | undefined): void {
    const key = objectKey(obj);
    const ns = obj.metadata.namespace ?? DEFAULT_NAMESPACE;
    const before = this.#claimOf.get(key);
    const after = ev === 'delete' ? undefined : claimKey(obj);
    if (before !== after) {
      if (before !== undefined) {
        this.#claims.get(before)?.delete(key);
        for (const k of this.#claims.get(before) ?? []) this.#enqueue('VirtualIP', k);
        if (this.#claims.get(before)?.size === 0) this.#claims.delete(before);
      }
      if (after !== undefined) {
        const set = this.#claims.get(after) ?? new Set<string>();
        set.add(key);
        this.#claims.set(after, set);
        this.#claimOf.set(key, after);
        for (const k of set) this.#enqueue('VirtualIP', k);
      } else {
        this.#claimOf.delete(key);
      }
    }
    indexAdd(this.#vipsByNs, ns, key, ev !== 'delete');
    this.#indexVipSelector(key, ns, ev === 'delete' ? undefined : obj);
    this.#indexVipRefs(key, ns, ev === 'delete' ? undefined : obj);
    // A derived VirtualIP deleted or edited by hand: its Service puts it back.
    const owner = obj.metadata.labels?.[SERVICE_LABEL] ?? old?.metadata.labels?.[SERVICE_LABEL];
    if (owner !== undefined && (ev === 'delete' || old === undefined || !sameSpecAndMeta(obj, old))) this.#enqueue('Service', `${ns}/${owner}`);
    if (ev === 'delete') {
      // Its Backends and pool no longer count it (while deleting, the VIP reconcile does this).
      const selector = selectorOf(obj);
      if (selector !== undefined) for (const b of this.selectedBackends(ns, selector)) this.#enqueue('Backend', `${ns}/${b.metadata.name}`);
      this.enqueueAllPools();
    }
    // Status-only updates (our own writes) change neither spec nor metadata we read.
    if (ev === 'update' && old !== undefined && sameSpecAndMeta(obj, old)) return;
    this.#enqueue('VirtualIP', key);
  }

  #onBackend(ev: string, obj: KubeObject, old: KubeObject | undefined): void {
    const key = objectKey(obj);
    const ns = obj.metadata.namespace ?? DEFAULT_NAMESPACE;
    indexAdd(this.#backendsByNs, ns, key, ev !== 'delete');
    for (const [k, v] of Object.entries(old?.metadata.labels ?? {})) indexAdd(this.#backendsByLabel, labelKey(ns, k, v), key, false);
    if (ev !== 'delete') for (const [k, v] of Object.entries(obj.metadata.labels ?? {})) indexAdd(this.#backendsByLabel, labelKey(ns, k, v), key, true);
    if (ev === 'update' && old !== undefined && sameSpecAndMeta(obj, old)) return;
    const affected = new Set([...this.vipsSelecting(ns, obj.metadata.labels), ...(old === undefined ? [] : this.vipsSelecting(ns, old.metadata.labels))]);
    for (const vipKey of affected) this.#enqueue('VirtualIP', vipKey);
    this.#enqueue('Backend', key);
  }

  #indexVipSelector(key: string, ns: string, obj: KubeObject | undefined): void {
    const before = this.#vipSelectorKey.get(key);
    if (this.#vipSelectorKey.has(key)) {
      if (before === undefined) indexAdd(this.#scanVips, ns, key, false);
      else indexAdd(this.#vipsBySelector, before, key, false);
      this.#vipSelectorKey.delete(key);
    }
    if (obj === undefined) return;
    const first = Object.entries(selectorOf(obj)?.matchLabels ?? {})[0];
    const after = first === undefined ? undefined : labelKey(ns, first[0], first[1]);
    this.#vipSelectorKey.set(key, after);
    if (after === undefined) indexAdd(this.#scanVips, ns, key, true);
    else indexAdd(this.#vipsBySelector, after, key, true);
  }

  /** Backends with weight 0: their Drained condition follows the nodes' flow counts. */
  enqueueDrainingBackends(): void {
    for (const raw of this.backends.list()) {
      if ((raw['spec'] as { weight?: unknown } | undefined)?.weight === 0) this.#enqueue('Backend', objectKey(raw));
    }
  }

  #onNode(ev: string, obj: KubeObject, old: KubeObject | undefined): void {
    if (ev !== 'update' || JSON.stringify(flowsOf(obj)) !== JSON.stringify(flowsOf(old))) this.enqueueDrainingBackends();
    if (ev !== 'update' || !sameLabels(obj.metadata.labels, old?.metadata.labels)) {
      this.enqueueAllVips();
      this.enqueueAllPeers();
      return;
    }
    // Only the VIPs whose entry on this node changed (revision, ring, error, presence).
    const before = nodeEntries(old);
    const after = nodeEntries(obj);
    for (const id of new Set([...before.keys(), ...after.keys()])) {
      if (before.get(id) !== after.get(id)) this.#enqueue('VirtualIP', id);
    }
  }
}
