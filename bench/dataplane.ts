// ns/packet of the XDP balancer per packet class, through BPF_PROG_TEST_RUN.
// Every run re-processes the ORIGINAL frame: the bench entries restore it
// (bpf/bench/bench.bpf.c), and three floors are measured in the same process:
// a trivial program, the restore alone, and restore + parse + IPIP encap with
// no lookup. Every class is reported as a ratio to each floor of this run (no
// figures from other machines). Each measured run must move exactly the
// expected verdict and event counters by `repeat`, else the benchmark fails.
// Pinned to one CPU (re-executes itself under taskset). Usage: npm run bench:dataplane
//   env: BENCH_CPU (default: last CPU), BENCH_RUNS (9), BENCH_REPEAT (20000),
//        BENCH_OBJECT=path/to/bench.bpf.o (default build/bpf/bench/bench.bpf.o),
//        BENCH_COMPARE=path/to/other/bench.bpf.o measures another build in the same interleaved rounds
//          (make build/bpf/rev/<commit>/bench.bpf.o builds one from git), BENCH_ONLY=regex picks classes (floors always run)

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { XdpAction, type BpfProgram } from '../src/libbpf/libbpf.ts';
import { encodeFlowKey } from '../src/agent/dataplane/codec.ts';
import type { StatName } from '../src/agent/dataplane/counters.ts';
import { build } from '../src/packet/build.ts';
import type { Layer } from '../src/packet/types.ts';
import { BENCH_OBJECT, Rig, VIP, type ProgramName } from './lib/dataplane-rig.ts';
import { printSteps, printTable, printXlated, type Row } from './lib/dataplane-report.ts';
import { median, medianRatio } from './lib/paired.ts';
import { CAPTURE_COPY_REPEAT, withCapture, type CaptureMode } from './lib/capture-bench.ts';

const cpu = Number(process.env.BENCH_CPU ?? availableParallelism() - 1);
const runs = Number(process.env.BENCH_RUNS ?? 9);
const repeat = Number(process.env.BENCH_REPEAT ?? 20000);
const compare = process.env.BENCH_COMPARE;
const self = process.env.BENCH_OBJECT ?? BENCH_OBJECT;
const LRU_SIZE = 65536;

if (process.env.STERLET_BENCH_PINNED !== String(cpu)) {
  const r = spawnSync('taskset', ['-c', String(cpu), process.execPath, fileURLToPath(import.meta.url)], {
    stdio: 'inherit',
    env: { ...process.env, BENCH_CPU: String(cpu), STERLET_BENCH_PINNED: String(cpu) },
  });
  process.exit(r.status ?? 1);
}
for (const o of [self, ...(compare ? [compare] : [])]) {
  if (!existsSync(o)) {
    console.error(`${o} is missing: run \`make bpf\` first`);
    process.exit(1);
  }
}

const CLIENT = { address: '192.0.2.7', port: 40000 };
const eth = (payload: Layer): Buffer => build({ kind: 'eth', src: '02:00:00:00:00:01', dst: '02:00:00:00:00:02', payload });
const tcp4 = (flags: string, dst: string = VIP.web4.address): Buffer => eth({ kind: 'ipv4', src: CLIENT.address, dst, payload: { kind: 'tcp', sport: CLIENT.port, dport: 80, flags } });
/** A QUIC short header to quic4 whose connection id carries `serverId` (see bpf/include/quic.h). */
function quicShort(serverId: number): Buffer {
  const payload = Buffer.alloc(32);
  Buffer.from([0x40, 0x55, serverId >> 8, serverId & 0xff, 1, 2, 3, 4, 5]).copy(payload);
  return eth({ kind: 'ipv4', src: CLIENT.address, dst: VIP.quic4.address, payload: { kind: 'udp', sport: CLIENT.port, dport: 443, payload } });
}
const frames = {
  tcp4: tcp4('A'),
  syn4: tcp4('S'),
  tcp6: eth({ kind: 'ipv6', src: '2001:db8::7', dst: VIP.web6.address, payload: { kind: 'tcp', sport: CLIENT.port, dport: 80, flags: 'A' } }),
  udp4: eth({ kind: 'ipv4', src: CLIENT.address, dst: VIP.dns4.address, payload: { kind: 'udp', sport: CLIENT.port, dport: 53, payload: Buffer.alloc(32) } }),
  nonVip: tcp4('A', '10.9.9.9'),
  quicById: quicShort(7),
  quicUnknownId: quicShort(99),
};
const keys = {
  tcp4: encodeFlowKey({ protocol: 'TCP', src: CLIENT, dst: { address: VIP.web4.address, port: 80 } }),
  tcp6: encodeFlowKey({ protocol: 'TCP', src: { address: '2001:db8::7', port: CLIENT.port }, dst: { address: VIP.web6.address, port: 80 } }),
};
/** Offset of the IPv4 source address: stamped with a per-run sequence number = a new flow every run. */
const SRC4 = 14 + 12;

