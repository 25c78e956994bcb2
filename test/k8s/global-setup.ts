// vitest globalSetup for the `k8s` project: make sure the test binaries are
// built and a local control plane is running (reusing one that already is),
// point the tests at build/kubeconfig, and stop the cluster afterwards only
// when a test run started it and no other test run is still using it.
//
// Set STERLET_KEEP_CLUSTER=1 to leave a cluster this run started running.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { CLUSTER_SCRIPT, REPO_ROOT, TESTBIN_SCRIPT } from './lib/paths.ts';

const KUBECONFIG = resolve(REPO_ROOT, 'build/kubeconfig');
/** Written by `cluster.sh up --by-tests` when it started the cluster (absent after `make cluster-up`). */
const STARTED_BY_TESTS = resolve(REPO_ROOT, 'build/cluster/started-by-tests');
/** One file per test run (its pid) currently using the cluster. */
const USERS_DIR = resolve(REPO_ROOT, 'build/cluster-users');

function script(path: string, args: readonly string[]): { ok: boolean; stdout: string } {
  const result = spawnSync(path, args, { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
  return { ok: result.status === 0, stdout: result.stdout ?? '' };
}

function must(path: string, args: readonly string[], why: string): string {
  const result = script(path, args);
  if (!result.ok) {
    throw new Error(`K8S_SETUP_FAILED: \`${path} ${args.join(' ')}\` failed: ${why}. Fix: read the output above, or run it by hand.`);
  }
  return result.stdout.trim();
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Counts other live test runs using the cluster; forgets runs that died without a teardown. */
function otherLiveUsers(): number {
  if (!existsSync(USERS_DIR)) return 0;
  let live = 0;
  for (const entry of readdirSync(USERS_DIR)) {
    const pid = Number(entry);
    if (pid === process.pid) continue;
    if (Number.isInteger(pid) && pid > 0 && pidAlive(pid)) live += 1;
    else rmSync(resolve(USERS_DIR, entry), { force: true });
  }
  return live;
}

export default function setup(): () => void {
  const bin = must(TESTBIN_SCRIPT, ['--dir'], 'cannot locate the test binaries cache');
  must(TESTBIN_SCRIPT, [], 'building kube-apiserver, kubectl, etcd or helm failed');

  mkdirSync(USERS_DIR, { recursive: true });
  const me = resolve(USERS_DIR, String(process.pid));
  writeFileSync(me, '');

  // Reuses a running cluster; marks one it starts (under the script's lock) as started by tests.
  must(CLUSTER_SCRIPT, ['up', '--by-tests'], 'the local control plane did not start');

  process.env['KUBECONFIG'] = KUBECONFIG;
  process.env['STERLET_KUBECONFIG'] = KUBECONFIG;
  process.env['STERLET_TESTBIN'] = bin;
  process.env['PATH'] = `${bin}:${process.env['PATH'] ?? ''}`;

  return () => {
    rmSync(me, { force: true });
    if (process.env['STERLET_KEEP_CLUSTER'] === '1') return;
    if (!existsSync(STARTED_BY_TESTS) || otherLiveUsers() > 0) return;
    must(CLUSTER_SCRIPT, ['down'], 'stopping the local control plane failed');
  };
}
