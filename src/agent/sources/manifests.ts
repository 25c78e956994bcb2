// Manifests on disk -> desired VIPs, or the list of problems that make the
// input unusable. Standalone, any problem rejects the whole change: the
// compile step would merely drop the offending VIP, but on a host without a
// controller nobody would see that condition, and dropping a VIP because of a
// typo takes its traffic down. Keeping the last good state is the safe choice.

import { compile } from '../../compile/compile.ts';
import { parseManifestTexts, readManifestTexts, type ManifestTexts } from '../../compile/manifests.ts';
import { formatRef, type Labels } from '../../api/meta.ts';
import { fromCompiledState } from '../plan/desired.ts';
import type { DesiredVip } from '../plan/model.ts';
import type { SourceProblem } from './types.ts';

export type ManifestLoad =
  | { readonly ok: true; readonly vips: DesiredVip[]; readonly files: readonly string[] }
  | { readonly ok: false; readonly problems: SourceProblem[] };

export interface LoadOptions {
  readonly node?: { name: string; labels: Labels };
}

export async function loadManifests(path: string, options: LoadOptions = {}): Promise<ManifestLoad> {
  return compileManifestTexts(await readManifestTexts(path), options);
}

/** Parses, validates and compiles what readManifestTexts read (the file source skips this when the digest is unchanged). */
export function compileManifestTexts(texts: ManifestTexts, options: LoadOptions = {}): ManifestLoad {
  const set = parseManifestTexts(texts);
  const problems: SourceProblem[] = set.errors.map((e) => ({
    code: e.code,
    where: e.details.path === undefined ? e.where : `${e.where}, ${e.details.path}`,
    message: e.problem,
  }));
  if (problems.length > 0) return { ok: false, problems };
  const result = compile(set.objects, options.node === undefined ? {} : { node: options.node });
  for (const p of result.problems) {
    problems.push({
      code: p.code,
      where: `${formatRef(p.object)}, ${p.field}`,
      message: p.message,
    });
  }
  if (problems.length > 0) return { ok: false, problems };
  return { ok: true, vips: fromCompiledState(result.state), files: set.files };
}
