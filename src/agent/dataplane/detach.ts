// `sterlet detach`: take the XDP program off the interface and remove the pins
// (balancer or decap: whichever program pin the directory holds). Detaching
// uses the pinned program as the expected one, so a program someone else
// attached in the meantime is never removed by mistake. A chain (--xdp-chain)
// hands the interface back to the filter that ran in front of the balancer.

import { existsSync } from 'node:fs';
import { SterletError } from '../../common/errors.ts';
import { BpfProgram, xdpDetach, xdpQuery } from '../../libbpf/libbpf.ts';
import { isChained, leaveChain } from './chain.ts';
import { balancerPins, decapPins, removePins } from './pin-layout.ts';

export interface DetachResult {
  readonly detachedProgramId: number | undefined;
  /** --xdp-chain: the filter put back on the interface in place of the chain's root. */
  readonly restored?: { readonly id: number; readonly name: string } | undefined;
  readonly removedPins: readonly string[];
}

export function detachDataplane(o: { interfaceName: string; ifindex: number; bpffs: string }): DetachResult {
  if (isChained(o.bpffs)) {
    const left = leaveChain(o);
    return { detachedProgramId: left.rootId, restored: left.restored, removedPins: removePins(o.bpffs) };
  }
  const candidates = [balancerPins(o.bpffs).program, decapPins(o.bpffs).program].filter((p) => existsSync(p));
  const q = xdpQuery(o.ifindex);
  let detached: number | undefined;
  if (q.progId !== 0 && q.mode !== 'none') {
    const ours = candidates.map((p) => BpfProgram.fromPinned(p));
    try {
      const match = ours.find((p) => p.info().id === q.progId);
      if (match === undefined && candidates.length > 0) {
        throw new SterletError('AGENT_DETACH_FOREIGN', `interface ${o.interfaceName} runs program id ${q.progId}, not the one pinned under ${o.bpffs}`, {
          why: 'detaching it could take down another tool or agent',
          fix: `pass the --bpffs directory of the agent that attached it, or detach by hand: ip link set dev ${o.interfaceName} xdp off`,
        });
      }
      if (match !== undefined) {
        xdpDetach(o.ifindex, { mode: q.mode, expectedOldFd: match.fd });
        detached = q.progId;
      }
    } finally {
      for (const p of ours) p.close();
    }
  }
  return { detachedProgramId: detached, removedPins: removePins(o.bpffs) };
}
