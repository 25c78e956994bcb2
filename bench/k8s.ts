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

import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { createLogger } from '../src/common/log.ts';
import { KubeClient, type KubeObject, objectKey, Resources } from '../src/kube/client.ts';
import { Informer } from '../src/kube/informer.ts';
import { runController } from '../src/controller/main.ts';

const ROOT = resolve(import.meta.dirname, '..');
const { values: args } = parseArgs({
  options: {
    vips: { type: 'string', default: '1000' },
    backends: { type: 'string', default: '10' },
    changes: { type: 'string', default: '100' },
    agent: { type: 'boolean', default: false },
    'ring-size': { type: 'string', default: '16381' },
    'bpf-object': { type: 'string' },
  },
});
const VIPS = Number(args.vips);
const BACKENDS = Number(args.backends);
const CHANGES = Number(args.changes);
const KUBECONFIG = process.env['STERLET_KUBECONFIG'] ?? resolve(ROOT, 'build/kubeconfig');
if (!existsSync(KUBECONFIG)) {
  console.error(`BENCH_NO_CLUSTER: ${KUBECONFIG} is missing: run \`make cluster-up\` first`);
  process.exit(1);
}
const bin = process.env['STERLET_TESTBIN'] ?? execFileSync(resolve(ROOT, 'scripts/testbin.sh'), ['--dir'], { encoding: 'utf8' }).trim();
const kubectl = (argv: string[], input?: string): void => {
  const r = spawnSync(resolve(bin, 'kubectl'), ['--kubeconfig', KUBECONFIG, ...argv], { input, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`kubectl ${argv.join(' ')} failed: ${r.stderr}`);
};

const client = KubeClient.create({ kubeconfig: KUBECONFIG });
const id = `${process.pid}`;
const ns = `bench-${id}`;
const nodeName = `bench-${id}`;
const API = 'sterlet.dev/v1alpha1';
const nodeLabels = { 'sterlet.dev/bench': id };
const vipAddress = (i: number): string => `100.64.${i >> 8}.${i & 255}`;
const beAddress = (i: number, j: number): string => `10.${100 + (i >> 8)}.${i & 255}.${j + 1}`;

async function pool<T>(items: readonly T[], width: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < items.length) await fn(items[next++] as T);
  }));
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}

