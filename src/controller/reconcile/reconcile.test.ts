// Reconciles against a recording fake client. API writes of one VirtualIP: a
// new VIP costs one write on the critical path (status); the finalizer is
// queued for a server-side apply without resourceVersion; a current VIP costs
// none. Failover: Backend and pool status come from the cache, so a new leader
// that drains its queues in another order writes the same statuses.
import { describe, expect, it } from 'vitest';
import type { KubeClient, KubeObject, ResourceRef } from '../../kube/client.ts';
import { ControllerCache } from '../cache.ts';
import type { EventRecorder } from '../events.ts';
import { ControllerMetrics } from '../metrics.ts';
import type { WorkKind } from '../work.ts';
import { FINALIZER, Reconciler } from './index.ts';

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

function setup(store = new Map<string, KubeObject>()): { reconciler: Reconciler; cache: ControllerCache; calls: Call[]; queued: string[]; store: Map<string, KubeObject> } {
  const { client, calls } = fakeClient(store);
  const queued: string[] = [];
  const enqueue = (kind: WorkKind, key: string): void => { queued.push(`${kind}:${key}`); };
  const cache = new ControllerCache(client, { log: silent, enqueue });
  const events = { record: () => undefined } as unknown as EventRecorder;
  const reconciler = new Reconciler({ client, cache, events, metrics: new ControllerMetrics(), log: silent, enqueue });
  cache.pools.upsert({ apiVersion: API, kind: 'VirtualIPPool', metadata: { name: 'all', generation: 1, resourceVersion: '1' },
    spec: { addresses: ['10.200.0.0/24'], backendAddresses: ['10.0.0.0/8'] } });
  const vip: KubeObject = { apiVersion: API, kind: 'VirtualIP',
    metadata: { name: 'web', namespace: 'team', uid: 'u-1', generation: 1, resourceVersion: '2', creationTimestamp: '2026-01-01T00:00:00Z' },
    spec: { address: '10.200.0.10', port: 80, protocol: 'TCP', backendSelector: { matchLabels: { app: 'web' } } } };
  if (!store.has('team/web')) store.set('team/web', vip);
  cache.vips.applyEvent('ADDED', store.get('team/web') as KubeObject);
  return { reconciler, cache, calls, queued, store };
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
    await run(calls, reconciler.reconcile('VirtualIP', 'team/web'));
    expect(calls.map((c) => c.op)).toEqual(['patchStatus']);
    expect(queued).toContain('Finalizer:team/web');
    await run(calls, reconciler.reconcile('Finalizer', 'team/web'));
    expect(calls.map((c) => c.op)).toEqual(['patchStatus', 'apply:sterlet-controller']);
    const apply = calls[1]?.body as KubeObject;
    expect(apply.metadata).toEqual({ name: 'web', namespace: 'team', uid: 'u-1', finalizers: [FINALIZER] });
    expect(JSON.stringify(calls.map((c) => c.body))).not.toContain('resourceVersion');
    expect(cache.vips.get('team/web')?.metadata.finalizers).toEqual([FINALIZER]);
  });

  it('writes nothing when the status is current and the finalizer present', async () => {
    const { reconciler, calls, queued } = setup();
    await run(calls, reconciler.reconcile('VirtualIP', 'team/web'));
    await run(calls, reconciler.reconcile('Finalizer', 'team/web'));
    const before = calls.length;
    queued.length = 0;
    await reconciler.reconcile('VirtualIP', 'team/web');
    await reconciler.reconcile('Finalizer', 'team/web');
    expect(calls.length).toBe(before);
    expect(queued.filter((k) => k.startsWith('Finalizer:'))).toEqual([]);
  });
});

const backend = (name: string, address: string, labels: Record<string, string>): KubeObject => ({
  apiVersion: API, kind: 'Backend',
  metadata: { name, namespace: 'team', uid: `u-${name}`, generation: 1, resourceVersion: '3', labels },
  spec: { address, weight: 1 },
});

/** Stores and caches two Backends of `web` and one that no VIP selects. */
function withBackends(s: ReturnType<typeof setup>): ReturnType<typeof setup> {
  for (const b of [backend('web-1', '10.0.1.11', { app: 'web' }), backend('web-2', '10.0.1.12', { app: 'web' }), backend('other', '10.0.1.13', { app: 'db' })]) {
    if (!s.store.has(`team/${b.metadata.name}`)) s.store.set(`team/${b.metadata.name}`, b);
    s.cache.backends.applyEvent('ADDED', s.store.get(`team/${b.metadata.name}`) as KubeObject);
  }
  const pool = s.cache.pools.get('all') as KubeObject;
  s.store.set('/all', s.store.get('/all') ?? pool);
  s.cache.pools.upsert(s.store.get('/all') as KubeObject);
  return s;
}

/** Reconciles `first` in order, then whatever they queued, until nothing is left. */
async function drain(s: ReturnType<typeof setup>, first: readonly string[]): Promise<void> {
  const todo = [...first];
  for (let i = 0; i < 50 && todo.length > 0; i++) {
    const item = todo.shift() as string;
    const at = item.indexOf(':');
    s.queued.length = 0;
    await run(s.calls, s.reconciler.reconcile(item.slice(0, at) as WorkKind, item.slice(at + 1)));
    for (const q of s.queued) if (!todo.includes(q) && !q.startsWith('Finalizer:')) todo.push(q);
  }
}

/** The statuses a reconcile would compare, without timestamps. */
function statuses(store: Map<string, KubeObject>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, o] of [...store].sort(([a], [b]) => a.localeCompare(b))) {
    out[k] = JSON.parse(JSON.stringify(o['status'] ?? {}, (key, v: unknown) => (key === 'lastTransitionTime' || key === 'lastUpdateTime' ? undefined : v)));
  }
  return out;
}

describe('failover: status does not depend on the order queues drain', () => {
  const all = ['Backend:team/web-1', 'Backend:team/web-2', 'Backend:team/other', 'VirtualIPPool:all'];

  it('a new leader that reconciles Backends and pools before VIPs finds every status current', async () => {
    const first = withBackends(setup());
    await drain(first, ['VirtualIP:team/web', ...all]);
    const expected = statuses(first.store);
    expect(expected['team/web-1']).toMatchObject({ usedBy: ['web'] });
    expect(expected['/all']).toMatchObject({ virtualIPs: 1 });

    // The next leader starts with cold caches over the same objects, Backends first.
    const next = withBackends(setup(first.store));
    const writesBefore = next.calls.length;
    await drain(next, [...all].reverse());
    expect(next.calls.length - writesBefore).toBe(0);
    await drain(next, ['VirtualIP:team/web']);
    expect(next.calls.map((c) => c.op)).toEqual([]);
    expect(statuses(next.store)).toEqual(expected);
  });

  it('from no status at all, either order ends with the same statuses', async () => {
    const vipFirst = withBackends(setup());
    await drain(vipFirst, ['VirtualIP:team/web', ...all]);
    const bookkeepingFirst = withBackends(setup());
    await drain(bookkeepingFirst, [...all].reverse().concat('VirtualIP:team/web'));
    expect(statuses(bookkeepingFirst.store)).toEqual(statuses(vipFirst.store));
  });
});
