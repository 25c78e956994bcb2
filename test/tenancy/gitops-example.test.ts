// examples/gitops/ is a repository layout users copy, so it must be right:
// every Kustomize path renders (kubectl's built-in kustomize), the Sterlet
// objects parse with the API schemas, the pools admit each team's VIPs and
// backends and nothing of the other team's, the Flux Kustomizations point at
// paths that exist and health-check VIPs those paths create, the Argo CD
// health check is the one documented, and the real API server accepts the
// rendered objects (server-side dry run).
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { compile } from '../../src/compile/compile.ts';
import { KIND_SCHEMAS } from '../../src/compile/manifests.ts';
import type { Labels } from '../../src/api/meta.ts';
import type { VirtualIPPool } from '../../src/api/virtual-ip-pool.ts';
import { createNamespace, deleteNamespace, kubectl, REPO_ROOT } from '../support/kube/index.ts';
import { installCrds } from '../support/kube/crds.ts';
import { argoHealthSnippet } from '../support/tenancy/tenancy.ts';

const ROOT = resolve(REPO_ROOT, 'examples/gitops');
const TEAMS = ['team-a', 'team-b'] as const;

interface Obj {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  spec?: Record<string, unknown>;
  [key: string]: unknown;
}

async function render(path: string): Promise<Obj[]> {
  const { stdout } = await kubectl(['kustomize', join(ROOT, path)]);
  return parseAllDocuments(stdout).map((d) => d.toJS() as Obj).filter((o) => o !== null);
}

function readObjects(path: string): Obj[] {
  return parseAllDocuments(readFileSync(join(ROOT, path), 'utf8')).map((d) => d.toJS() as Obj).filter((o) => o !== null);
}

function sterletParse(o: Obj): unknown {
  const schema = KIND_SCHEMAS[o.kind as keyof typeof KIND_SCHEMAS];
  if (schema === undefined) throw new Error(`not a Sterlet kind: ${o.kind}`);
  return schema.parse(o);
}

let pools: VirtualIPPool[] = [];
let tenants: Obj[] = [];
const overlays = new Map<string, Obj[]>();
let dryRunNs = '';

function namespaceLabels(): Map<string, Labels> {
  return new Map(tenants.filter((o) => o.kind === 'Namespace')
    .map((o) => [o.metadata.name, { ...o.metadata.labels, 'kubernetes.io/metadata.name': o.metadata.name }]));
}

beforeAll(async () => {
  pools = (await render('platform/pools')).map((o) => sterletParse(o) as VirtualIPPool);
  tenants = await render('platform/tenants');
  for (const team of TEAMS) overlays.set(team, await render(`apps/overlays/${team}`));
});

afterAll(async () => {
  if (dryRunNs !== '') await deleteNamespace(dryRunNs);
});

