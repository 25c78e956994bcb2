// The health-check tc egress program through BPF_PROG_TEST_RUN: a marked
// probe leaves with exactly the outer header the balancer would write for
// its real (IPIP, GUE, 4-in-6), unmarked traffic is untouched, and the
// backend's decap program turns the probe back into the original packet.
import { spawnSync } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { BpfProgram } from '../../src/libbpf/libbpf.ts';
import { u32 } from '../../src/agent/dataplane/codec.ts';
import { encodeHcReal, encodeHcSettings, HcStat, loadProbeProgram, MARK_BASE, MarkTable, syncMarks, type ProbeProgram, type RealRef } from '../../src/agent/health/tunnel.ts';
import { eth, gue, ipv4, ipv6, tcp, udp } from '../../src/packet/index.ts';
import { build } from '../../src/packet/build.ts';
import { verifyChecksums } from '../../src/packet/parse.ts';
import { DecapEnv, LOCAL4, LOCAL6 } from './harness/decap-env.ts';
import { GUE_PORT } from './harness/world.ts';
import { oraclePython } from './fuzz/differential.ts';

const TC_ACT_OK = 0;
const LB_MAC = '02:00:00:00:00:01';
const GW_MAC = '02:00:00:00:00:fe';
const VIP = '10.200.0.10';
const LB = '10.111.1.2';
const SRC4 = '172.16.0.1';
const SRC6 = 'fd00:5354::1';

/** struct __sk_buff up to and including `mark` (len and pkt_type must be zero). */
function ctxWithMark(mark: number): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt32LE(mark >>> 0, 8);
  return b;
}

const VIP6 = 'fd00:200::10';
const LB6 = 'fd00:111::2';

/**
 * The outer UDP checksum of each IPv6 frame as scapy computes it (in6_chksum
 * over the datagram with its checksum zeroed) next to the one in the frame:
 * an independent check, the fuzz oracle's tool, not src/packet.
 */