interface Case {
  readonly name: string;
  readonly program: ProgramName;
  readonly frame: Buffer;
  readonly seqOffset?: number;
  /** With program balancerFlows: the sequence number wraps after this many runs (that many flows in turn). */
  readonly flows?: number;
  readonly retval: number;
  /** Counters that must grow by exactly `repeat` per run. */
  readonly expect: readonly StatName[];
  /** Before each run, on a fresh table (e.g. create the flow, fill the table). */
  readonly warm?: (rig: Rig) => void;
  /** Whether the frame's flow must be in the table when timing starts. */
  readonly entry?: { readonly key: Buffer; readonly present: boolean };
  /** `sterlet dump` running during the run (bench/lib/capture-bench.ts). */
  readonly capture?: CaptureMode;
}

/** Run `frame` through the pipeline `n` times (restoring `frame` itself, so it is what the table sees). */
function through(rig: Rig, frame: Buffer, n = 1, seqOffset = 0, flows = 0): void {
  rig.setFrame(frame, seqOffset, flows);
  rig.program(flows ? 'balancerFlows' : 'balancer').testRun({ data: frame, repeat: n });
}
const warmWith = (frame: Buffer) => (rig: Rig): void => through(rig, frame);
/** Insert `n` new flows through the program itself (same CPU, same path as traffic). */
const fill = (n: number) => (rig: Rig): void => through(rig, frames.tcp4, n, SRC4);

const hit = (name: string, frame: Buffer, key?: Buffer): Case => ({
  name,
  program: 'balancer',
  frame,
  retval: XdpAction.TX,
  expect: ['txForward', 'evLruHit'],
  warm: warmWith(frame),
  ...(key ? { entry: { key, present: true } } : {}),
});
/** Established flows taking turns: every packet a table hit, the flow cache holding few or none of them. */
const flowsInTurn = (flows: number, what: string): Case => ({
  name: `v4 TCP LRU hit, ${flows} flows in turn${what}`,
  program: 'balancerFlows',
  frame: frames.tcp4,
  seqOffset: SRC4,
  flows,
  retval: XdpAction.TX,
  expect: ['txForward', 'evLruHit'],
  warm: (rig) => through(rig, frames.tcp4, flows, SRC4, flows),
});
const newFlow = (name: string, warm?: (rig: Rig) => void): Case => ({
  name,
  program: 'balancer',
  frame: frames.tcp4,
  seqOffset: SRC4,
  retval: XdpAction.TX,
  expect: ['txForward', 'evLruMiss'],
  ...(warm ? { warm } : {}),
});
/** One step of the hit-path ladder (bench_steps): the flow is in the table, nothing is counted. */
const step = (family: 'v4' | 'v6', program: ProgramName, what: string): Case => ({
  name: `step ${family}: ${what}`,
  program,
  frame: family === 'v4' ? frames.tcp4 : frames.tcp6,
  retval: program === 'stepEncap' ? XdpAction.TX : XdpAction.PASS,
  expect: [],
  warm: warmWith(family === 'v4' ? frames.tcp4 : frames.tcp6),
  entry: { key: family === 'v4' ? keys.tcp4 : keys.tcp6, present: true },
});
const STEPS: readonly [ProgramName, string][] = [
  ['stepParse', '+ parse L2/L3/L4'],
  ['stepVip', '+ VIP lookup'],
  ['stepHash', '+ settings + outer hash'],
  ['stepLru', '+ CPU table + LRU lookup'],
  ['stepReal', '+ real lookup'],
  ['stepEncap', '+ encap (= hit without counters)'],
];

