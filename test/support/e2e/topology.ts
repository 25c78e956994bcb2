// The e2e network: client ── router ── lb, and router ── bridge ── backends,
// each in its own network namespace named `<run id>-<role>`. Interfaces are
// created directly inside their namespaces, so nothing touches the host's
// own network. destroy() is idempotent and works after a half-finished
// create(): it kills the processes the run started, then deletes every
// namespace it recorded (which removes the veths and detaches their XDP).
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { z } from 'zod';
import {
  backendAddress,
  backendAddress6,
  backendName,
  CLIENT_ADDRESS,
  CLIENT_ADDRESS6,
  LB_ADDRESS,
  LB_ADDRESS6,
  PREFIX_LENGTH,
  PREFIX_LENGTH6,
  ROUTER_BACKEND_ADDRESS,
  ROUTER_BACKEND_ADDRESS6,
  ROUTER_CLIENT_ADDRESS,
  ROUTER_CLIENT_ADDRESS6,
  ROUTER_LB_ADDRESS,
  ROUTER_LB_ADDRESS6,
  VIP_V4,
  VIP_V6,
} from './addressing.ts';
import { buildXdpPass } from './bpf-build.ts';
import { ip, run, runQuiet, sysctl } from '../exec.ts';
import { uniqueRunId } from './names.ts';
import { sweepStaleRuns } from './sweep.ts';
import { ProcessGroup } from './processes.ts';

/** The interface name every leaf namespace uses for its one link. */
export const LEAF_IFACE = 'eth0';
const BRIDGE = 'br0';

export interface Node {
  readonly netns: string;
  readonly iface: string;
  readonly address: string;
  readonly address6: string;
}

export interface BackendNode extends Node {
  readonly index: number;
  /** backend-N: what its HTTP server answers. */
  readonly name: string;
  /** The router-side port of its link (a bridge member). */
  readonly routerPort: string;
}

/** A load-balancer node: its own link to the router (`routerPort` on the router side). */
export interface LbNode extends Node {
  readonly gateway: string;
  readonly gateway6: string;
  readonly routerPort: string;
}

export interface TopologyOptions {
  /** Backends created up front (more with addBackend). */
  readonly backends: number;
  /** Load-balancer nodes, each on its own router link (ECMP tests use 2). Default 1. */
  readonly lbNodes?: number;
  readonly vip?: string;
  readonly vip6?: string;
  /** Keep the scratch directory (logs) after destroy. Default: keep on failure is the caller's call. */
  readonly keepScratch?: boolean;
}

export class Topology {
  readonly id: string;
  readonly vip: string;
  readonly vip6: string;
  /** Per-run scratch directory: logs, manifests. */
  readonly scratch: string;
  /** Every process started for this run; destroy() stops them first. */
  readonly processes = new ProcessGroup();
  readonly client: Node;
  readonly router: { readonly netns: string; readonly clientPort: string; readonly lbPort: string };
  readonly lb: LbNode;
  /** Every load-balancer node; lbs[0] is `lb`. */
  readonly lbs: LbNode[];
  readonly backends: BackendNode[] = [];
  private readonly namespaces: string[] = [];
  private readonly cleanups: (() => Promise<void>)[] = [];
  private destroyed = false;
  private readonly keepScratch: boolean;

