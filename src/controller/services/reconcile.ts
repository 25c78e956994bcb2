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
import { AddressAllocator, type Allocation, type AllocationContext, type AllocationFailure, familyOf, poolFor } from './allocator.ts';
import { type AllocationPlan, allocationPlan, derivedFrom, derivedVips, isOurs, serviceKey, servicePorts, type ServiceSettings } from './derive.ts';
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
      for (const ingress of svc.status?.loadBalancer?.ingress ?? []) {
        const pool = ingress.ip === undefined ? undefined : poolFor(ingress.ip, pools);
        if (ingress.ip !== undefined && pool !== undefined) this.allocator.record(serviceKey(svc), { address: ingress.ip, pool });
      }
    }
    for (const svc of ours) {
      const key = serviceKey(svc);
      for (const vip of cache.derivedVips(key)) {
        const address = (vip['spec'] as { address?: string } | undefined)?.address;
        if (address === undefined || this.allocator.addressOf(key, familyOf(address)) !== undefined) continue;
        const pool = poolFor(address, pools);
        if (pool !== undefined) this.allocator.record(key, { address, pool });
      }
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
    const plan = allocationPlan(svc, ports);
    const ns = svc.metadata.namespace ?? 'default';
    const before = this.allocator.addressesOf(key);
    // Synchronous from here to the records inside claim(): no other reconcile can interleave.
    const ctx: AllocationContext = {
      pools: preparePools(cache.poolList()),
      admission: { mode: 'Pools', pools: cache.poolList(), namespaceLabels: cache.namespaceLabels() },
      usedBy: (address) => {
        const other = cache.vipsAt(address).find((v) => v.metadata.namespace !== ns || !derivedFrom(v, svc.metadata));
        return other === undefined ? undefined : `VirtualIP ${objectKey(other)}`;
      },
    };
    const outcome = this.#allocate(key, plan, ctx, before);
    const { allocations, failures } = outcome;
    if (allocations.length === 0) {
      this.#waiting.add(key);
      await this.#removeVips(key, svc, new Set());
      await this.#writeIngress(svc, []);
      this.#event(raw, key, { type: 'Warning', reason: EventReason.AllocationFailed, note: outcome.refusal ?? failureNote(failures[0]) });
      this.#o.log.debug({ service: key }, 'no address for Service');
      return {};
    }
    this.#waiting.delete(key);
    if (before.some((b) => !allocations.some((a) => a.address === b.address))) this.#freed();
    const addresses = allocations.map((a) => a.address);
    await this.#writeIngress(svc, addresses);
    const wanted = derivedVips(svc, addresses, ports, plan.requests[0]?.family ?? 'IPv4');
    for (const body of wanted) await this.#applyVip(raw, svc, body);
    await this.#removeVips(key, svc, new Set(wanted.map((v) => v.metadata.name)));
    const list = `[${addresses.map((a) => `"${a}"`).join(',')}]`;
    if (outcome.refusal !== undefined || outcome.kept) {
      this.#event(raw, key, { type: 'Warning', reason: EventReason.AllocationFailed, note: `${outcome.refusal ?? failureNote(failures[0])} Keeping ${addresses.join(', ')} until the request can be met.` });
      return {};
    }
    const pools = [...new Set(allocations.map((a) => a.pool))].join(', ');
    const missing = failures.length === 0 ? '' : `; ${failures.map((f) => `${f.family} not allocated (${failureNote(f)})`).join('; ')}`;
    const skippedNote = skipped.length === 0 ? '' : `; ports not served (TCP and UDP only): ${skipped.join(', ')}`;
    this.#event(raw, key, { type: 'Normal', reason: EventReason.IPAllocated, note: `Assigned IP ${list} from VirtualIPPool ${pools}; ${wanted.length} VirtualIPs${skippedNote}${missing}` });
    return {};
  }

  /**
   * One claim per requested family. RequireDualStack takes both or none, and a
   * request refused as a whole leaves the Service exactly as it was; a Service
   * whose request cannot be met at all keeps what it held (a bad edit loses
   * nothing). Addresses of families no longer asked for are freed once the
   * request is met.
   */
  #allocate(key: string, plan: AllocationPlan, ctx: AllocationContext, before: readonly Allocation[]): AllocationOutcome {
    const duplicate = plan.requests.find((r, i) => plan.requests.findIndex((o) => o.family === r.family) !== i);
    if (duplicate !== undefined) {
      const field = duplicate.address?.field ?? 'metadata.annotations[sterlet.dev/address]';
      return this.#revert(key, before, [], `InvalidAddress: ${field} asks for two ${duplicate.family} addresses; a Service has at most one address per family. Ask for one IPv4 and/or one IPv6 address.`);
    }
    const claimed = plan.requests.map((req) => ({ req, result: this.allocator.claim(req, ctx) }));
    const failures = claimed.flatMap(({ req, result }) => ('reason' in result ? [{ ...result, family: req.family }] : []));
    const allocations = claimed.flatMap(({ result }) => ('reason' in result ? (result.kept === undefined ? [] : [result.kept]) : [result]));
    if (plan.requireBoth && allocations.length < 2) {
      return this.#revert(key, before, failures, `RequireDualStack: spec.ipFamilyPolicy is RequireDualStack, but no VirtualIPPool this Service may use gives it both families (${failures.map((f) => `${f.family}: ${failureNote(f)}`).join('; ')}). Use PreferDualStack, or have a cluster admin add the missing family to a pool's spec.allocation.`);
    }
    if (allocations.length === 0) return { allocations: before, failures, kept: before.length > 0, refusal: undefined };
    const kept = claimed.some(({ result }) => 'reason' in result && result.kept !== undefined);
    if (!kept) {
      for (const b of before) if (!allocations.some((a) => a.address === b.address)) this.allocator.release(key, familyOf(b.address));
    }
    return { allocations, failures, kept, refusal: undefined };
  }

  /** Puts the Service's allocations back to `before` (same synchronous step: nobody else took them). */
  #revert(key: string, before: readonly Allocation[], failures: AllocationOutcome['failures'], refusal: string): AllocationOutcome {
    this.allocator.release(key);
    for (const b of before) this.allocator.record(key, b);
    return { allocations: before, failures, kept: before.length > 0, refusal };
  }

  /** An address was freed: Services still waiting for one try again. */
  #freed(): void {
    for (const key of this.#waiting) this.#o.enqueue('Service', key);
  }

  async #withdraw(key: string, raw: KubeObject | undefined, svc: Service | undefined): Promise<void> {
    const released = this.allocator.release(key);
    this.#waiting.delete(key);
    // A gone Service is reconciled again when its last derived VirtualIP is removed: only then is the address usable.
    if (released.length > 0 || raw === undefined) this.#freed();
    const derived = this.#o.cache.derivedVips(key).filter((v) => svc === undefined || derivedFrom(v, svc.metadata));
    const addresses = new Set<string>([...released.map((r) => r.address),
      ...derived.map((v) => (v['spec'] as { address?: string } | undefined)?.address).filter((a): a is string => a !== undefined)]);
    await this.#removeVips(key, svc, new Set());
    if (raw !== undefined && svc !== undefined && svc.status?.loadBalancer?.ingress?.some((i) => i.ip !== undefined && addresses.has(i.ip)) === true) {
      await this.#writeIngress(svc, []);
    }
    if (released.length > 0 && raw !== undefined) {
      this.#event(raw, key, { type: 'Normal', reason: EventReason.IPReleased, note: `Released IP [${released.map((r) => `"${r.address}"`).join(',')}]: the Service is no longer of type LoadBalancer with loadBalancerClass ${this.#o.settings.loadBalancerClass}` });
    }
    if (raw === undefined) this.#lastEvent.delete(key);
  }

  /** Writes (or, with no address, removes) the ingress entries when they differ. */
  async #writeIngress(svc: Service, addresses: readonly string[]): Promise<void> {
    const ingress = svc.status?.loadBalancer?.ingress ?? [];
    const want = addresses.map((ip) => ({ ip, ipMode: 'VIP' }));
    if (JSON.stringify(ingress.map((i) => ({ ip: i.ip, ipMode: i.ipMode }))) === JSON.stringify(want)) return;
    const written = await this.#o.client.patchStatus(Resources.service, svc.metadata.name,
      { loadBalancer: want.length === 0 ? null : { ingress: want } }, svc.metadata.namespace);
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

interface AllocationOutcome {
  /** What the Service is served at, primary family first. */
  readonly allocations: readonly Allocation[];
  readonly failures: readonly (AllocationFailure & { readonly family: string })[];
  /** Serving what it held because the request cannot be met. */
  readonly kept: boolean;
  /** The request as a whole is refused (RequireDualStack without both families, two addresses of one family). */
  readonly refusal: string | undefined;
}

function failureNote(f: AllocationFailure | undefined): string {
  return f === undefined ? '' : `${f.reason}: ${f.message}`;
}
