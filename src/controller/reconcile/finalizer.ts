// Adds the dataplane finalizer to a VirtualIP with a server-side apply that
// names only our entry and no resourceVersion, so it never conflicts with a
// concurrent status write.

import { API_VERSION } from '../../api/meta.ts';
import { Resources } from '../../kube/client.ts';
import type { ReconcileResult } from '../work.ts';
import type { ReconcileContext } from './context.ts';
import { FINALIZER } from './virtual-ip.ts';

/** Server-side apply field manager of the controller's own metadata (the finalizer). */
export const FIELD_MANAGER = 'sterlet-controller';

export async function reconcileFinalizer(ctx: ReconcileContext, key: string): Promise<ReconcileResult> {
  const { cache, client } = ctx;
  const raw = cache.vips.get(key);
  if (raw === undefined || raw.metadata.deletionTimestamp !== undefined || (raw.metadata.finalizers ?? []).includes(FINALIZER)) return {};
  const applied = await client.apply(Resources.virtualIP, {
    apiVersion: API_VERSION, kind: 'VirtualIP',
    // The uid is a precondition: never touch a VIP deleted and re-made meanwhile.
    metadata: { name: raw.metadata.name, ...(raw.metadata.namespace === undefined ? {} : { namespace: raw.metadata.namespace }),
      ...(raw.metadata.uid === undefined ? {} : { uid: raw.metadata.uid }), finalizers: [FINALIZER] },
  }, FIELD_MANAGER);
  cache.vips.upsert(applied);
  return {};
}
