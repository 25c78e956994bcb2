// Opens the balancer / decap objects with this node's sizes, creates one
// connection table per forwarding CPU on that CPU's NUMA node, loads, and hands
// back typed map handles. Loading only: pinning and adoption of pinned maps sit
// on top (pass their fds as `reuseMaps`), so a test or benchmark can load a
// private copy and an agent can build upgrade logic around the same function.

import { fileURLToPath } from 'node:url';
import { SterletError } from '../../common/errors.ts';
import { BPF_F_NO_COMMON_LRU, BpfMap, BpfObject, BpfProgram, isBpfError, MapType, possibleCpus } from '../../libbpf/libbpf.ts';
import { hostTickNs } from '../host/kernel-hz.ts';
import { encodeLimits, u32 } from './codec.ts';
import { statsEntries } from './counters.ts';
import { BALANCER_PROGRAM, BalancerMap, CLOCK_RODATA, DECAP_PROGRAM, FLOW_CACHE_DATA, DecapMap, Defaults, LAYOUT_V1, LAYOUT_V2, LAYOUT_VERSION, LegacyMap, Size } from './layout.ts';

export interface BalancerSizes {
  readonly maxVips: number;
  readonly maxReals: number;
  /** Prime; slots per VIP ring. */
  readonly ringSize: number;
  /** Entries of each per-CPU connection table. */
  readonly lruSize: number;
  readonly fallbackLruSize: number;
}

export interface ForwardingCpu {
  readonly cpu: number;
  /** NUMA node of that CPU; the table is allocated there (BPF_F_NUMA_NODE). */
  readonly numaNode?: number | undefined;
}

export type BalancerMapName = keyof typeof BalancerMap;

export interface OpenBalancerOptions {
  /** Default: build/bpf/balancer.bpf.o of this checkout. */
  readonly objectPath?: string;
  readonly sizes?: Partial<BalancerSizes>;
  /** CPUs that get their own connection table; default every possible CPU (no NUMA hint). */
  readonly forwardingCpus?: readonly ForwardingCpu[];
  /**
   * Create the per-CPU tables with BPF_F_NO_COMMON_LRU (per-CPU LRU lists).
   * Default false: each table is written by one CPU only, so the common LRU is
   * uncontended and keeps all lruSize entries usable by that CPU (per-CPU lists
   * would give it lruSize / possible CPUs), and the kernel refuses per-CPU
   * lists on a NUMA node. The shared fallback table does use per-CPU lists.
   */
  readonly noCommonLru?: boolean;
  /** Programs to load; default [balancer_ingress]. Others in the object are skipped. */
  readonly programs?: readonly string[];
  /** Existing maps (e.g. adopted pins) to use instead of creating them; conn_tables reused = no new tables. */
  readonly reuseMaps?: Readonly<Partial<Record<Exclude<BalancerMapName, 'rodata'>, number>>>;
  /**
   * Accept an object built with layout 1 (tests of the upgrade path, or of a
   * fixture against an older build): `maps.quicReals` is then that object's
   * global `quic_servers` ARRAY (u32 server id -> u32 real). Default: refused.
   */
  readonly legacyLayout?: boolean;
  /**
   * Nanoseconds per jiffy for the connection-table clock (bpf/include/clock.h);
   * 0 = read the clock with a helper call. Default: this host's (CONFIG_HZ).
   */
  readonly tickNs?: number;
}

export interface BalancerMaps {
  readonly vips: BpfMap;
  readonly reals: BpfMap;
  readonly ring: BpfMap;
  readonly connTables: BpfMap;
  readonly fallbackLru: BpfMap;
  readonly quicReals: BpfMap;
  /** The vips mirror (vip-buckets.ts); absent in objects of layouts 1 and 2. */
  readonly vipBuckets?: BpfMap;
  readonly settings: BpfMap;
  readonly stats: BpfMap;
}

export interface Balancer {
  readonly object: BpfObject;
  /** Map layout of the object (LAYOUT_VERSION, or LAYOUT_V1 with `legacyLayout`). */
  readonly layout: number;
  readonly sizes: BalancerSizes;
  readonly maps: BalancerMaps;
  /** cpu -> its connection table (created by this call). */
  readonly lrus: ReadonlyMap<number, BpfMap>;
  /** A loaded program of the object (default balancer_ingress); valid until close(). */
  program(name?: string): BpfProgram;
  /**
   * Drops every flow-cache slot (bpf/include/flow_cache.h): needed after user
   * space swaps a connection table or deletes entries under a running program,
   * which the cache would otherwise mirror for up to one atime unit.
   */
  invalidateFlowCache(): void;
  /** Closes the object and the tables it created (pinned/attached ones stay alive). */
  close(): void;
}

