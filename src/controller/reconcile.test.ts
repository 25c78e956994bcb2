// API writes of one VirtualIP reconcile against a recording fake client: a new
// VIP costs one write on the critical path (status); the finalizer is queued
// for a server-side apply without resourceVersion; a current VIP costs none.
import { describe, expect, it } from 'vitest';
import type { KubeClient, KubeObject, ResourceRef } from '../kube/client.ts';
import { ControllerCache } from './cache.ts';
import type { EventRecorder } from './events.ts';
import { ControllerMetrics } from './metrics.ts';
import { FINALIZER, Reconciler } from './reconcile.ts';

const API = 'sterlet.dev/v1alpha1';

interface Call { readonly op: string; readonly path: string; readonly body: unknown; release: () => void }

/** Answers every write with the object it would produce, but only once `release` runs. */
function fakeClient(store: Map<string, KubeObject>): { client: KubeClient; calls: Call[] } {
  const calls: Call[] = [];
  let rv = 100;
  const hold = (op: string, ref: ResourceRef, name: string, ns: string | undefined, body: unknown, apply: (o: KubeObject) => KubeObject): Promise<KubeObject> =>
    new Promise((resolve) => {
      const key = `${ns ?? ''}/${name}`;
      calls.push({ op, path: `${ref.plural}/${key}`, body, release: () => {
        const next = { ...apply(structuredClone(store.get(key) as KubeObject)) };
        next.metadata = { ...next.metadata, resourceVersion: String(++rv) };
        store.set(key, next);
        resolve(next);
      } });
    });
  const client = {
    patchStatus: (ref: ResourceRef, name: string, status: unknown, ns?: string) =>
      hold('patchStatus', ref, name, ns, status, (o) => ({ ...o, status })),
    mergePatch: (ref: ResourceRef, name: string, patch: { metadata?: { finalizers?: string[] } }, options: { namespace?: string } = {}) =>
      hold('mergePatch', ref, name, options.namespace, patch, (o) => ({ ...o, metadata: { ...o.metadata, ...patch.metadata } })),
    apply: (ref: ResourceRef, obj: KubeObject, fieldManager: string) =>
      hold(`apply:${fieldManager}`, ref, obj.metadata.name, obj.metadata.namespace, obj,
        (o) => ({ ...o, metadata: { ...o.metadata, finalizers: [...new Set([...(o.metadata.finalizers ?? []), ...(obj.metadata.finalizers ?? [])])] } })),
  } as unknown as KubeClient;
  return { client, calls };
}

function setup(): { reconciler: Reconciler; cache: ControllerCache; calls: Call[]; queued: string[] } {
  const store = new Map<string, KubeObject>();
  const { client, calls } = fakeClient(store);
  const queued: string[] = [];
  const enqueue = (k: string): void => { queued.push(k); };
  const cache = new ControllerCache(client, { log: silent, enqueue });
  const events = { record: () => undefined } as unknown as EventRecorder;
  const reconciler = new Reconciler({ client, cache, events, metrics: new ControllerMetrics(), log: silent, enqueue });
  cache.pools.upsert({ apiVersion: API, kind: 'VirtualIPPool', metadata: { name: 'all', generation: 1, resourceVersion: '1' },
    spec: { addresses: ['10.200.0.0/24'], backendAddresses: ['10.0.0.0/8'] } });
  const vip: KubeObject = { apiVersion: API, kind: 'VirtualIP',
    metadata: { name: 'web', namespace: 'team', uid: 'u-1', generation: 1, resourceVersion: '2', creationTimestamp: '2026-01-01T00:00:00Z' },
    spec: { address: '10.200.0.10', port: 80, protocol: 'TCP', backendSelector: { matchLabels: { app: 'web' } } } };
  store.set('team/web', vip);
  cache.vips.upsert(vip);
  return { reconciler, cache, calls, queued };
}

const silent = { debug: () => undefined, info: () => undefined, warn: () => undefined } as never;

async function run(calls: Call[], work: Promise<unknown>): Promise<void> {
  let finished = false;
  void work.finally(() => { finished = true; });
  for (let i = 0; i < 100 && !finished; i++) {
    for (const c of calls) c.release();
    await new Promise((r) => setTimeout(r, 1));
  }
  await work;
}

describe('VirtualIP reconcile writes', () => {
  it('writes only the status of a new VIP, then adds the finalizer by server-side apply without resourceVersion', async () => {
    const { reconciler, cache, calls, queued } = setup();
    await run(calls, reconciler.reconcileVip('team/web'));
    expect(calls.map((c) => c.op)).toEqual(['patchStatus']);
    expect(queued).toContain('Finalizer:team/web');
    await run(calls, reconciler.reconcileFinalizer('team/web'));
    expect(calls.map((c) => c.op)).toEqual(['patchStatus', 'apply:sterlet-controller']);
    const apply = calls[1]?.body as KubeObject;
    expect(apply.metadata).toEqual({ name: 'web', namespace: 'team', uid: 'u-1', finalizers: [FINALIZER] });
    expect(JSON.stringify(calls.map((c) => c.body))).not.toContain('resourceVersion');
    expect(cache.vips.get('team/web')?.metadata.finalizers).toEqual([FINALIZER]);
  });

  it('writes nothing when the status is current and the finalizer present', async () => {
    const { reconciler, calls, queued } = setup();
    await run(calls, reconciler.reconcileVip('team/web'));
    await run(calls, reconciler.reconcileFinalizer('team/web'));
    const before = calls.length;
    queued.length = 0;
    await reconciler.reconcileVip('team/web');
    await reconciler.reconcileFinalizer('team/web');
    expect(calls.length).toBe(before);
    expect(queued.filter((k) => k.startsWith('Finalizer:'))).toEqual([]);
  });
});
