// What a namespace editor (a ServiceAccount token bound to the built-in `edit`
// role, which the chart's sterlet-edit aggregates into) can and cannot do to
// get traffic where its pools do not allow. Agents program whatever a
// VirtualIP's status.compiled says, so the status subresource is the trust
// boundary: only the controller may write it.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHART_TEST_VALUES, createNamespace, deleteNamespace, helm, kubectl, kubectlAs, REPO_ROOT, serviceAccountToken, waitFor } from '../support/kube/index.ts';
import { installCrds } from '../support/kube/crds.ts';
import { backend, condition, dropFinalizers, randomVipNet, vip, vipStatus, waitCondition } from '../support/kube/objects.ts';
import { type ControllerProcess, startControllerProcess } from '../support/tenancy/controller.ts';
import { createPool, deleteCreatedPools, onlyNamespaces, SETTLE_MS } from '../support/tenancy/tenancy.ts';

const CHART = join(REPO_ROOT, 'charts/sterlet');
const teamNet = randomVipNet();
const otherNet = randomVipNet();
let team = '';
let other = '';
let token = '';
let otherPool = '';
let controller: ControllerProcess | undefined;

/** A schema-valid compiled state as an attacker would forge it: any address, any backend. */
function forged(address: string): Record<string, unknown> {
  return {
    key: { address, family: 'IPv4', port: 80, protocol: 'TCP' },
    flags: { hash: 'FiveTuple', connectionTracking: 'Enabled', quic: false, encapsulation: 'IPIP' },
    generation: 1, revision: 'f0f0f0f0f0f0f0f0',
    backends: [{ name: 'x', address: '10.96.0.1', family: 'IPv4', weight: 1 }],
  };
}

/** VIPs of this file select no real load-balancer node: other test runs' agents never program them. */
const teamVip = (name: string, address: string) => vip(name, {
  address, backendSelector: { matchLabels: { app: name } }, nodeSelector: { matchLabels: { 'sterlet.dev/test': `tenancy-bounds-${process.pid}` } },
});

const asTeam = (args: readonly string[], input?: string) =>
  kubectlAs(token, ['-n', team, ...args], { allowFail: true, ...(input === undefined ? {} : { input }) });

beforeAll(async () => {
  await installCrds();
  const { stdout } = await helm(['template', 'sterlet', CHART, ...CHART_TEST_VALUES, '--show-only', 'templates/tenant-rbac.yaml']);
  await kubectl(['apply', '-f', '-'], { input: stdout });
  team = await createNamespace('tenancy-team');
  other = await createNamespace('tenancy-other');
  await createPool('tenancy-team', { addresses: [`${teamNet}.0/24`], backendAddresses: ['10.77.2.0/24'], namespaceSelector: onlyNamespaces(team) });
  otherPool = await createPool('tenancy-other', { addresses: [`${otherNet}.0/24`], backendAddresses: ['10.77.3.0/24'], namespaceSelector: onlyNamespaces(other) });
  token = await serviceAccountToken(team, 'deployer');
  await kubectl(['-n', team, 'create', 'rolebinding', 'deployer-edit', '--clusterrole=edit', `--serviceaccount=${team}:deployer`]);
  await waitFor(async () => (await asTeam(['auth', 'can-i', 'create', 'virtualips.sterlet.dev'])).stdout.trim() === 'yes',
    { what: 'the edit role to aggregate sterlet-edit', timeoutMs: 30_000 });
  controller = await startControllerProcess('tenancy-bounds');
});

afterAll(async () => {
  for (const ns of [team, other]) if (ns !== '') await kubectl(['delete', 'virtualips', '--all', '-n', ns, '--wait=false'], { allowFail: true });
  await new Promise((r) => setTimeout(r, 1000));
  await controller?.stop();
  await deleteCreatedPools();
  for (const ns of [team, other]) if (ns !== '') { await dropFinalizers(ns); await deleteNamespace(ns); }
});

describe('a namespace editor stays inside its pools', () => {
  it('may not write VirtualIP status (where agents read the compiled state)', async () => {
    for (const resource of ['virtualips.sterlet.dev', 'backends.sterlet.dev']) {
      const r = await asTeam(['auth', 'can-i', 'patch', resource, '--subresource=status']);
      expect(r.stdout.trim(), resource).toBe('no');
    }
    await asTeam(['apply', '-f', '-'], JSON.stringify(teamVip('mine', `${teamNet}.5`)));
    const patch = { status: { compiled: forged(`${otherNet}.5`) } };
    const r = await asTeam(['patch', 'vip', 'mine', '--subresource=status', '--type=merge', '-p', JSON.stringify(patch)]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/forbidden/i);
  });

  it('cannot smuggle status in through the main resource (status subresource ignores it)', async () => {
    const body = { ...teamVip('smuggled', `${teamNet}.6`),
      status: { compiled: forged(`${otherNet}.6`) } };
    const created = await asTeam(['create', '-f', '-', '-o', 'json'], JSON.stringify(body));
    expect(created.code, created.stderr).toBe(0);
    const stored = JSON.parse(created.stdout) as { status?: { compiled?: unknown } };
    expect(stored.status?.compiled).toBeUndefined();
    // The controller publishes only what it compiled from the spec and the pool.
    await asTeam(['apply', '-f', '-'], JSON.stringify(backend('smuggled-1', '10.77.2.2', { app: 'smuggled' })));
    const st = await waitCondition(team, 'smuggled', 'ResolvedRefs', { status: 'True', message: '1 backends selected, 1 with weight > 0' }, SETTLE_MS);
    const compiled = st.compiled as { key?: { address?: string }; revision?: string; backends?: { address: string }[] } | undefined;
    expect(compiled?.key?.address).toBe(`${teamNet}.6`);
    expect(compiled?.backends?.map((b) => b.address)).toEqual(['10.77.2.2']);
    expect(compiled?.revision).not.toBe('f0f0f0f0f0f0f0f0');
  });

  it("claiming another team's address is refused and reaches no agent", async () => {
    await asTeam(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [
      teamVip('grab', `${otherNet}.10`),
      backend('grab-1', '10.77.3.1', { app: 'grab' }),
    ] }));
    const st = await waitCondition(team, 'grab', 'Accepted', { status: 'False', reason: 'AddressNotAllowed' }, SETTLE_MS);
    expect(condition(st, 'Accepted')?.message).toContain(`${otherPool}: namespace ${team} not selected`);
    expect(st.compiled).toBeUndefined();
  });

  it('a Backend outside its pool backend ranges (e.g. a cluster service address) is left out', async () => {
    await asTeam(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [
      teamVip('reach', `${teamNet}.11`),
      backend('reach-1', '10.77.2.1', { app: 'reach' }),
      backend('apiserver', '10.96.0.1', { app: 'reach' }),
    ] }));
    const st = await waitCondition(team, 'reach', 'ResolvedRefs', { status: 'False', reason: 'BackendNotAllowed' }, SETTLE_MS);
    expect(condition(st, 'ResolvedRefs')?.message).toContain('apiserver (10.96.0.1)');
    expect((await vipStatus(team, 'reach')).compiled?.backends.map((b) => b.address)).toEqual(['10.77.2.1']);
  });
});
