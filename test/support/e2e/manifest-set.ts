// A large standalone manifest set: by default the cold-start input of issue
// 15 §5, 512 VIPs x 100 Backends as 51,712 YAML documents, one file per VIP
// (the VIP and its Backends), the way a GitOps directory of plain manifests
// looks. Used by bench/agent.ts, bench/cold-start.ts and the cold-start e2e test.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const MANIFEST_VIPS = 512;
export const MANIFEST_BACKENDS = 100;
export const MANIFEST_DOCUMENTS = MANIFEST_VIPS * (MANIFEST_BACKENDS + 1);

/** Writes the manifest set into `dir` (which must exist); returns the file count. */
export function writeManifestSet(dir: string, vips = MANIFEST_VIPS): number {
  for (let v = 0; v < vips; v++) {
    const docs = [`apiVersion: sterlet.dev/v1alpha1\nkind: VirtualIP\nmetadata:\n  name: vip-${v}\n  namespace: default\nspec:\n  address: 10.200.${v >> 8}.${v & 255}\n  port: 80\n  protocol: TCP\n  backendSelector:\n    matchLabels:\n      app: app-${v}\n`];
    for (let b = 0; b < MANIFEST_BACKENDS; b++) {
      const n = v * MANIFEST_BACKENDS + b;
      docs.push(`apiVersion: sterlet.dev/v1alpha1\nkind: Backend\nmetadata:\n  name: be-${v}-${b}\n  namespace: default\n  labels:\n    app: app-${v}\nspec:\n  address: 10.${1 + (n >> 16)}.${(n >> 8) & 255}.${n & 255}\n  weight: 1\n`);
    }
    writeFileSync(join(dir, `vip-${String(v).padStart(3, '0')}.yaml`), docs.join('---\n'));
  }
  return vips;
}
