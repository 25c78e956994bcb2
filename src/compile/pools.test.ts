import { describe, expect, it } from 'vitest';
import { Backend } from '../api/backend.ts';
import { compile, type CompileInput } from './compile.ts';
import type { Labels } from '../api/meta.ts';
import { ADMIT_ALL, type PoolAdmission } from './pools.ts';
import { PROBLEM_REASONS, ProblemCode } from '../api/problems.ts';
import { VirtualIP } from '../api/virtual-ip.ts';
import { VirtualIPPool, type VirtualIPPoolSpec } from '../api/virtual-ip-pool.ts';

const apiVersion = 'sterlet.dev/v1alpha1';

function vip(name: string, namespace: string, address: string, extra: Record<string, unknown> = {}, created?: string): VirtualIP {
  return VirtualIP.parse({
    apiVersion,
    kind: 'VirtualIP',
    metadata: { name, namespace, ...(created === undefined ? {} : { creationTimestamp: created }) },
    spec: { address, port: 80, protocol: 'TCP', backendSelector: { matchLabels: { app: name } }, ...extra },
  });
}

function be(name: string, namespace: string, app: string, address: string): Backend {
  return Backend.parse({ apiVersion, kind: 'Backend', metadata: { name, namespace, labels: { app } }, spec: { address } });
}

function pool(name: string, spec: Partial<VirtualIPPoolSpec>): VirtualIPPool {
  return VirtualIPPool.parse({
    apiVersion,
    kind: 'VirtualIPPool',
    metadata: { name },
    spec: { addresses: ['10.200.0.0/24'], backendAddresses: ['10.0.0.0/16'], ...spec },
  });
}

const namespaces = new Map<string, Labels>([
  ['team-a', { team: 'a', 'kubernetes.io/metadata.name': 'team-a' }],
  ['team-b', { team: 'b', 'kubernetes.io/metadata.name': 'team-b' }],
]);

function admission(...pools: VirtualIPPool[]): PoolAdmission {
  return { mode: 'Pools', pools, namespaceLabels: namespaces };
}

const teamA = pool('team-a', { namespaceSelector: { matchLabels: { team: 'a' } } });
const web: CompileInput[] = [vip('web', 'team-a', '10.200.0.10'), be('web-1', 'team-a', 'web', '10.0.1.11')];

