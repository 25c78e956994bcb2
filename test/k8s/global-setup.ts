// vitest globalSetup for the `k8s` project: make sure the test binaries are
// built and a local control plane is running (reusing one that already is),
// and point the tests at build/kubeconfig. The run registers itself with
// `cluster.sh acquire` and leaves with `release`, which stops the cluster only
// when an acquire started it and no other user (test run, demo) is still live.
//
// Set STERLET_KEEP_CLUSTER=1 to leave a cluster this run started running.
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { CLUSTER_SCRIPT, REPO_ROOT, TESTBIN_SCRIPT } from './lib/paths.ts';

const KUBECONFIG = resolve(REPO_ROOT, 'build/kubeconfig');

function must(path: string, args: readonly string[], why: string): string {
  const result = spawnSync(path, args, { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
  if (result.status !== 0) {
    throw new Error(`K8S_SETUP_FAILED: \`${path} ${args.join(' ')}\` failed: ${why}. Fix: read the output above, or run it by hand.`);
  }
  return (result.stdout ?? '').trim();
}

export default function setup(): () => void {
  const bin = must(TESTBIN_SCRIPT, ['--dir'], 'cannot locate the test binaries cache');
  must(TESTBIN_SCRIPT, [], 'building kube-apiserver, kubectl, etcd or helm failed');
  must(CLUSTER_SCRIPT, ['acquire', String(process.pid)], 'the local control plane did not start');

  process.env['KUBECONFIG'] = KUBECONFIG;
  // Not STERLET_KUBECONFIG: STERLET_<FLAG> is how the sterlet CLI reads its
  // flags, and every CLI child of every project would inherit --kubeconfig.
  process.env['STERLET_TESTBIN'] = bin;
  process.env['PATH'] = `${bin}:${process.env['PATH'] ?? ''}`;

  return () => {
    must(CLUSTER_SCRIPT, ['release', String(process.pid)], 'releasing the local control plane failed');
  };
}
