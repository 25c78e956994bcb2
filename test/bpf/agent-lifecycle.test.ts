// Lifecycle against the real kernel: first start creates, pins and attaches;
// a restart adopts without reloading; another program build is swapped in
// atomically on the same maps; incompatible pins are refused with an
// explanation; a non-existent NUMA node is named; detach removes everything.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { BpfProgram, xdpAttach, XdpAction, xdpQuery } from '../../src/libbpf/libbpf.ts';
import {
  decodeLruVal,
  decodeQuicKey,
  encodeFlowKey,
  encodeLruVal,
  encodeReal,
  encodeRing,
  encodeSettings,
  encodeVipKey,
  encodeVipMeta,
  settingsLayoutVersion,
  u32,
} from '../../src/agent/dataplane/codec.ts';
import { LAYOUT_V1, LAYOUT_V2, LAYOUT_VERSION, Size, VipFlag } from '../../src/agent/dataplane/layout.ts';
import { openBalancer, type Balancer } from '../../src/agent/dataplane/loader.ts';
import { createRingMap } from '../../src/agent/dataplane/open-pinned.ts';
import { build } from '../../src/packet/build.ts';
import { clientFrame } from './harness/frames.ts';
import { startDecap } from '../../src/agent/dataplane/decap.ts';
import { detachDataplane } from '../../src/agent/dataplane/detach.ts';
import { startBalancer, type StartBalancerOptions } from '../../src/agent/dataplane/startup.ts';
import { vipBucketOf } from '../../src/agent/dataplane/vip-buckets.ts';
import { balancerPins, type BalancerPins } from '../../src/agent/dataplane/pin-layout.ts';
import type { Log } from '../../src/agent/runtime.ts';
import { forwardingCpus, readTopology } from '../../src/agent/host/topology.ts';
import { BpfMap } from '../../src/libbpf/libbpf.ts';
import { addVeth, compileBpf, removeVeth } from './harness/veth.ts';

/** The last commit of map layout 1 (global quic_servers); its bpf/ is built for the upgrade test (needs a full clone). */
const LAYOUT_V1_COMMIT = 'd3128faa3f734679e7ce05f8d3e0adc103b9692a';
/** The last commit of map layout 2 (no vip_buckets). */
const LAYOUT_V2_COMMIT = '834f6f2f85ceadaa19ff1e4316225bf4f7a5500b';

const tag = `${process.pid}${Math.random().toString(36).slice(2, 6)}`;
const veth = `stlc${tag}`.slice(0, 15);
const peer = `stlp${tag}`.slice(0, 15);
let bpffs: string;
let scratch: string;
let variant: string;
let ifindex: number;

const quiet: Log = { info: () => undefined, warn: () => undefined, error: () => undefined, debug: () => undefined };
const sizes = { maxVips: 4, maxReals: 17, ringSize: 13, lruSize: 256, fallbackLruSize: 256 };
const settings = {
  gatewayMac: '02:00:00:00:00:01',
  mtu: 0,
  gueDestinationPort: 6080,
  sourcePrefixV4: { address: '172.16.0.0', hostBits: 16 },
  sourcePrefixV6: { address: 'fd00:5354::', hostBits: 32 },
  udpTimeout: 30,
};
const options = (extra: Partial<StartBalancerOptions> = {}): StartBalancerOptions => ({
  interfaceName: veth,
  ifindex,
  bpffs,
  xdpMode: 'native',
  sizes,
  forwardingCpus: [{ cpu: 0, numaNode: 0 }, { cpu: 1, numaNode: 0 }],
  settings,
  log: quiet,
  ...extra,
});

beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'sterlet-lifecycle-'));
  // "Another build" of the balancer: same source, other instruction set level -> other tag.
  variant = compileBpf('bpf/balancer.bpf.c', join(scratch, 'balancer-v2.bpf.o'), 'v2');
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

beforeEach(() => {
  ifindex = addVeth(veth, peer);
  bpffs = join('/sys/fs/bpf', `sterlet-test-${tag}`);
});
afterEach(() => removeVeth(veth, bpffs));

function insertFlow(lruId: number): Buffer {
  const key = encodeFlowKey({ protocol: 'TCP', src: { address: '192.0.2.7', port: 5555 }, dst: { address: '10.200.0.10', port: 80 } });
  const lru = BpfMap.fromId(lruId);
  lru.update(key, encodeLruVal(3));
  lru.close();
  return key;
}

