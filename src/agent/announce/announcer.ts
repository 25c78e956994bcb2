// Keeps the BGP speaker's configuration and RIB equal to what this node
// should announce: global settings, one session per BGPPeer, one route per VIP
// prefix that passes the gates (routes.ts). Level-based: every tick reads the
// speaker back, so a restarted gobgpd (empty) is configured and re-announced
// from scratch, and a kill -9 of the agent leaves gobgpd's routes in place
// for the next agent to adopt.

import { errorText } from '../../common/errors.ts';
import type { Log } from '../../common/log.ts';
import type { PeerStatus, Route, RouteFamily, Speaker, SpeakerGlobal, SpeakerPeer } from './gobgp.ts';
import { diffRoutes, planRoutes, type AnnounceInput, type VipGate } from './routes.ts';

export interface AnnouncerOptions {
  readonly speaker: Speaker;
  /** Router id and listen port of the speaker; the ASN defaults to the first peer's localASN. */
  readonly global: Omit<SpeakerGlobal, 'asn'> & { readonly asn?: number | undefined };
  /** The sessions to hold (from BGPPeer objects); undefined = unknown yet, leave sessions alone. */
  readonly peers: () => Promise<readonly SpeakerPeer[] | undefined>;
  /** The dataplane's side of the gates; undefined until the agent's first apply finished. */
  readonly state: () => Omit<AnnounceInput, 'draining' | 'families'> | undefined;
  readonly log: Log;
  /** Default 1 s: the longest a withdrawal waits for its trigger to be seen. */
  readonly intervalMs?: number;
  /** Every tick's outcome (status writers, metrics). */
  readonly onStatus?: (status: AnnouncerStatus) => void;
}

export interface AnnouncerStatus {
  readonly peers: readonly PeerStatus[];
  readonly announced: readonly string[];
  readonly held: ReadonlyMap<string, VipGate>;
}

export class Announcer {
  readonly #o: AnnouncerOptions;
  #draining = false;
  #last: AnnouncerStatus = { peers: [], announced: [], held: new Map() };
  #queue: Promise<void> = Promise.resolve();
  #speakerDown = false;

  constructor(options: AnnouncerOptions) {
    this.#o = options;
  }

  get status(): AnnouncerStatus {
    return this.#last;
  }

