import { describe, expect, it } from 'vitest';
import type { BackendFlows, LoadBalancerNode } from '../api/load-balancer-node.ts';
import { drainedCondition } from './drain.ts';
import type { NodeView } from './status.ts';

const T = '2026-12-03T15:00:00Z';
function node(name: string, flows: Record<string, [number, number]> | undefined, live = true): NodeView {
  const backendFlows: BackendFlows | undefined =
    flows === undefined ? undefined : { recentSeconds: 60, changedTime: T, backends: Object.entries(flows).map(([address, [all, recent]]) => ({ address, flows: all, recent })) };
  const n: LoadBalancerNode = {
    apiVersion: 'sterlet.dev/v1alpha1', kind: 'LoadBalancerNode', metadata: { name },
    status: backendFlows === undefined ? {} : { backendFlows },
  };
  return { node: n, live };
}

const drained = { address: '10.0.1.6', weight: 0 };

describe('drainedCondition', () => {
  it('sets no condition on a backend that still takes new flows', () => {
    expect(drainedCondition({ address: '10.0.1.6', weight: 1 }, [node('a', { '10.0.1.6': [5, 5] })])).toBeUndefined();
  });

  it('is False while any live node holds a recent flow, naming the nodes', () => {
    const c = drainedCondition(drained, [node('b', { '10.0.1.6': [9, 2] }), node('a', { '10.0.1.6': [3, 1], '10.0.1.7': [4, 4] }), node('c', {})]);
    expect(c).toEqual({ type: 'Drained', status: 'False', reason: 'FlowsRemaining', message: '3 flows seen in the last 60 s on a (1), b (2)' });
  });

  it('is True once only idle entries remain, and ignores nodes without a heartbeat', () => {
    const c = drainedCondition(drained, [node('a', { '10.0.1.6': [7, 0] }), node('b', {}), node('dead', { '10.0.1.6': [4, 4] }, false)]);
    expect(c).toMatchObject({ status: 'True', reason: 'NoRecentFlows' });
    expect(c?.message).toBe('weight 0 and no live load-balancer node holds a flow seen in the last 60 s (7 idle entries remain until evicted)');
    expect(drainedCondition(drained, [node('a', {})])?.message).toBe('weight 0 and no live load-balancer node holds a flow seen in the last 60 s');
  });

  it('is Unknown while a live node reports no flow counts, unless another already holds flows', () => {
    expect(drainedCondition(drained, [node('a', {}), node('old', undefined)])).toMatchObject({ status: 'Unknown', reason: 'FlowsUnknown', message: expect.stringContaining('old') });
    expect(drainedCondition(drained, [node('a', { '10.0.1.6': [1, 1] }), node('old', undefined)])).toMatchObject({ status: 'False' });
  });
});