  private constructor(options: TopologyOptions) {
    this.id = uniqueRunId();
    this.vip = options.vip ?? VIP_V4;
    this.vip6 = options.vip6 ?? VIP_V6;
    this.keepScratch = options.keepScratch ?? false;
    this.scratch = join(tmpdir(), this.id);
    this.client = { netns: `${this.id}-client`, iface: LEAF_IFACE, address: CLIENT_ADDRESS, address6: CLIENT_ADDRESS6 };
    this.router = { netns: `${this.id}-router`, clientPort: 'cli0', lbPort: 'lb0' };
    this.lb = {
      netns: `${this.id}-lb`,
      iface: LEAF_IFACE,
      address: LB_ADDRESS,
      address6: LB_ADDRESS6,
      gateway: ROUTER_LB_ADDRESS,
      gateway6: ROUTER_LB_ADDRESS6,
      routerPort: this.router.lbPort,
    };
    this.lbs = [this.lb];
    // lb node N (N >= 2) sits on 10.111.(2N-1).0/24 (10.111.3.2 for lb2), fd00:111:(2N-1)::/64.
    for (let n = 2; n <= (options.lbNodes ?? 1); n++) {
      const net = String(2 * n - 1);
      this.lbs.push({
        netns: `${this.id}-lb${String(n)}`,
        iface: LEAF_IFACE,
        address: `10.111.${net}.2`,
        address6: `fd00:111:${net}::2`,
        gateway: `10.111.${net}.1`,
        gateway6: `fd00:111:${net}::1`,
        routerPort: `lb${String(n - 1)}`,
      });
    }
  }

  /** Builds the whole network; on any failure tears down what was built and rethrows. */
  static async create(options: TopologyOptions): Promise<Topology> {
    await sweepStaleRuns();
    const topology = new Topology(options);
    try {
      await mkdir(topology.scratch, { recursive: true });
      await topology.build(options.backends);
    } catch (error) {
      await topology.destroy();
      throw error;
    }
    return topology;
  }

  /** Registers extra teardown (e.g. a bpffs mount) run by destroy() before namespaces go, last-in first-out. */
  onDestroy(cleanup: () => Promise<void>): void {
    this.cleanups.push(cleanup);
  }

  /** Adds backend-N (the next index) on the router's bridge. */
  async addBackend(): Promise<BackendNode> {
    const index = this.backends.length + 1;
    const backend: BackendNode = {
      index,
      name: backendName(index),
      netns: `${this.id}-be${String(index)}`,
      iface: LEAF_IFACE,
      address: backendAddress(index),
      address6: backendAddress6(index),
      routerPort: `be${String(index)}`,
    };
    await this.addNamespace(backend.netns);
    // rp_filter off: a decapsulated packet's source (the client) arrives on the
    // link the replies leave by anyway, but the outer IPIP source need not be routable.
    await sysctl(backend.netns, 'net.ipv4.conf.all.rp_filter', 0);
    await sysctl(backend.netns, 'net.ipv4.conf.default.rp_filter', 0);
    // The VIP sits on lo. Without these, Linux (weak host model) would answer
    // ARP for the VIP on eth0 and use the VIP as ARP source: on a shared L2
    // every backend would claim the VIP and steal traffic from the balancer.
    await sysctl(backend.netns, 'net.ipv4.conf.all.arp_ignore', 1);
    await sysctl(backend.netns, 'net.ipv4.conf.all.arp_announce', 2);
    await this.veth(this.router.netns, backend.routerPort, backend.netns, backend.iface);
    await ip(this.router.netns, 'link', 'set', backend.routerPort, 'master', BRIDGE);
    await ip(this.router.netns, 'link', 'set', backend.routerPort, 'up');
    await ip(backend.netns, 'addr', 'add', `${backend.address}/${String(PREFIX_LENGTH)}`, 'dev', backend.iface);
    await ip(backend.netns, 'link', 'set', backend.iface, 'up');
    await ip(backend.netns, 'link', 'set', 'lo', 'up');
    await ip(backend.netns, 'addr', 'add', `${this.vip}/32`, 'dev', 'lo');
    await addr6(backend.netns, backend.iface, `${backend.address6}/${String(PREFIX_LENGTH6)}`);
    await addr6(backend.netns, 'lo', `${this.vip6}/128`);
    // DSR: replies (source VIP) go to the client straight through the router, never the lb.
    await ip(backend.netns, 'route', 'add', 'default', 'via', ROUTER_BACKEND_ADDRESS);
    await ip(backend.netns, '-6', 'route', 'add', 'default', 'via', ROUTER_BACKEND_ADDRESS6);
    await sysctl(backend.netns, `net.ipv4.conf.${backend.iface}.rp_filter`, 0);
    this.backends.push(backend);
    return backend;
  }

