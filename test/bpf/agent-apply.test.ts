// apply/reconcile against a really loaded balancer: the maps the XDP program
// reads are written in safe order, read back identically, and converge after
// a failure injected in the middle of an apply.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { reconcile } from '../../src/agent/plan/apply.ts';
import { openBalancer, type Balancer } from '../../src/agent/dataplane/loader.ts';
import { BPF_F_MMAPABLE } from '../../src/libbpf/libbpf.ts';
import { createRingMap } from '../../src/agent/dataplane/startup.ts';
import { readRing } from '../../src/agent/dataplane/maps-io.ts';
import { buildRing, ringFingerprint } from '../../src/agent/plan/maglev.ts';
import { MapsIO } from '../../src/agent/dataplane/maps-io.ts';
import type { DesiredBackend, DesiredVip, Limits } from '../../src/agent/plan/model.ts';
import { encodeSettings, u32 } from '../../src/agent/dataplane/codec.ts';
import { parseFlow } from '../../src/agent/dataplane/flow-spec.ts';
import { plan } from '../../src/agent/plan/plan.ts';
import { simulateFlow } from '../../src/agent/dataplane/simulate.ts';
import { RingCache } from '../../src/agent/plan/rings.ts';

const sizes = { maxVips: 8, maxReals: 33, ringSize: 251, lruSize: 1024, fallbackLruSize: 1024 };
const limits: Limits = { maxVips: sizes.maxVips, maxReals: sizes.maxReals - 1, ringSize: sizes.ringSize };
const options = { limits, buildRing, fingerprint: ringFingerprint };

const be = (address: string, weight = 1, quicServerId?: number): DesiredBackend => ({
  address,
  family: address.includes(':') ? 'IPv6' : 'IPv4',
  weight,
  quicServerId,
});
function vip(id: string, address: string, port: number, backends: DesiredBackend[], flags: Partial<DesiredVip['flags']> = {}): DesiredVip {
  return {
    id,
    key: { address, family: address.includes(':') ? 'IPv6' : 'IPv4', port, protocol: flags.quic === true ? 'UDP' : 'TCP' },
    flags: { hash: 'FiveTuple', connectionTracking: true, quic: false, encapsulation: 'IPIP', ...flags },
    backends,
  };
}

/** Every ring slot of every programmed VIP names a present real. */
function assertConsistent(io: MapsIO): void {
  const live = io.readLive();
  for (const v of live.vips.values()) {
    for (const real of live.rings.get(v.index) ?? []) if (real !== 0) expect(live.reals.has(real)).toBe(true);
  }
}

let balancer: Balancer;
// STERLET_BPF_OBJECT (the agent's --bpf-object) picks another program build.
const objectPath = process.env['STERLET_BPF_OBJECT'];
const build = objectPath === undefined ? {} : { objectPath };

