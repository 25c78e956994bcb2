// Service address allocation from VirtualIPPool spec.allocation. One
// allocator per leader, and every decision (read what is free, record it) is
// synchronous, so concurrent Service reconciles can never pick the same
// address. Deterministic: pools by name, ranges in order, lowest free address
// first. Ownership is rebuilt from Service status and the derived VirtualIPs
// when a replica becomes leader.
import { cidrContains, formatCidr, formatIp, type IpFamily, isGlobalUnicast, parseCidr, parseIp, type ParsedCidr } from '../../api/ip.ts';
import type { Protocol } from '../../api/meta.ts';
import type { PoolAdmission, PreparedPool } from '../../compile/pools.ts';
import { matchesSelector } from '../../compile/selector.ts';
import { bigToIp, HeldIndex, ipToBig } from './held-index.ts';

export const AllocationReason = {
  InvalidAddress: 'InvalidAddress',
  AddressInUse: 'AddressInUse',
  AddressNotAllowed: 'AddressNotAllowed',
  PoolNotFound: 'PoolNotFound',
  PoolNotAllowed: 'PoolNotAllowed',
  NoPool: 'NoPool',
  PoolExhausted: 'PoolExhausted',
} as const;
export type AllocationReason = (typeof AllocationReason)[keyof typeof AllocationReason];

export interface AllocationRequest {
  /** namespace/name of the Service. */
  readonly service: string;
  readonly namespace: string;
  /** A requested address and the field it came from (annotation or spec.loadBalancerIP). */
  readonly address?: { readonly value: string; readonly field: string } | undefined;
  /** A requested pool (annotation sterlet.dev/pool). */
  readonly pool?: string | undefined;
  readonly family: IpFamily;
  readonly ports: readonly { readonly port: number; readonly protocol: Protocol }[];
}

export interface Allocation {
  readonly address: string;
  readonly pool: string;
}

export interface AllocationFailure {
  readonly reason: AllocationReason;
  /** Field of the Service at fault. */
  readonly field: string;
  readonly message: string;
}

export interface AllocationContext {
  readonly pools: readonly PreparedPool[];
  readonly admission: PoolAdmission;
  /** Who else uses an address (a VirtualIP not derived from this Service), or undefined. */
  readonly usedBy: (address: string, service: string) => string | undefined;
}

/** The allocation ranges of a pool (spec.allocation.addresses, else spec.addresses); none without spec.allocation. */
function ranges(pool: PreparedPool): ParsedCidr[] {
  const allocation = pool.source.spec.allocation;
  if (allocation === undefined) return [];
  if (allocation.addresses === undefined) return [...pool.addresses];
  return allocation.addresses.map(parseCidr).filter((c): c is ParsedCidr => c !== undefined);
}

/** Why a pool may not serve this Service (namespace, ports, protocols), or undefined. */
function refusal(pool: PreparedPool, req: AllocationRequest, admission: PoolAdmission): string | undefined {
  const spec = pool.source.spec;
  const labels = admission.namespaceLabels.get(req.namespace) ?? { 'kubernetes.io/metadata.name': req.namespace };
  if (!matchesSelector(spec.namespaceSelector, labels)) return `${pool.name}: namespace ${req.namespace} not selected`;
  const badPort = req.ports.find((p) => spec.ports !== undefined && !spec.ports.includes(p.port));
  if (badPort !== undefined) return `${pool.name}: port ${badPort.port} not in ${spec.ports?.join(', ')}`;
  const badProto = req.ports.find((p) => spec.protocols !== undefined && !spec.protocols.includes(p.protocol));
  if (badProto !== undefined) return `${pool.name}: protocol ${badProto.protocol} not in ${spec.protocols?.join(', ')}`;
  return undefined;
}

/** First and last allocatable integer of a range: the IPv4 network/broadcast and IPv6 subnet-router addresses are skipped. */
function bounds(range: ParsedCidr): { first: bigint; last: bigint } {
  const bits = range.family === 'IPv4' ? 32 : 128;
  const size = 1n << BigInt(bits - range.prefixLength);
  const base = ipToBig(range);
  const first = size > 2n ? 1n : 0n;
  const last = range.family === 'IPv4' && size > 2n ? size - 2n : size - 1n;
  return { first: base + first, last: base + last };
}

/** The first pool (by name) whose allocation ranges hold `address`: rebuilding ownership after a restart. */
export function poolFor(address: string, pools: readonly PreparedPool[]): string | undefined {
  const ip = parseIp(address);
  if (ip === undefined) return undefined;
  return pools.find((p) => ranges(p).some((r) => cidrContains(r, ip)))?.name;
}

/** The family of an allocated (formatted) address. */
export function familyOf(address: string): IpFamily {
  return address.includes(':') ? 'IPv6' : 'IPv4';
}