const only = process.env.BENCH_ONLY ? new RegExp(process.env.BENCH_ONLY) : undefined;
const allCases: Case[] = [
  { name: 'floor: trivial XDP program', program: 'trivial', frame: frames.tcp4, retval: XdpAction.PASS, expect: [] },
  { name: 'floor: restore frame only', program: 'restore', frame: frames.tcp4, retval: XdpAction.TX, expect: [] },
  { name: 'floor: restore + parse + IPIP encap, no lookups', program: 'encap', frame: frames.tcp4, retval: XdpAction.TX, expect: [] },
  hit('v4 TCP LRU hit', frames.tcp4, keys.tcp4),
  hit('v6 TCP LRU hit', frames.tcp6, keys.tcp6),
  hit('v4 UDP LRU hit', frames.udp4),
  flowsInTurn(64, ''),
  flowsInTurn(16384, ' (flow cache: every packet misses)'),
  // The warm-up ACK creates the entry; the SYN then finds it (and re-picks in place).
  { name: 'v4 SYN, same flow every run, entry exists', program: 'balancer', frame: frames.syn4, retval: XdpAction.TX, expect: ['txForward', 'evLruSkip'], warm: warmWith(frames.tcp4), entry: { key: keys.tcp4, present: true } },
  { name: 'v4 SYN, same flow every run, no entry', program: 'balancer', frame: frames.syn4, retval: XdpAction.TX, expect: ['txForward', 'evLruSkip'], entry: { key: keys.tcp4, present: false } },
  { name: 'v4 SYN, new flow every run (SYN flood)', program: 'balancer', frame: frames.syn4, seqOffset: SRC4, retval: XdpAction.TX, expect: ['txForward', 'evLruSkip'] },
  newFlow('v4 ACK new flow, LRU empty'),
  newFlow('v4 ACK new flow, LRU half full', fill(LRU_SIZE / 2)),
  newFlow('v4 ACK new flow, LRU full + evicting', fill(LRU_SIZE * 2)),
  { name: 'v4 QUIC short header routed by server id', program: 'balancer', frame: frames.quicById, retval: XdpAction.TX, expect: ['txForward', 'evQuicCidHit'] },
  { name: 'v4 QUIC unknown server id -> ring, LRU hit', program: 'balancer', frame: frames.quicUnknownId, retval: XdpAction.TX, expect: ['txForward', 'evQuicCidMiss', 'evLruHit'], warm: warmWith(frames.quicUnknownId) },
  { name: 'non-VIP pass', program: 'balancer', frame: frames.nonVip, retval: XdpAction.PASS, expect: ['passNotVip'] },
  { ...hit('v4 TCP LRU hit, capture on (every packet copied)', frames.tcp4, keys.tcp4), capture: 'copy' },
  { ...hit('v4 TCP LRU hit, capture on, kernel-filtered out', frames.tcp4, keys.tcp4), capture: 'filtered' },
  ...STEPS.map(([p, what]) => step('v4', p, what)),
  ...STEPS.map(([p, what]) => step('v6', p, what)),
];

/** The floors' entries: they always run, and other classes are paired with the encap floor. */
const FLOORS: ReadonlySet<ProgramName> = new Set(['trivial', 'restore', 'encap']);
const cases = allCases.filter((c) => !only || FLOORS.has(c.program) || only.test(c.name));

interface Sample {
  readonly ns: number;
  /** The restore + parse + encap floor measured right before it (none for the floors themselves). */
  readonly floorNs?: number;
}

/**
 * One measured run of a case, from a fresh connection table, in ns/packet.
 * The floor runs just before it, after the warm-up: this machine's speed
 * drifts within milliseconds (docs/dataplane.md), and a pair shares it.
 */
