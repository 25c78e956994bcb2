// The VirtualIP + Backend manifests the e2e agent reads (`--manifests DIR`),
// written the way a user would `kubectl apply` them, either rewritten in
// place or replaced by a rename (the two ways files change under a watcher).
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { VIP_PORT } from './addressing.ts';
import type { BackendNode } from './topology.ts';

export const MANIFEST_NAMESPACE = 'e2e';
const API_VERSION = 'sterlet.dev/v1alpha1';

export interface BackendEntry {
  readonly backend: BackendNode;
  readonly weight?: number;
}

export interface VipManifestOptions {
  /** VirtualIP name; its Backends are `<backend name>` for `web`, else `<backend name>-<name>`. Default web. */
  readonly name?: string;
  /** Use the backends' IPv6 addresses (an IPv6 VIP needs IPv6 backends). */
  readonly ipv6?: boolean;
  /** Default 80. */
  readonly port?: number;
  /** Default IPIP. */
  readonly encapsulation?: 'IPIP' | 'GUE';
  /** spec.healthCheck, as written. */
  readonly healthCheck?: Record<string, unknown>;
}

/** A TCP VIP on port 80 selecting `app: <name>`, plus one Backend per entry. */
export function webManifests(vip: string, backends: readonly BackendEntry[], options: VipManifestOptions = {}): object[] {
  const name = options.name ?? 'web';
  return [
    {
      apiVersion: API_VERSION,
      kind: 'VirtualIP',
      metadata: { name, namespace: MANIFEST_NAMESPACE },
      spec: {
        address: vip,
        port: options.port ?? VIP_PORT,
        protocol: 'TCP',
        backendSelector: { matchLabels: { app: name } },
        encapsulation: options.encapsulation ?? 'IPIP',
        hash: 'FiveTuple',
        connectionTracking: 'Enabled',
        ...(options.healthCheck === undefined ? {} : { healthCheck: options.healthCheck }),
      },
    },
    ...backends.map(({ backend, weight }) => ({
      apiVersion: API_VERSION,
      kind: 'Backend',
      metadata: { name: name === 'web' ? backend.name : `${backend.name}-${name}`, namespace: MANIFEST_NAMESPACE, labels: { app: name } },
      spec: { address: options.ipv6 === true ? backend.address6 : backend.address, weight: weight ?? 1 },
    })),
  ];
}

export class ManifestDir {
  readonly dir: string;
  private readonly staging: string;
  private writes = 0;

  constructor(scratch: string) {
    this.dir = join(scratch, 'manifests');
    this.staging = join(scratch, 'manifests-staging');
  }

  async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    await mkdir(this.staging, { recursive: true });
  }

  /**
   * Rewrites web.yaml in place (truncate + one write of a few KiB, which the
   * agent's 200 ms debounce never sees half done), like `cat > web.yaml`.
   */
  async write(documents: readonly object[]): Promise<void> {
    await writeFile(join(this.dir, 'web.yaml'), render(documents));
  }

  /** Replaces web.yaml by renaming a new file over it, as editors and ConfigMap volume updates do. */
  async replace(documents: readonly object[]): Promise<void> {
    const staged = join(this.staging, `web-${String(++this.writes)}.yaml`);
    await writeFile(staged, render(documents));
    await rename(staged, join(this.dir, 'web.yaml'));
  }
}

function render(documents: readonly object[]): string {
  return documents.map((doc) => stringify(doc)).join('---\n');
}
