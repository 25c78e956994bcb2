import { describe, expect, it } from 'vitest';
import { compile } from '../compile/compile.ts';
import type { LoadBalancerNode } from '../api/load-balancer-node.ts';
import type { VirtualIPPool } from '../api/virtual-ip-pool.ts';
import { VirtualIP } from '../api/virtual-ip.ts';
import { Backend } from '../api/backend.ts';
import { mergeConditions, transitions } from './conditions.ts';
import { type NodeView, vipStatus, type VipOutcome } from './status.ts';

const NOW = '2026-11-26T08:00:00Z';
const vip = VirtualIP.parse({
  apiVersion: 'sterlet.dev/v1alpha1', kind: 'VirtualIP',
  metadata: { name: 'web', namespace: 'team', generation: 3, creationTimestamp: '2026-01-01T00:00:00Z' },
  spec: { address: '10.200.0.10', port: 80, protocol: 'TCP', backendSelector: { matchLabels: { app: 'web' } } },
});
const backend = (name: string, address: string, weight = 1) => Backend.parse({
  apiVersion: 'sterlet.dev/v1alpha1', kind: 'Backend',
  metadata: { name, namespace: 'team', labels: { app: 'web' } }, spec: { address, weight },
});
const pool: VirtualIPPool = {
  apiVersion: 'sterlet.dev/v1alpha1', kind: 'VirtualIPPool', metadata: { name: 'p' },
  spec: { addresses: ['10.200.0.0/24'], backendAddresses: ['10.0.0.0/8'] },
};

function outcome(objects: unknown[], pools: VirtualIPPool[] = [pool]): VipOutcome {
  const r = compile(objects as never, { admission: { mode: 'Pools', pools, namespaceLabels: new Map() } });
  return { desired: r.state.vips.find((v) => v.id === 'team/web'), problems: r.problems.filter((p) => p.virtualIP === 'team/web'), pool: r.admittedBy.get('team/web') };
}

function node(name: string, entries: { revision: string; ringFingerprint: string; error?: { code: string; message: string } }[], labels: Record<string, string> = {}): NodeView {
  const n: LoadBalancerNode = {
    apiVersion: 'sterlet.dev/v1alpha1', kind: 'LoadBalancerNode', metadata: { name, labels },
    status: { virtualIPs: entries.map((e) => ({ id: 'team/web', generation: 3, ...e })) },
  };
  return { node: n, live: true };
}

const cond = (r: ReturnType<typeof vipStatus>, type: string) => r.status.conditions.find((c) => c.type === type);

