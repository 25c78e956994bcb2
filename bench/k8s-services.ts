// Services path latency on the local control plane (make cluster-up), the
// issue 11 target "changes from scaling a Deployment are programmed within the
// same latency targets as Backend edits (apply -> programmed p99 <= 1 s at
// 1,000 VIPs)":
//  1. N Services of type LoadBalancer (Sterlet's class, externalTrafficPolicy
//     Local, one port), their EndpointSlices and K Node objects are stored
//     first (no kubelet: written directly, as test/k8s/services.test.ts does);
//     the controller starts -> every Service has an address and its derived
//     VirtualIP is in status.compiled (and, with --agent, programmed by a
//     real agent that reports every revision, as in bench/k8s.ts);
//  2. C EndpointSlice writes, cycling scale up (one more ready pod), a pod
//     terminating (ready false, serving, terminating: weight 0) and scale
//     down (the pod gone): time from the write to the new revision in
//     status.compiled, and (--agent) to the agent's report that its maps
//     hold it.
// Usage: node bench/k8s-services.ts [--services 1000] [--nodes 10] [--changes 150]
//          [--agent [--ring-size 16381] [--agent-arg=--health-checks=false ...] [--agent-log FILE]]
// Prints a table; exits non-zero only when the bench itself fails.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { createLogger } from '../src/common/log.ts';
import { KubeClient, type KubeObject, Resources } from '../src/kube/client.ts';
import { runController } from '../src/controller/main.ts';
import { AGENT_ARG_OPTIONS, API, clusterKubeconfig, compiledRevision, deleteNamespace, interruption, kubectlRunner, latencySummary, pool, printTable, reported, ROOT, startAgent, testbinDir, watchVipsAndNode } from './lib/k8s-rig.ts';

const { values: args } = parseArgs({
  options: {
    services: { type: 'string', default: '1000' },
    nodes: { type: 'string', default: '10' },
    changes: { type: 'string', default: '150' },
    ...AGENT_ARG_OPTIONS,
    'agent-arg': { type: 'string', multiple: true, default: [] },
    'agent-log': { type: 'string' },
  },
});
const SERVICES = Number(args.services);
const NODES = Number(args.nodes);
const CHANGES = Number(args.changes);
const KUBECONFIG = clusterKubeconfig();
const kubectlBin = resolve(testbinDir(), 'kubectl');
const kubectl = kubectlRunner(KUBECONFIG);

const client = KubeClient.create({ kubeconfig: KUBECONFIG });
const id = `${process.pid}`;
const ns = `bench-svc-${id}`;
const lbNode = `bench-svc-${id}`;
const lbClass = `sterlet.dev/bench-${id}`;
const nodeLabels = { 'sterlet.dev/bench': id };
const kubeNode = (j: number): string => `bench-${id}-k${j}`;
const vipKey = (i: number): string => `${ns}/svc-${i}-tcp-80`;

interface Ep { readonly ip: string; readonly node: number; readonly terminating: boolean }
type Change = 'scale up' | 'terminating' | 'scale down';

/** The endpoints of Service i as an EndpointSlice controller would write them. */
function sliceEndpoints(i: number, eps: readonly Ep[]): unknown[] {
  return eps.map((e) => ({
    addresses: [e.ip], nodeName: kubeNode(e.node), targetRef: { kind: 'Pod', name: `svc-${i}-${e.ip.replaceAll('.', '-')}`, namespace: ns },
    conditions: { ready: !e.terminating, serving: true, terminating: e.terminating },
  }));
}

/** Next change of a Service's endpoints: each one changes the node weights. */
function nextChange(kind: number, eps: Ep[], podIp: () => string): Change {
  const ready = eps.filter((e) => !e.terminating);
  const gone = eps.findIndex((e) => e.terminating);
  if (kind === 2 && gone >= 0) { eps.splice(gone, 1); return 'scale down'; }
  if (kind === 1 && ready.length > 1) {
    const victim = ready[0] as Ep;
    eps[eps.indexOf(victim)] = { ...victim, terminating: true };
    return 'terminating';
  }
  const last = eps.at(-1);
  eps.push({ ip: podIp(), node: ((last?.node ?? 0) + 1) % NODES, terminating: false });
  return 'scale up';
}