  /** Sanity mode: the router sends VIP traffic straight to one backend (plain routing, no balancer). */
  async routeVipToBackend(backend: BackendNode): Promise<void> {
    await ip(this.router.netns, 'route', 'replace', `${this.vip}/32`, 'via', backend.address);
    await ip(this.router.netns, '-6', 'route', 'replace', `${this.vip6}/128`, 'via', backend.address6);
  }

  /** Balancer mode: the router sends VIP traffic to the lb leg. */
  async routeVipToBalancer(): Promise<void> {
    await ip(this.router.netns, 'route', 'replace', `${this.vip}/32`, 'via', this.lb.address);
    await ip(this.router.netns, '-6', 'route', 'replace', `${this.vip6}/128`, 'via', this.lb.address6);
  }

  /** MAC of the router's interface facing an lb node (default the first): the balancer's gateway. */
  async gatewayMac(lb: LbNode = this.lb): Promise<string> {
    return linkMac(this.router.netns, lb.routerPort);
  }

  /** Packet counters of one router port (`ip -s link`): the router sees every leg of the path. */
  async routerCounters(port: string): Promise<LinkCounters> {
    const { stdout } = await ip(this.router.netns, '-j', '-s', 'link', 'show', 'dev', port);
    return LinkCountersJson.parse(JSON.parse(stdout))[0]!.stats64;
  }

  async macOf(node: Node): Promise<string> {
    return linkMac(node.netns, node.iface);
  }