describe('examples/gitops', () => {
  it('renders every overlay into its team namespace with objects the API schemas accept', () => {
    for (const team of TEAMS) {
      const objects = overlays.get(team) ?? [];
      expect(objects.map((o) => o.kind).sort()).toEqual(['Backend', 'Backend', 'VirtualIP']);
      for (const o of objects) {
        expect(o.metadata.namespace).toBe(team);
        expect(() => sterletParse(o)).not.toThrow();
      }
    }
    expect(pools.map((p) => p.metadata.name).sort()).toEqual([...TEAMS]);
  });

  it("each team's pool admits its VIPs and backends, and nothing of the other team's", () => {
    for (const team of TEAMS) {
      const result = compile(overlays.get(team) ?? [], { admission: { mode: 'Pools', pools, namespaceLabels: namespaceLabels() } });
      expect(result.problems).toEqual([]);
      expect(result.admittedBy.get(`${team}/web`)).toBe(team);
      expect(result.state.vips.find((v) => v.id === `${team}/web`)?.backends).toHaveLength(2);
    }
    // Team A's manifests applied in team B's namespace: team B's pool does not cover them.
    const moved = (overlays.get('team-a') ?? []).map((o) => ({ ...o, metadata: { ...o.metadata, namespace: 'team-b' } }));
    const result = compile(moved, { admission: { mode: 'Pools', pools, namespaceLabels: namespaceLabels() } });
    expect(result.problems.map((p) => p.reason)).toEqual(['AddressNotAllowed']);
    expect(result.state.vips).toEqual([]);
    // The base alone (placeholder addresses) is admitted nowhere: a forgotten patch fails closed.
    const base = compile([...(overlays.get('team-a') ?? [])].map((o) => o.kind === 'VirtualIP' ? { ...o, spec: { ...o.spec, address: '192.0.2.10' } } : o),
      { admission: { mode: 'Pools', pools, namespaceLabels: namespaceLabels() } });
    expect(base.problems.map((p) => p.reason)).toEqual(['AddressNotAllowed']);
  });

  it('tenant reconcilers have the edit role in their own namespace only', () => {
    for (const team of TEAMS) {
      const bindings = tenants.filter((o) => o.kind === 'RoleBinding' && o.metadata.namespace === team);
      expect(bindings).toHaveLength(1);
      expect(bindings[0]?.['roleRef']).toMatchObject({ kind: 'ClusterRole', name: 'edit' });
      expect(bindings[0]?.['subjects']).toEqual([{ kind: 'ServiceAccount', name: `${team}-reconciler`, namespace: team }]);
    }
    expect(tenants.filter((o) => o.kind === 'ClusterRoleBinding')).toEqual([]);
  });

  it('Flux Kustomizations reconcile paths that exist, as the tenant, and health-check VIPs those paths create', async () => {
    const cluster = await render('clusters/production');
    const kustomizations = cluster.filter((o) => o.kind === 'Kustomization');
    const byName = new Map(kustomizations.map((k) => [k.metadata.name, k]));
    expect([...byName.keys()].sort()).toEqual(['sterlet-pools', 'sterlet-tenants', 'team-a-vips', 'team-b-vips']);
    for (const k of kustomizations) {
      expect(k.apiVersion).toBe('kustomize.toolkit.fluxcd.io/v1');
      const path = String(k.spec?.['path']).replace(/^\.\//, '');
      await render(path); // throws when the path does not render
      for (const dep of (k.spec?.['dependsOn'] ?? []) as { name: string }[]) expect(byName.has(dep.name), dep.name).toBe(true);
    }
    for (const team of TEAMS) {
      const k = byName.get(`${team}-vips`);
      expect(k?.metadata.namespace).toBe(team);
      expect(k?.spec).toMatchObject({ serviceAccountName: `${team}-reconciler`, targetNamespace: team, path: `./apps/overlays/${team}` });
      const checks = (k?.spec?.['healthChecks'] ?? []) as { apiVersion: string; kind: string; name: string; namespace: string }[];
      expect(checks.length).toBeGreaterThan(0);
      const vips = (overlays.get(team) ?? []).filter((o) => o.kind === 'VirtualIP');
      for (const c of checks) {
        expect(c).toMatchObject({ apiVersion: 'sterlet.dev/v1alpha1', kind: 'VirtualIP', namespace: team });
        expect(vips.some((v) => v.metadata.name === c.name && v.metadata.namespace === c.namespace), c.name).toBe(true);
      }
      expect(tenants.some((o) => o.kind === 'ServiceAccount' && o.metadata.name === `${team}-reconciler` && o.metadata.namespace === team)).toBe(true);
    }
  });

  it('ships the documented Argo CD health check and a project that cannot deploy pools', () => {
    const cm = readObjects('argocd/argocd-cm-patch.yaml')[0] as unknown as { data: Record<string, string> };
    expect(cm.data['resource.customizations.health.sterlet.dev_VirtualIP']).toBe(argoHealthSnippet());
    const project = readObjects('argocd/team-a.yaml').find((o) => o.kind === 'AppProject');
    expect(project?.spec?.['clusterResourceWhitelist']).toEqual([]);
    const kinds = (project?.spec?.['namespaceResourceWhitelist'] as { group: string; kind: string }[]).map((k) => `${k.group}/${k.kind}`);
    expect(kinds.sort()).toEqual(['sterlet.dev/Backend', 'sterlet.dev/VirtualIP']);
    // The README's tree names only files that exist.
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    for (const m of readme.matchAll(/`([\w./-]+\.yaml)`/g)) expect(() => readFileSync(join(ROOT, m[1] ?? '')), m[1]).not.toThrow();
    expect(parseYaml(readFileSync(join(ROOT, 'argocd/argocd-cm-patch.yaml'), 'utf8'))).toBeTruthy();
  });

  it('the real API server accepts the rendered objects (server-side dry run)', async () => {
    await installCrds();
    dryRunNs = await createNamespace('gitops-dry-run');
    // Pools and Namespaces are cluster-scoped: a dry run validates them without creating them.
    const clusterScoped = [...(await render('platform/pools')), ...tenants.filter((o) => o.kind === 'Namespace')];
    await kubectl(['apply', '--dry-run=server', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: clusterScoped }) });
    // Namespaced objects go to a scratch namespace (the team namespaces do not exist here), one team at a time.
    for (const team of TEAMS) {
      const namespaced = [...tenants.filter((o) => o.kind !== 'Namespace' && o.metadata.namespace === team), ...(overlays.get(team) ?? [])]
        .map((o) => ({ ...o, metadata: { ...o.metadata, namespace: dryRunNs } }));
      const r = await kubectl(['apply', '--dry-run=server', '-n', dryRunNs, '-f', '-'], {
        input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: namespaced }),
      });
      expect(r.stdout).toMatch(/virtualip\.sterlet\.dev\/web .*\(server dry run\)/);
      expect(r.stdout).toMatch(new RegExp(`rolebinding\\.rbac\\.authorization\\.k8s\\.io/${team}-reconciler-edit .*\\(server dry run\\)`));
    }
  });
});
