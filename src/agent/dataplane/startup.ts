// Start-up without disruption. Three cases, decided by the pins under --bpffs:
//   created     nothing pinned: load, create one connection table per forwarding
//               CPU on its NUMA node, pin maps, attach, pin the program, and pin
//               the settings map last (the "complete" marker, see pins.ts);
//   adopted     pinned and the attached program is the same build (same tag):
//               nothing is reloaded or re-attached, connection tables are kept;
//   upgraded    pinned but another build is attached: the new object is loaded
//               on the pinned maps (reuse) and swapped in with an atomic
//               expected-old-program replace, then the program pin is updated.
// Pins of layout 1 (one global QUIC server-id table) are upgraded explicitly
// (upgradeV1); pins of layout 2 get layout 3's vip_buckets on the way
// (adopt). Any other LAYOUT_VERSION, or maps sized differently from the
// configuration, is refused with an explanation: never silently recreated.
// With --xdp-chain the same three cases hold, but "attach" and "replace" are
// done on the balancer slot of the chain's stage array (chain.ts).

import { SterletError } from '../../common/errors.ts';
import { BpfMap, BpfProgram, xdpAttach, xdpQuery, type XdpMode } from '../../libbpf/libbpf.ts';
import { encodeSettings, u32, type Settings } from './codec.ts';
import { LAYOUT_V1, LAYOUT_V2, LAYOUT_VERSION, Size } from './layout.ts';
import { copyV1QuicEntries, installVipBuckets, openV1Pins, removeLegacyPins, type KeptMaps } from './migrate.ts';
import { createConnTable, openBalancer, type Balancer, type BalancerMaps, type BalancerSizes, type ForwardingCpu } from './loader.ts';
import type { Limits } from '../plan/model.ts';
import { BALANCER_PINNED_MAPS, balancerPins, ensureDir, isComplete, removePins, repinProgram, type BalancerPins } from './pin-layout.ts';
import { createRingMap, limitsOf, openPinned, pinnedLayout, pinnedSizes } from './open-pinned.ts';
import { installInChain, isChained, type ChainInstall, type ChainTarget } from './chain.ts';

export { createRingMap, limitsOf, openPinnedBalancer } from './open-pinned.ts';
import type { Log } from '../../common/log.ts';

export interface StartBalancerOptions {
  readonly interfaceName: string;
  readonly ifindex: number;
  readonly bpffs: string;
  readonly xdpMode: XdpMode;
  /** Program build to run (default build/bpf/balancer.bpf.o); another path = upgrade. */
  readonly objectPath?: string | undefined;
  readonly sizes: BalancerSizes;
  readonly forwardingCpus: readonly ForwardingCpu[];
  /** Runtime settings; written on every start (the layout version is kept). */
  readonly settings: Settings;
  /** --xdp-chain: run as the last stage of a chain of XDP programs (chain.ts) instead of alone. */
  readonly chain?: boolean | undefined;
  /** Root program build of the chain (default build/bpf/chain.bpf.o). */
  readonly chainObject?: string | undefined;
  readonly log: Log;
}

export type StartOutcome = 'created' | 'adopted' | 'upgraded' | 'reattached';

export interface RunningBalancer {
  readonly maps: BalancerMaps;
  readonly sizes: BalancerSizes;
  /** For plan(): usable real indices are 1..sizes.maxReals-1. */
  readonly limits: Limits;
  readonly outcome: StartOutcome;
  readonly programId: number;
  readonly programTag: string;
  /** The program on the interface: the balancer, or with --xdp-chain the chain's root (what "still attached" checks look for). */
  readonly interfaceProgramId: number;
  readonly xdpMode: XdpMode;
  /** Closes this process's fds; the pinned, attached dataplane stays. */
  close(): void;
}

export function startBalancer(o: StartBalancerOptions): RunningBalancer {
  const pins = balancerPins(o.bpffs);
  ensureDir(pins.dir);
  return isComplete(pins) ? adopt(o, pins) : create(o, pins);
}

