// Unique, disposable namespaces so test files never collide with each other
// or with earlier runs. The local cluster runs the namespace controller, so a
// deleted namespace (and everything in it) really disappears.
import { randomBytes } from 'node:crypto';
import { kubectl } from './kubectl.ts';
import { waitFor } from './wait.ts';

/** A DNS-1123 label: prefix-pid-random, at most 63 characters. */
export function uniqueName(prefix: string): string {
  const clean = prefix.toLowerCase().replace(/[^a-z0-9-]/g, '-').replace(/^-+|-+$/g, '').slice(0, 40) || 'test';
  return `${clean}-${String(process.pid)}-${randomBytes(3).toString('hex')}`;
}

/** Label put on every test namespace, so leftovers can be found and removed. */
export const TEST_NAMESPACE_LABEL = 'sterlet.dev/test-namespace';

/** Creates a fresh namespace named after prefix and returns its name. */
export async function createNamespace(prefix: string): Promise<string> {
  const name = uniqueName(prefix);
  const manifest = { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: { [TEST_NAMESPACE_LABEL]: 'true' } } };
  await kubectl(['create', '-f', '-'], { input: JSON.stringify(manifest) });
  return name;
}

export interface DeleteNamespaceOptions {
  /** Wait until the namespace is gone (default true). */
  readonly wait?: boolean;
  readonly timeoutMs?: number;
}

/**
 * Deletes a namespace (a missing one is fine) and by default waits until it is
 * gone. Expect about 5 s: the namespace controller waits a fixed grace period
 * before it deletes the contents. Objects with finalizers nobody removes keep
 * the namespace Terminating (and this wait times out).
 */
export async function deleteNamespace(name: string, options: DeleteNamespaceOptions = {}): Promise<void> {
  await kubectl(['delete', 'namespace', name, '--ignore-not-found', '--wait=false']);
  if (options.wait === false) return;
  try {
    await waitFor(
      async () => (await kubectl(['get', 'namespace', name], { allowFail: true })).code !== 0,
      { what: `namespace ${name} to be deleted`, timeoutMs: options.timeoutMs ?? 60_000, intervalMs: 250 },
    );
  } catch (error) {
    throw new Error(`${(error as Error).message}. Why, per the namespace controller: ${await stuckReason(name)}`, { cause: error });
  }
}

interface NamespaceCondition {
  readonly type: string;
  readonly status: string;
  readonly message?: string;
}

/** The namespace's True conditions, e.g. "NamespaceFinalizersRemaining: ... has finalizers remaining: x in 2 resource instances". */
async function stuckReason(name: string): Promise<string> {
  const result = await kubectl(['get', 'namespace', name, '-o', 'jsonpath={.status.conditions}'], { allowFail: true });
  if (result.code !== 0) return `(cannot read it: ${result.stderr.trim()})`;
  const conditions = (result.stdout === '' ? [] : JSON.parse(result.stdout)) as NamespaceCondition[];
  const active = conditions.filter((c) => c.status === 'True').map((c) => `${c.type}: ${c.message ?? ''}`);
  return active.length > 0 ? active.join('; ') : 'no condition reported (is kube-controller-manager running? see build/cluster)';
}
