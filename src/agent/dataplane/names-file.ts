// Which VirtualIP and Backend objects the programmed addresses belong to, for
// `sterlet stats` (a separate process that reads only the pinned maps, which
// hold addresses). The agent rewrites this small JSON file after every
// successful apply; bpffs holds no regular files, so it lives under /run.

import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { DesiredVip } from '../plan/model.ts';
import { vipKeyId } from '../plan/model.ts';
import { vipIdParts } from '../../api/desired-state.ts';

/** VIP key id (`TCP 10.0.0.1:80`) -> namespace/name; backend address -> namespace/name of the Backends using it. */
export interface StatsNames {
  readonly vips: Readonly<Record<string, string>>;
  readonly backends: Readonly<Record<string, readonly string[]>>;
}

export const NAMES_DIR = '/run/sterlet';

/** The names file of the agent pinned under `bpffs` (one per bpffs directory). */
export function namesFilePath(bpffs: string, dir: string = NAMES_DIR): string {
  const id = bpffs.replace(/^\/sys\/fs\/bpf\/?/, '').replace(/[^A-Za-z0-9_.-]+/g, '_') || 'root';
  return join(dir, `${id}.names.json`);
}

export function statsNames(desired: readonly DesiredVip[]): StatsNames {
  const vips: Record<string, string> = {};
  const backends = new Map<string, Set<string>>();
  for (const v of desired) {
    vips[vipKeyId(v.key)] = v.id;
    const { namespace } = vipIdParts(v.id);
    for (const b of v.backends) {
      if (b.name === undefined) continue;
      const set = backends.get(b.address) ?? new Set<string>();
      set.add(`${namespace}/${b.name}`);
      backends.set(b.address, set);
    }
  }
  return { vips, backends: Object.fromEntries([...backends].map(([a, s]) => [a, [...s].sort()])) };
}

/** Writes atomically (temp file + rename): a reader never sees half a file. */
export function writeNamesFile(path: string, names: StatsNames): void {
  writeJsonAtomically(path, names);
}

/** JSON to `path` by a temp file and a rename (also the agent's health view, src/agent/health/snapshot-file.ts). */
export function writeJsonAtomically(path: string, body: unknown): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(body)}\n`);
  renameSync(tmp, path);
}

/** The names, or undefined when no agent wrote them (stats then shows addresses only). */
export function readNamesFile(path: string): StatsNames | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
  const parsed = JSON.parse(text) as Partial<StatsNames>;
  return { vips: parsed.vips ?? {}, backends: parsed.backends ?? {} };
}
