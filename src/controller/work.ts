// What the controller reconciles, as typed work items: each kind has its own
// queue and handler, so routing never looks inside a key.

/** Kinds of work; Finalizer adds the finalizer to a VirtualIP (after VIP status, before bookkeeping). */
export type WorkKind = 'VirtualIP' | 'Finalizer' | 'Backend' | 'VirtualIPPool' | 'Service' | 'BGPPeer';

/** Service: a Service of type LoadBalancer (address, status, derived VirtualIPs); BGPPeer: its summary status. */
export const WORK_KINDS: readonly WorkKind[] = ['VirtualIP', 'Finalizer', 'Backend', 'VirtualIPPool', 'Service', 'BGPPeer'];

/** Queues the object `key` (namespace/name, or name for cluster-scoped kinds) for `kind`. */
export type Enqueue = (kind: WorkKind, key: string) => void;

/** What a reconcile asks of the queue besides "done". */
export interface ReconcileResult {
  readonly requeueAfterMs?: number;
}
