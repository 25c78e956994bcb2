// --xdp-chain: the balancer as the last stage of a chain of XDP programs on
// one interface (Katran's root PROG_ARRAY). A root program (bpf/chain.bpf.c)
// is attached to the interface and tail-calls the stages of `xdp_stages` in
// slot order; a filter that already runs on the interface becomes slot 0, the
// balancer is always the last slot. A stage hands a packet on with
// xdp_stage_continue() (bpf/include/xdp_stage.h), so the chain uses the very
// stage array the filter was built with: it is found through the attached
// program's maps, pinned here, and the root is loaded on it.
// Upgrading the balancer is one map update of its slot; the interface keeps
// the root. Detaching puts the filter back on the interface, alone.
// (The libxdp dispatcher would be the standard alternative; docs/operations.md
// says why it cannot host the balancer here.)

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SterletError } from '../../common/errors.ts';
import type { Log } from '../../common/log.ts';
import { BpfMap, BpfObject, BpfProgram, MapType, unpin, xdpAttach, xdpDetach, xdpQuery, type ProgramInfo, type XdpMode } from '../../libbpf/libbpf.ts';
import { u32 } from './codec.ts';
import { repinProgram } from './pin-layout.ts';

/** bpf/include/xdp_stage.h */
export const CHAIN_PROGRAM = 'xdp_chain';
export const STAGES_MAP = 'xdp_stages';
export const STAGE_SLOTS = 8;
export const BALANCER_SLOT = STAGE_SLOTS - 1;
export const UPSTREAM_SLOT = 0;

export const DEFAULT_CHAIN_OBJECT = fileURLToPath(new URL('../../../build/bpf/chain.bpf.o', import.meta.url));

export interface ChainPins {
  readonly stages: string;
  readonly root: string;
}

export function chainPins(dir: string): ChainPins {
  return { stages: join(dir, 'chain_stages'), root: join(dir, 'chain_root_prog') };
}

export interface ChainTarget {
  readonly interfaceName: string;
  readonly ifindex: number;
  readonly bpffs: string;
  readonly xdpMode: XdpMode;
  /** Where the balancer program in the last slot is pinned (the single-mode pin, same meaning). */
  readonly balancerPin: string;
  /** Default build/bpf/chain.bpf.o. */
  readonly chainObject?: string | undefined;
  /** True for the balancer of these pins running alone (moved into the chain); anything else must be a stage. */
  readonly isOwnBalancer: (attached: ProgramInfo) => boolean;
  readonly log: Log;
}

export interface ChainInstall {
  /** kept: the same build already ran in the slot; replaced: another build did; filled: the slot was empty. */
  readonly slot: 'kept' | 'replaced' | 'filled';
  /** kept: our root was attached already; attached: it was attached now. */
  readonly root: 'kept' | 'attached';
  readonly balancerId: number;
  readonly balancerTag: string;
  readonly rootId: number;
  readonly upstream: { readonly id: number; readonly name: string } | undefined;
  readonly mode: XdpMode;
}

/**
 * Puts `balancer` into the last slot of the interface's chain; builds the
 * chain first when none of ours runs there (a stage found attached becomes
 * slot 0 and the root replaces it atomically: its packets never stop flowing).
 */
export function installInChain(o: ChainTarget, balancer: BpfProgram): ChainInstall {
  const pins = chainPins(o.bpffs);
  const q = xdpQuery(o.ifindex);
  const attached = q.progId === 0 ? undefined : BpfProgram.fromId(q.progId);
  const pinned = existsSync(pins.stages) ? BpfMap.fromPinned(pins.stages) : undefined;
  let stages: BpfMap | undefined;
  try {
    const info = attached?.info();
    const mode = q.mode === 'none' ? o.xdpMode : q.mode;
    if (attached !== undefined && info !== undefined && pinned !== undefined && isRootOn(info, pinned)) {
      const slot = putBalancer(pinned, balancer, o.balancerPin);
      return { ...slot, root: 'kept', rootId: info.id, upstream: upstreamOf(pinned), mode };
    }
    const found = info === undefined || o.isOwnBalancer(info) ? undefined : stageMapOf(info, o.interfaceName);
    stages = found ?? pinned ?? createStages();
    if (pinned === undefined || pinned.info().id !== stages.info().id) {
      unpin(pins.stages);
      stages.pin(pins.stages);
    }
    // A root left by an earlier start is not a stage of itself; anything else that chains is the filter.
    if (attached !== undefined && info !== undefined && found !== undefined && info.name !== CHAIN_PROGRAM) stages.update(u32(UPSTREAM_SLOT), u32(attached.fd));
    const slot = putBalancer(stages, balancer, o.balancerPin);
    const root = loadRoot(stages, o.chainObject ?? DEFAULT_CHAIN_OBJECT);
    try {
      xdpAttach(o.ifindex, root.fd, { mode, ...(attached === undefined ? {} : { expectedOldFd: attached.fd }) });
      repinProgram(root, pins.root);
      const upstream = upstreamOf(stages);
      o.log.info({ interface: o.interfaceName, root: root.info().id, upstream, balancerSlot: BALANCER_SLOT }, 'XDP chain attached: the root runs the stages in slot order');
      return { ...slot, root: 'attached', rootId: root.info().id, upstream, mode };
    } finally {
      root.close();
    }
  } finally {
    attached?.close();
    pinned?.close();
    if (stages !== pinned) stages?.close();
  }
}

/** Our root is attached: it uses the stage array pinned under this bpffs. */
function isRootOn(info: ProgramInfo, stages: BpfMap): boolean {
  return info.name === CHAIN_PROGRAM && info.mapIds.includes(stages.info().id);
}

