// The kernel-facing pieces of bench-pps, on real veths in namespaces of their
// own: the generator's --flood frames are valid new flows, what it reports as
// sent arrives on the far side of the veth (counted by the sink XDP program),
// and the kube-proxy-shaped nftables rule set loads and DNATs forwarded SYNs.
// The XDP generator (pktgen --xdp, bench/pktgen/gen.bpf.c) stamps exactly the
// packets the AF_PACKET generator sends, refuses frames it cannot stamp, and
// its live frames cross each of the three dataplanes (Sterlet's XDP,
// kube-proxy-shaped nftables, kernel forwarding) and are counted where they
// arrive back at the router. Counts only, no rates.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flowFrames, writeFrameFile } from '../../bench/lib/frames.ts';
import { kubeProxyRuleset } from '../../bench/lib/kube-nft.ts';
import { lruStats, setUpDataplane, type Dataplane } from '../../bench/lib/pps-dataplane.ts';
import { ENDPOINTS, PpsPair, VIP, VIP_PORT } from '../../bench/lib/pps-rig.ts';
import { parseFrame, verifyChecksums } from '../../src/packet/index.ts';
import { REPO_ROOT, run } from '../support/exec.ts';
import { ethtoolStat, settle } from '../support/e2e/counters.ts';
import { uniqueRunId } from '../support/e2e/names.ts';

const PKTGEN = join(REPO_ROOT, 'build/bench/pktgen');
const GEN = join(REPO_ROOT, 'build/bench/gen.bpf.o');
const id = uniqueRunId();
const tag = id.slice(-6);
let scratch = '';
let serial = 0;
const pairs: PpsPair[] = [];

beforeAll(async () => {
  await promisify(execFile)('make', ['-C', REPO_ROOT, '-s', 'bpf', 'build/bench/pktgen', 'build/bench/gen.bpf.o']);
  scratch = await mkdtemp(join(tmpdir(), `${id}-`));
}, 300_000);