function create(o: StartBalancerOptions, pins: BalancerPins): RunningBalancer {
  const attached = xdpQuery(o.ifindex);
  let expectedOld: BpfProgram | undefined;
  // In a chain, what is attached is a filter to keep in front (or a root left by a died start): chain.ts decides.
  if (attached.progId !== 0 && o.chain !== true) {
    const prog = BpfProgram.fromId(attached.progId);
    // A start that died after attaching but before pinning the marker left its
    // maps pinned here; its program uses them and may be replaced. Anything
    // else belongs to someone else.
    const info = prog.info();
    let leftoverVips: number | undefined;
    try {
      const m = BpfMap.fromPinned(pins.map('vips'));
      leftoverVips = m.info().id;
      m.close();
    } catch {
      leftoverVips = undefined;
    }
    if (leftoverVips === undefined || !info.mapIds.includes(leftoverVips)) {
      prog.close();
      throw new SterletError('AGENT_XDP_BUSY', `interface ${o.interfaceName} already runs XDP program ${info.name} (id ${info.id})`, {
        why: `it does not use maps pinned under ${o.bpffs}, so it is not a dataplane this agent can adopt`,
        fix: `detach it (ip link set dev ${o.interfaceName} xdp off, or sterlet detach with the --bpffs its agent used) or point --bpffs at that agent's directory`,
      });
    }
    expectedOld = prog;
  }
  const leftovers = removePins(pins.dir);
  ensureDir(pins.dir);
  if (leftovers.length > 0) o.log.warn({ leftovers }, 'removed pins of an incomplete earlier start (no traffic used them)');

  let balancer: Balancer;
  const ring = createRingMap(o.sizes);
  try {
    balancer = openBalancer({
      ...(o.objectPath === undefined ? {} : { objectPath: o.objectPath }),
      sizes: o.sizes,
      forwardingCpus: o.forwardingCpus,
      reuseMaps: { ring: ring.fd },
    });
  } finally {
    ring.close(); // the object holds its own reference
  }
  try {
    balancer.maps.settings.update(u32(0), encodeSettings({ ...o.settings, layoutVersion: LAYOUT_VERSION }));
    for (const name of BALANCER_PINNED_MAPS) if (name !== 'settings') balancer.maps[name]?.pin(pins.map(name));
    const program = balancer.program();
    if (o.chain === true) {
      // Maps were just created: a balancer attached here belongs to someone else and is not a stage.
      const chained = installInChain(chainTarget(o, pins, () => false), program);
      balancer.maps.settings.pin(pins.marker);
      o.log.info({ bpffs: pins.dir, programId: chained.balancerId, tag: chained.balancerTag, mode: chained.mode, cpus: o.forwardingCpus, chain: chainFields(chained) }, 'dataplane created and attached');
      return running(pins, o.sizes, 'created', chained.balancerId, chained.balancerTag, chained.mode, chained.rootId);
    }
    const mode = expectedOld === undefined ? o.xdpMode : attached.mode === 'none' ? o.xdpMode : attached.mode;
    xdpAttach(o.ifindex, program.fd, { mode, ...(expectedOld === undefined ? {} : { expectedOldFd: expectedOld.fd }) });
    repinProgram(program, pins.program);
    balancer.maps.settings.pin(pins.marker);
    const info = program.info();
    o.log.info({ bpffs: pins.dir, programId: info.id, tag: info.tag, mode, cpus: o.forwardingCpus }, 'dataplane created and attached');
    return running(pins, o.sizes, 'created', info.id, info.tag, mode);
  } catch (err) {
    removePins(pins.dir);
    throw err;
  } finally {
    expectedOld?.close();
    balancer.close();
  }
}

