// vitest globalSetup for the `k8s` project: make sure the test binaries are
// built and a local control plane is running (reusing one that already is),
// and point the tests at build/kubeconfig. The run registers itself with
// `cluster.sh acquire` and leaves with `release`, which stops the cluster only
// when an acquire started it and no other user (test run, demo) is still live.
// A failed start ends the run with one K8S_SETUP_FAILED line (lib/setup.ts).
//
// Set STERLET_KEEP_CLUSTER=1 to leave a cluster this run started running.
import { resolve } from 'node:path';
import { CLUSTER_SCRIPT, REPO_ROOT, TESTBIN_SCRIPT } from '../support/kube/paths.ts';
import { k8sGlobalSetup } from '../support/kube/setup.ts';

export default function setup(): () => void {
  return k8sGlobalSetup({ testbin: TESTBIN_SCRIPT, cluster: CLUSTER_SCRIPT, kubeconfig: resolve(REPO_ROOT, 'build/kubeconfig') });
}
