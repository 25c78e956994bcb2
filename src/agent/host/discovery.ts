// Environment discovery: the facts the balancer needs about its interface
// (ifindex, MAC, MTU) and the MAC of the default gateway it sends every
// encapsulated packet to. Read from the kernel (sysfs and iproute2's JSON
// output), never hand-configured unless the operator overrides it.

import { execFile } from 'node:child_process';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { SterletError, errorText } from '../../common/errors.ts';

export type Family = 4 | 6;

export interface LinkFacts {
  readonly name: string;
  readonly ifindex: number;
  /** Lower-case colon form, e.g. 02:fc:00:00:00:01. */
  readonly mac: string;
  readonly mtu: number;
}

export interface GatewayFacts {
  readonly family: Family;
  /** Next-hop address of the default route; undefined for an override. */
  readonly address: string | undefined;
  readonly mac: string;
  readonly source: 'kernel' | 'override';
}

export interface Environment {
  readonly link: LinkFacts;
  readonly gateway: GatewayFacts;
}

export interface DiscoveryOptions {
  /** Run every lookup inside this named network namespace (`ip -n NS`). */
  readonly netns?: string;
  /** Root for /sys/class/net lookups when no netns is given; default /sys. */
  readonly sysfsRoot?: string;
  /** iproute2 binary; default `ip` from PATH. */
  readonly ipCommand?: string;
}

export interface DiscoverEnvironmentOptions extends DiscoveryOptions {
  readonly interface: string;
  /** Operator override, used as is (after validation) instead of a lookup. */
  readonly gatewayMac?: string;
  /** Which default route to follow; default IPv4, else IPv6 when no IPv4 one exists. */
  readonly family?: Family;
}

const MAC_PATTERN = /^[0-9a-f]{2}(?::[0-9a-f]{2}){5}$/;

/** Interface facts, then the gateway (override or the kernel's neighbour entry). */
export async function discoverEnvironment(options: DiscoverEnvironmentOptions): Promise<Environment> {
  const link = await discoverLink(options.interface, options);
  if (options.gatewayMac !== undefined) {
    const mac = validateMac(options.gatewayMac, '--gateway-mac');
    return { link, gateway: { family: options.family ?? 4, address: undefined, mac, source: 'override' } };
  }
  if (options.family !== undefined) return { link, gateway: await discoverGateway(options.interface, options.family, options) };
  const v4 = await defaultRoute(options.interface, 4, options);
  const family: Family = v4 === undefined && (await defaultRoute(options.interface, 6, options)) !== undefined ? 6 : 4;
  return { link, gateway: await discoverGateway(options.interface, family, options) };
}

/** ifindex, MAC and MTU of an interface. */
export async function discoverLink(name: string, options: DiscoveryOptions = {}): Promise<LinkFacts> {
  if (!/^[^\s/]{1,15}$/.test(name) || name === '.' || name === '..') {
    throw new SterletError('DISCOVERY_BAD_INTERFACE_NAME', `${JSON.stringify(name)} is not a valid interface name`, {
      why: 'Linux interface names are 1-15 characters without spaces or slashes',
      fix: 'pass the name shown by `ip link`',
    });
  }
  if (options.netns !== undefined) {
    const out = await runIp(['-j', 'link', 'show', 'dev', name], options, {
      onFailure: (stderr) => (/does not exist/.test(stderr) ? noSuchInterface(name, options.netns, []) : undefined),
    });
    const link = parseJson(LinkJson, out, 'ip -j link')[0];
    if (link === undefined) throw noSuchInterface(name, options.netns, []);
    return { name, ifindex: link.ifindex, mac: link.address.toLowerCase(), mtu: link.mtu };
  }
  const dir = join(options.sysfsRoot ?? '/sys', 'class/net', name);
  try {
    const [ifindex, address, mtu] = await Promise.all(
      ['ifindex', 'address', 'mtu'].map(async (f) => (await readFile(join(dir, f), 'utf8')).trim()),
    );
    return { name, ifindex: Number(ifindex), mac: address!.toLowerCase(), mtu: Number(mtu) };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      const known = await readdir(join(options.sysfsRoot ?? '/sys', 'class/net')).catch(() => []);
      throw noSuchInterface(name, undefined, known);
    }
    throw new SterletError('DISCOVERY_SYSFS_UNREADABLE', `cannot read ${dir}`, { why: errorText(err), cause: err });
  }
}

/**
 * The default route's next hop on `ifname` and its MAC from the neighbour
 * table. The kernel only knows the MAC after it has talked to the gateway.
 */
