// ns/packet of the XDP balancer per packet class, through BPF_PROG_TEST_RUN.
// Every run re-processes the ORIGINAL frame: the bench entries restore it
// (bpf/bench/bench.bpf.c), and the restore cost is measured as a floor in the
// same process. Each measured run must move exactly the expected verdict and
// event counters by `repeat`, else the benchmark fails. Pinned to one CPU
// (re-executes itself under taskset). Usage: npm run bench:dataplane
//   env: BENCH_CPU (default: last CPU), BENCH_RUNS (9), BENCH_REPEAT (20000)

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { XdpAction } from '../src/libbpf/libbpf.ts';
import type { StatName } from '../src/agent/dataplane/counters.ts';
import { build } from '../src/packet/build.ts';
import type { Layer } from '../src/packet/types.ts';
import { BENCH_OBJECT, Rig, VIP, type ProgramName } from './lib/dataplane-rig.ts';

const cpu = Number(process.env.BENCH_CPU ?? availableParallelism() - 1);
const runs = Number(process.env.BENCH_RUNS ?? 9);
const repeat = Number(process.env.BENCH_REPEAT ?? 20000);
const LRU_SIZE = 65536;

if (process.env.STERLET_BENCH_PINNED !== String(cpu)) {
  const r = spawnSync('taskset', ['-c', String(cpu), process.execPath, fileURLToPath(import.meta.url)], {
    stdio: 'inherit',
    env: { ...process.env, BENCH_CPU: String(cpu), STERLET_BENCH_PINNED: String(cpu) },
  });
  process.exit(r.status ?? 1);
}
if (!existsSync(BENCH_OBJECT)) {
  console.error(`${BENCH_OBJECT} is missing: run \`make bpf\` first`);
  process.exit(1);
}

const eth = (payload: Layer): Buffer => build({ kind: 'eth', src: '02:00:00:00:00:01', dst: '02:00:00:00:00:02', payload });
const tcp4 = (flags: string, dst: string = VIP.web4.address): Buffer => eth({ kind: 'ipv4', src: '192.0.2.7', dst, payload: { kind: 'tcp', sport: 40000, dport: 80, flags } });
/** A QUIC short header to quic4 whose connection id carries `serverId` (see bpf/include/quic.h). */
function quicShort(serverId: number): Buffer {
  const payload = Buffer.alloc(32);
  Buffer.from([0x40, 0x55, serverId >> 8, serverId & 0xff, 1, 2, 3, 4, 5]).copy(payload);
  return eth({ kind: 'ipv4', src: '192.0.2.7', dst: VIP.quic4.address, payload: { kind: 'udp', sport: 40000, dport: 443, payload } });
}
const frames = {
  tcp4: tcp4('A'),
  syn4: tcp4('S'),
  tcp6: eth({ kind: 'ipv6', src: '2001:db8::7', dst: VIP.web6.address, payload: { kind: 'tcp', sport: 40000, dport: 80, flags: 'A' } }),
  udp4: eth({ kind: 'ipv4', src: '192.0.2.7', dst: VIP.dns4.address, payload: { kind: 'udp', sport: 40000, dport: 53, payload: Buffer.alloc(32) } }),
  nonVip: tcp4('A', '10.9.9.9'),
  quicById: quicShort(7),
  quicUnknownId: quicShort(99),
};
/** Offset of the IPv4 source address: stamped with a per-run sequence number = a new flow every run. */
const SRC4 = 14 + 12;

interface Case {
  readonly name: string;
  readonly program: ProgramName;
  readonly frame: Buffer;
  readonly seqOffset?: number;
  readonly retval: number;
  /** Counters that must grow by exactly `repeat` per run. */
  readonly expect: readonly StatName[];
  /** Katran's figure in the same harness (ns), if any. */
  readonly katran?: number;
  /** Before each run, after warm (e.g. fill the table). */
  readonly before?: (rig: Rig) => void;
  /** Before each run, on a fresh table (e.g. create the flow). */
  readonly warm?: (rig: Rig) => void;
}

