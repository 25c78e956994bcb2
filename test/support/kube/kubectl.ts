// kubectl and helm against the local control plane (build/kubeconfig), using
// the cached binaries from scripts/testbin.sh.
import { resolve } from 'node:path';
import { runTool, type ToolOptions, type ToolResult } from '../exec.ts';
import { kubeconfigPath, REPO_ROOT, toolPath } from './paths.ts';

/** `kubectl --kubeconfig build/kubeconfig ARGS` as the cluster admin (system:masters). */
export function kubectl(args: readonly string[], options: ToolOptions = {}): Promise<ToolResult> {
  return runTool(toolPath('kubectl'), ['--kubeconfig', kubeconfigPath(), ...args], options);
}

/** kubectl with the admin kubeconfig's server and CA but another bearer token (RBAC tests). */
export function kubectlAs(token: string, args: readonly string[], options: ToolOptions = {}): Promise<ToolResult> {
  return runTool(toolPath('kubectl'), ['--kubeconfig', kubeconfigPath(), '--token', token, ...args], options);
}

/** `kubectl apply -f -` with the given YAML or JSON; extra args e.g. ['-n', ns] or ['--server-side']. */
export function apply(manifest: string, extraArgs: readonly string[] = [], options: ToolOptions = {}): Promise<ToolResult> {
  return kubectl(['apply', '-f', '-', ...extraArgs], { ...options, input: manifest });
}

/** `kubectl get ARGS -o json`, parsed. Throws when kubectl fails. */
export async function getJson<T = unknown>(args: readonly string[], options: Omit<ToolOptions, 'allowFail'> = {}): Promise<T> {
  const { stdout } = await kubectl(['get', ...args, '-o', 'json'], options);
  return JSON.parse(stdout) as T;
}

/** Mints a bearer token for ServiceAccount ns/sa via the TokenRequest API (creates the account if missing). */
export async function serviceAccountToken(namespace: string, name: string, duration = '1h'): Promise<string> {
  const exists = await kubectl(['-n', namespace, 'get', 'serviceaccount', name], { allowFail: true });
  if (exists.code !== 0) await kubectl(['-n', namespace, 'create', 'serviceaccount', name]);
  const { stdout } = await kubectl(['-n', namespace, 'create', 'token', name, '--duration', duration]);
  return stdout.trim();
}

/** Helm's own state (cache, config, data) stays under build/helm, never in $HOME. */
const HELM_HOME = resolve(REPO_ROOT, 'build/helm');

/** `helm ARGS` against the local cluster (KUBECONFIG set, helm state under build/helm). */
export function helm(args: readonly string[], options: ToolOptions = {}): Promise<ToolResult> {
  const env = {
    ...process.env,
    ...options.env,
    KUBECONFIG: kubeconfigPath(),
    HELM_CACHE_HOME: resolve(HELM_HOME, 'cache'),
    HELM_CONFIG_HOME: resolve(HELM_HOME, 'config'),
    HELM_DATA_HOME: resolve(HELM_HOME, 'data'),
  };
  return runTool(toolPath('helm'), args, { ...options, env });
}
