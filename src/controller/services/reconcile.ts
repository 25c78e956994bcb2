// Level-triggered reconcile of one Service of type LoadBalancer: allocate an
// address (or keep the one it has), write status.loadBalancer.ingress with
// ipMode VIP, and keep one derived VirtualIP per port (backendRef target
// Nodes); a Service that is deleted or no longer ours gets its VIPs removed and
// its address freed. Invalid input is an Event, never a retry loop.
import type { Log } from '../../common/log.ts';
import { compareAge } from '../../compile/compile.ts';
import { preparePools } from '../../compile/pools.ts';
import { isNotFound, type KubeClient, type KubeObject, objectKey, Resources } from '../../kube/client.ts';
import type { ControllerCache } from '../cache.ts';
import type { Enqueue } from '../work.ts';
import { EventReason } from '../conditions.ts';
import type { EventRecorder } from '../events.ts';
import { AddressAllocator, poolFor } from './allocator.ts';
import { allocationRequest, derivedFrom, derivedVips, isOurs, serviceKey, servicePorts, type ServiceSettings } from './derive.ts';
import type { Service } from './kube-types.ts';

export interface ServiceReconcilerOptions {
  readonly client: KubeClient;
  readonly cache: ControllerCache;
  readonly events: EventRecorder;
  readonly log: Log;
  readonly settings: ServiceSettings;
  /** Field manager of the derived VirtualIPs (server-side apply). */
  readonly fieldManager: string;
  readonly enqueue: Enqueue;
}

export class ServiceReconciler {
  readonly allocator = new AddressAllocator();
  readonly #o: ServiceReconcilerOptions;
  /** Last Event per Service (reason + note): Events on transitions only. */
  readonly #lastEvent = new Map<string, string>();
  /** Services without an address: retried when one is freed. */
  readonly #waiting = new Set<string>();

  constructor(options: ServiceReconcilerOptions) {
    this.#o = options;
  }

  /**
   * Rebuilds who owns which address from what is persisted (a new leader):
   * Service status first, oldest Service first, then the derived VirtualIPs of
   * Services whose status write had not landed.
   */
  rebuild(): void {
    const { cache, settings } = this.#o;
    const pools = preparePools(cache.poolList());
    const ours = cache.serviceList().filter((s) => isOurs(s, settings)).sort(compareAge);
    for (const svc of ours) {
      const ip = svc.status?.loadBalancer?.ingress?.find((i) => i.ip !== undefined)?.ip;
      const pool = ip === undefined ? undefined : poolFor(ip, pools);
      if (ip !== undefined && pool !== undefined) this.allocator.record(serviceKey(svc), { address: ip, pool });
    }
    for (const svc of ours) {
      const key = serviceKey(svc);
      if (this.allocator.addressOf(key) !== undefined) continue;
      const address = (cache.derivedVips(key)[0]?.['spec'] as { address?: string } | undefined)?.address;
      const pool = address === undefined ? undefined : poolFor(address, pools);
      if (address !== undefined && pool !== undefined) this.allocator.record(key, { address, pool });
    }
    this.#o.log.info({ services: ours.length, allocated: this.allocator.size }, 'Service address ownership rebuilt');
  }

  async reconcile(key: string): Promise<Record<string, never>> {
    const { cache, settings } = this.#o;
    const raw = cache.services.get(key);
    const svc = cache.service(key);
    if (raw === undefined || svc === undefined || !isOurs(svc, settings)) {
      await this.#withdraw(key, raw, svc);
      return {};
    }
    const { ports, skipped } = servicePorts(svc);
    const request = allocationRequest(svc, ports);
    const ns = svc.metadata.namespace ?? 'default';
    // Synchronous from here to the record inside claim(): no other reconcile can interleave.
    const before = this.allocator.addressOf(key);
    const result = this.allocator.claim(request, {
      pools: preparePools(cache.poolList()),
      admission: { mode: 'Pools', pools: cache.poolList(), namespaceLabels: cache.namespaceLabels() },
      usedBy: (address) => {
        const other = cache.vipsAt(address).find((v) => v.metadata.namespace !== ns || !derivedFrom(v, svc.metadata));
        return other === undefined ? undefined : `VirtualIP ${objectKey(other)}`;
      },
    });
    const allocation = 'reason' in result ? result.kept : result;
    if (allocation === undefined) {
      this.#waiting.add(key);
      await this.#removeVips(key, svc, new Set());
      await this.#writeIngress(svc, undefined);
      this.#event(raw, key, { type: 'Warning', reason: EventReason.AllocationFailed, note: `${'reason' in result ? `${result.reason}: ${result.message}` : ''}` });
      this.#o.log.debug({ service: key }, 'no address for Service');
      return {};
    }
    this.#waiting.delete(key);
    if (before !== undefined && before.address !== allocation.address) this.#freed();
    await this.#writeIngress(svc, allocation.address);
    const wanted = derivedVips(svc, allocation.address, ports);
    for (const body of wanted) await this.#applyVip(raw, svc, body);
    await this.#removeVips(key, svc, new Set(wanted.map((v) => v.metadata.name)));
    if ('reason' in result) {
      this.#event(raw, key, { type: 'Warning', reason: EventReason.AllocationFailed, note: `${result.reason}: ${result.message} Keeping ${allocation.address} until the request can be met.` });
      return {};
    }
    const skippedNote = skipped.length === 0 ? '' : `; ports not served (TCP and UDP only): ${skipped.join(', ')}`;
    this.#event(raw, key, { type: 'Normal', reason: EventReason.IPAllocated, note: `Assigned IP ["${allocation.address}"] from VirtualIPPool ${allocation.pool}; ${wanted.length} VirtualIPs${skippedNote}` });
    return {};
  }