/** Insert `n` new flows through the program itself (same CPU, same path as traffic). */
function fill(rig: Rig, n: number): void {
  rig.setFrame(frames.tcp4, SRC4);
  rig.program('balancer').testRun({ data: frames.tcp4, repeat: n });
}

const warmOnce = (frame: Buffer) => (rig: Rig): void => void rig.program('balancer').testRun({ data: frame });

const cases: Case[] = [
  { name: 'floor: trivial XDP program', program: 'trivial', frame: frames.tcp4, retval: XdpAction.PASS, expect: [] },
  { name: 'floor: restore frame only', program: 'restore', frame: frames.tcp4, retval: XdpAction.TX, expect: [] },
  { name: 'floor: restore + parse + IPIP encap, no lookups', program: 'encap', frame: frames.tcp4, retval: XdpAction.TX, expect: [] },
  { name: 'v4 TCP LRU hit', program: 'balancer', frame: frames.tcp4, retval: XdpAction.TX, expect: ['txForward', 'evLruHit'], katran: 154, warm: warmOnce(frames.tcp4) },
  { name: 'v6 TCP LRU hit', program: 'balancer', frame: frames.tcp6, retval: XdpAction.TX, expect: ['txForward', 'evLruHit'], katran: 146, warm: warmOnce(frames.tcp6) },
  { name: 'v4 UDP LRU hit', program: 'balancer', frame: frames.udp4, retval: XdpAction.TX, expect: ['txForward', 'evLruHit'], katran: 183, warm: warmOnce(frames.udp4) },
  { name: 'v4 SYN, same flow every run', program: 'balancer', frame: frames.syn4, retval: XdpAction.TX, expect: ['txForward', 'evLruSkip'], katran: 308, warm: warmOnce(frames.tcp4) },
  { name: 'v4 SYN, new flow every run (SYN flood)', program: 'balancer', frame: frames.syn4, seqOffset: SRC4, retval: XdpAction.TX, expect: ['txForward', 'evLruSkip'], katran: 308 },
  { name: 'v4 new flow, LRU empty', program: 'balancer', frame: frames.tcp4, seqOffset: SRC4, retval: XdpAction.TX, expect: ['txForward', 'evLruMiss'], katran: 1070 },
  {
    name: 'v4 new flow, LRU half full',
    program: 'balancer',
    frame: frames.tcp4,
    seqOffset: SRC4,
    retval: XdpAction.TX,
    expect: ['txForward', 'evLruMiss'],
    katran: 1070,
    before: (r) => fill(r, LRU_SIZE / 2),
  },
  { name: 'v4 new flow, LRU full + evicting', program: 'balancer', frame: frames.tcp4, seqOffset: SRC4, retval: XdpAction.TX, expect: ['txForward', 'evLruMiss'], katran: 1070, warm: (r) => fill(r, LRU_SIZE * 2) },
  { name: 'v4 QUIC short header routed by server id', program: 'balancer', frame: frames.quicById, retval: XdpAction.TX, expect: ['txForward', 'evQuicCidHit'] },
  { name: 'v4 QUIC unknown server id -> ring, LRU hit', program: 'balancer', frame: frames.quicUnknownId, retval: XdpAction.TX, expect: ['txForward', 'evQuicCidMiss', 'evLruHit'], warm: warmOnce(frames.quicUnknownId) },
  { name: 'non-VIP pass', program: 'balancer', frame: frames.nonVip, retval: XdpAction.PASS, expect: ['passNotVip'], katran: 79 },
];

interface Row {
  readonly name: string;
  readonly median: number;
  readonly min: number;
  readonly max: number;
  readonly katran?: number | undefined;
}