  /** Ticks until `signal` aborts; the speaker keeps whatever is announced then. */
  async run(signal: AbortSignal): Promise<void> {
    const interval = this.#o.intervalMs ?? 1000;
    while (!signal.aborted) {
      await this.tick();
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, interval);
        signal.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
      });
    }
    await this.#queue;
  }

  /** Graceful shutdown: withdraw every route now (sessions stay up so the withdrawal reaches the routers). */
  async drain(): Promise<void> {
    this.#draining = true;
    await this.tick();
  }

  /** One reconcile; never throws (an unreachable speaker is logged once per outage). */
  tick(): Promise<void> {
    const next = this.#queue.then(() => this.#reconcile());
    this.#queue = next;
    return next;
  }

  async #reconcile(): Promise<void> {
    const { speaker, log } = this.#o;
    try {
      await this.#readPeers();
      const running = await speaker.global();
      // With no BGPPeer left, a running speaker keeps its ASN so the sessions and routes can still be removed.
      const asn = this.#o.global.asn ?? this.#wantedPeers?.[0]?.localAsn ?? running?.asn;
      if (asn === undefined) {
        if (!this.#noPeers) log.warn({}, 'no BGPPeer applies to this node and no --bgp-asn: not starting BGP');
        this.#noPeers = true;
        return;
      }
      this.#noPeers = false;
      const global: SpeakerGlobal = { asn, routerId: this.#o.global.routerId, listenPort: this.#o.global.listenPort };
      if (running === undefined) {
        log.info({ asn, routerId: global.routerId }, 'BGP speaker has no configuration (new or restarted): starting BGP');
        await speaker.start(global);
      } else if (running.asn !== global.asn || running.routerId !== global.routerId) {
        log.warn({ running, wanted: global }, 'BGP speaker runs with another ASN or router id; restart gobgpd to change them');
      }
      const peers = await this.#reconcilePeers();
      const families = new Set<RouteFamily>(this.#wantedPeers?.flatMap((p) => p.families) ?? []);
      // Draining withdraws even before the first apply (SIGTERM right after a restart).
      const state = this.#o.state() ?? (this.#draining ? { ready: false, attached: false, desired: [], programmed: new Map<string, string | undefined>() } : undefined);
      let announced: string[] = [];
      let held = new Map<string, VipGate>();
      if (state !== undefined) {
        const plan = planRoutes({ ...state, draining: this.#draining, families });
        const diff = diffRoutes(plan.routes, await speaker.routes());
        for (const route of diff.withdraw) {
          await speaker.withdraw(route);
          log.info({ prefix: route.prefix, reasons: reasonsFor(route, state.desired, plan.held) }, 'VIP route withdrawn');
        }
        for (const route of diff.announce) {
          await speaker.announce(route);
          log.info({ prefix: route.prefix, communities: route.communities, localPreference: route.localPreference }, 'VIP route announced');
        }
        announced = [...plan.routes.keys()].sort();
        held = new Map(plan.held);
      } else {
        announced = (await speaker.routes()).map((r) => r.prefix).sort();
      }
      if (this.#speakerDown) log.info({}, 'BGP speaker reachable again');
      this.#speakerDown = false;
      this.#last = { peers, announced, held };
      this.#o.onStatus?.(this.#last);
    } catch (error) {
      if (!this.#speakerDown) log.warn({ err: errorText(error) }, 'BGP speaker call failed; retrying every tick');
      this.#speakerDown = true;
    }
  }

  #wantedPeers: readonly SpeakerPeer[] | undefined;
  /** Peer address -> the settings this agent configured (JSON). */
  readonly #configured = new Map<string, string>();
  #noPeers = false;
  #peerError: string | undefined;

  async #readPeers(): Promise<void> {
    try {
      const wanted = await this.#o.peers();
      if (wanted !== undefined) this.#wantedPeers = wanted;
      this.#peerError = undefined;
    } catch (error) {
      const text = errorText(error);
      if (text !== this.#peerError) this.#o.log.warn({ err: text }, 'reading BGP peers failed; keeping the sessions as they are');
      this.#peerError = text;
    }
  }

  async #reconcilePeers(): Promise<PeerStatus[]> {
    const { speaker, log } = this.#o;
    let have = await speaker.peers();
    const wanted = this.#wantedPeers;
    if (wanted === undefined) return have;
    const byAddress = new Map(wanted.map((p) => [p.address, p]));
    // Sessions the speaker lost (it restarted) are configured again below.
    for (const address of [...this.#configured.keys()]) if (!have.some((p) => p.address === address)) this.#configured.delete(address);
    let changed = false;
    for (const peer of have) {
      const want = byAddress.get(peer.address);
      // A session this agent has not configured (a previous agent did, before
      // a restart) is kept when its ASN matches: restarting resets no session.
      const configured = this.#configured.get(peer.address) ?? (want === undefined ? undefined : JSON.stringify(want));
      if (want === undefined || want.peerAsn !== peer.peerAsn || configured !== JSON.stringify(want)) {
        await speaker.deletePeer(peer.address);
        this.#configured.delete(peer.address);
        log.info({ peer: peer.address }, want === undefined ? 'BGP session removed' : 'BGP session settings changed; re-creating it');
        changed = true;
      } else {
        this.#configured.set(peer.address, configured);
      }
    }
    for (const peer of wanted) {
      if (this.#configured.has(peer.address)) continue;
      await speaker.addPeer(peer);
      this.#configured.set(peer.address, JSON.stringify(peer));
      log.info({ peer: peer.address, peerAsn: peer.peerAsn, localAsn: peer.localAsn, holdTimeSeconds: peer.holdTimeSeconds }, 'BGP session configured');
      changed = true;
    }
    if (changed) have = await speaker.peers();
    return have;
  }
}

function reasonsFor(route: Route, desired: AnnounceInput['desired'], held: ReadonlyMap<string, VipGate>): string[] {
  const address = route.prefix.slice(0, route.prefix.lastIndexOf('/'));
  const vips = desired.filter((v) => v.key.address === address);
  if (vips.length === 0) return ['Removed'];
  return [...new Set(vips.map((v) => held.get(v.id) ?? 'Unknown'))];
}
