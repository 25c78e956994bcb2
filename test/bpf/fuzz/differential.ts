// The differential run: every generated frame through the reference build and
// this build (balancer, and decap for tunnel frames) with BPF_PROG_TEST_RUN;
// verdicts and output bytes must agree except for listed intended differences;
// every XDP_TX output of this build goes to the independent oracle (oracle.py).

import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { StatName } from '../../../src/agent/dataplane/counters.ts';
import { BalancerEnv } from '../harness/balancer-env.ts';
import { DecapEnv } from '../harness/decap-env.ts';
import { GUE_PORT, GW_MAC, MTU, REALS, SETTINGS } from '../harness/world.ts';
import { frames, FUZZ_VIPS } from './generate.ts';
import { INTENDED, type Outcome } from './intended.ts';

const REPO = new URL('../../../', import.meta.url).pathname;

export interface Objects {
  readonly balancer: string;
  readonly decap: string;
}

export interface Anomaly {
  readonly what: string;
  readonly kind: string;
  readonly input: string;
  readonly detail: string;
}

export interface FuzzReport {
  readonly frames: number;
  readonly decapFrames: number;
  readonly kinds: Record<string, number>;
  readonly verdicts: Record<string, number>;
  /** Differences explained by INTENDED, per name. */
  readonly intended: Record<string, number>;
  /** Differences nothing explains (capped examples) and their count. */
  readonly unexplained: Anomaly[];
  readonly unexplainedCount: number;
  readonly oracle: { readonly checked: number; readonly kinds: Record<string, number>; readonly findings: Record<string, number>; readonly examples: Record<string, string[]> };
}

class Side {
  readonly balancer: BalancerEnv;
  readonly decap: DecapEnv;
  constructor(o: Objects) {
    this.balancer = new BalancerEnv({ objectPath: o.balancer, legacyLayout: true }); // the reference build may have an older map layout
    try {
      this.decap = new DecapEnv(o.decap);
    } catch (err) {
      this.balancer.close();
      throw err;
    }
  }
  close(): void {
    this.decap.close();
    this.balancer.close();
  }
}

const ACTION: Record<number, string> = { 0: 'ABORTED', 1: 'DROP', 2: 'PASS', 3: 'TX', 4: 'REDIRECT' };
const VERDICT_COUNTER = /^(tx|pass|drop)/;

function run(f: () => Outcome): Outcome {
  try {
    return f();
  } catch (err) {
    // e.g. a frame the kernel's test_run refuses: both builds must refuse it alike.
    return { retval: -1, data: Buffer.from(String((err as Error).message)) };
  }
}

/** The world as the oracle sees it: backends per VIP, outer header settings. */
function oracleWorld(): object {
  return {
    vips: FUZZ_VIPS.map((v) => ({ name: v.name, address: v.address, port: v.port, proto: v.protocol === 'TCP' ? 6 : 17, quic: (v.flags & 8) !== 0, backends: v.reals.map((r) => REALS[r]!) })),
    gatewayMac: GW_MAC,
    guePort: GUE_PORT,
    src4: SETTINGS.sourcePrefixV4.address,
    src4Bits: SETTINGS.sourcePrefixV4.hostBits,
    src6: SETTINGS.sourcePrefixV6.address,
    src6Bits: SETTINGS.sourcePrefixV6.hostBits,
    mtu: MTU,
  };
}

/** The scapy venv's python (scripts/scapy.sh installs it on first use). */
export function oraclePython(): string {
  const r = spawnSync(join(REPO, 'scripts/scapy.sh'), { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`FUZZ_ORACLE_SETUP: scripts/scapy.sh failed:\n${r.stderr}`);
  return r.stdout.trim();
}

export interface OracleResult {
  readonly summary: { checked: number; kinds: Record<string, number>; findings: Record<string, number> };
  readonly findings: { id: number; findings: [string, string][] }[];
}

/** Checks TX outputs ({id, in, out}) with oracle.py in one process. */
export function runOracle(python: string, records: readonly { id: number; in: Buffer; out: Buffer }[], file: string): OracleResult {
  const lines = [JSON.stringify(oracleWorld()), ...records.map((r) => JSON.stringify({ id: r.id, in: r.in.toString('hex'), out: r.out.toString('hex') }))];
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, lines.join('\n') + '\n');
  const r = spawnSync(python, [join(REPO, 'test/bpf/fuzz/oracle.py'), file], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`FUZZ_ORACLE: oracle.py exited ${r.status}:\n${r.stderr}`);
  const out = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  const last = out.pop() as { summary: OracleResult['summary'] };
  return { summary: last.summary, findings: out as unknown as OracleResult['findings'] };
}

