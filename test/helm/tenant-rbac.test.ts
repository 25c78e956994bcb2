// Tenant RBAC shipped by the chart, on the real API server: the aggregated
// sterlet-view/sterlet-edit roles give namespace editors VirtualIP and
// Backend in their own namespace, and nothing cluster-wide.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHART_TEST_VALUES, createNamespace, deleteNamespace, helm, kubectl, kubectlAs, REPO_ROOT, serviceAccountToken, waitFor } from '../support/kube/index.ts';

const CHART = join(REPO_ROOT, 'charts/sterlet');

function vip(name: string, address: string): string {
  return JSON.stringify({
    apiVersion: 'sterlet.dev/v1alpha1',
    kind: 'VirtualIP',
    metadata: { name },
    spec: { address, port: 80, protocol: 'TCP', backendSelector: { matchLabels: { app: name } } },
  });
}

const POOL = JSON.stringify({
  apiVersion: 'sterlet.dev/v1alpha1',
  kind: 'VirtualIPPool',
  metadata: { name: `tenant-grab-${String(process.pid)}` },
  spec: { addresses: ['0.0.0.0/0'], backendAddresses: ['0.0.0.0/0'] },
});

describe('tenant RBAC (aggregated ClusterRoles)', () => {
  let team = '';
  let other = '';
  let token = '';

  beforeAll(async () => {
    await kubectl(['apply', '--server-side', '--force-conflicts', '-f', join(REPO_ROOT, 'crds')]);
    await kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd', '--all']);
    const { stdout } = await helm(['template', 'sterlet', CHART, ...CHART_TEST_VALUES, '--show-only', 'templates/tenant-rbac.yaml']);
    await kubectl(['apply', '-f', '-'], { input: stdout });
    team = await createNamespace('team-a');
    other = await createNamespace('team-b');
    token = await serviceAccountToken(team, 'deployer');
    // The team's deployer is a namespace editor through the built-in `edit` role.
    await kubectl(['-n', team, 'create', 'rolebinding', 'deployer-edit', '--clusterrole=edit', `--serviceaccount=${team}:deployer`]);
    // Aggregation is asynchronous (the clusterrole-aggregation controller fills `edit`).
    await waitFor(
      async () => {
        const r = await kubectlAs(token, ['-n', team, 'auth', 'can-i', 'create', 'virtualips.sterlet.dev'], { allowFail: true });
        return r.stdout.trim() === 'yes';
      },
      { timeoutMs: 30_000, what: 'the edit role to aggregate sterlet-edit' },
    );
  });

  afterAll(async () => {
    for (const ns of [team, other]) if (ns) await deleteNamespace(ns, { wait: false });
  });

  it('a namespace editor creates, reads and deletes a VirtualIP and a Backend in its namespace', async () => {
    await kubectlAs(token, ['-n', team, 'apply', '-f', '-'], { input: vip('web', '10.200.0.77') });
    const backend = JSON.stringify({
      apiVersion: 'sterlet.dev/v1alpha1', kind: 'Backend', metadata: { name: 'web-1', labels: { app: 'web' } }, spec: { address: '10.0.1.11' },
    });
    await kubectlAs(token, ['-n', team, 'apply', '-f', '-'], { input: backend });
    const got = await kubectlAs(token, ['-n', team, 'get', 'vip,be', '-o', 'name']);
    expect(got.stdout).toContain('virtualip.sterlet.dev/web');
    expect(got.stdout).toContain('backend.sterlet.dev/web-1');
    await kubectlAs(token, ['-n', team, 'delete', 'vip', 'web', '--wait=false']);
  });

  it('cannot create a VirtualIPPool (cluster admins only)', async () => {
    const r = await kubectlAs(token, ['apply', '-f', '-'], { input: POOL, allowFail: true });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/forbidden/i);
    expect(r.stderr).toMatch(/virtualippools/);
  });

  it('cannot write LoadBalancerNode status (agents only)', async () => {
    const r = await kubectlAs(token, ['auth', 'can-i', 'patch', 'loadbalancernodes.sterlet.dev', '--subresource=status'], { allowFail: true });
    expect(r.stdout.trim()).toBe('no');
  });

  it('cannot touch another namespace', async () => {
    const r = await kubectlAs(token, ['-n', other, 'apply', '-f', '-'], { input: vip('intruder', '10.200.0.78'), allowFail: true });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/forbidden/i);
    const list = await kubectlAs(token, ['-n', other, 'get', 'vip'], { allowFail: true });
    expect(list.code).not.toBe(0);
  });
});
