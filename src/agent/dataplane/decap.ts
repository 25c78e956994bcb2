// Backend nodes: the decap XDP program on an interface, pinned under its own
// directory so a restart adopts it (same build: nothing reloaded) and another
// build replaces it atomically, like the balancer (see lifecycle.ts). The set
// of local tunnel endpoint addresses is synced on every start.

import { SterletError } from '../../common/errors.ts';
import { BpfMap, BpfProgram, xdpAttach, xdpQuery, type XdpMode } from '../../libbpf/libbpf.ts';
import { encodeDecapAddr, encodeDecapSettings, u32 } from './codec.ts';
import { DECAP_LAYOUTS, DecapFlag, DECAP_PROGRAM, LAYOUT_VERSION } from './layout.ts';
import { openDecap, type Decap, type DecapMaps } from './loader.ts';
import type { StartOutcome } from './startup.ts';
import { DECAP_PINNED_MAPS, decapPins, ensureDir, isComplete, removePins, repinProgram, type DecapPins } from './pin-layout.ts';
import type { Log } from '../../common/log.ts';

export interface StartDecapOptions {
  readonly interfaceName: string;
  readonly ifindex: number;
  readonly bpffs: string;
  readonly xdpMode: XdpMode;
  readonly localAddresses: readonly string[];
  readonly gueDestinationPort: number;
  readonly objectPath?: string | undefined;
  readonly log: Log;
}

export interface DecapResult {
  readonly outcome: StartOutcome;
  readonly programId: number;
  readonly addresses: readonly string[];
}

export function startDecap(o: StartDecapOptions): DecapResult {
  const pins = decapPins(o.bpffs);
  ensureDir(pins.dir);
  const complete = isComplete(pins);
  const maps = complete ? openPinned(pins) : undefined;
  let decap: Decap | undefined;
  const q = xdpQuery(o.ifindex);
  let attached: BpfProgram | undefined = q.progId === 0 ? undefined : BpfProgram.fromId(q.progId);
  try {
    if (maps !== undefined) {
      const layout = maps.settings.lookup(u32(0))?.readUInt32LE(0) ?? 0;
      if (!DECAP_LAYOUTS.includes(layout)) {
        throw new SterletError('AGENT_LAYOUT_MISMATCH', `the decap maps pinned under ${pins.dir} have layout version ${layout}; this program needs ${LAYOUT_VERSION}`, {
          why: 'map layouts changed between these versions',
          fix: `sterlet detach --interface ${o.interfaceName} --bpffs ${pins.dir}, then run sterlet decap again`,
        });
      }
    }
    if (attached !== undefined) {
      const info = attached.info();
      const ours = maps !== undefined ? info.mapIds.includes(maps.addrs.info().id) : info.name !== '' && DECAP_PROGRAM.startsWith(info.name);
      if (!ours) {
        throw new SterletError('AGENT_XDP_BUSY', `interface ${o.interfaceName} already runs XDP program ${info.name} (id ${info.id})`, {
          why: `it does not use the decap maps pinned under ${pins.dir}`,
          fix: `detach it first (ip link set dev ${o.interfaceName} xdp off) or pass the --bpffs it was started with`,
        });
      }
    }
    if (!complete) {
      const leftovers = removePins(pins.dir);
      ensureDir(pins.dir);
      if (leftovers.length > 0) o.log.warn({ leftovers }, 'removed pins of an incomplete earlier start');
    }
    decap = openDecap({
      ...(o.objectPath === undefined ? {} : { objectPath: o.objectPath }),
      ...(maps === undefined ? {} : { reuseMaps: { addrs: maps.addrs.fd, settings: maps.settings.fd, stats: maps.stats.fd } }),
    });
    const live = decap.maps;
    live.settings.update(u32(0), encodeDecapSettings({ gueDestinationPort: o.gueDestinationPort }));
    syncAddresses(live.addrs, o.localAddresses);
    const fresh = decap.program.info();
    let outcome: StartOutcome;
    let programId = fresh.id;
    const mode = q.mode === 'none' ? o.xdpMode : q.mode;
    if (attached !== undefined && attached.info().tag === fresh.tag) {
      outcome = 'adopted';
      programId = attached.info().id;
      repinProgram(attached, pins.program);
    } else {
      xdpAttach(o.ifindex, decap.program.fd, { mode, ...(attached === undefined ? {} : { expectedOldFd: attached.fd }) });
      repinProgram(decap.program, pins.program);
      outcome = !complete ? 'created' : attached === undefined ? 'reattached' : 'upgraded';
    }
    if (!complete) {
      for (const name of DECAP_PINNED_MAPS) if (name !== 'settings') live[name].pin(pins.map(name));
      live.settings.pin(pins.marker);
    }
    o.log.info({ interface: o.interfaceName, outcome, programId, mode, addresses: o.localAddresses, bpffs: pins.dir }, `decap ${outcome}`);
    return { outcome, programId, addresses: [...o.localAddresses] };
  } finally {
    attached?.close();
    decap?.close();
    if (maps !== undefined) for (const name of DECAP_PINNED_MAPS) maps[name].close();
  }
}

/** Exactly these local addresses, nothing else. */
function syncAddresses(addrs: BpfMap, wanted: readonly string[]): void {
  const keep = new Set(wanted.map((a) => encodeDecapAddr(a).toString('hex')));
  for (const key of [...addrs.keys()]) if (!keep.has(key.toString('hex'))) addrs.delete(key);
  for (const a of wanted) addrs.update(encodeDecapAddr(a), u32(DecapFlag.local));
}

function openPinned(pins: DecapPins): DecapMaps {
  const opened: Partial<Record<keyof DecapMaps, BpfMap>> = {};
  try {
    for (const name of DECAP_PINNED_MAPS) opened[name] = BpfMap.fromPinned(pins.map(name));
    return opened as DecapMaps;
  } catch (err) {
    for (const m of Object.values(opened)) m.close();
    throw new SterletError('AGENT_PINS_INCOMPLETE', `the pinned decap program under ${pins.dir} is incomplete`, {
      fix: `sterlet detach --interface IF --bpffs ${pins.dir}, then run sterlet decap again`,
      cause: err,
    });
  }
}
