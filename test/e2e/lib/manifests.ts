// The VirtualIP + Backend manifests the e2e agent reads (`--manifests DIR`),
// written the way a user would `kubectl apply` them. Writes are atomic
// (write beside, then rename into the directory) so the agent's watcher never
// sees a half-written file.
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
  /** VirtualIP name; its Backends are `<backend name>` (v4) or `<backend name>-v6`. Default web. */
  readonly name?: string;
  /** Use the backends' IPv6 addresses (an IPv6 VIP needs IPv6 backends). */
  readonly ipv6?: boolean;
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
        port: VIP_PORT,
        protocol: 'TCP',
        backendSelector: { matchLabels: { app: name } },
        encapsulation: 'IPIP',
        hash: 'FiveTuple',
        connectionTracking: 'Enabled',
      },
    },
    ...backends.map(({ backend, weight }) => ({
      apiVersion: API_VERSION,
      kind: 'Backend',
      metadata: { name: options.ipv6 === true ? `${backend.name}-v6` : backend.name, namespace: MANIFEST_NAMESPACE, labels: { app: name } },
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

  /** Replaces web.yaml with these documents. */
  async write(documents: readonly object[]): Promise<void> {
    await this.writeRaw(documents.map((doc) => stringify(doc)).join('---\n'));
  }

  /** Replaces web.yaml with raw text (used to write invalid manifests on purpose). */
  async writeRaw(text: string): Promise<void> {
    const staged = join(this.staging, `web-${String(++this.writes)}.yaml`);
    await writeFile(staged, text);
    await rename(staged, join(this.dir, 'web.yaml'));
  }
}