describe('vipStatus', () => {
  const ok = outcome([vip, backend('a', '10.0.0.1'), backend('b', '10.0.0.2', 0)]);
  const rev = ok.desired?.revision ?? '';

  it('is Ready when accepted and programmed on every selected node with one ring', () => {
    const r = vipStatus('team/web', vip, ok, [node('n1', [{ revision: rev, ringFingerprint: 'f' }]), node('n2', [{ revision: rev, ringFingerprint: 'f' }])], { deleting: false, now: NOW });
    expect(cond(r, 'Accepted')).toMatchObject({ status: 'True', reason: 'Valid', observedGeneration: 3 });
    expect(cond(r, 'ResolvedRefs')).toMatchObject({ status: 'True', message: '2 backends selected, 1 with weight > 0' });
    expect(cond(r, 'Programmed')).toMatchObject({ status: 'True', message: 'programmed on 2/2 nodes' });
    expect(cond(r, 'Ready')).toMatchObject({ status: 'True' });
    expect(cond(r, 'Reconciling')).toBeUndefined();
    expect(r.status.nodes).toBe('2/2');
    expect(r.status.compiled?.revision).toBe(rev);
    expect(r.status.compiled?.backends.map((b) => b.address)).toEqual(['10.0.0.1', '10.0.0.2']);
    expect(r.status.observedGeneration).toBe(3);
  });

  it('is Reconciling while a node runs an old revision, Stalled on ring mismatch', () => {
    const pending = vipStatus('team/web', vip, ok, [node('n1', [{ revision: rev, ringFingerprint: 'f' }]), node('n2', [{ revision: '0000000000000000', ringFingerprint: 'f' }])], { deleting: false, now: NOW });
    expect(cond(pending, 'Programmed')).toMatchObject({ status: 'False', reason: 'Pending' });
    expect(cond(pending, 'Programmed')?.message).toContain('programmed on 1/2 nodes');
    expect(cond(pending, 'Reconciling')).toMatchObject({ status: 'True' });
    const mismatch = vipStatus('team/web', vip, ok, [node('n1', [{ revision: rev, ringFingerprint: 'f' }]), node('n2', [{ revision: rev, ringFingerprint: 'g' }])], { deleting: false, now: NOW });
    expect(cond(mismatch, 'Programmed')).toMatchObject({ status: 'False', reason: 'RingMismatch' });
    expect(cond(mismatch, 'Stalled')).toMatchObject({ status: 'True' });
  });

  it('says since when the rings differ, keeps that time while they do, and forgets it once they agree', () => {
    const pendingAt = '2026-11-26T07:59:00Z';
    const differ = [node('n1', [{ revision: rev, ringFingerprint: 'f' }]), node('n2', [{ revision: rev, ringFingerprint: 'g' }])];
    const withStatus = (r: ReturnType<typeof vipStatus>): VirtualIP => ({ ...vip, status: { conditions: r.status.conditions } } as VirtualIP);
    // Pending (False) first: the mismatch starts when the rings are first seen to differ, not when Programmed went False.
    const pending = vipStatus('team/web', vip, ok, [differ[0]!, node('n2', [{ revision: '0000000000000000', ringFingerprint: 'f' }])], { deleting: false, now: pendingAt });
    const first = vipStatus('team/web', withStatus(pending), ok, differ, { deleting: false, now: NOW });
    expect(cond(first, 'Programmed')).toMatchObject({ reason: 'RingMismatch', lastTransitionTime: NOW });
    expect(first.summary.ringMismatch).toMatchObject({ since: NOW, seconds: 0, refreshAfterMs: 10_000 });
    const later = vipStatus('team/web', withStatus(first), ok, differ, { deleting: false, now: '2026-11-26T08:00:42Z' });
    expect(cond(later, 'Programmed')).toMatchObject({ reason: 'RingMismatch', lastTransitionTime: NOW });
    expect(cond(later, 'Programmed')?.message).toContain('programmed on 2/2 nodes but their Maglev rings differ on 1/2 nodes for 42s (n2 has fingerprint g; n1 has f)');
    expect(later.summary.ringMismatch?.seconds).toBe(42);
    const agree = vipStatus('team/web', withStatus(later), ok, [differ[0]!, node('n2', [{ revision: rev, ringFingerprint: 'f' }])], { deleting: false, now: '2026-11-26T08:01:00Z' });
    expect(cond(agree, 'Programmed')).toMatchObject({ status: 'True', lastTransitionTime: '2026-11-26T08:01:00Z' });
    expect(agree.summary.ringMismatch).toBeUndefined();
  });

  it('only counts nodes the nodeSelector selects and that are live', () => {
    const picky = VirtualIP.parse({ ...vip, spec: { ...vip.spec, nodeSelector: { matchLabels: { edge: 'yes' } } } });
    const o = outcome([picky, backend('a', '10.0.0.1')]);
    const stale = { ...node('n3', [], { edge: 'yes' }), live: false };
    const r = vipStatus('team/web', picky, o, [node('n1', [{ revision: o.desired?.revision ?? '', ringFingerprint: 'f' }], { edge: 'yes' }), node('n2', []), stale], { deleting: false, now: NOW });
    expect(cond(r, 'Programmed')?.message).toBe('programmed on 1/1 nodes; not counted (no heartbeat): n3');
  });

  it('refuses a VIP outside every pool and publishes nothing', () => {
    const r = vipStatus('team/web', vip, outcome([vip, backend('a', '10.0.0.1')], []), [], { deleting: false, now: NOW });
    expect(cond(r, 'Accepted')).toMatchObject({ status: 'False', reason: 'AddressNotAllowed' });
    expect(cond(r, 'Stalled')).toMatchObject({ status: 'True', reason: 'AddressNotAllowed' });
    expect(cond(r, 'Programmed')).toMatchObject({ status: 'False', reason: 'Withdrawn' });
    expect(r.status.compiled).toBeUndefined();
  });

  it('reports a backend outside the pool as excluded while serving the rest', () => {
    const r = vipStatus('team/web', vip, outcome([vip, backend('a', '10.0.0.1'), backend('x', '192.168.1.1')]), [], { deleting: false, now: NOW });
    expect(cond(r, 'Accepted')).toMatchObject({ status: 'True' });
    expect(cond(r, 'ResolvedRefs')).toMatchObject({ status: 'False', reason: 'BackendNotAllowed' });
    expect(cond(r, 'ResolvedRefs')?.message).toContain('1 backends selected');
    expect(r.status.compiled?.backends).toHaveLength(1);
  });

  it('withdraws the compiled state while deleting', () => {
    const r = vipStatus('team/web', vip, ok, [node('n1', [{ revision: rev, ringFingerprint: 'f' }])], { deleting: true, now: NOW });
    expect(r.status.compiled).toBeUndefined();
    expect(r.summary.stillReporting).toEqual(['n1']);
    expect(cond(r, 'Ready')).toMatchObject({ status: 'False', reason: 'Deleting' });
  });
});

describe('conditions', () => {
  it('keeps lastTransitionTime when the status is unchanged', () => {
    const first = mergeConditions(undefined, [{ type: 'Accepted', status: 'True', reason: 'Valid', message: 'a' }], 1, 'T1');
    const second = mergeConditions(first, [{ type: 'Accepted', status: 'True', reason: 'Valid', message: 'b' }], 2, 'T2');
    expect(second[0]).toMatchObject({ lastTransitionTime: 'T1', observedGeneration: 2, message: 'b' });
    const third = mergeConditions(second, [{ type: 'Accepted', status: 'False', reason: 'Conflict', message: 'c' }], 2, 'T3');
    expect(third[0]?.lastTransitionTime).toBe('T3');
    expect(transitions(second, [{ type: 'Accepted', status: 'True', reason: 'Valid', message: 'other text' }])).toEqual([]);
  });
});
