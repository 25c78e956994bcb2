import { describe, expect, it } from 'vitest';
import { endpointBackends, endpointState, nodeAddress, nodeBackends } from './backends.ts';
import { type EndpointSlice, Node, Service } from './kube-types.ts';

type Cond = { ready?: boolean | null; serving?: boolean | null; terminating?: boolean | null };
const ep = (address: string, nodeName: string, conditions: Cond = { ready: true }, pod = `pod-${address}`) => ({ addresses: [address], nodeName, conditions, targetRef: { name: pod } });
const slice = (addressType: string, endpoints: ReturnType<typeof ep>[]): EndpointSlice => ({ metadata: { name: `s-${addressType}`, namespace: 'team' }, addressType, endpoints });
const node = (name: string, address: string, extra: { ready?: string; unschedulable?: boolean; labels?: Record<string, string>; v6?: string } = {}): Node => Node.parse({
  metadata: { name, labels: extra.labels ?? {} },
  spec: extra.unschedulable === undefined ? {} : { unschedulable: extra.unschedulable },
  status: {
    conditions: [{ type: 'Ready', status: extra.ready ?? 'True' }],
    addresses: [{ type: 'Hostname', address: name }, { type: 'InternalIP', address }, ...(extra.v6 === undefined ? [] : [{ type: 'InternalIP', address: extra.v6 }])],
  },
});
const svc = (policy: 'Local' | 'Cluster'): Service => Service.parse({ metadata: { name: 'web', namespace: 'team' }, spec: { type: 'LoadBalancer', externalTrafficPolicy: policy } });
const all = { nodeSelector: undefined };

describe('endpoint conditions', () => {
  it.each([
    [{ ready: true }, 'ready'],
    [{}, 'ready'], // nil = unknown = ready
    [{ ready: false }, 'out'],
    [{ ready: false, serving: true, terminating: true }, 'draining'],
    [{ ready: false, serving: false, terminating: true }, 'out'],
    [{ ready: true, terminating: true }, 'draining'], // publishNotReadyAddresses keeps ready while terminating
  ] as const)('%j -> %s', (conditions, want) => {
    expect(endpointState({ addresses: ['10.1.0.1'], conditions })).toBe(want);
  });
});

describe('target Endpoints', () => {
  it('ready endpoints are in with weight 1, serving+terminating stay with weight 0, the rest are out', () => {
    const r = endpointBackends('team/web', [slice('IPv4', [
      ep('10.1.0.1', 'n1'), ep('10.1.0.2', 'n1', { ready: false, serving: true, terminating: true }), ep('10.1.0.3', 'n2', { ready: false }),
    ])], 'IPv4');
    expect(r).toEqual({ backends: [
      { name: 'pod-10.1.0.1', address: '10.1.0.1', weight: 1 },
      { name: 'pod-10.1.0.2', address: '10.1.0.2', weight: 0 },
    ] });
  });

  it('uses the slices of the VIP family (dual stack counts each pod once), IPv6 for an IPv4 VIP only without IPv4 slices', () => {
    const v4 = slice('IPv4', [ep('10.1.0.1', 'n1')]);
    const v6 = slice('IPv6', [ep('fd00::1', 'n1')]);
    expect(endpointBackends('team/web', [v4, v6], 'IPv4')).toEqual({ backends: [{ name: 'pod-10.1.0.1', address: '10.1.0.1', weight: 1 }] });
    expect(endpointBackends('team/web', [v6], 'IPv4')).toMatchObject({ backends: [{ address: 'fd00::1' }] });
    expect(endpointBackends('team/web', [v4], 'IPv6')).toMatchObject({ backends: [], emptyBecause: expect.stringContaining('no ready or serving IPv6 endpoints') });
  });

  it('an endpoint listed in two slices during a rollout counts once, with its best state', () => {
    const r = endpointBackends('team/web', [
      slice('IPv4', [ep('10.1.0.1', 'n1', { ready: false, serving: true, terminating: true })]),
      slice('IPv4', [ep('10.1.0.1', 'n1')]),
    ], 'IPv4');
    expect(r).toEqual({ backends: [{ name: 'pod-10.1.0.1', address: '10.1.0.1', weight: 1 }] });
  });
});

