import { describe, expect, it } from 'vitest';
import { Backend, type BackendInput } from '../api/backend.ts';
import { compile, type CompileInput, stateForNode } from './compile.ts';
import { DesiredState } from '../api/desired-state.ts';
import { VirtualIP, type VirtualIPInput } from '../api/virtual-ip.ts';

type VipSpec = Partial<VirtualIPInput['spec']>;
type Meta = { namespace?: string; creationTimestamp?: string; generation?: number; labels?: Record<string, string> };

function vip(name: string, spec: VipSpec = {}, meta: Meta = {}): VirtualIP {
  return VirtualIP.parse({
    apiVersion: 'sterlet.dev/v1alpha1',
    kind: 'VirtualIP',
    metadata: { name, namespace: 'default', ...meta },
    spec: { address: '10.200.0.10', port: 80, protocol: 'TCP', backendSelector: { matchLabels: { app: 'web' } }, ...spec },
  });
}

function be(name: string, address: string, spec: Partial<BackendInput['spec']> = {}, meta: Meta = {}): Backend {
  return Backend.parse({
    apiVersion: 'sterlet.dev/v1alpha1',
    kind: 'Backend',
    metadata: { name, namespace: 'default', labels: { app: 'web' }, ...meta },
    spec: { address, ...spec },
  });
}

const web3 = [be('web-3', '10.0.1.13'), be('web-1', '10.0.1.11'), be('web-2', '10.0.1.12', { weight: 2 })];

function codes(objects: CompileInput[]): string[] {
  return compile(objects).problems.map((p) => p.code);
}

/** Deterministic shuffles (a small LCG) so failures reproduce. */
function shuffles<T>(items: readonly T[], count: number): T[][] {
  let seed = 12345;
  const out: T[][] = [];
  for (let n = 0; n < count; n++) {
    const copy = [...items];
    for (let i = copy.length - 1; i > 0; i--) {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      const j = seed % (i + 1);
      [copy[i], copy[j]] = [copy[j] as T, copy[i] as T];
    }
    out.push(copy);
  }
  return out;
}

describe('compile: selection and shape', () => {
  it('compiles a VIP with its selected backends sorted by address', () => {
    const { state, problems } = compile([vip('web', {}, { generation: 4 }), ...web3]);
    expect(problems).toEqual([]);
    expect(DesiredState.parse(state)).toEqual(state);
    expect(state.vips).toHaveLength(1);
    const entry = state.vips[0];
    expect(entry).toMatchObject({
      id: 'default/web',
      generation: 4,
      key: { address: '10.200.0.10', family: 'IPv4', port: 80, protocol: 'TCP' },
      flags: { hash: 'FiveTuple', connectionTracking: 'Enabled', quic: false, encapsulation: 'IPIP' },
    });
    expect(entry?.revision).toMatch(/^[0-9a-f]{16}$/);
    expect(entry?.backends).toEqual([
      { address: '10.0.1.11', family: 'IPv4', weight: 1, name: 'web-1' },
      { address: '10.0.1.12', family: 'IPv4', weight: 2, name: 'web-2' },
      { address: '10.0.1.13', family: 'IPv4', weight: 1, name: 'web-3' },
    ]);
  });

  it('selects only Backends of the same namespace whose labels match', () => {
    const objects = [
      vip('web', { backendSelector: { matchLabels: { app: 'web' }, matchExpressions: [{ key: 'canary', operator: 'DoesNotExist' }] } }),
      be('web-1', '10.0.1.11'),
      be('web-canary', '10.0.1.12', {}, { labels: { app: 'web', canary: 'true' } }),
      be('api-1', '10.0.1.13', {}, { labels: { app: 'api' } }),
      be('other-ns', '10.0.1.14', {}, { namespace: 'team-b' }),
    ];
    expect(compile(objects).state.vips[0]?.backends.map((b) => b.name)).toEqual(['web-1']);
  });

  it('defaults the namespace and generation of standalone manifests', () => {
    const objects = [vip('web'), be('web-1', '10.0.1.11')];
    for (const o of objects) delete o.metadata.namespace;
    const { state } = compile(objects);
    expect(state.vips[0]).toMatchObject({ id: 'default/web', generation: 1 });
  });

  it('canonicalizes IPv6 addresses and lets an IPv6 backend serve an IPv4 VIP (4-in-6)', () => {
    const { state, problems } = compile([
      vip('web', {}),
      be('v6', '2001:DB8:0:0::11'),
      vip('six', { address: '2001:db8:0::10', backendSelector: { matchLabels: { app: 'six' } } }),
      be('six-1', '2001:db8::0:21', {}, { labels: { app: 'six' } }),
    ]);
    expect(problems).toEqual([]);
    expect(state.vips.map((v) => [v.key.address, v.key.family, v.backends[0]?.address, v.backends[0]?.family])).toEqual([
      ['2001:db8::10', 'IPv6', '2001:db8::21', 'IPv6'],
      ['10.200.0.10', 'IPv4', '2001:db8::11', 'IPv6'],
    ]);
  });

  it('keeps drained backends (weight 0) and reports QUIC ids only on QUIC VIPs', () => {
    const backends = [be('a', '10.0.1.11', { weight: 0, quicServerId: 7 }), be('b', '10.0.1.12', { quicServerId: 8 })];
    const tcp = compile([vip('web'), ...backends]).state.vips[0];
    expect(tcp?.backends).toEqual([
      { address: '10.0.1.11', family: 'IPv4', weight: 0, name: 'a' },
      { address: '10.0.1.12', family: 'IPv4', weight: 1, name: 'b' },
    ]);
    const quic = compile([vip('web', { protocol: 'UDP', quic: true }), ...backends]).state.vips[0];
    expect(quic?.backends.map((b) => b.quicServerId)).toEqual([7, 8]);
  });

  it('does not treat port 0, another port or another protocol on the same address as a conflict', () => {
    const { state, problems } = compile([
      vip('a', { port: 80 }),
      vip('b', { port: 0 }),
      vip('c', { port: 443 }),
      vip('d', { port: 80, protocol: 'UDP' }),
      ...web3,
    ]);
    expect(problems).toEqual([]);
    expect(state.vips).toHaveLength(4);
  });
});

