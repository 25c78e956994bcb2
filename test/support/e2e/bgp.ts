// BGP pieces of the e2e tests: the pinned gobgpd (scripts/gobgp.sh cache),
// BIRD 2 from Debian as the "router" implementation on the other side, and
// reading what the router's kernel FIB really holds for a VIP.
import { execFileSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { REPO_ROOT, ip } from '../exec.ts';
import type { ManagedProcess, ProcessGroup } from './processes.ts';

/** The cached gobgpd (built by scripts/gobgp.sh, which the suite's make target runs). */
export function gobgpDir(): string {
  const dir = execFileSync(join(REPO_ROOT, 'scripts/gobgp.sh'), ['--dir'], { encoding: 'utf8' }).trim();
  execFileSync(join(REPO_ROOT, 'scripts/gobgp.sh'), [], { stdio: 'inherit' }); // builds once, then a no-op
  return dir;
}

/** A free TCP port on host loopback (for a gobgpd API outside any namespace). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export interface GobgpdOptions {
  readonly name: string;
  readonly apiAddress: string;
  readonly logFile: string;
  readonly netns?: string;
}

/** gobgpd with no config file: the agent configures everything over the API. */
export async function startGobgpd(group: ProcessGroup, options: GobgpdOptions): Promise<ManagedProcess> {
  const bin = join(gobgpDir(), 'gobgpd');
  const proc = group.start([bin, '--api-hosts', options.apiAddress, '--pprof-disable', '-p', '-l', 'info'], {
    name: options.name,
    logFile: options.logFile,
    ...(options.netns === undefined ? {} : { netns: options.netns }),
  });
  await proc.waitForLine(/gobgpd started/, { what: 'its start line', timeoutMs: 10_000 });
  return proc;
}

export interface BirdNeighbor {
  readonly name: string;
  readonly address: string;
  readonly asn: number;
}

/**
 * BIRD 2 as the router: eBGP to every load-balancer node, accepts their VIP
 * routes, merges equal ones into one multipath route in the kernel FIB.
 */
export function birdConfig(o: { routerId: string; asn: number; neighbors: readonly BirdNeighbor[]; holdTime?: number }): string {
  const hold = o.holdTime ?? 9;
  return [
    `router id ${o.routerId};`,
    'protocol device { scan time 2; }',
    // ECMP: equal BGP routes from different nodes become one route with several next hops.
    'protocol kernel { ipv4 { import none; export all; }; merge paths yes limit 16; }',
    ...o.neighbors.map(
      (n) => `protocol bgp ${n.name} {
  local as ${String(o.asn)};
  neighbor ${n.address} as ${String(n.asn)};
  hold time ${String(hold)};
  connect retry time 1;
  error wait time 1, 5;
  ipv4 { import all; export none; };
}`,
    ),
    '',
  ].join('\n');
}

export async function startBird(group: ProcessGroup, o: { netns: string; scratch: string; config: string }): Promise<ManagedProcess> {
  const conf = join(o.scratch, 'bird.conf');
  await writeFile(conf, o.config);
  const socket = join(o.scratch, 'bird.ctl');
  return group.start(['bird', '-f', '-c', conf, '-s', socket, '-P', join(o.scratch, 'bird.pid')], {
    name: 'bird',
    netns: o.netns,
    logFile: join(o.scratch, 'bird.log'),
  });
}

/** Next hops the router's kernel FIB holds for `prefix` (empty = no route). */
export async function fibNextHops(netns: string, prefix: string): Promise<string[]> {
  const { stdout } = await ip(netns, '-j', 'route', 'show', prefix);
  const routes = JSON.parse(stdout) as { gateway?: string; nexthops?: { gateway?: string }[] }[];
  const hops = routes.flatMap((r) => (r.nexthops ?? [r]).map((h) => h.gateway).filter((g): g is string => g !== undefined));
  return hops.sort();
}

/** Polls the FIB until `accept(nextHops)`; returns the ms it took. */
export async function waitForNextHops(netns: string, prefix: string, accept: (hops: string[]) => boolean, timeoutMs = 30_000): Promise<number> {
  const started = Date.now();
  let last: string[] = [];
  while (Date.now() - started < timeoutMs) {
    last = await fibNextHops(netns, prefix);
    if (accept(last)) return Date.now() - started;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`E2E_FIB_TIMEOUT: ${prefix} in ${netns} still has next hops [${last.join(', ')}] after ${String(timeoutMs)} ms`);
}