/** Resolves waiters when a watched condition holds; fed by informer events. */
class Watcher {
  readonly #waiters = new Set<{ test: () => boolean; resolve: (t: number) => void }>();
  check(): void {
    for (const w of this.#waiters) if (w.test()) { this.#waiters.delete(w); w.resolve(performance.now()); }
  }
  until(test: () => boolean, timeoutMs: number, what: string): Promise<number> {
    if (test()) return Promise.resolve(performance.now());
    return new Promise((resolvePromise, reject) => {
      const entry = { test, resolve: (t: number) => { clearTimeout(timer); resolvePromise(t); } };
      const timer = setTimeout(() => { this.#waiters.delete(entry); reject(new Error(`BENCH_TIMEOUT: ${what} within ${timeoutMs} ms`)); }, timeoutMs);
      this.#waiters.add(entry);
    });
  }
}

function compiledRevision(o: KubeObject | undefined): string | undefined {
  return (o?.['status'] as { compiled?: { revision?: string } } | undefined)?.compiled?.revision;
}

function reported(node: KubeObject | undefined): Map<string, string | undefined> {
  const list = (node?.['status'] as { virtualIPs?: { id: string; revision?: string }[] } | undefined)?.virtualIPs ?? [];
  return new Map(list.map((v) => [v.id, v.revision]));
}

/** A real agent on a veth in this namespace (generic XDP), following the cluster. */
function startAgent(dir: string): { proc: ChildProcess; cleanup: () => void } {
  const ifA = `stb${id}a`.slice(0, 15);
  const ifB = `stb${id}b`.slice(0, 15);
  execFileSync('ip', ['link', 'add', ifA, 'type', 'veth', 'peer', 'name', ifB]);
  execFileSync('ip', ['link', 'set', ifA, 'up']);
  execFileSync('ip', ['link', 'set', ifB, 'up']);
  const bpffs = `/sys/fs/bpf/sterlet-bench-${id}`;
  const proc = spawn(resolve(ROOT, 'node_modules/.bin/node'), [resolve(ROOT, 'src/cli/sterlet.ts'), 'agent',
    '--interface', ifA, '--kubeconfig', KUBECONFIG, '--node-name', nodeName, '--bpffs', bpffs,
    '--xdp-mode', 'native', '--gateway-mac', '02:00:00:00:00:01', '--metrics-addr', '', '--log-level', 'warn',
    ...(args['bpf-object'] === undefined ? [] : ['--bpf-object', args['bpf-object']]),
    '--ring-size', args['ring-size'], '--max-vips', String(VIPS + 16), '--max-reals', String(VIPS * BACKENDS + 16), '--lru-size', '65536'],
  { stdio: ['ignore', 'ignore', 'inherit'], cwd: dir });
  return {
    proc,
    cleanup: () => {
      proc.kill('SIGTERM');
      spawnSync(resolve(ROOT, 'node_modules/.bin/node'), [resolve(ROOT, 'src/cli/sterlet.ts'), 'detach', '--interface', ifA, '--bpffs', bpffs]);
      spawnSync('ip', ['link', 'del', ifA]);
      rmSync(bpffs, { recursive: true, force: true });
    },
  };
}

async function main(): Promise<void> {
  kubectl(['apply', '--server-side', '--force-conflicts', '-f', resolve(ROOT, 'crds')]);
  kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd/virtualips.sterlet.dev', 'crd/backends.sterlet.dev']);
  kubectl(['create', 'namespace', ns]);
  await client.create(Resources.virtualIPPool, { apiVersion: API, kind: 'VirtualIPPool', metadata: { name: `bench-${id}` },
    spec: { addresses: ['100.64.0.0/16'], backendAddresses: ['10.0.0.0/8'], namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ns } } } });
  const dir = mkdtempSync(join(tmpdir(), 'sterlet-bench-'));
  const ac = new AbortController();
  // Interrupted: still detach the agent and delete what we created.
  const interrupted = new Promise<never>((_, reject) => {
    for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => reject(new Error(`BENCH_INTERRUPTED: ${sig}`)));
  });
  interrupted.catch(() => undefined);
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

    const watcher = new Watcher();
    const vipInformer = new Informer(client, Resources.virtualIP, { namespace: ns, onChange: () => watcher.check() });
    const nodeInformer = new Informer(client, Resources.loadBalancerNode, { fieldSelector: `metadata.name=${nodeName}`, onChange: () => watcher.check() });
    void vipInformer.run(ac.signal);
    void nodeInformer.run(ac.signal);
    await Promise.all([vipInformer.waitForSync(), nodeInformer.waitForSync()]);
    if (args.agent) {
      agent = startAgent(dir);
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
    const fmt = (xs: number[]): string => {
      const s = [...xs].sort((a, b) => a - b);
      return `p50 ${percentile(s, 50).toFixed(0)} ms, p99 ${percentile(s, 99).toFixed(0)} ms, max ${(s.at(-1) ?? 0).toFixed(0)} ms (n=${s.length})`;
    };
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
    spawnSync(resolve(bin, 'kubectl'), ['--kubeconfig', KUBECONFIG, 'delete', 'namespace', ns, '--timeout=120s']);
    ac.abort();
    await controller?.catch(() => undefined);
    spawnSync(resolve(bin, 'kubectl'), ['--kubeconfig', KUBECONFIG, 'delete', 'virtualippool', `bench-${id}`, '--ignore-not-found']);
    rmSync(dir, { recursive: true, force: true });
  }
  const width = Math.max(...rows.map((r) => r[0].length));
  console.log(`\nSterlet Kubernetes bench: ${VIPS} VIPs x ${BACKENDS} backends, ${CHANGES} changes (local kube-apiserver + etcd, ${process.arch})\n`);
  for (const [k, v] of rows) console.log(`${k.padEnd(width)}  ${v}`);
}

await main();
