// openBalancer/openDecap against the real kernel: sizes without recompiling,
// per-CPU NUMA-local connection tables, map layouts matching the TS mirror,
// and hashing properties the fixtures only sample.
import { afterEach, describe, expect, it } from 'vitest';
import { BPF_F_NUMA_NODE, MapType, possibleCpus, XdpAction } from '../../src/libbpf/libbpf.ts';
import { statsEntries } from '../../src/agent/dataplane/counters.ts';
import { BalancerMap, DecapMap, LAYOUT_VERSION, Size } from '../../src/agent/dataplane/layout.ts';
import { openBalancer, openDecap, type Balancer } from '../../src/agent/dataplane/loader.ts';
import { u32 } from '../../src/agent/dataplane/codec.ts';
import { build } from '../../src/packet/build.ts';
import { BalancerEnv } from './harness/balancer-env.ts';
import { clientFrame, flowTo, hashOf } from './harness/frames.ts';
import { REALS } from './harness/world.ts';

const sizes = { maxVips: 4, maxReals: 8, ringSize: 7, lruSize: 128, fallbackLruSize: 64 };

describe('openBalancer', () => {
  let lb: Balancer | undefined;
  let env: BalancerEnv | undefined;
  afterEach(() => {
    lb?.close();
    env?.close();
    lb = env = undefined;
  });

  it('sizes maps and rodata from the options', () => {
    lb = openBalancer({ sizes });
    const m = lb.maps;
    expect(m.ring.maxEntries).toBe(sizes.maxVips * sizes.ringSize);
    expect(m.reals.maxEntries).toBe(sizes.maxReals);
    expect(m.vips.maxEntries).toBe(sizes.maxVips * 2);
    expect(m.fallbackLru.maxEntries).toBe(sizes.fallbackLruSize);
    expect(m.stats.maxEntries).toBe(statsEntries(sizes.maxVips, sizes.maxReals));
    expect(m.connTables.maxEntries).toBe(possibleCpus());
    const rodata = lb.object.map(BalancerMap.rodata).asMap();
    try {
      const v = rodata.lookup(u32(0))!;
      expect([v.readUInt32LE(0), v.readUInt32LE(4), v.readUInt32LE(8), v.readUInt32LE(12)]).toEqual([4, 8, 7, LAYOUT_VERSION]);
    } finally {
      rodata.close();
    }
  });

  it('keys and values have the sizes the codecs write', () => {
    lb = openBalancer({ sizes });
    const m = lb.maps;
    expect([m.vips.keySize, m.vips.valueSize]).toEqual([Size.vipKey, Size.vipMeta]);
    expect(m.reals.valueSize).toBe(Size.realDef);
    expect([m.fallbackLru.keySize, m.fallbackLru.valueSize]).toEqual([Size.flowKey, Size.lruVal]);
    expect(m.settings.valueSize).toBe(Size.settings);
    expect(m.stats.valueSize).toBe(Size.stat);
    expect([m.quicReals.type, m.quicReals.keySize, m.quicReals.valueSize, m.quicReals.maxEntries]).toEqual([MapType.HASH, Size.quicKey, Size.u32, 65536]);
  });

  it('creates one NUMA-local LRU per forwarding CPU and installs it', () => {
    lb = openBalancer({ sizes, forwardingCpus: [{ cpu: 0, numaNode: 0 }] });
    const t = lb.lrus.get(0)!;
    expect(t.type).toBe(MapType.LRU_HASH);
    expect(t.maxEntries).toBe(sizes.lruSize);
    expect(t.info().flags & BPF_F_NUMA_NODE).toBe(BPF_F_NUMA_NODE);
    expect(lb.maps.connTables.lookup(u32(0))?.readUInt32LE(0)).toBe(t.info().id);
    if (possibleCpus() > 1) expect(lb.maps.connTables.lookup(u32(1))).toBeUndefined();
  });

  it('refuses per-CPU LRU lists with a NUMA node before asking the kernel', () => {
    expect(() => openBalancer({ sizes, noCommonLru: true, forwardingCpus: [{ cpu: 0, numaNode: 0 }] })).toThrow(/NUMA/);
  });

  it('keeps a flow on one real per CPU table and spreads five-tuple flows', () => {
    env = new BalancerEnv();
    const reals = new Set<string>();
    for (let port = 1000; port < 1032; port++) {
      const out = env.run(build(clientFrame(flowTo('web4', '192.0.2.9', port), { flags: 'S' })));
      expect(out.retval).toBe(XdpAction.TX);
      reals.add(out.data.subarray(14 + 16, 14 + 20).join('.'));
    }
    expect(reals.size).toBeGreaterThan(1);
  });

  it('source-address hashing sends every source port to the same real', () => {
    env = new BalancerEnv();
    const reals = new Set<string>();
    for (let port = 1000; port < 1032; port++) {
      const f = flowTo('src4', '192.0.2.9', port);
      expect(hashOf(f, 1)).toBe(hashOf(flowTo('src4', '192.0.2.9', 1000), 1));
      reals.add(env.run(build(clientFrame(f, { flags: 'S' }))).data.subarray(14 + 16, 14 + 20).join('.'));
    }
    expect(reals.size).toBe(1);
    expect(Object.values(REALS)).toContain([...reals][0]);
  });
});

describe('openDecap', () => {
  it('loads with its maps and a resized address table', () => {
    const d = openDecap({ maxAddrs: 8 });
    try {
      expect(d.maps.addrs.maxEntries).toBe(8);
      expect(d.maps.addrs.keySize).toBe(Size.decapAddr);
      expect(d.maps.settings.valueSize).toBe(Size.decapSettings);
      expect(d.object.maps()).toEqual(expect.arrayContaining(Object.values(DecapMap)));
    } finally {
      d.close();
    }
  });
});