describe('compile: determinism', () => {
  const objects: CompileInput[] = [
    vip('web', {}, { creationTimestamp: '2026-01-01T00:00:00Z' }),
    vip('web-dup', {}, { creationTimestamp: '2026-01-02T00:00:00Z' }),
    vip('quic', { address: '10.200.0.11', protocol: 'UDP', quic: true, backendSelector: { matchLabels: { app: 'q' } } }),
    vip('six', { address: '2001:db8::10', backendSelector: {} }, { namespace: 'team-b' }),
    vip('empty', { address: '10.200.0.12', backendSelector: { matchLabels: { app: 'none' } } }),
    ...web3,
    be('q1', '10.0.2.1', { quicServerId: 1 }, { labels: { app: 'q' } }),
    be('q2', '10.0.2.2', { quicServerId: 1 }, { labels: { app: 'q' }, creationTimestamp: '2026-01-01T00:00:00Z' }),
    be('b4', '10.0.3.1', {}, { namespace: 'team-b' }),
    be('b6', '2001:db8::99', {}, { namespace: 'team-b' }),
    be('b6b', '2001:db8::98', {}, { namespace: 'team-b' }),
  ];

  it('gives an identical state and identical problems for any input order', () => {
    const reference = compile(objects);
    expect(reference.state.vips.length).toBeGreaterThan(2);
    expect(reference.problems.length).toBeGreaterThan(2);
    for (const order of shuffles(objects, 25)) {
      const result = compile(order);
      expect(JSON.stringify(result.state)).toBe(JSON.stringify(reference.state));
      expect(result.problems).toEqual(reference.problems);
    }
  });

  it('compiling one conflict group plus one VIP\'s Backends gives that VIP the same outcome as a full compile', () => {
    const full = compile(objects);
    const vips = objects.filter((o): o is VirtualIP => o.kind === 'VirtualIP');
    const backends = objects.filter((o): o is Backend => o.kind === 'Backend');
    for (const v of vips) {
      const id = `${v.metadata.namespace}/${v.metadata.name}`;
      const group = vips.filter((o) => o.spec.address === v.spec.address && o.spec.port === v.spec.port && o.spec.protocol === v.spec.protocol);
      const own = backends.filter((b) => b.metadata.namespace === v.metadata.namespace && b.metadata.labels?.['app'] === v.spec.backendSelector?.matchLabels?.['app']);
      const part = compile([...group, ...(v.spec.backendSelector?.matchLabels === undefined ? backends.filter((b) => b.metadata.namespace === v.metadata.namespace) : own)]);
      expect(part.state.vips.find((x) => x.id === id), id).toEqual(full.state.vips.find((x) => x.id === id));
      expect(part.problems.filter((p) => p.virtualIP === id), id).toEqual(full.problems.filter((p) => p.virtualIP === id));
    }
  });

  it('changes the revision exactly when something programmed changes', () => {
    const base = compile([vip('web', {}, { generation: 1 }), ...web3]).state.vips[0]?.revision;
    expect(compile([vip('web', {}, { generation: 9 }), ...web3]).state.vips[0]?.revision).toBe(base);
    const reweighted = [be('web-3', '10.0.1.13', { weight: 5 }), be('web-1', '10.0.1.11'), be('web-2', '10.0.1.12', { weight: 2 })];
    expect(compile([vip('web'), ...reweighted]).state.vips[0]?.revision).not.toBe(base);
    expect(compile([vip('web', { hash: 'SourceAddress' }), ...web3]).state.vips[0]?.revision).not.toBe(base);
  });

  it('ignores the order of nodeSelector labels in the revision', () => {
    const ab = compile([vip('web', { nodeSelector: { matchLabels: { a: '1', b: '2' } } }), ...web3]).state.vips[0];
    const ba = compile([vip('web', { nodeSelector: { matchLabels: { b: '2', a: '1' } } }), ...web3]).state.vips[0];
    expect(ab?.revision).toBe(ba?.revision);
    expect(ab?.nodeSelector).toEqual(ba?.nodeSelector);
  });
});

