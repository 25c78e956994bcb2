// The ECMP fixture: client ── router (BIRD 2, multipath FIB, L4 hashing) ──
// lb1, lb2 (each: sterlet agent + gobgpd, eBGP to the router) and three
// backends on the router's bridge (XDP decap + HTTP server). The agents
// read the same VirtualIP/Backend manifests plus a BGPPeer naming the
// router, so both build the same Maglev ring — unless `ringSizes` makes
// them differ, the baseline that shows what ECMP changes do without it.
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { AgentRunner, attachDecap, waitForApplied } from './agent.ts';
import { birdConfig, gobgpDir, startBird, startGobgpd } from './bgp.ts';
import { createBpffsDir } from './bpffs.ts';
import { REPO_ROOT, sysctl } from '../exec.ts';
import { webManifests } from './manifests.ts';
import type { ManagedProcess } from './processes.ts';
import { startHttpServers } from './servers.ts';
import { Topology, type LbNode } from './topology.ts';

export const ROUTER_ASN = 65000;
export const LB_ASN = 65001;
/** Inside each lb namespace (its own loopback). */
const SPEAKER_API = '127.0.0.1:50051';

export interface EcmpNode {
  readonly lb: LbNode;
  readonly agent: AgentRunner;
  readonly manifests: string;
  gobgpd: ManagedProcess;
}

export interface EcmpWorld {
  readonly t: Topology;
  readonly nodes: readonly EcmpNode[];
  readonly bird: ManagedProcess;
  /** VIP prefix as the router's FIB shows it. */
  readonly prefix: string;
  /** Writes the VIP manifests (or none: the VIP deleted) for every node and waits until each agent applied them. */
  program(withVip: boolean): Promise<void>;
  /** Restarts gobgpd on a node (a speaker crash). */
  restartSpeaker(node: EcmpNode): Promise<void>;
  logs(): string;
}

export interface EcmpWorldOptions {
  /** Maglev ring size per node; different sizes = different rings (the baseline). Default 65537 on both. */
  readonly ringSizes?: readonly [number, number];
  readonly drainSeconds?: number;
}

export async function createEcmpWorld(options: EcmpWorldOptions = {}): Promise<EcmpWorld> {
  gobgpDir(); // fail early (and build once) before any namespace exists
  const t = await Topology.create({ backends: 3, lbNodes: 2, keepScratch: process.env.STERLET_E2E_KEEP === '1' });
  try {
    // L4 hashing: flows from one client spread over the next hops by ports.
    await sysctl(t.router.netns, 'net.ipv4.fib_multipath_hash_policy', 1);
    const bpffs = await createBpffsDir(t);
    await startHttpServers(t, t.backends);
    for (const backend of t.backends) await attachDecap(backend, bpffs.path);
    const bpfObject = join(t.scratch, 'balancer.bpf.o');
    await copyFile(process.env.STERLET_E2E_BALANCER_OBJECT ?? join(REPO_ROOT, 'build/bpf/balancer.bpf.o'), bpfObject);

    const bird = await startBird(t.processes, {
      netns: t.router.netns,
      scratch: t.scratch,
      config: birdConfig({
        routerId: t.lbs[0]!.gateway,
        asn: ROUTER_ASN,
        neighbors: t.lbs.map((lb, i) => ({ name: `lb${String(i + 1)}`, address: lb.address, asn: LB_ASN })),
      }),
    });

    const documents = (withVip: boolean): string =>
      (withVip ? webManifests(t.vip, t.backends.map((backend) => ({ backend }))) : []).map((d) => stringify(d)).join('---\n');
    const nodes: EcmpNode[] = [];
    for (const [i, lb] of t.lbs.entries()) {
      const dir = join(t.scratch, `manifests-lb${String(i + 1)}`);
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, 'web.yaml'), documents(true));
      await writeFile(
        join(dir, 'bgp.yaml'),
        stringify({
          apiVersion: 'sterlet.dev/v1alpha1',
          kind: 'BGPPeer',
          metadata: { name: 'router' },
          spec: { peerAddress: lb.gateway, peerASN: ROUTER_ASN, localASN: LB_ASN, holdTimeSeconds: 9, addressFamilies: ['IPv4'] },
        }),
      );
      const gobgpd = await startGobgpd(t.processes, { name: `gobgpd-lb${String(i + 1)}`, apiAddress: SPEAKER_API, netns: lb.netns, logFile: join(t.scratch, `gobgpd-lb${String(i + 1)}.log`) });
      const agent = new AgentRunner(t, {
        node: lb,
        manifests: dir,
        bpffs: join(bpffs.path, `lb${String(i + 1)}`),
        bpfObject,
        gatewayMac: await t.gatewayMac(lb),
        extraArgs: [
          '--bgp-speaker', SPEAKER_API,
          '--drain-seconds', String(options.drainSeconds ?? 2),
          '--ring-size', String(options.ringSizes?.[i] ?? 65537),
          // Small tables: two agents on a 2-core machine.
          '--lru-size', '65536', '--max-vips', '16', '--max-reals', '64',
        ],
      });
      nodes.push({ lb, agent, manifests: dir, gobgpd });
    }
    await Promise.all(nodes.map((n) => waitForApplied(n.agent.start(), 0, { changed: true, timeoutMs: 60_000 })));

    return {
      t,
      nodes,
      bird,
      prefix: `${t.vip}/32`,
      async program(withVip) {
        const marks = nodes.map((n) => n.agent.process.mark());
        for (const n of nodes) await writeFile(join(n.manifests, 'web.yaml'), documents(withVip));
        await Promise.all(nodes.map((n, i) => waitForApplied(n.agent.process, marks[i] ?? 0, { changed: true })));
      },
      async restartSpeaker(node) {
        await t.processes.remove(node.gobgpd, 'SIGKILL');
        const i = nodes.indexOf(node) + 1;
        node.gobgpd = await startGobgpd(t.processes, { name: `gobgpd-lb${String(i)}`, apiAddress: SPEAKER_API, netns: node.lb.netns, logFile: join(t.scratch, `gobgpd-lb${String(i)}.log`) });
      },
      logs() {
        return [
          `bird:\n${bird.tail(10)}`,
          ...nodes.map((n, i) => `agent lb${String(i + 1)}:\n${n.agent.process.tail(12)}\ngobgpd lb${String(i + 1)}:\n${n.gobgpd.tail(6)}`),
        ].join('\n');
      },
    };
  } catch (error) {
    await t.destroy();
    throw error;
  }
}
