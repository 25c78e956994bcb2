import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { z } from 'zod';
import { GENERATED_HEADER, generateCrds } from './generate.ts';
import { StructuralSchemaError, toStructural } from './structural.ts';
import { checkCrds, writeCrds } from './write.ts';

type Json = Record<string, any>;
const REPO_CRDS = fileURLToPath(new URL('../../../crds', import.meta.url));

function crd(plural: string): Json {
  const file = generateCrds().find((f) => f.name === `${plural}.yaml`);
  if (file === undefined) throw new Error(`no ${plural}.yaml generated`);
  return parse(file.content) as Json;
}

function versionOf(plural: string): Json {
  return crd(plural).spec.versions[0];
}

function walk(node: Json, path: string, visit: (node: Json, path: string) => void): void {
  visit(node, path);
  for (const [name, child] of Object.entries((node.properties ?? {}) as Record<string, Json>)) walk(child, `${path}.${name}`, visit);
  if (node.items) walk(node.items, `${path}[]`, visit);
  if (typeof node.additionalProperties === 'object') walk(node.additionalProperties, `${path}.*`, visit);
}

const PLURALS = ['virtualips', 'backends', 'virtualippools', 'loadbalancernodes'];

describe('generated CRDs', () => {
  it('crds/ matches what the schemas generate (run `make manifests` after changing src/api)', async () => {
    expect(await checkCrds(REPO_CRDS)).toEqual({ changed: [], stale: [] });
  });

  it.each(PLURALS)('%s is structural: a type on every node, no $ref/anyOf, descriptions on every field', (plural) => {
    const schema = versionOf(plural).schema.openAPIV3Schema as Json;
    const text = JSON.stringify(schema);
    for (const forbidden of ['$ref', 'anyOf', 'oneOf', 'allOf', '"not"', 'propertyNames', '"additionalProperties":false']) {
      expect(text).not.toContain(forbidden);
    }
    walk(schema, plural, (node, path) => {
      expect(typeof node.type, path).toBe('string');
    });
    for (const [name, child] of Object.entries(schema.properties as Record<string, Json>)) {
      if (name === 'metadata') continue;
      walk(child, name, (node, path) => {
        if (!path.endsWith('[]') && !path.endsWith('.*')) expect(node.description, path).toBeTypeOf('string');
      });
    }
  });

  it.each([
    ['virtualips', 'VirtualIP', 'Namespaced', ['vip']],
    ['backends', 'Backend', 'Namespaced', ['be']],
    ['virtualippools', 'VirtualIPPool', 'Cluster', ['vipp', 'vippool']],
    ['loadbalancernodes', 'LoadBalancerNode', 'Cluster', ['lbn']],
  ])('%s: names, scope, status subresource', (plural, kind, scope, shortNames) => {
    const doc = crd(plural);
    expect(doc.metadata.name).toBe(`${plural}.sterlet.dev`);
    expect(doc.spec.names).toMatchObject({ kind, plural, shortNames });
    expect(doc.spec.scope).toBe(scope);
    expect(versionOf(plural)).toMatchObject({ name: 'v1alpha1', served: true, storage: true, subresources: { status: {} } });
  });

  it('VirtualIP carries the validation kubectl apply must enforce', () => {
    const spec = versionOf('virtualips').schema.openAPIV3Schema.properties.spec as Json;
    expect(spec.required).toEqual(['address', 'port', 'protocol']);
    expect(spec.properties.address['x-kubernetes-validations'][0].rule).toBe('isIP(self)');
    expect(spec.properties.address.maxLength).toBe(45);
    expect(spec.properties.port).toMatchObject({ type: 'integer', minimum: 0, maximum: 65535 });
    expect(spec.properties.protocol.enum).toEqual(['TCP', 'UDP']);
    expect(spec.properties.encapsulation).toMatchObject({ enum: ['IPIP', 'GUE'], default: 'IPIP' });
    expect(spec.properties.hash).toMatchObject({ enum: ['FiveTuple', 'SourceAddress', 'DestinationPort'], default: 'FiveTuple' });
    expect(spec.properties.connectionTracking.default).toBe('Enabled');
    expect(spec.properties.quic.default).toBe(false);
    expect(spec['x-kubernetes-validations'][0]).toMatchObject({ fieldPath: '.quic' });
    expect(spec['x-kubernetes-validations'][0].rule).toContain("self.protocol == 'UDP'");
  });

  it('Backend bounds weight and quicServerId', () => {
    const spec = versionOf('backends').schema.openAPIV3Schema.properties.spec as Json;
    expect(spec.required).toEqual(['address']);
    expect(spec.properties.weight).toMatchObject({ type: 'integer', minimum: 0, maximum: 1000, default: 1 });
    expect(spec.properties.quicServerId).toMatchObject({ type: 'integer', minimum: 1, maximum: 65535 });
  });

  it('VirtualIPPool validates CIDRs with CEL on bounded strings in bounded lists', () => {
    const spec = versionOf('virtualippools').schema.openAPIV3Schema.properties.spec as Json;
    for (const field of ['addresses', 'backendAddresses']) {
      expect(spec.properties[field].maxItems).toBe(64);
      expect(spec.properties[field].items.maxLength).toBe(49);
      expect(spec.properties[field].items['x-kubernetes-validations'][0].rule).toBe('isCIDR(self)');
    }
  });

  it('VirtualIP printer columns show address, port, protocol, backends, programmed, age', () => {
    const names = (versionOf('virtualips').additionalPrinterColumns as Json[]).map((c) => c.name);
    expect(names).toEqual(['Address', 'Port', 'Protocol', 'Backends', 'Healthy', 'Active', 'Programmed', 'Nodes', 'Reason', 'Age']);
  });

  it('VirtualIP status keeps the compiled entry the controller publishes (not pruned)', () => {
    const compiled = versionOf('virtualips').schema.openAPIV3Schema.properties.status.properties.compiled as Json;
    expect(Object.keys(compiled.properties)).toEqual(['key', 'flags', 'generation', 'revision', 'backends', 'nodeSelector', 'announcement', 'healthCheck']);
    expect(compiled.properties.backends.items.required).toEqual(['address', 'family', 'weight', 'name']);
  });

  it('conditions are a list-map keyed by type', () => {
    const status = versionOf('virtualips').schema.openAPIV3Schema.properties.status as Json;
    expect(status.properties.conditions).toMatchObject({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] });
    expect(status.properties.conditions.items.required).toContain('lastTransitionTime');
  });
});

