// Installs Sterlet's generated CRDs into the local control plane and waits
// until the API server serves them (Established), so tests can create objects.
import { resolve } from 'node:path';
import { kubectl, REPO_ROOT } from '../lib/index.ts';

export const CRD_NAMES = [
  'virtualips.sterlet.dev',
  'backends.sterlet.dev',
  'virtualippools.sterlet.dev',
  'loadbalancernodes.sterlet.dev',
] as const;

export async function installCrds(): Promise<void> {
  await kubectl(['apply', '--server-side', '--force-conflicts', '-f', resolve(REPO_ROOT, 'crds')]);
  await kubectl(['wait', '--for=condition=Established', '--timeout=60s', ...CRD_NAMES.map((n) => `crd/${n}`)]);
}