function adopt(o: StartBalancerOptions, pins: BalancerPins): RunningBalancer {
  const layout = pinnedLayout(pins);
  if (layout === LAYOUT_V1) return upgradeV1(o, pins);
  const maps = openPinned(pins);
  let balancer: Balancer | undefined;
  try {
    if (layout !== LAYOUT_VERSION && layout !== LAYOUT_V2) {
      throw new SterletError('AGENT_LAYOUT_MISMATCH', `the maps pinned under ${pins.dir} have layout version ${layout}; this agent's program needs ${LAYOUT_VERSION}`, {
        why: 'map key/value layouts changed between these versions; reusing the maps would misprogram the dataplane, and recreating them would drop every tracked connection',
        fix: `run the agent version that created them, or accept losing connection state: sterlet detach --interface ${o.interfaceName} --bpffs ${pins.dir}, then start this agent`,
      });
    }
    if (layout === LAYOUT_VERSION && maps.vipBuckets === undefined) throw incomplete(pins, 'vip_buckets is not pinned');
    const sizes = checkSizes(maps, o, pins);
    ensureConnTables(maps, sizes, o);
    balancer = openBalancer({
      ...(o.objectPath === undefined ? {} : { objectPath: o.objectPath }),
      sizes,
      forwardingCpus: [],
      reuseMaps: Object.fromEntries(BALANCER_PINNED_MAPS.flatMap((n) => (maps[n] ? [[n, maps[n].fd]] : []))),
    });
    // Layout 2 -> 3: the mirror of vips is complete before the new program, which relies on it, runs.
    if (layout === LAYOUT_V2) installVipBuckets(pins, maps.vips, balancer.maps.vipBuckets!, maps.vipBuckets !== undefined);
    const swap = swapIn(o, pins, maps.vips, balancer);
    // Settings the operator may have changed (gateway MAC, MTU, ...) take effect now; layout 3 is recorded last.
    maps.settings.update(u32(0), encodeSettings({ ...o.settings, layoutVersion: LAYOUT_VERSION }));
    if (layout === LAYOUT_V2) {
      o.log.info(
        { bpffs: pins.dir, outcome: swap.outcome, from: LAYOUT_V2, to: LAYOUT_VERSION, programId: swap.id, tag: swap.tag, mode: swap.mode },
        `dataplane ${swap.outcome}; map layout upgraded from ${LAYOUT_V2} to ${LAYOUT_VERSION} (vip_buckets mirror of vips; connection tables kept)`,
      );
    } else {
      o.log.info({ bpffs: pins.dir, outcome: swap.outcome, programId: swap.id, tag: swap.tag, mode: swap.mode }, `dataplane ${swap.outcome}`);
    }
    return running(pins, sizes, swap.outcome, swap.id, swap.tag, swap.mode, swap.interfaceId);
  } finally {
    balancer?.close();
    for (const name of BALANCER_PINNED_MAPS) maps[name]?.close();
  }
}

function incomplete(pins: BalancerPins, why: string): SterletError {
  return new SterletError('AGENT_PINS_INCOMPLETE', `the pinned dataplane under ${pins.dir} is incomplete`, {
    why,
    fix: `remove it with sterlet detach --bpffs ${pins.dir} --interface IF (drops connection state), then start again`,
  });
}

/**
 * Pins of layout 1 (global QUIC table): load this program on every pinned map
 * but that table, fill a new quic_reals with what the old program routed, pin
 * it, swap the program atomically, then drop the old table and record layout
 * 2. A crash at any step leaves layout 1 recorded and this path runs again
 * (reusing a quic_reals already pinned); the old program keeps forwarding
 * until the swap, the new one forwards the same flows after it.
 */
