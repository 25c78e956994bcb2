// A Service of type LoadBalancer end to end with a real kube-proxy: real TCP
// from a client goes client -> router -> load-balancer node (XDP balancer,
// IPIP) -> backend "node" (XDP decap) -> kube-proxy's nftables DNAT -> a
// "pod" namespace behind the node; the pod's reply is un-DNATed by the node
// (source = the LB address) and goes straight back through the router. The
// controller allocates the address and compiles the node backends from an
// EndpointSlice written here (no kubelet); the agent and kube-proxy reach the
// API server through a Unix-socket bridge into their namespaces.
import { execFile } from 'node:child_process';
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Resources } from '../../src/kube/client.ts';
import { attachDecap, cleanEnv } from '../support/e2e/agent.ts';
import { createBpffsDir, type BpffsDir } from '../support/e2e/bpffs.ts';
import { TrafficClient } from '../support/e2e/client.ts';
import { ip, NODE_BIN, REPO_ROOT, run, STERLET_CLI, sysctl } from '../support/exec.ts';
import type { ManagedProcess } from '../support/e2e/processes.ts';
import { checkSpread } from '../support/e2e/spread.ts';
import { type BackendNode, Topology } from '../support/e2e/topology.ts';
import { createNamespace, deleteNamespace, kubeconfigPath, kubectl, waitFor } from '../support/kube/index.ts';
import { type InProcessController, startController } from '../support/kube/controller.ts';
import { installCrds } from '../support/kube/crds.ts';
import { applyObjects, client, dropFinalizers, pool, waitCondition } from '../support/kube/objects.ts';
import { bridgeInto } from '../support/kube/bridge.ts';
import { Proxy } from '../support/kube/proxy.ts';

const exec = promisify(execFile);
const HTTP_SERVER = join(REPO_ROOT, 'test/support/e2e/http-server.ts');
const TARGET_PORT = 8080;

let t: Topology;
let bpffs: BpffsDir;
let nodes: BackendNode[];
let ns = '';
let tag = '';
let lbClass = '';
let poolName = '';
let controller: InProcessController | undefined;
let bridge: Proxy | undefined;
let traffic: TrafficClient;
const kubeProxies: ManagedProcess[] = [];
let agent: ManagedProcess | undefined;

interface Pod { readonly name: string; readonly node: BackendNode; readonly address: string }
const pods: Pod[] = [];

const nodeName = (n: BackendNode): string => `${tag}-${n.name}`;

/** A "pod": its own namespace behind the node on a veth, default route via the node, an HTTP server on TARGET_PORT. */
async function addPod(node: BackendNode, subnet: number): Promise<Pod> {
  const name = `pod-${String(subnet)}`;
  const netns = `${t.id}-p${String(subnet)}`;
  const hostSide = `p${String(subnet)}h`;
  const address = `10.244.${String(subnet)}.2`;
  await run(['ip', 'netns', 'add', netns]);
  t.onDestroy(async () => { await run(['ip', 'netns', 'del', netns]).catch(() => undefined); });
  await run(['ip', 'link', 'add', hostSide, 'netns', node.netns, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', netns]);
  await ip(node.netns, 'addr', 'add', `10.244.${String(subnet)}.1/24`, 'dev', hostSide);
  await ip(node.netns, 'link', 'set', hostSide, 'up');
  await ip(netns, 'addr', 'add', `${address}/24`, 'dev', 'eth0');
  for (const l of ['lo', 'eth0']) await ip(netns, 'link', 'set', l, 'up');
  await ip(netns, 'route', 'add', 'default', 'via', `10.244.${String(subnet)}.1`);
  const proc = t.processes.start([NODE_BIN, HTTP_SERVER, '--name', name, '--port', String(TARGET_PORT)], {
    name: `http ${name}`, netns, logFile: join(t.scratch, `http-${name}.log`),
  });
  await proc.waitForLine(/^listening /, { what: `${name} listening` });
  const pod = { name, node, address };
  pods.push(pod);
  return pod;
}

/** The Node object kube-proxy and the controller read (what a kubelet would register). */
async function registerNode(n: BackendNode): Promise<void> {
  const name = nodeName(n);
  await client().create(Resources.node, { apiVersion: 'v1', kind: 'Node', metadata: { name, labels: { 'sterlet.dev/test-backend': tag } } });
  const now = new Date().toISOString();
  await client().patchStatus(Resources.node, name, {
    conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'test', lastHeartbeatTime: now, lastTransitionTime: now }],
    addresses: [{ type: 'InternalIP', address: n.address }, { type: 'Hostname', address: name }],
  });
}

