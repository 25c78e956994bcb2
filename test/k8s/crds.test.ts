// The generated CRDs on a real kube-apiserver: they install and become
// Established, and every malformed manifest of issue 4 §2 is refused by
// `kubectl apply` with a message naming the offending field.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apply, createNamespace, deleteNamespace, getJson, kubectl } from '../support/kube/index.ts';
import { CRD_NAMES, installCrds } from '../support/kube/crds.ts';

const API = 'sterlet.dev/v1alpha1';
let ns = '';

function vip(spec: Record<string, unknown>, name = 'bad'): Record<string, unknown> {
  return {
    apiVersion: API, kind: 'VirtualIP', metadata: { name },
    spec: { address: '10.200.0.10', port: 80, protocol: 'TCP', backendSelector: { matchLabels: { app: 'web' } }, ...spec },
  };
}
function backend(spec: Record<string, unknown>): Record<string, unknown> {
  return { apiVersion: API, kind: 'Backend', metadata: { name: 'bad', labels: { app: 'web' } }, spec: { address: '10.0.1.11', ...spec } };
}
function without(obj: Record<string, unknown>, field: string): Record<string, unknown> {
  const spec = { ...(obj['spec'] as Record<string, unknown>) };
  delete spec[field];
  return { ...obj, spec };
}

beforeAll(async () => {
  await installCrds();
  ns = await createNamespace('crds');
});
afterAll(async () => {
  if (ns !== '') await deleteNamespace(ns);
});

describe('CRDs', () => {
  it('are Established with the short names and printer columns', async () => {
    for (const name of CRD_NAMES) {
      const crd = await getJson<{ status: { conditions: { type: string; status: string }[] } }>(['crd', name]);
      expect(crd.status.conditions.find((c) => c.type === 'Established')?.status, name).toBe('True');
    }
    const resources = (await kubectl(['api-resources', '--api-group=sterlet.dev', '-o', 'wide'])).stdout;
    expect(resources).toMatch(/virtualips\s+vip\s/);
    expect(resources).toMatch(/backends\s+be\s/);
  });

  it('accept a valid VirtualIP and Backend, defaulting omitted fields', async () => {
    await apply(JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [vip({}, 'good'), { ...backend({}), metadata: { name: 'good', labels: { app: 'web' } } }] }), ['-n', ns]);
    const got = await getJson<{ spec: Record<string, unknown> }>(['-n', ns, 'virtualip', 'good']);
    expect(got.spec).toMatchObject({ encapsulation: 'IPIP', hash: 'FiveTuple', connectionTracking: 'Enabled', quic: false });
    const be = await getJson<{ spec: Record<string, unknown> }>(['-n', ns, 'backend', 'good']);
    expect(be.spec['weight']).toBe(1);
    // Objects are left for the namespace deletion; no controller runs here, so there is no finalizer.
  });

  const cases: { name: string; manifest: Record<string, unknown>; field: RegExp }[] = [
    { name: 'malformed VIP address', manifest: vip({ address: '10.200.0.300' }), field: /spec\.address/ },
    { name: 'IPv6 with a zone', manifest: vip({ address: 'fe80::1%eth0' }), field: /spec\.address/ },
    { name: 'malformed backend address', manifest: backend({ address: 'not-an-ip' }), field: /spec\.address/ },
    { name: 'port above 65535', manifest: vip({ port: 70000 }), field: /spec\.port/ },
    { name: 'negative port', manifest: vip({ port: -1 }), field: /spec\.port/ },
    { name: 'protocol SCTP', manifest: vip({ protocol: 'SCTP' }), field: /spec\.protocol/ },
    { name: 'unknown encapsulation', manifest: vip({ encapsulation: 'VXLAN' }), field: /spec\.encapsulation/ },
    { name: 'unknown hash mode', manifest: vip({ hash: 'Random' }), field: /spec\.hash/ },
    { name: 'QUIC over TCP', manifest: vip({ quic: true, protocol: 'TCP' }), field: /spec\.quic/ },
    { name: 'weight above 1000', manifest: backend({ weight: 1001 }), field: /spec\.weight/ },
    { name: 'negative weight', manifest: backend({ weight: -1 }), field: /spec\.weight/ },
    { name: 'quicServerId 0', manifest: backend({ quicServerId: 0 }), field: /spec\.quicServerId/ },
    { name: 'quicServerId above 65535', manifest: backend({ quicServerId: 65536 }), field: /spec\.quicServerId/ },
    { name: 'quicServerId as text', manifest: backend({ quicServerId: 'seven' }), field: /spec\.quicServerId/ },
    { name: 'missing address', manifest: without(vip({}), 'address'), field: /spec\.address/ },
    { name: 'missing protocol', manifest: without(vip({}), 'protocol'), field: /spec\.protocol/ },
    { name: 'neither backendSelector nor backendRef', manifest: without(vip({}), 'backendSelector'), field: /spec\.backendRef: Invalid value: set exactly one of backendSelector/ },
    { name: 'missing backend address', manifest: without(backend({}), 'address'), field: /spec\.address/ },
    { name: 'unknown VIP field', manifest: vip({ adress: '10.0.0.1' }), field: /spec\.adress/ },
    { name: 'unknown Backend field', manifest: backend({ wieght: 2 }), field: /spec\.wieght/ },
    { name: 'healthCheck timeout not below interval', manifest: vip({ healthCheck: { intervalSeconds: 2, timeoutSeconds: 2 } }), field: /spec\.healthCheck\.timeoutSeconds.*smaller than intervalSeconds/ },
    { name: 'healthCheck path on a TCP check', manifest: vip({ healthCheck: { type: 'TCP', path: '/healthz' } }), field: /spec\.healthCheck\.path.*only used by type: HTTP/ },
    { name: 'healthCheck port above 65535', manifest: vip({ healthCheck: { port: 70000 } }), field: /spec\.healthCheck\.port/ },
    { name: 'healthCheck type ICMP', manifest: vip({ healthCheck: { type: 'ICMP' } }), field: /spec\.healthCheck\.type/ },
    { name: 'healthCheck without a port on a port-less VIP', manifest: vip({ port: 0, healthCheck: { type: 'TCP' } }), field: /spec\.healthCheck\.port.*port-less VIP/ },
    { name: 'healthCheck inverted status range', manifest: vip({ healthCheck: { type: 'HTTP', expectedStatus: { min: 500, max: 200 } } }), field: /spec\.healthCheck\.expectedStatus\.min/ },
    { name: 'In selector without values', manifest: vip({ backendSelector: { matchExpressions: [{ key: 'app', operator: 'In' }] } }), field: /spec\.backendSelector\.matchExpressions\[0\]\.values/ },
  ];

  it.each(cases)('kubectl apply refuses: $name', async ({ manifest, field }) => {
    const result = await apply(JSON.stringify(manifest), ['-n', ns], { allowFail: true });
    expect(result.code, `kubectl accepted it: ${result.stdout}`).not.toBe(0);
    expect(result.stderr).toMatch(field);
  });
});
