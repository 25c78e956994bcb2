// Installs Sterlet's generated CRDs into the local control plane and waits
// until the API server serves them (Established), so tests can create objects.
import { resolve } from 'node:path';
import { kubectl, REPO_ROOT, waitFor } from './index.ts';

export const CRD_NAMES = [
  'virtualips.sterlet.dev',
  'backends.sterlet.dev',
  'virtualippools.sterlet.dev',
  'loadbalancernodes.sterlet.dev',
  'bgppeers.sterlet.dev',
] as const;

export async function installCrds(): Promise<void> {
  await kubectl(['apply', '--server-side', '--force-conflicts', '-f', resolve(REPO_ROOT, 'crds')]);
  // Another test run may be re-applying them this very moment (status briefly empty): retry.
  await waitFor(
    async () => (await kubectl(['wait', '--for=condition=Established', '--timeout=10s', ...CRD_NAMES.map((n) => `crd/${n}`)], { allowFail: true })).code === 0,
    { what: 'Sterlet CRDs Established', timeoutMs: 60_000, intervalMs: 500 },
  );
}
