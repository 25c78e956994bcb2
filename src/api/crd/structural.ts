// zod JSON Schema (openapi-3.0 target) -> Kubernetes structural schema.
// Kubernetes requires a `type` on every node, forbids $ref and
// additionalProperties: false, and `kubectl explain` needs a description on
// every field. Anything that cannot be expressed fails generation loudly
// instead of producing a CRD the API server would reject or that says nothing.

type Json = Record<string, unknown>;

const FORBIDDEN = ['$ref', '$defs', 'definitions', 'anyOf', 'oneOf', 'allOf', 'not', 'nullable'] as const;
const MAX_SAFE = Number.MAX_SAFE_INTEGER;
const KEY_ORDER = [
  'description', 'type', 'format', 'enum', 'default', 'minimum', 'maximum', 'minLength', 'maxLength', 'pattern',
  'minItems', 'maxItems', 'items', 'properties', 'additionalProperties', 'required',
];

export class StructuralSchemaError extends Error {
  readonly code = 'CRD_SCHEMA_UNSUPPORTED';
  constructor(path: string, problem: string) {
    super(`CRD_SCHEMA_UNSUPPORTED: ${path || '(root)'}: ${problem}; change the zod schema in src/api so it maps to a structural schema`);
    this.name = 'StructuralSchemaError';
  }
}

function ordered(node: Json): Json {
  const keys = Object.keys(node).sort((a, b) => {
    const ia = KEY_ORDER.indexOf(a);
    const ib = KEY_ORDER.indexOf(b);
    return (ia < 0 ? KEY_ORDER.length : ia) - (ib < 0 ? KEY_ORDER.length : ib) || (a < b ? -1 : a > b ? 1 : 0);
  });
  return Object.fromEntries(keys.map((k) => [k, node[k]]));
}

function convert(input: Json, path: string, needsDescription: boolean): Json {
  for (const key of FORBIDDEN) if (key in input) throw new StructuralSchemaError(path, `${key} is not allowed`);
  const node: Json = { ...input };
  delete node.$schema;
  delete node.propertyNames; // labels keys are validated by zod; Kubernetes has no propertyNames
  if (typeof node.type !== 'string') throw new StructuralSchemaError(path, 'every node needs a single type');
  if (needsDescription && typeof node.description !== 'string') {
    throw new StructuralSchemaError(path, 'needs a description (zod .meta({ description })) for kubectl explain');
  }
  if (node.type === 'integer') {
    if (node.minimum === -MAX_SAFE) delete node.minimum;
    if (node.maximum === MAX_SAFE) delete node.maximum;
    node.format ??= 'int64';
  }
  if (node.format === 'date-time') delete node.pattern; // the format already validates it
  if (node.type === 'object') {
    if (node.additionalProperties === false) delete node.additionalProperties;
    const props = node.properties as Record<string, Json> | undefined;
    if (props !== undefined) {
      node.properties = Object.fromEntries(
        Object.entries(props).map(([name, child]) => [name, convert(child, `${path}.${name}`, true)]),
      );
    }
    const extra = node.additionalProperties;
    if (typeof extra === 'object' && extra !== null) {
      if (props !== undefined) throw new StructuralSchemaError(path, 'properties and additionalProperties together');
      node.additionalProperties = convert(extra as Json, `${path}.*`, false);
    }
  }
  if (node.type === 'array') {
    if (typeof node.items !== 'object' || node.items === null || Array.isArray(node.items)) {
      throw new StructuralSchemaError(path, 'arrays need one items schema');
    }
    node.items = convert(node.items as Json, `${path}[]`, false);
  }
  return ordered(node);
}

/** Converts one schema; `path` prefixes error messages (e.g. `VirtualIP.spec`). */
export function toStructural(schema: Json, path: string): Json {
  return convert(schema, path, true);
}
