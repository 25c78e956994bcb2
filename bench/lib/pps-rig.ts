// One "router ── load balancer" pair of network namespaces for bench-pps: the
// generator sends from the router's veth into the balancer's; whatever the
// balancer forwards comes back out of its one interface (one-arm, like a
// Katran node behind its router) and is counted on arrival at the router,
// where an XDP program drops it (veth xdp_drops = packets forwarded).
// pinPollThreads (bench-pps two-core) turns on threaded NAPI on both veths:
// the balancer's poll thread is pinned to the forwarding CPU, the router's to
// the generator's, and that thread's CPU time is the forwarding cost.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { ip, run, runQuiet, sysctl } from '../../test/support/exec.ts';

export const ROUTER_ADDRESS = '10.250.0.1';
export const LB_ADDRESS = '10.250.0.2';
export const VIP = '10.200.0.10';
export const VIP_PORT = 80;
export const ENDPOINTS = ['10.251.0.1', '10.251.0.2', '10.251.0.3'];
export const SINK_OBJECT = new URL('../../build/bpf/bench/sink.bpf.o', import.meta.url).pathname;

export interface PairNames {
  readonly router: string;
  readonly lb: string;
  readonly routerIf: string;
  readonly lbIf: string;
}

/** Thread CPU time of the two poll threads (ns) and the far-side count. */
export interface Sample {
  readonly forwarded: bigint;
  readonly lbThreadNs: number;
  readonly cpu: readonly CpuTimes[];
}

export interface CpuTimes {
  readonly busy: number;
  readonly softirq: number;
  readonly total: number;
}

const CLK_TCK = 100;

export class PpsPair {
  readonly names: PairNames;
  routerMac = '';
  lbMac = '';
  lbThread = 0;
  private readonly cleanups: (() => Promise<void>)[] = [];
  private readonly children: ChildProcess[] = [];

  constructor(names: PairNames) {
    this.names = names;
  }

  onDestroy(fn: () => Promise<void>): void {
    this.cleanups.push(fn);
  }

  async create(): Promise<void> {
    const { router, lb, routerIf, lbIf } = this.names;
    await run(['ip', 'netns', 'add', router]);
    this.onDestroy(async () => void (await runQuiet(['ip', 'netns', 'del', router])));
    await run(['ip', 'netns', 'add', lb]);
    this.onDestroy(async () => void (await runQuiet(['ip', 'netns', 'del', lb])));
    // No IPv6 on the link: router solicitations and MLD reports would be counted as forwarded.
    for (const ns of [router, lb]) await sysctl(ns, 'net.ipv6.conf.default.disable_ipv6', 1);
    await ip(router, 'link', 'add', routerIf, 'type', 'veth', 'peer', 'name', lbIf, 'netns', lb);
    await ip(router, 'addr', 'add', `${ROUTER_ADDRESS}/24`, 'dev', routerIf);
    await ip(lb, 'addr', 'add', `${LB_ADDRESS}/24`, 'dev', lbIf);
    // The generator's frames are complete; TSO on the sender would keep veth from using NAPI.
    await run(['ethtool', '-K', routerIf, 'tx', 'off', 'tso', 'off', 'gso', 'off'], { netns: router });
    await ip(router, 'link', 'set', routerIf, 'up');
    await ip(lb, 'link', 'set', lbIf, 'up');
    await ip(lb, 'link', 'set', 'lo', 'up');
    this.routerMac = await macOf(router, routerIf);
    this.lbMac = await macOf(lb, lbIf);
    await ip(router, 'link', 'set', 'dev', routerIf, 'xdpdrv', 'obj', SINK_OBJECT, 'sec', 'xdp');
    // The router drops everything (ARP too): the lb knows its MAC statically.
    await ip(lb, 'neigh', 'add', ROUTER_ADDRESS, 'lladdr', this.routerMac, 'dev', lbIf, 'nud', 'permanent');
    await ip(lb, 'route', 'add', 'default', 'via', ROUTER_ADDRESS, 'dev', lbIf);
    for (const [k, v] of [
      ['net.ipv4.ip_forward', 1],
      ['net.ipv4.conf.all.rp_filter', 0],
      [`net.ipv4.conf.${lbIf}.rp_filter`, 0],
      ['net.ipv4.conf.all.send_redirects', 0],
      [`net.ipv4.conf.${lbIf}.send_redirects`, 0],
    ] as const) {
      await sysctl(lb, k, v);
    }
  }

  /** Kernel paths: GRO on gives the veth its NAPI (no XDP program there). */
  async enableGro(): Promise<void> {
    await run(['ethtool', '-K', this.names.lbIf, 'gro', 'on'], { netns: this.names.lb });
  }

