// Wiring of announcement on one node: the speaker adapter, where the BGPPeers
// come from, and the dataplane facts the gates read (runtime state, whether
// our XDP program is still the one attached).

import { networkInterfaces } from 'node:os';
import { SterletError } from '../../common/errors.ts';
import { xdpQuery } from '../../libbpf/xdp.ts';
import type { Log } from '../../common/log.ts';
import type { AgentRuntime } from '../runtime.ts';
import { Announcer, type AnnouncerStatus } from './announcer.ts';
import { goBgpSpeaker, type SpeakerPeer } from './gobgp.ts';

export interface AnnounceOptions {
  /** HOST:PORT of gobgpd's gRPC API. */
  readonly speaker: string;
  readonly protoDir?: string | undefined;
  /** Default: the first IPv4 address of the interface. */
  readonly routerId?: string | undefined;
  /** Default: localASN of the first BGPPeer. */
  readonly asn?: number | undefined;
  /** -1 = connect out only. */
  readonly listenPort: number;
  /** After withdrawing on shutdown, keep forwarding this long before exiting. */
  readonly drainMs: number;
}

export interface NodeAnnouncerOptions {
  readonly announce: AnnounceOptions;
  readonly interface: string;
  readonly ifindex: number;
  readonly programId: number;
  /** The sessions to hold: BGPPeer manifests (standalone) or objects (cluster). */
  readonly peers: () => Promise<readonly SpeakerPeer[] | undefined>;
  readonly onStatus?: ((status: AnnouncerStatus) => void) | undefined;
  readonly runtime: AgentRuntime;
  readonly log: Log;
}

/** Until the first apply, routes a previous agent left (kill -9) stay; an agent that cannot apply within this long withdraws them. */
const FIRST_APPLY_GRACE_MS = 60_000;

export function nodeAnnouncer(o: NodeAnnouncerOptions): Announcer {
  const started = performance.now();
  return new Announcer({
    speaker: goBgpSpeaker({ address: o.announce.speaker, ...(o.announce.protoDir === undefined ? {} : { protoDir: o.announce.protoDir }) }),
    global: { routerId: o.announce.routerId ?? routerIdOf(o.interface), listenPort: o.announce.listenPort, asn: o.announce.asn },
    peers: o.peers,
    ...(o.onStatus === undefined ? {} : { onStatus: o.onStatus }),
    state: () => {
      const { runtime } = o;
      if (!runtime.ready && performance.now() - started < FIRST_APPLY_GRACE_MS) return undefined;
      return { ready: runtime.ready, attached: attachedHere(o.ifindex, o.programId), desired: runtime.desired ?? [], programmed: runtime.programmedRevisions };
    },
    log: o.log,
  });
}

/** Whether our program is still the one on the interface (someone may have detached or replaced it). */
function attachedHere(ifindex: number, programId: number): boolean {
  try {
    return xdpQuery(ifindex).progId === programId;
  } catch {
    return false; // the interface is gone
  }
}

/** The first IPv4 address of the interface: a router id unique among the nodes. */
function routerIdOf(iface: string): string {
  const v4 = networkInterfaces()[iface]?.find((a) => a.family === 'IPv4');
  if (v4 === undefined) {
    throw new SterletError('BGP_NO_ROUTER_ID', `interface ${iface} has no IPv4 address to use as BGP router id`, { fix: 'pass --bgp-router-id A.B.C.D' });
  }
  return v4.address;
}
