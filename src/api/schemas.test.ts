import { describe, expect, it } from 'vitest';
import { Backend } from './backend.ts';
import { compile } from '../compile/compile.ts';
import { DesiredState } from './desired-state.ts';
import { LoadBalancerNode } from './load-balancer-node.ts';
import { VirtualIP } from './virtual-ip.ts';
import { VirtualIPPool } from './virtual-ip-pool.ts';

const apiVersion = 'sterlet.dev/v1alpha1';
const vip = (spec: Record<string, unknown>) => ({
  apiVersion,
  kind: 'VirtualIP',
  metadata: { name: 'web', namespace: 'default' },
  spec: { address: '10.200.0.10', port: 80, protocol: 'TCP', backendSelector: { matchLabels: { app: 'web' } }, ...spec },
});
const be = (spec: Record<string, unknown>) => ({
  apiVersion,
  kind: 'Backend',
  metadata: { name: 'web-1', namespace: 'default', labels: { app: 'web' } },
  spec: { address: '10.0.1.11', ...spec },
});

function firstIssuePath(result: { success: boolean; error?: { issues: { path: PropertyKey[] }[] } }): string {
  return (result.error?.issues[0]?.path ?? []).map(String).join('.');
}

describe('VirtualIP schema', () => {
  it('applies the documented defaults', () => {
    const parsed = VirtualIP.parse(vip({}));
    expect(parsed.spec).toMatchObject({ encapsulation: 'IPIP', hash: 'FiveTuple', connectionTracking: 'Enabled', quic: false });
    expect(parsed.spec.nodeSelector).toBeUndefined();
  });

  it.each([
    ['IPv6 address', { address: '2001:db8::10' }],
    ['port 0 (every port)', { port: 0 }],
    ['port 65535', { port: 65535 }],
    ['UDP with QUIC', { protocol: 'UDP', quic: true }],
    ['GUE, SourceAddress, no LRU', { encapsulation: 'GUE', hash: 'SourceAddress', connectionTracking: 'Disabled' }],
    ['matchExpressions', { backendSelector: { matchExpressions: [{ key: 'app', operator: 'In', values: ['web'] }, { key: 'canary', operator: 'DoesNotExist' }] } }],
    ['empty selector', { backendSelector: {} }],
    ['nodeSelector', { nodeSelector: { matchLabels: { 'sterlet.dev/lb': 'edge' } } }],
  ])('accepts %s', (_name, spec) => {
    expect(VirtualIP.safeParse(vip(spec)).success).toBe(true);
  });

  it.each([
    ['malformed IP', { address: '10.200.0' }, 'spec.address'],
    ['hostname', { address: 'web.example' }, 'spec.address'],
    ['IPv4-mapped IPv6', { address: '::ffff:10.0.0.1' }, 'spec.address'],
    ['unspecified address', { address: '0.0.0.0' }, 'spec.address'],
    ['multicast address', { address: 'ff02::1' }, 'spec.address'],
    ['port > 65535', { port: 65536 }, 'spec.port'],
    ['negative port', { port: -1 }, 'spec.port'],
    ['fractional port', { port: 80.5 }, 'spec.port'],
    ['protocol SCTP', { protocol: 'SCTP' }, 'spec.protocol'],
    ['lower-case protocol', { protocol: 'tcp' }, 'spec.protocol'],
    ['unknown encapsulation', { encapsulation: 'VXLAN' }, 'spec.encapsulation'],
    ['unknown hash', { hash: 'Random' }, 'spec.hash'],
    ['unknown connectionTracking', { connectionTracking: 'On' }, 'spec.connectionTracking'],
    ['quic not boolean', { quic: 'yes' }, 'spec.quic'],
    ['unknown field', { weight: 3 }, 'spec'],
    ['In without values', { backendSelector: { matchExpressions: [{ key: 'app', operator: 'In' }] } }, 'spec.backendSelector.matchExpressions.0.values'],
    ['Exists with values', { backendSelector: { matchExpressions: [{ key: 'app', operator: 'Exists', values: ['x'] }] } }, 'spec.backendSelector.matchExpressions.0.values'],
    ['bad operator', { backendSelector: { matchExpressions: [{ key: 'app', operator: 'Like' }] } }, 'spec.backendSelector.matchExpressions.0.operator'],
  ])('rejects %s at %s', (_name, spec, path) => {
    const result = VirtualIP.safeParse(vip(spec));
    expect(result.success).toBe(false);
    expect(firstIssuePath(result)).toBe(path);
  });

  it('takes a Service as backendRef instead of a backendSelector, target Endpoints by default', () => {
    const parsed = VirtualIP.parse(vip({ backendSelector: undefined, backendRef: { kind: 'Service', name: 'web' } }));
    expect(parsed.spec.backendRef).toEqual({ kind: 'Service', name: 'web', target: 'Endpoints' });
  });

  it.each([
    ['both backendSelector and backendRef', { backendRef: { kind: 'Service', name: 'web' } }, 'spec.backendRef'],
    ['neither backendSelector nor backendRef', { backendSelector: undefined }, 'spec.backendRef'],
    ['a backendRef to another kind', { backendSelector: undefined, backendRef: { kind: 'Deployment', name: 'web' } }, 'spec.backendRef.kind'],
    ['an unknown backendRef target', { backendSelector: undefined, backendRef: { kind: 'Service', name: 'web', target: 'Pods' } }, 'spec.backendRef.target'],
  ])('rejects %s at %s', (_name, spec, path) => {
    const result = VirtualIP.safeParse(vip(spec));
    expect(result.success).toBe(false);
    expect(firstIssuePath(result)).toBe(path);
  });

  it.each(['address', 'port', 'protocol'])('requires spec.%s', (field) => {
    const manifest = vip({});
    delete (manifest.spec as Record<string, unknown>)[field];
    const result = VirtualIP.safeParse(manifest);
    expect(result.success).toBe(false);
    expect(firstIssuePath(result)).toBe(`spec.${field}`);
  });

  it('rejects another API version or kind', () => {
    expect(VirtualIP.safeParse({ ...vip({}), apiVersion: 'sterlet.dev/v1' }).success).toBe(false);
    expect(VirtualIP.safeParse({ ...vip({}), kind: 'Backend' }).success).toBe(false);
  });

  it('keeps unknown metadata from the API server and normalizes Date timestamps', () => {
    const parsed = VirtualIP.parse({
      ...vip({}),
      metadata: { name: 'web', managedFields: [{ manager: 'kubectl' }], creationTimestamp: new Date('2026-01-02T03:04:05Z') },
    });
    expect(parsed.metadata.creationTimestamp).toBe('2026-01-02T03:04:05.000Z');
    expect(parsed.metadata).toHaveProperty('managedFields');
  });
});