function lruOfCpu0(): number {
  const outer = BpfMap.fromPinned(balancerPins(bpffs).map('connTables'));
  const id = outer.lookup(u32(0))?.readUInt32LE(0) ?? 0;
  outer.close();
  return id;
}

/**
 * The balancer object of an older commit (scripts/bpf-at.sh), loaded with this
 * test's sizes: its layout recorded in settings, reals 2 and 3 written; the
 * caller pins and attaches it as that agent would have. This agent's loader
 * refuses the object without legacyLayout.
 */
function loadOldBuild(commit: string, layout: number): { pins: BalancerPins; old: Balancer } {
  const oldObject = join(scratch, `balancer-layout${layout}.bpf.o`);
  execFileSync('scripts/bpf-at.sh', [commit, oldObject], { stdio: 'ignore' });
  const pins = balancerPins(bpffs);
  mkdirSync(bpffs, { recursive: true });
  const ring = createRingMap(sizes);
  const old = openBalancer({ objectPath: oldObject, legacyLayout: true, sizes, forwardingCpus: [{ cpu: 0 }, { cpu: 1 }], reuseMaps: { ring: ring.fd } });
  ring.close();
  expect(old.layout).toBe(layout);
  expect(() => openBalancer({ objectPath: oldObject, sizes })).toThrow(expect.objectContaining({ code: 'DATAPLANE_OBJECT_LAYOUT', message: expect.stringContaining(`layout ${layout}`) }));
  old.maps.settings.update(u32(0), encodeSettings({ ...settings, layoutVersion: layout }));
  old.maps.reals.update(u32(2), encodeReal('10.0.1.12'));
  old.maps.reals.update(u32(3), encodeReal('10.0.1.13'));
  return { pins, old };
}

/** Records `layout` again (a crash after the swap, before the upgrade was recorded), restarts: adopted, the upgrade recorded. */
function restartAfterUnrecordedUpgrade(pins: BalancerPins, layout: number, programId: number): ReturnType<typeof startBalancer> {
  const s = BpfMap.fromPinned(pins.marker);
  s.update(u32(0), encodeSettings({ ...settings, layoutVersion: layout }));
  s.close();
  const again = startBalancer(options());
  expect(again).toMatchObject({ outcome: 'adopted', programId });
  expect(settingsLayoutVersion(again.maps.settings.lookup(u32(0)) ?? Buffer.alloc(40))).toBe(LAYOUT_VERSION);
  return again;
}