afterAll(async () => {
  for (const p of pairs) await p.destroy();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

async function pair(): Promise<PpsPair> {
  const n = String(serial++);
  const p = new PpsPair({ router: `${id}-r${n}`, lb: `${id}-b${n}`, routerIf: `t${tag}r${n}`, lbIf: `t${tag}b${n}` });
  pairs.push(p);
  await p.create();
  return p;
}

async function framesFile(name: string, frames: Buffer[]): Promise<string> {
  const file = join(scratch, name);
  await writeFrameFile(file, frames);
  return file;
}

describe('bench-pps pieces on the real kernel', () => {
  it('--flood gives every packet a new source with correct IPv4 and TCP checksums', async () => {
    const file = await framesFile('syn.frames', flowFrames({ dstMac: '02:00:00:00:00:02', srcMac: '02:00:00:00:00:01', vip: VIP, port: VIP_PORT, flows: 1, flags: 'S' }));
    const { stdout } = await run([PKTGEN, '--frames', file, '--dump', '3000', '--flood']);
    const frames = stdout.trim().split('\n').map((h) => Buffer.from(h, 'hex'));
    expect(frames).toHaveLength(3000);
    const sources = new Set<string>();
    for (const f of frames) {
      expect(verifyChecksums(f)).toEqual([]);
      const ip = parseFrame(f).payload as { src: string; dst: string; payload: { sport: number; dport: number } };
      expect([ip.dst, ip.payload.dport]).toEqual([VIP, VIP_PORT]);
      sources.add(`${ip.src}:${String(ip.payload.sport)}`);
    }
    expect(sources.size).toBe(3000);
  });

  it('refuses --flood on a frame that is not IPv4/TCP', async () => {
    const file = await framesFile('short.frames', [Buffer.alloc(60)]);
    await expect(run([PKTGEN, '--frames', file, '--dump', '1', '--flood'])).rejects.toThrow(/--flood needs Ethernet\/IPv4\/TCP frames/);
  });

  it('what the generator reports as sent arrives at the far veth', async () => {
    const p = await pair();
    const file = await framesFile('lru.frames', flowFrames({ dstMac: p.routerMac, srcMac: p.lbMac, vip: VIP, port: VIP_PORT, flows: 64, flags: 'A' }));
    const before = await run(['ethtool', '-S', p.names.routerIf], { netns: p.names.router });
    const { stdout } = await run(['ip', 'netns', 'exec', p.names.lb, PKTGEN, '--iface', p.names.lbIf, '--frames', file, '--seconds', '5', '--count', '20000']);
    const sent = BigInt((JSON.parse(stdout) as { sent: number }).sent);
    const stats = async (): Promise<{ arrived: bigint; ringDrops: bigint }> => {
      const after = await run(['ethtool', '-S', p.names.routerIf], { netns: p.names.router });
      return {
        arrived: ethtoolStat(after.stdout, 'rx_queue_0_xdp_drops') - ethtoolStat(before.stdout, 'rx_queue_0_xdp_drops'),
        ringDrops: ethtoolStat(after.stdout, 'rx_queue_0_drops') - ethtoolStat(before.stdout, 'rx_queue_0_drops'),
      };
    };
    expect(sent).toBe(20000n);
    await settle(async () => { const s = await stats(); return s.arrived + s.ringDrops; }, sent);
    const { arrived, ringDrops } = await stats();
    expect(arrived + ringDrops).toBe(sent);
    expect(arrived).toBeGreaterThan(0n);
  });

  it('the kube-proxy-shaped rule set loads and every forwarded SYN is DNATed to an endpoint', async () => {
    const p = await pair();
    await p.enableGro();
    const table = `sterlet-test-${tag}`;
    const rules = join(scratch, 'kube.nft');
    await writeFile(rules, kubeProxyRuleset({ table, name: 'bench/web', address: VIP, port: VIP_PORT, clusterCidr: '10.244.0.0/16', endpoints: ENDPOINTS.map((address) => ({ address, port: VIP_PORT })) }));
    await run(['nft', '-f', rules], { netns: p.names.lb });
    // Count what each endpoint chain DNATs (a counter before the dnat), to see the split.
    for (const [i, e] of ENDPOINTS.entries()) {
      await run(['nft', 'insert', 'rule', 'ip', table, `endpoint-${String(i).padStart(8, 'X')}-bench/web/tcp/p80__${e}/80`, 'counter'], { netns: p.names.lb });
    }
    const file = await framesFile('flood.frames', flowFrames({ dstMac: p.lbMac, srcMac: p.routerMac, vip: VIP, port: VIP_PORT, flows: 1, flags: 'S' }));
    const before = await p.forwarded();
    await run(['ip', 'netns', 'exec', p.names.router, PKTGEN, '--iface', p.names.routerIf, '--frames', file, '--seconds', '5', '--count', '300', '--flood']);
    expect(await settle(async () => (await p.forwarded()) - before, 300n)).toBe(300n);
    const { stdout } = await run(['nft', 'list', 'table', 'ip', table], { netns: p.names.lb });
    const perEndpoint = [...stdout.matchAll(/counter packets (\d+)/g)].map((m) => Number(m[1]));
    expect(perEndpoint).toHaveLength(3);
    expect(perEndpoint.reduce((a, b) => a + b, 0)).toBe(300);
    for (const n of perEndpoint) expect(n).toBeGreaterThan(30);
  });
});

const MACS = { dstMac: '02:00:00:00:00:02', srcMac: '02:00:00:00:00:01', vip: VIP, port: VIP_PORT };

describe('pktgen --xdp', () => {
  it.each([
    ['LRU-hit flows (the frames in turn)', 'A', 100, [] as string[], 250],
    ['a new source per packet (--flood)', 'S', 1, ['--flood'], 3000],
  ] as const)('stamps byte for byte what the AF_PACKET generator sends: %s', async (_what, flags, flows, extra, n) => {
    const file = await framesFile(`dump-${flags}.frames`, flowFrames({ ...MACS, flows, flags }));
    const dump = async (gen: string[]): Promise<string[]> => (await run([PKTGEN, '--frames', file, '--dump', String(n), ...extra, ...gen])).stdout.trim().split('\n');
    const xdp = await dump(['--xdp', GEN]);
    expect(xdp).toHaveLength(n);
    expect(xdp).toEqual(await dump([]));
    expect(new Set(xdp).size).toBe(Math.min(n, flags === 'S' ? n : flows));
  });

  it('refuses frames that differ in more than source address and port', async () => {
    const [a, b] = flowFrames({ ...MACS, flows: 2, flags: 'A' });
    const other = Buffer.from(b!);
    other[14 + 8] = 7; // TTL
    const file = await framesFile('mixed.frames', [a!, other]);
    await expect(run([PKTGEN, '--frames', file, '--dump', '1', '--xdp', GEN])).rejects.toThrow(/differ only in IPv4 source, TCP source port/);
  });
});

describe('pktgen --xdp live frames through each dataplane', () => {
  const SENT = 20000n;
  it.each(['sterlet', 'nftables', 'forward'] as const)('%s: every frame sent is forwarded and counted at the router, or counted as dropped', async (dp: Dataplane) => {
    const p = await pair();
    const bpffs = await setUpDataplane(p, dp, { scratch, tag, id: p.names.lb });
    const file = await framesFile(`live-${dp}.frames`, flowFrames({ dstMac: p.lbMac, srcMac: p.routerMac, vip: VIP, port: VIP_PORT, flows: 1, flags: 'S' }));
    const lru0 = bpffs === undefined ? undefined : await lruStats(p, bpffs);
    const before = await run(['ethtool', '-S', p.names.routerIf], { netns: p.names.router });
    const { stdout } = await run(['ip', 'netns', 'exec', p.names.router, PKTGEN, '--iface', p.names.routerIf, '--frames', file,
      '--cpu', '0', '--flood', '--seconds', '10', '--count', String(SENT), '--xdp', GEN]);
    expect(BigInt((JSON.parse(stdout) as { sent: number }).sent)).toBe(SENT);
    const stats = async (): Promise<{ arrived: bigint; dropped: bigint }> => {
      const after = await run(['ethtool', '-S', p.names.routerIf], { netns: p.names.router });
      const d = (name: string): bigint => ethtoolStat(after.stdout, name) - ethtoolStat(before.stdout, name);
      // Lost on the way out (the lb's ring full) or on the way back (the router's).
      return { arrived: d('rx_queue_0_xdp_drops'), dropped: d('tx_queue_0_xdp_xmit_errors') + d('rx_queue_0_drops') };
    };
    expect(await settle(async () => { const t = await stats(); return t.arrived + t.dropped; }, SENT)).toBe(SENT);
    const s = await stats();
    expect(s.arrived).toBeGreaterThan(0n);
    if (bpffs !== undefined && lru0 !== undefined) {
      // What arrived was balanced: Sterlet's VIP counted it (and the lb's kernel forwarding is off).
      const lru1 = await lruStats(p, bpffs);
      expect(BigInt(lru1.vipPackets - lru0.vipPackets)).toBeGreaterThanOrEqual(s.arrived);
    }
  }, 120_000);
});