describe('compile: scale', () => {
  it('resolves 1,000 VIPs over 20,000 Backends in one namespace quickly (label index, not a full scan per VIP)', () => {
    const objects: CompileInput[] = [];
    for (let i = 0; i < 1000; i++) {
      objects.push(vip(`v${i}`, { address: `10.200.${i >> 8}.${(i & 255) + 1 > 255 ? 1 : (i & 255) + 1}`, port: 1000 + i, backendSelector: { matchLabels: { app: `v${i}`, tier: 'web' } } }));
      for (let j = 0; j < 20; j++) objects.push(be(`v${i}-${j}`, `10.${j + 1}.${i >> 8}.${(i & 255) + 1 > 255 ? 1 : (i & 255) + 1}`, {}, { labels: { app: `v${i}`, tier: 'web' } }));
    }
    const start = performance.now();
    const { state, problems } = compile(objects);
    const ms = performance.now() - start;
    expect(problems).toEqual([]);
    expect(state.vips).toHaveLength(1000);
    expect(state.vips.every((v) => v.backends.length === 20)).toBe(true);
    expect(ms).toBeLessThan(3000); // ~0.1 s measured; a full scan per VIP took ~10 s
  });
});

describe('compile: problems', () => {
  it('DUPLICATE_VIP: the older VIP wins by creationTimestamp, whatever the names', () => {
    const older = vip('zzz', {}, { creationTimestamp: '2026-01-01T00:00:00Z' });
    const newer = vip('aaa', {}, { creationTimestamp: '2026-03-01T00:00:00Z' });
    const { state, problems } = compile([newer, older, ...web3]);
    expect(state.vips.map((v) => v.id)).toEqual(['default/zzz']);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({
      code: 'DUPLICATE_VIP',
      reason: 'Conflict',
      effect: 'VirtualIPExcluded',
      object: { kind: 'VirtualIP', namespace: 'default', name: 'aaa' },
      field: 'spec.address',
      virtualIP: 'default/aaa',
    });
    expect(problems[0]?.message).toContain('default/zzz');
  });

  it('DUPLICATE_VIP: equal ages fall back to namespace/name, across namespaces and IPv6 spellings', () => {
    const a = vip('web', { address: '2001:db8::10', backendSelector: {} }, { namespace: 'team-b' });
    const b = vip('web', { address: '2001:DB8:0:0::10', backendSelector: {} }, { namespace: 'team-a' });
    const backends = [be('x', '2001:db8::1', {}, { namespace: 'team-a' }), be('y', '2001:db8::2', {}, { namespace: 'team-b' })];
    const { state, problems } = compile([a, b, ...backends]);
    expect(state.vips.map((v) => v.id)).toEqual(['team-a/web']);
    expect(problems.map((p) => [p.code, p.virtualIP])).toEqual([['DUPLICATE_VIP', 'team-b/web']]);
  });

  it('QUIC_REQUIRES_UDP excludes a QUIC VIP on TCP', () => {
    const { state, problems } = compile([vip('web', { quic: true }), ...web3]);
    expect(state.vips).toEqual([]);
    expect(problems[0]).toMatchObject({ code: 'QUIC_REQUIRES_UDP', field: 'spec.quic', effect: 'VirtualIPExcluded' });
    expect(problems[0]?.message).toMatch(/protocol: UDP/);
  });

  it('FAMILY_MISMATCH leaves an IPv4 backend out of an IPv6 VIP, which keeps its IPv6 backends', () => {
    const { state, problems } = compile([
      vip('six', { address: '2001:db8::10' }),
      be('v4', '10.0.1.11'),
      be('v6', '2001:db8::11'),
    ]);
    expect(state.vips[0]?.backends.map((b) => b.name)).toEqual(['v6']);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({
      code: 'FAMILY_MISMATCH',
      effect: 'BackendExcluded',
      object: { kind: 'Backend', namespace: 'default', name: 'v4' },
      field: 'spec.address',
      virtualIP: 'default/six',
    });
  });

  it('NO_BACKENDS when the selector matches nothing, or every selected backend was left out', () => {
    const none = compile([vip('web', { backendSelector: { matchLabels: { app: 'nothing' } } }), ...web3]);
    expect(none.state.vips).toEqual([]);
    expect(none.problems[0]).toMatchObject({ code: 'NO_BACKENDS', field: 'spec.backendSelector', effect: 'VirtualIPExcluded' });
    expect(none.problems[0]?.message).toMatch(/matches no Backend/);
    const allOut = compile([vip('six', { address: '2001:db8::10' }), be('v4', '10.0.1.11')]);
    expect(allOut.state.vips).toEqual([]);
    expect(allOut.problems.map((p) => p.code)).toEqual(['FAMILY_MISMATCH', 'NO_BACKENDS']);
  });

  it('a VIP without backends keeps its address claim', () => {
    const empty = vip('old', { backendSelector: { matchLabels: { app: 'none' } } }, { creationTimestamp: '2026-01-01T00:00:00Z' });
    const newer = vip('new', {}, { creationTimestamp: '2026-02-01T00:00:00Z' });
    // Sorted by VIP id: default/new, then default/old.
    expect(codes([empty, newer, ...web3])).toEqual(['DUPLICATE_VIP', 'NO_BACKENDS']);
    expect(compile([empty, newer, ...web3]).state.vips).toEqual([]);
  });

  it('DUPLICATE_BACKEND keeps the older of two Backends with one address', () => {
    const { state, problems } = compile([
      vip('web'),
      be('b-new', '10.0.1.11', { weight: 9 }, { creationTimestamp: '2026-02-01T00:00:00Z' }),
      be('a-old', '10.0.1.11', {}, { creationTimestamp: '2026-01-01T00:00:00Z' }),
    ]);
    expect(state.vips[0]?.backends).toEqual([{ address: '10.0.1.11', family: 'IPv4', weight: 1, name: 'a-old' }]);
    expect(problems[0]).toMatchObject({ code: 'DUPLICATE_BACKEND', object: { name: 'b-new' }, effect: 'BackendExcluded' });
  });

  it('DUPLICATE_QUIC_SERVER_ID keeps the older backend on QUIC VIPs and is not checked elsewhere', () => {
    const backends = [
      be('q-new', '10.0.1.12', { quicServerId: 7 }, { creationTimestamp: '2026-02-01T00:00:00Z' }),
      be('q-old', '10.0.1.11', { quicServerId: 7 }, { creationTimestamp: '2026-01-01T00:00:00Z' }),
    ];
    const quic = compile([vip('q', { protocol: 'UDP', quic: true }), ...backends]);
    expect(quic.state.vips[0]?.backends.map((b) => b.name)).toEqual(['q-old']);
    expect(quic.problems[0]).toMatchObject({ code: 'DUPLICATE_QUIC_SERVER_ID', field: 'spec.quicServerId', object: { name: 'q-new' } });
    expect(codes([vip('udp', { protocol: 'UDP' }), ...backends])).toEqual([]);
  });

  it('QUIC server ids are unique per VIP only: two namespaces may both use id 7', () => {
    const team = (ns: string, address: string, backend: string): (VirtualIP | Backend)[] => [
      vip('q', { address, port: 443, protocol: 'UDP', quic: true }, { namespace: ns }),
      be('q-1', backend, { quicServerId: 7 }, { namespace: ns }),
    ];
    const { state, problems } = compile([...team('team-a', '10.90.0.21', '10.90.3.21'), ...team('team-b', '10.90.0.31', '10.90.3.31')]);
    expect(problems).toEqual([]);
    expect(state.vips.map((v) => [v.id, v.backends.map((b) => [b.address, b.quicServerId])])).toEqual([
      ['team-a/q', [['10.90.3.21', 7]]],
      ['team-b/q', [['10.90.3.31', 7]]],
    ]);
  });

  it('one bad VIP does not remove the others', () => {
    const { state } = compile([vip('bad', { quic: true }), vip('good', { address: '10.200.0.20' }), ...web3]);
    expect(state.vips.map((v) => v.id)).toEqual(['default/good']);
  });
});

