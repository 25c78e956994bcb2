// The handler table: one reconcile function per kind of work, sharing one
// context. Node liveness is tracked here because heartbeats expire with time,
// not with events.

import type { ReconcileResult, WorkKind } from '../work.ts';
import { nodeViews, type ReconcileContext } from './context.ts';
import { reconcileBackend } from './backend.ts';
import { reconcileBgpPeer } from './bgp-peer.ts';
import { reconcileFinalizer } from './finalizer.ts';
import { reconcilePool } from './pool.ts';
import { reconcileVirtualIP } from './virtual-ip.ts';

export type { ReconcileContext } from './context.ts';
export { FINALIZER } from './virtual-ip.ts';
export { FIELD_MANAGER } from './finalizer.ts';

export interface ReconcilerOptions extends Omit<ReconcileContext, 'heartbeatMs'> {
  /** A node whose agent has not reported for this long no longer counts (default 90 s). */
  readonly heartbeatTimeoutMs?: number;
  /** Services of type LoadBalancer (services/reconcile.ts); absent: Service work is dropped. */
  readonly services?: { reconcile(key: string): Promise<ReconcileResult> };
}

export class Reconciler {
  readonly #ctx: ReconcileContext;
  /** VIPs refused with Conflict, for the gauge only (status never reads it). */
  readonly #conflicts = new Set<string>();
  readonly #handlers: Readonly<Record<WorkKind, (key: string) => Promise<ReconcileResult>>>;
  #liveNodes = '';

  constructor(options: ReconcilerOptions) {
    const { heartbeatTimeoutMs, services, ...rest } = options;
    this.#ctx = { ...rest, heartbeatMs: heartbeatTimeoutMs ?? 90_000 };
    const ctx = this.#ctx;
    this.#handlers = {
      VirtualIP: (key) => reconcileVirtualIP(ctx, key, this.#conflicts),
      Finalizer: (key) => reconcileFinalizer(ctx, key),
      Backend: (key) => reconcileBackend(ctx, key),
      VirtualIPPool: (key) => reconcilePool(ctx, key),
      Service: (key) => services?.reconcile(key) ?? Promise.resolve({}),
      BGPPeer: (key) => reconcileBgpPeer(ctx, key),
    };
  }

  reconcile(kind: WorkKind, key: string): Promise<ReconcileResult> {
    return this.#handlers[kind](key);
  }

  /** True when the set of live nodes changed since the last call. */
  livenessChanged(): boolean {
    const live = nodeViews(this.#ctx).filter((n) => n.live).map((n) => n.node.metadata.name).sort().join(',');
    const changed = live !== this.#liveNodes;
    this.#liveNodes = live;
    return changed;
  }
}
