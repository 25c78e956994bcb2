// Reading Sterlet manifests (multi-document YAML) into typed objects: the
// standalone agent's input and `sterlet plan --manifests`. Objects of other
// API groups (Namespaces, Deployments in the same GitOps directory) are
// counted and skipped; errors name the file, document, object and field.
import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { CORE_SCHEMA, loadAll } from 'js-yaml';
import type { z } from 'zod';
import { Backend } from '../api/backend.ts';
import { BGPPeer } from '../api/bgp-peer.ts';
import { LoadBalancerNode } from '../api/load-balancer-node.ts';
import { DEFAULT_NAMESPACE, GROUP } from '../api/meta.ts';
import { VirtualIP } from '../api/virtual-ip.ts';
import { VirtualIPPool } from '../api/virtual-ip-pool.ts';
import { SterletError } from '../common/errors.ts';

export const KIND_SCHEMAS = { VirtualIP, Backend, VirtualIPPool, LoadBalancerNode, BGPPeer } as const;
export type SterletKind = keyof typeof KIND_SCHEMAS;
export type SterletObject = z.infer<(typeof KIND_SCHEMAS)[SterletKind]>;

export const ManifestErrorCode = {
  YAML: 'MANIFEST_YAML',
  INVALID: 'MANIFEST_INVALID',
  UNKNOWN_KIND: 'MANIFEST_UNKNOWN_KIND',
  DUPLICATE_OBJECT: 'MANIFEST_DUPLICATE_OBJECT',
  READ: 'MANIFEST_READ',
} as const;
export type ManifestErrorCode = (typeof ManifestErrorCode)[keyof typeof ManifestErrorCode];

export type ManifestErrorDetails = {
  readonly source: string;
  /** 0-based document index in the file; undefined for file-level errors. */
  readonly documentIndex?: number;
  /** 0-based index inside a `kind: List` document (kubectl get -o yaml output). */
  readonly itemIndex?: number;
  readonly kind?: string;
  readonly name?: string;
  /** Field path, e.g. spec.port. */
  readonly path?: string;
};

/**
 * One problem in the manifests. The message keeps its "CODE: where: path: problem"
 * shape for logs; `where` and `problem` are the same parts as fields, so callers
 * never take the message apart.
 */
export class ManifestError extends SterletError {
  declare readonly code: ManifestErrorCode;
  declare readonly details: ManifestErrorDetails;
  /** File, document, item and object, e.g. "m.yaml, document 2, VirtualIP web". */
  readonly where: string;
  /** What is wrong, without the location. */
  readonly problem: string;
  constructor(code: ManifestErrorCode, details: ManifestErrorDetails, problem: string, options?: ErrorOptions) {
    const where = [
      details.source,
      details.documentIndex === undefined ? undefined : `document ${details.documentIndex + 1}`,
      details.itemIndex === undefined ? undefined : `item ${details.itemIndex + 1}`,
      details.kind === undefined ? undefined : `${details.kind} ${details.name ?? '(unnamed)'}`,
    ].filter((p) => p !== undefined).join(', ');
    super(code, `${code}: ${where}: ${details.path === undefined ? '' : `${details.path}: `}${problem}`, {
      cause: options?.cause,
      details: { ...details },
    });
    this.name = 'ManifestError';
    this.where = where;
    this.problem = problem;
  }
}

export interface ManifestSet {
  readonly objects: readonly SterletObject[];
  readonly errors: readonly ManifestError[];
  /** Documents of other API groups, skipped. */
  readonly ignored: number;
}

