// bench-pps's XDP generator (pktgen --xdp, bench/pktgen/gen.bpf.c) on the real
// kernel: it stamps exactly the packets the AF_PACKET generator sends, refuses
// frames it cannot stamp, and its live frames cross each of the three
// dataplanes (Sterlet's XDP, kube-proxy-shaped nftables, kernel forwarding)
// and are counted where they arrive back at the router. Counts only, no rates.
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flowFrames, writeFrameFile } from '../../bench/lib/frames.ts';
import { lruStats, setUpDataplane, type Dataplane } from '../../bench/lib/pps-dataplane.ts';
import { PpsPair, VIP, VIP_PORT } from '../../bench/lib/pps-rig.ts';
import { REPO_ROOT, run } from '../support/exec.ts';
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

const MACS = { dstMac: '02:00:00:00:00:02', srcMac: '02:00:00:00:00:01', vip: VIP, port: VIP_PORT };

async function framesFile(name: string, frames: Buffer[]): Promise<string> {
  const file = join(scratch, name);
  await writeFrameFile(file, frames);
  return file;
}

function ethtoolStat(text: string, name: string): bigint {
  const m = new RegExp(`${name}:\\s*(\\d+)`).exec(text);
  if (!m) throw new Error(`no ${name} in ethtool -S`);
  return BigInt(m[1] ?? '0');
}

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
    const n = String(serial++);
    const p = new PpsPair({ router: `${id}-r${n}`, lb: `${id}-b${n}`, routerIf: `x${tag}r${n}`, lbIf: `x${tag}b${n}` });
    pairs.push(p);
    await p.create();
    const bpffs = await setUpDataplane(p, dp, { scratch, tag, id: n });
    const file = await framesFile(`live-${n}.frames`, flowFrames({ dstMac: p.lbMac, srcMac: p.routerMac, vip: VIP, port: VIP_PORT, flows: 1, flags: 'S' }));
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
    let s = await stats();
    for (let i = 0; i < 50 && s.arrived + s.dropped !== SENT; i++) {
      await new Promise((r) => setTimeout(r, 100));
      s = await stats();
    }
    expect(s.arrived + s.dropped).toBe(SENT);
    expect(s.arrived).toBeGreaterThan(0n);
    if (bpffs !== undefined && lru0 !== undefined) {
      // What arrived was balanced: Sterlet's VIP counted it (and the lb's kernel forwarding is off).
      const lru1 = await lruStats(p, bpffs);
      expect(BigInt(lru1.vipPackets - lru0.vipPackets)).toBeGreaterThanOrEqual(s.arrived);
    }
  }, 120_000);
});
