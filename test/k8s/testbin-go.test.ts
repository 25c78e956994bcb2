// scripts/testbin.sh on a Debian 12 host whose only Go is Debian's 1.19
// (golang-go, installed by make setup): it must fetch the pinned Go 1.26
// toolchain as the Go module golang.org/toolchain and build with that, and
// without any Go say exactly what it checks and what to install.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TESTBIN_SCRIPT } from '../support/kube/paths.ts';

const DEBIAN_GO = ['/usr/lib/go/bin/go', '/usr/lib/go-1.19/bin/go'].find((p) => existsSync(p));
const cache = process.env['STERLET_CACHE'] ?? join(homedir(), '.cache/sterlet');

function testbin(env: NodeJS.ProcessEnv): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(TESTBIN_SCRIPT, ['--go'], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 300_000 });
  return { code: r.status, stdout: r.stdout.trim(), stderr: r.stderr };
}

describe('testbin.sh Go', () => {
  it('fetches the pinned Go 1.26 toolchain module when the only go is Debian 12\'s 1.19', () => {
    expect(DEBIAN_GO, 'Debian\'s golang-go is missing: run make setup').toBeDefined();
    const old = spawnSync(DEBIAN_GO ?? '', ['env', 'GOVERSION'], { encoding: 'utf8' }).stdout.trim();
    expect(old).toMatch(/^go1\.(1\d|2[0-5])\b/); // really older than 1.26
    const r = testbin({ STERLET_GO: DEBIAN_GO });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^${cache}/go/mod/golang\\.org/toolchain@v0\\.0\\.1-go1\\.26\\.\\d+\\.linux-\\w+/bin/go$`));
    const version = spawnSync(r.stdout, ['env', 'GOVERSION'], { encoding: 'utf8', env: { ...process.env, GOTOOLCHAIN: 'local' } });
    expect(version.stdout.trim()).toMatch(/^go1\.26\.\d+$/);
  }, 300_000);

  it('without any usable go names the check and the fix', () => {
    const empty = mkdtempSync(join(tmpdir(), 'sterlet-nogo-')); // no cached toolchain either
    const r = testbin({ STERLET_GO: '/nonexistent/go', STERLET_CACHE: empty });
    rmSync(empty, { recursive: true, force: true });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain('TESTBIN_NO_GO');
    expect(r.stderr).toContain('check: go env GOVERSION   (must print go1.26 or newer)');
    expect(r.stderr).toContain('fix: make setup');
  });
});
