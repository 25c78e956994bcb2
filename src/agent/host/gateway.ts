// The gateway MAC every forwarded packet is addressed to. When it was
// discovered (not given with --gateway-mac), the router may change it (a
// failover, a replaced box): the agent re-resolves it on every periodic
// resync and rewrites the settings map when it differs. A failed lookup keeps
// the MAC in use: a stale MAC may still work, no MAC never does.

import { discoverGateway, type DiscoveryOptions, type Family, type GatewayFacts } from './discovery.ts';

export interface GatewayRefreshOptions {
  readonly interfaceName: string;
  /** What the agent started with; an override is never re-resolved. */
  readonly initial: GatewayFacts;
  /** Writes the new MAC into the dataplane settings. */
  readonly write: (mac: string) => void;
  readonly log: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void };
  /** Lookup; default discoverGateway (the default route and the neighbour table). */
  readonly resolve?: (ifname: string, family: Family, options: DiscoveryOptions) => Promise<GatewayFacts>;
  readonly discovery?: DiscoveryOptions;
}

export interface GatewayRefresher {
  /** The gateway in use now. */
  readonly current: GatewayFacts;
  /** Re-resolves the MAC and writes it if it changed; true when it changed. */
  refresh(): Promise<boolean>;
}

export function gatewayRefresher(o: GatewayRefreshOptions): GatewayRefresher {
  let current = o.initial;
  const resolve = o.resolve ?? discoverGateway;
  return {
    get current() {
      return current;
    },
    async refresh(): Promise<boolean> {
      if (current.source === 'override') return false;
      let found: GatewayFacts;
      try {
        found = await resolve(o.interfaceName, current.family, o.discovery ?? {});
      } catch (err) {
        o.log.warn({ err, mac: current.mac }, 're-resolving the gateway MAC failed; keeping the one in use');
        return false;
      }
      if (found.mac === current.mac) {
        current = found; // the next hop address may have changed with the same MAC
        return false;
      }
      o.write(found.mac);
      o.log.info({ from: current.mac, to: found.mac, gateway: found.address, was: current.address }, 'gateway MAC changed; settings updated');
      current = found;
      return true;
    },
  };
}
