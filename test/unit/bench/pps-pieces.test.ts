// The pure pieces of bench-pps: the frames the generator sends, the
// kube-proxy-shaped nftables rule set, and the parsers of what the rig reads
// from the kernel (ethtool -S, /proc/PID/stat, /proc/stat).
import { describe, expect, it } from 'vitest';
import { encodeFrameFile, flowFrames } from '../../../bench/lib/frames.ts';
import { kubeProxyRuleset, type KubeService } from '../../../bench/lib/kube-nft.ts';
import { cpuTimes, threadCpuNs, xdpDrops } from '../../../bench/lib/pps-rig.ts';
import { parseFrame, verifyChecksums } from '../../../src/packet/index.ts';

const set = { dstMac: '02:00:00:00:00:02', srcMac: '02:00:00:00:00:01', vip: '10.200.0.10', port: 80, flags: 'A' } as const;

describe('flowFrames', () => {
  it('builds one valid TCP frame per distinct flow to the VIP', () => {
    const frames = flowFrames({ ...set, flows: 300 });
    expect(frames).toHaveLength(300);
    const tuples = new Set<string>();
    for (const f of frames) {
      expect(verifyChecksums(f)).toEqual([]);
      const eth = parseFrame(f);
      const ip = eth.payload as { kind: string; src: string; dst: string; payload: { kind: string; sport: number; dport: number } };
      expect([ip.kind, ip.dst, ip.payload.kind, ip.payload.dport]).toEqual(['ipv4', '10.200.0.10', 'tcp', 80]);
      tuples.add(`${ip.src}:${String(ip.payload.sport)}`);
    }
    expect(tuples.size).toBe(300);
    expect(parseFrame(frames[257]!).payload).toMatchObject({ src: '198.18.1.1' });
  });

  it('refuses a flow count outside 1..65536, naming the field', () => {
    expect(() => flowFrames({ ...set, flows: 0 })).toThrow(/flows must be an integer in 1\.\.65536/);
    expect(() => flowFrames({ ...set, flows: 65537 })).toThrow(/flows/);
  });
});

describe('encodeFrameFile', () => {
  it('writes [u16 LE length][bytes] records', () => {
    const out = encodeFrameFile([Buffer.alloc(14, 1), Buffer.alloc(300, 2)]);
    expect(out.length).toBe(2 + 14 + 2 + 300);
    expect(out.readUInt16LE(0)).toBe(14);
    expect(out.readUInt16LE(16)).toBe(300);
    expect(out[18]).toBe(2);
    expect(() => encodeFrameFile([Buffer.alloc(10)])).toThrow(/14\.\.1984/);
  });
});

describe('kubeProxyRuleset', () => {
  const svc: KubeService = {
    table: 'sterlet-bench-x',
    name: 'bench/web',
    address: '10.200.0.10',
    port: 80,
    clusterCidr: '10.244.0.0/16',
    endpoints: ['10.251.0.1', '10.251.0.2', '10.251.0.3'].map((address) => ({ address, port: 8080 })),
  };

  it('has kube-proxy nftables mode shape: service-ips vmap, numgen over the endpoints, one DNAT chain each, masquerade', () => {
    const text = kubeProxyRuleset(svc);
    expect(text).toContain('table ip sterlet-bench-x {');
    expect(text).toContain('ip daddr . meta l4proto . th dport vmap @service-ips');
    expect(text).toContain('numgen random mod 3 vmap {');
    expect(text.match(/dnat to 10\.251\.0\.\d:8080/g)).toEqual(['dnat to 10.251.0.1:8080', 'dnat to 10.251.0.2:8080', 'dnat to 10.251.0.3:8080']);
    expect(text).toContain('masquerade fully-random');
    expect(text).toContain('add element ip sterlet-bench-x service-ips { 10.200.0.10 . tcp . 80 : goto external-ULMVA6XW-bench/web/tcp/p80 }');
  });

  it('names the bad field', () => {
    expect(() => kubeProxyRuleset({ ...svc, address: '10.200.0' })).toThrow(/^address:/);
    expect(() => kubeProxyRuleset({ ...svc, endpoints: [] })).toThrow(/^endpoints: at least one/);
    expect(() => kubeProxyRuleset({ ...svc, port: 0 })).toThrow(/^port:/);
    expect(() => kubeProxyRuleset({ ...svc, table: 'Bad Table' })).toThrow(/^table:/);
    expect(() => kubeProxyRuleset({ ...svc, clusterCidr: '10.244.0.0' })).toThrow(/^clusterCidr:/);
  });
});

describe('kernel readers', () => {
  it('xdpDrops sums every queue and refuses output without the counter', () => {
    expect(xdpDrops('NIC statistics:\n     rx_queue_0_xdp_drops: 12\n     rx_queue_1_xdp_drops: 30\n     rx_queue_0_drops: 5\n')).toBe(42n);
    expect(() => xdpDrops('NIC statistics:\n     rx_packets: 1\n')).toThrow(/xdp_drops/);
  });

  it('threadCpuNs reads utime+stime after a comm with spaces and parentheses', () => {
    const fields = ['S', ...Array.from({ length: 10 }, () => '0'), '7', '93', '0'];
    expect(threadCpuNs(`42 (napi/a (b)-1) ${fields.join(' ')}`)).toBe(1e9);
  });

  it('cpuTimes splits busy, softirq and total of one CPU', () => {
    const stat = 'cpu  9 9 9 9 9 9 9 9 0 0\ncpu0 1 1 1 1 1 1 1 0 0 0\ncpu1 10 0 20 60 5 1 4 0 0 0\n';
    expect(cpuTimes(stat, 1)).toEqual({ busy: 35, softirq: 4, total: 100 });
    expect(() => cpuTimes(stat, 2)).toThrow(/cpu2/);
  });
});
