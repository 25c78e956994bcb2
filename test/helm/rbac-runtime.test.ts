// The chart's least-privilege RBAC is enough to run Sterlet: the real
// controller runs with its ServiceAccount's token (leader election, status,
// events), and the agent's ServiceAccount holds exactly what the agent calls.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { CHART_TEST_VALUES, createNamespace, deleteNamespace, helm, kubeconfigPath, kubectl, REPO_ROOT, serviceAccountToken, uniqueName } from '../support/kube/index.ts';
import { installCrds } from '../support/kube/crds.ts';
import { applyObjects, backend, pool, vip, waitCondition } from '../support/kube/objects.ts';

const CHART = join(REPO_ROOT, 'charts/sterlet');
const NODE = join(REPO_ROOT, 'node_modules/.bin/node');
const CLI = join(REPO_ROOT, 'src/cli/sterlet.ts');

interface Kubeconfig { users: { name: string; user: Record<string, unknown> }[] }

/** A copy of the admin kubeconfig that authenticates with `token` instead. */
async function kubeconfigWithToken(token: string, file: string): Promise<string> {
  const config = parse(await readFile(kubeconfigPath(), 'utf8')) as Kubeconfig;
  for (const user of config.users) user.user = { token };
  await writeFile(file, stringify(config), { mode: 0o600 });
  return file;
}

async function canI(sa: string, ...args: string[]): Promise<boolean> {
  const r = await kubectl(['auth', 'can-i', `--as=system:serviceaccount:${sa}`, ...args], { allowFail: true });
  return r.stdout.trim() === 'yes';
}

