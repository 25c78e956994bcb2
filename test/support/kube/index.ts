// Helpers for tests against the local control plane (scripts/cluster.sh).
export { runTool, ToolError, type ToolOptions, type ToolResult } from '../exec.ts';
export { apply, getJson, helm, kubectl, kubectlAs, serviceAccountToken } from './kubectl.ts';
export { createNamespace, deleteNamespace, TEST_NAMESPACE_LABEL, uniqueName, type DeleteNamespaceOptions } from './namespace.ts';
export { CHART_TEST_VALUES } from './chart.ts';
export { CLUSTER_SCRIPT, kubeconfigPath, REPO_ROOT, TESTBIN_SCRIPT, testbinDir, toolPath } from './paths.ts';
export { waitFor, type WaitOptions } from './wait.ts';