function upgradeV1(o: StartBalancerOptions, pins: BalancerPins): RunningBalancer {
  const v1 = openV1Pins(pins);
  let balancer: Balancer | undefined;
  try {
    const sizes = checkSizes(v1.maps, o, pins);
    ensureConnTables(v1.maps, sizes, o);
    const kept = Object.fromEntries(Object.entries(v1.maps).map(([n, m]) => [n, (m as BpfMap).fd]));
    balancer = openBalancer({
      ...(o.objectPath === undefined ? {} : { objectPath: o.objectPath }),
      sizes,
      forwardingCpus: [],
      reuseMaps: {
        ...kept,
        ...(v1.quicReals === undefined ? {} : { quicReals: v1.quicReals.fd }),
        ...(v1.vipBuckets === undefined ? {} : { vipBuckets: v1.vipBuckets.fd }),
      },
    });
    const copied = v1.legacy === undefined ? 0 : copyV1QuicEntries(v1.legacy, v1.maps.vips, balancer.maps.quicReals);
    if (v1.quicReals === undefined) balancer.maps.quicReals.pin(pins.map('quicReals'));
    installVipBuckets(pins, v1.maps.vips, balancer.maps.vipBuckets!, v1.vipBuckets !== undefined);
    const swap = swapIn(o, pins, v1.maps.vips, balancer);
    removeLegacyPins(pins);
    v1.maps.settings.update(u32(0), encodeSettings({ ...o.settings, layoutVersion: LAYOUT_VERSION }));
    o.log.info(
      { bpffs: pins.dir, outcome: swap.outcome, from: LAYOUT_V1, to: LAYOUT_VERSION, quicEntriesCopied: copied, programId: swap.id, tag: swap.tag, mode: swap.mode },
      `dataplane ${swap.outcome}; map layout upgraded from ${LAYOUT_V1} to ${LAYOUT_VERSION} (QUIC server ids per VIP; vip_buckets mirror of vips)`,
    );
    return running(pins, sizes, swap.outcome, swap.id, swap.tag, swap.mode, swap.interfaceId);
  } finally {
    balancer?.close();
    v1.close();
  }
}

interface Swap {
  readonly outcome: StartOutcome;
  readonly id: number;
  readonly tag: string;
  readonly mode: XdpMode;
  /** The chain's root with --xdp-chain; else the balancer itself. */
  readonly interfaceId?: number;
}

/** Puts the freshly loaded program in place of the attached one: kept if the same build, else an atomic replace. */
function swapIn(o: StartBalancerOptions, pins: BalancerPins, vips: BpfMap, balancer: Balancer): Swap {
  const fresh = balancer.program();
  if (o.chain === true) return swapInChain(o, pins, vips, fresh);
  if (isChained(pins.dir)) {
    throw new SterletError('AGENT_XDP_CHAIN_MODE', `the dataplane pinned under ${pins.dir} runs as the last stage of an XDP chain`, {
      why: 'it was started with --xdp-chain; attaching the balancer alone would take the filter in front of it off the interface',
      fix: 'start the agent with --xdp-chain again, or leave the chain first: sterlet detach (drops connection state), then start without it',
    });
  }
  const freshInfo = fresh.info();
  const q = xdpQuery(o.ifindex);
  if (q.progId === 0 || q.mode === 'none') {
    xdpAttach(o.ifindex, fresh.fd, { mode: o.xdpMode });
    repinProgram(fresh, pins.program);
    o.log.warn({ interface: o.interfaceName }, 'pinned maps found but no program attached: attached it again');
    return { outcome: 'reattached', id: freshInfo.id, tag: freshInfo.tag, mode: o.xdpMode };
  }
  const attachedProg = BpfProgram.fromId(q.progId);
  try {
    const info = attachedProg.info();
    if (!info.mapIds.includes(vips.info().id)) {
      throw new SterletError('AGENT_XDP_BUSY', `interface ${o.interfaceName} runs XDP program ${info.name} (id ${info.id}) that does not use the maps pinned under ${pins.dir}`, {
        why: 'another balancer or tool owns this interface',
        fix: `detach it (ip link set dev ${o.interfaceName} xdp off) or pass the --bpffs directory of the agent that attached it`,
      });
    }
    const mode = q.mode;
    if (mode !== o.xdpMode) o.log.warn({ attached: mode, requested: o.xdpMode }, `keeping the attached ${mode} XDP mode: switching modes is not atomic`);
    if (info.tag === freshInfo.tag) {
      repinProgram(attachedProg, pins.program);
      return { outcome: 'adopted', id: info.id, tag: info.tag, mode };
    }
    xdpAttach(o.ifindex, fresh.fd, { mode, expectedOldFd: attachedProg.fd });
    repinProgram(fresh, pins.program);
    o.log.info({ from: { id: info.id, tag: info.tag }, to: { id: freshInfo.id, tag: freshInfo.tag } }, 'program replaced atomically (expected-old-program)');
    return { outcome: 'upgraded', id: freshInfo.id, tag: freshInfo.tag, mode };
  } finally {
    attachedProg.close();
  }
}

