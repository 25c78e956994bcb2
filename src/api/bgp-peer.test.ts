import { describe, expect, it } from 'vitest';
import { BGPPeer, BGPPeerSpec } from './bgp-peer.ts';
import { VirtualIPSpec } from './virtual-ip.ts';

const base = { peerAddress: '10.111.1.1', peerASN: 65000, localASN: 65001 };

function firstIssue(result: { success: boolean; error?: { issues: { path: PropertyKey[]; message: string }[] } }): { path: string; message: string } | undefined {
  const issue = result.error?.issues[0];
  return issue === undefined ? undefined : { path: issue.path.join('.'), message: issue.message };
}

describe('BGPPeer', () => {
  it('fills defaults: port 179, hold time 90 s, both families', () => {
    const spec = BGPPeerSpec.parse(base);
    expect(spec).toEqual({ ...base, port: 179, holdTimeSeconds: 90, addressFamilies: ['IPv4', 'IPv6'] });
    expect(BGPPeer.parse({ apiVersion: 'sterlet.dev/v1alpha1', kind: 'BGPPeer', metadata: { name: 'tor' }, spec: base }).spec.peerASN).toBe(65000);
  });

  it.each([
    [{ ...base, peerASN: 0 }, 'peerASN'],
    [{ ...base, localASN: 4294967295 }, 'localASN'],
    [{ ...base, peerASN: 1.5 }, 'peerASN'],
    [{ ...base, peerAddress: '10.0.0.300' }, 'peerAddress'],
    [{ ...base, peerAddress: '127.0.0.1' }, 'peerAddress'],
    [{ ...base, holdTimeSeconds: 2 }, 'holdTimeSeconds'],
    [{ ...base, addressFamilies: ['IPv4', 'IPv4'] }, 'addressFamilies'],
    [{ ...base, addressFamilies: [] }, 'addressFamilies'],
    [{ ...base, port: 0 }, 'port'],
  ])('rejects %j naming %s', (spec, field) => {
    expect(firstIssue(BGPPeerSpec.safeParse(spec))?.path).toBe(field);
  });

  it('accepts hold time 0 (no keepalives) and a password Secret reference', () => {
    const spec = BGPPeerSpec.parse({ ...base, holdTimeSeconds: 0, passwordSecretRef: { name: 'bgp', namespace: 'sterlet-system' } });
    expect(spec.passwordSecretRef).toEqual({ name: 'bgp', namespace: 'sterlet-system', key: 'password' });
  });
});

describe('VirtualIP spec.announcement', () => {
  const vip = { address: '10.200.0.10', port: 80, protocol: 'TCP', backendSelector: {} };

  it('takes communities as ASN:VALUE and a local preference', () => {
    const spec = VirtualIPSpec.parse({ ...vip, announcement: { communities: ['65001:100', '0:65535'], localPreference: 200 } });
    expect(spec.announcement).toEqual({ communities: ['65001:100', '0:65535'], localPreference: 200 });
  });

  it.each([['65536:1'], ['65001'], ['a:b'], ['1:2:3']])('rejects community %s naming the field', (community) => {
    const issue = firstIssue(VirtualIPSpec.safeParse({ ...vip, announcement: { communities: [community] } }));
    expect(issue?.path).toBe('announcement.communities.0');
    expect(issue?.message).toContain('ASN:VALUE');
  });
});