export function runFuzz(o: { seed: number; count: number; base: Objects; next: Objects; chunk?: number; log?: (s: string) => void }): FuzzReport {
  const base = new Side(o.base);
  let next: Side | undefined;
  const kinds: Record<string, number> = {};
  const verdicts: Record<string, number> = {};
  const intended: Record<string, number> = {};
  const unexplained: Anomaly[] = [];
  let unexplainedCount = 0;
  let decapFrames = 0;
  const oracle = { checked: 0, kinds: {} as Record<string, number>, findings: {} as Record<string, number>, examples: {} as Record<string, string[]> };
  const dir = join(REPO, 'build/fuzz');
  mkdirSync(dir, { recursive: true });
  const python = oraclePython();
  const chunk = o.chunk ?? 20_000;
  const inputs = new Map<number, { frame: Buffer; kind: string }>();
  let pending: { id: number; in: Buffer; out: Buffer }[] = [];
  const unexpected = (a: Anomaly): void => {
    unexplainedCount++;
    if (unexplained.length < 20) unexplained.push(a);
  };
  const flush = (): void => {
    if (pending.length === 0) return;
    const res = runOracle(python, pending, join(dir, `oracle-${o.seed}.jsonl`));
    oracle.checked += res.summary.checked;
    for (const [k, n] of Object.entries(res.summary.kinds)) oracle.kinds[k] = (oracle.kinds[k] ?? 0) + n;
    for (const [k, n] of Object.entries(res.summary.findings)) oracle.findings[k] = (oracle.findings[k] ?? 0) + n;
    for (const f of res.findings) {
      for (const [code, detail] of f.findings) {
        const ex = (oracle.examples[code] ??= []);
        const inp = inputs.get(f.id);
        if (ex.length < 3) ex.push(`${inp?.kind}: ${detail} | in ${inp?.frame.toString('hex')}`);
      }
    }
    pending = [];
    inputs.clear();
  };
  try {
    next = new Side(o.next);
    const counters = (s: Side): Record<StatName, bigint> => s.balancer.snapshot().global;
    let c0 = [counters(base), counters(next)] as const;
    let id = 0;
    let windowIntended = 0;
    for (const g of frames(o.seed, o.count)) {
      id++;
      kinds[g.kind] = (kinds[g.kind] ?? 0) + 1;
      const a = run(() => base.balancer.run(g.frame));
      const b = run(() => next!.balancer.run(g.frame));
      verdicts[ACTION[b.retval] ?? String(b.retval)] = (verdicts[ACTION[b.retval] ?? String(b.retval)] ?? 0) + 1;
      if (a.retval !== b.retval || !a.data.equals(b.data)) {
        const why = INTENDED.find((d) => d.matches(g.frame, a, b));
        if (why) {
          intended[why.name] = (intended[why.name] ?? 0) + 1;
          windowIntended++;
        }
        else unexpected({ what: 'balancer', kind: g.kind, input: g.frame.toString('hex'), detail: `reference ${ACTION[a.retval]} ${a.data.toString('hex')} / this ${ACTION[b.retval]} ${b.data.toString('hex')}` });
      }
      if (b.retval === 3) {
        pending.push({ id, in: g.frame, out: b.data });
        inputs.set(id, { frame: g.frame, kind: g.kind });
      }
      if (g.decap) {
        decapFrames++;
        const da = run(() => base.decap.run(g.frame));
        const db = run(() => next!.decap.run(g.frame));
        if (da.retval !== db.retval || !da.data.equals(db.data)) unexpected({ what: 'decap', kind: g.kind, input: g.frame.toString('hex'), detail: `reference ${da.retval} / this ${db.retval}` });
      }
      if (id % 2000 === 0 || id === o.count) {
        // Verdict counters (the drop reason, not only the XDP action) must move alike.
        const c1 = [counters(base), counters(next)] as const;
        for (const k of Object.keys(c1[0]) as StatName[]) {
          if (!VERDICT_COUNTER.test(k)) continue;
          const da = c1[0][k] - c0[0][k];
          const db = c1[1][k] - c0[1][k];
          if (da !== db && windowIntended === 0) unexpected({ what: 'counters', kind: `frames ${id - 1999}..${id}`, input: '', detail: `${k}: reference +${da}, this +${db}` });
        }
        c0 = c1;
        windowIntended = 0;
      }
      if (pending.length >= chunk) {
        flush();
        o.log?.(`${id} frames`);
      }
    }
    flush();
  } finally {
    next?.close();
    base.close();
  }
  return { frames: o.count, decapFrames, kinds, verdicts, intended, unexplained, unexplainedCount, oracle };
}
