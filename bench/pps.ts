// Packets per second with real packets: the generator (bench/pktgen/pktgen.c,
// AF_PACKET TX ring) sends from a "router" namespace into the balancer's veth
// on one CPU; the balancer's poll thread runs on the other; forwarded packets
// are counted where they arrive back at the router. Three dataplanes on the
// same frames and CPUs: Sterlet (the real agent, native XDP, IPIP), an
// nftables DNAT rule set shaped like kube-proxy's nftables mode (one
// LoadBalancer Service, 3 endpoints, conntrack), and plain kernel forwarding.
// Three traffic classes: LRU hit (1024 established flows, ACK), new flows
// (ACK, a new source every packet), SYN flood (SYN, a new source every packet).
// Last, whether 1024 established flows' entries survive a SYN flood (Sterlet:
// a replay after the flood hits the LRU; nftables: their conntrack entries).
// Two CPU layouts (BENCH_MODE):
// - one-core (default): generator, balancer and counter share one CPU; the
//   balancer's work runs in NET_RX softirq there, so softirq time per
//   forwarded packet is the forwarding cost, and Mpps is what one core does
//   generating and forwarding.
// - two-core: threaded NAPI, the balancer's poll thread pinned to the other
//   CPU; its thread CPU time per packet is the cost. On a VM each packet then
//   pays a cross-CPU wakeup (an IPI), which dominates at these rates.
// Then established connections under a flood (bench/lib/flood-established.ts):
// real TCP connections through the VIP while the SYN flood runs, per
// dataplane: failures, latency with and without the flood, entries kept.
// Two generators (BENCH_GEN): xdp (default) runs bench/pktgen/gen.bpf.c with
// BPF_PROG_TEST_RUN's live frames, so a packet is an xdp_frame, not an skb,
// until a dataplane without XDP makes it one; packet is the AF_PACKET TX
// ring, which pays an skb per packet and caps every dataplane near its cost.
// Usage: make bench-pps   env: BENCH_GEN (xdp), BENCH_SECONDS (3), BENCH_RUNS (3),
//   BENCH_MODE (one-core), BENCH_GEN_CPU (0), BENCH_FWD_CPU (1, two-core only),
//   BENCH_PART (all | rates | established), BENCH_FLOOD_SECONDS (8),
//   BENCH_CONNECTIONS (50)
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT, run } from '../test/support/exec.ts';
import { uniqueRunId } from '../test/support/e2e/names.ts';
import { flowFrames, writeFrameFile } from './lib/frames.ts';
import { lruStats, setUpDataplane, type Dataplane } from './lib/pps-dataplane.ts';
import { xdpGeneratorAllowed } from './lib/xdp-generator.ts';
import { APP_CPU, establishedUnderFlood, FORWARDING_CPU, type FloodOutcome } from './lib/flood-established.ts';
import { PpsPair, SINK_OBJECT, VIP, VIP_PORT, type Sample } from './lib/pps-rig.ts';

const seconds = Number(process.env.BENCH_SECONDS ?? 3);
const runs = Number(process.env.BENCH_RUNS ?? 3);
const genCpu = Number(process.env.BENCH_GEN_CPU ?? 0);
const mode = process.env.BENCH_MODE ?? 'one-core';
if (mode !== 'one-core' && mode !== 'two-core') {
  console.error(`BENCH_MODE must be one-core or two-core, got ${JSON.stringify(mode)}`);
  process.exit(2);
}
const requestedGenerator = process.env.BENCH_GEN ?? 'xdp';
if (requestedGenerator !== 'xdp' && requestedGenerator !== 'packet') {
  console.error(`BENCH_GEN must be xdp or packet, got ${JSON.stringify(requestedGenerator)}`);
  process.exit(2);
}
const part = process.env.BENCH_PART ?? 'all';
if (part !== 'all' && part !== 'rates' && part !== 'established') {
  console.error(`BENCH_PART must be all, rates or established, got ${JSON.stringify(part)}`);
  process.exit(2);
}
const floodSeconds = Number(process.env.BENCH_FLOOD_SECONDS ?? 8);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 50);
if (!Number.isFinite(floodSeconds) || floodSeconds <= 0 || floodSeconds > 20) {
  console.error('BENCH_FLOOD_SECONDS must be in (0, 20]: long enough to fill conntrack at the nftables rate, short on a shared machine');
  process.exit(2);
}
if (!Number.isInteger(connections) || connections < 1 || connections > 1000) {
  console.error('BENCH_CONNECTIONS must be an integer in 1..1000');
  process.exit(2);
}
const fwdCpu = mode === 'one-core' ? genCpu : Number(process.env.BENCH_FWD_CPU ?? 1);
const CLK_TCK = 100;
const PKTGEN = join(REPO_ROOT, 'build/bench/pktgen');
const GEN_XDP = join(REPO_ROOT, 'build/bench/gen.bpf.o');
/** The generator in use: xdp unless asked for packet or the kernel refuses live frames (probed below). */
let generator: 'xdp' | 'packet' = requestedGenerator;
/** pktgen's generator flag: --xdp OBJ, or nothing for the AF_PACKET ring. */
const genArgs = (): string[] => (generator === 'xdp' ? ['--xdp', GEN_XDP] : []);
const LRU_FLOWS = 1024;

