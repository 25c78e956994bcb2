// Established connections under a SYN flood, with real TCP: the e2e network
// (client ── router ── lb, router ── bridge ── 3 backends running HTTP),
// N long-lived keep-alive connections from the client to the VIP (a request
// every 100 ms on each), and the packet generator sending a random-source SYN
// flood from the router into the lb's veth at the highest rate it reaches.
// Both are forwarded on the same CPU (FORWARDING_CPU): a veth processes a
// packet on the CPU that sent it, so the generator is pinned there, and the
// router steers the client's packets there with RPS. So the flood and the
// connections share the forwarding core and, for Sterlet, its per-CPU
// connection table. The client and the HTTP servers run on the other CPU
// (APP_CPU): on the same core, the flood's softirq work would starve them
// and their latency would be the harness's, not the dataplane's.
// - sterlet: the real agent (native XDP, IPIP) and decap on the backends
//   (DSR); the connections' entries are looked up in every connection table
//   before and after the flood.
// - nftables: the kube-proxy-shaped DNAT rule set on the lb (conntrack,
//   masquerade, so replies come back through it); the connections' conntrack
//   entries, the table's size and its drop counters before and after.
// Phases: baseline (no flood) for latency, the flood, then a recovery second
// in which every connection must answer again.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { availableParallelism } from 'node:os';
import { CLIENT_ADDRESS } from '../../test/support/e2e/addressing.ts';
import { startHttpServers } from '../../test/support/e2e/servers.ts';
import { StreamClient, type StreamStats } from '../../test/support/e2e/stream.ts';
import { Topology } from '../../test/support/e2e/topology.ts';
import { createAgentWorld } from '../../test/support/e2e/world.ts';
import { sterlet } from '../../test/support/e2e/agent.ts';
import { REPO_ROOT, run, sysctl } from '../../test/support/exec.ts';
import { lookUpFlows, type FlowEntry } from './conn-entries.ts';
import { flowFrames, writeFrameFile } from './frames.ts';
import { kubeProxyRuleset } from './kube-nft.ts';
import { cpuTimes } from './pps-rig.ts';

export type FloodDataplane = 'sterlet' | 'nftables';

export interface FloodOptions {
  /** Long-lived connections (the issue asks for at least 50). */
  readonly connections: number;
  readonly baselineSeconds: number;
  readonly floodSeconds: number;
  /** The generator binary (build/bench/pktgen). */
  readonly pktgen?: string;
  /** The generator XDP program (build/bench/gen.bpf.o): send with pktgen --xdp, no skb per packet. */
  readonly genXdp?: string;
  /** Progress lines (stderr in the bench). */
  readonly log?: (line: string) => void;
  /** Called with the world's teardown once it exists (a Ctrl-C handler can run it; it is idempotent). */
  readonly onTeardown?: (destroy: () => Promise<void>) => void;
}

export interface LatencyWindow {
  readonly requests: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  /** Longest gap between two answers on one connection in the window. */
  readonly maxStallMs: number;
  /** Connections with a gap of more than 1 s in the window. */
  readonly stalledOver1s: number;
}

export interface FloodOutcome {
  readonly dataplane: FloodDataplane;
  readonly connections: number;
  readonly floodSentMpps: number;
  readonly floodSeconds: number;
  /** Softirq and busy share of the forwarding CPU during the flood (%). */
  readonly softirqPct: number;
  readonly busyPct: number;
  readonly baseline: LatencyWindow;
  readonly flood: LatencyWindow;
  /** Connections reset, closed or timed out (by the end of the recovery second), with their reasons. */
  readonly failures: number;
  readonly reasons: Readonly<Record<string, number>>;
  /** Connections answering in the recovery second after the flood. */
  readonly answeringAfter: number;
  /** Segments the connections (client and backend ends) retransmitted during the flood: packets of theirs that were lost. */
  readonly retransmits: number;
  /** Packets the veths of the lb's link dropped during the flood (rings full: flood and connections alike). */
  readonly linkDrops: number;
  /** Connections whose answers came from another backend at some point. */
  readonly backendChanges: number;
  /** The connections' table entries: present before the flood, and still present (same backend) after. */
  readonly entriesBefore: number;
  readonly entriesAfter: number;
  /** Packets the dataplane sent to the backends during the flood (Sterlet's per-backend counters); undefined for nftables. */
  readonly forwardedDuringFlood: number | undefined;
  /** Dataplane-specific: where the entries were (Sterlet), conntrack size and drops (nftables). */
  readonly detail: string;
}