describe('compile: node selection', () => {
  const objects = [
    vip('all', { address: '10.200.0.1' }),
    vip('edge', { address: '10.200.0.2', nodeSelector: { matchLabels: { tier: 'edge' } } }),
    ...web3,
  ];
  it('keeps only the VIPs a node serves, but conflicts are decided fleet-wide', () => {
    expect(compile(objects, { node: { name: 'lb-1', labels: { tier: 'core' } } }).state.vips.map((v) => v.id)).toEqual(['default/all']);
    expect(compile(objects, { node: { name: 'lb-2', labels: { tier: 'edge' } } }).state.vips.map((v) => v.id)).toEqual(['default/all', 'default/edge']);
  });
  it('stateForNode filters a published state the same way', () => {
    const full = compile(objects).state;
    expect(stateForNode(full, { tier: 'core' })).toEqual(compile(objects, { node: { name: 'x', labels: { tier: 'core' } } }).state);
  });
});

describe('backendRef', () => {
  const ref = vip('svc', { backendSelector: undefined, backendRef: { kind: 'Service', name: 'web', target: 'Nodes' } });

  it('compiles the backends the caller resolved, with the same family and duplicate checks as Backends', () => {
    const seen: string[] = [];
    const result = compile([ref, ...web3], {
      resolveRef: (v, family) => {
        seen.push(`${v.metadata.name}:${family}`);
        return { backends: [
          { name: 'node-b', address: '10.0.2.2', weight: 3 },
          { name: 'node-a', address: '10.0.2.1', weight: 0 },
          { name: 'node-c', address: '10.0.2.1', weight: 1 },
        ] };
      },
    });
    expect(seen).toEqual(['svc:IPv4']);
    // Backend objects are not selected by a backendRef VIP, even with matching labels.
    expect(result.state.vips[0]?.backends).toEqual([
      { address: '10.0.2.1', family: 'IPv4', weight: 0, name: 'node-a' },
      { address: '10.0.2.2', family: 'IPv4', weight: 3, name: 'node-b' },
    ]);
    expect(result.problems.map((p) => [p.code, p.object.name])).toEqual([['DUPLICATE_BACKEND', 'node-c']]);
  });

  it('reports a reference that does not resolve on spec.backendRef and keeps the claim', () => {
    const later = vip('later', { backendSelector: { matchLabels: { app: 'web' } } }, { creationTimestamp: '2030-01-01T00:00:00Z' });
    const result = compile([{ ...ref, metadata: { ...ref.metadata, creationTimestamp: '2026-01-01T00:00:00Z' } }, later, ...web3], {
      resolveRef: () => ({ notFound: 'no such Service exists. Create it or fix spec.backendRef.name.' }),
    });
    expect(result.problems.map((p) => [p.virtualIP, p.code, p.field])).toEqual([
      ['default/later', 'DUPLICATE_VIP', 'spec.address'],
      ['default/svc', 'BACKEND_REF_NOT_FOUND', 'spec.backendRef'],
    ]);
    expect(result.problems[1]?.message).toContain('Service default/web');
  });

  it('says why a resolved reference has no backends', () => {
    const result = compile([ref], { resolveRef: () => ({ backends: [], emptyBecause: 'Service default/web has no ready endpoints on a ready, schedulable node.' }) });
    expect(result.problems).toMatchObject([{ code: 'NO_BACKENDS', field: 'spec.backendRef', message: expect.stringContaining('no ready endpoints') }]);
  });
});
