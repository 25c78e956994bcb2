// Renders crds/*.yaml into charts/sterlet/templates/crds/ as templates gated by
// `crds.enabled`, with `crds.keep` adding helm.sh/resource-policy: keep.
// Templates (unlike Helm's crds/ directory) are upgraded by `helm upgrade`.
// Usage: node scripts/chart-crds.ts [--check]
import { readdir, readFile, writeFile, mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
export const CRD_DIR = join(root, 'crds');
export const CHART_CRD_DIR = join(root, 'charts/sterlet/templates/crds');

const KEEP_ANNOTATION = [
  'metadata:',
  '  annotations:',
  '    {{- if .Values.crds.keep }}',
  '    helm.sh/resource-policy: keep',
  '    {{- end }}',
].join('\n');

/** The chart template for one generated CRD file. */
export function chartTemplate(crdYaml: string): string {
  if (crdYaml.includes('{{')) throw new Error('CRD text contains "{{", which Helm would read as a template action');
  if (!/^metadata:\n/m.test(crdYaml) || /^ {2}annotations:/m.test(crdYaml)) {
    throw new Error('expected a top-level metadata: block without annotations in the generated CRD');
  }
  const body = crdYaml
    .split('\n')
    .filter((line) => !line.startsWith('#'))
    .join('\n')
    .replace(/^metadata:$/m, KEEP_ANNOTATION)
    .trimEnd();
  return `# Rendered from crds/ by \`make manifests\`. Do not edit.\n{{- if .Values.crds.enabled }}\n${body}\n{{- end }}\n`;
}

/** Every chart CRD template as it should be: file name -> content. */
export async function expectedChartCrds(): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const name of (await readdir(CRD_DIR)).filter((n) => n.endsWith('.yaml')).sort()) {
    out.set(name, chartTemplate(await readFile(join(CRD_DIR, name), 'utf8')));
  }
  return out;
}

/** Names of chart CRD templates that are missing, differ, or no longer have a source. */
export async function chartCrdDrift(): Promise<string[]> {
  const want = await expectedChartCrds();
  const have = new Map<string, string>();
  for (const name of await readdir(CHART_CRD_DIR).catch(() => [] as string[])) {
    have.set(name, await readFile(join(CHART_CRD_DIR, name), 'utf8'));
  }
  const differ = [...want].filter(([n, c]) => have.get(n) !== c).map(([n]) => n);
  const stale = [...have.keys()].filter((n) => !want.has(n));
  return [...differ, ...stale];
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (process.argv.includes('--check')) {
    const drift = await chartCrdDrift();
    if (drift.length > 0) {
      console.error(`CHART_CRD_DRIFT: charts/sterlet/templates/crds differs from crds/ (${drift.join(', ')}). Run \`make manifests\` and commit the result.`);
      process.exit(1);
    }
  } else {
    await rm(CHART_CRD_DIR, { recursive: true, force: true });
    await mkdir(CHART_CRD_DIR, { recursive: true });
    for (const [name, content] of await expectedChartCrds()) await writeFile(join(CHART_CRD_DIR, name), content);
    console.log(`wrote ${CHART_CRD_DIR}`);
  }
}