/** The core that forwards the flood and the connections' packets (the generator's). */
export const FORWARDING_CPU = 0;
/** The client's and the servers' core (the same one on a 1-CPU machine). */
export const APP_CPU = availableParallelism() > 1 ? 1 : 0;
const DEFAULT_PKTGEN = join(REPO_ROOT, 'build/bench/pktgen');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** What the dataplane keeps per connection: present, and naming the same backend (or endpoint). */
interface EntryProbe {
  /** One identity per connection, '' when the connection has no entry. */
  entries(ports: readonly number[]): Promise<string[]>;
  /** Just before the flood: the state detail() compares against. */
  mark(): Promise<void>;
  /** A line for the report, read after the flood. */
  detail(): Promise<string>;
  /** Packets forwarded to backends since mark(), when the dataplane counts them. */
  forwarded(): Promise<number | undefined>;
}

interface FloodWorld {
  readonly t: Topology;
  readonly probe: EntryProbe;
}

/** Builds the world for `dp`, runs the phases, tears everything down (also on failure). */
export async function establishedUnderFlood(dp: FloodDataplane, options: FloodOptions): Promise<FloodOutcome> {
  const log = options.log ?? ((): void => undefined);
  const world = dp === 'sterlet' ? await sterletWorld() : await nftablesWorld();
  const { t } = world;
  options.onTeardown?.(() => t.destroy());
  try {
    const cpu = FORWARDING_CPU;
    await separateCpus(t);
    const frames = join(t.scratch, 'syn.frames');
    const lbMac = await t.macOf(t.lb);
    const routerMac = await t.gatewayMac();
    await writeFrameFile(frames, flowFrames({ dstMac: lbMac, srcMac: routerMac, vip: t.vip, port: 80, flows: 1, flags: 'S' }));

    const streams = await StreamClient.start(t, options.connections, { spread: true, cpus: String(APP_CPU) });
    const ready = await streams.waitAnswering(30_000);
    if (ready.answering !== options.connections) throw new Error(`BENCH_PPS: only ${String(ready.answering)} of ${String(options.connections)} connections answered before the flood: ${JSON.stringify(ready.reasons)}`);
    await sleep(500);
    await streams.mark();
    await sleep(options.baselineSeconds * 1000);
    const baseline = await streams.stats();
    const ports = baseline.localPorts;
    const before = await world.probe.entries(ports);
    log(`${dp}: baseline p50 ${baseline.latency.p50Ms.toFixed(2)} ms p99 ${baseline.latency.p99Ms.toFixed(2)} ms; ${String(before.filter((e) => e !== '').length)} entries`);

    await streams.mark();
    await world.probe.mark();
    const retrans0 = await retransmits(t);
    const drops0 = await linkDrops(t);
    const stat0 = cpuTimes(await readProcStat(), cpu);
    const gen = await run(
      ['ip', 'netns', 'exec', t.router.netns, options.pktgen ?? DEFAULT_PKTGEN, '--iface', t.lb.routerPort, '--frames', frames, '--cpu', String(cpu), '--flood', '--seconds', String(options.floodSeconds), ...(options.genXdp === undefined ? [] : ['--xdp', options.genXdp])],
      { timeoutMs: (options.floodSeconds + 30) * 1000 },
    );
    const stat1 = cpuTimes(await readProcStat(), cpu);
    const during = await streams.stats();
    const retrans1 = await retransmits(t);
    const drops1 = await linkDrops(t);
    const sent = JSON.parse(gen.stdout) as { sent: number; seconds: number };

    await streams.mark();
    await sleep(1500);
    const after = await streams.stats();
    const entriesAfter = await world.probe.entries(ports);
    const detail = await world.probe.detail();
    const forwarded = await world.probe.forwarded();
    await streams.stop();
    const total = stat1.total - stat0.total || 1;
    const kept = before.filter((e, i) => e !== '' && entriesAfter[i] === e).length;
    log(`${dp}: flood ${(sent.sent / sent.seconds / 1e6).toFixed(3)} Mpps; p50 ${during.latency.p50Ms.toFixed(2)} ms p99 ${during.latency.p99Ms.toFixed(2)} ms; ${String(after.broken)} failures; ${String(retrans1 - retrans0)} retransmits; ${String(drops1 - drops0)} veth drops; ${String(during.stalledOver1s)} stalled > 1 s; ${String(kept)} entries kept; ${detail}`);
    return {
      dataplane: dp,
      connections: options.connections,
      floodSentMpps: sent.sent / sent.seconds / 1e6,
      floodSeconds: sent.seconds,
      softirqPct: (100 * (stat1.softirq - stat0.softirq)) / total,
      busyPct: (100 * (stat1.busy - stat0.busy)) / total,
      baseline: windowOf(baseline),
      flood: windowOf(during),
      failures: after.broken,
      reasons: after.reasons,
      answeringAfter: after.answeredSinceMark,
      retransmits: retrans1 - retrans0,
      linkDrops: drops1 - drops0,
      backendChanges: after.backendChanges,
      entriesBefore: before.filter((e) => e !== '').length,
      entriesAfter: kept,
      forwardedDuringFlood: forwarded,
      detail,
    };
  } finally {
    await t.destroy();
  }
}

