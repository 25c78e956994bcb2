// The chart as a cluster operator's tooling expects it: full app.kubernetes.io
// labels on every pod template, the usual per-component knobs (podAnnotations,
// podLabels, extraArgs, extraEnv, priorityClassName, imagePullSecrets), image
// by digest, `global` accepted (subchart of an umbrella chart), decap scraped
// and probed, an optional PrometheusRule over metrics that exist, and NOTES
// that need no checkout of the repository.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { createAgentMetrics } from '../../src/agent/metrics.ts';
import { createDecapMetrics } from '../../src/agent/dataplane/decap-metrics.ts';
import { ControllerMetrics } from '../../src/controller/metrics.ts';
import { CHART_TEST_VALUES, createNamespace, deleteNamespace, helm, kubectl, REPO_ROOT } from '../support/kube/index.ts';

const CHART = join(REPO_ROOT, 'charts/sterlet');
const DIGEST = `sha256:${'ab'.repeat(32)}`;

interface Container { name: string; image: string; args: string[]; env?: { name: string; value?: string }[]; ports?: { name: string; containerPort: number }[]; livenessProbe?: unknown; readinessProbe?: unknown }
interface PodSpec { priorityClassName?: string; imagePullSecrets?: { name: string }[]; containers: Container[] }
interface Obj {
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  spec?: { template?: { metadata: { labels: Record<string, string>; annotations?: Record<string, string> }; spec: PodSpec }; groups?: { rules: { alert: string; expr: string }[] }[]; endpoints?: unknown[] };
}

async function render(args: readonly string[], namespace = 'sterlet-system'): Promise<Obj[]> {
  const { stdout } = await helm(['template', 'sterlet', CHART, '--namespace', namespace, ...args]);
  return parseAllDocuments(stdout).map((d) => d.toJS() as Obj | null).filter((o): o is Obj => o !== null);
}
const workloads = (objs: Obj[]): Obj[] => objs.filter((o) => o.kind === 'Deployment' || o.kind === 'DaemonSet');
const named = (objs: Obj[], suffix: string): Obj => {
  const o = workloads(objs).find((w) => w.metadata.name.endsWith(suffix));
  if (o?.spec?.template === undefined) throw new Error(`no workload ${suffix}`);
  return o;
};

// A qualified repository: the placeholder `sterlet` fails rendering (see chart.test.ts).
const ALL_COMPONENTS = [...CHART_TEST_VALUES, '--set', 'decap.enabled=true'];

