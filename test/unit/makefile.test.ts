// The Makefile keeps its promises: `make help` lists every documented target
// (names with digits too: test-e2e, bench-k8s), and `make test` itself ends
// with the "N passed, N failed, N skipped" line, not only .ci/run.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const REPO = resolve(import.meta.dirname, '../..');
const documented = [...readFileSync(resolve(REPO, 'Makefile'), 'utf8').matchAll(/^([^\s:#=]+):[^=\n]*##/gm)].map((m) => m[1] ?? '');

describe('Makefile', () => {
  it('make help lists every target that has a ## description', () => {
    const r = spawnSync('make', ['--no-print-directory', 'help'], { cwd: REPO, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
    expect(r.status, r.stderr).toBe(0);
    const listed = new Set([...r.stdout.replace(/\x1b\[[0-9;]*m/g, '').matchAll(/^ {2}(\S+)/gm)].map((m) => m[1]));
    expect(documented.length).toBeGreaterThan(10);
    expect(documented.filter((t) => !listed.has(t))).toEqual([]);
  });

  it('make test prints the summary line from the vitest report', () => {
    const r = spawnSync('make', ['--no-print-directory', '-n', 'test'], { cwd: REPO, encoding: 'utf8' });
    expect(r.stdout).toContain('scripts/test-summary.ts build/test-results.json');
  });
});
