// CRD YAML from the zod schemas: the schemas in src/api are the only source;
// crds/*.yaml is their output (`make manifests`), checked for drift by a test.
import { stringify } from 'yaml';
import { z } from 'zod';
import { GROUP, VERSION } from '../meta.ts';
import { KINDS, type KindDefinition } from './kinds.ts';
import { toStructural } from './structural.ts';

export const GENERATED_HEADER = '# Generated from src/api by `make manifests`. Do not edit.\n';

function schemaOf(type: z.ZodType, path: string): Record<string, unknown> {
  // io: 'input' keeps defaulted fields optional (the API server fills the defaults).
  const json = z.toJSONSchema(type, { target: 'openapi-3.0', io: 'input', unrepresentable: 'throw' });
  return toStructural(json as Record<string, unknown>, path);
}

export function crdFor(def: KindDefinition): Record<string, unknown> {
  const properties: Record<string, unknown> = {
    apiVersion: {
      description: 'Versioned schema of this representation of an object, e.g. sterlet.dev/v1alpha1.',
      type: 'string',
    },
    kind: { description: `Kind of this object: ${def.kind}.`, type: 'string' },
    metadata: { type: 'object' },
  };
  if (def.spec !== undefined) properties.spec = schemaOf(def.spec, `${def.kind}.spec`);
  properties.status = schemaOf(def.status, `${def.kind}.status`);
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${def.plural}.${GROUP}` },
    spec: {
      group: GROUP,
      names: {
        kind: def.kind,
        listKind: `${def.kind}List`,
        plural: def.plural,
        singular: def.singular,
        shortNames: [...def.shortNames],
        categories: ['sterlet'],
      },
      scope: def.scope,
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: def.columns.map((c) => ({ ...c })),
          schema: {
            openAPIV3Schema: {
              description: def.description,
              type: 'object',
              ...(def.spec === undefined ? {} : { required: ['spec'] }),
              properties,
            },
          },
        },
      ],
    },
  };
}

export interface GeneratedFile {
  /** File name inside crds/, e.g. virtualips.yaml. */
  readonly name: string;
  readonly content: string;
}

export function generateCrds(): GeneratedFile[] {
  return KINDS.map((def) => ({
    name: `${def.plural}.yaml`,
    content: GENERATED_HEADER + stringify(crdFor(def), { lineWidth: 0 }),
  }));
}
