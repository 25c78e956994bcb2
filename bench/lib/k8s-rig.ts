// Shared rig of the Kubernetes benches (bench/k8s.ts, bench/k8s-services.ts):
// the local cluster's kubeconfig and kubectl, a parallel writer, percentiles,
// a waiter fed by informer events, and a real agent on a veth that reports
// every revision it programs in its LoadBalancerNode status.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, openSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { isNotFound, type KubeClient, type KubeObject, Resources } from '../../src/kube/client.ts';
import { Informer } from '../../src/kube/informer.ts';

export const ROOT = resolve(import.meta.dirname, '../..');
export const API = 'sterlet.dev/v1alpha1';

/** build/kubeconfig of `make cluster-up` (or STERLET_KUBECONFIG); exits with BENCH_NO_CLUSTER when missing. */
export function clusterKubeconfig(): string {
  const kubeconfig = process.env['STERLET_KUBECONFIG'] ?? resolve(ROOT, 'build/kubeconfig');
  if (!existsSync(kubeconfig)) {
    console.error(`BENCH_NO_CLUSTER: ${kubeconfig} is missing: run \`make cluster-up\` first`);
    process.exit(1);
  }
  return kubeconfig;
}

export function testbinDir(): string {
  return process.env['STERLET_TESTBIN'] ?? execFileSync(resolve(ROOT, 'scripts/testbin.sh'), ['--dir'], { encoding: 'utf8' }).trim();
}

/** kubectl against `kubeconfig`; throws with its stderr unless allowFail. */
export function kubectlRunner(kubeconfig: string): (argv: string[], input?: string, allowFail?: boolean) => void {
  const bin = resolve(testbinDir(), 'kubectl');
  return (argv, input, allowFail = false) => {
    const r = spawnSync(bin, ['--kubeconfig', kubeconfig, ...argv], { input, encoding: 'utf8' });
    if (r.status !== 0 && !allowFail) throw new Error(`kubectl ${argv.join(' ')} failed: ${r.stderr}`);
  };
}

/** Runs fn over items, `width` at a time. */
export async function pool<T>(items: readonly T[], width: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < items.length) await fn(items[next++] as T);
  }));
}

export function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}

/** "p50 .. ms, p99 .. ms, max .. ms (n=..)". */
export function latencySummary(xs: readonly number[]): string {
  const s = [...xs].sort((a, b) => a - b);
  return `p50 ${percentile(s, 50).toFixed(0)} ms, p99 ${percentile(s, 99).toFixed(0)} ms, max ${(s.at(-1) ?? 0).toFixed(0)} ms (n=${s.length})`;
}

