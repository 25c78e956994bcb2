// Announcement in cluster mode, end to end: a BGPPeer object -> the agent
// (`sterlet agent --kubeconfig --bgp-speaker`, native XDP in its namespace)
// configures gobgpd beside it -> eBGP session to a BIRD 2 router -> the VIP the
// controller compiled appears in the router's kernel FIB via the node, and the
// BGPPeer's status.nodes shows the node's session Established with 1 VIP.
// Deleting the VirtualIP withdraws the route and the count drops to 0.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Resources } from '../../src/kube/client.ts';
import { attachDecap, cleanEnv } from '../support/e2e/agent.ts';
import { birdConfig, startBird, startGobgpd, waitForNextHops } from '../support/e2e/bgp.ts';
import { createBpffsDir, type BpffsDir } from '../support/e2e/bpffs.ts';
import { ip, NODE_BIN, REPO_ROOT, STERLET_CLI } from '../support/exec.ts';
import type { ManagedProcess } from '../support/e2e/processes.ts';
import { startHttpServers } from '../support/e2e/servers.ts';
import { Topology } from '../support/e2e/topology.ts';
import { createNamespace, deleteNamespace, kubeconfigPath, kubectl, waitFor } from '../support/kube/index.ts';
import { type InProcessController, startController } from '../support/kube/controller.ts';
import { installCrds } from '../support/kube/crds.ts';
import { API, applyObjects, backend, client, dropFinalizers, pool, vip } from '../support/kube/objects.ts';
import { Proxy } from '../support/kube/proxy.ts';

let t: Topology;
let bpffs: BpffsDir;
let ns = '';
let node = '';
let peerName = '';
let poolName = '';
let controller: InProcessController | undefined;
let bridge: Proxy | undefined;
let agent: ManagedProcess | undefined;

interface PeerStatus { nodes?: { node: string; sessionState: string; announced: number }[] }

async function nodeEntry(): Promise<{ sessionState: string; announced: number } | undefined> {
  const obj = await client().get(Resources.bgpPeer, peerName);
  return ((obj['status'] ?? {}) as PeerStatus).nodes?.find((n) => n.node === node);
}

beforeAll(async () => {
  t = await Topology.create({ backends: 1 });
  try {
    node = `${t.id}-lb1`;
    peerName = `router-${t.id}`;
    bpffs = await createBpffsDir(t);
    await startHttpServers(t, t.backends);
    await attachDecap(t.backends[0]!, bpffs.path);
    await installCrds();
    ns = await createNamespace('bgp');
    poolName = `pool-${t.id}`;
    await applyObjects(undefined, [pool(poolName, {
      addresses: [`${t.vip}/32`], backendAddresses: [`${t.backends[0]!.address}/32`],
      namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ns } },
    })]);
    await applyObjects(undefined, [{
      apiVersion: API, kind: 'BGPPeer', metadata: { name: peerName },
      spec: { peerAddress: t.lb.gateway, peerASN: 65000, localASN: 65001, holdTimeSeconds: 9, addressFamilies: ['IPv4'], nodeSelector: { matchLabels: { 'sterlet.dev/test': t.id } } },
    }]);
    controller = startController({ leaseNamespace: ns, heartbeatTimeoutSeconds: 90 });

    await startBird(t.processes, { netns: t.router.netns, scratch: t.scratch, config: birdConfig({ routerId: t.lb.gateway, asn: 65000, neighbors: [{ name: 'lb1', address: t.lb.address, asn: 65001 }] }) });
    await startGobgpd(t.processes, { name: 'gobgpd', apiAddress: '127.0.0.1:50051', netns: t.lb.netns, logFile: join(t.scratch, 'gobgpd.log') });
    const api = new URL(client().server);
    const socket = join(t.scratch, 'api.sock');
    bridge = await Proxy.listen({ path: socket }, { host: api.hostname, port: Number(api.port) });
    await ip(t.lb.netns, 'link', 'set', 'lo', 'up');
    await t.processes.start([NODE_BIN, join(REPO_ROOT, 'test/support/kube/proxy.ts'), `127.0.0.1:${api.port}`, socket], {
      name: 'api-bridge', netns: t.lb.netns, logFile: join(t.scratch, 'api-bridge.log'),
    }).waitForLine(/listening/, { what: 'the API bridge' });
    agent = t.processes.start([NODE_BIN, STERLET_CLI, 'agent',
      '--interface', t.lb.iface, '--kubeconfig', kubeconfigPath(), '--node-name', node,
      '--bpffs', join(bpffs.path, 'lb1'), '--xdp-mode', 'native', '--gateway-mac', await t.gatewayMac(),
      '--metrics-addr', '127.0.0.1:9464', '--log-level', 'debug', '--bgp-speaker', '127.0.0.1:50051', '--drain-seconds', '1',
      '--max-vips', '16', '--max-reals', '64', '--lru-size', '65536'], {
      name: 'agent', netns: t.lb.netns, logFile: join(t.scratch, 'agent.log'), env: cleanEnv(),
    });
    await waitFor(async () => (await client().get(Resources.loadBalancerNode, node)).metadata.name, { what: `LoadBalancerNode ${node}`, timeoutMs: 60_000 })
      .catch((err: unknown) => { throw new Error(`${String(err)}\nagent log:\n${agent?.tail(20) ?? ''}`); });
    await kubectl(['label', 'loadbalancernode', node, `sterlet.dev/test=${t.id}`, '--overwrite']);
  } catch (error) {
    await controller?.stop();
    await t.destroy();
    throw error;
  }
}, 300_000);