describe('toStructural', () => {
  const json = (schema: z.ZodType) => z.toJSONSchema(schema, { target: 'openapi-3.0', io: 'input' }) as Json;

  it('refuses unions, which have no single type', () => {
    const schema = z.object({ a: z.union([z.string(), z.number()]).meta({ description: 'a' }) }).meta({ description: 'x' });
    expect(() => toStructural(json(schema), 'X')).toThrow(StructuralSchemaError);
  });

  it('refuses a field without a description, naming it', () => {
    const schema = z.object({ undocumented: z.string() }).meta({ description: 'x' });
    expect(() => toStructural(json(schema), 'X')).toThrow(/X\.undocumented: needs a description/);
  });

  it('drops additionalProperties: false and unbounded integer limits', () => {
    const out = toStructural(json(z.strictObject({ n: z.int().meta({ description: 'n' }) }).meta({ description: 'x' })), 'X');
    expect(out).toEqual({ description: 'x', type: 'object', properties: { n: { description: 'n', type: 'integer', format: 'int64' } }, required: ['n'] });
  });
});

describe('drift check', () => {
  let dir: string | undefined;
  afterEach(async () => {
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it('detects edited, missing and stale files, and writeCrds repairs them', async () => {
    dir = await mkdtemp(join(tmpdir(), `sterlet-crds-${process.pid}-`));
    expect((await checkCrds(dir)).changed).toHaveLength(6); // five CRDs and README.md
    await writeCrds(dir);
    expect(await checkCrds(dir)).toEqual({ changed: [], stale: [] });
    await writeFile(join(dir, 'backends.yaml'), `${GENERATED_HEADER}# hand edit\n`);
    await writeFile(join(dir, 'old-kinds.yaml'), `${GENERATED_HEADER}kind: CustomResourceDefinition\n`);
    await writeFile(join(dir, 'someone-elses.yaml'), 'kind: ConfigMap\n');
    expect(await checkCrds(dir)).toEqual({ changed: ['backends.yaml'], stale: ['old-kinds.yaml'] });
    await writeCrds(dir);
    expect(await checkCrds(dir)).toEqual({ changed: [], stale: [] });
  });
});