type Traffic = 'lru-hit' | 'new-flows' | 'syn-flood';
const TRAFFIC: readonly Traffic[] = ['lru-hit', 'new-flows', 'syn-flood'];
const DATAPLANES: readonly Dataplane[] = ['sterlet', 'nftables', 'forward'];

interface Result {
  readonly sentMpps: number;
  readonly fwdMpps: number;
  /** Forwarding CPU time per forwarded packet: softirq time (one-core) or the poll thread's (two-core). */
  readonly nsPerPacket: number;
  readonly fwdPct: number;
  readonly softirqPct: number;
  readonly busyPct: number;
}

for (const [what, path] of [['pktgen', PKTGEN], ['sink XDP object', SINK_OBJECT], ['generator XDP object', GEN_XDP]] as const) {
  if (!existsSync(path)) {
    console.error(`${path} (${what}) is missing: run \`make bench-pps\`, which builds it`);
    process.exit(1);
  }
}
if (!Number.isFinite(seconds) || seconds <= 0 || seconds > 10) {
  console.error('BENCH_SECONDS must be in (0, 10]: the machine is shared; keep each case short');
  process.exit(2);
}

const id = uniqueRunId();
const tag = id.slice(-6);
const scratch = await mkdtemp(join(tmpdir(), `${id}-pps-`));
const pairs: PpsPair[] = [];
let serial = 0;
let stopping = false;

/** Teardowns of the flood worlds (idempotent): a Ctrl-C during one of them must remove it too. */
const worlds: (() => Promise<void>)[] = [];

async function cleanup(): Promise<void> {
  for (const p of pairs.splice(0).reverse()) await p.destroy();
  for (const destroy of worlds.splice(0)) await destroy();
}
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    if (stopping) return;
    stopping = true;
    void cleanup().finally(() => process.exit(130));
  });
}

async function newPair(dp: Dataplane): Promise<PpsPair> {
  const n = String(serial++);
  const pair = new PpsPair({ router: `${id}-r${n}`, lb: `${id}-b${n}`, routerIf: `p${tag}r${n}`, lbIf: `p${tag}b${n}` });
  pairs.push(pair);
  await pair.create();
  const bpffs = await setUpDataplane(pair, dp, { scratch, tag, id: n });
  if (bpffs !== undefined) sterletBpffs.set(pair, bpffs);
  if (mode === 'two-core') await pair.pinPollThreads(fwdCpu, genCpu);
  return pair;
}

async function framesFor(traffic: Traffic, pair: PpsPair): Promise<string> {
  const file = join(scratch, `${traffic}-${pair.names.lb}.frames`);
  const flags = traffic === 'syn-flood' ? 'S' : 'A';
  await writeFrameFile(file, flowFrames({ dstMac: pair.lbMac, srcMac: pair.routerMac, vip: VIP, port: VIP_PORT, flows: traffic === 'lru-hit' ? LRU_FLOWS : 1, flags }));
  return file;
}

