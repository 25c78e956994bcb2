// bin/sterlet: the host's `sterlet` runs the CLI with the pinned Node 24 even
// when an older `node` comes first on PATH, also through a symlink (make
// install), and says what to do when the pinned Node is missing.
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const REPO = resolve(import.meta.dirname, '../..');
const dir = mkdtempSync(join(tmpdir(), 'sterlet-bin-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// A `node` that is not Node 24: if bin/sterlet used PATH, this would answer.
const fakeBin = join(dir, 'path');
mkdirSync(fakeBin);
writeFileSync(join(fakeBin, 'node'), '#!/bin/sh\necho "v18.0.0 (the wrong node)"; exit 7\n');
chmodSync(join(fakeBin, 'node'), 0o755);
const env = { ...process.env, PATH: `${fakeBin}:/usr/bin:/bin` };

describe('bin/sterlet', () => {
  it('runs the CLI with the pinned Node, not the node on PATH', () => {
    const r = spawnSync(join(REPO, 'bin/sterlet'), ['--help'], { encoding: 'utf8', env, timeout: 30_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('Usage: sterlet <command>');
    expect(r.stdout).not.toContain('wrong node');
  });

  it('works through a symlink elsewhere (make install)', () => {
    const link = join(dir, 'sterlet');
    symlinkSync(join(REPO, 'bin/sterlet'), link);
    const r = spawnSync(link, ['--help'], { encoding: 'utf8', env, timeout: 30_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('Usage: sterlet <command>');
  });

  it('names the missing pinned Node and the fix', () => {
    const tree = join(dir, 'checkout');
    mkdirSync(join(tree, 'bin'), { recursive: true });
    cpSync(join(REPO, 'bin/sterlet'), join(tree, 'bin/sterlet'));
    const r = spawnSync(join(tree, 'bin/sterlet'), ['--help'], { encoding: 'utf8', env, timeout: 30_000 });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`STERLET_NO_NODE: ${tree}/node_modules/.bin/node is missing`);
    expect(r.stderr).toContain('fix: make setup');
  });
});
