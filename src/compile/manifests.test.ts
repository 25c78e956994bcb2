import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ManifestError, parseManifests, readManifests } from './manifests.ts';

const VIP = `apiVersion: sterlet.dev/v1alpha1
kind: VirtualIP
metadata: {name: web, namespace: default}
spec:
  address: 10.200.0.10
  port: 80
  protocol: TCP
  backendSelector: {matchLabels: {app: web}}
`;
const BACKEND = (name: string, address: string) => `apiVersion: sterlet.dev/v1alpha1
kind: Backend
metadata: {name: ${name}, labels: {app: web}}
spec: {address: ${address}}
`;

describe('parseManifests', () => {
  it('reads multi-document YAML into typed objects with defaults, skipping other API groups and empty documents', () => {
    const text = `${VIP}---\n${BACKEND('web-1', '10.0.1.11')}---\napiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n---\n`;
    const set = parseManifests(text, 'web.yaml');
    expect(set.errors).toEqual([]);
    expect(set.ignored).toBe(1);
    expect(set.objects.map((o) => o.kind)).toEqual(['VirtualIP', 'Backend']);
    const vip = set.objects[0];
    expect(vip?.kind === 'VirtualIP' && vip.spec.encapsulation).toBe('IPIP');
  });

  it('names file, document, kind/name and field path in validation errors', () => {
    const text = `${VIP}---\n${BACKEND('web-1', '10.0.1.11').replace('{address: 10.0.1.11}', '{address: 10.0.1.11, weight: 5000}')}`;
    const { errors, objects } = parseManifests(text, 'dir/web.yaml');
    expect(objects).toHaveLength(1);
    expect(errors).toHaveLength(1);
    const error = errors[0];
    expect(error).toBeInstanceOf(ManifestError);
    expect(error?.code).toBe('MANIFEST_INVALID');
    expect(error?.details).toMatchObject({ source: 'dir/web.yaml', documentIndex: 1, kind: 'Backend', name: 'web-1', path: 'spec.weight' });
    expect(error?.message).toMatch(/^MANIFEST_INVALID: dir\/web\.yaml, document 2, Backend web-1: spec\.weight: /);
  });

  it('reports YAML syntax errors with the line', () => {
    const { errors } = parseManifests(`${VIP}---\nkind: [unclosed\n`, 'bad.yaml');
    expect(errors[0]?.code).toBe('MANIFEST_YAML');
    expect(errors[0]?.message).toMatch(/bad\.yaml, document 2: line \d+/);
  });

  it('rejects unknown sterlet.dev kinds and non-mapping documents', () => {
    const { errors } = parseManifests('apiVersion: sterlet.dev/v1alpha1\nkind: Frontend\nmetadata: {name: x}\n---\n- a list\n', 's');
    expect(errors.map((e) => e.code)).toEqual(['MANIFEST_UNKNOWN_KIND', 'MANIFEST_INVALID']);
  });

  it('reads the List that kubectl get -o yaml writes, naming the item in errors', () => {
    const text = `apiVersion: v1
kind: List
items:
- ${VIP.trimEnd().replaceAll('\n', '\n  ')}
- apiVersion: sterlet.dev/v1alpha1
  kind: Backend
  metadata: {name: web-1, namespace: default, labels: {app: web}}
  spec: {address: 10.0.1.11, weight: -1}
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: other}
`;
    const set = parseManifests(text, 'snapshot.yaml');
    expect(set.objects.map((o) => o.kind)).toEqual(['VirtualIP']);
    expect(set.ignored).toBe(1);
    expect(set.errors[0]?.message).toMatch(/^MANIFEST_INVALID: snapshot\.yaml, document 1, item 2, Backend web-1: spec\.weight: /);
  });

  it('reports an object defined twice and keeps the first', () => {
    const { objects, errors } = parseManifests(`${BACKEND('a', '10.0.0.1')}---\n${BACKEND('a', '10.0.0.2')}`, 's.yaml');
    expect(objects).toHaveLength(1);
    expect(errors[0]?.code).toBe('MANIFEST_DUPLICATE_OBJECT');
  });
});

describe('readManifests', () => {
  let dir: string | undefined;
  afterEach(async () => {
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it('reads a directory of *.yaml / *.yml recursively in name order and detects cross-file duplicates', async () => {
    dir = await mkdtemp(join(tmpdir(), `sterlet-manifests-${process.pid}-`));
    await mkdir(join(dir, 'sub'));
    await mkdir(join(dir, '.hidden'));
    await writeFile(join(dir, 'b-vip.yaml'), VIP);
    await writeFile(join(dir, 'a-backends.yml'), `${BACKEND('web-1', '10.0.1.11')}---\n${BACKEND('web-2', '10.0.1.12')}`);
    await writeFile(join(dir, 'sub', 'dup.yaml'), BACKEND('web-1', '10.0.1.99'));
    await writeFile(join(dir, '.hidden', 'x.yaml'), BACKEND('hidden', '10.0.1.98'));
    await writeFile(join(dir, 'notes.txt'), 'not yaml');
    const set = await readManifests(dir);
    expect(set.files.map((f) => f.slice(dir?.length ?? 0))).toEqual(['/a-backends.yml', '/b-vip.yaml', '/sub/dup.yaml']);
    expect(set.objects.map((o) => o.metadata.name)).toEqual(['web-1', 'web-2', 'web']);
    expect(set.errors.map((e) => e.code)).toEqual(['MANIFEST_DUPLICATE_OBJECT']);
    expect(set.errors[0]?.message).toContain('a-backends.yml');
  });

  it('reads a single file, and explains a missing path', async () => {
    dir = await mkdtemp(join(tmpdir(), `sterlet-manifests-${process.pid}-`));
    await writeFile(join(dir, 'web.yaml'), VIP);
    expect((await readManifests(join(dir, 'web.yaml'))).objects).toHaveLength(1);
    const missing = await readManifests(join(dir, 'nope'));
    expect(missing.errors[0]?.code).toBe('MANIFEST_READ');
    expect(missing.errors[0]?.message).toMatch(/pass an existing file or directory/);
  });
});
