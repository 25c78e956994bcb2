// Smoke test of the local control plane that every k8s test relies on:
// the pinned Kubernetes version, CRUD through kubectl, RBAC enforcement with
// minted ServiceAccount tokens, namespace deletion, and a working helm.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  apply,
  createNamespace,
  deleteNamespace,
  getJson,
  helm,
  kubectl,
  kubectlAs,
  serviceAccountToken,
  waitFor,
} from '../support/kube/index.ts';

interface VersionInfo {
  readonly clientVersion?: { readonly gitVersion: string };
  readonly serverVersion?: { readonly gitVersion: string; readonly major: string; readonly minor: string };
}

describe('local control plane', () => {
  let ns = '';

  beforeAll(async () => {
    ns = await createNamespace('cluster-smoke');
  });

  afterAll(async () => {
    if (ns !== '') await deleteNamespace(ns);
  });

  it('serves Kubernetes v1.36.x and kubectl is the same minor', async () => {
    const { stdout } = await kubectl(['version', '-o', 'json']);
    const version = JSON.parse(stdout) as VersionInfo;
    expect(version.serverVersion?.gitVersion).toMatch(/^v1\.36\.\d+$/);
    expect(version.serverVersion?.major).toBe('1');
    expect(version.serverVersion?.minor).toBe('36');
    expect(version.clientVersion?.gitVersion).toMatch(/^v1\.36\.\d+$/);
  });

  it('creates, reads, updates and deletes a ConfigMap', async () => {
    const cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'smoke', namespace: ns }, data: { a: '1' } };
    await apply(JSON.stringify(cm));
    const got = await getJson<{ data: Record<string, string> }>(['-n', ns, 'configmap', 'smoke']);
    expect(got.data).toEqual({ a: '1' });

    await apply(JSON.stringify({ ...cm, data: { a: '2' } }));
    const updated = await getJson<{ data: Record<string, string> }>(['-n', ns, 'configmap', 'smoke']);
    expect(updated.data).toEqual({ a: '2' });

    await kubectl(['-n', ns, 'delete', 'configmap', 'smoke']);
    const gone = await kubectl(['-n', ns, 'get', 'configmap', 'smoke'], { allowFail: true });
    expect(gone.code).not.toBe(0);
    expect(gone.stderr).toMatch(/NotFound|not found/);
  });

  it('rejects an unknown bearer token', async () => {
    const result = await kubectlAs('not-a-valid-token', ['get', 'namespaces'], { allowFail: true });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/Unauthorized|must be logged in/);
  });

  it('enforces RBAC for a minted ServiceAccount token', async () => {
    const token = await serviceAccountToken(ns, 'reader');
    const whoami = await kubectlAs(token, ['auth', 'whoami', '-o', 'jsonpath={.status.userInfo.username}']);
    expect(whoami.stdout).toBe(`system:serviceaccount:${ns}:reader`);

    const denied = await kubectlAs(token, ['-n', ns, 'get', 'configmaps'], { allowFail: true });
    expect(denied.code).not.toBe(0);
    expect(denied.stderr).toMatch(/forbidden/i);

    await kubectl(['-n', ns, 'create', 'role', 'cm-reader', '--verb=get,list', '--resource=configmaps']);
    await kubectl(['-n', ns, 'create', 'rolebinding', 'cm-reader', '--role=cm-reader', `--serviceaccount=${ns}:reader`]);
    // RBAC is read from an informer cache: the grant takes effect shortly after it is written.
    await waitFor(async () => (await kubectlAs(token, ['-n', ns, 'get', 'configmaps'], { allowFail: true })).code === 0, {
      what: 'the RoleBinding to grant list configmaps',
      timeoutMs: 10_000,
    });
    // The grant is namespaced and read-only: writing, or reading elsewhere, stays forbidden.
    const write = await kubectlAs(token, ['-n', ns, 'create', 'configmap', 'nope'], { allowFail: true });
    expect(write.stderr).toMatch(/forbidden/i);
    const elsewhere = await kubectlAs(token, ['-n', 'default', 'get', 'configmaps'], { allowFail: true });
    expect(elsewhere.stderr).toMatch(/forbidden/i);
  });

  it('deletes a namespace together with its contents', async () => {
    const doomed = await createNamespace('cluster-doomed');
    await kubectl(['-n', doomed, 'create', 'configmap', 'inside', '--from-literal=k=v']);
    await deleteNamespace(doomed, { timeoutMs: 30_000 });
    const all = await getJson<{ items: { metadata: { namespace: string } }[] }>(['configmaps', '--all-namespaces']);
    expect(all.items.filter((item) => item.metadata.namespace === doomed)).toEqual([]);
  });

  it('says why a namespace deletion is stuck (an object with a finalizer)', async () => {
    const stuck = await createNamespace('cluster-stuck');
    const cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'held', namespace: stuck, finalizers: ['sterlet.dev/test-hold'] } };
    await apply(JSON.stringify(cm));
    try {
      await kubectl(['delete', 'namespace', stuck, '--wait=false']);
      // The controller's first pass comes after its fixed 5 s grace period (later on a busy cluster).
      await waitFor(
        async () => {
          const ns = await getJson<{ status: { conditions?: { type: string; status: string }[] } }>(['namespace', stuck]);
          return ns.status.conditions?.some((c) => c.type === 'NamespaceFinalizersRemaining' && c.status === 'True');
        },
        { what: `namespace ${stuck} to report NamespaceFinalizersRemaining`, timeoutMs: 60_000, intervalMs: 500 },
      );
      await expect(deleteNamespace(stuck, { timeoutMs: 1_000 })).rejects.toThrow(/NamespaceFinalizersRemaining.*sterlet\.dev\/test-hold/);
    } finally {
      await kubectl(['-n', stuck, 'patch', 'configmap', 'held', '--type=merge', '-p', '{"metadata":{"finalizers":null}}'], { allowFail: true });
    }
    // Released; the controller retries with back-off, so let it finish in the background.
    await deleteNamespace(stuck, { wait: false });
  });

  it('runs helm against the cluster', async () => {
    const version = await helm(['version', '--short']);
    expect(version.stdout).toMatch(/^v\d+\.\d+\.\d+/);
    const list = await helm(['list', '-n', ns, '-o', 'json']);
    expect(JSON.parse(list.stdout)).toEqual([]);
  });
});