describe('chart conventions', () => {
  let namespace = '';
  beforeAll(async () => {
    namespace = await createNamespace('helmconv');
  });
  afterAll(async () => {
    if (namespace !== '') await deleteNamespace(namespace, { wait: false });
  });

  it('labels every pod template with the full app.kubernetes.io set', async () => {
    const objs = await render(ALL_COMPONENTS);
    expect(workloads(objs).map((w) => w.metadata.name).sort()).toEqual(['sterlet-agent', 'sterlet-controller', 'sterlet-decap']);
    for (const w of workloads(objs)) {
      const labels = w.spec?.template?.metadata.labels ?? {};
      const component = w.metadata.name.replace('sterlet-', '');
      expect(labels, w.metadata.name).toMatchObject({
        'app.kubernetes.io/name': 'sterlet',
        'app.kubernetes.io/instance': 'sterlet',
        'app.kubernetes.io/component': component,
        'app.kubernetes.io/part-of': 'sterlet',
        'app.kubernetes.io/managed-by': 'Helm',
      });
      expect(labels['app.kubernetes.io/version'], w.metadata.name).toMatch(/\S/);
      expect(labels['helm.sh/chart'], w.metadata.name).toMatch(/^sterlet-/);
    }
  });

  it('accepts global (as a subchart) and applies global.imageRegistry, digests and per-component knobs', async () => {
    // The placeholder repository with global.imageRegistry is a real image reference: no CHART_TEST_VALUES.
    const args = [
      '--set', 'decap.enabled=true',
      '--set', 'global.imageRegistry=registry.example.test/team',
      '--set', 'global.imagePullSecrets[0]=global-pull',
      '--set', 'global.somethingAnUmbrellaSets=true',
      '--set', `image.digest=${DIGEST}`,
      '--set', 'imagePullSecrets[0].name=chart-pull',
    ];
    for (const c of ['controller', 'agent', 'decap']) {
      args.push(
        '--set', `${c}.podAnnotations.example\\.test/owner=${c}-team`,
        '--set', `${c}.podLabels.tier=${c}-tier`,
        '--set', `${c}.extraArgs[0]=--log-level=debug`,
        '--set', `${c}.extraEnv[0].name=EXTRA_${c.toUpperCase()}`, '--set-string', `${c}.extraEnv[0].value=1`,
        '--set', `${c}.priorityClassName=${c}-priority`,
        '--set', `${c}.imagePullSecrets[0].name=${c}-pull`,
      );
    }
    const objs = await render(args, namespace);
    for (const c of ['controller', 'agent', 'decap']) {
      const t = named(objs, `-${c}`).spec?.template;
      expect(t?.metadata.annotations?.['example.test/owner']).toBe(`${c}-team`);
      expect(t?.metadata.labels['tier']).toBe(`${c}-tier`);
      expect(t?.spec.priorityClassName).toBe(`${c}-priority`);
      expect(t?.spec.imagePullSecrets).toEqual([{ name: 'global-pull' }, { name: 'chart-pull' }, { name: `${c}-pull` }]);
      const container = t?.spec.containers[0];
      expect(container?.image).toBe(`registry.example.test/team/sterlet@${DIGEST}`);
      expect(container?.args.at(-1)).toBe('--log-level=debug');
      expect(container?.env?.find((e) => e.name === `EXTRA_${c.toUpperCase()}`)?.value).toBe('1');
    }
    // The same objects pass the API server's validation.
    const input = workloads(objs).map((o) => JSON.stringify(o)).join('\n');
    const dry = await kubectl(['apply', '--dry-run=server', '-n', namespace, '-f', '-'], { input, allowFail: true });
    expect(dry.stderr).toBe('');
    expect(dry.code).toBe(0);
  });

  it('keeps the defaults: tag from appVersion, node-critical priority only for node agents', async () => {
    const objs = await render(ALL_COMPONENTS);
    expect(named(objs, '-controller').spec?.template?.spec.priorityClassName).toBeUndefined();
    expect(named(objs, '-agent').spec?.template?.spec.priorityClassName).toBe('system-node-critical');
    expect(named(objs, '-decap').spec?.template?.spec.priorityClassName).toBe('system-node-critical');
    expect(named(objs, '-agent').spec?.template?.spec.containers[0]?.image).toMatch(/^registry\.invalid\/sterlet:\d\S*$/);
    expect(named(objs, '-agent').spec?.template?.spec.imagePullSecrets).toBeUndefined();
  });

  it('rejects malformed new values, naming the field', async () => {
    for (const [set, field] of [['image.digest=latest', 'digest'], ['agent.extraArgs[0]=debug', 'extraArgs'], ['decap.podLabels.x=1', 'podLabels']] as const) {
      const r = await helm(['template', 'sterlet', CHART, ...CHART_TEST_VALUES, '--set', set], { allowFail: true });
      expect(r.code, set).not.toBe(0);
      expect(r.stderr, set).toContain(field);
    }
  });

  it('runs decap in the foreground with a metrics port, probes and a scrape target', async () => {
    const objs = await render([...ALL_COMPONENTS, '--set', 'metrics.serviceMonitor.enabled=true']);
    const container = named(objs, '-decap').spec?.template?.spec.containers[0];
    expect(container?.args).toEqual(expect.arrayContaining(['--foreground', '--metrics-addr=0.0.0.0:9465']));
    expect(container?.ports).toEqual([{ name: 'metrics', containerPort: 9465 }]);
    expect(container?.livenessProbe).toMatchObject({ httpGet: { path: '/healthz', port: 'metrics' } });
    expect(container?.readinessProbe).toMatchObject({ httpGet: { path: '/readyz', port: 'metrics' } });
    expect(objs.filter((o) => o.kind === 'Service').map((o) => o.metadata.name)).toContain('sterlet-decap-metrics');
    expect(objs.filter((o) => o.kind === 'ServiceMonitor').map((o) => o.metadata.name).sort()).toEqual(['sterlet-agent', 'sterlet-controller', 'sterlet-decap']);
  });

  it('ships an optional PrometheusRule whose alerts use metrics the components export', async () => {
    expect((await render([...CHART_TEST_VALUES])).some((o) => o.kind === 'PrometheusRule')).toBe(false);
    const rule = (await render([...CHART_TEST_VALUES, '--set', 'metrics.prometheusRule.enabled=true', '--set', 'metrics.prometheusRule.labels.release=prom'])).find((o) => o.kind === 'PrometheusRule');
    expect(rule?.metadata.labels?.['release']).toBe('prom');
    const rules = rule?.spec?.groups?.flatMap((g) => g.rules) ?? [];
    expect(rules.map((r) => r.alert)).toEqual(
      expect.arrayContaining(['SterletVIPNotProgrammedOnAllNodes', 'SterletRingFingerprintsDiffer', 'SterletDropsRising', 'SterletAgentNotReady']),
    );
    const exported = new Set<string>();
    for (const registry of [createAgentMetrics({ readCounters: () => ({ vips: [], backends: [], verdicts: [], events: [] }) }).registry, new ControllerMetrics().registry,
      createDecapMetrics({ readCounters: () => { throw new Error('not read'); } })]) {
      for (const m of await registry.getMetricsAsJSON()) exported.add(m.name);
    }
    for (const r of rules) {
      for (const name of r.expr.match(/\bsterlet_[a-z_]+/g) ?? []) expect(exported, `${r.alert} uses ${name}`).toContain(name);
    }
  });

  it('prints NOTES with the kubectl commands inline (no examples/ checkout needed)', async () => {
    const r = await helm(['install', 'sterlet', CHART, '--namespace', namespace, '--dry-run=client', ...CHART_TEST_VALUES], { allowFail: true });
    expect(r.code, r.stderr).toBe(0);
    const notes = r.stdout.slice(r.stdout.indexOf('NOTES:'));
    expect(notes).toContain('kind: VirtualIPPool');
    expect(notes).toContain('kind: VirtualIP');
    expect(notes).toContain('kubectl get vip,be');
    expect(notes).not.toContain('examples/');
  });
});
