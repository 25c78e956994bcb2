import { describe, expect, it } from 'vitest';
import type { BGPPeer } from '../api/bgp-peer.ts';
import type { LoadBalancerNode } from '../api/load-balancer-node.ts';
import { bgpPeerSummary, summaryWritten } from './bgp-peer-status.ts';
import type { NodeView } from './status.ts';

const NOW = '2026-01-01T00:00:00Z';

function peer(nodes: { node: string; sessionState: 'Established' | 'Active' | 'Idle'; announced: number }[], selector?: Record<string, string>): BGPPeer {
  return {
    apiVersion: 'sterlet.dev/v1alpha1', kind: 'BGPPeer', metadata: { name: 'tor', generation: 3 },
    spec: { peerAddress: '10.0.0.1', peerASN: 65000, localASN: 65001, port: 179, holdTimeSeconds: 90, addressFamilies: ['IPv4'], ...(selector === undefined ? {} : { nodeSelector: { matchLabels: selector } }) },
    status: { nodes },
  };
}

function view(name: string, live = true, labels: Record<string, string> = { rack: 'a' }): NodeView {
  return { live, node: { apiVersion: 'sterlet.dev/v1alpha1', kind: 'LoadBalancerNode', metadata: { name, labels } } as LoadBalancerNode };
}

describe('bgpPeerSummary', () => {
  it('counts Established over the selected nodes and sums what they announce', () => {
    const s = bgpPeerSummary(peer([{ node: 'n1', sessionState: 'Established', announced: 2 }, { node: 'n2', sessionState: 'Active', announced: 0 }]), [view('n1'), view('n2'), view('n3')], NOW);
    expect(s).toMatchObject({ established: '1/3', announced: 2, sessions: '1 Established, 1 Active, 1 not reporting', observedGeneration: 3 });
    expect(s.conditions[0]).toMatchObject({ type: 'Ready', status: 'False', reason: 'NotEstablished', message: 'sessions established on 1/3 nodes; not established: n2: Active, n3: not reporting' });
  });

  it('leaves out nodes the selector does not match and entries of nodes that are gone', () => {
    const s = bgpPeerSummary(peer([{ node: 'n1', sessionState: 'Established', announced: 1 }, { node: 'gone', sessionState: 'Established', announced: 9 }], { rack: 'a' }), [view('n1'), view('n2', true, { rack: 'b' })], NOW);
    expect(s).toMatchObject({ established: '1/1', announced: 1, sessions: '1 Established' });
    expect(s.conditions[0]).toMatchObject({ status: 'True', reason: 'AllEstablished' });
  });

  it('does not trust the entry of a node whose agent stopped reporting', () => {
    const s = bgpPeerSummary(peer([{ node: 'n1', sessionState: 'Established', announced: 1 }, { node: 'n2', sessionState: 'Established', announced: 1 }]), [view('n1'), view('n2', false)], NOW);
    expect(s).toMatchObject({ established: '1/2', announced: 1, sessions: '1 Established, 1 no heartbeat' });
  });

  it('says when no node is selected', () => {
    const s = bgpPeerSummary(peer([]), [], NOW);
    expect(s).toMatchObject({ established: '0/0', announced: 0, sessions: 'no node selected' });
    expect(s.conditions[0]).toMatchObject({ status: 'False', reason: 'NoNodes' });
  });

  it('keeps lastTransitionTime while Ready does not change, and needs no write when nothing moved', () => {
    const p = peer([{ node: 'n1', sessionState: 'Established', announced: 1 }]);
    const first = bgpPeerSummary(p, [view('n1')], NOW);
    const again = bgpPeerSummary({ ...p, status: { ...p.status, ...first } }, [view('n1')], '2026-01-01T00:05:00Z');
    expect(again.conditions[0]?.lastTransitionTime).toBe(NOW);
    expect(summaryWritten({ ...p.status, ...first }, again)).toBe(true);
    expect(summaryWritten(p.status, again)).toBe(false);
  });
});