async function measure(pair: PpsPair, traffic: Traffic): Promise<Result> {
  const frames = await framesFor(traffic, pair);
  const gen = ['ip', 'netns', 'exec', pair.names.router, PKTGEN, '--iface', pair.names.routerIf, '--frames', frames, '--cpu', String(genCpu), ...genArgs()];
  const flood = traffic === 'lru-hit' ? [] : ['--flood'];
  if (traffic === 'lru-hit') await run([...gen, '--seconds', '0.2']); // warm: every flow has its entry
  await new Promise((r) => setTimeout(r, 200));
  const before = await pair.sample([fwdCpu]);
  const { stdout } = await run([...gen, ...flood, '--seconds', String(seconds)], { timeoutMs: (seconds + 30) * 1000 });
  await new Promise((r) => setTimeout(r, 100)); // in-flight packets reach the counter
  const after = await pair.sample([fwdCpu]);
  const g = JSON.parse(stdout) as { sent: number; seconds: number };
  return derive(before, after, g.sent, g.seconds);
}

function derive(before: Sample, after: Sample, sent: number, secs: number): Result {
  const fwd = Number(after.forwarded - before.forwarded);
  const b = before.cpu[0]!;
  const a = after.cpu[0]!;
  const total = a.total - b.total || 1;
  const fwdNs = mode === 'two-core' ? after.lbThreadNs - before.lbThreadNs : ((a.softirq - b.softirq) * 1e9) / CLK_TCK;
  return {
    sentMpps: sent / secs / 1e6,
    fwdMpps: fwd / secs / 1e6,
    nsPerPacket: fwd > 0 ? fwdNs / fwd : Number.NaN,
    fwdPct: (100 * fwdNs) / (secs * 1e9),
    softirqPct: (100 * (a.softirq - b.softirq)) / total,
    busyPct: (100 * (a.busy - b.busy)) / total,
  };
}

