// The fleet health rule and the Healthy conditions it drives, pure.
import { describe, expect, it } from 'vitest';
import type { LoadBalancerNode } from '../api/load-balancer-node.ts';
import { Backend } from '../api/backend.ts';
import { VirtualIP } from '../api/virtual-ip.ts';
import { compile } from '../compile/compile.ts';
import { backendFleetHealth, fleetUnhealthy, healthyOn, vipFleetHealth } from './health.ts';
import { backendHealthCondition, healthyCondition, type NodeView } from './status.ts';

const ID = 'team/web';
function node(name: string, unhealthy: string[] | undefined, live = true): NodeView {
  const n: LoadBalancerNode = {
    apiVersion: 'sterlet.dev/v1alpha1',
    kind: 'LoadBalancerNode',
    metadata: { name },
    status: {
      virtualIPs: [{
        id: ID,
        generation: 1,
        ...(unhealthy === undefined ? {} : { healthChecked: true, unhealthyBackends: unhealthy.map((address) => ({ address, message: 'connect ECONNREFUSED' })) }),
      }],
    },
  };
  return { node: n, live };
}

describe('fleet health rule', () => {
  it('is unhealthy only when a strict majority of the live probing nodes see it failing', () => {
    const one = vipFleetHealth(ID, [node('a', ['10.0.1.12']), node('b', [])]);
    expect(backendFleetHealth(one, '10.0.1.12')).toEqual({ checked: 2, failing: 1, message: 'a: connect ECONNREFUSED' });
    expect(fleetUnhealthy(backendFleetHealth(one, '10.0.1.12'))).toBe(false);
    expect(healthyOn(backendFleetHealth(one, '10.0.1.12'))).toBe('healthy on 1/2 nodes');
    const both = vipFleetHealth(ID, [node('a', ['10.0.1.12']), node('b', ['10.0.1.12'])]);
    expect(fleetUnhealthy(backendFleetHealth(both, '10.0.1.12'))).toBe(true);
    const three = vipFleetHealth(ID, [node('a', ['10.0.1.12']), node('b', ['10.0.1.12']), node('c', [])]);
    expect(fleetUnhealthy(backendFleetHealth(three, '10.0.1.12'))).toBe(true);
  });

  it('ignores dead nodes and nodes that do not probe the VIP', () => {
    const h = vipFleetHealth(ID, [node('a', ['10.0.1.12'], false), node('b', undefined), node('c', [])]);
    expect(backendFleetHealth(h, '10.0.1.12')).toEqual({ checked: 1, failing: 0 });
    expect(vipFleetHealth(ID, [node('b', undefined)]).checked).toBe(0);
  });
});

describe('Healthy conditions', () => {
  const vip = VirtualIP.parse({
    apiVersion: 'sterlet.dev/v1alpha1', kind: 'VirtualIP', metadata: { name: 'web', namespace: 'team' },
    spec: { address: '10.200.0.10', port: 80, protocol: 'TCP', backendSelector: { matchLabels: { app: 'web' } } },
  });
  const be = (name: string, address: string) => Backend.parse({
    apiVersion: 'sterlet.dev/v1alpha1', kind: 'Backend', metadata: { name, namespace: 'team', labels: { app: 'web' } }, spec: { address },
  });
  const objects = [vip, be('web-1', '10.0.1.11'), be('web-2', '10.0.1.12')];
  const desired = (down: string[]) => compile(objects, { unhealthy: (_v, a) => down.includes(a) }).state.vips[0];

  it('publishes the decision in the compiled state (and its revision) and says so on the VIP', () => {
    const none = desired([]);
    const one = desired(['10.0.1.12']);
    expect(one?.backends.map((b) => b.unhealthy)).toEqual([undefined, true]);
    expect(one?.revision).not.toBe(none?.revision);
    expect(healthyCondition(none!)).toMatchObject({ healthy: 2, condition: { status: 'True', reason: 'AllHealthy', message: '2/2 backends healthy' } });
    expect(healthyCondition(one!)).toMatchObject({ healthy: 1, condition: { status: 'False', reason: 'BackendsUnhealthy' } });
    expect(healthyCondition(desired(['10.0.1.11', '10.0.1.12'])!)).toMatchObject({ healthy: 0, condition: { status: 'False', reason: 'FailOpen' } });
    expect(healthyCondition(desired(['10.0.1.11', '10.0.1.12'])!)?.condition.message).toMatch(/fail open/);
    expect(healthyCondition(none!, 0)).toMatchObject({ condition: { status: 'Unknown', reason: 'NotChecked' } });
  });

  it('Backend: "healthy on n/m nodes" per VIP, False once the fleet takes it out', () => {
    expect(backendHealthCondition([{ vip: 'web', checked: 2, failing: 1, message: 'a: connect ECONNREFUSED' }])).toEqual({
      type: 'Healthy', status: 'True', reason: 'AllHealthy', message: 'healthy on 1/2 nodes; last failure: a: connect ECONNREFUSED',
    });
    expect(backendHealthCondition([{ vip: 'web', checked: 2, failing: 2, message: 'a: timeout after 1000 ms' }])).toMatchObject({
      status: 'False', reason: 'Unhealthy', message: 'healthy on 0/2 nodes; out of the ring for new flows; last failure: a: timeout after 1000 ms',
    });
    expect(backendHealthCondition([{ vip: 'web', checked: 0, failing: 0 }])).toMatchObject({ status: 'Unknown', reason: 'NotChecked' });
    expect(backendHealthCondition([])).toBeUndefined();
  });
});
