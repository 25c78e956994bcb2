// Kubernetes path latency on the local control plane (make cluster-up):
//  1. initial sync: N VIPs x M Backends already stored, the controller starts
//     -> every VIP published in status.compiled (and, with --agent, programmed
//     into the maps by a real agent that reports every revision);
//  2. K single-Backend changes, each a real `kubectl apply`: time from running
//     kubectl to the new revision in status.compiled, and (--agent) to the
//     agent's report that the maps hold it.
// Usage: node bench/k8s.ts [--vips 1000] [--backends 10] [--changes 100] [--agent [--ring-size 16381]]
// (--agent runs `sterlet agent --kubeconfig` on a veth in this namespace; the
// default ring is 16381 slots so 1,000 rings fit in ~65 MB of map memory.)
// Prints a table; exits non-zero only when the bench itself fails.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { createLogger } from '../src/common/log.ts';
import { KubeClient, type KubeObject, objectKey, Resources } from '../src/kube/client.ts';
import { runController } from '../src/controller/main.ts';
import { AGENT_ARG_OPTIONS, API, clusterKubeconfig, compiledRevision, deleteNamespace, interruption, kubectlRunner, latencySummary, pool, printTable, reported, ROOT, startAgent, testbinDir, watchVipsAndNode } from './lib/k8s-rig.ts';

const { values: args } = parseArgs({
  options: {
    vips: { type: 'string', default: '1000' },
    backends: { type: 'string', default: '10' },
    changes: { type: 'string', default: '100' },
    ...AGENT_ARG_OPTIONS,
  },
});
const VIPS = Number(args.vips);
const BACKENDS = Number(args.backends);
const CHANGES = Number(args.changes);
const KUBECONFIG = clusterKubeconfig();
const bin = testbinDir();
const kubectl = kubectlRunner(KUBECONFIG);

const client = KubeClient.create({ kubeconfig: KUBECONFIG });
const id = `${process.pid}`;
const ns = `bench-${id}`;
const nodeName = `bench-${id}`;
const nodeLabels = { 'sterlet.dev/bench': id };
const vipAddress = (i: number): string => `100.64.${i >> 8}.${i & 255}`;
const beAddress = (i: number, j: number): string => `10.${100 + (i >> 8)}.${i & 255}.${j + 1}`;