export class AddressAllocator {
  readonly #owner = new Map<string, string>();
  /** Per Service, at most one address per family (dual-stack Services hold two). */
  readonly #of = new Map<string, Map<IpFamily, Allocation>>();
  /** The keys of #owner, sorted per family: the lowest free address by binary search. */
  readonly #held = new HeldIndex();

  /** The Service's address of `family`, else its first one. */
  addressOf(service: string, family?: IpFamily): Allocation | undefined {
    const held = this.#of.get(service);
    return family === undefined ? held?.values().next().value : held?.get(family);
  }

  addressesOf(service: string): Allocation[] {
    return [...(this.#of.get(service)?.values() ?? [])];
  }

  ownerOf(address: string): string | undefined {
    return this.#owner.get(address);
  }

  /** Records an allocation (replacing the Service's one of that family); false when another Service already holds the address. */
  record(service: string, allocation: Allocation): boolean {
    const owner = this.#owner.get(allocation.address);
    if (owner !== undefined && owner !== service) return false;
    const family = familyOf(allocation.address);
    this.release(service, family);
    this.#owner.set(allocation.address, service);
    const held = this.#of.get(service) ?? new Map<IpFamily, Allocation>();
    held.set(family, allocation);
    this.#of.set(service, held);
    const ip = parseIp(allocation.address);
    if (ip !== undefined) this.#held.add(ip);
    return true;
  }

  /** Frees the Service's address of `family`, or all of them; returns what was freed. */
  release(service: string, family?: IpFamily): Allocation[] {
    const held = this.#of.get(service);
    if (held === undefined) return [];
    const freed = family === undefined ? [...held.values()] : [held.get(family)].filter((a): a is Allocation => a !== undefined);
    for (const had of freed) {
      held.delete(familyOf(had.address));
      if (this.#owner.get(had.address) !== service) continue;
      this.#owner.delete(had.address);
      const ip = parseIp(had.address);
      if (ip !== undefined) this.#held.delete(ip);
    }
    if (held.size === 0) this.#of.delete(service);
    return freed;
  }

  /** Addresses held. */
  get size(): number {
    return this.#owner.size;
  }

  /**
   * The Service's address of the request's family: its current one while the
   * request and the pools still allow it, else a new one (recorded before
   * returning), else why not. A failed change keeps what the Service holds
   * (`kept`): a bad edit never takes a working address away; pool admission
   * still gates its VirtualIPs.
   */
  claim(req: AllocationRequest, ctx: AllocationContext): Allocation | (AllocationFailure & { readonly kept?: Allocation }) {
    const current = this.addressOf(req.service, req.family);
    if (current !== undefined && this.#stillValid(current, req, ctx)) return current;
    const result = req.address === undefined ? this.#pick(req, ctx) : this.#requested(req, req.address, ctx);
    if ('address' in result) {
      this.record(req.service, result);
      return result;
    }
    return current === undefined ? result : { ...result, kept: current };
  }

  #taken(address: string, req: AllocationRequest, ctx: AllocationContext): string | undefined {
    const owner = this.#owner.get(address);
    if (owner !== undefined && owner !== req.service) return `Service ${owner}`;
    return ctx.usedBy(address, req.service);
  }

  #stillValid(current: Allocation, req: AllocationRequest, ctx: AllocationContext): boolean {
    const requested = req.address === undefined ? undefined : parseIp(req.address.value);
    if (req.address !== undefined && (requested === undefined || formatIp(requested) !== current.address)) return false;
    if (req.pool !== undefined && req.pool !== current.pool) return false;
    const pool = ctx.pools.find((p) => p.name === current.pool);
    const ip = parseIp(current.address);
    if (pool === undefined || ip === undefined || (req.address === undefined && ip.family !== req.family)) return false;
    return ranges(pool).some((r) => cidrContains(r, ip)) && refusal(pool, req, ctx.admission) === undefined
      && ctx.usedBy(current.address, req.service) === undefined;
  }

  #requested(req: AllocationRequest, requested: { value: string; field: string }, ctx: AllocationContext): Allocation | AllocationFailure {
    const ip = parseIp(requested.value);
    if (ip === undefined || !isGlobalUnicast(ip)) {
      return { reason: AllocationReason.InvalidAddress, field: requested.field, message: `${requested.field} is "${requested.value}", which is not a unicast IPv4 or IPv6 address. Set it to an address such as 10.200.0.10, or remove it to get one allocated.` };
    }
    const address = formatIp(ip);
    const holder = this.#taken(address, req, ctx);
    if (holder !== undefined) {
      return { reason: AllocationReason.AddressInUse, field: requested.field, message: `${requested.field} asks for ${address}, which ${holder} already uses; an address is never shared by two Services. Ask for another address or remove ${requested.field}.` };
    }
    const reasons: string[] = [];
    for (const pool of ctx.pools) {
      if (req.pool !== undefined && pool.name !== req.pool) continue;
      const inside = ranges(pool).filter((r) => cidrContains(r, ip));
      if (inside.length === 0) continue;
      const why = refusal(pool, req, ctx.admission);
      if (why === undefined) return { address, pool: pool.name };
      reasons.push(why);
    }
    const detail = reasons.length > 0 ? reasons.join('; ') : `it is outside the allocation ranges of every VirtualIPPool${req.pool === undefined ? '' : ` named ${req.pool}`}`;
    return { reason: AllocationReason.AddressNotAllowed, field: requested.field, message: `${requested.field} asks for ${address}, but no VirtualIPPool allocates it to namespace ${req.namespace} (${detail}). Ask for an address from a pool's spec.allocation ranges that selects this namespace, or ask a cluster admin to extend one.` };
  }

  #pick(req: AllocationRequest, ctx: AllocationContext): Allocation | AllocationFailure {
    let candidates: PreparedPool[];
    if (req.pool !== undefined) {
      const pool = ctx.pools.find((p) => p.name === req.pool);
      if (pool === undefined) {
        return { reason: AllocationReason.PoolNotFound, field: 'metadata.annotations[sterlet.dev/pool]', message: `annotation sterlet.dev/pool names VirtualIPPool ${req.pool}, which does not exist. Name an existing pool or remove the annotation.` };
      }
      const why = pool.source.spec.allocation === undefined ? `${pool.name} has no spec.allocation, so it gives no addresses to Services` : refusal(pool, req, ctx.admission);
      if (why !== undefined) {
        return { reason: AllocationReason.PoolNotAllowed, field: 'metadata.annotations[sterlet.dev/pool]', message: `annotation sterlet.dev/pool names VirtualIPPool ${req.pool}, which this Service may not use (${why}). Name a pool that selects namespace ${req.namespace}, or remove the annotation.` };
      }
      candidates = [pool];
    } else {
      const reasons: string[] = [];
      candidates = [];
      for (const pool of ctx.pools) {
        const allocation = pool.source.spec.allocation;
        if (allocation === undefined) continue;
        if (!allocation.autoAssign) { reasons.push(`${pool.name}: autoAssign is false`); continue; }
        const why = refusal(pool, req, ctx.admission);
        if (why === undefined) candidates.push(pool);
        else reasons.push(why);
      }
      if (candidates.length === 0) {
        const detail = reasons.length > 0 ? reasons.join('; ') : 'no VirtualIPPool has spec.allocation';
        return { reason: AllocationReason.NoPool, field: 'spec.loadBalancerClass', message: `no VirtualIPPool allows namespace ${req.namespace} to allocate Service addresses (${detail}). A cluster admin must add spec.allocation to a pool whose namespaceSelector selects this namespace.` };
      }
    }
    const inFamily = candidates.flatMap((pool) => ranges(pool).filter((r) => r.family === req.family).map((range) => ({ pool, range })));
    if (inFamily.length === 0) {
      return { reason: AllocationReason.NoPool, field: 'spec.ipFamilies', message: `the Service is ${req.family}, but no VirtualIPPool it may use (${candidates.map((p) => p.name).join(', ')}) has ${req.family} allocation ranges. Ask for the other family or have a cluster admin add ${req.family} ranges.` };
    }
    const found = this.#lowestFree(req, ctx, inFamily);
    if (found !== undefined) return found;
    return { reason: AllocationReason.PoolExhausted, field: 'spec.loadBalancerClass', message: `every ${req.family} address of VirtualIPPool ${[...new Set(inFamily.map((c) => c.pool.name))].join(', ')} (${inFamily.map((c) => formatCidr(c.range)).join(', ')}) is in use. Delete an unused Service or ask a cluster admin to extend spec.allocation.` };
  }

  /**
   * The lowest address of the ranges (in order) that no other Service holds
   * and no VirtualIP uses: O(log n) per step in the held index; a step is
   * repeated only for an address a hand-written VirtualIP uses (or a
   * non-unicast one). The Service's own address counts as free, as before.
   */
  #lowestFree(req: AllocationRequest, ctx: AllocationContext, inFamily: readonly { pool: PreparedPool; range: ParsedCidr }[]): Allocation | undefined {
    const own = this.addressOf(req.service, req.family);
    const ownIp = own === undefined ? undefined : parseIp(own.address);
    if (ownIp !== undefined) this.#held.delete(ownIp);
    try {
      for (const { pool, range } of inFamily) {
        const { first, last } = bounds(range);
        for (let x = this.#held.firstFree(range.family, first); x <= last; x = this.#held.firstFree(range.family, x + 1n)) {
          const ip = bigToIp(x, range.family);
          const address = formatIp(ip);
          if (isGlobalUnicast(ip) && ctx.usedBy(address, req.service) === undefined) return { address, pool: pool.name };
        }
      }
      return undefined;
    } finally {
      if (ownIp !== undefined) this.#held.add(ownIp);
    }
  }
}