async function createNodes(): Promise<void> {
  await pool(Array.from({ length: NODES }, (_, j) => j), 8, async (j) => {
    await client.create(Resources.node, { apiVersion: 'v1', kind: 'Node', metadata: { name: kubeNode(j), labels: nodeLabels }, spec: {} });
    const now = new Date().toISOString();
    await client.patchStatus(Resources.node, kubeNode(j), {
      conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: '', lastHeartbeatTime: now, lastTransitionTime: now }],
      addresses: [{ type: 'InternalIP', address: `10.1.${j >> 8}.${(j & 255) + 1}` }],
    });
  });
}

async function main(): Promise<void> {
  kubectl(['apply', '--server-side', '--force-conflicts', '-f', resolve(ROOT, 'crds')]);
  kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd/virtualips.sterlet.dev', 'crd/virtualippools.sterlet.dev']);
  kubectl(['create', 'namespace', ns]);
  await client.create(Resources.virtualIPPool, { apiVersion: API, kind: 'VirtualIPPool', metadata: { name: `bench-svc-${id}` },
    spec: { addresses: ['100.64.0.0/16'], backendAddresses: ['10.1.0.0/16'], allocation: {}, namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ns } } } });
  const dir = mkdtempSync(join(tmpdir(), 'sterlet-bench-'));
  const ac = new AbortController();
  const interrupted = interruption();
  let agent: ReturnType<typeof startAgent> | undefined;
  let controller: Promise<void> | undefined;
  const rows: [string, string][] = [];
  let pods = 0;
  const podIp = (): string => { pods++; return `10.244.${pods >> 8}.${pods & 255}`; };
  const endpoints = Array.from({ length: SERVICES }, (_, i): Ep[] => [
    { ip: podIp(), node: i % NODES, terminating: false }, { ip: podIp(), node: (i + 1) % NODES, terminating: false }]);
  const body = async (): Promise<void> => {
    let t = performance.now();
    await createNodes();
    const services: KubeObject[] = Array.from({ length: SERVICES }, (_, i) => ({ apiVersion: 'v1', kind: 'Service', metadata: { name: `svc-${i}` },
      spec: { type: 'LoadBalancer', loadBalancerClass: lbClass, allocateLoadBalancerNodePorts: false, externalTrafficPolicy: 'Local', selector: { app: `svc-${i}` }, ports: [{ port: 80, targetPort: 8080, protocol: 'TCP' }] } }));
    const slices: KubeObject[] = endpoints.map((eps, i) => ({ apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
      metadata: { name: `svc-${i}-slice`, labels: { 'kubernetes.io/service-name': `svc-${i}`, 'endpointslice.kubernetes.io/managed-by': 'sterlet-bench' } },
      addressType: 'IPv4', ports: [{ port: 8080, protocol: 'TCP' }], endpoints: sliceEndpoints(i, eps) }));
    await pool([...services, ...slices], 32, (o) => client.create(o.kind === 'Service' ? Resources.service : Resources.endpointSlice, o, ns));
    rows.push([`store ${NODES} Nodes + ${SERVICES} Services + ${SERVICES} EndpointSlices (API writes, 32 parallel)`, `${((performance.now() - t) / 1000).toFixed(1)} s`]);

    const { watcher, vips: vipInformer, node: nodeInformer } = await watchVipsAndNode(client, ns, lbNode, ac.signal);
    if (args.agent) {
      agent = startAgent({ id, kubeconfig: KUBECONFIG, nodeName: lbNode, cwd: dir, ringSize: args['ring-size'], maxVips: SERVICES + 16, maxReals: NODES + 16, bpfObject: args['bpf-object'], extraArgs: args['agent-arg'], logFile: args['agent-log'] });
      rows.push([`agent: native XDP on a veth, ring ${args['ring-size']} slots${args['agent-arg'].length === 0 ? '' : `, ${args['agent-arg'].join(' ')}`}`, '']);
      await watcher.until(() => nodeInformer.get(lbNode) !== undefined, 60_000, 'agent registration');
    }

    const log = createLogger({ name: 'controller', level: 'warn' });
    t = performance.now();
    controller = runController({ kubeconfig: KUBECONFIG, leaderElect: false, metricsAddr: '', log, signal: ac.signal,
      services: { loadBalancerClass: lbClass, nodeSelector: { matchLabels: nodeLabels } } });
    const compiledAll = (): boolean => vipInformer.list().filter((o) => compiledRevision(o) !== undefined).length === SERVICES;
    const tPublished = await watcher.until(compiledAll, 600_000, `all ${SERVICES} Service VirtualIPs published`);
    rows.push([`initial sync: controller start -> ${SERVICES} Services allocated, their VIPs in status.compiled`, `${((tPublished - t) / 1000).toFixed(2)} s`]);
    if (args.agent) {
      const programmedAll = (): boolean => {
        const got = reported(nodeInformer.get(lbNode));
        return compiledAll() && vipInformer.list().every((o) => got.get(`${ns}/${o.metadata.name}`) === compiledRevision(o));
      };
      const tProgrammed = await watcher.until(programmedAll, 600_000, `all ${SERVICES} VIPs programmed`);
      rows.push([`initial sync: controller start -> ${SERVICES} VIPs programmed by the agent`, `${((tProgrammed - t) / 1000).toFixed(2)} s`]);
    }

    const writeMs: number[] = [];
    const toCompiled = new Map<Change | 'all', number[]>();
    const toProgrammed = new Map<Change | 'all', number[]>();
    const note = (m: Map<Change | 'all', number[]>, kind: Change, ms: number): void => {
      for (const k of [kind, 'all'] as const) m.set(k, [...(m.get(k) ?? []), ms]);
    };
    for (let c = 0; c < CHANGES; c++) {
      // Three writes per Service in a row: up, terminating, down (the terminating pod gone).
      const i = (Math.floor(c / 3) * 7919) % SERVICES;
      const key = vipKey(i);
      const eps = endpoints[i] as Ep[];
      const before = compiledRevision(vipInformer.get(key));
      const kind = nextChange(c % 3, eps, podIp);
      const t0 = performance.now();
      await client.mergePatch(Resources.endpointSlice, `svc-${i}-slice`, { endpoints: sliceEndpoints(i, eps) }, { namespace: ns });
      writeMs.push(performance.now() - t0);
      const t1 = await watcher.until(() => { const r = compiledRevision(vipInformer.get(key)); return r !== undefined && r !== before; }, 30_000, `change ${c} (${kind}) published`);
      note(toCompiled, kind, t1 - t0);
      if (args.agent) {
        const rev = compiledRevision(vipInformer.get(key));
        const t2 = await watcher.until(() => reported(nodeInformer.get(lbNode)).get(key) === rev, 30_000, `change ${c} (${kind}) programmed`);
        note(toProgrammed, kind, t2 - t0);
      }
    }
    rows.push(['EndpointSlice write itself (merge patch, API round trip)', latencySummary(writeMs)]);
    for (const k of ['all', 'scale up', 'terminating', 'scale down'] as const) {
      rows.push([`EndpointSlice write (${k}) -> new revision in status.compiled`, latencySummary(toCompiled.get(k) ?? [])]);
    }
    if (args.agent) {
      for (const k of ['all', 'scale up', 'terminating', 'scale down'] as const) {
        rows.push([`EndpointSlice write (${k}) -> agent reports the maps programmed`, latencySummary(toProgrammed.get(k) ?? [])]);
      }
    } else rows.push(['EndpointSlice write -> maps programmed', 'not measured: run with --agent (needs root for the veth and XDP)']);
  };
  try {
    await Promise.race([body(), interrupted]);
  } finally {
    // Deleting the namespace while the controller runs lets it release the finalizers.
    spawnSync(kubectlBin, ['--kubeconfig', KUBECONFIG, 'delete', 'loadbalancernode', lbNode, '--ignore-not-found']);
    agent?.cleanup();
    if (!(await deleteNamespace(client, ns, 180_000))) console.error(`namespace ${ns} still there after 180 s`);
    ac.abort();
    await controller?.catch(() => undefined);
    spawnSync(kubectlBin, ['--kubeconfig', KUBECONFIG, 'delete', 'nodes', '-l', `sterlet.dev/bench=${id}`, '--ignore-not-found']);
    spawnSync(kubectlBin, ['--kubeconfig', KUBECONFIG, 'delete', 'virtualippool', `bench-svc-${id}`, '--ignore-not-found']);
    rmSync(dir, { recursive: true, force: true });
  }
  printTable(`Sterlet Services bench: ${SERVICES} Services (Local) over ${NODES} nodes, ${CHANGES} EndpointSlice changes (local kube-apiserver + etcd, ${process.arch}); load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`, rows);
}

await main();