function sample(rig: Rig, c: Case): Sample {
  rig.freshTable();
  c.warm?.(rig);
  if (c.entry && (rig.lruEntry(c.entry.key) !== undefined) !== c.entry.present) {
    throw new Error(`${c.name}: the flow is ${c.entry.present ? 'not ' : ''}in the connection table before timing: the class would not measure its path`);
  }
  const n = c.capture === 'copy' ? Math.min(repeat, CAPTURE_COPY_REPEAT) : repeat;
  let floorNs: number | undefined;
  if (!FLOORS.has(c.program)) {
    rig.setFrame(frames.tcp4);
    floorNs = rig.program('encap').testRun({ data: frames.tcp4, repeat: n }).durationNs;
  }
  rig.setFrame(c.frame, c.seqOffset ?? 0, c.flows ?? 0);
  const before = rig.counters();
  let r: ReturnType<BpfProgram['testRun']> | undefined;
  const program = rig.program(c.program);
  if (c.capture === undefined) r = program.testRun({ data: c.frame, repeat: n });
  else {
    const cap = withCapture(program, c.capture, () => void (r = program.testRun({ data: c.frame, repeat: n })));
    const want = c.capture === 'copy' ? { recorded: n, filtered: 0, lost: 0 } : { recorded: 0, filtered: n, lost: 0 };
    if (JSON.stringify(cap) !== JSON.stringify(want)) throw new Error(`${c.name}: capture ${JSON.stringify(cap)}, expected ${JSON.stringify(want)}`);
  }
  if (r === undefined) throw new Error(`${c.name}: no test run`);
  const after = rig.counters();
  if (r.retval !== c.retval) throw new Error(`${c.name}: verdict ${r.retval}, expected ${c.retval}`);
  for (const name of c.expect) {
    const d = after[name] - before[name];
    if (d !== BigInt(n)) throw new Error(`${c.name}: counter ${name} moved by ${d}, expected ${n}: not every run took the measured path`);
  }
  for (const name of Object.keys(after) as StatName[]) {
    if ((name.startsWith('drop') || name === 'evLruInsertFail') && after[name] !== before[name]) {
      throw new Error(`${c.name}: counter ${name} moved by ${after[name] - before[name]}`);
    }
  }
  return floorNs === undefined ? { ns: r.durationNs } : { ns: r.durationNs, floorNs };
}

/** Rounds interleave classes and builds (run 1 of every class on each build, then run 2, ...) so a noisy moment hits all alike. */
function measureAll(rigs: readonly Rig[]): Row[] {
  const samples = cases.map(() => rigs.map(() => [] as Sample[]));
  for (let i = 0; i < runs; i++) {
    cases.forEach((c, j) => rigs.forEach((rig, k) => rig.programs.has(c.program) && samples[j]![k]!.push(sample(rig, c))));
  }
  return cases.map((c, j) => {
    const [mine, other] = samples[j]!.map((k) => k.map((x) => x.ns));
    const s = [...mine!].sort((a, b) => a - b);
    const paired = other?.length ? { compare: median(other), compareMin: Math.min(...other), pairedRatio: medianRatio(mine!, other)! } : {};
    const floorRatio = medianRatio(mine!, samples[j]![0]!.map((x) => x.floorNs));
    return { name: c.name, program: c.program, median: median(s), min: s[0]!, max: s[s.length - 1]!, ...paired, ...(floorRatio === undefined ? {} : { floorRatio }) };
  });
}

const options = { cpu, lruSize: LRU_SIZE, ringSize: 65537, noCommonLru: process.env.BENCH_NO_COMMON_LRU === '1' };
const rigs = [new Rig({ ...options, objectPath: self })];
try {
  if (compare) rigs.push(new Rig({ ...options, objectPath: compare }));
  const rows = measureAll(rigs);
  console.log(`Sterlet XDP balancer, BPF_PROG_TEST_RUN on CPU ${cpu}: median of ${runs} runs x ${repeat} packets, ns/packet${self !== BENCH_OBJECT ? ` of ${self}` : ''}${compare ? `; "compare" = ${compare}, same rounds` : ''}\n`);
  printTable(rows);
  printSteps(rows);
  printXlated(rigs[0]!);
} finally {
  for (const r of rigs) r.close();
}
