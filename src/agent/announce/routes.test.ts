import { describe, expect, it } from 'vitest';
import type { DesiredVip } from '../plan/model.ts';
import { communityValue, diffRoutes, planRoutes, type AnnounceInput } from './routes.ts';

function vip(id: string, address: string, opts: { port?: number; weights?: number[]; revision?: string; announcement?: DesiredVip['announcement'] } = {}): DesiredVip {
  const family = address.includes(':') ? 'IPv6' : 'IPv4';
  return {
    id,
    revision: opts.revision ?? 'r1',
    key: { address, family, port: opts.port ?? 80, protocol: 'TCP' },
    flags: { hash: 'FiveTuple', connectionTracking: true, quic: false, encapsulation: 'IPIP' },
    backends: (opts.weights ?? [1]).map((weight, i) => ({ address: `10.0.1.${11 + i}`, family: 'IPv4', weight })),
    ...(opts.announcement === undefined ? {} : { announcement: opts.announcement }),
  };
}

function input(desired: DesiredVip[], over: Partial<AnnounceInput> = {}): AnnounceInput {
  return {
    ready: true,
    attached: true,
    draining: false,
    desired,
    programmed: new Map(desired.map((v) => [v.id, v.revision])),
    families: new Set(['IPv4', 'IPv6']),
    ...over,
  };
}

describe('planRoutes', () => {
  it('announces a programmed VIP with a usable backend as a host prefix', () => {
    const plan = planRoutes(input([vip('default/web', '10.200.0.10'), vip('default/v6', 'fd00:200::10')]));
    expect([...plan.routes.keys()]).toEqual(['fd00:200::10/128', '10.200.0.10/32']);
    expect(plan.held.size).toBe(0);
  });

  it.each([
    ['NotReady', { ready: false }],
    ['Detached', { attached: false }],
    ['Draining', { draining: true, attached: false }],
  ] as const)('holds every route when the node is %s', (gate, over) => {
    const plan = planRoutes(input([vip('default/web', '10.200.0.10')], over));
    expect(plan.routes.size).toBe(0);
    expect(plan.held.get('default/web')).toBe(gate);
  });

  it('holds a VIP whose current revision is not programmed yet, or was removed from the maps', () => {
    const web = vip('default/web', '10.200.0.10', { revision: 'r2' });
    expect(planRoutes(input([web], { programmed: new Map([['default/web', 'r1']]) })).held.get('default/web')).toBe('NotProgrammed');
    expect(planRoutes(input([web], { programmed: new Map() })).held.get('default/web')).toBe('NotProgrammed');
  });

  it('holds a VIP whose backends are all drained (weight 0), and one whose family no peer carries', () => {
    const plan = planRoutes(input([vip('default/web', '10.200.0.10', { weights: [0, 0] }), vip('default/v6', 'fd00::10')], { families: new Set(['IPv4']) }));
    expect(plan.routes.size).toBe(0);
    expect(plan.held.get('default/web')).toBe('NoUsableBackend');
    expect(plan.held.get('default/v6')).toBe('FamilyNotPeered');
  });

  it('announces a shared address while any VIP on it can be served, with the attributes of the first by id', () => {
    const a = vip('default/a', '10.200.0.10', { port: 80, weights: [0], announcement: { communities: ['65001:1'] } });
    const b = vip('default/b', '10.200.0.10', { port: 443, announcement: { communities: ['65001:2', '65000:9'], localPreference: 200 } });
    const c = vip('default/c', '10.200.0.10', { port: 8080, announcement: { communities: ['65001:3'] } });
    const plan = planRoutes(input([c, b, a]));
    expect([...plan.routes.values()]).toEqual([
      { prefix: '10.200.0.10/32', family: 'IPv4', communities: [communityValue('65000:9'), communityValue('65001:2')], localPreference: 200 },
    ]);
    expect(plan.held.get('default/a')).toBe('NoUsableBackend');
  });
});

describe('diffRoutes', () => {
  const route = (prefix: string, communities: number[] = [], localPreference?: number) => ({
    prefix,
    family: 'IPv4' as const,
    communities,
    ...(localPreference === undefined ? {} : { localPreference }),
  });

  it('announces what is missing or changed and withdraws what is no longer wanted', () => {
    const want = new Map([
      ['10.0.0.1/32', route('10.0.0.1/32')],
      ['10.0.0.2/32', route('10.0.0.2/32', [1, 2])],
      ['10.0.0.3/32', route('10.0.0.3/32', [], 100)],
    ]);
    const have = [route('10.0.0.2/32', [2, 1]), route('10.0.0.3/32', [], 200), route('10.0.0.9/32')];
    const diff = diffRoutes(want, have);
    expect(diff.announce.map((r) => r.prefix)).toEqual(['10.0.0.1/32', '10.0.0.3/32']);
    expect(diff.withdraw.map((r) => r.prefix)).toEqual(['10.0.0.9/32']);
  });

  it('changes nothing when the speaker already holds the plan (an adopting agent after kill -9)', () => {
    const want = new Map([['10.0.0.1/32', route('10.0.0.1/32', [5])]]);
    expect(diffRoutes(want, [route('10.0.0.1/32', [5])])).toEqual({ announce: [], withdraw: [] });
  });
});

describe('communityValue', () => {
  it('packs ASN:VALUE into the 32-bit wire value', () => {
    expect(communityValue('65001:100')).toBe(65001 * 65536 + 100);
    expect(communityValue('0:0')).toBe(0);
    expect(communityValue('65535:65535')).toBe(0xffffffff);
  });
});
