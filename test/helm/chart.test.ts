// The Helm chart against the real API server: lint, server-side dry runs of
// the rendered objects, install, upgrade, and schema rejection.
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { CHART_TEST_VALUES, createNamespace, deleteNamespace, getJson, helm, kubectl, REPO_ROOT } from '../support/kube/index.ts';

const CHART = join(REPO_ROOT, 'charts/sterlet');
const PRODUCTION_VALUES = join(REPO_ROOT, 'examples/values-production.yaml');

interface K8sObject {
  kind: string;
  metadata: { name: string; namespace?: string; annotations?: Record<string, string> | null };
  spec?: Record<string, unknown>;
}

function objects(rendered: string): K8sObject[] {
  return parseAllDocuments(rendered)
    .map((d) => d.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => o !== null);
}

async function render(namespace: string, args: readonly string[] = []): Promise<string> {
  const { stdout } = await helm(['template', 'sterlet', CHART, '--namespace', namespace, ...CHART_TEST_VALUES, ...args]);
  return stdout;
}

/** Server-side dry run of rendered objects; ServiceMonitor needs the Prometheus Operator's CRD, which this cluster lacks. */
async function dryRunServer(rendered: string, namespace: string): Promise<void> {
  const docs = objects(rendered).filter((o) => o.kind !== 'ServiceMonitor' && o.kind !== 'CustomResourceDefinition');
  const input = docs.map((d) => JSON.stringify(d)).join('\n');
  const result = await kubectl(['apply', '--dry-run=server', '-n', namespace, '-f', '-'], { input, allowFail: true });
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
}

