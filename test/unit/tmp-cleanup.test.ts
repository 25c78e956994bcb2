// Tests clean up what they write under the system temp directory (a
// kubeconfig holding a ServiceAccount token was left in /tmp, with
// controller logs and values files). A coarse guard: every source file that
// asks for tmpdir() also removes something. Reviewers check the pairing.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const REPO = resolve(import.meta.dirname, '../..');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = join(dir, e.name);
    if (e.isDirectory()) return e.name === 'node_modules' || e.name.startsWith('.') ? [] : sources(full);
    return e.name.endsWith('.ts') ? [full] : [];
  });
}

describe('temporary files', () => {
  it('every file that writes under tmpdir() also removes what it wrote', () => {
    const offenders = ['test', 'src', 'bench', 'scripts']
      .flatMap((d) => sources(join(REPO, d)))
      .filter((f) => !f.endsWith('tmp-cleanup.test.ts'))
      .filter((f) => {
        const text = readFileSync(f, 'utf8');
        return /\btmpdir\(\)/.test(text) && !/\b(rmSync|rm|rmdirSync|unlinkSync|unlink)\(/.test(text);
      })
      .map((f) => relative(REPO, f));
    expect(offenders).toEqual([]);
  });
});
