// The controller cache's indexes decide what a change re-reconciles. Events are
// fed through Informer.applyEvent (what the watch does), no API server needed.
import { describe, expect, it } from 'vitest';
import type { KubeClient, KubeObject } from '../kube/client.ts';
import { ControllerCache } from './cache.ts';
import type { WorkKind } from './work.ts';

const API = 'sterlet.dev/v1alpha1';
const silent = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
let rv = 1;

function setup(): { cache: ControllerCache; queued: string[] } {
  const queued: string[] = [];
  const cache = new ControllerCache({} as KubeClient, { log: silent, enqueue: (kind: WorkKind, key: string) => queued.push(`${kind}:${key}`) });
  return { cache, queued };
}

const vip = (name: string, address: string, selector: Record<string, string>, ns = 'team'): KubeObject => ({
  apiVersion: API, kind: 'VirtualIP',
  metadata: { name, namespace: ns, generation: 1, resourceVersion: String(rv++) },
  spec: { address, port: 80, protocol: 'TCP', backendSelector: { matchLabels: selector } },
});
const backend = (name: string, labels: Record<string, string>, ns = 'team'): KubeObject => ({
  apiVersion: API, kind: 'Backend',
  metadata: { name, namespace: ns, generation: 1, resourceVersion: String(rv++), labels },
  spec: { address: '10.0.1.1', weight: 1 },
});

describe('ControllerCache', () => {
  it('queues the VIPs whose selector matches a Backend before or after a label change', () => {
    const { cache, queued } = setup();
    cache.vips.applyEvent('ADDED', vip('web', '10.200.0.1', { app: 'web' }));
    cache.vips.applyEvent('ADDED', vip('db', '10.200.0.2', { app: 'db' }));
    cache.vips.applyEvent('ADDED', vip('other-ns', '10.200.0.3', { app: 'web' }, 'elsewhere'));
    const b = backend('b1', { app: 'web' });
    queued.length = 0;
    cache.backends.applyEvent('ADDED', b);
    expect(queued.sort()).toEqual(['Backend:team/b1', 'VirtualIP:team/web']);

    queued.length = 0;
    const moved = { ...b, metadata: { ...b.metadata, generation: 2, resourceVersion: String(rv++), labels: { app: 'db' } } };
    cache.backends.applyEvent('MODIFIED', moved);
    expect(queued.sort()).toEqual(['Backend:team/b1', 'VirtualIP:team/db', 'VirtualIP:team/web']);
    expect(cache.vipsSelecting('team', { app: 'db' })).toEqual(['team/db']);
    expect(cache.selectedBackends('team', { matchLabels: { app: 'db' } }).map((x) => x.metadata.name)).toEqual(['b1']);
    expect(cache.selectedBackends('team', { matchLabels: { app: 'web' } })).toEqual([]);
  });

  it('ignores a Backend status write (same generation and labels)', () => {
    const { cache, queued } = setup();
    cache.vips.applyEvent('ADDED', vip('web', '10.200.0.1', { app: 'web' }));
    const b = backend('b1', { app: 'web' });
    cache.backends.applyEvent('ADDED', b);
    queued.length = 0;
    cache.backends.applyEvent('MODIFIED', { ...b, metadata: { ...b.metadata, resourceVersion: String(rv++) }, status: { usedBy: ['web'] } });
    expect(queued).toEqual([]);
  });

  it('groups VIPs that claim the same address/port/protocol and requeues the group when one leaves', () => {
    const { cache, queued } = setup();
    cache.vips.applyEvent('ADDED', vip('a', '10.200.0.1', { app: 'a' }));
    queued.length = 0;
    const b = vip('b', '10.200.0.1', { app: 'b' }, 'other');
    cache.vips.applyEvent('ADDED', b);
    expect([...new Set(queued)].sort()).toEqual(['VirtualIP:other/b', 'VirtualIP:team/a']);
    expect(cache.claimGroup('team/a').map((v) => v.metadata.name).sort()).toEqual(['a', 'b']);
    queued.length = 0;
    cache.vips.applyEvent('DELETED', b);
    expect(queued).toContain('VirtualIP:team/a');
    expect(cache.claimGroup('team/a').map((v) => v.metadata.name)).toEqual(['a']);
  });

  it('on a VIP delete, queues the Backends it selected and every pool', () => {
    const { cache, queued } = setup();
    cache.pools.applyEvent('ADDED', { apiVersion: API, kind: 'VirtualIPPool', metadata: { name: 'p', generation: 1, resourceVersion: String(rv++) }, spec: { addresses: ['10.200.0.0/24'] } });
    const v = vip('web', '10.200.0.1', { app: 'web' });
    cache.vips.applyEvent('ADDED', v);
    cache.backends.applyEvent('ADDED', backend('b1', { app: 'web' }));
    cache.backends.applyEvent('ADDED', backend('b2', { app: 'db' }));
    queued.length = 0;
    cache.vips.applyEvent('DELETED', v);
    expect(queued).toContain('Backend:team/b1');
    expect(queued).not.toContain('Backend:team/b2');
    expect(queued).toContain('VirtualIPPool:p');
  });

  it('on a node status change, queues only the VIPs whose entry changed', () => {
    const { cache, queued } = setup();
    const node = (entries: object[]): KubeObject => ({
      apiVersion: API, kind: 'LoadBalancerNode', metadata: { name: 'n1', generation: 1, resourceVersion: String(rv++), labels: { zone: 'a' } },
      status: { virtualIPs: entries },
    });
    cache.vips.applyEvent('ADDED', vip('web', '10.200.0.1', { app: 'web' }));
    cache.vips.applyEvent('ADDED', vip('db', '10.200.0.2', { app: 'db' }));
    cache.nodes.applyEvent('ADDED', node([{ id: 'team/web', revision: 'r1' }, { id: 'team/db', revision: 'r1' }]));
    queued.length = 0;
    cache.nodes.applyEvent('MODIFIED', node([{ id: 'team/web', revision: 'r2' }, { id: 'team/db', revision: 'r1' }]));
    expect(queued).toEqual(['VirtualIP:team/web']);
  });

  it('parses once per cached version and reports schema failures as ZodErrors', () => {
    const { cache } = setup();
    const bad = { ...vip('bad', 'not-an-ip', { app: 'x' }), spec: { address: 'not-an-ip', port: 99999, protocol: 'TCP', backendSelector: {} } };
    cache.vips.applyEvent('ADDED', bad);
    expect(cache.vip('team/bad')).toBeUndefined();
    expect(cache.vipList()).toEqual([]);
    const good = vip('good', '10.200.0.9', { app: 'x' });
    cache.vips.applyEvent('ADDED', good);
    expect(cache.vip('team/good')).toBe(cache.vip('team/good'));
  });
});