/**
 * The router hands every packet it receives from the client to the
 * forwarding CPU (RPS on its client-facing veth), and the HTTP servers move
 * to APP_CPU (they were started pinned to TRAFFIC_CPUS).
 */
async function separateCpus(t: Topology): Promise<void> {
  await run(['sh', '-c', `echo ${(1 << FORWARDING_CPU).toString(16)} > /sys/class/net/${t.router.clientPort}/queues/rx-0/rps_cpus`], { netns: t.router.netns });
  for (const b of t.backends) {
    const pid = t.processes.find(`http-${b.name}:80`)?.child.pid;
    if (pid === undefined) throw new Error(`BENCH_PPS: no HTTP server process for ${b.name}`);
    await run(['taskset', '-a', '-p', '-c', String(APP_CPU), String(pid)]);
  }
}

function windowOf(s: StreamStats): LatencyWindow {
  return { requests: s.latency.requests, p50Ms: s.latency.p50Ms, p99Ms: s.latency.p99Ms, maxMs: s.latency.maxMs, maxStallMs: s.maxStallMs, stalledOver1s: s.stalledOver1s };
}

/** Ring drops and XDP_TX errors of both ends of the lb's link (`ethtool -S`). */
async function linkDrops(t: Topology): Promise<number> {
  let total = 0;
  for (const [netns, iface] of [[t.lb.netns, t.lb.iface], [t.router.netns, t.lb.routerPort]] as const) {
    const { stdout } = await run(['ethtool', '-S', iface], { netns });
    for (const m of stdout.matchAll(/rx_queue_\d+_(?:drops|xdp_tx_errors):\s*(\d+)/g)) total += Number(m[1]);
  }
  return total;
}

/**
 * Segments the connections themselves retransmitted (a lost packet of an
 * established connection): the `retrans:N/TOTAL` of `ss -ti` summed over the
 * client's sockets to port 80 and the backends' from port 80. Counters of the
 * whole namespace would also count the backends' SYN-ACKs to the flood.
 */
async function retransmits(t: Topology): Promise<number> {
  let total = 0;
  const sides = [[t.client.netns, 'dport = :80'], ...t.backends.map((b) => [b.netns, 'sport = :80'] as const)] as const;
  for (const [netns, filter] of sides) {
    const { stdout } = await run(['ss', '-tinH', 'state', 'established', filter], { netns });
    for (const m of stdout.matchAll(/\bretrans:\d+\/(\d+)/g)) total += Number(m[1]);
  }
  return total;
}

function readProcStat(): Promise<string> {
  return readFile('/proc/stat', 'utf8');
}

/** Sterlet: the agent world of the e2e tests; entries are looked up in the pinned tables from the host. */
async function sterletWorld(): Promise<FloodWorld> {
  const w = await createAgentWorld({ backends: 3 });
  const lbHost = join(w.bpffs.hostPath, 'lb');
  const vip = w.t.vip;
  const flows = (ports: readonly number[]): FlowEntry[][] =>
    lookUpFlows(lbHost, ports.map((port) => ({ protocol: 'TCP', src: { address: CLIENT_ADDRESS, port }, dst: { address: vip, port: 80 } })));
  let lastTables = new Map<string, number>();
  const backendPackets = async (): Promise<number> => {
    const { stdout } = await sterlet(w.t.lb.netns, ['stats', '--json', '--bpffs', w.lbBpffs]);
    return (JSON.parse(stdout) as { backends: { packets: number }[] }).backends.reduce((n, b) => n + b.packets, 0);
  };
  let atMark = 0;
  return {
    t: w.t,
    probe: {
      entries(ports) {
        const found = flows(ports);
        lastTables = new Map();
        for (const f of found) for (const e of f) lastTables.set(e.table, (lastTables.get(e.table) ?? 0) + 1);
        // Identity: the backend an entry names (the same in every table that holds it, or it is a split flow).
        return Promise.resolve(found.map((f) => [...new Set(f.map((e) => String(e.real)))].join('/')));
      },
      async mark() {
        atMark = await backendPackets();
      },
      async forwarded() {
        return (await backendPackets()) - atMark;
      },
      detail() {
        const where = [...lastTables].map(([table, n]) => `${String(n)} in ${table}`).join(', ');
        return Promise.resolve(`entries after the flood: ${where || 'none in any table'}`);
      },
    },
  };
}

