// Where the local control plane lives. The cluster script and the vitest
// global setup agree on these paths; tests read them from here only.
import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import { REPO_ROOT } from '../exec.ts';

export { REPO_ROOT };
export const TESTBIN_SCRIPT: string = resolve(REPO_ROOT, 'scripts/testbin.sh');
export const CLUSTER_SCRIPT: string = resolve(REPO_ROOT, 'scripts/cluster.sh');

/** The admin kubeconfig: $STERLET_KUBECONFIG when set, else the cluster directory's (cluster.sh: $STERLET_CLUSTER_DIR or build/). */
export function kubeconfigPath(): string {
  return process.env['STERLET_KUBECONFIG'] ?? resolve(process.env['STERLET_CLUSTER_DIR'] ?? resolve(REPO_ROOT, 'build'), 'kubeconfig');
}

let cachedBinDir: string | undefined;

/** The cache directory holding kube-apiserver, kubectl, etcd and helm. */
export function testbinDir(): string {
  cachedBinDir ??= process.env['STERLET_TESTBIN'] ?? execFileSync(TESTBIN_SCRIPT, ['--dir'], { encoding: 'utf8' }).trim();
  return cachedBinDir;
}

/** Absolute path of one cached tool: 'kubectl' | 'helm' | 'kube-apiserver' | 'etcd'. */
export function toolPath(name: 'kubectl' | 'helm' | 'kube-apiserver' | 'etcd'): string {
  return resolve(testbinDir(), name);
}
