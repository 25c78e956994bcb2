// The shared fixture of the agent e2e tests: a topology with HTTP servers and
// the decap program on every backend, the VIP routed to the lb, manifests on
// disk, `sterlet agent` running on them, and a traffic client. One call sets
// it all up (tearing down whatever was built if a step fails).
import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AgentRunner, attachDecap, waitForApplied } from './agent.ts';
import { createBpffsDir, type BpffsDir } from './bpffs.ts';
import { TrafficClient } from './client.ts';
import { REPO_ROOT, run } from '../exec.ts';
import { ManifestDir, webManifests, type BackendEntry } from './manifests.ts';
import { startHttpServers } from './servers.ts';
import { Topology, type BackendNode } from './topology.ts';

/** Port of the GUE-encapsulated VIP on the same address (backends 1-3 run a second server there). */
export const GUE_VIP_PORT = 8080;

export interface AgentWorld {
  readonly t: Topology;
  readonly be: readonly BackendNode[];
  readonly bpffs: BpffsDir;
  /** The agent's --bpffs (inside the namespaces). */
  readonly lbBpffs: string;
  readonly manifests: ManifestDir;
  readonly agent: AgentRunner;
  readonly client: TrafficClient;
  /** Measured figures the tests record; print them at the end. */
  readonly figures: Record<string, unknown>;
  /**
   * The IPv4 VIP `web` with these backends; never changed: the IPv6 VIP `web6`
   * and the GUE-encapsulated `gue` (same address, port 8080), both on backends 1-3.
   */
  documents(entries: readonly BackendEntry[]): object[];
  /** Writes the manifests in place and waits until the agent applied them (recorded in figures). */
  program(entries: readonly BackendEntry[]): Promise<void>;
  /** Traffic figures plus the agent's last log lines, for assertion messages. */
  failureReport(stats: unknown): string;
}

export interface AgentWorldOptions {
  readonly backends: number;
  /**
   * Let the agent discover the gateway MAC (no --gateway-mac): the lb pings
   * its gateway first, as the agent's own error message tells operators to.
   */
  readonly discoverGateway?: boolean;
  /** More agent flags (e.g. --xdp-chain). */
  readonly agentArgs?: readonly string[];
  /** Runs after the network and bpffs exist, before the agent first starts (e.g. attach another XDP program). */
  readonly beforeAgent?: (t: Topology, bpffs: BpffsDir) => Promise<void>;
}

export async function createAgentWorld(options: AgentWorldOptions): Promise<AgentWorld> {
  const t = await Topology.create({ backends: options.backends, keepScratch: process.env.STERLET_E2E_KEEP === '1' });
  try {
    const be = t.backends;
    const bpffs = await createBpffsDir(t);
    const lbBpffs = join(bpffs.path, 'lb');
    const manifests = new ManifestDir(t.scratch);
    await manifests.init();
    await startHttpServers(t, be);
    await startHttpServers(t, be.slice(0, 3), GUE_VIP_PORT);
    for (const backend of be) await attachDecap(backend, bpffs.path);
    await t.routeVipToBalancer();

    const documents = (entries: readonly BackendEntry[]): object[] => {
      const fixed = be.slice(0, 3).map((backend) => ({ backend }));
      return [
        ...webManifests(t.vip, entries),
        ...webManifests(t.vip6, fixed, { name: 'web6', ipv6: true }),
        ...webManifests(t.vip, fixed, { name: 'gue', port: GUE_VIP_PORT, encapsulation: 'GUE' }),
      ];
    };
    await manifests.write(documents(be.slice(0, 3).map((backend) => ({ backend }))));

    // A private copy of the program build: a concurrent `make bpf` must not turn a restart into an upgrade.
    // STERLET_E2E_BALANCER_OBJECT runs the suite against another build.
    const bpfObject = join(t.scratch, 'balancer.bpf.o');
    await copyFile(process.env.STERLET_E2E_BALANCER_OBJECT ?? join(REPO_ROOT, 'build/bpf/balancer.bpf.o'), bpfObject);
    if (options.discoverGateway === true) await run(['ping', '-c', '1', '-W', '2', t.lb.gateway], { netns: t.lb.netns });
    const gatewayMac = options.discoverGateway === true ? {} : { gatewayMac: await t.gatewayMac() };
    await options.beforeAgent?.(t, bpffs);
    const extraArgs = options.agentArgs === undefined ? {} : { extraArgs: options.agentArgs };
    const agent = new AgentRunner(t, { manifests: manifests.dir, bpffs: lbBpffs, bpfObject, ...gatewayMac, ...extraArgs });
    await waitForApplied(agent.start(), 0, { changed: true, timeoutMs: 60_000 });
    const client = await TrafficClient.start(t);
    const figures: Record<string, unknown> = {};

    return {
      t,
      be,
      bpffs,
      lbBpffs,
      manifests,
      agent,
      client,
      figures,
      documents,
      async program(entries) {
        const from = agent.process.mark();
        await manifests.write(documents(entries));
        const applied = await waitForApplied(agent.process, from, { changed: true });
        const key = `apply ${entries.map((e) => `${e.backend.name}:${String(e.weight ?? 1)}`).join(',')}`;
        figures[key] = { changes: applied.changes, durationMs: applied.durationMs };
      },
      failureReport(stats) {
        return `${JSON.stringify(stats)}\nagent log tail:\n${agent.process.tail(15)}`;
      },
    };
  } catch (error) {
    await t.destroy();
    throw error;
  }
}