  /** Idempotent: safe after a partial create and when called twice. */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    await this.processes.stopAll();
    for (const cleanup of this.cleanups.reverse()) {
      try {
        await cleanup();
      } catch {
        // keep tearing down: a leftover here must not leak the namespaces too
      }
    }
    for (const netns of this.namespaces.reverse()) await runQuiet(['ip', 'netns', 'del', netns]);
    if (!this.keepScratch) await rm(this.scratch, { recursive: true, force: true });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.destroy();
  }

  private async build(backends: number): Promise<void> {
    const router = this.router.netns;
    for (const netns of [router, this.client.netns, ...this.lbs.map((lb) => lb.netns)]) await this.addNamespace(netns);

    // The router forwards, and does not drop DSR replies whose source (the VIP)
    // it routes elsewhere (to the lb leg): strict rp_filter would.
    await sysctl(router, 'net.ipv4.ip_forward', 1);
    await sysctl(router, 'net.ipv6.conf.all.forwarding', 1);
    await sysctl(router, 'net.ipv4.conf.all.rp_filter', 0);
    await sysctl(router, 'net.ipv4.conf.default.rp_filter', 0);

    await this.veth(router, this.router.clientPort, this.client.netns, this.client.iface);
    for (const lb of this.lbs) {
      await this.veth(router, lb.routerPort, lb.netns, lb.iface);
      await ip(router, 'addr', 'add', `${lb.gateway}/${String(PREFIX_LENGTH)}`, 'dev', lb.routerPort);
      await addr6(router, lb.routerPort, `${lb.gateway6}/${String(PREFIX_LENGTH6)}`);
    }
    await ip(router, 'link', 'add', BRIDGE, 'type', 'bridge');
    await ip(router, 'addr', 'add', `${ROUTER_CLIENT_ADDRESS}/${String(PREFIX_LENGTH)}`, 'dev', this.router.clientPort);
    await ip(router, 'addr', 'add', `${ROUTER_BACKEND_ADDRESS}/${String(PREFIX_LENGTH)}`, 'dev', BRIDGE);
    await addr6(router, this.router.clientPort, `${ROUTER_CLIENT_ADDRESS6}/${String(PREFIX_LENGTH6)}`);
    await addr6(router, BRIDGE, `${ROUTER_BACKEND_ADDRESS6}/${String(PREFIX_LENGTH6)}`);
    for (const link of ['lo', this.router.clientPort, ...this.lbs.map((lb) => lb.routerPort), BRIDGE]) await ip(router, 'link', 'set', link, 'up');
    // A veth drops (or strands) frames its peer sent with XDP_TX unless it runs
    // NAPI: GRO on is the documented way, but on this kernel only an XDP
    // program on the receiving side got them delivered, so do both.
    const xdpPass = await buildXdpPass(this.scratch);
    for (const lb of this.lbs) {
      await run(['ethtool', '-K', lb.routerPort, 'gro', 'on'], { netns: router });
      await ip(router, 'link', 'set', 'dev', lb.routerPort, 'xdpdrv', 'obj', xdpPass, 'sec', 'xdp');
    }

    for (const node of [this.client, ...this.lbs]) {
      await ip(node.netns, 'link', 'set', 'lo', 'up');
      await ip(node.netns, 'addr', 'add', `${node.address}/${String(PREFIX_LENGTH)}`, 'dev', node.iface);
      await addr6(node.netns, node.iface, `${node.address6}/${String(PREFIX_LENGTH6)}`);
      await ip(node.netns, 'link', 'set', node.iface, 'up');
    }
    await ip(this.client.netns, 'route', 'add', 'default', 'via', ROUTER_CLIENT_ADDRESS);
    await ip(this.client.netns, '-6', 'route', 'add', 'default', 'via', ROUTER_CLIENT_ADDRESS6);
    // A veth passes packets on with the TCP checksum left for "hardware" to fill
    // in (CHECKSUM_PARTIAL). XDP on the lb sees raw bytes, encapsulates them,
    // and the backend then drops every segment as a checksum error. A real NIC
    // puts complete checksums on the wire; make the client do the same.
    await run(['ethtool', '-K', this.client.iface, 'tx', 'off'], { netns: this.client.netns });
    // The lb's default route is how the agent discovers its gateway MAC.
    for (const lb of this.lbs) {
      await ip(lb.netns, 'route', 'add', 'default', 'via', lb.gateway);
      await ip(lb.netns, '-6', 'route', 'add', 'default', 'via', lb.gateway6);
    }

    for (let i = 0; i < backends; i++) await this.addBackend();
  }

  private async addNamespace(netns: string): Promise<void> {
    await run(['ip', 'netns', 'add', netns]);
    this.namespaces.push(netns);
  }

  /** A veth pair created straight into two namespaces (never visible on the host). */
  private async veth(nsA: string, nameA: string, nsB: string, nameB: string): Promise<void> {
    await run(['ip', 'link', 'add', nameA, 'netns', nsA, 'type', 'veth', 'peer', 'name', nameB, 'netns', nsB]);
  }
}

/** IPv6 address without duplicate address detection: usable at once, no 1-2 s tentative phase. */
async function addr6(netns: string, iface: string, cidr: string): Promise<void> {
  await ip(netns, '-6', 'addr', 'add', cidr, 'dev', iface, 'nodad');
}

export interface LinkCounters {
  readonly rx: { readonly packets: number };
  readonly tx: { readonly packets: number };
}
const LinkCountersJson = z
  .array(z.object({ stats64: z.object({ rx: z.object({ packets: z.number() }), tx: z.object({ packets: z.number() }) }) }))
  .min(1);

async function linkMac(netns: string, iface: string): Promise<string> {
  const { stdout } = await ip(netns, '-j', 'link', 'show', 'dev', iface);
  const parsed: unknown = JSON.parse(stdout);
  const first: unknown = Array.isArray(parsed) ? parsed[0] : undefined;
  const mac = first !== null && typeof first === 'object' && 'address' in first ? first.address : undefined;
  if (typeof mac !== 'string') throw new Error(`E2E_NO_MAC: no MAC for ${iface} in ${netns}: ${stdout}`);
  return mac;
}