describe('charts/sterlet', () => {
  let namespace = '';

  beforeAll(async () => {
    namespace = await createNamespace('helm');
    // CRDs first, so the dry runs can validate custom resources (the quickstart pool).
    await kubectl(['apply', '--server-side', '--force-conflicts', '-f', join(REPO_ROOT, 'crds')]);
    await kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd', '-l', '', '--all']);
  });

  afterAll(async () => {
    await helm(['uninstall', 'sterlet', '--namespace', namespace, '--ignore-not-found'], { allowFail: true });
    if (namespace) await deleteNamespace(namespace, { wait: false });
  });

  it('passes helm lint --strict with an image repository and with production values', async () => {
    const plain = await helm(['lint', '--strict', CHART, ...CHART_TEST_VALUES], { allowFail: true });
    expect(plain.stdout).toContain('0 chart(s) failed');
    const production = await helm(['lint', '--strict', CHART, '-f', PRODUCTION_VALUES], { allowFail: true });
    expect(production.stdout).toContain('0 chart(s) failed');
  });

  it('renders CRDs gated by crds.enabled, with the keep policy only when crds.keep is set', async () => {
    const kept = objects(await render(namespace)).filter((o) => o.kind === 'CustomResourceDefinition');
    expect(kept.map((o) => o.metadata.name).sort()).toEqual([
      'backends.sterlet.dev',
      'bgppeers.sterlet.dev',
      'loadbalancernodes.sterlet.dev',
      'virtualippools.sterlet.dev',
      'virtualips.sterlet.dev',
    ]);
    for (const crd of kept) expect(crd.metadata.annotations?.['helm.sh/resource-policy']).toBe('keep');
    const unkept = objects(await render(namespace, ['--set', 'crds.keep=false'])).filter((o) => o.kind === 'CustomResourceDefinition');
    for (const crd of unkept) expect(crd.metadata.annotations?.['helm.sh/resource-policy']).toBeUndefined();
    const none = objects(await render(namespace, ['--set', 'crds.enabled=false']));
    expect(none.some((o) => o.kind === 'CustomResourceDefinition')).toBe(false);
  });

  it('default values are accepted by the API server (dry run)', async () => {
    await dryRunServer(await render(namespace), namespace);
  });

  it('non-default values are accepted by the API server (dry run)', async () => {
    const rendered = await render(namespace, [
      '-f', PRODUCTION_VALUES,
      '--set', 'agent.privileged=true',
      '--set', 'quickstartPool.enabled=true',
      '--set', 'controller.podDisruptionBudget.enabled=false',
    ]);
    const kinds = objects(rendered).map((o) => o.kind);
    expect(kinds).toContain('ServiceMonitor');
    expect(kinds).toContain('VirtualIPPool');
    expect(kinds.filter((k) => k === 'DaemonSet')).toHaveLength(2); // agent + decap
    expect(kinds).not.toContain('PodDisruptionBudget');
    await dryRunServer(rendered, namespace);
  });

  it('keeps the agent unprivileged with only the capabilities XDP needs by default', async () => {
    const agent = objects(await render(namespace)).find((o) => o.kind === 'DaemonSet' && o.metadata.name.endsWith('-agent'));
    const container = (agent?.spec as { template: { spec: { hostNetwork: boolean; containers: { securityContext: Record<string, unknown> }[] } } })
      .template.spec;
    expect(container.hostNetwork).toBe(true);
    const sc = container.containers[0]?.securityContext;
    expect(sc?.['privileged']).toBeUndefined();
    expect(sc?.['capabilities']).toEqual({ drop: ['ALL'], add: ['BPF', 'NET_ADMIN', 'PERFMON', 'SYS_ADMIN'] });
  });

  it('bgp.enabled adds the gobgpd sidecar, the agent flags, a grace period covering the drain and Secret access in the release namespace', async () => {
    const off = objects(await render(namespace));
    const daemonSet = (list: K8sObject[]) => list.find((o) => o.kind === 'DaemonSet' && o.metadata.name === 'sterlet-agent');
    type Pod = { terminationGracePeriodSeconds: number; containers: { name: string; args?: string[]; lifecycle?: { preStop?: { sleep?: { seconds: number } } } }[] };
    const pod = (o: K8sObject | undefined) => (o?.spec as { template: { spec: Pod } } | undefined)?.template.spec;
    expect(pod(daemonSet(off))?.containers.map((c) => c.name)).toEqual(['agent']);
    expect(off.some((o) => o.kind === 'Role' && o.metadata.name.includes('bgp'))).toBe(false);

    const renderedOn = await render(namespace, ['--set', 'bgp.enabled=true', '--set', 'bgp.drainSeconds=7', '--set', 'bgp.listenPort=1179']);
    const on = objects(renderedOn);
    const spec = pod(daemonSet(on));
    expect(spec?.containers.map((c) => c.name)).toEqual(['agent', 'gobgpd']);
    expect(spec?.containers[0]?.args).toEqual(expect.arrayContaining(['--bgp-speaker=127.0.0.1:50051', '--bgp-listen-port=1179', '--drain-seconds=7']));
    expect(spec?.containers[1]?.lifecycle?.preStop?.sleep?.seconds).toBe(12);
    expect(spec?.terminationGracePeriodSeconds).toBe(22);
    expect(on.some((o) => o.kind === 'Role' && o.metadata.name.includes('bgp'))).toBe(true);
    await dryRunServer(renderedOn, namespace);
  });

  it('installs, then upgrades with changed values', async () => {
    // The CRDs already exist (applied above); the release takes them over so it can upgrade them later.
    await helm(['install', 'sterlet', CHART, '--namespace', namespace, '--take-ownership', '--force-conflicts', ...CHART_TEST_VALUES]);
    const deployment = await getJson<{ spec: { replicas: number } }>(['-n', namespace, 'deployment', 'sterlet-controller']);
    expect(deployment.spec.replicas).toBe(2);
    await getJson(['-n', namespace, 'daemonset', 'sterlet-agent']);
    await getJson(['-n', namespace, 'serviceaccount', 'sterlet-controller']);
    await getJson(['-n', namespace, 'serviceaccount', 'sterlet-agent']);
    await getJson(['clusterrole', 'sterlet-edit']);

    await helm(['upgrade', 'sterlet', CHART, '--namespace', namespace, ...CHART_TEST_VALUES, '--set', 'controller.replicas=3', '--set', 'decap.enabled=true']);
    const upgraded = await getJson<{ spec: { replicas: number } }>(['-n', namespace, 'deployment', 'sterlet-controller']);
    expect(upgraded.spec.replicas).toBe(3);
    await getJson(['-n', namespace, 'daemonset', 'sterlet-decap']);
  });

  it('rejects values that violate values.schema.json, naming the field', async () => {
    const bad = join(tmpdir(), `sterlet-bad-values-${String(process.pid)}.yaml`);
    await writeFile(bad, 'agent:\n  xdpMode: turbo\n');
    const result = await helm(['template', 'sterlet', CHART, ...CHART_TEST_VALUES, '-f', bad], { allowFail: true }).finally(() => rm(bad, { force: true }));
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/xdpMode/);
    const unknown = await helm(['template', 'sterlet', CHART, ...CHART_TEST_VALUES, '--set', 'agent.interfase=eth1'], { allowFail: true });
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toMatch(/interfase/);
  });

  it('fails at template time on the placeholder image, naming the build-and-push step, unless allowPlaceholder', async () => {
    // (helm lint reports a template `fail` but does not fail on it, by design; template and install do.)
    for (const args of [['template', 'sterlet', CHART], ['install', 'sterlet-placeholder', CHART, '--dry-run=client', '--namespace', namespace]]) {
      const r = await helm(args, { allowFail: true });
      expect(r.code, `helm ${args[0] ?? ''} with the placeholder image`).not.toBe(0);
      expect(r.stderr).toMatch(/image\.repository is still the placeholder "sterlet".*docker build -t REGISTRY\/sterlet:[\w.]+ \. && docker push/);
    }
    const local = await helm(['template', 'sterlet', CHART, '--namespace', namespace, '--set', 'image.allowPlaceholder=true']);
    expect(local.stdout).toMatch(/image: sterlet:[\w.]+/);
    expect(await render(namespace)).toContain('image: registry.invalid/sterlet:');
  });
});
