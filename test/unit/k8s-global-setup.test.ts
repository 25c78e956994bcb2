// The k8s project's global setup, run by a real vitest whose cluster script
// fails the way scripts/cluster.sh does: the run must end with one clear
// K8S_SETUP_FAILED line naming the script's error code, and not with
// vitest's misleading "No test files found".
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const REPO = resolve(import.meta.dirname, '../..');
// Under build/ so the temporary vitest config resolves the repository's node_modules.
mkdirSync(join(REPO, 'build'), { recursive: true });
const dir = mkdtempSync(join(REPO, 'build', 'setup-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function script(name: string, body: string): string {
  const path = join(dir, name);
  writeFileSync(path, `#!/usr/bin/env bash\n${body}\n`);
  chmodSync(path, 0o755);
  return path;
}

describe('k8s global setup', () => {
  it('ends a run whose control plane does not start with one K8S_SETUP_FAILED line', () => {
    const testbin = script('testbin.sh', `[[ "\${1:-}" == --dir ]] && echo '${dir}'; exit 0`);
    const cluster = script(
      'cluster.sh',
      `printf 'cluster: CLUSTER_APISERVER_EXITED: kube-apiserver exited during start-up\\n  why: see the log\\n  fix: retry\\n' >&2; exit 1`,
    );
    writeFileSync(
      join(dir, 'setup.ts'),
      `import { k8sGlobalSetup } from '${join(REPO, 'test/support/kube/setup.ts')}';\n` +
        `export default () => k8sGlobalSetup({ testbin: '${testbin}', cluster: '${cluster}', kubeconfig: '${join(dir, 'kubeconfig')}' });\n`,
    );
    writeFileSync(join(dir, 'x.test.ts'), `import { it } from 'vitest';\nit('never runs', () => {});\n`);
    writeFileSync(
      join(dir, 'vitest.config.ts'),
      `import { defineConfig } from 'vitest/config';\nexport default defineConfig({ test: { include: ['x.test.ts'], globalSetup: ['setup.ts'] } });\n`,
    );
    const r = spawnSync(join(REPO, 'node_modules/.bin/vitest'), ['run', '--root', dir, '--config', join(dir, 'vitest.config.ts')], {
      encoding: 'utf8',
      env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' },
      timeout: 60_000,
    });
    const out = `${r.stdout}\n${r.stderr}`;
    expect(r.status).toBe(1);
    expect(out).not.toMatch(/No test files found/);
    const lines = out.split('\n').filter((l) => l.includes('K8S_SETUP_FAILED'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^K8S_SETUP_FAILED: the local control plane did not start: .*cluster\.sh acquire \d+` failed \(CLUSTER_APISERVER_EXITED\)/);
    // The script's own explanation is still shown above that line.
    expect(out).toContain('cluster: CLUSTER_APISERVER_EXITED: kube-apiserver exited during start-up');
  });
});