const repoFile = (rel: string): string => fileURLToPath(new URL(`../../../${rel}`, import.meta.url));
export const DEFAULT_BALANCER_OBJECT = repoFile('build/bpf/balancer.bpf.o');
export const DEFAULT_DECAP_OBJECT = repoFile('build/bpf/decap.bpf.o');

export function resolveSizes(sizes: Partial<BalancerSizes> = {}): BalancerSizes {
  const s: BalancerSizes = {
    maxVips: sizes.maxVips ?? Defaults.maxVips,
    maxReals: sizes.maxReals ?? Defaults.maxReals,
    ringSize: sizes.ringSize ?? Defaults.ringSize,
    lruSize: sizes.lruSize ?? Defaults.lruSize,
    fallbackLruSize: sizes.fallbackLruSize ?? Defaults.fallbackLruSize,
  };
  for (const [k, v] of Object.entries(s)) {
    if (!Number.isInteger(v) || v < 1) throw badSize(k, v, 'must be a positive integer');
  }
  if (s.maxVips * s.ringSize > 0xffffffff / 4) throw badSize('maxVips * ringSize', s.maxVips * s.ringSize, 'ring map would exceed 4 GiB');
  return s;
}

/**
 * One CPU's connection table, created on that CPU's NUMA node. A node hint the
 * kernel refuses is reported as such (the CPU and node are known here).
 */
export function createConnTable(cpu: number, numaNode: number | undefined, maxEntries: number, flags = 0): BpfMap {
  try {
    return BpfMap.create({
      type: MapType.LRU_HASH,
      name: `lru_cpu${cpu}`,
      keySize: Size.flowKey,
      valueSize: Size.lruVal,
      maxEntries,
      flags,
      ...(numaNode === undefined ? {} : { numaNode }),
    });
  } catch (err) {
    if (!isBpfError(err) || numaNode === undefined) throw err;
    throw new SterletError('AGENT_NUMA_NODE', `cannot create the connection table of CPU ${cpu} on NUMA node ${numaNode}`, {
      why: `the kernel refused the node hint (${err.errnoName}): node ${numaNode} does not exist or has no memory on this host`,
      fix: 'check the topology the agent read (--sysfs-root) and --forwarding-cpus; CPUs must map to nodes this kernel has',
      cause: err,
      details: { cpu, numaNode },
    });
  }
}

function badSize(name: string, value: number, why: string): SterletError {
  return new SterletError('DATAPLANE_BAD_SIZE', `dataplane size ${name} = ${value} is invalid`, { why, fix: 'pass sizes within the limits' });
}

