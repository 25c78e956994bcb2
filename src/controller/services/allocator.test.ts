import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import type { PoolAdmission } from '../../compile/pools.ts';
import { preparePools } from '../../compile/pools.ts';
import { VirtualIPPool, VirtualIPPoolSpec } from '../../api/virtual-ip-pool.ts';
import { AddressAllocator, type AllocationContext, type AllocationRequest, poolFor } from './allocator.ts';

function pool(name: string, spec: Partial<z.input<typeof VirtualIPPoolSpec>>): VirtualIPPool {
  return VirtualIPPool.parse({ apiVersion: 'sterlet.dev/v1alpha1', kind: 'VirtualIPPool', metadata: { name }, spec: { addresses: ['10.200.0.0/24'], backendAddresses: ['10.0.0.0/8'], ...spec } });
}
function ctx(pools: VirtualIPPool[], usedBy: Record<string, string> = {}): AllocationContext {
  const admission: PoolAdmission = { mode: 'Pools', pools, namespaceLabels: new Map([['team-a', { team: 'a', 'kubernetes.io/metadata.name': 'team-a' }]]) };
  return { pools: preparePools(pools), admission, usedBy: (a) => usedBy[a] };
}
function req(service: string, extra: Partial<AllocationRequest> = {}): AllocationRequest {
  return { service: `team-a/${service}`, namespace: 'team-a', family: 'IPv4', ports: [{ port: 80, protocol: 'TCP' }], ...extra };
}
const small = pool('small', { allocation: { addresses: ['10.200.0.0/30'] } }); // usable .1 and .2