/** The stage array of an attached program that is not ours; refused when it has none. */
function stageMapOf(info: ProgramInfo, iface: string): BpfMap {
  for (const id of info.mapIds) {
    const m = BpfMap.fromId(id);
    const mi = m.info();
    if (mi.type === MapType.PROG_ARRAY && mi.name === STAGES_MAP) return m;
    m.close();
  }
  const dispatcher = info.name === 'xdp_dispatcher';
  throw new SterletError('AGENT_XDP_NOT_A_STAGE', `interface ${iface} runs XDP program ${info.name} (id ${info.id}), which cannot be chained before the balancer`, {
    why: dispatcher
      ? 'it is the libxdp dispatcher: its programs are freplace extensions, which cannot be put into a PROG_ARRAY, and a dispatcher gives XDP_PASS to the stack, not to a next program'
      : `it has no ${STAGES_MAP} stage array: a tail call never returns, so its XDP_PASS would give packets to the stack instead of to the balancer`,
    fix: `build the filter against bpf/include/xdp_stage.h (end with xdp_stage_continue(ctx, 0) instead of returning XDP_PASS) and load it alone (LIBXDP_SKIP_DISPATCHER=1 xdp-loader load, or ip link set dev ${iface} xdp obj FILE); or start without --xdp-chain after detaching it`,
    details: { programId: info.id, name: info.name },
  });
}

function createStages(): BpfMap {
  return BpfMap.create({ type: MapType.PROG_ARRAY, name: STAGES_MAP, keySize: 4, valueSize: 4, maxEntries: STAGE_SLOTS });
}

/** Slot value from user space: the id of the program in it (prog_fd_array_sys_lookup_elem). */
function slotProgramId(stages: BpfMap, slot: number): number | undefined {
  const value = stages.lookup(u32(slot));
  return value === undefined ? undefined : value.readUInt32LE(0);
}

function upstreamOf(stages: BpfMap): ChainInstall['upstream'] {
  const id = slotProgramId(stages, UPSTREAM_SLOT);
  if (id === undefined) return undefined;
  const prog = BpfProgram.fromId(id);
  try {
    return { id, name: prog.info().name };
  } finally {
    prog.close();
  }
}

/** Same build already in the slot: kept (its pin refreshed); else one atomic slot update. */
function putBalancer(stages: BpfMap, balancer: BpfProgram, pin: string): Pick<ChainInstall, 'slot' | 'balancerId' | 'balancerTag'> {
  const fresh = balancer.info();
  const currentId = slotProgramId(stages, BALANCER_SLOT);
  if (currentId !== undefined) {
    const current = BpfProgram.fromId(currentId);
    try {
      const info = current.info();
      if (info.tag === fresh.tag) {
        repinProgram(current, pin);
        return { slot: 'kept', balancerId: info.id, balancerTag: info.tag };
      }
    } finally {
      current.close();
    }
  }
  stages.update(u32(BALANCER_SLOT), u32(balancer.fd));
  repinProgram(balancer, pin);
  return { slot: currentId === undefined ? 'filled' : 'replaced', balancerId: fresh.id, balancerTag: fresh.tag };
}

function loadRoot(stages: BpfMap, objectPath: string): BpfProgram {
  const obj = BpfObject.open(objectPath);
  try {
    obj.map(STAGES_MAP).reuseFd(stages.fd);
    obj.load();
    return obj.program(CHAIN_PROGRAM).asProgram();
  } finally {
    obj.close();
  }
}

/** True when the pins under `dir` describe a chain (--xdp-chain was used). */
export function isChained(dir: string): boolean {
  return existsSync(chainPins(dir).root);
}

/**
 * Takes Sterlet out of the chain: the filter of slot 0 goes back on the
 * interface alone (atomic replace of the root), or the root is detached when
 * there is none; then the balancer's slot is emptied, so the filter's own
 * xdp_stage_continue() finds nothing and passes. Returns the root's id when it was attached.
 */
export function leaveChain(o: { interfaceName: string; ifindex: number; bpffs: string }): { rootId: number | undefined; restored: ChainInstall['upstream'] } {
  const pins = chainPins(o.bpffs);
  const root = BpfProgram.fromPinned(pins.root);
  const stages = BpfMap.fromPinned(pins.stages);
  try {
    const rootId = root.info().id;
    const q = xdpQuery(o.ifindex);
    const upstream = upstreamOf(stages);
    let detached: number | undefined;
    if (q.progId === rootId && q.mode !== 'none') {
      if (upstream !== undefined) {
        const filter = BpfProgram.fromId(upstream.id);
        try {
          xdpAttach(o.ifindex, filter.fd, { mode: q.mode, expectedOldFd: root.fd });
        } finally {
          filter.close();
        }
      } else {
        xdpDetach(o.ifindex, { mode: q.mode, expectedOldFd: root.fd });
      }
      detached = rootId;
    } else if (q.progId !== 0) {
      throw new SterletError('AGENT_DETACH_FOREIGN', `interface ${o.interfaceName} runs program id ${q.progId}, not the chain root pinned under ${o.bpffs}`, {
        why: 'detaching it could take down another tool or agent',
        fix: `pass the --bpffs directory of the agent that attached it, or detach by hand: ip link set dev ${o.interfaceName} xdp off`,
      });
    }
    stages.delete(u32(BALANCER_SLOT));
    stages.delete(u32(UPSTREAM_SLOT));
    return { rootId: detached, restored: detached === undefined ? undefined : upstream };
  } finally {
    root.close();
    stages.close();
  }
}