/** nftables: the same network, no agent and no decap; kube-proxy's rule set on the lb, conntrack read there. */
async function nftablesWorld(): Promise<FloodWorld> {
  const t = await Topology.create({ backends: 3, keepScratch: process.env.STERLET_E2E_KEEP === '1' });
  try {
    await startHttpServers(t, t.backends);
    await t.routeVipToBalancer();
    const lb = t.lb.netns;
    await sysctl(lb, 'net.ipv4.ip_forward', 1);
    // Replies to the router leave by the interface they came in on: no ICMP redirects for them.
    await sysctl(lb, 'net.ipv4.conf.all.send_redirects', 0);
    await sysctl(lb, `net.ipv4.conf.${t.lb.iface}.send_redirects`, 0);
    // NAPI on the lb's veth, as the XDP program gives Sterlet's (bench-pps does the same).
    await run(['ethtool', '-K', t.lb.iface, 'gro', 'on'], { netns: lb });
    const table = `sterlet-flood-${t.id.slice(-6)}`;
    const rules = kubeProxyRuleset({
      table,
      name: 'bench/web',
      address: t.vip,
      port: 80,
      clusterCidr: '10.244.0.0/16',
      endpoints: t.backends.map((b) => ({ address: b.address, port: 80 })),
    });
    const file = join(t.scratch, 'kube-proxy.nft');
    await writeFile(file, rules);
    await run(['nft', '-f', file], { netns: lb });
    let before = await conntrackState(lb);
    return {
      t,
      probe: {
        async entries(ports) {
          const lines = await conntrackLines(lb, t.vip);
          return ports.map((port) => lines.get(port) ?? '');
        },
        async mark() {
          before = await conntrackState(lb);
        },
        forwarded: () => Promise.resolve(undefined),
        async detail() {
          const now = await conntrackState(lb);
          return `conntrack ${String(before.count)} -> ${String(now.count)} entries (max ${String(now.max)}), drops ${String(now.drop - before.drop)}, early drops ${String(now.earlyDrop - before.earlyDrop)}, insert failures ${String(now.insertFailed - before.insertFailed)}`;
        },
      },
    };
  } catch (error) {
    await t.destroy();
    throw error;
  }
}

/** Established conntrack entries of the client's connections to the VIP, by client port: the endpoint they were DNATed to. */
async function conntrackLines(netns: string, vip: string): Promise<Map<number, string>> {
  // grep in the namespace: the table can hold 262144 lines during a flood.
  const pattern = `ESTABLISHED src=${CLIENT_ADDRESS.replaceAll('.', '[.]')} dst=${vip.replaceAll('.', '[.]')} sport=`;
  const { stdout } = await run(['sh', '-c', `grep -E '${pattern}' /proc/net/nf_conntrack || true`], { netns, timeoutMs: 60_000 });
  const out = new Map<number, string>();
  for (const line of stdout.split('\n')) {
    const m = /sport=(\d+) dport=80 src=(\S+) /.exec(line);
    if (m) out.set(Number(m[1]), m[2] ?? '');
  }
  return out;
}

interface ConntrackState {
  readonly count: number;
  readonly max: number;
  readonly drop: number;
  readonly earlyDrop: number;
  readonly insertFailed: number;
}

/** nf_conntrack_count/max and the per-CPU drop counters of /proc/net/stat/nf_conntrack (hex columns), summed. */
async function conntrackState(netns: string): Promise<ConntrackState> {
  const script = 'cat /proc/sys/net/netfilter/nf_conntrack_count /proc/sys/net/netfilter/nf_conntrack_max; cat /proc/net/stat/nf_conntrack';
  const { stdout } = await run(['sh', '-c', script], { netns });
  const [count = '0', max = '0', header = '', ...rows] = stdout.trim().split('\n');
  const columns = header.trim().split(/\s+/);
  const sum = (name: string): number => {
    const at = columns.indexOf(name);
    if (at < 0) throw new Error(`BENCH_PPS: no ${name} column in /proc/net/stat/nf_conntrack: ${header}`);
    return rows.reduce((n, row) => n + parseInt(row.trim().split(/\s+/)[at] ?? '0', 16), 0);
  };
  return { count: Number(count), max: Number(max), drop: sum('drop'), earlyDrop: sum('early_drop'), insertFailed: sum('insert_failed') };
}