describe('target Nodes', () => {
  const nodes = [node('n1', '10.0.0.1'), node('n2', '10.0.0.2'), node('n3', '10.0.0.3')];
  const pods = slice('IPv4', [ep('10.1.0.1', 'n1'), ep('10.1.0.2', 'n1'), ep('10.1.0.3', 'n1'), ep('10.1.0.4', 'n2')]);

  it('Local: the nodes with ready endpoints, weighted by their count', () => {
    expect(nodeBackends(svc('Local'), [pods], nodes, 'IPv4', all)).toEqual({ backends: [
      { name: 'n1', address: '10.0.0.1', weight: 3 },
      { name: 'n2', address: '10.0.0.2', weight: 1 },
    ] });
  });

  it('Local: a node whose only endpoints are terminating drains (weight 0)', () => {
    const s = slice('IPv4', [ep('10.1.0.1', 'n1'), ep('10.1.0.4', 'n2', { ready: false, serving: true, terminating: true })]);
    expect(nodeBackends(svc('Local'), [s], nodes, 'IPv4', all)).toMatchObject({ backends: [{ name: 'n1', weight: 1 }, { name: 'n2', weight: 0 }] });
  });

  it('Cluster: every eligible node with weight 1 while any endpoint is ready; 0 when all are terminating', () => {
    expect(nodeBackends(svc('Cluster'), [pods], nodes, 'IPv4', all)).toMatchObject({ backends: [{ name: 'n1', weight: 1 }, { name: 'n2', weight: 1 }, { name: 'n3', weight: 1 }] });
    const draining = slice('IPv4', [ep('10.1.0.1', 'n1', { ready: false, serving: true, terminating: true })]);
    expect(nodeBackends(svc('Cluster'), [draining], nodes, 'IPv4', all)).toMatchObject({ backends: [{ weight: 0 }, { weight: 0 }, { weight: 0 }] });
    expect(nodeBackends(svc('Cluster'), [], nodes, 'IPv4', all)).toMatchObject({ backends: [], emptyBecause: expect.stringContaining('no ready or serving endpoints') });
  });

  it('NotReady, cordoned and unselected nodes are out, and the empty result says which and why', () => {
    const unfit = [node('n1', '10.0.0.1', { ready: 'False' }), node('n2', '10.0.0.2', { unschedulable: true }), node('n3', '10.0.0.3', { labels: { backend: 'no' } })];
    const settings = { nodeSelector: { matchLabels: { backend: 'yes' } } };
    expect(nodeBackends(svc('Cluster'), [pods], [...unfit, node('n4', '10.0.0.4', { labels: { backend: 'yes' } })], 'IPv4', settings)).toEqual({ backends: [{ name: 'n4', address: '10.0.0.4', weight: 1 }] });
    const r = nodeBackends(svc('Local'), [pods], unfit, 'IPv4', all);
    expect(r).toMatchObject({ backends: [], emptyBecause: expect.stringMatching(/n1 \(NotReady\), n2 \(cordoned\)/) });
  });

  it('node addresses: InternalIP of the VIP family, IPv6 for an IPv4 VIP when the node has no IPv4', () => {
    expect(nodeAddress(node('a', '10.0.0.1', { v6: 'fd00::1' }), 'IPv6')).toBe('fd00::1');
    expect(nodeAddress(node('a', 'fd00::2'), 'IPv4')).toBe('fd00::2');
    expect(nodeAddress(node('a', '10.0.0.1'), 'IPv6')).toBeUndefined();
  });

  it('weights are capped at the Backend maximum', () => {
    const many = slice('IPv4', Array.from({ length: 1200 }, (_, i) => ep(`10.2.${i >> 8}.${i & 255}`, 'n1')));
    expect(nodeBackends(svc('Local'), [many], nodes, 'IPv4', all)).toMatchObject({ backends: [{ name: 'n1', weight: 1000 }] });
  });
});