/** The balancer slot of the chain gets this build: kept when it is the same, else one atomic slot update. */
function swapInChain(o: StartBalancerOptions, pins: BalancerPins, vips: BpfMap, fresh: BpfProgram): Swap {
  const vipsId = vips.info().id;
  const c = installInChain(chainTarget(o, pins, (attached) => attached.mapIds.includes(vipsId)), fresh);
  const outcome: StartOutcome = c.root === 'kept' ? (c.slot === 'kept' ? 'adopted' : 'upgraded') : c.slot === 'kept' ? 'reattached' : 'upgraded';
  if (outcome === 'upgraded') o.log.info({ to: { id: c.balancerId, tag: c.balancerTag }, chain: chainFields(c) }, 'program replaced atomically (balancer slot of the XDP chain)');
  return { outcome, id: c.balancerId, tag: c.balancerTag, mode: c.mode, interfaceId: c.rootId };
}

function chainTarget(o: StartBalancerOptions, pins: BalancerPins, isOwnBalancer: ChainTarget['isOwnBalancer']): ChainTarget {
  return { interfaceName: o.interfaceName, ifindex: o.ifindex, bpffs: pins.dir, xdpMode: o.xdpMode, balancerPin: pins.program, chainObject: o.chainObject, isOwnBalancer, log: o.log };
}

function chainFields(c: ChainInstall): object {
  return { rootId: c.rootId, root: c.root, slot: c.slot, upstream: c.upstream ?? null };
}

function checkSizes(maps: KeptMaps, o: StartBalancerOptions, pins: BalancerPins): BalancerSizes {
  const pinned = pinnedSizes(maps);
  const wanted = o.sizes;
  const diff = (['maxVips', 'maxReals', 'ringSize'] as const).filter((k) => pinned[k] !== wanted[k]);
  if (diff.length > 0) {
    const text = diff.map((k) => `${k} ${pinned[k]} pinned vs ${wanted[k]} configured`).join(', ');
    throw new SterletError('AGENT_SIZE_MISMATCH', `the dataplane pinned under ${pins.dir} was sized differently: ${text}`, {
      why: 'map sizes are fixed when the maps are created; the loaded program and every ring index depend on them',
      fix: `start with the pinned sizes (--ring-size ${pinned.ringSize} --max-vips ${pinned.maxVips} --max-reals ${pinned.maxReals - 1}), or resize by detaching first (drops connection state)`,
    });
  }
  if (pinned.lruSize !== 0 && pinned.lruSize !== wanted.lruSize) {
    o.log.warn({ pinned: pinned.lruSize, configured: wanted.lruSize }, 'keeping the pinned connection-table size (--lru-size applies to newly created tables)');
  }
  return { ...wanted, lruSize: pinned.lruSize || wanted.lruSize, fallbackLruSize: pinned.fallbackLruSize };
}

/** Forwarding CPUs added since the maps were created get their own NUMA-local table. */
function ensureConnTables(maps: Pick<KeptMaps, 'connTables'>, sizes: BalancerSizes, o: StartBalancerOptions): void {
  for (const { cpu, numaNode } of o.forwardingCpus) {
    if (cpu >= maps.connTables.maxEntries) continue;
    const current = maps.connTables.lookup(u32(cpu));
    if (current !== undefined && current.readUInt32LE(0) !== 0) continue;
    const table = createConnTable(cpu, numaNode, sizes.lruSize);
    try {
      maps.connTables.update(u32(cpu), u32(table.fd));
      o.log.info({ cpu, numaNode }, 'connection table created for a new forwarding CPU');
    } finally {
      table.close();
    }
  }
}

function running(pins: BalancerPins, sizes: BalancerSizes, outcome: StartOutcome, programId: number, programTag: string, xdpMode: XdpMode, interfaceProgramId = programId): RunningBalancer {
  const maps = openPinned(pins);
  return {
    maps,
    sizes,
    limits: limitsOf(sizes),
    outcome,
    programId,
    programTag,
    interfaceProgramId,
    xdpMode,
    close: () => {
      for (const name of BALANCER_PINNED_MAPS) maps[name]?.close();
    },
  };
}
