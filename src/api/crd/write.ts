// Writes crds/ from the schemas, or (check mode) reports drift without writing.
import { readdir, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { GENERATED_HEADER, type GeneratedFile, generateCrds } from './generate.ts';
import { referenceFile } from './reference.ts';

/** Everything `make manifests` owns in the directory: the CRDs and their reference page. */
function generated(): GeneratedFile[] {
  return [...generateCrds(), referenceFile()];
}

export interface CrdDrift {
  /** Files whose content differs from the generated output, or that are missing. */
  readonly changed: readonly string[];
  /** Generated files in the directory that the schemas no longer produce. */
  readonly stale: readonly string[];
}

async function existing(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  let names: string[] = [];
  try {
    names = await readdir(dir);
  } catch {
    return out; // no directory yet: everything is "changed"
  }
  for (const name of names.filter((n) => n.endsWith('.yaml') || n === 'README.md').sort()) {
    out.set(name, await readFile(join(dir, name), 'utf8'));
  }
  return out;
}

export async function checkCrds(dir: string): Promise<CrdDrift> {
  const have = await existing(dir);
  const want = generated();
  const changed = want.filter((f) => have.get(f.name) !== f.content).map((f) => f.name);
  const names = new Set(want.map((f) => f.name));
  const stale = [...have].filter(([n, c]) => !names.has(n) && n.endsWith('.yaml') && c.startsWith(GENERATED_HEADER)).map(([n]) => n);
  return { changed, stale };
}

/** Regenerates every CRD file and removes generated files no schema produces any more. */
export async function writeCrds(dir: string): Promise<CrdDrift> {
  const drift = await checkCrds(dir);
  await mkdir(dir, { recursive: true });
  for (const f of generated()) await writeFile(join(dir, f.name), f.content);
  for (const name of drift.stale) await rm(join(dir, name));
  return drift;
}
