import { describe, expect, it } from 'vitest';
import { allocationPlan, derivedVips } from './derive.ts';
import { Service } from './kube-types.ts';

const svc = (spec: Record<string, unknown>, annotations: Record<string, string> = {}): Service =>
  Service.parse({ metadata: { name: 'web', namespace: 'team', annotations }, spec: { type: 'LoadBalancer', ...spec } });
const ports = [{ port: 80, protocol: 'TCP' as const }];
const families = (s: Service): string[] => allocationPlan(s, ports).requests.map((r) => r.family);

describe('allocationPlan', () => {
  it('asks for one address per family only for PreferDualStack/RequireDualStack with two ipFamilies', () => {
    expect(families(svc({}))).toEqual(['IPv4']);
    expect(families(svc({ ipFamilies: ['IPv6'] }))).toEqual(['IPv6']);
    expect(families(svc({ ipFamilyPolicy: 'SingleStack', ipFamilies: ['IPv6', 'IPv4'] }))).toEqual(['IPv6']);
    expect(families(svc({ ipFamilyPolicy: 'PreferDualStack', ipFamilies: ['IPv4'] }))).toEqual(['IPv4']);
    expect(allocationPlan(svc({ ipFamilyPolicy: 'PreferDualStack', ipFamilies: ['IPv6', 'IPv4'] }), ports)).toMatchObject({ requests: [{ family: 'IPv6' }, { family: 'IPv4' }], requireBoth: false });
    expect(allocationPlan(svc({ ipFamilyPolicy: 'RequireDualStack', ipFamilies: ['IPv4', 'IPv6'] }), ports)).toMatchObject({ requests: [{ family: 'IPv4' }, { family: 'IPv6' }], requireBoth: true });
  });

  it('lets requested addresses decide their families, one request per comma-separated address', () => {
    const plan = allocationPlan(svc({ ipFamilyPolicy: 'RequireDualStack', ipFamilies: ['IPv4', 'IPv6'] }, { 'sterlet.dev/address': '10.0.0.1, 2001:db8::1' }), ports);
    expect(plan.requests.map((r) => [r.family, r.address?.value])).toEqual([['IPv4', '10.0.0.1'], ['IPv6', '2001:db8::1']]);
    expect(allocationPlan(svc({ loadBalancerIP: '2001:db8::9' }), ports).requests.map((r) => r.family)).toEqual(['IPv6']);
  });
});

describe('derivedVips', () => {
  it('names the second family of a dual-stack Service by family, the primary one as before', () => {
    const names = derivedVips(svc({}), ['2001:db8::1', '10.0.0.1'], [...ports, { port: 53, protocol: 'UDP' }], 'IPv6').map((v) => [v.metadata.name, (v['spec'] as { address: string }).address]);
    expect(names).toEqual([['web-tcp-80', '2001:db8::1'], ['web-udp-53', '2001:db8::1'], ['web-tcp-80-ipv4', '10.0.0.1'], ['web-udp-53-ipv4', '10.0.0.1']]);
  });
});