async function setEndpoints(list: readonly Pod[]): Promise<void> {
  const endpoints = list.map((p) => ({
    addresses: [p.address], nodeName: nodeName(p.node), conditions: { ready: true, serving: true, terminating: false },
    targetRef: { kind: 'Pod', name: p.name, namespace: ns },
  }));
  try {
    await client().mergePatch(Resources.endpointSlice, 'web-1', { endpoints }, { namespace: ns });
  } catch {
    await client().create(Resources.endpointSlice, {
      apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
      metadata: { name: 'web-1', labels: { 'kubernetes.io/service-name': 'web', 'endpointslice.kubernetes.io/managed-by': 'sterlet-test' } },
      addressType: 'IPv4', ports: [{ name: 'http', port: TARGET_PORT, protocol: 'TCP' }], endpoints,
    }, ns);
  }
}

/** Waits until kube-proxy on the node DNATs the LB address (its service-ips map names it) and knows these pods. */
async function kubeProxyProgrammed(n: BackendNode, want: readonly Pod[]): Promise<void> {
  let table = '';
  await waitFor(async () => {
    table = (await run(['nft', 'list', 'table', 'ip', 'kube-proxy'], { netns: n.netns })).stdout;
    return table.includes(`${t.vip} . tcp . 80 : goto external-`) && want.every((p) => table.includes(`${p.address} . ${String(TARGET_PORT)}`));
  }, { what: `kube-proxy on ${n.name} DNATs ${t.vip} to ${want.map((p) => p.name).join(', ')}`, timeoutMs: 30_000 }).catch((err: unknown) => {
    throw new Error(`${String(err)}\n${table.split('\n').filter((l) => /dnat|10\.244|service-ips|external-/.test(l)).join('\n')}\n${kubeProxies.map((k) => k.tail(15)).join('\n')}`);
  });
}

beforeAll(async () => {
  // kube-proxy from the same pinned Kubernetes module as the API server (cached after the first build).
  await exec(join(REPO_ROOT, 'scripts/testbin.sh'), ['--kube-proxy'], { maxBuffer: 16 << 20 });
  const kubeProxy = join((await exec(join(REPO_ROOT, 'scripts/testbin.sh'), ['--dir'])).stdout.trim(), 'kube-proxy');
  await access(kubeProxy);
  t = await Topology.create({ backends: 2 });
  try {
    nodes = t.backends;
    tag = t.id;
    lbClass = `sterlet.dev/e2e-${tag}`;
    bpffs = await createBpffsDir(t);
    for (const n of nodes) {
      await attachDecap(n, bpffs.path);
      // kube-proxy delivers, not a local VIP: the LB address is not on the node's loopback.
      await ip(n.netns, 'addr', 'del', `${t.vip}/32`, 'dev', 'lo');
      await sysctl(n.netns, 'net.ipv4.ip_forward', 1);
    }
    await t.routeVipToBalancer();
    await installCrds();
    ns = await createNamespace('kp');
    poolName = `pool-${tag}`;
    await applyObjects(undefined, [pool(poolName, {
      addresses: [`${t.vip}/32`], backendAddresses: nodes.map((n) => `${n.address}/32`),
      namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ns } }, allocation: {},
    })]);
    for (const n of nodes) await registerNode(n);
    controller = startController({ leaseNamespace: ns, heartbeatTimeoutSeconds: 90, services: { loadBalancerClass: lbClass, nodeSelector: { matchLabels: { 'sterlet.dev/test-backend': tag } } } });

    const api = new URL(client().server);
    const socket = join(t.scratch, 'api.sock');
    bridge = await Proxy.listen({ path: socket }, { host: api.hostname, port: Number(api.port) });
    for (const netns of [t.lb.netns, ...nodes.map((n) => n.netns)]) {
      await ip(netns, 'link', 'set', 'lo', 'up');
      await bridgeInto(t, netns, socket, Number(api.port)).waitForLine(/listening/, { what: 'the API bridge' });
    }
    for (const n of nodes) {
      kubeProxies.push(t.processes.start([kubeProxy, '--kubeconfig', kubeconfigPath(), '--proxy-mode', 'nftables',
        '--hostname-override', nodeName(n), '--cluster-cidr', '10.244.0.0/16',
        '--metrics-bind-address', '127.0.0.1:10249', '--healthz-bind-address', '127.0.0.1:10256',
        // Leave the host's conntrack sysctls alone.
        '--conntrack-max-per-core', '0', '--conntrack-tcp-timeout-established', '0', '--conntrack-tcp-timeout-close-wait', '0',
        '--v', '2'], { name: `kube-proxy ${n.name}`, netns: n.netns, logFile: join(t.scratch, `kube-proxy-${n.name}.log`) }));
    }
    agent = t.processes.start([NODE_BIN, STERLET_CLI, 'agent', '--interface', t.lb.iface, '--kubeconfig', kubeconfigPath(),
      '--node-name', `${tag}-lb1`, '--bpffs', join(bpffs.path, 'lb1'), '--xdp-mode', 'native', '--gateway-mac', await t.gatewayMac(),
      '--metrics-addr', '127.0.0.1:9464'], { name: 'agent', netns: t.lb.netns, logFile: join(t.scratch, 'agent.log'), env: cleanEnv() });
    await addPod(nodes[0] as BackendNode, 1);
    await addPod(nodes[1] as BackendNode, 2);
    await addPod(nodes[1] as BackendNode, 3);
    traffic = await TrafficClient.start(t);
  } catch (error) {
    await controller?.stop();
    await t?.destroy();
    throw error;
  }
}, 1_200_000);