async function main(): Promise<void> {
  kubectl(['apply', '--server-side', '--force-conflicts', '-f', resolve(ROOT, 'crds')]);
  kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd/virtualips.sterlet.dev', 'crd/backends.sterlet.dev']);
  kubectl(['create', 'namespace', ns]);
  await client.create(Resources.virtualIPPool, { apiVersion: API, kind: 'VirtualIPPool', metadata: { name: `bench-${id}` },
    spec: { addresses: ['100.64.0.0/16'], backendAddresses: ['10.0.0.0/8'], namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ns } } } });
  const dir = mkdtempSync(join(tmpdir(), 'sterlet-bench-'));
  const ac = new AbortController();
  // Interrupted: still detach the agent and delete what we created.
  const interrupted = interruption();
  let agent: ReturnType<typeof startAgent> | undefined;
  let controller: Promise<void> | undefined;
  const rows: [string, string][] = [];
  const body = async (): Promise<void> => {
    // Stored before the controller starts: initial sync is a controller (re)start over a populated cluster.
    let t = performance.now();
    const backends: KubeObject[] = [];
    const vips: KubeObject[] = [];
    for (let i = 0; i < VIPS; i++) {
      vips.push({ apiVersion: API, kind: 'VirtualIP', metadata: { name: `vip-${i}` },
        spec: { address: vipAddress(i), port: 80, protocol: 'TCP', backendSelector: { matchLabels: { vip: `v${i}` } }, nodeSelector: { matchLabels: nodeLabels } } });
      for (let j = 0; j < BACKENDS; j++) backends.push({ apiVersion: API, kind: 'Backend', metadata: { name: `be-${i}-${j}`, labels: { vip: `v${i}` } }, spec: { address: beAddress(i, j), weight: 1 } });
    }
    await pool([...vips, ...backends], 32, (o) => client.create(o.kind === 'VirtualIP' ? Resources.virtualIP : Resources.backend, o, ns));
    rows.push([`store ${VIPS} VIPs + ${VIPS * BACKENDS} Backends (API writes, 32 parallel)`, `${((performance.now() - t) / 1000).toFixed(1)} s`]);

    const { watcher, vips: vipInformer, node: nodeInformer } = await watchVipsAndNode(client, ns, nodeName, ac.signal);
    if (args.agent) {
      agent = startAgent({ id, kubeconfig: KUBECONFIG, nodeName, cwd: dir, ringSize: args['ring-size'], maxVips: VIPS + 16, maxReals: VIPS * BACKENDS + 16, bpfObject: args['bpf-object'] });
      rows.push([`agent: native XDP on a veth, ring ${args['ring-size']} slots`, '']);
      await watcher.until(() => nodeInformer.get(nodeName) !== undefined, 60_000, 'agent registration');
      kubectl(['label', 'loadbalancernode', nodeName, `sterlet.dev/bench=${id}`, '--overwrite']);
    }

    const log = createLogger({ name: 'controller', level: 'warn' });
    t = performance.now();
    controller = runController({ kubeconfig: KUBECONFIG, leaderElect: false, metricsAddr: '', log, signal: ac.signal });
    const published = (): boolean => vipInformer.list().filter((o) => compiledRevision(o) !== undefined).length === VIPS;
    const tPublished = await watcher.until(published, 300_000, `all ${VIPS} VIPs published`);
    rows.push([`initial sync: controller start -> ${VIPS} VIPs in status.compiled`, `${((tPublished - t) / 1000).toFixed(2)} s`]);
    const programmedAll = (): boolean => {
      const got = reported(nodeInformer.get(nodeName));
      return vipInformer.list().every((o) => got.get(objectKey(o)) === compiledRevision(o));
    };
    if (args.agent) {
      const tProgrammed = await watcher.until(programmedAll, 300_000, `all ${VIPS} VIPs programmed`);
      rows.push([`initial sync: controller start -> ${VIPS} VIPs programmed by the agent`, `${((tProgrammed - t) / 1000).toFixed(2)} s`]);
    }

    const toCompiled: number[] = [];
    const kubectlMs: number[] = [];
    const toProgrammed: number[] = [];
    for (let c = 0; c < CHANGES; c++) {
      const i = (c * 7919) % VIPS;
      const key = `${ns}/vip-${i}`;
      const before = compiledRevision(vipInformer.get(key));
      const manifest = JSON.stringify({ apiVersion: API, kind: 'Backend', metadata: { name: `be-${i}-0`, namespace: ns, labels: { vip: `v${i}` } }, spec: { address: beAddress(i, 0), weight: 2 + c } });
      const t0 = performance.now();
      kubectl(['apply', '-f', '-'], manifest);
      kubectlMs.push(performance.now() - t0);
      const t1 = await watcher.until(() => { const r = compiledRevision(vipInformer.get(key)); return r !== undefined && r !== before; }, 30_000, `change ${c} published`);
      toCompiled.push(t1 - t0);
      if (args.agent) {
        const rev = compiledRevision(vipInformer.get(key));
        const t2 = await watcher.until(() => reported(nodeInformer.get(nodeName)).get(key) === rev, 30_000, `change ${c} programmed`);
        toProgrammed.push(t2 - t0);
      }
    }
    const fmt = latencySummary;
    rows.push(['kubectl apply itself (process start to exit)', fmt(kubectlMs)]);
    rows.push([`kubectl apply (1 Backend) -> new revision in status.compiled`, fmt(toCompiled)]);
    if (args.agent) rows.push([`kubectl apply (1 Backend) -> agent reports the maps programmed`, fmt(toProgrammed)]);
    else rows.push(['kubectl apply -> maps programmed', 'not measured: run with --agent (needs the sterlet CLI agent)']);
  };
  try {
    await Promise.race([body(), interrupted]);
  } finally {
    // Deleting the namespace while the controller runs lets it release the finalizers.
    spawnSync(resolve(bin, 'kubectl'), ['--kubeconfig', KUBECONFIG, 'delete', 'loadbalancernode', nodeName, '--ignore-not-found']);
    agent?.cleanup();
    if (!(await deleteNamespace(client, ns, 180_000))) console.error(`namespace ${ns} still there after 180 s`);
    ac.abort();
    await controller?.catch(() => undefined);
    spawnSync(resolve(bin, 'kubectl'), ['--kubeconfig', KUBECONFIG, 'delete', 'virtualippool', `bench-${id}`, '--ignore-not-found']);
    rmSync(dir, { recursive: true, force: true });
  }
  printTable(`Sterlet Kubernetes bench: ${VIPS} VIPs x ${BACKENDS} backends, ${CHANGES} changes (local kube-apiserver + etcd, ${process.arch})`, rows);
}

await main();