/** One measured run of a case, from a fresh connection table; returns ns/packet. */
function sample(rig: Rig, c: Case): number {
  rig.freshTable();
  rig.setFrame(c.frame, c.seqOffset ?? 0);
  c.warm?.(rig);
  c.before?.(rig);
  rig.setFrame(c.frame, c.seqOffset ?? 0);
  const before = rig.counters();
  const r = rig.program(c.program).testRun({ data: c.frame, repeat });
  const after = rig.counters();
  if (r.retval !== c.retval) throw new Error(`${c.name}: verdict ${r.retval}, expected ${c.retval}`);
  for (const name of c.expect) {
    const d = after[name] - before[name];
    if (d !== BigInt(repeat)) throw new Error(`${c.name}: counter ${name} moved by ${d}, expected ${repeat}: not every run took the measured path`);
  }
  for (const name of Object.keys(after) as StatName[]) {
    if ((name.startsWith('drop') || name === 'evLruInsertFail') && after[name] !== before[name]) {
      throw new Error(`${c.name}: counter ${name} moved by ${after[name] - before[name]}`);
    }
  }
  return r.durationNs;
}

/** Runs interleave the classes (run 1 of every class, then run 2, ...) so a noisy moment hits all alike. */
function measureAll(rig: Rig): Row[] {
  const samples = cases.map(() => [] as number[]);
  for (let i = 0; i < runs; i++) cases.forEach((c, j) => samples[j]!.push(sample(rig, c)));
  return cases.map((c, j) => {
    const s = samples[j]!.sort((a, b) => a - b);
    return { name: c.name, median: s[Math.floor(s.length / 2)]!, min: s[0]!, max: s[s.length - 1]!, katran: c.katran };
  });
}

const rig = new Rig({ cpu, lruSize: LRU_SIZE, ringSize: 65537, noCommonLru: process.env.BENCH_NO_COMMON_LRU === '1' });
let rows: Row[];
try {
  rows = measureAll(rig);
} finally {
  rig.close();
}

/** Katran's trivial-program floor on the machine its figures come from. */
const KATRAN_TRIVIAL = 22;
const floor = (prefix: string): number => rows.find((r) => r.name.startsWith(prefix))!.median;
const trivial = floor('floor: trivial');
const overhead = floor('floor: restore frame only') - trivial;
const pad = (s: string | number, n: number): string => String(s).padStart(n);
console.log(`Sterlet XDP balancer, BPF_PROG_TEST_RUN on CPU ${cpu}: median of ${runs} runs x ${repeat} packets, ns/packet`);
console.log('net      = median - (restore floor - trivial floor): the balancer alone, as Katran\'s figures count it');
console.log(`abs      = net vs 0.8 x Katran's figure`);
console.log(`> floor  = (net - our trivial floor) vs 0.8 x (Katran - its ${KATRAN_TRIVIAL} ns trivial floor): same comparison with each machine's per-run cost removed\n`);
console.log(`${'class'.padEnd(48)} ${pad('median', 6)} ${pad('min', 6)} ${pad('max', 6)} ${pad('net', 6)}  ${'Katran'.padStart(6)}  ${'abs'.padEnd(12)} > floor`);
let failed = 0;
for (const r of rows) {
  if (r.katran === undefined) {
    console.log(`${r.name.padEnd(48)} ${pad(r.median, 6)} ${pad(r.min, 6)} ${pad(r.max, 6)}`);
    continue;
  }
  const net = r.median - overhead;
  const absTarget = r.katran * 0.8;
  const relTarget = (r.katran - KATRAN_TRIVIAL) * 0.8;
  const absOk = net < absTarget;
  const relOk = net - trivial < relTarget;
  if (!absOk || !relOk) failed++;
  const abs = `${absOk ? 'ok' : 'SLOW'} <${absTarget.toFixed(0)}`.padEnd(12);
  const rel = `${relOk ? 'ok' : 'SLOW'} ${(net - trivial).toFixed(0)} <${relTarget.toFixed(0)}`;
  console.log(`${r.name.padEnd(48)} ${pad(r.median, 6)} ${pad(r.min, 6)} ${pad(r.max, 6)} ${pad(net.toFixed(0), 6)}  ${pad(r.katran, 6)}  ${abs} ${rel}`);
}
console.log(`\n${failed === 0 ? 'every class is at least 20% faster than Katran' : `${failed} class(es) miss the 20% target`}`);
