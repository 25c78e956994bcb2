// The kernel-facing pieces of bench-pps, on real veths in namespaces of their
// own: the generator's --flood frames are valid new flows, what it reports as
// sent arrives on the far side of the veth (counted by the sink XDP program),
// and the kube-proxy-shaped nftables rule set loads and DNATs forwarded SYNs.
// The XDP generator (pktgen --xdp, bench/pktgen/gen.bpf.c) stamps exactly the
// packets the AF_PACKET generator sends and refuses frames it cannot stamp;
// the generator's frames (live XDP frames where the kernel allows them) cross
// each of the three dataplanes (Sterlet's XDP, kube-proxy-shaped nftables,
// kernel forwarding) and are counted where they arrive back at the router, or
// as lost on the link. Counts only, no rates.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flowFrames, writeFrameFile } from '../../bench/lib/frames.ts';
import { kubeProxyRuleset } from '../../bench/lib/kube-nft.ts';
import { lruStats, setUpDataplane, type Dataplane } from '../../bench/lib/pps-dataplane.ts';
import { xdpGeneratorAllowed } from '../../bench/lib/xdp-generator.ts';
import { ENDPOINTS, PpsPair, VIP, VIP_PORT } from '../../bench/lib/pps-rig.ts';
import { parseFrame, verifyChecksums } from '../../src/packet/index.ts';
import { REPO_ROOT, run } from '../support/exec.ts';
import { settle, vethPairLoss } from '../support/e2e/counters.ts';
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
    const before = await arrivedOrLost(p);
    const { stdout } = await run(['ip', 'netns', 'exec', p.names.lb, PKTGEN, '--iface', p.names.lbIf, '--frames', file, '--seconds', '5', '--count', '20000']);
    const sent = BigInt((JSON.parse(stdout) as { sent: number }).sent);
    expect(sent).toBe(20000n);
    const delta = async (): Promise<{ arrived: bigint; lost: bigint }> => {
      const now = await arrivedOrLost(p);
      return { arrived: now.arrived - before.arrived, lost: now.lost - before.lost };
    };
    expect(await settle(async () => { const d = await delta(); return d.arrived + d.lost; }, sent)).toBe(sent);
    expect((await delta()).arrived).toBeGreaterThan(0n);
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

describe('generator frames through each dataplane', () => {
  const SENT = 20000n;
  // The XDP generator where the kernel allows live frames, else the AF_PACKET
  // ring (pktgen exits XDPGEN_REFUSED; bench-pps falls back the same way).
  let generator: string[] = [];
  beforeAll(async () => {
    const p = await pair();
    const file = await framesFile('probe.frames', flowFrames({ dstMac: p.lbMac, srcMac: p.routerMac, vip: VIP, port: VIP_PORT, flows: 1, flags: 'S' }));
    generator = (await xdpGeneratorAllowed(PKTGEN, GEN, p.names.router, p.names.routerIf, file)) ? ['--xdp', GEN] : [];
  });

  it.each(['sterlet', 'nftables', 'forward'] as const)('%s: every frame sent is forwarded and counted at the router, or counted as lost on the link', async (dp: Dataplane) => {
    const p = await pair();
    const bpffs = await setUpDataplane(p, dp, { scratch, tag, id: p.names.lb });
    const file = await framesFile(`live-${dp}.frames`, flowFrames({ dstMac: p.lbMac, srcMac: p.routerMac, vip: VIP, port: VIP_PORT, flows: 1, flags: 'S' }));
    const lru0 = bpffs === undefined ? undefined : await lruStats(p, bpffs);
    const before = await arrivedOrLost(p);
    const { stdout } = await run(['ip', 'netns', 'exec', p.names.router, PKTGEN, '--iface', p.names.routerIf, '--frames', file,
      '--cpu', '0', '--flood', '--seconds', '10', '--count', String(SENT), ...generator]);
    expect(BigInt((JSON.parse(stdout) as { sent: number }).sent)).toBe(SENT);
    const delta = async (): Promise<{ arrived: bigint; lost: bigint }> => {
      const now = await arrivedOrLost(p);
      return { arrived: now.arrived - before.arrived, lost: now.lost - before.lost };
    };
    expect(await settle(async () => { const d = await delta(); return d.arrived + d.lost; }, SENT)).toBe(SENT);
    const { arrived } = await delta();
    expect(arrived).toBeGreaterThan(0n);
    if (bpffs !== undefined && lru0 !== undefined) {
      // What arrived was balanced: Sterlet's VIP counted it (and the lb's kernel forwarding is off).
      const lru1 = await lruStats(p, bpffs);
      expect(BigInt(lru1.vipPackets - lru0.vipPackets)).toBeGreaterThanOrEqual(arrived);
    }
  }, 120_000);
});

/** Packets counted by the router's sink (xdp_drops) and lost on the router-lb link so far. */
async function arrivedOrLost(p: PpsPair): Promise<{ arrived: bigint; lost: bigint }> {
  const [arrived, lost] = await Promise.all([
    p.forwarded(),
    vethPairLoss([{ netns: p.names.router, iface: p.names.routerIf }, { netns: p.names.lb, iface: p.names.lbIf }]),
  ]);
  return { arrived, lost };
}