afterAll(async () => {
  if (ns !== '') await kubectl(['delete', 'services,virtualips', '--all', '-n', ns, '--wait=false'], { allowFail: true });
  await new Promise((r) => setTimeout(r, 1000));
  await t?.destroy();
  await bridge?.close();
  await client().delete(Resources.loadBalancerNode, `${tag}-lb1`).catch(() => undefined);
  for (const n of nodes ?? []) await client().delete(Resources.node, nodeName(n)).catch(() => undefined);
  await controller?.stop();
  if (ns !== '') { await dropFinalizers(ns); await deleteNamespace(ns); }
  if (poolName !== '') await kubectl(['delete', 'virtualippool', poolName, '--ignore-not-found'], { allowFail: true });
});

describe('Service type LoadBalancer through a real kube-proxy (nftables)', () => {
  it('allocates the address, and real TCP reaches the pod behind node 1 with DNAT and a direct reply', async () => {
    await client().create(Resources.service, {
      apiVersion: 'v1', kind: 'Service', metadata: { name: 'web' },
      spec: { type: 'LoadBalancer', loadBalancerClass: lbClass, externalTrafficPolicy: 'Local', allocateLoadBalancerNodePorts: false,
        selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: TARGET_PORT, protocol: 'TCP' }] },
    }, ns);
    await setEndpoints([pods[0] as Pod]);
    const svc = await waitFor(async () => {
      const s = await client().get(Resources.service, 'web', ns);
      return ((s['status'] as { loadBalancer?: { ingress?: { ip: string; ipMode?: string }[] } }).loadBalancer?.ingress ?? [])[0];
    }, { what: 'status.loadBalancer.ingress', timeoutMs: 10_000 });
    expect(svc).toEqual({ ip: t.vip, ipMode: 'VIP' });
    await waitCondition(ns, 'web-tcp-80', 'Programmed', { status: 'True', message: 'programmed on 1/1 nodes' }, 60_000)
      .catch((err: unknown) => { throw new Error(`${String(err)}\nagent:\n${agent?.tail(15) ?? ''}`); });
    await kubeProxyProgrammed(nodes[0] as BackendNode, [pods[0] as Pod]);
    const stats = await traffic.burst(60, { concurrency: 6 });
    expect(stats.ok, JSON.stringify(stats)).toBe(60);
    expect(stats.counts).toEqual({ 'pod-1': 60 });
    // Replies cannot have gone back through the load-balancer node: it does not forward.
    expect((await run(['sysctl', '-n', 'net.ipv4.ip_forward'], { netns: t.lb.netns })).stdout.trim()).toBe('0');
    // ... and the node did deliver them by DNAT: conntrack holds flows to the pod, replying as the VIP.
    const flows = (await run(['cat', '/proc/net/nf_conntrack'], { netns: (nodes[0] as BackendNode).netns })).stdout;
    expect(flows).toMatch(new RegExp(`dst=${t.vip.replaceAll('.', '\\.')} sport=\\d+ dport=80 .*src=10\\.244\\.1\\.2 dst=`));
  });

  it('spreads new connections by endpoint count when the EndpointSlice grows onto a second node', async () => {
    await setEndpoints(pods);
    await waitFor(async () => {
      const st = (await client().get(Resources.virtualIP, 'web-tcp-80', ns))['status'] as { compiled?: { backends: { name: string; weight: number }[] } } | undefined;
      return JSON.stringify(st?.compiled?.backends.map((b) => [b.name, b.weight])) === JSON.stringify([[nodeName(nodes[0] as BackendNode), 1], [nodeName(nodes[1] as BackendNode), 2]]);
    }, { what: 'node weights 1 and 2', timeoutMs: 10_000 });
    await waitCondition(ns, 'web-tcp-80', 'Programmed', { status: 'True' }, 30_000);
    await kubeProxyProgrammed(nodes[1] as BackendNode, pods.slice(1));
    const n = 600;
    const stats = await traffic.burst(n, { concurrency: 8 });
    expect(stats.ok, JSON.stringify(stats)).toBe(n);
    // Per pod: node 1's one pod gets 1/3, node 2's two pods 1/3 each (Maglev 1:2 by node, then kube-proxy 1:1 on node 2).
    const spread = checkSpread(stats.counts, { 'pod-1': 1, 'pod-2': 1, 'pod-3': 1 }, n);
    expect(spread.ok, spread.summary).toBe(true);
    console.log(`spread over pods (node weights 1:2): ${spread.summary}`);
  });
});