export async function discoverGateway(ifname: string, family: Family, options: DiscoveryOptions = {}): Promise<GatewayFacts> {
  const route = await defaultRoute(ifname, family, options);
  const where = options.netns === undefined ? '' : ` in netns ${options.netns}`;
  const overrideHint = family === 4 ? 'pass --gateway-mac' : 'pass --gateway-mac (the IPv6 router MAC)';
  if (route === undefined) {
    const others = await defaultRoutes(family, options);
    const via = others.map((r) => r.dev).filter((d): d is string => d !== undefined);
    throw new SterletError('DISCOVERY_NO_DEFAULT_ROUTE', `no IPv${family} default route via ${ifname}${where}`, {
      why: via.length > 0 ? `the IPv${family} default route goes via ${via.join(', ')}` : `there is no IPv${family} default route at all`,
      fix: `add a default route via ${ifname}, or ${overrideHint}`,
    });
  }
  if (route.gateway === undefined) {
    throw new SterletError('DISCOVERY_NO_GATEWAY', `the IPv${family} default route on ${ifname}${where} has no gateway address`, {
      why: 'an on-link default route has no single next hop whose MAC the balancer could use',
      fix: overrideHint,
    });
  }
  const out = await runIp([`-${family}`, '-j', 'neigh', 'show', route.gateway, 'dev', ifname], options);
  const neigh = parseJson(NeighJson, out, 'ip -j neigh')[0];
  const states = neigh?.state ?? [];
  if (neigh?.lladdr === undefined || states.includes('FAILED') || states.includes('INCOMPLETE')) {
    throw new SterletError('DISCOVERY_GATEWAY_MAC_UNRESOLVED', `the MAC of gateway ${route.gateway} on ${ifname}${where} is unknown`, {
      why: `the kernel's neighbour table has ${neigh === undefined ? 'no entry' : `the entry in state ${states.join(',') || 'unknown'}`} for it`,
      fix: `ping the gateway once so the kernel resolves it, or ${overrideHint}`,
      hint: `ping -c1 -I ${ifname} ${route.gateway}`,
    });
  }
  return { family, address: route.gateway, mac: validateMac(neigh.lladdr, `the neighbour entry of ${route.gateway}`), source: 'kernel' };
}

/** Lower-cases and checks a unicast MAC; `what` names its origin in the error. */
export function validateMac(raw: string, what: string): string {
  const mac = raw.trim().toLowerCase();
  const first = Number.parseInt(mac.slice(0, 2), 16);
  const problem = !MAC_PATTERN.test(mac)
    ? 'it is not six colon-separated hex bytes'
    : mac === '00:00:00:00:00:00'
      ? 'it is all zeros'
      : (first & 1) === 1
        ? 'it is a multicast/broadcast address'
        : undefined;
  if (problem !== undefined) {
    throw new SterletError('DISCOVERY_BAD_MAC', `${JSON.stringify(raw)} from ${what} is not a usable gateway MAC`, {
      why: problem,
      fix: 'give the unicast MAC of the router, e.g. 02:fc:00:00:00:05',
    });
  }
  return mac;
}

const RouteJson = z.array(z.object({ dst: z.string(), gateway: z.string().optional(), dev: z.string().optional(), metric: z.number().optional() }));
const NeighJson = z.array(z.object({ dst: z.string(), lladdr: z.string().optional(), state: z.array(z.string()).optional() }));
const LinkJson = z.array(z.object({ ifindex: z.number().int(), mtu: z.number().int(), address: z.string() }));
type Route = z.infer<typeof RouteJson>[number];

async function defaultRoutes(family: Family, options: DiscoveryOptions): Promise<Route[]> {
  const out = await runIp([`-${family}`, '-j', 'route', 'show', 'default'], options);
  return parseJson(RouteJson, out, 'ip -j route').filter((r) => r.dst === 'default');
}

/** The lowest-metric default route leaving through `ifname`. */
async function defaultRoute(ifname: string, family: Family, options: DiscoveryOptions): Promise<Route | undefined> {
  const mine = (await defaultRoutes(family, options)).filter((r) => r.dev === ifname);
  return mine.sort((a, b) => (a.metric ?? 0) - (b.metric ?? 0))[0];
}

function noSuchInterface(name: string, netns: string | undefined, known: readonly string[]): SterletError {
  const where = netns === undefined ? '' : ` in netns ${netns}`;
  return new SterletError('DISCOVERY_NO_SUCH_INTERFACE', `interface ${name} does not exist${where}`, {
    why: known.length > 0 ? `the interfaces here are ${[...known].sort().join(', ')}` : 'the kernel does not know that name',
    fix: 'pass the name of the interface that faces the router (see `ip link`)',
  });
}

function parseJson<T>(schema: z.ZodType<T>, text: string, what: string): T {
  let data: unknown;
  try {
    data = JSON.parse(text.trim() === '' ? '[]' : text);
  } catch (err) {
    throw new SterletError('DISCOVERY_BAD_IP_OUTPUT', `${what} printed something that is not JSON`, { why: errorText(err), fix: 'use iproute2 5.0 or newer (JSON output)', cause: err });
  }
  const parsed = schema.safeParse(data);
  if (!parsed.success) {
    throw new SterletError('DISCOVERY_BAD_IP_OUTPUT', `${what} printed JSON of an unexpected shape`, { why: parsed.error.message, fix: 'use a current iproute2' });
  }
  return parsed.data;
}

interface RunIpHooks {
  /** Maps a failure's stderr to a specific error, or undefined for the generic one. */
  readonly onFailure?: (stderr: string) => SterletError | undefined;
}

function runIp(args: readonly string[], options: DiscoveryOptions, hooks: RunIpHooks = {}): Promise<string> {
  const cmd = options.ipCommand ?? 'ip';
  const full = options.netns === undefined ? [...args] : ['-n', options.netns, ...args];
  return new Promise((resolve, reject) => {
    execFile(cmd, full, { timeout: 5_000, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err === null) return resolve(stdout);
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        return reject(new SterletError('DISCOVERY_IP_MISSING', `cannot run ${cmd}`, { why: 'iproute2 is not installed or not on PATH', fix: 'install iproute2, or pass --gateway-mac', cause: err }));
      }
      const specific = hooks.onFailure?.(stderr);
      reject(
        specific ??
          new SterletError('DISCOVERY_COMMAND_FAILED', `\`${cmd} ${full.join(' ')}\` failed`, {
            why: stderr.trim() || errorText(err),
            fix: options.netns === undefined ? 'check the interface and routes with `ip route`' : `check that netns ${options.netns} exists (\`ip netns list\`)`,
            cause: err,
          }),
      );
    });
  });
}
