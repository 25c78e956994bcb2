// `promtool check metrics` on a scrape: the text goes through tools/promlint
// (Prometheus' own linter, built once by scripts/promlint.sh into the cache).
import { execFileSync, spawnSync } from 'node:child_process';

let binary: string | undefined;

/** Builds (first time) and returns the linter's path. */
export function promlintBinary(): string {
  binary ??= execFileSync('scripts/promlint.sh', { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 600_000 }).trim();
  return binary;
}

export interface LintResult {
  /** 0 clean, 3 problems, 1 unparsable text (promtool's codes). */
  readonly code: number | null;
  /** One `metric: problem` per line. */
  readonly problems: readonly string[];
}

export function promlint(exposition: string): LintResult {
  const r = spawnSync(promlintBinary(), { input: exposition, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, problems: r.stderr.split('\n').filter((l) => l !== '') };
}
