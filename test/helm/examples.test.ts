// Every manifest in examples/ is accepted by the real API server with the
// generated CRDs: what a new user applies first must never be rejected.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { createNamespace, deleteNamespace, kubectl, REPO_ROOT } from '../support/kube/index.ts';

const EXAMPLES = join(REPO_ROOT, 'examples');
const CLUSTER_SCOPED = new Set(['VirtualIPPool', 'LoadBalancerNode', 'BGPPeer']);

interface Manifest {
  kind?: string;
  metadata?: { name?: string };
}

const files = (await readdir(EXAMPLES)).filter((n) => n.endsWith('.yaml') && !n.startsWith('values-')).sort();

describe('examples/', () => {
  let namespace = '';

  beforeAll(async () => {
    namespace = await createNamespace('examples');
    await kubectl(['apply', '--server-side', '--force-conflicts', '-f', join(REPO_ROOT, 'crds')]);
    await kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd', '--all']);
  });

  afterAll(async () => {
    if (namespace) await deleteNamespace(namespace, { wait: false });
  });

  it('has the examples the docs promise', () => {
    expect(files).toEqual(
      expect.arrayContaining(['basic.yaml', 'gue.yaml', 'ipv6.yaml', 'pool.yaml', 'quic.yaml', 'v4-vip-v6-backends.yaml', 'weights-and-drain.yaml']),
    );
  });

  it.each(files)('%s is accepted by kubectl apply', async (file) => {
    const text = await readFile(join(EXAMPLES, file), 'utf8');
    const docs = parseAllDocuments(text).map((d) => d.toJS() as Manifest | null).filter((d): d is Manifest => d !== null);
    expect(docs.length).toBeGreaterThan(0);
    const clusterScoped = docs.every((d) => CLUSTER_SCOPED.has(d.kind ?? ''));
    // Cluster-scoped examples (the pool) are validated without taking a cluster-wide name.
    const args = clusterScoped ? ['apply', '--dry-run=server', '-f', '-'] : ['apply', '-n', namespace, '-f', '-'];
    const result = await kubectl(args, { input: text, allowFail: true });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    for (const doc of docs) expect(result.stdout).toContain(`${doc.metadata?.name ?? ''}`);
  });
});