  /** An address was freed: Services still waiting for one try again. */
  #freed(): void {
    for (const key of this.#waiting) this.#o.enqueue('Service', key);
  }

  async #withdraw(key: string, raw: KubeObject | undefined, svc: Service | undefined): Promise<void> {
    const released = this.allocator.release(key);
    this.#waiting.delete(key);
    // A gone Service is reconciled again when its last derived VirtualIP is removed: only then is the address usable.
    if (released !== undefined || raw === undefined) this.#freed();
    const derived = this.#o.cache.derivedVips(key).filter((v) => svc === undefined || derivedFrom(v, svc.metadata));
    const addresses = new Set<string>([...(released === undefined ? [] : [released.address]),
      ...derived.map((v) => (v['spec'] as { address?: string } | undefined)?.address).filter((a): a is string => a !== undefined)]);
    await this.#removeVips(key, svc, new Set());
    if (raw !== undefined && svc !== undefined && svc.status?.loadBalancer?.ingress?.some((i) => i.ip !== undefined && addresses.has(i.ip)) === true) {
      await this.#writeIngress(svc, undefined);
    }
    if (released !== undefined && raw !== undefined) {
      this.#event(raw, key, { type: 'Normal', reason: EventReason.IPReleased, note: `Released IP ["${released.address}"]: the Service is no longer of type LoadBalancer with loadBalancerClass ${this.#o.settings.loadBalancerClass}` });
    }
    if (raw === undefined) this.#lastEvent.delete(key);
  }

  /** Writes (or, with no address, removes) the ingress entry when it differs. */
  async #writeIngress(svc: Service, address: string | undefined): Promise<void> {
    const ingress = svc.status?.loadBalancer?.ingress ?? [];
    const want = address === undefined ? [] : [{ ip: address, ipMode: 'VIP' }];
    if (JSON.stringify(ingress.map((i) => ({ ip: i.ip, ipMode: i.ipMode }))) === JSON.stringify(want)) return;
    const written = await this.#o.client.patchStatus(Resources.service, svc.metadata.name,
      { loadBalancer: address === undefined ? null : { ingress: want } }, svc.metadata.namespace);
    this.#o.cache.services.upsert(written);
  }

  async #applyVip(raw: KubeObject, svc: Service, body: KubeObject): Promise<void> {
    const { cache, client } = this.#o;
    const key = objectKey(body);
    const existing = cache.vips.get(key);
    if (existing !== undefined && !derivedFrom(existing, svc.metadata)) {
      this.#event(raw, serviceKey(svc), { type: 'Warning', reason: EventReason.VirtualIPNameTaken, note: `VirtualIP ${key} exists and does not belong to this Service, so port ${String((body['spec'] as { port: number }).port)} is not served. Rename or delete that VirtualIP.` });
      return;
    }
    if (existing !== undefined && existing.metadata.deletionTimestamp === undefined && sameSpec(existing, body)) return;
    // Not upserted into the cache: the watch event must reach the cache's handler, which
    // indexes the VIP (backendRef, address) and queues its first reconcile.
    await client.apply(Resources.virtualIP, body, this.#o.fieldManager, { force: true });
  }

  /** Deletes the Service's derived VirtualIPs not named in `keep` (their finalizer withdraws them from the nodes). */
  async #removeVips(key: string, svc: Service | undefined, keep: ReadonlySet<string>): Promise<void> {
    for (const vip of this.#o.cache.derivedVips(key)) {
      if (keep.has(vip.metadata.name) || vip.metadata.deletionTimestamp !== undefined) continue;
      if (svc !== undefined && !derivedFrom(vip, svc.metadata)) continue;
      await this.#o.client.delete(Resources.virtualIP, vip.metadata.name, vip.metadata.namespace).catch((err: unknown) => {
        if (!isNotFound(err)) throw err;
      });
    }
  }

  #event(raw: KubeObject, key: string, event: { type: 'Normal' | 'Warning'; reason: string; note: string }): void {
    const fingerprint = `${event.reason}|${event.note}`;
    if (this.#lastEvent.get(key) === fingerprint) return;
    this.#lastEvent.set(key, fingerprint);
    this.#o.events.record({ ...raw, apiVersion: 'v1', kind: 'Service' }, event);
  }
}

/** The derived fields match: address, port, protocol, backendRef. */
function sameSpec(existing: KubeObject, body: KubeObject): boolean {
  const a = existing['spec'] as Record<string, unknown> | undefined;
  const b = body['spec'] as Record<string, unknown>;
  const ref = (s: Record<string, unknown> | undefined): string => JSON.stringify(s?.['backendRef'] ?? null);
  return a?.['address'] === b['address'] && a?.['port'] === b['port'] && a?.['protocol'] === b['protocol'] && ref(a) === ref(b);
}