describe('pool admission', () => {
  it('admits everything in standalone mode (ADMIT_ALL, the default)', () => {
    const outside = [vip('web', 'team-a', '192.0.2.1'), be('web-1', 'team-a', 'web', '198.51.100.1')];
    expect(compile(outside).state.vips).toHaveLength(1);
    expect(compile(outside, { admission: ADMIT_ALL }).state.vips).toHaveLength(1);
  });

  it('admits a VIP whose namespace and address a pool covers, and records the pool', () => {
    const result = compile(web, { admission: admission(teamA) });
    expect(result.problems).toEqual([]);
    expect(result.state.vips.map((v) => v.id)).toEqual(['team-a/web']);
    expect(result.admittedBy.get('team-a/web')).toBe('team-a');
  });

  it('records the admitting pool of a VIP that has no Backends yet (it holds its claim)', () => {
    const result = compile([vip('web', 'team-a', '10.200.0.10')], { admission: admission(teamA) });
    expect(result.state.vips).toEqual([]);
    expect(result.problems.map((p) => p.code)).toEqual(['NO_BACKENDS']);
    expect(result.admittedBy.get('team-a/web')).toBe('team-a');
  });

  it('with no pool at all, nothing is admitted (secure by default)', () => {
    const result = compile(web, { admission: admission() });
    expect(result.state.vips).toEqual([]);
    expect(result.problems[0]).toMatchObject({ code: 'ADDRESS_NOT_ALLOWED', reason: 'AddressNotAllowed', field: 'spec.address' });
    expect(result.problems[0]?.message).toMatch(/no VirtualIPPool exists/);
  });

  it('rejects a VIP outside every pool, naming the pools considered', () => {
    const result = compile([vip('web', 'team-a', '10.201.0.10'), be('web-1', 'team-a', 'web', '10.0.1.11')], {
      admission: admission(teamA),
    });
    expect(result.state.vips).toEqual([]);
    expect(result.problems[0]?.code).toBe('ADDRESS_NOT_ALLOWED');
    expect(result.problems[0]?.message).toContain('team-a: 10.201.0.10 outside 10.200.0.0/24');
  });

  it('rejects a namespace the pool does not select', () => {
    const result = compile([vip('web', 'team-b', '10.200.0.10'), be('web-1', 'team-b', 'web', '10.0.1.11')], {
      admission: admission(teamA),
    });
    expect(result.state.vips).toEqual([]);
    expect(result.problems[0]?.message).toContain('namespace team-b not selected');
  });

  it('selects unknown namespaces by their kubernetes.io/metadata.name label only', () => {
    const byName = pool('by-name', { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'team-c' } } });
    const objects = [vip('web', 'team-c', '10.200.0.10'), be('web-1', 'team-c', 'web', '10.0.1.11')];
    expect(compile(objects, { admission: admission(byName) }).state.vips).toHaveLength(1);
  });

  it('applies the optional port and protocol restrictions', () => {
    const https = pool('https', { ports: [443], protocols: ['TCP'] });
    const port80 = compile(web, { admission: admission(https) });
    expect(port80.problems[0]?.message).toContain('port 80 not in 443');
    const udp = [vip('web', 'team-a', '10.200.0.10', { port: 443, protocol: 'UDP' }), be('web-1', 'team-a', 'web', '10.0.1.11')];
    expect(compile(udp, { admission: admission(https) }).problems[0]?.message).toContain('protocol UDP not in TCP');
  });

  it('excludes and reports backends outside the admitting pool, keeping the VIP on the others', () => {
    const objects = [...web, be('web-2', 'team-a', 'web', '192.168.7.7')];
    const result = compile(objects, { admission: admission(teamA) });
    expect(result.state.vips[0]?.backends.map((b) => b.name)).toEqual(['web-1']);
    expect(result.problems).toHaveLength(1);
    expect(result.problems[0]).toMatchObject({
      code: 'BACKEND_NOT_ALLOWED',
      reason: 'BackendNotAllowed',
      effect: 'BackendExcluded',
      object: { kind: 'Backend', namespace: 'team-a', name: 'web-2' },
      virtualIP: 'team-a/web',
    });
    expect(result.problems[0]?.message).toContain('192.168.7.7');
  });

  it('withdraws a VIP whose every backend is outside the pool', () => {
    const objects = [vip('web', 'team-a', '10.200.0.10'), be('web-1', 'team-a', 'web', '192.168.7.7')];
    expect(compile(objects, { admission: admission(teamA) }).problems.map((p) => p.code)).toEqual([
      'BACKEND_NOT_ALLOWED',
      'NO_BACKENDS',
    ]);
  });

  it('resolves overlapping pools by the longest VIP prefix, whatever the pool order', () => {
    const wide = pool('a-wide', { addresses: ['10.200.0.0/16'], backendAddresses: ['10.9.0.0/16'] });
    const narrow = pool('z-narrow', { addresses: ['10.200.0.0/28'], backendAddresses: ['10.0.0.0/16'] });
    for (const pools of [[wide, narrow], [narrow, wide]]) {
      const result = compile(web, { admission: admission(...pools) });
      expect(result.admittedBy.get('team-a/web')).toBe('z-narrow');
      expect(result.problems).toEqual([]);
    }
  });

  it('an inadmissible VIP cannot squat on an address an admitted, newer VIP claims', () => {
    const squatter = vip('web', 'team-b', '10.200.0.10', {}, '2026-01-01T00:00:00Z');
    const owner = vip('web', 'team-a', '10.200.0.10', {}, '2026-06-01T00:00:00Z');
    const objects = [squatter, owner, be('web-1', 'team-a', 'web', '10.0.1.11'), be('web-1', 'team-b', 'web', '10.0.1.12')];
    const result = compile(objects, { admission: admission(teamA) });
    expect(result.state.vips.map((v) => v.id)).toEqual(['team-a/web']);
    expect(result.problems.map((p) => [p.virtualIP, p.code])).toEqual([['team-b/web', 'ADDRESS_NOT_ALLOWED']]);
  });

  it('cross-namespace conflicts between admitted VIPs go to the newer one', () => {
    const both = pool('both', {});
    const older = vip('web', 'team-b', '10.200.0.10', {}, '2026-01-01T00:00:00Z');
    const newer = vip('web', 'team-a', '10.200.0.10', {}, '2026-06-01T00:00:00Z');
    const objects = [newer, older, be('web-1', 'team-a', 'web', '10.0.1.11'), be('web-1', 'team-b', 'web', '10.0.1.12')];
    const result = compile(objects, { admission: admission(both) });
    expect(result.state.vips.map((v) => v.id)).toEqual(['team-b/web']);
    expect(result.problems.map((p) => [p.virtualIP, p.code])).toEqual([['team-a/web', 'DUPLICATE_VIP']]);
  });
});