afterAll(async () => {
  if (ns !== '') await kubectl(['delete', 'vip', '--all', '-n', ns, '--wait=false'], { allowFail: true });
  await t?.destroy();
  await bridge?.close();
  if (node !== '') await client().delete(Resources.loadBalancerNode, node).catch(() => undefined);
  if (peerName !== '') await client().delete(Resources.bgpPeer, peerName).catch(() => undefined);
  await controller?.stop();
  if (ns !== '') { await dropFinalizers(ns); await deleteNamespace(ns); }
  if (poolName !== '') await kubectl(['delete', 'virtualippool', poolName, '--ignore-not-found'], { allowFail: true });
});

describe('BGPPeer -> agent -> gobgpd -> BIRD (cluster mode)', () => {
  it('holds the session the BGPPeer selects for this node and reports it in the BGPPeer status', async () => {
    await waitFor(async () => (await nodeEntry())?.sessionState === 'Established', { what: 'status.nodes Established', timeoutMs: 60_000 })
      .catch((err: unknown) => { throw new Error(`${String(err)}\nagent log:\n${agent?.tail(20) ?? ''}`); });
    // The controller's summary of the agent's entry, as the printer columns show it.
    await waitFor(async () => /10\.111\.1\.1\s+65000\s+65001\s+1\/1\s+0\s+1 Established/.test((await kubectl(['get', 'bgppeer', peerName, '-o', 'wide'])).stdout),
      { what: 'kubectl get bgppeer: 1/1 established', timeoutMs: 15_000 });
  });

  it('announces the compiled VIP to the router and withdraws it when the VirtualIP is deleted', async () => {
    await applyObjects(ns, [
      vip('web', { address: t.vip, backendSelector: { matchLabels: { app: 'web' } }, nodeSelector: { matchLabels: { 'sterlet.dev/test': t.id } } }),
      backend('backend-1', t.backends[0]!.address, { app: 'web' }),
    ]);
    await waitForNextHops(t.router.netns, `${t.vip}/32`, (hops) => hops.length === 1 && hops[0] === t.lb.address, 60_000)
      .catch((err: unknown) => { throw new Error(`${String(err)}\nagent log:\n${agent?.tail(20) ?? ''}`); });
    await waitFor(async () => (await nodeEntry())?.announced === 1, { what: 'status.nodes announced 1', timeoutMs: 15_000 });
    await waitFor(async () => ((await client().get(Resources.bgpPeer, peerName))['status'] as { announced?: number } | undefined)?.announced === 1,
      { what: 'status.announced 1 (controller summary)', timeoutMs: 15_000 });
    await kubectl(['delete', 'vip', 'web', '-n', ns, '--wait=false']);
    await waitForNextHops(t.router.netns, `${t.vip}/32`, (hops) => hops.length === 0, 30_000);
    await waitFor(async () => (await nodeEntry())?.announced === 0, { what: 'status.nodes announced 0', timeoutMs: 15_000 });
  });
});