describe('Backend schema', () => {
  it('defaults weight to 1 and accepts the documented ranges', () => {
    expect(Backend.parse(be({})).spec.weight).toBe(1);
    for (const spec of [{ weight: 0 }, { weight: 1000 }, { quicServerId: 1 }, { quicServerId: 65535 }, { address: '2001:db8::11' }]) {
      expect(Backend.safeParse(be(spec)).success, JSON.stringify(spec)).toBe(true);
    }
  });

  it.each([
    ['weight above 1000', { weight: 1001 }, 'spec.weight'],
    ['negative weight', { weight: -1 }, 'spec.weight'],
    ['weight as string', { weight: '2' }, 'spec.weight'],
    ['quicServerId 0', { quicServerId: 0 }, 'spec.quicServerId'],
    ['quicServerId above 65535', { quicServerId: 65536 }, 'spec.quicServerId'],
    ['quicServerId as string', { quicServerId: 'seven' }, 'spec.quicServerId'],
    ['malformed address', { address: '10.0.1.300' }, 'spec.address'],
    ['IPv6 with zone', { address: 'fe80::1%eth0' }, 'spec.address'],
    ['loopback address', { address: '127.0.0.1' }, 'spec.address'],
    ['unknown field', { port: 8080 }, 'spec'],
  ])('rejects %s', (_name, spec, path) => {
    const result = Backend.safeParse(be(spec));
    expect(result.success).toBe(false);
    expect(firstIssuePath(result)).toBe(path);
  });

  it('requires spec.address', () => {
    expect(Backend.safeParse({ ...be({}), spec: { weight: 1 } }).success).toBe(false);
  });
});