function scapyUdp6Checksums(frames: readonly Buffer[]): { got: number; want: number }[] {
  const script = [
    'import json, sys',
    'from scapy.layers.inet6 import IPv6, in6_chksum',
    'out = []',
    'for h in sys.argv[1:]:',
    '    b = bytes.fromhex(h)',
    '    ip = IPv6(b[14:54])',
    '    assert ip.nh == 17, ip.nh',
    '    dgram = bytearray(b[54:54 + ip.plen])',
    '    got = int.from_bytes(dgram[6:8], "big")',
    '    dgram[6:8] = b"\\x00\\x00"',
    '    want = in6_chksum(17, ip, bytes(dgram)) or 0xffff',
    '    out.append({"got": got, "want": want})',
    'print(json.dumps(out))',
  ].join('\n');
  const r = spawnSync(oraclePython(), ['-c', script, ...frames.map((f) => f.toString('hex'))], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`scapy check failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as { got: number; want: number }[];
}

const syn = () => ipv4({ src: LB, dst: VIP, ttl: 64, df: true, id: 7 }, tcp({ sport: 40000, dport: 80, seq: 1, flags: 'S' }));
const probeFrame = () => eth({ src: LB_MAC, dst: GW_MAC }, syn());

describe('healthcheck tc egress program', () => {
  let prog: ProbeProgram | undefined;
  let program: BpfProgram | undefined;
  let decap: DecapEnv | undefined;
  afterEach(() => {
    program?.close();
    prog?.close();
    decap?.close();
    prog = program = decap = undefined;
  });

  function setup(): BpfProgram {
    prog = loadProbeProgram();
    prog.cfg.update(u32(0), encodeHcSettings({ sourceV4: SRC4, sourceV6: SRC6, gueDestinationPort: GUE_PORT }));
    prog.reals.update(u32(MARK_BASE), encodeHcReal({ address: LOCAL4, encapsulation: 'IPIP' }));
    prog.reals.update(u32(MARK_BASE + 1), encodeHcReal({ address: LOCAL4, encapsulation: 'GUE' }));
    prog.reals.update(u32(MARK_BASE + 2), encodeHcReal({ address: LOCAL6, encapsulation: 'IPIP' }));
    prog.reals.update(u32(MARK_BASE + 3), encodeHcReal({ address: LOCAL6, encapsulation: 'GUE' }));
    program = new BpfProgram(prog.programFd, { owned: false });
    return program;
  }

  function run(mark: number, frame = build(probeFrame())): { retval: number; data: Buffer } {
    const r = (program ?? setup()).testRun({ data: frame, ctxIn: ctxWithMark(mark) });
    return { retval: r.retval, data: Buffer.from(r.data) };
  }

  function count(i: number): number {
    return (prog?.stats.lookupPerCpu(u32(i)) ?? []).reduce((s, v) => s + Number(v.readBigUInt64LE(0)), 0);
  }

  it('IPIP: prepends the outer IPv4 header toward the real, inner packet untouched', () => {
    const out = run(MARK_BASE);
    expect(out.retval).toBe(TC_ACT_OK);
    const want = build(eth({ src: LB_MAC, dst: GW_MAC }, ipv4({ src: SRC4, dst: LOCAL4, ttl: 64, id: 0, df: false }, syn())));
    expect(out.data.toString('hex')).toBe(want.toString('hex'));
    expect(verifyChecksums(out.data)).toEqual([]);
    expect(count(HcStat.encap)).toBe(1);
  });

  it('GUE: outer IPv4 + UDP to the GUE port + a version-0 header', () => {
    const out = run(MARK_BASE + 1);
    expect(out.retval).toBe(TC_ACT_OK);
    const sport = out.data.readUInt16BE(14 + 20);
    expect(sport & 0xc000).toBe(0xc000);
    const want = build(
      eth({ src: LB_MAC, dst: GW_MAC }, ipv4({ src: SRC4, dst: LOCAL4, ttl: 64, id: 0, df: false }, udp({ sport, dport: GUE_PORT, checksum: 0 }, gue(syn())))),
    );
    expect(out.data.toString('hex')).toBe(want.toString('hex'));
  });

  it('4-in-6: an IPv6 real gets an outer IPv6 header and the IPv6 ethertype', () => {
    const out = run(MARK_BASE + 2);
    expect(out.retval).toBe(TC_ACT_OK);
    const flowLabel = out.data.readUInt32BE(14) & 0xfffff;
    const want = build(eth({ src: LB_MAC, dst: GW_MAC }, ipv6({ src: SRC6, dst: LOCAL6, hopLimit: 64, flowLabel }, syn())));
    expect(out.data.toString('hex')).toBe(want.toString('hex'));
  });

  // RFC 8200 forbids a zero UDP checksum over IPv6: the program sums the outer
  // pseudo-header, UDP and GUE headers and the inner packet's share (from its
  // IP header, as the balancer does); src/packet and scapy both check it.
  const syn6 = () => ipv6({ src: LB6, dst: VIP6, hopLimit: 64 }, tcp({ sport: 40000, dport: 80, seq: 1, flags: 'S' }));
  const get6 = () => ipv6({ src: LB6, dst: VIP6, hopLimit: 64 }, tcp({ sport: 40000, dport: 80, seq: 2, ack: 9, flags: 'PA' }, Buffer.from('GET /healthz HTTP/1.0\r\nHost: [fd00:200::10]\r\n\r\n')));
  it.each([
    ['IPv6 SYN', syn6],
    ['IPv6 segment with an HTTP request', get6],
    ['IPv4 SYN (4-in-6)', syn],
  ])('GUE over IPv6, %s: the outer UDP checksum is computed, not 0', (_name, inner) => {
    const frame = build(eth({ src: LB_MAC, dst: GW_MAC }, inner()));
    const out = run(MARK_BASE + 3, frame);
    expect(out.retval).toBe(TC_ACT_OK);
    const flowLabel = out.data.readUInt32BE(14) & 0xfffff;
    const sport = out.data.readUInt16BE(14 + 40);
    // The builder computes the UDP checksum over the whole datagram.
    const want = build(eth({ src: LB_MAC, dst: GW_MAC }, ipv6({ src: SRC6, dst: LOCAL6, hopLimit: 64, flowLabel }, udp({ sport, dport: GUE_PORT }, gue(inner())))));
    expect(out.data.toString('hex')).toBe(want.toString('hex'));
    expect(out.data.readUInt16BE(14 + 40 + 6)).not.toBe(0);
    expect(verifyChecksums(out.data)).toEqual([]);
    const [scapy] = scapyUdp6Checksums([out.data]);
    expect(scapy?.got).toBe(scapy?.want);
  });

  it('leaves unmarked traffic and foreign marks alone (counting the latter)', () => {
    const frame = build(probeFrame());
    expect(run(0, frame).data.toString('hex')).toBe(frame.toString('hex'));
    expect(run(0x4000, frame).data.toString('hex')).toBe(frame.toString('hex'));
    expect(count(HcStat.noReal)).toBe(1);
    expect(count(HcStat.encap)).toBe(0);
  });

  it.each([
    ['IPIP', MARK_BASE],
    ['GUE', MARK_BASE + 1],
    ['4-in-6', MARK_BASE + 2],
    ['4-in-6 GUE', MARK_BASE + 3],
  ])('%s: the backend decap program restores the original probe (what the backend kernel sees)', (_name, mark) => {
    const out = run(mark);
    decap = new DecapEnv();
    const back = decap.run(out.data);
    expect(back.retval).toBe(2); // XDP_PASS to the backend's stack
    expect(back.data.subarray(12).toString('hex')).toBe(build(probeFrame()).subarray(12).toString('hex'));
  });

  it('syncs marks into the kernel map in batches: every wanted real under its mark, nothing else', () => {
    prog = loadProbeProgram();
    const reals = prog.reals;
    const table = new MarkTable();
    const real = (n: number, encapsulation: RealRef['encapsulation'] = 'IPIP'): RealRef => ({ address: `10.${1 + (n >> 16)}.${(n >> 8) & 255}.${n & 255}`, encapsulation });
    const inMap = (): Map<number, string> => {
      const all = reals.lookupBatch();
      return new Map(Array.from({ length: all.count }, (_, i) => [all.keys.readUInt32LE(i * 4), all.values.subarray(i * 20, i * 20 + 20).toString('hex')]));
    };
    const expectMapIs = (wanted: readonly RealRef[]): void => {
      const got = inMap();
      expect(got.size).toBe(wanted.length);
      for (const r of wanted) expect(got.get(table.markFor(r) ?? -1), r.address).toBe(encodeHcReal(r).toString('hex'));
    };
    // More than one batch of 4096, IPv4 and IPv6, IPIP and GUE.
    const first = [...Array.from({ length: 9000 }, (_, n) => real(n)), real(7, 'GUE'), { address: 'fd00::7', encapsulation: 'IPIP' as const }];
    syncMarks(table, reals, first);
    expectMapIs(first);
    const second = [...first.slice(4000), ...Array.from({ length: 100 }, (_, n) => real(20_000 + n))];
    syncMarks(table, reals, second);
    expectMapIs(second);
  });
});
