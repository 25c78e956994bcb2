// Read-only access to a pinned balancer: open its maps, derive the sizes
// they were created with (plan, stats, simulate and the adoption checks use
// this), and create the one map the agent makes itself (the mmapable ring).

import { existsSync } from 'node:fs';
import { SterletError, errorText } from '../../common/errors.ts';
import { BPF_F_MMAPABLE, BpfMap, MapType } from '../../libbpf/libbpf.ts';
import { settingsLayoutVersion, u32 } from './codec.ts';
import { BalancerMap, LAYOUT_V1, Size } from './layout.ts';
import type { BalancerMaps, BalancerSizes } from './loader.ts';
import type { Limits } from '../plan/model.ts';
import { BALANCER_PINNED_MAPS, balancerPins, checkBpffs, isComplete, type BalancerPins } from './pin-layout.ts';

export function limitsOf(sizes: BalancerSizes): Limits {
  return { maxVips: sizes.maxVips, maxReals: sizes.maxReals - 1, ringSize: sizes.ringSize };
}

export interface PinnedBalancer {
  readonly maps: BalancerMaps;
  readonly sizes: BalancerSizes;
  /** For plan(): usable real indices are 1..sizes.maxReals-1. */
  readonly limits: Limits;
  close(): void;
}

/**
 * Read-only access to a pinned balancer (for plan, stats, simulate): maps and
 * the sizes they were created with; undefined when nothing is pinned there.
 */
export function openPinnedBalancer(bpffs: string): PinnedBalancer | undefined {
  checkBpffs(bpffs); // "nothing pinned" would be a lie when bpffs is not even mounted there
  const pins = balancerPins(bpffs);
  if (!isComplete(pins)) return undefined;
  if (pinnedLayout(pins) === LAYOUT_V1) {
    throw new SterletError('AGENT_LAYOUT_UPGRADE_PENDING', `the dataplane under ${bpffs} still has map layout ${LAYOUT_V1} (one QUIC server-id table for all VIPs)`, {
      why: 'this version reads the per-VIP layout; the pinned maps are upgraded when the agent of this version starts',
      fix: 'start (or restart) the agent of this version once, then run this command again',
    });
  }
  const maps = openPinned(pins);
  const sizes = pinnedSizes(maps);
  return {
    maps,
    sizes,
    limits: limitsOf(sizes),
    close: () => {
      for (const name of BALANCER_PINNED_MAPS) maps[name]?.close();
    },
  };
}

/**
 * The ring map with BPF_F_MMAPABLE, so the agent writes slots as memory
 * (see bpf/libc.ts); same type, key and value as bpf/include/maps.h declares.
 */
export function createRingMap(sizes: BalancerSizes): BpfMap {
  return BpfMap.create({
    type: MapType.ARRAY,
    name: BalancerMap.ring,
    keySize: Size.u32,
    valueSize: Size.u32,
    maxEntries: sizes.maxVips * sizes.ringSize,
    flags: BPF_F_MMAPABLE,
  });
}

/** Layout version recorded in the pinned settings map (the completion marker). */
export function pinnedLayout(pins: BalancerPins): number {
  const settings = BpfMap.fromPinned(pins.marker);
  try {
    return settingsLayoutVersion(settings.lookup(u32(0)) ?? Buffer.alloc(Size.settings));
  } finally {
    settings.close();
  }
}

export function openPinned(pins: BalancerPins): BalancerMaps {
  const opened: Partial<Record<keyof BalancerMaps, BpfMap>> = {};
  try {
    for (const name of BALANCER_PINNED_MAPS) {
      // vip_buckets came with layout 3: pins of layout 2 (read-only commands, or an upgrade) have none yet.
      if (name === 'vipBuckets' && !existsSync(pins.map(name))) continue;
      opened[name] = BpfMap.fromPinned(pins.map(name));
    }
  } catch (err) {
    for (const m of Object.values(opened)) m.close();
    throw new SterletError('AGENT_PINS_INCOMPLETE', `the pinned dataplane under ${pins.dir} is incomplete`, {
      why: errorText(err),
      fix: `remove it with sterlet detach --bpffs ${pins.dir} --interface IF (drops connection state), then start again`,
      cause: err,
    });
  }
  return opened as BalancerMaps;
}

export function pinnedSizes(maps: Pick<BalancerMaps, 'vips' | 'reals' | 'ring' | 'connTables' | 'fallbackLru'>): BalancerSizes {
  const maxVips = maps.vips.maxEntries / 2;
  let lruSize = 0;
  for (const [, inner] of maps.connTables.entries()) {
    const id = inner.readUInt32LE(0);
    if (id === 0) continue;
    const m = BpfMap.fromId(id);
    lruSize = m.maxEntries;
    m.close();
    break;
  }
  return {
    maxVips,
    maxReals: maps.reals.maxEntries,
    ringSize: maps.ring.maxEntries / maxVips,
    lruSize,
    fallbackLruSize: maps.fallbackLru.maxEntries,
  };
}