describe('balancer lifecycle', () => {
  it('creates, adopts without reload, upgrades atomically, and detaches', () => {
    const first = startBalancer(options());
    expect(first.outcome).toBe('created');
    expect(xdpQuery(ifindex)).toMatchObject({ progId: first.programId, mode: 'native' });
    expect(readdirSync(bpffs).sort()).toEqual(['balancer_prog', 'conn_tables', 'fallback_lru', 'quic_reals', 'reals', 'ring', 'settings', 'stats', 'vip_buckets', 'vips']);
    first.maps.reals.update(u32(1), Buffer.alloc(20, 1));
    const lruId = lruOfCpu0();
    expect(lruId).toBeGreaterThan(0);
    const flow = insertFlow(lruId);
    first.close();

    const again = startBalancer(options());
    expect(again.outcome).toBe('adopted');
    expect(again.programId).toBe(first.programId);
    expect(xdpQuery(ifindex).progId).toBe(first.programId);
    expect(again.maps.reals.lookup(u32(1))).toEqual(Buffer.alloc(20, 1));
    expect(lruOfCpu0()).toBe(lruId);
    again.close();

    const upgraded = startBalancer(options({ objectPath: variant }));
    expect(upgraded.outcome).toBe('upgraded');
    expect(upgraded.programId).not.toBe(first.programId);
    expect(upgraded.programTag).not.toBe(first.programTag);
    expect(xdpQuery(ifindex).progId).toBe(upgraded.programId);
    const pinned = BpfProgram.fromPinned(balancerPins(bpffs).program);
    expect(pinned.info().id).toBe(upgraded.programId);
    expect(pinned.info().mapIds).toContain(upgraded.maps.vips.info().id);
    pinned.close();
    expect(lruOfCpu0()).toBe(lruId);
    const lru = BpfMap.fromId(lruId);
    expect(lru.lookup(flow)?.readUInt32LE(0)).toBe(3);
    lru.close();
    upgraded.close();

    const result = detachDataplane({ interfaceName: veth, ifindex, bpffs });
    expect(result.detachedProgramId).toBe(upgraded.programId);
    expect(xdpQuery(ifindex).progId).toBe(0);
    expect(existsSync(join(bpffs, 'vips'))).toBe(false);
  });

  it('re-attaches pinned maps when the program was detached behind its back', () => {
    startBalancer(options()).close();
    execFileSync('ip', ['link', 'set', 'dev', veth, 'xdp', 'off']);
    const back = startBalancer(options());
    expect(back.outcome).toBe('reattached');
    expect(xdpQuery(ifindex).progId).toBe(back.programId);
    back.close();
  });

  it('refuses a pinned layout of another version, and maps sized differently', () => {
    const first = startBalancer(options());
    const settingsValue = first.maps.settings.lookup(u32(0)) ?? Buffer.alloc(40);
    const bumped = Buffer.from(settingsValue);
    bumped.writeUInt32LE(99, 0);
    first.maps.settings.update(u32(0), bumped);
    expect(() => startBalancer(options())).toThrow(expect.objectContaining({ code: 'AGENT_LAYOUT_MISMATCH', message: expect.stringMatching(/layout version 99.*needs 3.*sterlet detach/s) }));
    first.maps.settings.update(u32(0), settingsValue);
    expect(() => startBalancer(options({ sizes: { ...sizes, ringSize: 17 } }))).toThrow(
      expect.objectContaining({ code: 'AGENT_SIZE_MISMATCH', message: expect.stringContaining('ringSize 13 pinned vs 17 configured') }),
    );
    // Nothing was recreated: the same program is still attached.
    expect(xdpQuery(ifindex).progId).toBe(first.programId);
    first.close();
  });

  it('refuses to take over an interface another XDP program owns, but finishes its own interrupted start', () => {
    const other = join(bpffs, '..', `sterlet-test-other-${tag}`);
    const first = startBalancer(options({ bpffs: other }));
    try {
      expect(() => startBalancer(options())).toThrow(expect.objectContaining({ code: 'AGENT_XDP_BUSY' }));
      expect(xdpQuery(ifindex).progId).toBe(first.programId);
      // A start of ours that died before pinning its completion marker is redone.
      rmSync(join(other, 'settings'));
      const redo = startBalancer(options({ bpffs: other }));
      expect(redo.outcome).toBe('created');
      expect(xdpQuery(ifindex).progId).toBe(redo.programId);
      expect(redo.programId).not.toBe(first.programId);
      redo.close();
    } finally {
      first.close();
      rmSync(other, { recursive: true, force: true });
    }
  });

  it('upgrades pins of map layout 1 (global QUIC table): same maps and connections, QUIC ids carried over per VIP, atomic swap', () => {
    // The dataplane as the layout-1 agent left it: its own object, pinned and attached.
    const { pins, old } = loadOldBuild(LAYOUT_V1_COMMIT, LAYOUT_V1);
    const quicVip = { address: '10.200.0.20', port: 443, protocol: 'UDP' as const };
    const m = old.maps;
    m.vips.update(encodeVipKey({ address: '10.200.0.10', port: 80, protocol: 'TCP' }), encodeVipMeta(0, 0));
    m.vips.update(encodeVipKey(quicVip), encodeVipMeta(VipFlag.quic, 1));
    const { keys, values, count } = encodeRing(1, Array.from({ length: sizes.ringSize }, () => 3));
    m.ring.updateBatch(keys, values, count);
    m.quicReals.update(u32(7), u32(2)); // layout 1: server id 7 -> real 2, for every VIP
    for (const name of ['vips', 'reals', 'ring', 'connTables', 'fallbackLru', 'stats'] as const) m[name].pin(pins.map(name));
    m.quicReals.pin(join(bpffs, 'quic_servers'));
    const oldProgram = old.program();
    xdpAttach(ifindex, oldProgram.fd, { mode: 'native' });
    oldProgram.pin(pins.program);
    m.settings.pin(pins.marker);
    const oldId = oldProgram.info().id;
    const vipsId = m.vips.info().id;
    old.close();
    const lruId = lruOfCpu0();
    const flow = insertFlow(lruId);

    const up = startBalancer(options());
    expect(up.outcome).toBe('upgraded');
    expect(up.programId).not.toBe(oldId);
    expect(xdpQuery(ifindex).progId).toBe(up.programId);
    expect(up.maps.vips.info().id).toBe(vipsId);
    expect(readdirSync(bpffs).sort()).toEqual(['balancer_prog', 'conn_tables', 'fallback_lru', 'quic_reals', 'reals', 'ring', 'settings', 'stats', 'vip_buckets', 'vips']);
    expect(settingsLayoutVersion(up.maps.settings.lookup(u32(0)) ?? Buffer.alloc(40))).toBe(LAYOUT_VERSION);
    expect([...up.maps.quicReals.entries()].map(([k, v]) => [decodeQuicKey(k), v.readUInt32LE(0)])).toEqual([[{ vipIndex: 1, serverId: 7 }, 2]]);
    // Layout 3's mirror of vips, filled from the pinned vips: the QUIC VIP's bucket holds its key and meta.
    const quicKey = encodeVipKey(quicVip);
    expect(up.maps.vipBuckets?.lookup(u32(vipBucketOf(quicKey)))).toEqual(Buffer.concat([quicKey, encodeVipMeta(VipFlag.quic, 1), u32(1)]));
    expect(lruOfCpu0()).toBe(lruId);
    const lru = BpfMap.fromId(lruId);
    expect(lru.lookup(flow)?.readUInt32LE(0)).toBe(3);
    lru.close();
    // The attached (new) program routes the carried-over id: id 7 -> 10.0.1.12, not the ring's 10.0.1.13.
    const frame = build(clientFrame({ protocol: 'UDP', src: '192.0.2.7', sport: 4433, dst: quicVip.address, dport: 443 }, { payload: { kind: 'quic-short', dcid: Buffer.from([0x55, 0, 7, 1, 2, 3, 4, 5]) } }));
    const attached = BpfProgram.fromPinned(pins.program);
    const out = attached.testRun({ data: frame });
    attached.close();
    expect(out.retval).toBe(XdpAction.TX);
    expect(Buffer.from(out.data).subarray(30, 34).join('.')).toBe('10.0.1.12');
    up.close();

    // A crash after the swap but before layout 2 was recorded: the next start finishes the upgrade without a reload.
    const again = restartAfterUnrecordedUpgrade(pins, LAYOUT_V1, up.programId);
    expect([...again.maps.quicReals.keys()]).toHaveLength(1);
    again.close();
  });

  it('upgrades pins of map layout 2: connection tables kept and forwarded by, vip_buckets filled from vips before the swap', () => {
    const { pins, old } = loadOldBuild(LAYOUT_V2_COMMIT, LAYOUT_V2);
    const m = old.maps;
    m.vips.update(encodeVipKey({ address: '10.200.0.10', port: 80, protocol: 'TCP' }), encodeVipMeta(0, 0));
    const { keys, values, count } = encodeRing(0, Array.from({ length: sizes.ringSize }, () => 2));
    m.ring.updateBatch(keys, values, count);
    for (const name of ['vips', 'reals', 'ring', 'connTables', 'fallbackLru', 'quicReals', 'stats'] as const) m[name].pin(pins.map(name));
    const oldProgram = old.program();
    xdpAttach(ifindex, oldProgram.fd, { mode: 'native' });
    oldProgram.pin(pins.program);
    m.settings.pin(pins.marker);
    const oldId = oldProgram.info().id;
    // A tracked flow on real 3 in both CPUs' tables (the ring alone would say real 2).
    const lruIds = [0, 1].map((cpu) => old.lrus.get(cpu)!.info().id);
    old.close();
    const flow = lruIds.map((id) => insertFlow(id))[0]!;

    const up = startBalancer(options());
    expect(up.outcome).toBe('upgraded');
    expect(up.programId).not.toBe(oldId);
    expect(xdpQuery(ifindex).progId).toBe(up.programId);
    expect(readdirSync(bpffs).sort()).toEqual(['balancer_prog', 'conn_tables', 'fallback_lru', 'quic_reals', 'reals', 'ring', 'settings', 'stats', 'vip_buckets', 'vips']);
    expect(settingsLayoutVersion(up.maps.settings.lookup(u32(0)) ?? Buffer.alloc(40))).toBe(LAYOUT_VERSION);
    const webKey = encodeVipKey({ address: '10.200.0.10', port: 80, protocol: 'TCP' });
    expect(up.maps.vipBuckets?.lookup(u32(vipBucketOf(webKey)))).toEqual(Buffer.concat([webKey, encodeVipMeta(0, 0), u32(1)]));
    const bucketsId = up.maps.vipBuckets?.info().id;
    expect(lruOfCpu0()).toBe(lruIds[0]);

    // The new program finds the VIP in its bucket and forwards by the layout-2 entry (real 3; the ring says 2), twice alike.
    const frame = build(clientFrame({ protocol: 'TCP', src: '192.0.2.7', sport: 5555, dst: '10.200.0.10', dport: 80 }, { flags: 'A' }));
    const attached = BpfProgram.fromPinned(pins.program);
    const outs = [0, 1].map(() => attached.testRun({ data: frame }));
    attached.close();
    for (const out of outs) {
      expect(out.retval).toBe(XdpAction.TX);
      expect(Buffer.from(out.data).subarray(30, 34).join('.')).toBe('10.0.1.13');
    }
    expect(Buffer.from(outs[1]!.data)).toEqual(Buffer.from(outs[0]!.data));
    const entries = lruIds.map((id) => {
      const t = BpfMap.fromId(id);
      const v = t.lookup(flow);
      t.close();
      return decodeLruVal(v ?? Buffer.alloc(Size.lruVal));
    });
    expect(entries.map((e) => e.real)).toEqual([3, 3]);
    up.close();

    // A crash after the swap but before layout 3 was recorded: the next start reuses the pinned vip_buckets.
    const again = restartAfterUnrecordedUpgrade(pins, LAYOUT_V2, up.programId);
    expect(again.maps.vipBuckets?.info().id).toBe(bucketsId);
    again.close();
  });

  it('names the CPU and the NUMA node when the node does not exist (fake sysfs claiming node 5)', async () => {
    const root = join(scratch, 'sysfs-node5');
    mkdirSync(join(root, 'devices/system/cpu/cpu0/node5'), { recursive: true });
    mkdirSync(join(root, 'devices/system/cpu/cpu1/node5'), { recursive: true });
    writeFileSync(join(root, 'devices/system/cpu/online'), '0-1\n');
    const cpus = forwardingCpus(await readTopology({ sysfsRoot: root })).map((c) => ({ cpu: c.cpu, numaNode: c.node }));
    expect(cpus).toEqual([{ cpu: 0, numaNode: 5 }, { cpu: 1, numaNode: 5 }]);
    expect(() => startBalancer(options({ forwardingCpus: cpus }))).toThrow(
      expect.objectContaining({ code: 'AGENT_NUMA_NODE', message: expect.stringMatching(/CPU 0 on NUMA node 5/) }),
    );
    expect(xdpQuery(ifindex).progId).toBe(0);
    expect(existsSync(join(bpffs, 'settings'))).toBe(false);
  });
});

describe('decap lifecycle', () => {
  it('creates, adopts, syncs local addresses, and detaches', () => {
    const decapDir = `${bpffs}-decap`;
    const o = { interfaceName: veth, ifindex, bpffs: decapDir, xdpMode: 'native' as const, gueDestinationPort: 6080, log: quiet };
    try {
      const first = startDecap({ ...o, localAddresses: ['10.0.1.11', 'fd00:1::11'] });
      expect(first.outcome).toBe('created');
      expect(xdpQuery(ifindex).progId).toBe(first.programId);
      const again = startDecap({ ...o, localAddresses: ['10.0.1.11'] });
      expect(again).toMatchObject({ outcome: 'adopted', programId: first.programId });
      const addrs = BpfMap.fromPinned(join(decapDir, 'decap_addrs'));
      expect([...addrs.keys()].length).toBe(1);
      addrs.close();
      const result = detachDataplane({ interfaceName: veth, ifindex, bpffs: decapDir });
      expect(result.detachedProgramId).toBe(first.programId);
      expect(xdpQuery(ifindex).progId).toBe(0);
    } finally {
      rmSync(decapDir, { recursive: true, force: true });
    }
  });
});