/** Resolves waiters when a watched condition holds; fed by informer events. */
export class Watcher {
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

export function compiledRevision(o: KubeObject | undefined): string | undefined {
  return (o?.['status'] as { compiled?: { revision?: string } } | undefined)?.compiled?.revision;
}

/** VIP key -> revision the agent reports programmed, from its LoadBalancerNode status. */
export function reported(node: KubeObject | undefined): Map<string, string | undefined> {
  const list = (node?.['status'] as { virtualIPs?: { id: string; revision?: string }[] } | undefined)?.virtualIPs ?? [];
  return new Map(list.map((v) => [v.id, v.revision]));
}

export interface AgentOptions {
  readonly id: string;
  readonly kubeconfig: string;
  readonly nodeName: string;
  readonly cwd: string;
  readonly ringSize: string;
  readonly maxVips: number;
  readonly maxReals: number;
  readonly bpfObject?: string | undefined;
  /** More agent flags (e.g. --health-checks=false). */
  readonly extraArgs?: readonly string[] | undefined;
  /** Append the agent's log (stdout) here; default: discarded. */
  readonly logFile?: string | undefined;
}

/** A real agent on a veth in this namespace (native XDP), following the cluster. */
export function startAgent(o: AgentOptions): { proc: ChildProcess; cleanup: () => void } {
  const ifA = `stb${o.id}a`.slice(0, 15);
  const ifB = `stb${o.id}b`.slice(0, 15);
  execFileSync('ip', ['link', 'add', ifA, 'type', 'veth', 'peer', 'name', ifB]);
  execFileSync('ip', ['link', 'set', ifA, 'up']);
  execFileSync('ip', ['link', 'set', ifB, 'up']);
  const bpffs = `/sys/fs/bpf/sterlet-bench-${o.id}`;
  const node = resolve(ROOT, 'node_modules/.bin/node');
  const cli = resolve(ROOT, 'src/cli/sterlet.ts');
  const proc = spawn(node, [cli, 'agent',
    '--interface', ifA, '--kubeconfig', o.kubeconfig, '--node-name', o.nodeName, '--bpffs', bpffs,
    '--xdp-mode', 'native', '--gateway-mac', '02:00:00:00:00:01', '--metrics-addr', '', '--log-level', o.logFile === undefined ? 'warn' : 'info',
    ...(o.bpfObject === undefined ? [] : ['--bpf-object', o.bpfObject]),
    '--ring-size', o.ringSize, '--max-vips', String(o.maxVips), '--max-reals', String(o.maxReals), '--lru-size', '65536',
    ...(o.extraArgs ?? [])],
  { stdio: ['ignore', o.logFile === undefined ? 'ignore' : openSync(o.logFile, 'a'), 'inherit'], cwd: o.cwd });
  return {
    proc,
    cleanup: () => {
      proc.kill('SIGTERM');
      spawnSync(node, [cli, 'detach', '--interface', ifA, '--bpffs', bpffs]);
      spawnSync('ip', ['link', 'del', ifA]);
      rmSync(bpffs, { recursive: true, force: true });
    },
  };
}

/** Rejects on SIGINT/SIGTERM, so a bench still runs its cleanup. */
export function interruption(): Promise<never> {
  const interrupted = new Promise<never>((_, reject) => {
    for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => reject(new Error(`BENCH_INTERRUPTED: ${sig}`)));
  });
  interrupted.catch(() => undefined);
  return interrupted;
}

export function printTable(title: string, rows: readonly (readonly [string, string])[]): void {
  const width = Math.max(...rows.map((r) => r[0].length));
  console.log(`\n${title}\n`);
  for (const [k, v] of rows) console.log(`${k.padEnd(width)}  ${v}`);
}

/**
 * Deletes a namespace and waits (without blocking the event loop: the
 * controller under test runs in this process and must release the
 * finalizers meanwhile) until it is gone or `timeoutMs` passes.
 */
export async function deleteNamespace(client: KubeClient, ns: string, timeoutMs: number): Promise<boolean> {
  await client.delete(Resources.namespace, ns).catch((err: unknown) => { if (!isNotFound(err)) throw err; });
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const gone = await client.get(Resources.namespace, ns).then(() => false, (err: unknown) => isNotFound(err));
    if (gone) return true;
    await new Promise((r) => setTimeout(r, 500));
  }
  return false;
}

/** The agent flags both benches take (parseArgs options). */
export const AGENT_ARG_OPTIONS = {
  agent: { type: 'boolean', default: false },
  'ring-size': { type: 'string', default: '16381' },
  'bpf-object': { type: 'string' },
} as const;

export interface VipWatch {
  readonly watcher: Watcher;
  readonly vips: Informer;
  readonly node: Informer;
}

/** Informers on the namespace's VirtualIPs and on one LoadBalancerNode, feeding one Watcher; resolves once both are synced. */
export async function watchVipsAndNode(client: KubeClient, ns: string, nodeName: string, signal: AbortSignal): Promise<VipWatch> {
  const watcher = new Watcher();
  const vips = new Informer(client, Resources.virtualIP, { namespace: ns, onChange: () => watcher.check() });
  const node = new Informer(client, Resources.loadBalancerNode, { fieldSelector: `metadata.name=${nodeName}`, onChange: () => watcher.check() });
  void vips.run(signal);
  void node.run(signal);
  await Promise.all([vips.waitForSync(), node.waitForSync()]);
  return { watcher, vips, node };
}