describe('AddressAllocator', () => {
  it('allocates the lowest free address, skips network/broadcast and addresses VirtualIPs use, and keeps an allocation', () => {
    const a = new AddressAllocator();
    const c = ctx([small], { '10.200.0.1': 'VirtualIP team-a/hand' });
    expect(a.claim(req('one'), c)).toEqual({ address: '10.200.0.2', pool: 'small' });
    expect(a.claim(req('one'), c)).toEqual({ address: '10.200.0.2', pool: 'small' });
    expect(a.claim(req('two'), c)).toMatchObject({ reason: 'PoolExhausted', message: expect.stringContaining('10.200.0.0/30') });
    a.release('team-a/one');
    expect(a.claim(req('two'), c)).toEqual({ address: '10.200.0.2', pool: 'small' });
  });

  it('never gives one address to two Services, whatever the order of many claims', () => {
    const a = new AddressAllocator();
    const c = ctx([pool('p', { allocation: { addresses: ['10.200.0.0/26'] } })]);
    const got = Array.from({ length: 70 }, (_, i) => a.claim(req(`s${i}`), c));
    const addresses = got.filter((r) => 'address' in r).map((r) => ('address' in r ? r.address : ''));
    expect(addresses).toHaveLength(62);
    expect(new Set(addresses).size).toBe(62);
    expect(got.slice(62).every((r) => 'reason' in r && r.reason === 'PoolExhausted')).toBe(true);
  });

  it('reuses the lowest hole first and skips addresses hand-written VirtualIPs use inside a run of held ones', () => {
    const a = new AddressAllocator();
    const c = ctx([pool('p', { allocation: { addresses: ['10.200.0.0/24'] } })], { '10.200.0.101': 'VirtualIP team-a/hand', '10.200.0.102': 'VirtualIP team-a/hand2' });
    for (let i = 0; i < 100; i++) a.claim(req(`s${i}`), c);
    expect(a.ownerOf('10.200.0.100')).toBe('team-a/s99');
    expect(a.claim(req('next'), c)).toEqual({ address: '10.200.0.103', pool: 'p' });
    a.release('team-a/s49');
    a.release('team-a/s9');
    expect(a.claim(req('hole'), c)).toEqual({ address: '10.200.0.10', pool: 'p' });
    expect(a.claim(req('hole2'), c)).toEqual({ address: '10.200.0.50', pool: 'p' });
    expect(a.claim(req('after'), c)).toEqual({ address: '10.200.0.104', pool: 'p' });
  });

  it('honours a requested address inside an allocation range, also with autoAssign false, and refuses others', () => {
    const manual = pool('manual', { allocation: { autoAssign: false } });
    const a = new AddressAllocator();
    const c = ctx([manual]);
    expect(a.claim(req('auto'), c)).toMatchObject({ reason: 'NoPool', message: expect.stringContaining('autoAssign is false') });
    const field = 'metadata.annotations[sterlet.dev/address]';
    expect(a.claim(req('asks', { address: { value: '10.200.0.77', field } }), c)).toEqual({ address: '10.200.0.77', pool: 'manual' });
    expect(a.claim(req('dup', { address: { value: '10.200.0.77', field } }), c)).toMatchObject({ reason: 'AddressInUse', field, message: expect.stringContaining('team-a/asks') });
    expect(a.claim(req('out', { address: { value: '10.201.0.1', field: 'spec.loadBalancerIP' } }), c)).toMatchObject({ reason: 'AddressNotAllowed', field: 'spec.loadBalancerIP' });
    expect(a.claim(req('bad', { address: { value: 'ten', field } }), c)).toMatchObject({ reason: 'InvalidAddress', field });
    // A request that cannot be met keeps what the Service has (a bad edit loses nothing) ...
    expect(a.claim(req('asks', { address: { value: '10.201.0.1', field } }), c)).toMatchObject({ reason: 'AddressNotAllowed', kept: { address: '10.200.0.77' } });
    expect(a.ownerOf('10.200.0.77')).toBe('team-a/asks');
    // ... and one that can be met moves the Service and frees the old address.
    expect(a.claim(req('asks', { address: { value: '10.200.0.78', field } }), c)).toEqual({ address: '10.200.0.78', pool: 'manual' });
    expect(a.ownerOf('10.200.0.77')).toBeUndefined();
  });

  it('applies tenancy: namespace selector, ports and protocols; a named pool must allow the namespace', () => {
    const other = pool('other', { namespaceSelector: { matchLabels: { team: 'b' } }, allocation: {} });
    const udp = pool('udp', { addresses: ['10.200.1.0/24'], protocols: ['UDP'], allocation: {} });
    const a = new AddressAllocator();
    const c = ctx([other, udp]);
    expect(a.claim(req('web'), c)).toMatchObject({ reason: 'NoPool', message: expect.stringMatching(/other: namespace team-a not selected; udp: protocol TCP not in UDP/) });
    expect(a.claim(req('dns', { ports: [{ port: 53, protocol: 'UDP' }] }), c)).toEqual({ address: '10.200.1.1', pool: 'udp' });
    expect(a.claim(req('web', { pool: 'other' }), c)).toMatchObject({ reason: 'PoolNotAllowed', field: 'metadata.annotations[sterlet.dev/pool]' });
    expect(a.claim(req('web', { pool: 'nope' }), c)).toMatchObject({ reason: 'PoolNotFound' });
  });

  it('refuses an IPv6 Service when the pools it may use have only IPv4 ranges', () => {
    const a = new AddressAllocator();
    expect(a.claim(req('six', { family: 'IPv6' }), ctx([small]))).toMatchObject({ reason: 'NoPool', field: 'spec.ipFamilies', message: expect.stringContaining('no VirtualIPPool it may use (small) has IPv6') });
    const dual = pool('dual', { addresses: ['10.200.0.0/24', '2001:db8::/64'], allocation: {} });
    expect(a.claim(req('six', { family: 'IPv6' }), ctx([dual]))).toEqual({ address: '2001:db8::1', pool: 'dual' });
  });

  it('holds one address per family for a dual-stack Service and frees both on release', () => {
    const a = new AddressAllocator();
    const c = ctx([pool('dual', { addresses: ['10.200.0.0/24', '2001:db8::/64'], allocation: {} })]);
    expect(a.claim(req('web'), c)).toEqual({ address: '10.200.0.1', pool: 'dual' });
    expect(a.claim(req('web', { family: 'IPv6' }), c)).toEqual({ address: '2001:db8::1', pool: 'dual' });
    expect(a.claim(req('web'), c)).toEqual({ address: '10.200.0.1', pool: 'dual' });
    expect(a.addressesOf('team-a/web').map((x) => x.address)).toEqual(['10.200.0.1', '2001:db8::1']);
    expect(a.claim(req('api', { family: 'IPv6' }), c)).toEqual({ address: '2001:db8::2', pool: 'dual' });
    expect(a.release('team-a/web', 'IPv6').map((x) => x.address)).toEqual(['2001:db8::1']);
    expect(a.addressesOf('team-a/web').map((x) => x.address)).toEqual(['10.200.0.1']);
    a.claim(req('web', { family: 'IPv6' }), c);
    expect(a.release('team-a/web').map((x) => x.address)).toEqual(['10.200.0.1', '2001:db8::1']);
    expect(a.ownerOf('10.200.0.1')).toBeUndefined();
    expect(a.claim(req('next', { family: 'IPv6' }), c)).toEqual({ address: '2001:db8::1', pool: 'dual' });
  });

  it('gives an address up when its pool stops allowing it, and rebuilds ownership with poolFor', () => {
    const a = new AddressAllocator();
    expect(a.claim(req('web'), ctx([small]))).toEqual({ address: '10.200.0.1', pool: 'small' });
    const moved = pool('small', { allocation: { addresses: ['10.200.0.128/30'] } });
    expect(a.claim(req('web'), ctx([moved]))).toEqual({ address: '10.200.0.129', pool: 'small' });
    expect(poolFor('10.200.0.130', preparePools([moved]))).toBe('small');
    expect(poolFor('10.200.0.1', preparePools([moved]))).toBeUndefined();
    const b = new AddressAllocator();
    expect(b.record('team-a/x', { address: '10.200.0.129', pool: 'small' })).toBe(true);
    expect(b.record('team-a/y', { address: '10.200.0.129', pool: 'small' })).toBe(false);
  });
});