function median(xs: readonly number[]): number {
  const s = [...xs].filter((x) => !Number.isNaN(x)).sort((p, q) => p - q);
  if (s.length === 0) return Number.NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** bpffs path (as seen inside the lb namespace) of each Sterlet pair's agent. */
const sterletBpffs = new Map<PpsPair, string>();

async function sterletLru(pair: PpsPair): Promise<{ hits: number; misses: number }> {
  const bpffs = sterletBpffs.get(pair);
  if (bpffs === undefined) throw new Error('BENCH_PPS: not a Sterlet pair');
  return lruStats(pair, bpffs);
}

/** Conntrack entries of the established flows (sources 198.18.x.y, ports from 10000) and of everything. */
async function conntrackEntries(pair: PpsPair): Promise<{ established: number; total: number }> {
  // Counted in the namespace (the table can hold 262144 lines): all, and the original direction of the 1024 flows.
  const script = "wc -l < /proc/net/nf_conntrack; grep -cE 'src=198[.]18[.][0-9]+[.][0-9]+ dst=[0-9.]+ sport=1[01][0-9]{3} ' /proc/net/nf_conntrack || true";
  const { stdout } = await run(['sh', '-c', script], { netns: pair.names.lb, timeoutMs: 60_000 });
  const [total = NaN, established = NaN] = stdout.trim().split('\n').map(Number);
  return { established, total };
}

interface Survival {
  readonly dataplane: Dataplane;
  readonly floodMpps: number;
  readonly before: number;
  readonly after: number;
  readonly detail: string;
}

/** 1024 established flows, then a SYN flood of `seconds`: do their connection-table entries survive? */
async function survival(pair: PpsPair, dp: Dataplane): Promise<Survival> {
  const lru = await framesFor('lru-hit', pair);
  const syn = await framesFor('syn-flood', pair);
  const gen = (file: string, extra: string[]): Promise<{ stdout: string }> =>
    run(['ip', 'netns', 'exec', pair.names.router, PKTGEN, '--iface', pair.names.routerIf, '--frames', file, '--cpu', String(genCpu), ...genArgs(), ...extra], { timeoutMs: (seconds + 30) * 1000 });
  const warm0 = dp === 'sterlet' ? await sterletLru(pair) : undefined;
  await gen(lru, ['--seconds', '5', '--count', String(LRU_FLOWS)]);
  await new Promise((r) => setTimeout(r, 300));
  if (warm0 !== undefined) {
    // Each warm packet is a distinct flow: it hit its entry or inserted it.
    const warm1 = await sterletLru(pair);
    const inPlace = warm1.hits - warm0.hits + (warm1.misses - warm0.misses);
    const { stdout } = await gen(syn, ['--flood', '--seconds', String(seconds)]);
    const flood = JSON.parse(stdout) as { sent: number; seconds: number };
    const s0 = await sterletLru(pair);
    await gen(lru, ['--seconds', '5', '--count', String(LRU_FLOWS)]);
    await new Promise((r) => setTimeout(r, 300));
    const s1 = await sterletLru(pair);
    const hits = s1.hits - s0.hits;
    return { dataplane: dp, floodMpps: flood.sent / flood.seconds / 1e6, before: inPlace, after: hits, detail: `replay after the flood: ${String(hits)} LRU hits, ${String(s1.misses - s0.misses)} misses` };
  }
  const c0 = await conntrackEntries(pair);
  const { stdout } = await gen(syn, ['--flood', '--seconds', String(seconds)]);
  const flood = JSON.parse(stdout) as { sent: number; seconds: number };
  const c1 = await conntrackEntries(pair);
  return { dataplane: dp, floodMpps: flood.sent / flood.seconds / 1e6, before: c0.established, after: c1.established, detail: `conntrack entries ${String(c0.total)} -> ${String(c1.total)}` };
}

const results = new Map<string, Result[]>();
const survivals: Survival[] = [];
let ok = false;
const floods: FloodOutcome[] = [];
try {
  if (generator === 'xdp' && !(await xdpGeneratorWorks())) {
    generator = 'packet';
    process.stderr.write('bench-pps: this kernel refuses BPF_PROG_TEST_RUN live frames; falling back to the AF_PACKET generator (BENCH_GEN=packet)\n');
  }
  if (part !== 'established') await rates();
  if (part !== 'rates') {
    for (let r = 0; r < runs; r++) {
      for (const dp of ['sterlet', 'nftables'] as const) {
        floods.push(await establishedUnderFlood(dp, { connections, baselineSeconds: 3, floodSeconds, ...(generator === 'xdp' ? { genXdp: GEN_XDP } : {}), log: (l) => process.stderr.write(`run ${String(r + 1)}/${String(runs)} ${l}\n`), onTeardown: (d) => void worlds.push(d) }));
      }
    }
  }
  ok = true;
} finally {
  await cleanup();
  if (ok) await rm(scratch, { recursive: true, force: true });
  else console.error(`bench-pps failed; logs kept in ${scratch}`);
}

/** One frame from a throwaway pair: does the kernel let pktgen --xdp send? */
async function xdpGeneratorWorks(): Promise<boolean> {
  const n = String(serial++);
  const pair = new PpsPair({ router: `${id}-r${n}`, lb: `${id}-b${n}`, routerIf: `p${tag}r${n}`, lbIf: `p${tag}b${n}` });
  pairs.push(pair);
  await pair.create();
  try {
    return await xdpGeneratorAllowed(PKTGEN, GEN_XDP, pair.names.router, pair.names.routerIf, await framesFor('syn-flood', pair));
  } finally {
    await pair.destroy();
    pairs.splice(pairs.indexOf(pair), 1);
  }
}

/** The Mpps table and the 1024-flow survival check. */
async function rates(): Promise<void> {
  const sterlet = await newPair('sterlet');
  for (let r = 0; r < runs; r++) {
    for (const traffic of TRAFFIC) {
      for (const dp of DATAPLANES) {
        // Kernel paths get a fresh namespace per case: an empty conntrack table each time.
        const pair = dp === 'sterlet' ? sterlet : await newPair(dp);
        const res = await measure(pair, traffic);
        if (pair !== sterlet) {
          await pair.destroy();
          pairs.splice(pairs.indexOf(pair), 1);
        }
        const key = `${dp}|${traffic}`;
        results.set(key, [...(results.get(key) ?? []), res]);
        process.stderr.write(`run ${String(r + 1)}/${String(runs)} ${key}: ${res.fwdMpps.toFixed(3)} Mpps, ${res.nsPerPacket.toFixed(0)} ns/pkt\n`);
      }
    }
  }
  survivals.push(await survival(sterlet, 'sterlet'));
  const nftPair = await newPair('nftables');
  survivals.push(await survival(nftPair, 'nftables'));
}

const f = (x: number, d: number): string => (Number.isNaN(x) ? '-' : x.toFixed(d));
const layout = mode === 'one-core' ? `generator and balancer on CPU ${String(genCpu)} (forwarding = its NET_RX softirq time)` : `generator on CPU ${String(genCpu)}, balancer poll thread on CPU ${String(fwdCpu)} (forwarding = the thread's CPU time)`;
if (part !== 'established') {
  const fellBack = generator !== requestedGenerator ? ', the kernel refused live frames' : '';
  console.log(`\nbench-pps ${mode}, generator ${generator === 'xdp' ? 'xdp (live XDP frames, no skb per packet)' : `packet (AF_PACKET TX ring${fellBack})`}: ${String(runs)} runs x ${String(seconds)} s per case, medians; ${layout}`);
  console.log('| dataplane | traffic | sent Mpps | forwarded Mpps | forwarding ns/pkt | forwarding CPU% | core softirq% | core busy% | Mpps vs nftables | ns/pkt nftables ÷ this |');
  console.log('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const traffic of TRAFFIC) {
    const nft = results.get(`nftables|${traffic}`) ?? [];
    const nftMpps = median(nft.map((x) => x.fwdMpps));
    const nftNs = median(nft.map((x) => x.nsPerPacket));
    for (const dp of DATAPLANES) {
      const rs = results.get(`${dp}|${traffic}`) ?? [];
      const m = (pick: (x: Result) => number): number => median(rs.map(pick));
      console.log(
        `| ${dp} | ${traffic} | ${f(m((x) => x.sentMpps), 3)} | ${f(m((x) => x.fwdMpps), 3)} | ${f(m((x) => x.nsPerPacket), 0)} | ${f(m((x) => x.fwdPct), 0)} | ${f(m((x) => x.softirqPct), 0)} | ${f(m((x) => x.busyPct), 0)} | ${f(m((x) => x.fwdMpps) / nftMpps, 2)}x | ${f(nftNs / m((x) => x.nsPerPacket), 2)}x |`,
      );
    }
  }

  console.log(`\nEstablished flows under a SYN flood (${String(LRU_FLOWS)} flows, then a ${String(seconds)} s random-source SYN flood):`);
  console.log('| dataplane | flood Mpps sent | established entries before the flood | surviving after | detail |');
  console.log('|---|---:|---:|---:|---|');
  for (const v of survivals) console.log(`| ${v.dataplane} | ${f(v.floodMpps, 3)} | ${String(v.before)} | ${String(v.after)} | ${v.detail} |`);
}

if (part !== 'rates') {
  const ms = (x: number): string => x.toFixed(2);
  console.log(`\nEstablished TCP connections under a SYN flood (${String(connections)} keep-alive connections through the VIP, a request every 100 ms each, spread; 3 s without, then ${String(floodSeconds)} s of a random-source SYN flood at the generator's top rate; generator and forwarding on CPU ${String(FORWARDING_CPU)} (RPS steers the client's packets there), client and servers on CPU ${String(APP_CPU)}; one row per run):`);
  console.log('| dataplane | flood Mpps sent | CPU softirq% / busy% | failures | answering after | retransmits | veth drops | p50 ms no flood → flood | p99 ms no flood → flood | longest stall ms | stalled > 1 s | entries before → kept | detail |');
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|');
  for (const o of floods) {
    const failures = o.failures === 0 ? '0' : `${String(o.failures)} (${Object.entries(o.reasons).map(([k, v]) => `${k} ${String(v)}`).join(', ')})`;
    console.log(
      `| ${o.dataplane} | ${f(o.floodSentMpps, 3)} | ${f(o.softirqPct, 0)} / ${f(o.busyPct, 0)} | ${failures} | ${String(o.answeringAfter)}/${String(o.connections)} | ${String(o.retransmits)} | ${String(o.linkDrops)} | ${ms(o.baseline.p50Ms)} → ${ms(o.flood.p50Ms)} | ${ms(o.baseline.p99Ms)} → ${ms(o.flood.p99Ms)} | ${String(o.flood.maxStallMs)} | ${String(o.flood.stalledOver1s)} | ${String(o.entriesBefore)} → ${String(o.entriesAfter)} | ${o.detail} |`,
    );
  }
}