// Both ring write paths: BPF_MAP_UPDATE_BATCH (a ring map created by libbpf)
// and memory stores (the BPF_F_MMAPABLE ring map the agent creates).
describe.each(['batch', 'mmap'] as const)('apply against the loaded balancer (%s ring writes)', (mode) => {
  beforeEach(() => {
    if (mode === 'batch') {
      balancer = openBalancer({ ...build, sizes, forwardingCpus: [{ cpu: 0 }] });
      return;
    }
    const ring = createRingMap(sizes);
    try {
      balancer = openBalancer({ ...build, sizes, forwardingCpus: [{ cpu: 0 }], reuseMaps: { ring: ring.fd } });
    } finally {
      ring.close();
    }
    expect(balancer.maps.ring.info().flags & BPF_F_MMAPABLE).toBe(BPF_F_MMAPABLE);
  });
  afterEach(() => balancer.close());

  const v1 = [
    vip('ns/web', '10.200.0.10', 80, [be('10.0.1.11'), be('10.0.1.12', 2), be('10.0.1.13', 0)]),
    vip('ns/six', 'fd00:200::10', 443, [be('fd00:1::11'), be('fd00:1::12')], { encapsulation: 'GUE', hash: 'SourceAddress' }),
    vip('ns/quic', '10.200.0.20', 443, [be('10.0.1.11', 1, 7), be('fd00:1::12', 1, 8)], { quic: true, connectionTracking: false }),
  ];

  it('adds, reads back identically, and writes nothing the second time', () => {
    const io = new MapsIO(balancer.maps, limits);
    const first = reconcile(v1, io, { ...options, cache: new RingCache() });
    expect(io.writes).toBeGreaterThan(3 * 251);
    expect(first.first.ops.map((o) => o.kind)).toEqual(['real-add', 'ring-write', 'ring-write', 'ring-write', 'vip-set', 'address-add', 'quic-set']);

    const live = io.readLive();
    expect([...live.vips.keys()].sort()).toEqual(['TCP 10.200.0.10:80', 'TCP [fd00:200::10]:443', 'UDP 10.200.0.20:443']);
    expect(live.vips.get('TCP [fd00:200::10]:443')?.flags).toEqual({ hash: 'SourceAddress', connectionTracking: true, quic: false, encapsulation: 'GUE' });
    expect(live.vips.get('UDP 10.200.0.20:443')?.flags).toMatchObject({ quic: true, connectionTracking: false });
    expect([...live.addresses].sort()).toEqual(['10.200.0.10', '10.200.0.20', 'fd00:200::10']);
    expect([...live.reals.values()].map((r) => r.address).sort()).toEqual(['10.0.1.11', '10.0.1.12', '10.0.1.13', 'fd00:1::11', 'fd00:1::12']);
    const quicVip = live.vips.get('UDP 10.200.0.20:443')?.index;
    const quicReals = [...live.quic.values()].sort((a, b) => a.serverId - b.serverId).map((e) => [e.vipIndex, e.serverId, live.reals.get(e.realIndex)?.address]);
    expect(quicReals).toEqual([
      [quicVip, 7, '10.0.1.11'],
      [quicVip, 8, 'fd00:1::12'],
    ]);
    for (const [index, ring] of first.live.rings) expect(readRing(balancer.maps, index, limits)).toEqual(ring);
    // weights 1:2 (and a drained backend with no slots)
    const web = live.rings.get(live.vips.get('TCP 10.200.0.10:80')?.index ?? -1) ?? new Uint16Array();
    const count = (addr: string): number => [...web].filter((r) => live.reals.get(r)?.address === addr).length;
    expect(count('10.0.1.13')).toBe(0);
    expect(count('10.0.1.12') / count('10.0.1.11')).toBeCloseTo(2, 1);

    const writes = io.writes;
    expect(reconcile(v1, io, { ...options, cache: new RingCache() }).writes).toBe(0);
    expect(plan(v1, io.readLive(), options).ops).toEqual([]);
    expect(io.writes).toBe(writes);
    assertConsistent(io);
  });

  it('forwards what simulate sends through the program to a programmed backend', () => {
    balancer.maps.settings.update(
      u32(0),
      encodeSettings({
        gatewayMac: '02:00:00:00:00:09',
        mtu: 0,
        gueDestinationPort: 6080,
        sourcePrefixV4: { address: '172.16.0.0', hostBits: 16 },
        sourcePrefixV6: { address: 'fd00:5354::', hostBits: 32 },
        udpTimeout: 30,
      }),
    );
    reconcile(v1, new MapsIO(balancer.maps, limits), options);
    const program = balancer.program();
    const v4 = simulateFlow(program, parseFlow('tcp 192.0.2.7:5555 -> 10.200.0.10:80'));
    expect(v4).toMatchObject({ verdict: 'TX', encapsulation: 'IPIP' });
    expect(['10.0.1.11', '10.0.1.12']).toContain(v4.backend);
    const v6 = simulateFlow(program, parseFlow('tcp [2001:db8::7]:5555 -> [fd00:200::10]:443'));
    expect(v6).toMatchObject({ verdict: 'TX', encapsulation: 'GUE' });
    expect(['fd00:1::11', 'fd00:1::12']).toContain(v6.backend);
    // Source-address hashing: another source port of the same client lands on the same backend.
    expect(simulateFlow(program, parseFlow('tcp [2001:db8::7]:6666 -> [fd00:200::10]:443')).backend).toBe(v6.backend);
    const backends = new Set<string>();
    for (let port = 1000; port < 1040; port++) {
      const r = simulateFlow(program, parseFlow(`udp 192.0.2.7:${port} -> 10.200.0.20:443`));
      expect(r.verdict).toBe('TX');
      backends.add(`${r.backend} ${r.encapsulation}`);
    }
    expect([...backends].sort()).toEqual(['10.0.1.11 IPIP', 'fd00:1::12 4in6']);
    expect(simulateFlow(program, parseFlow('tcp 192.0.2.7:5555 -> 10.200.0.99:80')).verdict).toBe('PASS');
  });

  it('changes and removes, leaving empty maps behind', () => {
    const io = new MapsIO(balancer.maps, limits);
    reconcile(v1, io, options);
    const v2 = [vip('ns/web', '10.200.0.10', 80, [be('10.0.1.11'), be('10.0.1.14')], { connectionTracking: false })];
    const second = reconcile(v2, io, options);
    expect(second.first.summaries.find((s) => s.id === 'ns/web')).toMatchObject({
      change: 'changed',
      backendsAdded: ['10.0.1.14'],
      backendsRemoved: ['10.0.1.12'],
    });
    const live = io.readLive();
    expect(live.vips.size).toBe(1);
    expect([...live.reals.values()].map((r) => r.address).sort()).toEqual(['10.0.1.11', '10.0.1.14']);
    expect(live.quic.size).toBe(0);
    expect([...live.addresses]).toEqual(['10.200.0.10']);
    assertConsistent(io);

    reconcile([], io, options);
    const empty = io.readLive();
    expect(empty.vips.size + empty.reals.size + empty.quic.size + empty.addresses.size).toBe(0);
    expect([...readRing(balancer.maps, 0, limits)].every((s) => s === 0)).toBe(true);
  });

  it('converges after a map write fails in the middle of an apply', () => {
    for (const failAtBatch of [1, 2, 4, 6]) {
      let batches = 0;
      let armed = false;
      const io = new MapsIO(balancer.maps, limits, {
        beforeWrite: (map) => {
          if (armed && ++batches === failAtBatch) {
            assertConsistent(io); // the state at the moment of failure is already safe
            throw new Error(`injected failure writing ${map}`);
          }
        },
      });
      reconcile(v1, io, options);
      armed = true;
      const v3 = [
        vip('ns/web', '10.200.0.10', 80, [be('10.0.1.15'), be('10.0.1.12')]),
        vip('ns/new', '10.200.0.30', 8080, [be('10.0.1.16')]),
      ];
      const retries: unknown[] = [];
      const result = reconcile(v3, io, { ...options, onRetry: (e) => retries.push(e) });
      expect(retries).toHaveLength(1);
      expect(result.attempts).toBe(2);
      assertConsistent(io);
      expect(plan(v3, io.readLive(), options).ops).toEqual([]);
      reconcile([], new MapsIO(balancer.maps, limits), options);
    }
  });
});
