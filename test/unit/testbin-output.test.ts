// What scripts/testbin.sh prints on a cold cache: one estimate, one line per
// binary, and Go's own output ("go: downloading ...", hundreds of lines on a
// first build) only in a log file whose path it prints. Driven with a
// stand-in `go` that talks like the real one, since a real cold build takes
// 25 minutes; the real build runs in the k8s project's global setup.
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const SCRIPT = resolve(import.meta.dirname, '../../scripts/testbin.sh');
const dir = mkdtempSync(join(tmpdir(), 'sterlet-testbin-out-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function fakeGo(failOn?: string): string {
  const go = join(dir, `go${failOn ?? ''}`);
  writeFileSync(
    go,
    `#!/usr/bin/env bash
case "$1" in
  env) echo go1.26.8 ;;
  mod) echo "go: downloading k8s.io/kubernetes v1.36.3" >&2
       printf 'module k8s.io/kubernetes\\nreplace k8s.io/api => ./staging/src/k8s.io/api\\n' > "${dir}/k8s.mod"
       printf '{\n\t"Path": "k8s.io/kubernetes",\n\t"GoMod": "%s",\n}\n' "${dir}/k8s.mod" ;;
  build) out=""; while (($#)); do [[ "$1" == -o ]] && out="$2"; pkg="$1"; shift; done
       for i in 1 2 3; do echo "go: downloading example.com/dep$i v1.0.$i" >&2; done
       [[ "$pkg" == *"${failOn ?? 'never'}"* ]] && { echo "compile error in $pkg" >&2; exit 2; }
       printf '#!/bin/sh\\n' > "$out"; chmod +x "$out" ;;
esac
`,
  );
  chmodSync(go, 0o755);
  return go;
}

function run(go: string, cache: string): { code: number | null; stderr: string } {
  const r = spawnSync(SCRIPT, [], { encoding: 'utf8', env: { ...process.env, STERLET_GO: go, STERLET_CACHE: cache }, timeout: 60_000 });
  return { code: r.status, stderr: r.stderr };
}

describe('testbin.sh output', () => {
  it('prints an estimate once and a line per binary; Go output goes to the log it names', () => {
    const cache = join(dir, 'cache-ok');
    const r = run(fakeGo(), cache);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toContain('go: downloading');
    expect(r.stderr.match(/about 25 minutes/g)).toHaveLength(1);
    for (const [i, b] of ['kube-apiserver', 'kubectl', 'kube-controller-manager', 'etcd', 'helm'].entries()) {
      expect(r.stderr).toContain(`[${String(i + 1)}/5] building ${b}…`);
      expect(r.stderr).toMatch(new RegExp(`\\[${String(i + 1)}/5\\] built ${b} in \\d+ s`));
    }
    const log = /Go's download and compile output: (\S+)/.exec(r.stderr)?.[1] ?? '';
    expect(existsSync(log)).toBe(true);
    expect(readFileSync(log, 'utf8')).toContain('go: downloading example.com/dep1 v1.0.1');
    // Cached: a second run prints nothing at all.
    expect(run(fakeGo(), cache)).toEqual({ code: 0, stderr: '' });
  });

  it('on a failed build shows the last lines of the log and its path', () => {
    const r = run(fakeGo('etcd'), join(dir, 'cache-fail'));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/TESTBIN_BUILD_FAILED: building etcd failed; last lines of \S+\.build\.log:/);
    expect(r.stderr).toContain('compile error in go.etcd.io/etcd/server/v3');
  });
});