function formatPath(path: readonly PropertyKey[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i === 0 ? '' : '.'}${String(p)}`)).join('');
}

function isKind(kind: unknown): kind is SterletKind {
  return typeof kind === 'string' && Object.hasOwn(KIND_SCHEMAS, kind);
}

function asList(raw: unknown): unknown[] | undefined {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return undefined;
  const { apiVersion, kind, items } = raw as Record<string, unknown>;
  return apiVersion === 'v1' && kind === 'List' && Array.isArray(items) ? items : undefined;
}

/** undefined: a document of another API group, skipped. */
function parseObject(raw: unknown, details: ManifestErrorDetails): SterletObject | ManifestError | undefined {
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    return new ManifestError(ManifestErrorCode.INVALID, details, 'a manifest must be a mapping with apiVersion and kind');
  }
  const { apiVersion, kind, metadata } = raw as Record<string, unknown>;
  const name = (metadata as { name?: unknown } | undefined)?.name;
  const where = { ...details, ...(typeof kind === 'string' ? { kind } : {}), ...(typeof name === 'string' ? { name } : {}) };
  if (typeof apiVersion !== 'string' || !apiVersion.startsWith(`${GROUP}/`)) return undefined;
  if (!isKind(kind)) {
    return new ManifestError(ManifestErrorCode.UNKNOWN_KIND, where,
      `unknown kind ${String(kind)} in ${GROUP}; expected one of ${Object.keys(KIND_SCHEMAS).join(', ')}`);
  }
  const result = KIND_SCHEMAS[kind].safeParse(raw);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const more = result.error.issues.length > 1 ? ` (and ${result.error.issues.length - 1} more)` : '';
  return new ManifestError(ManifestErrorCode.INVALID, { ...where, path: formatPath(issue?.path ?? []) },
    `${issue?.message ?? 'invalid'}${more}`, { cause: result.error });
}

function identity(o: SterletObject): string {
  const namespaced = o.kind === 'VirtualIP' || o.kind === 'Backend';
  return `${o.kind}/${o.metadata.namespace ?? (namespaced ? DEFAULT_NAMESPACE : '')}/${o.metadata.name}`;
}

/** Drops later copies of an object already seen, reporting each (file order decides nothing silently). */
function dedupe(
  objects: readonly SterletObject[],
  source: string,
  firstSeen: Map<string, string>,
  errors: ManifestError[],
): SterletObject[] {
  const kept: SterletObject[] = [];
  for (const o of objects) {
    const id = identity(o);
    const earlier = firstSeen.get(id);
    if (earlier !== undefined) {
      errors.push(new ManifestError(ManifestErrorCode.DUPLICATE_OBJECT, { source, kind: o.kind, name: o.metadata.name },
        `also defined in ${earlier}; keep one definition`));
      continue;
    }
    firstSeen.set(id, source);
    kept.push(o);
  }
  return kept;
}

/** One parsed YAML document of a text (0-based index in the text). */
export interface YamlDocument {
  readonly raw: unknown;
  readonly documentIndex: number;
}

/**
 * The first half of parseManifests: the YAML documents of one text, and the
 * documents that are not valid YAML (one error each, with its line number).
 */
export function parseYamlDocuments(text: string, source: string): { documents: YamlDocument[]; errors: ManifestError[] } {
  // js-yaml (YAML 1.2 core schema, like the yaml package's default) parses
  // valid input ~5x faster: 51,712 documents took 30 s with the yaml
  // package's document model. Invalid YAML is parsed again with that model,
  // whose errors carry line numbers.
  let fast: unknown[] | undefined;
  try {
    fast = loadAll(text, { schema: CORE_SCHEMA });
  } catch {
    fast = undefined;
  }
  if (fast !== undefined) return { documents: fast.map((raw, documentIndex) => ({ raw, documentIndex })), errors: [] };
  const documents: YamlDocument[] = [];
  const errors: ManifestError[] = [];
  // Loaded on the first invalid text only: ~70 modules the valid path never needs.
  const { parseAllDocuments } = createRequire(import.meta.url)('yaml') as typeof import('yaml');
  parseAllDocuments(text).forEach((doc, documentIndex) => {
    if (doc.errors.length > 0) {
      const first = doc.errors[0];
      const line = first?.linePos?.[0];
      errors.push(new ManifestError(ManifestErrorCode.YAML, { source, documentIndex },
        `${line === undefined ? '' : `line ${line.line}: `}${first?.message ?? 'invalid YAML'}`));
      return;
    }
    documents.push({ raw: doc.toJS(), documentIndex });
  });
  return { documents, errors };
}

/** The second half of parseManifests: validates parsed documents into Sterlet objects (schemas, duplicates). */
export function objectsOfDocuments(documents: readonly YamlDocument[], source: string, errors: ManifestError[] = []): ManifestSet {
  const objects: SterletObject[] = [];
  let ignored = 0;
  for (const { raw, documentIndex } of documents) {
    if (raw === null || raw === undefined) continue; // empty document
    const details = { source, documentIndex };
    // `kubectl get vip,be -o yaml` writes one List: a cluster snapshot works as standalone input.
    const list = asList(raw);
    const entries = list === undefined ? [{ raw, details }] : list.map((item, itemIndex) => ({ raw: item, details: { ...details, itemIndex } }));
    for (const entry of entries) {
      const parsed = parseObject(entry.raw, entry.details);
      if (parsed === undefined) ignored++;
      else if (parsed instanceof ManifestError) errors.push(parsed);
      else objects.push(parsed);
    }
  }
  return { objects: dedupe(objects, source, new Map(), errors), errors, ignored };
}

/** Parses one multi-document YAML text; `source` names it in errors (a path or "stdin"). */
export function parseManifests(text: string, source: string): ManifestSet {
  const { documents, errors } = parseYamlDocuments(text, source);
  return objectsOfDocuments(documents, source, errors);
}

async function yamlFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const files: string[] = [];
  for (const entry of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    if (entry.name.startsWith('.')) continue;
    const full = join(dir, entry.name);
    if (entry.isDirectory()) files.push(...(await yamlFiles(full)));
    else if (/\.ya?ml$/.test(entry.name)) files.push(full);
  }
  return files;
}

export interface ManifestTexts {
  /** The files read, in the order they are parsed. */
  readonly files: readonly string[];
  readonly texts: readonly string[];
  /** sha256 over names and contents: equal digests = the same input. */
  readonly digest: string;
  readonly errors: readonly ManifestError[];
}

/**
 * Reads a YAML file, or every *.yaml / *.yml under a directory (recursively,
 * in name order, skipping dot entries), without parsing.
 */
export async function readManifestTexts(path: string): Promise<ManifestTexts> {
  const hash = createHash('sha256');
  let files: string[];
  try {
    files = (await stat(path)).isDirectory() ? await yamlFiles(path) : [path];
  } catch (cause) {
    const error = new ManifestError(ManifestErrorCode.READ, { source: path },
      `cannot read ${path} (${(cause as Error).message}); pass an existing file or directory of YAML manifests`, { cause });
    return { files: [], texts: [], digest: hash.update(`missing\0${path}`).digest('hex'), errors: [error] };
  }
  const read: string[] = [];
  const texts: string[] = [];
  const errors: ManifestError[] = [];
  for (const file of files) {
    try {
      const text = await readFile(file, 'utf8');
      hash.update(`${file}\0${String(text.length)}\0`).update(text);
      read.push(file);
      texts.push(text);
    } catch (cause) {
      hash.update(`unreadable\0${file}\0`);
      errors.push(new ManifestError(ManifestErrorCode.READ, { source: file }, `cannot read: ${(cause as Error).message}`, { cause }));
    }
  }
  return { files: read, texts, digest: hash.digest('hex'), errors };
}

/**
 * Parses what readManifestTexts read. The same object defined twice is an
 * error: which copy counts would otherwise depend on file order.
 */
export function parseManifestTexts(input: ManifestTexts): ManifestSet & { readonly files: readonly string[] } {
  const objects: SterletObject[] = [];
  const errors: ManifestError[] = [...input.errors];
  const firstSeen = new Map<string, string>();
  let ignored = 0;
  input.files.forEach((file, i) => {
    const set = parseManifests(input.texts[i] ?? '', file);
    errors.push(...set.errors);
    ignored += set.ignored;
    objects.push(...dedupe(set.objects, file, firstSeen, errors));
  });
  return { objects, errors, ignored, files: input.files };
}

/** readManifestTexts, then parseManifestTexts. */
export async function readManifests(path: string): Promise<ManifestSet & { readonly files: readonly string[] }> {
  return parseManifestTexts(await readManifestTexts(path));
}