describe('VirtualIPPool schema', () => {
  const pool = (spec: Record<string, unknown>) => ({
    apiVersion,
    kind: 'VirtualIPPool',
    metadata: { name: 'team-a' },
    spec: { addresses: ['10.200.0.0/24', '2001:db8:200::/64'], backendAddresses: ['10.0.0.0/8'], ...spec },
  });
  it('accepts CIDRs, selectors, ports and protocols', () => {
    const spec = { namespaceSelector: { matchLabels: { team: 'a' } }, ports: [0, 80, 443], protocols: ['TCP'] };
    expect(VirtualIPPool.safeParse(pool(spec)).success).toBe(true);
  });
  it('accepts Service allocation inside its ranges, autoAssign true by default', () => {
    const parsed = VirtualIPPool.parse(pool({ allocation: { addresses: ['10.200.0.128/25', '2001:db8:200::/120'] } }));
    expect(parsed.spec.allocation).toEqual({ addresses: ['10.200.0.128/25', '2001:db8:200::/120'], autoAssign: true });
    expect(VirtualIPPool.parse(pool({ allocation: { autoAssign: false } })).spec.allocation?.autoAssign).toBe(false);
  });
  it.each([
    ['address without prefix', { addresses: ['10.200.0.1'] }],
    ['empty address list', { addresses: [] }],
    ['prefix too long', { backendAddresses: ['10.0.0.0/33'] }],
    ['bad protocol', { protocols: ['ICMP'] }],
    ['bad port', { ports: [70000] }],
    ['an allocation range outside spec.addresses', { allocation: { addresses: ['10.201.0.0/28'] } }],
    ['an allocation range wider than its pool range', { allocation: { addresses: ['10.200.0.0/23'] } }],
  ])('rejects %s', (_name, spec) => {
    expect(VirtualIPPool.safeParse(pool(spec)).success).toBe(false);
  });
});

describe('LoadBalancerNode schema', () => {
  it('accepts the status an agent writes', () => {
    const node = {
      apiVersion,
      kind: 'LoadBalancerNode',
      metadata: { name: 'lb-1' },
      status: {
        interface: 'eth0',
        xdpMode: 'Native',
        programId: 42,
        numaNodes: [0],
        forwardingCpus: [0, 1],
        virtualIPs: [{ id: 'default/web', generation: 3, revision: '0123456789abcdef', ringFingerprint: 'ab12', backends: 3 }],
        conditions: [{ type: 'Ready', status: 'True', reason: 'Applied', message: 'state applied', lastTransitionTime: '2026-11-26T08:00:00Z' }],
      },
    };
    expect(LoadBalancerNode.safeParse(node).success).toBe(true);
    expect(LoadBalancerNode.safeParse({ ...node, status: { ...node.status, xdpMode: 'Offload' } }).success).toBe(false);
  });
});

describe('DesiredState schema', () => {
  it('accepts version 1 only', () => {
    expect(DesiredState.safeParse({ version: 1, vips: [] }).success).toBe(true);
    expect(DesiredState.safeParse({ version: 2, vips: [] }).success).toBe(false);
  });
});

describe('VirtualIP status.compiled', () => {
  it('holds a compiled entry (what the controller publishes) and rejects one with an id', () => {
    const objects = [VirtualIP.parse(vip({ nodeSelector: { matchLabels: { tier: 'edge' } } })), Backend.parse(be({ weight: 3 }))];
    const entry = compile(objects).state.vips[0];
    expect(entry).toBeDefined();
    const { id, ...compiled } = entry ?? expect.fail('no entry');
    const withStatus = { ...vip({}), status: { observedGeneration: 1, compiled } };
    expect(VirtualIP.parse(withStatus).status?.compiled).toEqual(compiled);
    expect(VirtualIP.safeParse({ ...withStatus, status: { compiled: { ...compiled, id } } }).success).toBe(false);
  });
});