describe('pool announcement settings', () => {
  const tagged = pool('team-a', { namespaceSelector: { matchLabels: { team: 'a' } }, announcement: { communities: ['65001:100', '65001:200'], localPreference: 150 } });

  it('gives every admitted VIP the pool\'s communities and local preference', () => {
    expect(compile(web, { admission: admission(tagged) }).state.vips[0]?.announcement).toEqual({ communities: ['65001:100', '65001:200'], localPreference: 150 });
  });

  it('lets the VIP override each field on its own', () => {
    const pref = [vip('web', 'team-a', '10.200.0.10', { announcement: { localPreference: 300 } }), be('web-1', 'team-a', 'web', '10.0.1.11')];
    expect(compile(pref, { admission: admission(tagged) }).state.vips[0]?.announcement).toEqual({ communities: ['65001:100', '65001:200'], localPreference: 300 });
    const comm = [vip('web', 'team-a', '10.200.0.10', { announcement: { communities: ['65002:1'] } }), be('web-1', 'team-a', 'web', '10.0.1.11')];
    expect(compile(comm, { admission: admission(tagged) }).state.vips[0]?.announcement).toEqual({ communities: ['65002:1'], localPreference: 150 });
  });

  it('changes the VIP\'s revision when the pool\'s settings change (agents re-announce)', () => {
    const before = compile(web, { admission: admission(tagged) }).state.vips[0]?.revision;
    const changed = pool('team-a', { namespaceSelector: { matchLabels: { team: 'a' } }, announcement: { communities: ['65001:100'] } });
    expect(compile(web, { admission: admission(changed) }).state.vips[0]?.revision).not.toBe(before);
  });

  it('adds no attributes when neither the VIP nor its pool sets any, and standalone ignores pools', () => {
    expect(compile(web, { admission: admission(teamA) }).state.vips[0]?.announcement).toBeUndefined();
    expect(compile([...web, tagged]).state.vips[0]?.announcement).toBeUndefined();
  });

  it('refuses a malformed pool community naming the field', () => {
    const bad = VirtualIPPool.safeParse({ apiVersion, kind: 'VirtualIPPool', metadata: { name: 'p' }, spec: { addresses: ['10.200.0.0/24'], backendAddresses: ['10.0.0.0/16'], announcement: { communities: ['65536:1'] } } });
    expect(bad.success).toBe(false);
    expect(bad.error?.issues[0]?.path.join('.')).toBe('spec.announcement.communities.0');
  });
});

describe('every problem code', () => {
  const open = pool('open', { addresses: ['10.200.0.0/24', '2001:db8::/32'], backendAddresses: ['10.0.0.0/16', '2001:db8::/32'] });
  const scenarios: Record<ProblemCode, { objects: CompileInput[]; pools?: VirtualIPPool[] }> = {
    DUPLICATE_VIP: { objects: [vip('web', 'team-a', '10.200.0.10', {}, '2026-01-01T00:00:00Z'), vip('web', 'team-b', '10.200.0.10'), be('a', 'team-a', 'web', '10.0.1.1'), be('b', 'team-b', 'web', '10.0.1.2')] },
    QUIC_REQUIRES_UDP: { objects: [vip('web', 'team-a', '10.200.0.10', { quic: true }), be('a', 'team-a', 'web', '10.0.1.1')] },
    ADDRESS_NOT_ALLOWED: { objects: [vip('web', 'team-a', '10.201.0.10'), be('a', 'team-a', 'web', '10.0.1.1')], pools: [open] },
    NO_BACKENDS: { objects: [vip('web', 'team-a', '10.200.0.10')] },
    FAMILY_MISMATCH: { objects: [vip('web', 'team-a', '2001:db8::10'), be('a', 'team-a', 'web', '10.0.1.1'), be('b', 'team-a', 'web', '2001:db8::1')] },
    DUPLICATE_BACKEND: { objects: [vip('web', 'team-a', '10.200.0.10'), be('a', 'team-a', 'web', '10.0.1.1'), be('b', 'team-a', 'web', '10.0.1.1')] },
    DUPLICATE_QUIC_SERVER_ID: {
      objects: [
        vip('web', 'team-a', '10.200.0.10', { protocol: 'UDP', quic: true }),
        Backend.parse({ apiVersion, kind: 'Backend', metadata: { name: 'a', namespace: 'team-a', labels: { app: 'web' } }, spec: { address: '10.0.1.1', quicServerId: 3 } }),
        Backend.parse({ apiVersion, kind: 'Backend', metadata: { name: 'b', namespace: 'team-a', labels: { app: 'web' } }, spec: { address: '10.0.1.2', quicServerId: 3 } }),
      ],
    },
    BACKEND_NOT_ALLOWED: { objects: [vip('web', 'team-a', '10.200.0.10'), be('a', 'team-a', 'web', '10.0.1.1'), be('b', 'team-a', 'web', '192.168.1.1')], pools: [open] },
    // Standalone (no resolveRef): a Service reference cannot resolve.
    BACKEND_REF_NOT_FOUND: { objects: [vip('web', 'team-a', '10.200.0.10', { backendSelector: undefined, backendRef: { kind: 'Service', name: 'web' } })] },
    HEALTH_CHECK_NO_PORT: {
      objects: [
        vip('web', 'team-a', '10.200.0.10', { port: 0 }),
        be('a', 'team-a', 'web', '10.0.1.1'),
        Backend.parse({ apiVersion, kind: 'Backend', metadata: { name: 'b', namespace: 'team-a', labels: { app: 'web' } }, spec: { address: '10.0.1.2', healthCheck: { type: 'TCP' } } }),
      ],
    },
  };

  it.each(Object.values(ProblemCode))('%s has a scenario that reports exactly it, with a reason and an actionable message', (code) => {
    const { objects, pools } = scenarios[code];
    const result = compile(objects, pools === undefined ? {} : { admission: admission(...pools) });
    expect(result.problems.map((p) => p.code)).toEqual([code]);
    const problem = result.problems[0];
    expect(problem?.reason).toBe(PROBLEM_REASONS[code]);
    expect(problem?.field).toMatch(/^spec\./);
    expect(problem?.message.length).toBeGreaterThan(40);
  });
});
