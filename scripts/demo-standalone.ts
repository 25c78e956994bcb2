// `make demo`, act 1: the dataplane without Kubernetes. The standalone agent
// reads examples/basic.yaml from a directory (`sterlet agent --manifests`),
// programs the XDP balancer and answers requests, while the Kubernetes test
// binaries may still be building on a first run. It ends with `sterlet
// detach`, so act 2's agent starts from an empty interface.
import { copyFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { AgentRunner, sterlet, waitForApplied } from '../test/support/e2e/agent.ts';
import type { TrafficClient } from '../test/support/e2e/client.ts';
import type { Topology } from '../test/support/e2e/topology.ts';
import { REPO_ROOT } from '../test/support/exec.ts';
import { requestTable } from './demo-explain.ts';

export interface DemoOutput {
  step(text: string): void;
  section(title: string, body: string): void;
}

/** Programs the VIP from a manifest directory, sends `requests` requests, prints the split, detaches. */
export async function standaloneAct(t: Topology, traffic: TrafficClient, bpffs: string, requests: number, out: DemoOutput): Promise<void> {
  const manifests = join(t.scratch, 'manifests');
  await mkdir(manifests, { recursive: true });
  await copyFile(join(REPO_ROOT, 'examples/basic.yaml'), join(manifests, 'basic.yaml'));
  const agentBpffs = join(bpffs, 'standalone');
  out.step(`act 1, no Kubernetes: \`sterlet agent --interface ${t.lb.iface} --manifests ${manifests}\` (a copy of examples/basic.yaml) in ${t.lb.netns}`);
  const agent = new AgentRunner(t, { manifests, bpffs: agentBpffs, gatewayMac: await t.gatewayMac() });
  const proc = agent.start();
  const applied = await waitForApplied(proc, 0, { changed: true });
  out.step(`the agent programmed the VIP (${String(applied.changes)} map entries written, 65,537 of them its Maglev ring) and attached XDP; sending ${String(requests)} requests`);
  const stats = await traffic.burst(requests, { concurrency: 4 });
  out.section(`Act 1, requests per backend (${String(stats.ok)}/${String(requests)} answered, ${String(stats.failures)} failed):`, requestTable(stats.counts));
  if (stats.ok !== requests) throw new Error(`act 1: ${String(requests - stats.ok)} requests failed; agent log:\n${proc.tail(10)}`);
  out.step('stopping the standalone agent (SIGTERM leaves XDP forwarding) and `sterlet detach`, so act 2 starts from scratch');
  await agent.stop();
  await sterlet(t.lb.netns, ['detach', '--interface', t.lb.iface, '--bpffs', agentBpffs]);
}