describe('chart RBAC at run time', () => {
  const release = uniqueName('rbac').slice(0, 30);
  const fullname = `${release}-sterlet`;
  const poolName = uniqueName('rbac-pool');
  let system = '';
  let apps = '';
  let controller: ChildProcess | undefined;
  let controllerLog = '';
  let scratch = ''; // holds a kubeconfig with a ServiceAccount token: removed first

  beforeAll(async () => {
    await installCrds();
    system = await createNamespace('rbac-system');
    apps = await createNamespace('rbac-apps');
    const { stdout } = await helm(['template', release, CHART, '--namespace', system, ...CHART_TEST_VALUES,
      '--show-only', 'templates/controller-rbac.yaml', '--show-only', 'templates/agent-rbac.yaml']);
    await kubectl(['apply', '-n', system, '-f', '-'], { input: stdout });
  });

  afterAll(async () => {
    controller?.kill('SIGTERM');
    if (scratch !== '') await rm(scratch, { recursive: true, force: true });
    await kubectl(['delete', 'virtualippool', poolName, '--ignore-not-found', '--wait=false'], { allowFail: true });
    await kubectl(['delete', 'clusterrole,clusterrolebinding', `${fullname}-controller`, `${fullname}-agent`, '--ignore-not-found'], { allowFail: true });
    for (const ns of [apps, system]) if (ns) await deleteNamespace(ns, { wait: false });
  });

  it('runs the real controller with only its ServiceAccount token', async () => {
    const token = await serviceAccountToken(system, `${fullname}-controller`);
    scratch = await mkdtemp(join(tmpdir(), `sterlet-${release}-`)); // mode 0700
    const kubeconfig = await kubeconfigWithToken(token, join(scratch, 'controller.kubeconfig'));
    controller = spawn(NODE, [CLI, 'controller', '--kubeconfig', kubeconfig, '--leader-elect=true',
      '--lease-namespace', system, '--lease-name', 'sterlet-controller', '--metrics-addr', '127.0.0.1:0', '--log-level', 'info'],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env['PATH'] ?? '' } });
    controller.stdout?.on('data', (b: Buffer) => { controllerLog += b.toString(); });
    controller.stderr?.on('data', (b: Buffer) => { controllerLog += b.toString(); });

    await applyObjects(undefined, [pool(poolName, {
      addresses: ['10.201.7.0/24'], backendAddresses: ['10.0.1.0/24'],
      namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': apps } },
    })]);
    await applyObjects(apps, [vip('web', { address: '10.201.7.10', backendSelector: { matchLabels: { app: 'web' } } }), backend('web-1', '10.0.1.11', { app: 'web' })]);
    // Accepted needs: watching every kind, namespace labels for the pool, writing VIP status.
    await waitCondition(apps, 'web', 'Accepted', { status: 'True' }, 60_000).catch((e: unknown) => {
      throw new Error(`${String(e)}\ncontroller log:\n${controllerLog.slice(-3000)}`);
    });
    const lease = JSON.parse((await kubectl(['get', 'lease', 'sterlet-controller', '-n', system, '-o', 'json'])).stdout) as { spec: { holderIdentity?: string } };
    expect(lease.spec.holderIdentity).toMatch(/./);
    const events = (await kubectl(['get', 'events', '-n', apps, '-o', 'json'])).stdout;
    expect(events).toContain('sterlet');
    expect(controllerLog).not.toMatch(/forbidden/i);
  });

  it('gives the controller read access to Services, EndpointSlices and Nodes, and writes only Service status', async () => {
    const ctl = `${system}:${fullname}-controller`;
    for (const verb of ['list', 'watch']) {
      for (const kind of ['services', 'endpointslices.discovery.k8s.io', 'nodes']) expect(await canI(ctl, verb, kind, '--all-namespaces'), `${verb} ${kind}`).toBe(true);
    }
    expect(await canI(ctl, 'patch', 'services', '--subresource=status', '-n', apps)).toBe(true);
    expect(await canI(ctl, 'patch', 'services', '-n', apps)).toBe(false);
    expect(await canI(ctl, 'update', 'services', '-n', apps)).toBe(false);
    expect(await canI(ctl, 'patch', 'nodes')).toBe(false);
    expect(await canI(ctl, 'create', 'endpointslices.discovery.k8s.io', '-n', apps)).toBe(false);
    // The derived VirtualIPs, one per Service port.
    expect(await canI(ctl, 'create', 'virtualips.sterlet.dev', '-n', apps)).toBe(true);
    expect(await canI(ctl, 'delete', 'virtualips.sterlet.dev', '-n', apps)).toBe(true);
    expect(await canI(ctl, 'get', 'secrets', '-n', apps)).toBe(false);
    // BGPPeers: reads them, writes only their status (the summary, by server-side apply).
    expect(await canI(ctl, 'watch', 'bgppeers.sterlet.dev')).toBe(true);
    expect(await canI(ctl, 'patch', 'bgppeers.sterlet.dev', '--subresource=status')).toBe(true);
    expect(await canI(ctl, 'patch', 'bgppeers.sterlet.dev')).toBe(false);
    expect(await canI(ctl, 'delete', 'bgppeers.sterlet.dev')).toBe(false);
  });

  it('gives the agent what it calls and nothing a tenant owns', async () => {
    const agent = `${system}:${fullname}-agent`;
    expect(await canI(agent, 'list', 'virtualips.sterlet.dev', '--all-namespaces')).toBe(true);
    expect(await canI(agent, 'watch', 'virtualips.sterlet.dev', '--all-namespaces')).toBe(true);
    expect(await canI(agent, 'create', 'loadbalancernodes.sterlet.dev')).toBe(true);
    expect(await canI(agent, 'patch', 'loadbalancernodes.sterlet.dev', '--subresource=status')).toBe(true);
    expect(await canI(agent, 'get', 'nodes')).toBe(true);
    expect(await canI(agent, 'patch', 'virtualips.sterlet.dev', '--subresource=status', '-n', apps)).toBe(false);
    expect(await canI(agent, 'create', 'virtualips.sterlet.dev', '-n', apps)).toBe(false);
    expect(await canI(agent, 'create', 'virtualippools.sterlet.dev')).toBe(false);
    expect(await canI(agent, 'get', 'secrets', '-n', apps)).toBe(false);
  });
});