  /** Threaded NAPI on both veths, pinned; call after the lb's XDP program or GRO is in place. */
  async pinPollThreads(forwardingCpu: number, generatorCpu: number): Promise<void> {
    const { router, lb, routerIf, lbIf } = this.names;
    await run(['sh', '-c', `echo 1 > /sys/class/net/${lbIf}/threaded`], { netns: lb });
    await run(['sh', '-c', `echo 1 > /sys/class/net/${routerIf}/threaded`], { netns: router });
    this.lbThread = await napiThread(lbIf);
    const routerThread = await napiThread(routerIf);
    await run(['taskset', '-pc', String(forwardingCpu), String(this.lbThread)]);
    await run(['taskset', '-pc', String(generatorCpu), String(routerThread)]);
  }

  /** Starts a long-running process inside the lb namespace; killed by pid on destroy. */
  spawnInLb(argv: readonly string[], logFile: string): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', this.names.lb, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.children.push(child);
    const chunks: string[] = [];
    const keep = (d: Buffer): void => void chunks.push(d.toString());
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.on('exit', () => void writeFile(logFile, chunks.join('')).catch(() => undefined));
    return child;
  }

  /** Packets that arrived at the router (the sink's xdp_drops). */
  async forwarded(): Promise<bigint> {
    const { stdout } = await run(['ethtool', '-S', this.names.routerIf], { netns: this.names.router });
    return xdpDrops(stdout);
  }

  async sample(cpus: readonly number[]): Promise<Sample> {
    const [stats, thread, proc] = await Promise.all([
      run(['ethtool', '-S', this.names.routerIf], { netns: this.names.router }),
      this.lbThread === 0 ? Promise.resolve(undefined) : readFile(`/proc/${String(this.lbThread)}/stat`, 'utf8'),
      readFile('/proc/stat', 'utf8'),
    ]);
    return { forwarded: xdpDrops(stats.stdout), lbThreadNs: thread === undefined ? 0 : threadCpuNs(thread), cpu: cpus.map((c) => cpuTimes(proc, c)) };
  }

  async destroy(): Promise<void> {
    for (const child of this.children) {
      if (child.exitCode === null && child.pid !== undefined) {
        child.kill('SIGTERM');
        await new Promise((r) => setTimeout(r, 2000));
        if (child.exitCode === null) child.kill('SIGKILL');
      }
    }
    for (const fn of this.cleanups.reverse()) await fn().catch(() => undefined);
  }
}

async function macOf(netns: string, iface: string): Promise<string> {
  const { stdout } = await ip(netns, '-j', 'link', 'show', 'dev', iface);
  const links = JSON.parse(stdout) as { address?: string }[];
  const mac = links[0]?.address;
  if (mac === undefined) throw new Error(`BENCH_PPS: no MAC for ${iface} in ${netns}`);
  return mac;
}

/** The pid of the `napi/<iface>-<id>` kernel thread (interface names are unique per run). */
async function napiThread(iface: string): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    for (const pid of await readdir('/proc')) {
      if (!/^\d+$/.test(pid)) continue;
      const comm = await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '');
      if (comm.startsWith(`napi/${iface}-`)) return Number(pid);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`BENCH_PPS: no napi/${iface}-* thread: threaded NAPI did not start on ${iface}`);
}

/** rx_queue_0_xdp_drops of a veth's `ethtool -S`. */
export function xdpDrops(ethtoolS: string): bigint {
  let total = 0n;
  let seen = false;
  for (const m of ethtoolS.matchAll(/rx_queue_\d+_xdp_drops:\s*(\d+)/g)) {
    total += BigInt(m[1] ?? '0');
    seen = true;
  }
  if (!seen) throw new Error('BENCH_PPS: no rx_queue_N_xdp_drops in `ethtool -S` (not a veth with XDP?)');
  return total;
}

/** utime + stime of /proc/PID/stat, in ns (fields 14 and 15, after the parenthesised comm). */
export function threadCpuNs(stat: string): number {
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) throw new Error('BENCH_PPS: unreadable /proc/PID/stat');
  return ((utime + stime) * 1e9) / CLK_TCK;
}

/** One CPU's jiffies from /proc/stat: busy (all but idle and iowait), softirq, total. */
export function cpuTimes(procStat: string, cpu: number): CpuTimes {
  const line = procStat.split('\n').find((l) => l.startsWith(`cpu${String(cpu)} `));
  if (line === undefined) throw new Error(`BENCH_PPS: no cpu${String(cpu)} line in /proc/stat`);
  const v = line.trim().split(/\s+/).slice(1, 9).map(Number);
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = v;
  return { busy: user + nice + system + irq + softirq + steal, softirq, total: user + nice + system + idle + iowait + irq + softirq + steal };
}
