// Markdown reference of every kind, rendered from the same structural schemas
// as the CRDs, so the documentation cannot drift from what the API server
// enforces. Written to crds/README.md by `make manifests`.
import { crdFor, type GeneratedFile } from './generate.ts';
import { KINDS } from './kinds.ts';

// The CRD tree is plain JSON produced by crdFor(); `any` keeps the walk readable.
type Json = Record<string, any>;

function constraints(node: Json): string {
  const parts: string[] = [];
  if (Array.isArray(node.enum)) parts.push(`one of ${node.enum.map((v: unknown) => `\`${String(v)}\``).join(', ')}`);
  if (node.minimum !== undefined && node.maximum !== undefined) parts.push(`${node.minimum}–${node.maximum}`);
  else if (node.minimum !== undefined) parts.push(`≥ ${node.minimum}`);
  if (node.maxLength !== undefined) parts.push(`≤ ${node.maxLength} chars`);
  if (node.maxItems !== undefined) parts.push(`≤ ${node.maxItems} items`);
  if (node.minItems !== undefined) parts.push(`≥ ${node.minItems} items`);
  for (const v of (node['x-kubernetes-validations'] ?? []) as Json[]) parts.push(`CEL: \`${v.rule}\``);
  const items = node.items as Json | undefined;
  if (items !== undefined && items.type !== 'object') {
    const each = constraints(items);
    if (each !== '') parts.push(`each: ${each}`);
  }
  return parts.join('; ');
}

function typeOf(node: Json): string {
  if (node.type === 'array') return `[]${typeOf(node.items as Json)}`;
  if (node.type === 'object' && typeof node.additionalProperties === 'object') return `map[string]${typeOf(node.additionalProperties as Json)}`;
  return String(node.type);
}

function cell(text: string): string {
  return text.replaceAll('|', '\\|').replaceAll('\n', ' ');
}

function rows(node: Json, path: string, out: string[]): void {
  const props = (node.properties ?? {}) as Record<string, Json>;
  const required = new Set((node.required ?? []) as string[]);
  for (const [name, child] of Object.entries(props)) {
    const field = `${path}${name}`;
    const def = child.default === undefined ? '' : `\`${JSON.stringify(child.default)}\``;
    const desc = [child.description ?? '', constraints(child)].filter((s) => s !== '').join(' — ');
    out.push(`| \`${field}\` | ${typeOf(child)} | ${required.has(name) ? 'yes' : ''} | ${def} | ${cell(desc)} |`);
    const inner = child.type === 'array' ? (child.items as Json) : child;
    if (inner.type === 'object' && inner.properties) rows(inner, `${field}${child.type === 'array' ? '[]' : ''}.`, out);
  }
}

export function renderReference(): string {
  const out = [
    '<!-- Generated from src/api by `make manifests`. Do not edit. -->',
    '# Sterlet API reference (sterlet.dev/v1alpha1)',
    '',
    'The CRDs in this directory are generated from the zod schemas in `src/api`; so is this page.',
    '`kubectl explain virtualip.spec` shows the same descriptions.',
    '',
  ];
  for (const def of KINDS) {
    const crd = crdFor(def) as Json;
    const schema = crd.spec.versions[0].schema.openAPIV3Schema as Json;
    out.push(`## ${def.kind}`, '', def.description, '');
    out.push(`Scope: ${def.scope}. Short names: ${def.shortNames.map((s) => `\`${s}\``).join(', ')}.`, '');
    for (const part of ['spec', 'status']) {
      const node = schema.properties[part] as Json | undefined;
      if (node === undefined) continue;
      const rules = ((node['x-kubernetes-validations'] ?? []) as Json[]).map((v) => `\`${v.rule}\` (${v.message})`);
      out.push(`### ${part}`, '', node.description as string, '');
      if (rules.length > 0) out.push(`Rules: ${rules.join('; ')}.`, '');
      out.push('| Field | Type | Required | Default | Description |', '|---|---|---|---|---|');
      rows(node, `${part}.`, out);
      out.push('');
    }
  }
  return `${out.join('\n')}\n`;
}

export function referenceFile(): GeneratedFile {
  return { name: 'README.md', content: renderReference() };
}