/** Load the balancer with the given sizes and per-CPU connection tables. */
export function openBalancer(options: OpenBalancerOptions = {}): Balancer {
  const sizes = resolveSizes(options.sizes);
  const cpus: readonly ForwardingCpu[] = options.forwardingCpus ?? Array.from({ length: possibleCpus() }, (_, cpu) => ({ cpu }));
  if (options.noCommonLru === true && cpus.some((c) => c.numaNode !== undefined)) {
    throw new SterletError('DATAPLANE_LRU_FLAGS', 'per-CPU LRU lists cannot be combined with a NUMA node', {
      why: 'the kernel rejects BPF_F_NO_COMMON_LRU together with BPF_F_NUMA_NODE (EINVAL)',
      fix: 'drop noCommonLru (each table is used by one CPU, so the common LRU is uncontended) or the numaNode hints',
    });
  }
  const wanted = new Set(options.programs ?? [BALANCER_PROGRAM]);
  const reuse = options.reuseMaps ?? {};
  const objectPath = options.objectPath ?? DEFAULT_BALANCER_OBJECT;
  const obj = BpfObject.open(objectPath);
  const lrus = new Map<number, BpfMap>();
  try {
    const names = obj.maps();
    const layout = names.includes(LegacyMap.quicServers) ? LAYOUT_V1 : names.includes(BalancerMap.vipBuckets) ? LAYOUT_VERSION : LAYOUT_V2;
    if (layout !== LAYOUT_VERSION && options.legacyLayout !== true) {
      throw new SterletError('DATAPLANE_OBJECT_LAYOUT', `the balancer object ${objectPath} has map layout ${layout}; this agent needs ${LAYOUT_VERSION}`, {
        why:
          layout === LAYOUT_V1
            ? 'its QUIC server-id table is the global quic_servers of layout 1, not the per-VIP quic_reals this agent programs'
            : 'it has no vip_buckets map (layout 2): this agent keeps that mirror of vips beside vips',
        fix: 'build bpf/ of this agent version (make bpf) and pass that object to --bpf-object',
      });
    }
    for (const name of obj.programs()) obj.program(name).setAutoload(wanted.has(name));
    obj.map(BalancerMap.rodata).setInitialValue(encodeLimits(sizes));
    // Objects built before the jiffies clock have no such section.
    if (names.includes(CLOCK_RODATA)) obj.map(CLOCK_RODATA).setInitialValue(u32(options.tickNs ?? hostTickNs()));
    // Each VIP plus at most one address entry per VIP.
    obj.map(BalancerMap.vips).setMaxEntries(sizes.maxVips * 2);
    obj.map(BalancerMap.reals).setMaxEntries(sizes.maxReals);
    obj.map(BalancerMap.ring).setMaxEntries(sizes.maxVips * sizes.ringSize);
    obj.map(BalancerMap.connTables).setMaxEntries(possibleCpus());
    obj.map(BalancerMap.fallbackLru).setMaxEntries(sizes.fallbackLruSize);
    obj.map(BalancerMap.stats).setMaxEntries(statsEntries(sizes.maxVips, sizes.maxReals));
    for (const [name, fd] of Object.entries(reuse)) obj.map(BalancerMap[name as keyof typeof reuse]).reuseFd(fd);

    if (reuse.connTables === undefined) {
      for (const { cpu, numaNode } of cpus) {
        lrus.set(cpu, createConnTable(cpu, numaNode, sizes.lruSize, options.noCommonLru === true ? BPF_F_NO_COMMON_LRU : 0));
      }
      // The kernel checks inner maps against the template's type/sizes/flags:
      // use a real table so NUMA flags match; with no tables, the BTF template.
      const first = lrus.values().next().value;
      if (first !== undefined) obj.map(BalancerMap.connTables).setInnerMap(first.fd);
    }
    obj.load();
    const borrow = (name: string): BpfMap => new BpfMap(obj.map(name).fd, { owned: false });
    const maps: BalancerMaps = {
      vips: borrow(BalancerMap.vips),
      reals: borrow(BalancerMap.reals),
      ring: borrow(BalancerMap.ring),
      connTables: borrow(BalancerMap.connTables),
      fallbackLru: borrow(BalancerMap.fallbackLru),
      quicReals: borrow(layout === LAYOUT_V1 ? LegacyMap.quicServers : BalancerMap.quicReals),
      ...(layout === LAYOUT_VERSION ? { vipBuckets: borrow(BalancerMap.vipBuckets) } : {}),
      settings: borrow(BalancerMap.settings),
      stats: borrow(BalancerMap.stats),
    };
    for (const [cpu, m] of lrus) maps.connTables.update(u32(cpu), u32(m.fd));
    // Objects built before the flow cache have no such section, and nothing to drop.
    const flowCacheEpoch = names.includes(FLOW_CACHE_DATA) ? borrow(FLOW_CACHE_DATA) : undefined;
    return {
      object: obj,
      layout,
      sizes,
      maps,
      lrus,
      program: (name = BALANCER_PROGRAM) => new BpfProgram(obj.program(name).fd, { owned: false }),
      invalidateFlowCache: () => {
        const now = flowCacheEpoch?.lookup(u32(0));
        if (now !== undefined) flowCacheEpoch!.update(u32(0), u32((now.readUInt32LE(0) + 1) >>> 0));
      },
      close: () => {
        for (const m of lrus.values()) m.close();
        obj.close();
      },
    };
  } catch (err) {
    for (const m of lrus.values()) m.close();
    obj.close();
    throw err;
  }
}

export interface DecapMaps {
  readonly addrs: BpfMap;
  readonly settings: BpfMap;
  readonly stats: BpfMap;
}

export interface Decap {
  readonly object: BpfObject;
  readonly maps: DecapMaps;
  readonly program: BpfProgram;
  close(): void;
}

export interface OpenDecapOptions {
  readonly objectPath?: string;
  /** Local tunnel endpoint addresses the map can hold. */
  readonly maxAddrs?: number;
  readonly reuseMaps?: Readonly<Partial<Record<keyof typeof DecapMap, number>>>;
}

/** Load the backend decap program. */
export function openDecap(options: OpenDecapOptions = {}): Decap {
  const obj = BpfObject.open(options.objectPath ?? DEFAULT_DECAP_OBJECT);
  try {
    obj.map(DecapMap.addrs).setMaxEntries(options.maxAddrs ?? Defaults.maxDecapAddrs);
    for (const [name, fd] of Object.entries(options.reuseMaps ?? {})) obj.map(DecapMap[name as keyof typeof DecapMap]).reuseFd(fd);
    obj.load();
    const borrow = (name: string): BpfMap => new BpfMap(obj.map(name).fd, { owned: false });
    return {
      object: obj,
      maps: { addrs: borrow(DecapMap.addrs), settings: borrow(DecapMap.settings), stats: borrow(DecapMap.stats) },
      program: new BpfProgram(obj.program(DECAP_PROGRAM).fd, { owned: false }),
      close: () => obj.close(),
    };
  } catch (err) {
    obj.close();
    throw err;
  }
}
